"""``tljh backup``: config, state, the hub users' accounts and (with --homes) their
homes, in one root-only archive (see :mod:`tljh.install.backup_format`).

The archive is written under a temporary name next to the target, 0600 from
its first byte, and gets its name only when complete: a failed or interrupted
backup never leaves a half archive under the name the admin asked for, and no
one but root can read any of it at any moment.
"""

from __future__ import annotations

import datetime
import grp
import io
import os
import pwd
import socket
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tljh
from tljh.errors import BackupError
from tljh.install.backup_format import (
    ACCOUNTS,
    CONFIG,
    DATABASE,
    HOMES,
    ID_MAX,
    ID_MIN,
    MANIFEST,
    STATE,
    AccountRecord,
    Accounts,
    GroupRecord,
    Manifest,
    replace_member,
    state_file_skipped,
)
from tljh.layout import Layout
from tljh.system.backup_io import (
    HomeReader,
    create_private,
    dbm_read_lock,
    publish,
    sqlite_copy,
)
from tljh.system.removal import is_hub_account, own_home
from tljh.system.users import supplementary_groups

#: gzip level: 6 is most of 9's size at a fraction of its time on big homes.
COMPRESS_LEVEL = 6


@dataclass
class BackupSummary:
    path: Path
    size: int = 0
    accounts: list[str] = field(default_factory=list)
    homes: list[str] = field(default_factory=list)
    #: What could not be read or was left out on purpose, for the admin to see.
    warnings: list[str] = field(default_factory=list)


def hub_accounts() -> list[pwd.struct_passwd]:
    """The system accounts of hub users (jupyter-*, uid >= 1000), by name."""
    return sorted((e for e in pwd.getpwall() if is_hub_account(e)), key=lambda e: e.pw_name)


def account_records(entries: list[pwd.struct_passwd]) -> Accounts:
    """Each account's ids and the groups it is in (only groups of people: a
    system group such as sudo is never written down, so never restored)."""
    records = []
    groups: dict[str, int] = {}
    for e in entries:
        names = []
        for name in supplementary_groups(e.pw_name):
            gid = grp.getgrnam(name).gr_gid
            if ID_MIN <= gid <= ID_MAX:
                names.append(name)
                groups[name] = gid
        if ID_MIN <= e.pw_uid <= ID_MAX and ID_MIN <= e.pw_gid <= ID_MAX:
            records.append(AccountRecord(e.pw_name, e.pw_uid, e.pw_gid, tuple(names)))
    return Accounts(tuple(records), tuple(GroupRecord(n, g) for n, g in sorted(groups.items())))


def check_target(layout: Layout, target: Path) -> Path:
    """The absolute path to write; raises :class:`BackupError` when it cannot be used."""
    target = Path(os.path.abspath(target))
    if target.exists() or target.is_symlink():
        raise BackupError(
            f"{target} exists: a backup never overwrites a file",
            "choose another file name, or move the old file away first",
        )
    if not target.parent.is_dir():
        raise BackupError(
            f"{target.parent} is not a directory", "create it first, or choose another place"
        )
    real_parent = target.parent.resolve()
    prefix = layout.prefix.resolve()
    if real_parent == prefix or prefix in real_parent.parents:
        raise BackupError(
            f"{target} is inside {layout.prefix}: the next backup would hold this one, and "
            "'tljh uninstall' would remove it",
            "write it somewhere else, e.g. /root/tljh-backup.tar.gz",
        )
    return target


def write_backup(
    layout: Layout, target: Path, homes: bool, say: Callable[[str], None] = print
) -> BackupSummary:
    """Write the archive to ``target``.

    Raises :class:`BackupError` when TLJH is not installed here, ``target``
    cannot be used, or something cannot be read.
    """
    if not layout.config_dir.is_dir() or not layout.state_dir.is_dir():
        raise BackupError(
            f"there is no TLJH installation in {layout.prefix} to back up",
            "set TLJH_INSTALL_PREFIX if it is installed elsewhere",
        )
    target = check_target(layout, target)
    entries = hub_accounts()
    accounts = account_records(entries)
    summary = BackupSummary(target, accounts=[a.name for a in accounts.accounts])
    manifest = Manifest(
        tljh_version=tljh.__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        hostname=socket.gethostname(),
        prefix=str(layout.prefix),
        homes=homes,
        accounts=tuple(summary.accounts),
    )
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(
                fileobj=raw,
                mode="w:gz",
                compresslevel=COMPRESS_LEVEL,
                format=tarfile.PAX_FORMAT,
            ) as tar:
                _add_bytes(tar, MANIFEST, manifest.to_json().encode())
                _add_bytes(tar, ACCOUNTS, accounts.to_json().encode())
                say(f"config: {layout.config_dir}")
                _add_tree(tar, layout.config_dir, CONFIG, lambda rel: False, summary)
                say(f"state: {layout.state_dir} (the hub's database, secrets, passwords)")
                _add_state(tar, layout, homes, summary)
                if homes:
                    _add_homes(tar, entries, summary, say)
            raw.flush()
            os.fsync(raw.fileno())
        summary.size = tmp.stat().st_size
        publish(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return summary


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.datetime.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


def _walk(top: Path) -> Iterator[Path]:
    """Every entry below ``top``, parents before children, without following symlinks."""
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            yield Path(root) / name


def _add_tree(
    tar: tarfile.TarFile,
    top: Path,
    arcname: str,
    skipped: Callable[[str], bool],
    summary: BackupSummary,
) -> None:
    """Add the root-owned directory ``top`` as ``arcname``: directories and regular files
    (what a restore accepts there); anything else is named in the warnings."""
    tar.add(str(top), arcname=arcname, recursive=False)
    for path in _walk(top):
        rel = path.relative_to(top).as_posix()
        if skipped(rel):
            continue
        st = path.lstat()
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            summary.warnings.append(f"left out {path}: not a regular file or directory")
            continue
        info = tar.gettarinfo(str(path), arcname=f"{arcname}/{rel}")
        info = replace_member(info, mode=info.mode & 0o777)
        if info.isreg():
            # Never through a symlink put there since the lstat above.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                info.size = os.fstat(f.fileno()).st_size
                tar.addfile(info, f)
        else:
            tar.addfile(info)


def _add_state(tar: tarfile.TarFile, layout: Layout, homes: bool, summary: BackupSummary) -> None:
    with dbm_read_lock(layout.firstuse_passwords):
        _add_tree(tar, layout.state_dir, STATE, lambda rel: state_file_skipped(rel, homes), summary)
    if layout.hub_db.exists():
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / DATABASE
            sqlite_copy(layout.hub_db, copy)
            info = tar.gettarinfo(str(copy), arcname=f"{STATE}/{DATABASE}")
            info = replace_member(info, mode=0o600, uid=0, gid=0)
            with open(copy, "rb") as f:
                tar.addfile(info, f)


def _add_homes(
    tar: tarfile.TarFile,
    entries: list[pwd.struct_passwd],
    summary: BackupSummary,
    say: Callable[[str], None],
) -> None:
    home_dir = tarfile.TarInfo(HOMES)
    home_dir.type = tarfile.DIRTYPE
    home_dir.mode = 0o700
    tar.addfile(home_dir)
    for entry in entries:
        home = own_home(entry)
        if home is None:
            summary.warnings.append(f"{entry.pw_name} has no home of its own: left out")
            continue
        say(f"home of {entry.pw_name}: {home}")
        top = tarfile.TarInfo(f"{HOMES}/{entry.pw_name}")
        top.type = tarfile.DIRTYPE
        top.mode = 0o700
        tar.addfile(top)
        reader = HomeReader(entry.pw_uid, entry.pw_gid, home)
        with reader as source:
            for member in source:
                rel = member.name.removeprefix("./").rstrip("/")
                if rel in ("", "."):
                    continue
                info = replace_member(member, name=f"{HOMES}/{entry.pw_name}/{rel}")
                if member.islnk():
                    info.linkname = f"{HOMES}/{entry.pw_name}/{member.linkname.removeprefix('./')}"
                if member.isreg():
                    tar.addfile(info, source.extractfile(member))
                else:
                    tar.addfile(info)
        summary.warnings += reader.warnings
        summary.homes.append(entry.pw_name)
