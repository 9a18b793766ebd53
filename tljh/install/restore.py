"""``tljh restore``: an archive of ``tljh backup`` back onto an installed TLJH.

Order, and why:

1. Read the whole archive and check every member, the manifest's versions
   and the accounts before changing anything: a refused archive changes nothing.
2. Stop the hub (its database is about to be replaced) and the proxy.
3. Extract config/ and state/ into a new root-only directory, then swap them
   in by renaming; what they replace is kept in ``<prefix>/replaced-by-restore-<time>``.
4. Bring back the accounts (same uid where it is free) and their homes
   (extracted by a tar running as the student; files already there are kept).
5. Apply it as the installer would (groups, sudoers, traefik's files, units,
   secrets' modes) and restart the hub and the proxy, waiting until they answer.

A failure or an interrupt in 2-5 undoes what was done, in reverse: accounts
created are removed again (the archive still has their homes), the replaced
config/ and state/ are renamed back, and the hub and proxy restarted on them.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import tljh
from tljh.apply.interrupts import InterruptGuard
from tljh.errors import ArchiveRefused, BackupError, RestoreFailed, TLJHError
from tljh.install.accounts import step_groups, step_service_users, step_sudoers
from tljh.install.backup_format import (
    ACCOUNTS,
    CONFIG,
    ID_MIN,
    MANIFEST,
    STATE,
    AccountRecord,
    Accounts,
    Manifest,
    check_compatible,
    home_of_member,
    member_for_home,
    member_problems,
    refuse_members,
)
from tljh.install.context import Context, Step
from tljh.install.files import (
    step_config,
    step_directories,
    step_secrets,
    step_tljh_config_link,
)
from tljh.install.options import InstallOptions
from tljh.install.services import step_proxy_config, step_services, step_units
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.system import systemd
from tljh.system.backup_io import HomeWriter
from tljh.system.files import PRIVATE_DIR, make_private_dirs
from tljh.system.removal import own_home
from tljh.system.run import run
from tljh.system.users import (
    create_account,
    create_group,
    delete_user,
    ensure_user_group,
    gid_holder,
    group_exists,
    id_holder,
    user_exists,
)

#: What the installer does that a restored config and state need: modes,
#: groups, sudo rules, traefik's files, units, and the restart.  Not the
#: packages: the install being restored onto has them.
RESTORE_STEPS: list[tuple[str, Step]] = [
    ("directories", step_directories),
    ("config", step_config),
    ("groups", step_groups),
    ("service users", step_service_users),
    ("sudoers", step_sudoers),
    ("secrets", step_secrets),
    ("proxy config", step_proxy_config),
    ("systemd units", step_units),
    ("tljh-config", step_tljh_config_link),
    ("services", step_services),
]


@dataclass
class Archive:
    """A checked archive: it may be restored."""

    path: Path
    manifest: Manifest
    accounts: Accounts
    members: list[tarfile.TarInfo]


def read_archive(path: Path, our_version: str = tljh.__version__) -> Archive:
    """Open and check the whole archive; nothing is written.

    Raises :class:`ArchiveRefused` for an archive that is damaged, not ours,
    from a newer release, or holding members that could write elsewhere.
    """
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist", "give the path of the archive") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise ArchiveRefused(
            f"{path} is not a backup archive TLJH can read: {e}",
            "give 'tljh restore' a file made by 'sudo tljh backup FILE'",
        ) from None
    with tar:
        try:
            members = tar.getmembers()
            by_name = {m.name: m for m in members}
            if MANIFEST not in by_name:
                raise ArchiveRefused(
                    f"{path} has no {MANIFEST}: it was not made by 'tljh backup'",
                    "give 'tljh restore' a file made by 'sudo tljh backup FILE'",
                )
            manifest = Manifest.from_json(_read(tar, by_name[MANIFEST]))
            # The version first: a newer format may hold members this one does not know.
            check_compatible(manifest, our_version)
            accounts = Accounts.from_json(
                _read(tar, by_name[ACCOUNTS]) if ACCOUNTS in by_name else "{}"
            )
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise ArchiveRefused(
                f"{path} is damaged: {e}", "use another copy of the backup"
            ) from None
    refuse_members(member_problems(members, accounts.names()))
    for top in (CONFIG, STATE):
        if top not in by_name:
            raise ArchiveRefused(
                f"{path} has no {top}/: it is not a whole backup", "use another copy"
            )
    return Archive(path, manifest, accounts, members)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None or member.size > 16 * 1024 * 1024:
        raise ArchiveRefused(f"{member.name} is not a file of ours", "use another copy")
    return f.read()


@dataclass
class RestoreReport:
    lines: list[str] = field(default_factory=list)
    #: Where the config/ and state/ that the restore replaced are kept.
    replaced: Path | None = None


class _Undo:
    """What to do, newest first, to take back a restore that failed half-way."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, action: Callable[[], None]) -> None:
        self.actions.append((what, action))

    def run(self, say: Callable[[str], None]) -> list[str]:
        """Undo everything it can; returns what could not be undone."""
        failed = []
        for what, action in reversed(self.actions):
            try:
                action()
                say(f"undone: {what}")
            except Exception as e:  # go on: undo as much as possible
                failed.append(f"{what}: {e}")
        return failed


def restore(layout: Layout, path: Path, say: Callable[[str], None] = print) -> RestoreReport:
    """Restore the archive at ``path`` onto the install at ``layout``.

    Raises :class:`ArchiveRefused` (nothing changed), :class:`BackupError`
    when TLJH is not installed here, :class:`RestoreFailed` when it failed
    half-way (with ``rolled_back`` telling whether the server is back as it was).
    """
    if not layout.hub_python.exists() or not layout.state_dir.is_dir():
        raise BackupError(
            f"TLJH is not installed in {layout.prefix}",
            "install it first (the bootstrap command of the install guide), then run "
            "'sudo tljh restore' again",
        )
    archive = read_archive(path)
    refuse_system_groups(archive.accounts)
    m = archive.manifest
    say(
        f"restoring the backup of {m.hostname or 'a server'} made {m.created} by TLJH "
        f"{m.tljh_version}: config, state, {len(archive.accounts.accounts)} account(s)"
        + (", homes" if m.homes else " (no homes in it)")
    )
    report = RestoreReport()
    undo = _Undo()
    with InterruptGuard() as guard:
        try:
            _restore(layout, archive, report, undo, say)
        except BaseException as e:
            guard.hold()
            say(f"the restore failed: {e}; undoing what it did")
            failed = undo.run(say)
            failed += _restart_after_undo(say)
            raise _failure(e, failed, layout) from e
    return report


def _failure(e: BaseException, failed: list[str], layout: Layout) -> RestoreFailed:
    reason = e.render().removeprefix("error: ") if isinstance(e, TLJHError) else repr(e)
    if not failed:
        return RestoreFailed(
            f"the restore failed and was undone; the server runs as before:\n{reason}",
            "fix the cause shown above and run 'sudo tljh restore' again",
            rolled_back=True,
        )
    return RestoreFailed(
        f"the restore failed and could not be undone entirely:\n{reason}\nnot undone:\n  "
        + "\n  ".join(failed),
        f"what the restore replaced is in {layout.prefix}/replaced-by-restore-*; run "
        "'sudo tljh doctor' to see what is wrong, or re-run the bootstrap to repair the install",
        rolled_back=False,
    )


def _restart_after_undo(say: Callable[[str], None]) -> list[str]:
    try:
        for unit in (PROXY_UNIT, HUB_UNIT):
            systemd.restart(unit)
        say("restarted the proxy and the hub on what was there before")
        return []
    except TLJHError as e:
        return [f"restarting the hub and the proxy: {e}"]


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _restore(
    layout: Layout,
    archive: Archive,
    report: RestoreReport,
    undo: _Undo,
    say: Callable[[str], None],
) -> None:
    for unit in (HUB_UNIT, PROXY_UNIT):
        run(["systemctl", "stop", unit], timeout=systemd.SYSTEMCTL_TIMEOUT)
    say("stopped the hub and the proxy")

    work = layout.prefix / f"replaced-by-restore-{_stamp()}"
    make_private_dirs(work / "new")
    # Added first, so run last: after config/ and state/ have been moved back out of it.
    undo.add(f"removed {work}", lambda: shutil.rmtree(work, ignore_errors=True))
    with tarfile.open(archive.path, "r:*") as tar:
        _extract_files(tar, archive.members, work / "new")
        _swap_in(layout, work, undo, say)
        report.replaced = work
        _restore_accounts(archive.accounts, report, undo, say)
        _restore_homes(tar, archive, say)
    say("applying the restored config (the installer's steps) and restarting the hub")
    ctx = Context(layout=layout, options=InstallOptions())
    ctx.hub_changed = ctx.proxy_changed = True
    for name, step in RESTORE_STEPS:
        for change in step(ctx):
            say(f"{name}: {change}")
    shutil.rmtree(work / "new", ignore_errors=True)


def _extract_files(tar: tarfile.TarFile, members: list[tarfile.TarInfo], into: Path) -> None:
    """config/ and state/ into ``into``, a new directory of root's: regular files and
    directories only (checked before), never through a link, never over a file."""
    dirs: list[tuple[Path, int]] = []
    for m in members:
        top = m.name.split("/", 1)[0]
        if top not in (CONFIG, STATE):
            continue
        target = into / m.name
        if m.isdir():
            target.mkdir(mode=PRIVATE_DIR)
            dirs.append((target, m.mode & 0o777))
        elif m.isreg():
            source = tar.extractfile(m)
            assert source is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                _copy(source, out)
                os.fchmod(out.fileno(), m.mode & 0o777)
            os.utime(target, (m.mtime, m.mtime))
    # Directory modes last: a 0500 directory would refuse its own files.
    for directory, mode in reversed(dirs):
        os.chmod(directory, mode)


def _copy(source: IO[bytes], out: IO[bytes]) -> None:
    shutil.copyfileobj(source, out, 1024 * 1024)


def _swap_in(layout: Layout, work: Path, undo: _Undo, say: Callable[[str], None]) -> None:
    old = work / "old"
    make_private_dirs(old)
    for name, live in ((CONFIG, layout.config_dir), (STATE, layout.state_dir)):
        kept = old / name
        if live.exists():
            os.rename(live, kept)
            undo.add(f"moved {live} back", _move_back(live, kept))
        os.rename(work / "new" / name, live)
        say(f"restored {live} (what was there is in {kept})")


def _move_back(live: Path, kept: Path) -> Callable[[], None]:
    def action() -> None:
        if live.exists():
            shutil.rmtree(live)
        os.rename(kept, live)

    return action


def _restore_accounts(
    accounts: Accounts, report: RestoreReport, undo: _Undo, say: Callable[[str], None]
) -> None:
    gids = {g.name: g.gid for g in accounts.groups}
    for record in accounts.accounts:
        line = _restore_account(record, undo)
        say(line)
        report.lines.append(line)
        for group in record.groups:
            _ensure_group(group, gids.get(group), say)
            ensure_user_group(record.name, group)


def refuse_system_groups(accounts: Accounts) -> None:
    """An account is put back only into groups of people: a group that exists here
    with a system gid (sudo, shadow, docker, ...) is never joined, whatever the
    archive says.  Raises :class:`ArchiveRefused` (before anything changed)."""
    for record in accounts.accounts:
        for name in record.groups:
            if group_exists(name) and grp.getgrnam(name).gr_gid < ID_MIN:
                raise ArchiveRefused(
                    f"the archive puts {record.name} into {name}, a system group here "
                    "(nothing was changed)",
                    "restore only archives made by 'sudo tljh backup'",
                )


def _ensure_group(name: str, gid: int | None, say: Callable[[str], None]) -> None:
    """The group ``name`` for a restored account, made with its old gid where free."""
    if group_exists(name):
        return
    free = gid is not None and gid_holder(gid) is None
    create_group(name, gid if free else None)
    say(f"created group {name}" + (f" (gid {gid})" if free else ""))


def _restore_account(record: AccountRecord, undo: _Undo) -> str:
    if user_exists(record.name):
        uid = pwd.getpwnam(record.name).pw_uid
        same = "as in the backup" if uid == record.uid else f"the backup had {record.uid}"
        return f"{record.name}: exists already (uid {uid}, {same}); kept"
    taken_by = id_holder(record.uid)
    gid_taken_by = gid_holder(record.gid)
    if not group_exists(record.name):
        create_group(record.name, None if gid_taken_by else record.gid)
    create_account(record.name, None if taken_by else record.uid, record.name)
    undo.add(f"created account {record.name}", lambda: _remove_created(record.name))
    uid = pwd.getpwnam(record.name).pw_uid
    if taken_by is None:
        return f"{record.name}: created with uid {uid}, as in the backup"
    return (
        f"{record.name}: uid {record.uid} is taken here by {taken_by}, so it got uid {uid}; "
        "its restored files belong to the new uid"
    )


def _remove_created(name: str) -> None:
    entry = pwd.getpwnam(name)
    home = own_home(entry)
    delete_user(name)
    if home is not None:
        # Made by this restore, filled from the archive (which still has it).
        shutil.rmtree(home)
    if group_exists(name):
        run(["groupdel", name], check=False)


def _restore_homes(tar: tarfile.TarFile, archive: Archive, say: Callable[[str], None]) -> None:
    by_account: dict[str, list[tarfile.TarInfo]] = {}
    for m in archive.members:
        placed = home_of_member(m.name)
        if placed is not None:
            by_account.setdefault(placed[0], []).append(m)
    for account, members in sorted(by_account.items()):
        entry = pwd.getpwnam(account)
        home = own_home(entry)
        if home is None:
            say(f"home of {account}: {entry.pw_dir} is not its own directory; left out")
            continue
        with HomeWriter(entry.pw_uid, entry.pw_gid, home) as out:
            for m in members:
                data = tar.extractfile(m) if m.isreg() else None
                out.addfile(member_for_home(m, entry.pw_uid, entry.pw_gid), data)
        say(f"home of {account}: {len(members)} file(s) and folder(s) into {home}")
