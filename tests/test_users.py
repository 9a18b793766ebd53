"""System users and groups, for real (root only): throwaway names, always removed."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tljh import user as published
from tljh.system import users

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="needs root and useradd",
)


class Names:
    """Hands out unique user and group names and deletes whatever exists at the end."""

    def __init__(self) -> None:
        self.prefix = "tljht" + secrets.token_hex(3)
        self.users: list[str] = []
        self.groups: list[str] = []

    def user(self, suffix: str) -> str:
        name = f"{self.prefix}-{suffix}"
        self.users.append(name)
        return name

    def group(self, suffix: str) -> str:
        name = f"{self.prefix}g-{suffix}"
        self.groups.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.users:
            if users.user_exists(name):
                subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
            # userdel keeps going when the home is gone; the private group too
            if users.group_exists(name):
                subprocess.run(["groupdel", name], capture_output=True, check=False)
        for name in self.groups:
            if users.group_exists(name):
                subprocess.run(["groupdel", name], capture_output=True, check=False)


@pytest.fixture
def names() -> Iterator[Names]:
    n = Names()
    try:
        yield n
    finally:
        n.cleanup()
    assert not any(users.user_exists(u) for u in n.users)
    assert not any(users.group_exists(g) for g in n.groups)


def test_ensure_user_creates_private_home(names: Names) -> None:
    name = names.user("alice")
    assert not users.user_exists(name)
    assert users.ensure_user(name) is True
    entry = pwd.getpwnam(name)
    assert entry.pw_shell == "/bin/bash"
    home = Path(entry.pw_dir)
    st = home.stat()
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == entry.pw_uid
    # a second call changes nothing
    assert users.ensure_user(name) is False


def test_ensure_user_concurrently(names: Names) -> None:
    # many different users at once (a class logging in) and the same user twice
    batch = [names.user(f"u{i}") for i in range(8)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(users.ensure_user, [*batch, batch[0], batch[1]]))
    assert all(users.user_exists(n) for n in batch)
    # each user was created exactly once
    assert results[:8].count(True) + results[8:].count(True) == 8


def test_groups(names: Names) -> None:
    name = names.user("bob")
    group = names.group("staff")
    users.ensure_user(name)
    published.ensure_group(group)
    published.ensure_group(group)  # idempotent
    assert users.group_exists(group)

    published.ensure_user_group(name, group)
    published.ensure_user_group(name, group)
    assert grp.getgrnam(group).gr_mem.count(name) == 1
    # the membership is what the system reports for the user
    gids = os.getgrouplist(name, pwd.getpwnam(name).pw_gid)
    assert grp.getgrnam(group).gr_gid in gids

    users.remove_user_group(name, group)
    users.remove_user_group(name, group)  # idempotent
    assert name not in grp.getgrnam(group).gr_mem
    # removing from a group that does not exist is fine
    users.remove_user_group(name, names.group("missing"))


def test_ensure_group_concurrently(names: Names) -> None:
    group = names.group("shared")
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: users.ensure_group(group), range(6)))
    assert users.group_exists(group)


def test_failure_is_reported(names: Names) -> None:
    from tljh.errors import CommandFailed

    name = names.user("carol")
    with pytest.raises(KeyError):
        # the group must exist
        users.ensure_user_group(name, names.group("nope"))
    users.ensure_user(name)
    with pytest.raises(CommandFailed) as e:
        users._run_account_tool(["gpasswd", "--add", name, names.group("nope2")], hint="h")
    assert "gpasswd" in e.value.message
    assert e.value.hint == "h"
