"""System users and groups: the accounts hub users run as.

Every function is idempotent and safe to call from several threads at once:
account changes are serialized inside this process, and retried for a while
when another process (``adduser``, an admin's ``usermod``) holds the lock on
``/etc/passwd``.  They block, so the hub calls them from a worker thread.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tljh.errors import CommandFailed
from tljh.system.run import run

#: Group of every hub user's system account.
USERS_GROUP = "jupyterhub-users"
#: Group of hub admins' system accounts (full sudo, see tljh.render.sudoers).
ADMINS_GROUP = "jupyterhub-admins"

HOME_MODE = 0o700

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
            [
                "useradd",
                "--create-home",
                "--shell",
                "/bin/bash",
                # Born private; _fix_home below covers systems without HOME_MODE.
                "--key",
                f"HOME_MODE={HOME_MODE:04o}",
                system_name,
            ],
            hint="useradd's output above says why; fix that (free space for the home "
            "directory, no other tool editing /etc/passwd), or create the user with "
            f"'useradd --create-home {system_name}', then start the server again",
            # exit 9: the name is taken -- another process created the user.
            already_done=lambda rc: rc == 9 or user_exists(system_name),
        )
        if created:
            _fix_home(system_name)
    return created


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
