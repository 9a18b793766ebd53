"""Snapshots of the admin's configuration files, and the one known to work.

"Known to work" is a snapshot kept in ``state/config-known-good/``: the bytes
of ``config.yaml`` and of every ``jupyterhub_config.d/*.py`` and
``traefik_config.d/*.toml`` file, recorded each time the hub and the proxy
passed their health checks after an apply.  The snippets are part of it
because a snippet that raises stops the hub just as surely as a bad value in
``config.yaml``; rolling back ``config.yaml`` alone would not bring it back.
When no snapshot exists yet, :func:`note_running_config` records the files as
they are if the running hub and proxy were started after the files were last
changed and are healthy (then those files are what they run with).

Everything written here is root's alone (files 0600, directories 0700),
whatever the umask: config.yaml and the snippets may hold secrets (an
OAuthenticator's client secret is often set in a ``jupyterhub_config.d``
file).  That includes the snippets a rollback puts back: the hub and the
tljh-config that merges ``traefik_config.d`` into traefik's own file both run
as root, and nobody else needs to read them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tljh.apply.health import clock, hub_problem, proxy_problem
from tljh.config.fallback import read_fallback
from tljh.config.store import load_checked_config, write_bytes
from tljh.errors import ConfigError, TLJHError
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.system import systemd
from tljh.system.files import (
    PRIVATE_FILE,
    atomic_write,
    ensure_private_dir,
    make_private_dirs,
    read_or_none,
)

HUB_SNIPPETS = "*.py"
PROXY_SNIPPETS = "*.toml"
ROLLBACK_NOTE = "replaced by an automatic rollback: the hub or the proxy did not work with it"


@dataclass(frozen=True)
class Snapshot:
    """The admin's configuration files at one moment: config.yaml and snippets."""

    config: bytes | None
    hub_snippets: dict[str, bytes] = field(default_factory=dict)
    proxy_snippets: dict[str, bytes] = field(default_factory=dict)
    #: When it was recorded as known to work (0 for a snapshot of the files now).
    recorded_at: float = 0.0

    def same_files(self, other: Snapshot) -> bool:
        return (
            self.config == other.config
            and self.hub_snippets == other.hub_snippets
            and self.proxy_snippets == other.proxy_snippets
        )


def known_good_dir(layout: Layout) -> Path:
    return layout.config_known_good_dir


def _read_dir(directory: Path, pattern: str) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    out: dict[str, bytes] = {}
    for path in sorted(directory.glob(pattern)):
        if path.is_file():
            out[path.name] = path.read_bytes()
    return out


def take_snapshot(layout: Layout) -> Snapshot:
    """The configuration files as they are now."""
    return Snapshot(
        read_or_none(layout.config_file),
        _read_dir(layout.jupyterhub_config_d, HUB_SNIPPETS),
        _read_dir(layout.traefik_config_d, PROXY_SNIPPETS),
    )


def read_known_good(layout: Layout) -> Snapshot | None:
    """The last configuration that passed the health checks, if one was recorded."""
    top = known_good_dir(layout)
    marker = top / "recorded"
    try:
        recorded_at = float(marker.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return None
    return Snapshot(
        read_or_none(top / "config.yaml"),
        _read_dir(top / "jupyterhub_config.d", HUB_SNIPPETS),
        _read_dir(top / "traefik_config.d", PROXY_SNIPPETS),
        recorded_at,
    )


def known_good_config(layout: Layout) -> bytes | None:
    """The ``config.yaml`` bytes last known to work; None if unknown or unreadable."""
    try:
        good = read_known_good(layout)
    except OSError:
        return None
    return good.config if good is not None else None


def record_known_good(layout: Layout, snapshot: Snapshot | None = None) -> None:
    """Remember ``snapshot`` (default: the files now) as known to work.

    Written into a new directory that then replaces the old one, so a crash
    leaves one complete snapshot or the other.  Root only: config.yaml may hold
    secrets.
    """
    snap = snapshot or take_snapshot(layout)
    top = known_good_dir(layout)
    ensure_private_dir(top.parent)  # state/
    new = top.with_name(top.name + ".new")
    old = top.with_name(top.name + ".old")
    for stale in (new, old):
        shutil.rmtree(stale, ignore_errors=True)
    ensure_private_dir(new)
    if snap.config is not None:
        atomic_write(new / "config.yaml", snap.config, mode=PRIVATE_FILE)
    for sub, files in (
        ("jupyterhub_config.d", snap.hub_snippets),
        ("traefik_config.d", snap.proxy_snippets),
    ):
        ensure_private_dir(new / sub)
        for name, data in files.items():
            atomic_write(new / sub / name, data, mode=PRIVATE_FILE)
    atomic_write(new / "recorded", f"{time.time():.3f}\n", mode=PRIVATE_FILE)
    if top.exists():
        top.rename(old)
    new.rename(top)
    shutil.rmtree(old, ignore_errors=True)


def _newest_change(layout: Layout) -> float:
    newest = 0.0
    for path in (layout.config_file, layout.jupyterhub_config_d, layout.traefik_config_d):
        try:
            newest = max(newest, path.stat().st_mtime)
        except FileNotFoundError:
            continue
        if path.is_dir():
            for child in path.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, child.stat().st_mtime)
    return newest


def note_running_config(layout: Layout) -> bool:
    """Record the files as known good if the healthy hub and proxy run with them.

    That is the case when both units were started after the files were last
    changed (they read them at start), both pass their health checks now, and
    the hub has left no note of starting on the known-good files instead.
    Call it *before* changing the files.  Returns True if it recorded them.
    """
    try:
        return _note_running_config(layout)
    except (TLJHError, OSError):
        return False  # only a shortcut: never a reason to fail the command


def _note_running_config(layout: Layout) -> bool:
    current = running_config(layout)
    if current is None:
        return False
    record_known_good(layout, current)
    return True


def running_config(layout: Layout) -> Snapshot | None:
    """The files, if the healthy hub and proxy run with them and they are not recorded yet.

    What :func:`note_running_config` would record; reads only.  None also
    when that cannot be told (systemd or the files cannot be read).
    """
    try:
        return _running_config(layout)
    except (TLJHError, OSError):
        return None


def _running_config(layout: Layout) -> Snapshot | None:
    if read_fallback(layout) is not None:
        # The hub may run on the known-good files, not these: a snippet that
        # raised at start must never be recorded as known to work.
        return None
    current = take_snapshot(layout)
    good = read_known_good(layout)
    if good is not None and good.same_files(current):
        return None
    newest = _newest_change(layout)
    for unit in (HUB_UNIT, PROXY_UNIT):
        st = systemd.status(unit)
        if st.active_state != "active" or not st.started_at or st.started_at <= newest + 1:
            return None
    try:
        config = load_checked_config(layout)
    except ConfigError:
        return None
    if proxy_problem(config) or hub_problem(config):
        return None
    return current


def _restore_dir(
    directory: Path,
    wanted: Mapping[str, bytes],
    present: Mapping[str, bytes],
    aside: Path,
    label: str,
) -> list[str]:
    actions = []
    for name, data in present.items():
        if wanted.get(name) == data:
            continue
        if name not in wanted:
            make_private_dirs(aside)
            shutil.move(str(directory / name), str(aside / name))
            # It keeps the mode the admin's editor gave it: tighten it.
            os.chmod(aside / name, PRIVATE_FILE)
            actions.append(
                f"moved {label}/{name} (new since the last working configuration) to {aside / name}"
            )
    for name, data in wanted.items():
        if present.get(name) == data:
            continue
        if name in present:
            make_private_dirs(aside)
            shutil.copy2(str(directory / name), str(aside / name))
            os.chmod(aside / name, PRIVATE_FILE)
            actions.append(
                f"restored {label}/{name} as it was; the changed version is in {aside / name}"
            )
        else:
            actions.append(f"restored {label}/{name}, which had been removed")
        ensure_private_dir(directory)
        atomic_write(directory / name, data, mode=PRIVATE_FILE)
    return actions


def restore_snapshot(layout: Layout, target: Snapshot, current: Snapshot) -> list[str]:
    """Put ``target``'s files back; returns what was done, one line each.

    The replaced ``config.yaml`` goes into the history (with a note); replaced
    or new snippets are moved to a ``rejected-<time>`` directory next to the
    history, never deleted.  The caller holds the config lock.
    """
    actions: list[str] = []
    if target.config != current.config:
        write_bytes(layout, target.config or b"", note=ROLLBACK_NOTE)
        when = f" (recorded {clock(target.recorded_at)})" if target.recorded_at else ""
        actions.append(
            f"restored {layout.config_file} to the last version that worked{when}; the "
            "version that failed is kept in the history ('tljh-config history')"
        )
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    if (target.hub_snippets, target.proxy_snippets) != (
        current.hub_snippets,
        current.proxy_snippets,
    ):
        # Rejected snippets go into the history: root's alone, like config.yaml's versions.
        ensure_private_dir(layout.config_history_dir)
    aside = layout.config_history_dir / f"rejected-{stamp}"
    actions += _restore_dir(
        layout.jupyterhub_config_d,
        target.hub_snippets,
        current.hub_snippets,
        aside / "jupyterhub_config.d",
        "jupyterhub_config.d",
    )
    actions += _restore_dir(
        layout.traefik_config_d,
        target.proxy_snippets,
        current.proxy_snippets,
        aside / "traefik_config.d",
        "traefik_config.d",
    )
    return actions


def mentioned_snippets(layout: Layout, text: str) -> list[str]:
    """The snippets whose path appears in ``text`` (e.g. in a traceback a unit logged)."""
    found = []
    for directory, pattern in (
        (layout.jupyterhub_config_d, HUB_SNIPPETS),
        (layout.traefik_config_d, PROXY_SNIPPETS),
    ):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob(pattern)):
            if str(path) in text:
                found.append(str(path))
    return found
