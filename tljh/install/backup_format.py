"""The backup archive's format, and the checks a restore makes before it writes anything (pure).

An archive is a gzipped tar file::

    manifest.json          format version, TLJH version, when, which host, what it holds
    accounts.json          the hub users' system accounts: uid, gid, groups
    config/...             /opt/tljh/config as it was
    state/...              /opt/tljh/state (the hub database as a consistent sqlite copy)
    homes/<account>/...    with --homes: each account's home, relative to it

A restore trusts an archive as much as it trusts a config.yaml: restored
``jupyterhub_config.d`` snippets run as root in the hub.  The checks below do
not replace that trust; they make sure that a damaged or crafted archive
cannot write outside ``config/``, ``state/`` and the homes it names, and
cannot create device nodes or set-uid files:

- every name is relative, with no ``..``, ``.`` or empty part, and starts
  with one of the parts above;
- ``config/`` and ``state/`` hold regular files and directories only, none
  set-uid, set-gid or sticky;
- a home holds regular files, directories, symlinks and hardlinks; a hardlink
  names an earlier file of the same home, and no member lies below a symlink
  (``a -> /etc`` then ``a/passwd``).  A symlink itself may point anywhere
  (students link to shared folders); homes are extracted by a process running
  as the student, which can reach only what the student could anyway, and
  with the set-uid and set-gid bits taken off;
- no name appears twice.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tljh.errors import ArchiveRefused

#: The archive's own format; a restore refuses a higher one.
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
ACCOUNTS = "accounts.json"
CONFIG = "config"
STATE = "state"
HOMES = "homes"

#: The system accounts TLJH makes (and restores): ``jupyter-`` and a name useradd accepts.
ACCOUNT_NAME = re.compile(r"^jupyter-[a-z0-9_][a-z0-9_.-]{0,40}$")
#: A group a restored account may be put back into (checked again against the system).
GROUP_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
#: uids and gids a restore may ask for: those useradd gives people (Debian's
#: UID_MIN..UID_MAX), never root's or a system service's.
ID_MIN = 1000
ID_MAX = 59999

#: Files of state/ that are not backed up: locks, what describes this machine's
#: running hub, and the database (copied on its own, consistently).
STATE_SKIPPED = ("hub-env.fingerprint", "hub-fallback.json")
STATE_SKIPPED_SUFFIXES = (".lock", ".tmp")
DATABASE = "jupyterhub.sqlite"
#: Homes of users removed with 'tljh users remove': student files, so only with --homes.
REMOVED_HOMES = "removed-homes"

#: At most this many problems are listed in a refusal.
_SHOWN_PROBLEMS = 10


def state_file_skipped(relative: str, homes: bool) -> bool:
    """Whether ``relative`` (a path inside state/) stays out of the archive."""
    first = relative.split("/", 1)[0]
    name = relative.rsplit("/", 1)[-1]
    if first == REMOVED_HOMES and not homes:
        return True
    if first.startswith(DATABASE):  # the database, its -journal, -wal, -shm
        return True
    return name in STATE_SKIPPED or name.endswith(STATE_SKIPPED_SUFFIXES)


# -- manifest -----------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    tljh_version: str
    created: str
    hostname: str
    prefix: str
    homes: bool
    accounts: tuple[str, ...] = ()
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["accounts"] = list(self.accounts)
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Raises :class:`ArchiveRefused` when it is not a manifest of ours."""
        data = _json_object(text, MANIFEST)
        fmt = data.get("format")
        version = data.get("tljh_version")
        if not isinstance(fmt, int) or not isinstance(version, str) or not version:
            raise _not_ours(f"{MANIFEST} has no format or tljh_version")
        accounts = data.get("accounts") or []
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise _not_ours(f"{MANIFEST}: accounts is not a list of names")
        return cls(
            tljh_version=version,
            created=str(data.get("created", "")),
            hostname=str(data.get("hostname", "")),
            prefix=str(data.get("prefix", "")),
            homes=bool(data.get("homes", False)),
            accounts=tuple(accounts),
            format=fmt,
        )


def _json_object(text: str | bytes, member: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _not_ours(f"{member} is not JSON ({e})") from None
    if not isinstance(data, dict):
        raise _not_ours(f"{member} is not a JSON object")
    return data


def _not_ours(why: str) -> ArchiveRefused:
    return ArchiveRefused(
        f"this is not a TLJH backup, or it is damaged: {why}",
        "give 'tljh restore' a file made by 'sudo tljh backup FILE'",
    )


def release(version: str) -> tuple[int, ...]:
    """The release numbers of a version (``2.1.0.dev0`` -> ``(2, 1, 0)``), padded to 3."""
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    if not match:
        return (0, 0, 0)
    numbers = tuple(int(n) for n in match.group(1).split("."))
    return (*numbers, 0, 0, 0)[: max(3, len(numbers))]


def check_compatible(manifest: Manifest, our_version: str) -> None:
    """Refuse an archive of a newer format or a newer TLJH release than ours.

    A newer release may have written state (a database schema, new files) that
    this one would misread, so we never guess.  Pre-releases of the same
    release (``2.0.0.dev0`` and ``2.0.0``) are taken as the same.

    Raises :class:`ArchiveRefused`.
    """
    if manifest.format > FORMAT_VERSION or release(manifest.tljh_version) > release(our_version):
        raise ArchiveRefused(
            f"this backup was made by TLJH {manifest.tljh_version} (archive format "
            f"{manifest.format}); this server runs TLJH {our_version} (format {FORMAT_VERSION}), "
            "which cannot read what a newer release wrote",
            f"install TLJH {manifest.tljh_version} or newer first (re-run the bootstrap with "
            f"'--version {manifest.tljh_version}'), then run 'sudo tljh restore' again",
        )


# -- accounts -----------------------------------------------------------------


@dataclass(frozen=True)
class AccountRecord:
    """One hub user's system account as it was: its ids and the groups it was in."""

    name: str
    uid: int
    gid: int
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupRecord:
    name: str
    gid: int


@dataclass(frozen=True)
class Accounts:
    accounts: tuple[AccountRecord, ...] = ()
    #: The groups (other than the accounts' own) any of them was in, with their gids.
    groups: tuple[GroupRecord, ...] = field(default_factory=tuple)

    def names(self) -> set[str]:
        return {a.name for a in self.accounts}

    def to_json(self) -> str:
        data = {
            "accounts": [
                {"name": a.name, "uid": a.uid, "gid": a.gid, "groups": list(a.groups)}
                for a in self.accounts
            ],
            "groups": [{"name": g.name, "gid": g.gid} for g in self.groups],
        }
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Accounts:
        """Raises :class:`ArchiveRefused` for anything but accounts TLJH could have made."""
        data = _json_object(text, ACCOUNTS)
        accounts = [_account(item) for item in _list(data, "accounts")]
        groups = [_group(item) for item in _list(data, "groups")]
        return cls(tuple(accounts), tuple(groups))


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _not_ours(f"{ACCOUNTS}: {key} is not a list")
    return value


def _id(item: dict[str, Any], key: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not ID_MIN <= value <= ID_MAX:
        raise _not_ours(
            f"{ACCOUNTS}: {item.get('name')!r} has {key} {value!r}, not one between "
            f"{ID_MIN} and {ID_MAX}"
        )
    return value


def _account(item: Any) -> AccountRecord:
    if not isinstance(item, dict):
        raise _not_ours(f"{ACCOUNTS}: an account is not an object")
    name = item.get("name")
    if not isinstance(name, str) or not ACCOUNT_NAME.match(name):
        raise _not_ours(f"{ACCOUNTS}: {name!r} is not the name of an account TLJH makes")
    groups = item.get("groups", [])
    if not isinstance(groups, list) or not all(
        isinstance(g, str) and GROUP_NAME.match(g) for g in groups
    ):
        raise _not_ours(f"{ACCOUNTS}: the groups of {name} are not a list of group names")
    return AccountRecord(name, _id(item, "uid"), _id(item, "gid"), tuple(groups))


def _group(item: Any) -> GroupRecord:
    if not isinstance(item, dict):
        raise _not_ours(f"{ACCOUNTS}: a group is not an object")
    name = item.get("name")
    if not isinstance(name, str) or not GROUP_NAME.match(name):
        raise _not_ours(f"{ACCOUNTS}: {name!r} is not a group name")
    return GroupRecord(name, _id(item, "gid"))


# -- members ------------------------------------------------------------------


def _parts(name: str) -> list[str] | None:
    """The parts of a safe relative member name; None for an unsafe one."""
    if not name or name.startswith("/") or "\x00" in name:
        return None
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return parts


def _kind(member: tarfile.TarInfo) -> str:
    if member.isreg():
        return "file"
    if member.isdir():
        return "directory"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "fifo"
    return "special file"


def member_problems(
    members: Iterable[tarfile.TarInfo], accounts: set[str] | None = None
) -> list[str]:
    """What is wrong with the members of an archive, one line each; [] when restorable.

    ``accounts``: the account names of accounts.json; a home of any other
    account is refused (None: any name of ours).
    """
    problems: list[str] = []
    seen: set[str] = set()
    files: set[str] = set()
    symlinks: set[str] = set()
    for m in members:
        problem = _member_problem(m, accounts, seen, files, symlinks)
        if problem:
            problems.append(f"{m.name!r}: {problem}")
        seen.add(m.name)
        if m.isreg():
            files.add(m.name)
        elif m.issym():
            symlinks.add(m.name)
    return problems


def _member_problem(
    m: tarfile.TarInfo,
    accounts: set[str] | None,
    seen: set[str],
    files: set[str],
    symlinks: set[str],
) -> str | None:
    parts = _parts(m.name)
    if parts is None:
        return "not a plain relative path (absolute, or with '..', '.' or '//')"
    if m.name in seen:
        return "appears twice"
    kind = _kind(m)
    top = parts[0]
    if top in (MANIFEST, ACCOUNTS):
        return None if len(parts) == 1 and kind == "file" else f"a {kind}, not the file {top}"
    if top in (CONFIG, STATE):
        if len(parts) == 1 and kind != "directory":
            return f"a {kind}, not the directory {top}/"
        if kind not in ("file", "directory"):
            return f"a {kind}: {top}/ holds only files and directories"
        if m.mode & 0o7000:
            return f"mode {m.mode:o}: set-uid, set-gid or sticky in {top}/"
        return None
    if top != HOMES:
        return f"not part of a TLJH backup (it starts with {top!r})"
    if len(parts) == 1:
        return None if kind == "directory" else f"a {kind}, not the directory {HOMES}/"
    account = parts[1]
    if not ACCOUNT_NAME.match(account):
        return f"{account!r} is not the name of an account TLJH makes"
    if accounts is not None and account not in accounts:
        return f"the home of {account}, which is not in {ACCOUNTS}"
    if len(parts) == 2 and kind != "directory":
        return f"a {kind}, not the directory of a home"
    for i in range(3, len(parts)):
        if "/".join(parts[:i]) in symlinks:
            return f"lies below the symlink {'/'.join(parts[:i])!r}"
    if kind in ("file", "directory", "symlink"):
        return None
    if kind == "hardlink":
        target = _parts(m.linkname)
        if target is None or target[:2] != [HOMES, account] or len(target) < 3:
            return f"a hardlink to {m.linkname!r}, outside the home of {account}"
        if m.linkname not in files:
            return f"a hardlink to {m.linkname!r}, which is not a file before it in the archive"
        return None
    return f"a {kind}: homes hold only files, directories and links"


def refuse_members(problems: Sequence[str]) -> None:
    """Raises :class:`ArchiveRefused` listing ``problems`` (the first few), if any."""
    if not problems:
        return
    shown = "\n  ".join(problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    if more > 0:
        shown += f"\n  ... and {more} more"
    raise ArchiveRefused(
        f"this archive holds {len(problems)} member(s) a restore will not write "
        f"(nothing was changed):\n  {shown}",
        "restore only archives made by 'sudo tljh backup'; if this one was, it has been "
        "changed since, so use another copy",
    )


def home_of_member(name: str) -> tuple[str, str] | None:
    """``(account, path in the home)`` of a member under homes/<account>/; None otherwise
    (and for the home directory itself)."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != HOMES:
        return None
    return parts[1], "/".join(parts[2:])


def member_for_home(m: tarfile.TarInfo, uid: int, gid: int) -> tarfile.TarInfo:
    """The member as written into the account's home: its name relative to the home,
    owned by the account (whatever ids the archive says), set-uid/set-gid/sticky bits off."""
    placed = home_of_member(m.name)
    if placed is None:
        raise ValueError(f"{m.name} is not in a home")
    copy = replace_member(m, name=placed[1], uid=uid, gid=gid, mode=m.mode & 0o777)
    if m.islnk():
        target = home_of_member(m.linkname)
        copy.linkname = target[1] if target else ""
    return copy


def replace_member(m: tarfile.TarInfo, **changes: Any) -> tarfile.TarInfo:
    """A copy of ``m`` with ``changes``; owner names dropped (ids decide).

    The PAX headers that name the member, its link and its owner are dropped
    too: tarfile writes a header found there instead of the field's value.
    """
    copy = replace_tarinfo(m)
    for key, value in changes.items():
        setattr(copy, key, value)
    copy.uname = copy.gname = ""
    copy.pax_headers = {k: v for k, v in m.pax_headers.items() if k not in _PAX_REPLACED}
    return copy


_PAX_REPLACED = {"path", "linkpath", "uid", "gid", "uname", "gname"}


def replace_tarinfo(m: tarfile.TarInfo) -> tarfile.TarInfo:
    copy = tarfile.TarInfo(m.name)
    for attr in ("size", "mtime", "mode", "type", "linkname", "uid", "gid", "devmajor",
                 "devminor"):  # fmt: skip
        setattr(copy, attr, getattr(m, attr))
    copy.pax_headers = dict(m.pax_headers)
    return copy
