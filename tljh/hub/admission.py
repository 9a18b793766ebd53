"""Admission of server starts: a few at a time, the rest wait in line.

A single-user server needs about two CPU-seconds to start.  When thirty students
press "Start" together on a two-core machine, starting all thirty at once gives each
a fifteenth of a core: none answers within the hub's timeout and every start fails.
Started a few at a time, each gets a whole core, is ready in seconds, and the line
moves on.  :class:`StartQueue` is that line: first come, first served, at most
``slots`` starts admitted at once, and each waiting start can ask how many are ahead
of it (the spawn page shows it).

Pure asyncio, no JupyterHub: the spawner (:mod:`tljh.hub.spawner`) holds one queue
per hub process.  Invariant: a ticket holds a slot from :meth:`StartQueue.wait`
until :meth:`StartQueue.leave`, which every path out of a start calls (success,
failure, or the hub cancelling it), so a failed start never keeps a slot.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


def default_slots(cpus: int | None = None) -> int:
    """How many starts run at once by default: one per core.

    A start is mostly one Python process importing and initialising; more than
    one per core only makes all of them slower.
    """
    count = os.cpu_count() if cpus is None else cpus
    return max(1, count or 1)


class Ticket:
    """One start's place in line."""

    __slots__ = ("admitted", "label")

    def __init__(self, label: str) -> None:
        #: Who is starting, for log messages.
        self.label = label
        #: Set once the start may go ahead.
        self.admitted = asyncio.Event()

    def __repr__(self) -> str:
        state = "admitted" if self.admitted.is_set() else "waiting"
        return f"<Ticket {self.label} {state}>"


class StartQueue:
    """First come, first served admission of at most ``slots`` starts at a time.

    ``slots`` < 1 admits every start at once (no line).
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._waiting: deque[Ticket] = deque()
        self._running: set[Ticket] = set()
        self._changed = asyncio.Event()

    @property
    def running(self) -> int:
        """Starts admitted and not finished."""
        return len(self._running)

    @property
    def waiting(self) -> int:
        """Starts waiting for a slot."""
        return len(self._waiting)

    def enter(self, label: str) -> Ticket:
        """Join the end of the line; admitted at once if a slot is free."""
        ticket = Ticket(label)
        self._waiting.append(ticket)
        self._admit()
        self._notify()
        return ticket

    def ahead(self, ticket: Ticket) -> int:
        """How many starts are ahead of ``ticket`` in line (0 once admitted or gone)."""
        for position, other in enumerate(self._waiting):
            if other is ticket:
                return position
        return 0

    async def wait(self, ticket: Ticket) -> None:
        """Return once ``ticket`` holds a slot."""
        await ticket.admitted.wait()

    def leave(self, ticket: Ticket) -> None:
        """Give up ``ticket``'s slot or place in line; admit the next in line."""
        if ticket in self._running:
            self._running.discard(ticket)
        else:
            try:
                self._waiting.remove(ticket)
            except ValueError:
                return  # already gone
        self._admit()
        self._notify()

    async def changed(self) -> None:
        """Return at the next change of the line: someone joined, left or was admitted."""
        await self._changed.wait()

    @asynccontextmanager
    async def slot(self, label: str) -> AsyncIterator[Ticket]:
        """Hold a slot for the body; the place in line is given up however it ends."""
        ticket = self.enter(label)
        try:
            await self.wait(ticket)
            yield ticket
        finally:
            self.leave(ticket)

    def _admit(self) -> None:
        while self._waiting and (self.slots < 1 or len(self._running) < self.slots):
            ticket = self._waiting.popleft()
            self._running.add(ticket)
            ticket.admitted.set()

    def _notify(self) -> None:
        # Wake everybody waiting in changed(), then start a new round.
        self._changed.set()
        self._changed = asyncio.Event()


def waiting_message(ahead: int) -> str:
    """What the spawn page says while a start waits in line."""
    if ahead <= 0:
        return "Many servers are starting: yours is next in line"
    people = "start" if ahead == 1 else "starts"
    return f"Many servers are starting: waiting for a free slot, {ahead} {people} ahead of yours"
