"""Signals that arrive while the running hub is being changed: failures, not exits.

Ctrl-C (SIGINT), a dropped SSH session (SIGHUP) or ``kill`` (SIGTERM) in the
middle of a restart would otherwise end the command with the new config live
and nothing to bring the old one back.  Inside :class:`InterruptGuard` the
first of them raises :class:`~tljh.errors.Interrupted` where the command is,
so it is undone like any other failure, and every later one is ignored until
the guard ends: the rollback must finish, and so must the ``systemctl``
commands it runs (an ignored signal stays ignored in child processes, a
Python handler does not).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from tljh.errors import Interrupted

#: The signals a person or a closing terminal sends to stop a command.
INTERRUPTS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)


class InterruptGuard:
    """Turns the first interrupt into :class:`~tljh.errors.Interrupted`; holds the rest.

    ``with InterruptGuard() as guard:`` -- call :meth:`hold` before work that
    must not be cut short (a rollback).  Does nothing outside the main
    thread, where Python cannot handle signals.
    """

    def __init__(self) -> None:
        self._saved: dict[int, Any] = {}
        #: The first signal received, if any.
        self.received: int | None = None

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in INTERRUPTS:
                self._saved[signum] = signal.signal(signum, self._interrupted)
        return self

    def _interrupted(self, signum: int, frame: FrameType | None) -> None:
        self.hold()
        if self.received is None:
            self.received = signum
            raise Interrupted(signum)

    def hold(self) -> None:
        """From now on until the guard ends, interrupts are ignored (here and in children)."""
        for signum in self._saved:
            signal.signal(signum, signal.SIG_IGN)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
