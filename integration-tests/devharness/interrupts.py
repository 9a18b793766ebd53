"""Signals as exceptions, so that every run cleans up after itself however it is stopped."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_number(e: KeyboardInterrupt) -> int:
    """The signal behind an interruption: Ctrl-C's SIGINT unless it was a SIGTERM/SIGHUP."""
    return e.signum if isinstance(e, Interrupted) else signal.SIGINT


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into exceptions so `finally` blocks clean up."""

    def raise_it(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    old = {s: signal.signal(s, raise_it) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Let cleanup finish even when the user presses Ctrl-C again."""

    def note(_signum: int, _frame: object) -> None:
        print("[harness] still cleaning up; one moment", flush=True)

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, note) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
