"""The note the hub leaves when it started on the known-good configuration.

A hub that finds ``config.yaml`` invalid, or a ``jupyterhub_config.d`` snippet
that raises, starts on the last configuration known to work rather than
staying down (:mod:`tljh.hub.jupyterhub_config`).  That must not go unseen:
the hub writes this note (``state/hub-fallback.json``, root's alone) when it
does so and removes it when it starts on the current files, and
``tljh status`` and ``tljh-config show``/``validate`` read it.

The note names the hub process that wrote it, so a reader can tell a note of
the running hub from one left by a hub that has stopped since.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tljh.layout import Layout
from tljh.system.files import PRIVATE_FILE, atomic_write, ensure_private_dir

#: What a fallback replaced: the config file, the hub's snippets, or both.
CONFIG = "config.yaml"
SNIPPETS = "jupyterhub_config.d"


@dataclass(frozen=True)
class Fallback:
    """The hub started on known-good files instead of the current ones."""

    #: Which parts came from the known-good copy (:data:`CONFIG`, :data:`SNIPPETS`).
    replaced: tuple[str, ...]
    #: Why, one line each (the problems of config.yaml, the snippet that raised).
    reasons: tuple[str, ...] = field(default_factory=tuple)
    #: The hub process that started so, and when (Unix time).
    pid: int = 0
    since: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "replaced": list(self.replaced),
            "reasons": list(self.reasons),
            "pid": self.pid,
            "since": self.since,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fallback:
        return cls(
            replaced=tuple(str(r) for r in data.get("replaced") or ()),
            reasons=tuple(str(r) for r in data.get("reasons") or ()),
            pid=int(data.get("pid") or 0),
            since=float(data.get("since") or 0.0),
        )

    def summary(self) -> str:
        """One sentence for people: what the hub runs on, since when."""
        what = " and ".join(self.replaced) or "configuration"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return (
            f"the hub runs on the last known-good {what} (since {when}), not on the current file(s)"
        )

    def hint(self) -> str:
        return (
            "fix what is named above ('sudo tljh-config validate' for config.yaml, "
            "'sudo tljh doctor' for the snippets), then run 'sudo tljh-config reload hub'"
        )


def write_fallback(layout: Layout, fallback: Fallback) -> None:
    """Leave the note (root only: the reasons may quote the admin's files)."""
    ensure_private_dir(layout.state_dir)
    atomic_write(
        layout.hub_fallback_marker,
        json.dumps(fallback.as_json(), indent=2) + "\n",
        mode=PRIVATE_FILE,
    )


def clear_fallback(layout: Layout) -> bool:
    """Remove the note; True if there was one."""
    try:
        layout.hub_fallback_marker.unlink()
    except FileNotFoundError:
        return False
    return True


def running_fallback(layout: Layout, proc: Path = Path("/proc")) -> Fallback | None:
    """The note, if the hub process that wrote it still runs (else it is an old one)."""
    note = read_fallback(layout)
    if note is None or not note.pid:
        return None
    try:
        cmdline = (proc / str(note.pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return note if b"jupyterhub" in cmdline else None


def read_fallback(layout: Layout) -> Fallback | None:
    """The note, if there is one and it can be read (None otherwise)."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        return Fallback.from_json(json.loads(layout.hub_fallback_marker.read_text()))
    return None
