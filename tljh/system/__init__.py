"""Effects on the machine: commands, files, users, services, packages.

The leaf layer: it imports nothing of TLJH but :mod:`tljh.errors` and
:mod:`tljh.layout` (checked by ``lint-imports``).  Pure decisions (what a unit
file says, which groups a user needs) come in as values from the layers
above; the functions here only make the machine match them, and report
whether they changed anything.
"""
