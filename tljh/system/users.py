"""System users and groups: the accounts hub users run as.

Every function is idempotent and safe to call from several threads at once:
account changes are serialized inside this process, and retried for a while
when another process (``adduser``, an admin's ``usermod``) holds the lock on
``/etc/passwd``.  They block, so the hub calls them from a worker thread.
"""

from __future__ import annotations

import contextlib
import grp
import json
import math
import os
import pwd
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tljh.errors import AccountConflict, CommandFailed
from tljh.system.files import PRIVATE_FILE, atomic_write, exclusive_lock, make_private_dirs
from tljh.system.run import run

#: Group of every hub user's system account.
USERS_GROUP = "jupyterhub-users"
#: Group of hub admins' system accounts (full sudo, see tljh.render.sudoers).
ADMINS_GROUP = "jupyterhub-admins"
#: The system user the idle culler runs as: no home, no login, no groups.
CULLER_USER = "tljh-idle-culler"

HOME_MODE = 0o700

#: useradd for a hub user: a home only they can read (born private; _fix_home
#: covers systems without HOME_MODE) and bash as login shell.
_HUB_USERADD = (
    "useradd",
    "--create-home",
    "--shell",
    "/bin/bash",
    "--key",
    f"HOME_MODE={HOME_MODE:04o}",
)

# useradd & co. exit with these codes when they cannot lock or update the
# account files, typically because another tool holds the lock right now.
_LOCK_EXIT_CODES = {1, 10}
_LOCK_RETRIES = 20
_LOCK_RETRY_DELAY = 0.25

# One account change at a time within this process: concurrent useradd calls
# would otherwise fail on each other's locks.
_accounts_lock = threading.Lock()


def _run_account_tool(
    argv: Sequence[str],
    hint: str,
    already_done: Callable[[int], bool] = lambda returncode: False,
) -> bool:
    """Run ``argv`` (useradd, groupadd, gpasswd), retrying while files are locked.

    Returns True when the command succeeded, False when it failed but
    ``already_done(returncode)`` says the wanted state exists anyway (another
    process got there first).  Raises :class:`CommandFailed` otherwise.
    """
    attempt = 0
    while True:
        proc = run(argv, check=False, hint=hint)
        if proc.returncode == 0:
            return True
        if already_done(proc.returncode):
            return False
        attempt += 1
        locked = proc.returncode in _LOCK_EXIT_CODES and "lock" in proc.stdout.lower()
        if not locked or attempt >= _LOCK_RETRIES:
            raise CommandFailed(list(argv), proc.returncode, proc.stdout, hint)
        time.sleep(_LOCK_RETRY_DELAY)


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def group_members(group: str) -> set[str]:
    """Supplementary members of ``group`` (users whose primary group it is are not listed)."""
    return set(grp.getgrnam(group).gr_mem)


def ensure_group(name: str) -> None:
    """Create the group ``name`` unless it exists."""
    if group_exists(name):
        return
    with _accounts_lock:
        if group_exists(name):
            return
        # --force: success if another process created it meanwhile.
        _run_account_tool(
            ["groupadd", "--force", name],
            hint="groupadd's output above says why; fix that (a group name it accepts, "
            f"no other tool editing /etc/group), or create it with 'groupadd {name}', "
            "then try again",
        )


def account_ids(name: str) -> tuple[int, int] | None:
    """The uid and primary gid of the system user ``name``, or None if there is none."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _fix_home(name: str) -> None:
    home = Path(pwd.getpwnam(name).pw_dir)
    try:
        st = home.stat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != HOME_MODE:
        os.chmod(home, HOME_MODE)


def ensure_user(system_name: str) -> bool:
    """Make sure the system user ``system_name`` exists.

    A new user gets a home directory only they can read (mode 0700), a user
    private group, and bash as login shell.  Returns True when the user was
    created by this call, False when it already existed.
    """
    if user_exists(system_name):
        return False
    with _accounts_lock:
        if user_exists(system_name):
            return False
        created = _run_account_tool(
            [*_HUB_USERADD, system_name],
            hint="useradd's output above says why; fix that (free space for the home "
            "directory, no other tool editing /etc/passwd), or create the user with "
            f"'useradd --create-home {system_name}', then start the server again",
            # exit 9: the name is taken -- another process created the user.
            already_done=lambda rc: rc == 9 or user_exists(system_name),
        )
        if created:
            _fix_home(system_name)
    return created


def ensure_system_user(name: str, comment: str) -> bool:
    """Make sure the system user ``name`` exists, for a service: a system uid,
    its own group, no home directory and no login shell.  True if created."""
    if user_exists(name):
        return False
    with _accounts_lock:
        if user_exists(name):
            return False
        return _run_account_tool(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                comment,
                name,
            ],
            hint="useradd's output above says why; fix that (no other tool editing "
            f"/etc/passwd), or create the user with 'useradd --system {name}', then "
            "run the installer again",
            already_done=lambda rc: rc == 9 or user_exists(name),
        )


def ensure_user_group(system_name: str, group: str) -> None:
    """Make ``system_name`` a member of ``group`` (both must exist)."""
    if system_name in group_members(group):
        return
    with _accounts_lock:
        if system_name in group_members(group):
            return
        _run_account_tool(
            ["gpasswd", "--add", system_name, group],
            hint=f"check that the group exists ('getent group {group}') and that no other "
            f"tool is editing /etc/group, or add the user with 'gpasswd --add {system_name} "
            f"{group}', then try again",
        )


def remove_user_group(system_name: str, group: str) -> None:
    """Make sure ``system_name`` is not a (supplementary) member of ``group``.

    Nothing to do when the group does not exist.
    """
    if not group_exists(group) or system_name not in group_members(group):
        return
    with _accounts_lock:
        if system_name not in group_members(group):
            return
        _run_account_tool(
            ["gpasswd", "--delete", system_name, group],
            hint="check that no other tool is editing /etc/group, or remove the user with "
            f"'gpasswd --delete {system_name} {group}', then try again",
        )


def delete_user(system_name: str) -> None:
    """Delete the system user ``system_name`` (not its home); nothing to do if it is gone."""
    if not user_exists(system_name):
        return
    with _accounts_lock:
        _run_account_tool(
            ["userdel", system_name],
            hint="userdel's output above says why; fix that, or remove the account with "
            f"'userdel {system_name}', then run the command again",
            # exit 6: no such user -- gone meanwhile.
            already_done=lambda rc: rc == 6,
        )


# -- who owns which account ---------------------------------------------------


def recorded_account(owners: Mapping[str, str], hub_name: str) -> str | None:
    """The account the record (system account -> hub user) gives ``hub_name``, if any."""
    for system_name, owner in sorted(owners.items()):
        if owner == hub_name:
            return system_name
    return None


class AccountOwners:
    """The record of which hub user owns each system account.

    A JSON object ``{"jupyter-alice": "alice", ...}`` in a root-only file under
    the state directory (``/opt/tljh/state/system-accounts.json``).  Written
    atomically (a crash leaves the old or the new record, never half of one)
    under an exclusive lock, so two hub processes, or the hub and an admin's
    tool, never lose each other's entries.

    Why a file and not the account's GECOS field: GECOS is readable by every
    user (``getent passwd``), and hub names are often e-mail addresses;
    it cannot hold ``:`` or newlines and splits on ``,``; and on many systems
    a user may change parts of it with ``chfn``.  The state directory is 0700
    and root's alone, is kept across reboots and upgrades, and is what the
    backup of an installation already carries.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def read(self) -> dict[str, str]:
        """The record: system account -> hub user.  Empty when none exists yet.

        Raises :class:`AccountConflict` when the file is not a valid record:
        handing out accounts from a damaged record could give one away.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except ValueError as e:
            raise self._damaged(f"not JSON ({e})") from e
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise self._damaged("not an object of account names to hub user names")
        return data

    def _damaged(self, why: str) -> AccountConflict:
        return AccountConflict(
            f"the record of who owns which system account ({self.path}) is damaged: {why}",
            hint="repair it as root (a JSON object such as "
            '{"jupyter-alice": "alice"}), or restore it from a backup; '
            "until then no server can start",
        )

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, str]]:
        """Hold the record's lock; yields the record, saved on exit if changed.

        Waits as long as another holder needs: holders are the hub's own starts.
        """
        # The lock file sits next to the record in the root-only state
        # directory, so no user can open it, let alone hold the lock.
        make_private_dirs(self.path.parent)
        with exclusive_lock(self._lock_path, timeout=math.inf):
            owners = self.read()
            before = dict(owners)
            yield owners
            if owners != before:
                # Hub names can be e-mail addresses, and the record decides who
                # gets which account: root alone reads or writes it.
                text = json.dumps(owners, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
                atomic_write(self.path, text, mode=PRIVATE_FILE)


# -- accounts brought back by a restore ---------------------------------------


def id_holder(uid: int) -> str | None:
    """The name of the user with ``uid``, None if it is free."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def gid_holder(gid: int) -> str | None:
    """The name of the group with ``gid``, None if it is free."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def create_group(name: str, gid: int | None) -> None:
    """Create the group ``name``, with ``gid`` when given (the caller checked it is free)."""
    with _accounts_lock:
        _run_account_tool(
            ["groupadd", *(["--gid", str(gid)] if gid is not None else []), name],
            hint=f"groupadd's output above says why; fix that, or create it with "
            f"'groupadd {name}', then try again",
        )


def create_account(name: str, uid: int | None, group: str) -> None:
    """Create the hub user account ``name`` as :func:`ensure_user` would, with the uid
    ``uid`` (None: the next free one) and the existing primary group ``group``."""
    with _accounts_lock:
        _run_account_tool(
            [
                *_HUB_USERADD,
                *(["--uid", str(uid)] if uid is not None else []),
                "--gid",
                group,
                name,
            ],
            hint="useradd's output above says why; fix that (free space for the home "
            "directory, no other tool editing /etc/passwd), then try again",
        )
    _fix_home(name)


def supplementary_groups(name: str) -> list[str]:
    """The groups ``name`` is a supplementary member of."""
    return sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)
