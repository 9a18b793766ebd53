"""Watching a user's server come up, so that a server that cannot start fails in seconds.

``systemd-run`` returns as soon as the server's process exists.  Left alone,
JupyterHub then waits up to ``Spawner.http_timeout`` for it to answer, even
when the process died a moment after it started (a broken user environment,
a home that is gone): the student stares at a progress bar for half a
minute and then reads "didn't respond in 30 seconds".

:func:`wait_until_listening` instead watches both ends at once, cheaply
(a TCP connect and a signal-0 ``kill`` every fraction of a second, no
subprocess), so that the spawner can raise
:class:`tljh.errors.ServerStartFailed` with the unit's own last log lines as
soon as the process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections.abc import Callable

#: How often to look while a server starts: a local connect costs next to
#: nothing, and every tenth of a second a class waits adds up over a line of starts.
INTERVAL = 0.1


class Outcome(enum.Enum):
    LISTENING = "listening"
    EXITED = "exited"
    TIMEOUT = "timeout"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (the caller may not be allowed to signal it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_until_listening(
    host: str,
    port: int,
    alive: Callable[[], bool],
    timeout: float,
    interval: float = INTERVAL,
) -> Outcome:
    """Wait until ``host:port`` accepts connections, ``alive()`` turns false, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if await port_open(host, port):
            return Outcome.LISTENING
        if not alive():
            return Outcome.EXITED
        if time.monotonic() >= deadline:
            return Outcome.TIMEOUT
        await asyncio.sleep(interval)


def runnable(path: str) -> bool:
    """Whether ``path`` is a file that can be executed (``systemd-run`` refuses
    to make a unit at all for a command that is not)."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def connect_host(ip: str) -> str:
    """Where to reach a server that listens on ``ip`` ("" and 0.0.0.0: this machine)."""
    return "127.0.0.1" if ip in ("", "0.0.0.0") else ip
