"""The ``PATH`` of the processes TLJH starts, after its own environments' ``bin``.

Debian's defaults (``/etc/login.defs``, sudo's ``secure_path``), so that a
command found in a terminal on the server is found the same way by the hub,
by ``sudo`` and in students' servers.
"""

from __future__ import annotations

#: For processes run as root: the hub's unit, and commands admins run with sudo.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: For users' servers: the ``sbin`` directories hold root's tools.
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
