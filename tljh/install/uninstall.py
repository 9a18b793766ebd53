"""``tljh uninstall``: find what TLJH put on this machine, and remove it (see
:mod:`tljh.install.uninstall_plan` for what goes and what stays).

It runs from the hub environment it removes: everything it needs is imported
before anything is removed, and the prefix goes last.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tljh.errors import TLJHError, UninstallError
from tljh.install.accounts import SERVICE_USERS
from tljh.install.files import command_links
from tljh.install.uninstall_plan import Action, Facts
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.system import systemd
from tljh.system.removal import (
    account,
    delete_account,
    delete_home,
    is_hub_account,
    processes_of,
    set_home_aside,
)
from tljh.system.run import run
from tljh.system.users import ADMINS_GROUP, USERS_GROUP, delete_user, group_exists, user_exists

#: Directories a wrong TLJH_INSTALL_PREFIX could name: never treated as an install.
_NEVER_A_PREFIX = {Path(p) for p in ("/", "/opt", "/usr", "/usr/local", "/home", "/etc", "/var",
                                     "/root", "/srv", "/tmp")}  # fmt: skip


def check_prefix(layout: Layout) -> None:
    """Raises :class:`UninstallError` unless the prefix looks like a TLJH install."""
    prefix = layout.prefix
    looks_like_tljh = any((prefix / n).is_dir() for n in ("hub", "config", "state"))
    if prefix.resolve() in _NEVER_A_PREFIX or (prefix.exists() and not looks_like_tljh):
        raise UninstallError(
            f"{prefix} does not look like a TLJH install (no hub/, config/ or state/ in it)",
            "check TLJH_INSTALL_PREFIX; unset it for the default /opt/tljh",
        )


def user_units() -> list[str]:
    """The user servers' units systemd has loaded (``jupyter-*.service``)."""
    out = run(
        ["systemctl", "list-units", "--all", "--plain", "--no-legend", "jupyter-*.service"],
        check=False,
    ).stdout
    return sorted({line.split()[0] for line in out.splitlines() if line.split()})


def _loaded(unit: str) -> bool:
    state = run(["systemctl", "show", "-p", "LoadState", "--value", unit], check=False)
    return state.stdout.strip() not in ("", "not-found")


def _ours(link: Path, layout: Layout) -> bool:
    if not link.is_symlink():
        return False
    target = Path(os.readlink(link))
    return target == layout.prefix or layout.prefix in target.parents


def gather(layout: Layout) -> Facts:
    """What is there to remove."""
    prefix = layout.prefix
    entries = tuple(sorted(os.listdir(prefix))) if prefix.is_dir() else ()
    state_entries = tuple(sorted(os.listdir(layout.state_dir))) if layout.state_dir.is_dir() else ()
    removed = layout.removed_homes
    accounts = tuple(sorted(e.pw_name for e in pwd.getpwall() if is_hub_account(e)))
    return Facts(
        prefix=prefix,
        unit_files=tuple(p for p in (layout.hub_unit_file, layout.traefik_unit_file) if p.exists()),
        units=tuple(u for u in (HUB_UNIT, PROXY_UNIT) if _loaded(u)),
        user_units=tuple(user_units()),
        sudoers=layout.sudoers_file if layout.sudoers_file.exists() else None,
        links=tuple(p for p in command_links(layout) if _ours(p, layout)),
        prefix_entries=entries,
        state_entries=state_entries,
        removed_homes=removed.is_dir() and any(removed.iterdir()),
        accounts=accounts,
        groups=tuple(g for g in (USERS_GROUP, ADMINS_GROUP) if group_exists(g)),
        service_users=tuple(u for u in SERVICE_USERS if user_exists(u)),
    )


def _stop_processes(name: str) -> None:
    """Processes still running as the account (a terminal left open, a cron job) end:
    the account is going."""
    entry = account(name)
    if entry is None:
        return
    for signum, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        pids = processes_of(entry.pw_uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and processes_of(entry.pw_uid):
            time.sleep(0.1)


def _do(action: Action) -> str | None:
    """Run one action; returns a note for the output (e.g. where a home went)."""
    kind, target = action.kind, action.target
    if kind == "stop":
        run(["systemctl", "stop", target], check=False, timeout=systemd.SYSTEMCTL_TIMEOUT)
        run(["systemctl", "reset-failed", target], check=False)
    elif kind == "disable":
        run(["systemctl", "disable", target], check=False, timeout=systemd.SYSTEMCTL_TIMEOUT)
    elif kind == "remove-file":
        Path(target).unlink(missing_ok=True)
    elif kind == "daemon-reload":
        systemd.daemon_reload()
    elif kind == "remove-tree":
        path = Path(target)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    elif kind == "remove-dir":
        with_contents = Path(target)
        if with_contents.is_dir() and not any(with_contents.iterdir()):
            with_contents.rmdir()
    elif kind in ("remove-home", "set-home-aside"):
        entry = account(target)
        if entry is None:
            return None
        _stop_processes(target)
        moved = delete_home(entry) if kind == "remove-home" else set_home_aside(entry)
        return f"now {moved}" if moved and kind == "set-home-aside" else None
    elif kind == "remove-account":
        entry = account(target)
        if entry is not None:
            _stop_processes(target)
            delete_account(entry)
    elif kind == "remove-group":
        if group_exists(target):
            run(["groupdel", target], hint=f"remove it by hand: 'groupdel {target}'")
    elif kind == "remove-service-user":
        delete_user(target)
        # useradd --user-group made its group; userdel removes it on Debian,
        # but not where USERGROUPS_ENAB is off.
        if group_exists(target) and not grp.getgrnam(target).gr_mem:
            run(["groupdel", target], check=False)
    return None


def execute(actions: list[Action], say: Callable[[str], None] = print) -> list[str]:
    """Run ``actions`` in order, saying each as it is done.  Returns what was kept.

    Raises :class:`UninstallError` at the first action that fails (what was
    done before stays done; running the command again goes on from there).
    """
    kept = []
    for action in actions:
        if action.kind == "keep":
            kept.append(action.target)
            continue
        started = time.monotonic()
        try:
            note = _do(action)
        except (TLJHError, OSError) as e:
            reason = e.message if isinstance(e, TLJHError) else str(e)
            raise UninstallError(
                f"could not {action.describe()}: {reason}",
                "fix that and run 'sudo tljh uninstall' again: it goes on from where it stopped",
            ) from e
        took = time.monotonic() - started
        notes = [n for n in (note, f"took {took:.1f} s" if took >= 1 else None) if n]
        say(f"done: {action.describe()}" + (f" ({'; '.join(notes)})" if notes else ""))
    return kept
