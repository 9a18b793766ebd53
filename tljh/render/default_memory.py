"""The memory limit of users' servers when ``limits.memory`` is not set (pure).

Without any limit, one student's runaway notebook (a loop that appends to a
list, a data set loaded twice) takes all the memory; the kernel's OOM killer
then picks a victim anywhere on the machine, the hub included.  With a limit
the kernel stops that server's own processes first and the rest carries on.

The default leaves a reserve for the system, the hub and the proxy, and for
the other students' servers to go on working while one server is at its limit:
a fifth of the machine's memory, at least 1 GiB; but a server always gets at
least half of the machine.  A 2 GiB server gives each user up to 1 GiB, 4 GiB
gives 3 GiB, 16 GiB gives 12.8 GiB.  It bounds one server, not their sum:
``limits.memory`` is where an admin sets what a class really needs.
"""

from __future__ import annotations

GIB = 1024**3
MIB = 1024**2


def default_memory_limit(machine_memory: int) -> int:
    """The memory limit, in bytes, of each server on a machine with ``machine_memory`` bytes.

    Rounded down to whole MiB, so that the unit shows a readable number.
    """
    reserve = max(GIB, machine_memory // 5)
    limit = max(machine_memory // 2, machine_memory - reserve)
    return limit // MIB * MIB
