"""Taking a system account away: its home archived, set aside or deleted, then the account.

Nothing here decides *which* account to remove: the caller brings one that the
ownership record gives to the hub user being removed.  The checks below only
keep a mistake from reaching files that are not that account's home.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import time
from pathlib import Path

from tljh.errors import UserError
from tljh.system.files import PRIVATE_DIR, PRIVATE_FILE, make_private_dirs
from tljh.system.run import run
from tljh.system.users import delete_user

#: Accounts TLJH makes are called jupyter-...; nothing else is ever removed.
ACCOUNT_PREFIX = "jupyter-"
#: The lowest uid of an account useradd makes for a person (Debian's UID_MIN).
UID_MIN = 1000


def account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def is_hub_account(entry: pwd.struct_passwd) -> bool:
    """Whether ``entry`` looks like an account TLJH made for a hub user (never root,
    a system service or an admin's own login)."""
    return entry.pw_name.startswith(ACCOUNT_PREFIX) and entry.pw_uid >= UID_MIN


def processes_of(uid: int, proc: Path = Path("/proc")) -> list[int]:
    """The ids of the processes running with ``uid`` (real or effective)."""
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        for line in status.splitlines():
            if line.startswith("Uid:"):
                if str(uid) in line.split()[1:3]:
                    pids.append(int(entry.name))
                break
    return pids


def own_home(entry: pwd.struct_passwd) -> Path | None:
    """The account's home if it is a directory of its own (not /, not shared), else None."""
    home = Path(entry.pw_dir)
    if not home.is_absolute() or len(home.parts) < 3 or home.is_symlink():
        return None
    try:
        st = home.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != entry.pw_uid:
        return None
    return home


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def archive_home(entry: pwd.struct_passwd, directory: Path) -> Path | None:
    """A root-only ``<account>-<time>.tar.gz`` of the home in ``directory``; None
    when the account has no home of its own.

    Raises :class:`CommandFailed` when tar fails (nothing is removed then).
    """
    home = own_home(entry)
    if home is None:
        return None
    make_private_dirs(directory)
    target = directory / f"{entry.pw_name}-{_stamp()}.tar.gz"
    # Created root-only before tar writes a byte into it.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    os.close(fd)
    try:
        run(
            [
                "tar",
                "--create",
                "--gzip",
                "--numeric-owner",
                "--file",
                str(target),
                "--directory",
                str(home.parent),
                home.name,
            ],
            hint=f"nothing was removed; free some space for the archive in {directory}, or "
            "use --keep-home, then try again",
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def set_home_aside(entry: pwd.struct_passwd) -> Path | None:
    """Rename the home to ``<home>.removed-<time>``, root's alone (a new account
    that gets the same uid or name cannot enter it); None when there is none."""
    home = own_home(entry)
    if home is None:
        return None
    target = home.with_name(f"{home.name}.removed-{_stamp()}")
    os.chown(home, 0, 0)
    os.chmod(home, PRIVATE_DIR)
    os.rename(home, target)
    return target


def delete_home(entry: pwd.struct_passwd) -> Path | None:
    """Delete the home (the account's own directory only); None when there is none."""
    home = own_home(entry)
    if home is None:
        return None
    # rmtree never follows symlinks a student left in their home.
    shutil.rmtree(home)
    return home


def delete_account(entry: pwd.struct_passwd) -> None:
    """``userdel`` the account (its home is dealt with before).

    Raises :class:`UserError` while processes still run as it.
    """
    running = processes_of(entry.pw_uid)
    if running:
        raise UserError(
            f"processes still run as {entry.pw_name}: {', '.join(map(str, running[:10]))}",
            f"stop them ('sudo pkill -u {entry.pw_name}'), then run the command again",
        )
    delete_user(entry.pw_name)
