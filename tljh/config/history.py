"""Earlier versions of the config file: keeping them, listing them, comparing them.

Before every change, :mod:`tljh.config.store` hands the previous file to
:func:`keep_history`, which copies it into the history directory (root only:
old versions may hold secrets).  Entries are numbered from 1, the newest, as
``tljh-config history`` and ``rollback`` show them.

Order comes from a sequence number in each entry's name, one more than the
newest entry's, never from the clock: a clock that jumps back (a VM restored
from a snapshot, NTP correcting a drifted server) must not make an older
version look newer, nor let pruning delete the version just saved.  The wall
time in the name is only shown to people.  Entries named by wall time alone
(written by earlier releases) are read too, as older than every numbered one.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tljh.errors import ConfigError
from tljh.system.files import PRIVATE_FILE, atomic_write, ensure_private_dir

HISTORY_KEEP = 20
_HISTORY_PREFIX = "config-"
_HISTORY_SUFFIX = ".yaml"
_NOTE_SUFFIX = ".note"
_STAMP = r"(?P<stamp>\d{8}T\d{6}(?:\.\d{6})?Z)"
#: config-v000042-20261201T081500.123456Z.yaml
_NUMBERED = re.compile(rf"config-v(?P<seq>\d+)-{_STAMP}\.yaml")
#: config-20261201T081500.123456Z.yaml, or -1, -2... after it when two fell in one microsecond.
_WALL_CLOCK = re.compile(rf"config-{_STAMP}(?:-(?P<dup>\d+))?\.yaml")


class HistoryPaths(Protocol):
    """Where a config file and its history live (a Layout or a ConfigFiles fits)."""

    @property
    def config_file(self) -> Path: ...

    @property
    def config_history_dir(self) -> Path: ...


def _order(name: str) -> tuple[int, int, str, int] | None:
    """Where an entry named ``name`` sorts (oldest first); None if it is not an entry."""
    numbered = _NUMBERED.fullmatch(name)
    if numbered:
        return (1, int(numbered["seq"]), "", 0)
    old = _WALL_CLOCK.fullmatch(name)
    if old:
        # Older releases: wall time, then the collision counter ("-1" is the later one).
        return (0, 0, old["stamp"], int(old["dup"] or 0))
    return None


def list_history(layout: HistoryPaths) -> list[Path]:
    """Saved earlier versions of the config, oldest first."""
    try:
        names = os.listdir(layout.config_history_dir)
    except FileNotFoundError:
        return []
    keyed = [(key, n) for n in names if (key := _order(n)) is not None]
    return [layout.config_history_dir / n for _, n in sorted(keyed)]


def _note_path(entry: Path) -> Path:
    return entry.with_name(entry.name[: -len(_HISTORY_SUFFIX)] + _NOTE_SUFFIX)


def _next_number(layout: HistoryPaths) -> int:
    """One more than the newest entry's number (1 when only old wall-time entries exist)."""
    keys = [_order(p.name) for p in list_history(layout)]
    return max((k[1] for k in keys if k is not None), default=0) + 1


def keep_history(layout: HistoryPaths, old: bytes, note: str = "") -> Path:
    """Save ``old`` (the file about to be replaced) as the newest entry, with ``note``.

    Nothing is left behind when saving fails (a full disk): the error
    propagates and no partial entry remains.  Call :func:`prune_history`
    once the new file is in place, or :func:`discard_entry` if writing it
    failed.
    """
    hist = layout.config_history_dir
    # Earlier versions may hold secrets: the directory is root's alone, also
    # when an older release (or a umask) left it open.
    ensure_private_dir(hist)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    number = _next_number(layout)
    target = hist / f"{_HISTORY_PREFIX}v{number:06d}-{stamp}{_HISTORY_SUFFIX}"
    try:
        atomic_write(target, old, mode=PRIVATE_FILE)
        if note:
            atomic_write(_note_path(target), note.strip() + "\n", mode=PRIVATE_FILE)
    except BaseException:
        discard_entry(target)
        raise
    return target


def discard_entry(entry: Path) -> None:
    """Remove a history entry and its note (the change it was kept for did not happen)."""
    for path in (entry, _note_path(entry)):
        with suppress(FileNotFoundError):
            path.unlink()


def prune_history(layout: HistoryPaths) -> None:
    """Keep the newest :data:`HISTORY_KEEP` entries, by number, and remove the rest."""
    for stale in list_history(layout)[:-HISTORY_KEEP]:
        discard_entry(stale)


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier version of the config file."""

    #: 1 is the newest earlier version (the one the last change replaced).
    number: int
    path: Path
    #: When it was replaced (UTC, seconds since the epoch).
    replaced_at: float
    #: Why it was replaced, when that is more than an ordinary change.
    note: str

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def _stamp_time(name: str, fallback: float) -> float:
    found = _NUMBERED.fullmatch(name) or _WALL_CLOCK.fullmatch(name)
    if not found:
        return fallback
    try:
        whole, _, frac = found["stamp"].rstrip("Z").partition(".")
        parsed = time.strptime(whole, "%Y%m%dT%H%M%S")
        return calendar.timegm(parsed) + (int(frac) / 1e6 if frac.isdigit() else 0.0)
    except ValueError:
        return fallback


def history_entries(layout: HistoryPaths) -> list[HistoryEntry]:
    """The saved versions, newest first, numbered from 1."""
    out: list[HistoryEntry] = []
    for number, path in enumerate(reversed(list_history(layout)), start=1):
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        try:
            note = _note_path(path).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            note = ""
        out.append(HistoryEntry(number, path, _stamp_time(path.name, mtime), note))
    return out


def history_entry(layout: HistoryPaths, number: int) -> HistoryEntry:
    """Entry ``number`` (1 = newest).

    Raises :class:`ConfigError` naming the range when there is no such entry.
    """
    entries = history_entries(layout)
    if not entries:
        raise ConfigError(
            f"there are no earlier versions of {layout.config_file} yet",
            f"every change made with tljh-config keeps the previous version in "
            f"{layout.config_history_dir}",
        )
    if not 1 <= number <= len(entries):
        raise ConfigError(
            f"there is no version {number}; the history holds 1 to {len(entries)}",
            "'tljh-config history' lists them (1 is the newest)",
        )
    return entries[number - 1]


# --- comparing versions -----------------------------------------------------------


def changed_keys(old: Any, new: Any) -> list[str]:
    """The dotted keys whose values differ between two plain configs, sorted."""
    return sorted(_diff_keys(old, new, ""))


def _diff_keys(a: Any, b: Any, prefix: str) -> set[str]:
    if isinstance(a, dict) and b is None:
        b = {}
    elif isinstance(b, dict) and a is None:
        a = {}
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for k in set(a) | set(b):
            out |= _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return set() if a == b else {prefix.rstrip(".") or "(everything)"}


def describe_changes(old: Any, current: Any) -> str:
    """How an earlier version differs from the current config, in a few keys.

    ``old`` and ``current`` are plain mappings (see
    :func:`~tljh.config.schema.to_plain`), or None for a file that could not
    be read as one.
    """
    if old is None:
        return "(not valid YAML)"
    if current is None:
        return ""
    keys = changed_keys(old, current)
    if not keys:
        return "same settings (only comments or layout differ)"
    shown = ", ".join(keys[:4])
    return shown + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
