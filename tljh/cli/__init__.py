"""The command lines: argument parsing and printing, on top of every other layer."""
