"""The host side of the integration harness; ``integration-tests/harness.py`` is its CLI.

It runs on the host, before any virtual environment exists: standard library only.
Nothing here is a test and pytest never imports it (no file is named ``test_*``);
the suite itself runs inside the container.

- ``locations``: where the checkout, the caches and the runs live
- ``messages``: how the harness talks to the user and stops on a problem
- ``processes``: running commands, streaming their output, recognising our processes
- ``host_checks``: root, the tools it needs, free ports
- ``host_environment``: the CA trust, pip configuration and proxy variables the container inherits
- ``recipe``: what the cached root filesystem contains, and its cache key
- ``rootfs_cache``: building and reusing that root filesystem
- ``mounts``: overlays, and removing trees that may still have something mounted
- ``container``: one booted systemd-nspawn container (prepare, boot, exec, stop)
- ``interrupts``: turning signals into exceptions, and shielding cleanup from them
- ``session_steps``: the bootstrap, the pytest run and the timings, inside a container
- ``session``: a whole ``test`` or ``try`` run, from the port check to the cleanup
- ``leftovers``: containers earlier runs left behind (``--keep``), and removing them
"""
