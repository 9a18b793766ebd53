"""The sandbox of users' server units, as systemd properties (pure).

The spawner starts each server with ``systemd-run --property=KEY=VALUE``;
:func:`server_properties` decides those properties from two facts: whether
the user may use sudo (``users.admin``) and which systemd runs the machine.

A student is the attacker we plan for: a Linux account that runs any code
it likes.  File modes keep students out of each other's files; what is left
is the kernel and the machine's shared resources, and that is what the
student sandbox narrows.  Everything in it was checked to keep notebooks
working: kernels, terminals, ``pip install --user``, multiprocessing and
its shared memory.

Admins get the resource limits and a private ``/dev/shm``, not the sandbox.
With sudo they are root, and root can leave any sandbox (``sudo systemd-run``),
so it would protect nothing; it would break what admins use sudo for
(``apt install`` of packages that ship set-uid programs or kernel modules,
``sysctl``).  And systemd turns NoNewPrivileges on for a non-root unit that
has any seccomp-based setting (RestrictSUIDSGID, RestrictNamespaces,
ProtectKernelModules, ...), which would take sudo away altogether.
"""

from __future__ import annotations

#: At most this many processes and threads per server: a fork bomb stops
#: there instead of filling the machine's process table.  Generous for real
#: work: a kernel has about ten threads, BLAS adds one per core, a
#: multiprocessing pool one process per core.
DEFAULT_TASKS_MAX = 1024

#: Properties every server gets, admins' too.
_EVERYONE: dict[str, str] = {
    # Past its memory limit a server's kernel is killed (the server goes on,
    # SystemdSpawner sets OOMPolicy=continue) instead of pushing the machine
    # into swap, where everybody's servers crawl.
    "MemorySwapMax": "0",
    # Its own /dev/shm: POSIX shared memory and semaphores (multiprocessing)
    # keep working, but nobody sees another server's segments, and what a
    # server puts there goes away with it.  Its pages count against the
    # server's memory limit like any other memory.
    "TemporaryFileSystem": "/dev/shm:mode=1777,nosuid,nodev",
}

#: Properties only servers without sudo get (see the module docstring).
_STUDENTS: dict[str, str] = {
    # No set-uid/set-gid files of their own making (defence in depth next to
    # NoNewPrivileges, which SystemdSpawner sets for everybody without sudo).
    "RestrictSUIDSGID": "yes",
    # /proc/sys, /sys and friends read-only; no kernel modules (and
    # /usr/lib/modules hidden); no kernel log; cgroup settings read-only.
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectHostname": "yes",
    # /usr, /boot and /etc read-only.  Not "strict": a class's shared folder
    # (e.g. /srv/class, writable through users.extra_user_groups) must stay
    # writable, and file modes already protect the rest.
    "ProtectSystem": "full",
    # Only their own processes in /proc: other students' commands and
    # arguments are none of their business.
    "ProtectProc": "invisible",
    # System V shared memory and message queues of their own.
    "PrivateIPC": "yes",
    # The kernel's most used attack surface for local privilege escalation:
    # user namespaces (a tool that needs its own, e.g. rootless containers or
    # a sandboxed headless Chromium, does not run in a student's server), old
    # syscall ABIs, rare socket families (sockets for the network, local
    # ones, and netlink, which name lookups use), real-time scheduling,
    # personality changes.
    "RestrictNamespaces": "yes",
    "SystemCallArchitectures": "native",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "RestrictRealtime": "yes",
    "LockPersonality": "yes",
    # A student never holds a capability (NoNewPrivileges keeps set-uid
    # programs from granting one): say so, so that none can appear.
    "CapabilityBoundingSet": "",
}

#: The systemd version that introduced a property, for those newer than the
#: oldest systemd the spawner runs on (243): older ones refuse the whole
#: ``systemd-run`` on a property they do not know, so such a property is left
#: out there.
_SINCE = {"ProtectKernelLogs": 244, "ProtectProc": 247, "PrivateIPC": 248}


def server_properties(
    *, may_sudo: bool, systemd_version: int | None, tasks_max: int = DEFAULT_TASKS_MAX
) -> dict[str, str]:
    """The systemd properties of one server's unit (added to SystemdSpawner's own).

    ``may_sudo``: the user is in ``users.admin``.  ``systemd_version``: the
    machine's (None when unknown: then only properties every supported
    systemd knows).
    """
    props = {"TasksMax": str(tasks_max), **_EVERYONE}
    if not may_sudo:
        props.update(_STUDENTS)
    return {
        key: value
        for key, value in props.items()
        if key not in _SINCE or (systemd_version is not None and systemd_version >= _SINCE[key])
    }
