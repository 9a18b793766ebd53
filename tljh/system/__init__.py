"""Effects on the machine: commands, files, users, services.

Pure decisions (what a unit file should say, which groups a user needs) live
outside this package; the functions here only make the machine match them.
"""
