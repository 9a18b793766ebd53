"""Pure functions from a validated config to the desired state of the machine.

Hub traitlets (:mod:`.hub`), traefik's files (:mod:`.proxy`), systemd units
(:mod:`.units`) and sudo rules (:mod:`.sudoers`).  Nothing here reads or
writes a file, and nothing re-checks the config: callers validate first.
"""
