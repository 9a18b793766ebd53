"""Earlier versions of the config file: keeping them, listing them, comparing them.

Before every change, :mod:`tljh.config.store` hands the previous file to
:func:`keep_history`, which copies it into the history directory (root only:
old versions may hold secrets) and keeps the newest :data:`HISTORY_KEEP`.
Entries are numbered from 1, the newest, as ``tljh-config history`` and
``rollback`` show them.
"""

from __future__ import annotations

import calendar
import os
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


class HistoryPaths(Protocol):
    """Where a config file and its history live (a Layout or a ConfigFiles fits)."""

    @property
    def config_file(self) -> Path: ...

    @property
    def config_history_dir(self) -> Path: ...


def list_history(layout: HistoryPaths) -> list[Path]:
    """Saved earlier versions of the config, oldest first."""
    try:
        names = os.listdir(layout.config_history_dir)
    except FileNotFoundError:
        return []
    return [
        layout.config_history_dir / n
        for n in sorted(names)
        if n.startswith(_HISTORY_PREFIX) and n.endswith(_HISTORY_SUFFIX)
    ]


def _note_path(entry: Path) -> Path:
    return entry.with_name(entry.name[: -len(_HISTORY_SUFFIX)] + _NOTE_SUFFIX)


def keep_history(layout: HistoryPaths, old: bytes, note: str = "") -> Path:
    """Save ``old`` (the file about to be replaced) as the newest entry; prune the oldest."""
    hist = layout.config_history_dir
    # Earlier versions may hold secrets: the directory is root's alone, also
    # when an older release (or a umask) left it open.
    ensure_private_dir(hist)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    target = hist / f"{_HISTORY_PREFIX}{stamp}{_HISTORY_SUFFIX}"
    n = 1
    while target.exists():
        target = hist / f"{_HISTORY_PREFIX}{stamp}-{n}{_HISTORY_SUFFIX}"
        n += 1
    atomic_write(target, old, mode=PRIVATE_FILE)
    if note:
        atomic_write(_note_path(target), note.strip() + "\n", mode=PRIVATE_FILE)
    for stale in list_history(layout)[:-HISTORY_KEEP]:
        with suppress(FileNotFoundError):
            stale.unlink()
        with suppress(FileNotFoundError):
            _note_path(stale).unlink()
    return target


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
    stamp = name[len(_HISTORY_PREFIX) :].split("Z", 1)[0]
    try:
        whole, _, frac = stamp.partition(".")
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
