"""The spawner: names, groups, sudo policy, and creating accounts without blocking the hub."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from tljh.hooks import hookimpl
from tljh.hub import plugins
from tljh.hub.spawner import UserCreatingSpawner, server_suffix
from tljh.system import users
from tljh.system.usernames import system_username

ROOT = os.geteuid() == 0 and shutil.which("useradd") is not None


def make_spawner(name: str, admin: bool = False, server: str = "", **kw: Any) -> Any:
    user = SimpleNamespace(name=name, id=7, admin=admin, url=f"/user/{name}/")
    orm_spawner = SimpleNamespace(name=server, server=None, display_name=server)
    return UserCreatingSpawner(user=user, orm_spawner=orm_spawner, **kw)


def test_unit_and_user_are_the_system_name() -> None:
    spawner = make_spawner("Alice@Example.org")
    expected = system_username("Alice@Example.org")
    assert spawner.unit_name == expected
    assert spawner._expand_user_vars(spawner.username_template) == expected
    # {USERNAME} keeps meaning the hub user name for admins' own templates
    assert spawner._expand_user_vars("/srv/{USERNAME}") == "/srv/Alice@Example.org"


def test_named_servers_get_their_own_unit() -> None:
    assert make_spawner("alice", server="gpu").unit_name == "jupyter-alice-gpu"
    assert server_suffix("") == ""
    assert server_suffix("a b") != server_suffix("a_b")


def test_groups_for_user() -> None:
    groups = {"docker": ["alice"], "staff": ["bob"]}
    member, not_member = make_spawner("alice", user_groups=groups)._groups_for_user()
    assert member == ["jupyterhub-users", "docker"]
    assert not_member == ["jupyterhub-admins"]
    member, not_member = make_spawner("bob", admin=True, user_groups=groups)._groups_for_user()
    assert member == ["jupyterhub-users", "jupyterhub-admins", "staff"]
    assert not_member == []


def test_sudo_only_for_admins() -> None:
    assert make_spawner("student").sudo_disabled() is True
    assert make_spawner("teacher", admin=True).sudo_disabled() is False
    assert make_spawner("teacher", admin=True, admin_sudo=False).sudo_disabled() is True
    # an admin who turned sudo off for everybody keeps it off
    assert make_spawner("student", disable_user_sudo=False).sudo_disabled() is False


# -- for real (root) -------------------------------------------------------------


@pytest.fixture
def test_groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    tag = os.urandom(3).hex()
    pair = (f"tljht{tag}-users", f"tljht{tag}-admins")
    monkeypatch.setattr(users, "USERS_GROUP", pair[0])
    monkeypatch.setattr(users, "ADMINS_GROUP", pair[1])
    yield pair
    for group in pair:
        if users.group_exists(group):
            subprocess.run(["groupdel", group], capture_output=True, check=False)


def _delete_user(name: str) -> None:
    if users.user_exists(name):
        subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
    if users.group_exists(name):
        subprocess.run(["groupdel", name], capture_output=True, check=False)


class Recorder:
    def __init__(self) -> None:
        self.created: list[str] = []

    @hookimpl
    def tljh_new_user_create(self, username: str) -> None:
        self.created.append(username)


@pytest.mark.skipif(not ROOT, reason="needs root and useradd")
def test_accounts_created_without_blocking_the_event_loop(
    test_groups: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    users_group, admins_group = test_groups
    recorder = Recorder()

    def manager() -> pluggy.PluginManager:
        pm = pluggy.PluginManager("tljh")
        from tljh import hooks

        pm.add_hookspecs(hooks)
        pm.register(recorder)
        return pm

    monkeypatch.setattr(plugins, "plugin_manager", manager)
    tag = os.urandom(2).hex()
    hub_names = [f"tljht{tag}.u{i}" for i in range(6)]
    spawners = [make_spawner(n, admin=(i == 0)) for i, n in enumerate(hub_names)]
    # the same user started twice at once (e.g. two tabs): created once
    spawners.append(make_spawner(hub_names[1]))
    system_names = sorted({s.system_username for s in spawners})

    async def run() -> float:
        lag = 0.0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal lag
            while not done.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lag = max(lag, time.perf_counter() - t - 0.005)

        tick = asyncio.create_task(ticker())
        results = await asyncio.gather(*(s.ensure_account() for s in spawners))
        done.set()
        await tick
        assert sorted(set(results)) == system_names
        return lag

    try:
        lag = asyncio.run(run())
        assert lag < 0.05, f"the event loop stalled for {lag:.3f}s"
        for name in system_names:
            assert users.user_exists(name)
            assert name in users.group_members(users_group)
        admin = spawners[0].system_username
        assert users.group_members(admins_group) == {admin}
        assert sorted(recorder.created) == system_names

        # the admin is demoted: the next start takes the group away
        spawners[0].user.admin = False
        asyncio.run(spawners[0].ensure_account())
        assert admin not in users.group_members(admins_group)
        assert sorted(recorder.created) == system_names  # no second creation
    finally:
        for name in system_names:
            _delete_user(name)


@pytest.mark.skipif(not ROOT, reason="needs root and useradd")
def test_existing_account_of_an_earlier_release_is_kept(test_groups: tuple[str, str]) -> None:
    hub_name = f"tljht{os.urandom(2).hex()}.old"
    legacy = "jupyter-" + hub_name
    proc = subprocess.run(["useradd", "--create-home", legacy], capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"this useradd refuses {legacy!r}")
    try:
        spawner = make_spawner(hub_name)
        assert spawner.system_username == legacy
        assert spawner.unit_name == legacy
        assert make_spawner(hub_name + "x").system_username == system_username(hub_name + "x")
    finally:
        _delete_user(legacy)


def test_hub_environment_left_out_of_users_path() -> None:
    from tljh.hub.spawner import path_without

    assert (
        path_without("/opt/tljh/hub/bin:/usr/local/bin:/usr/bin::/bin", ["/opt/tljh/hub/bin/"])
        == "/usr/local/bin:/usr/bin:/bin"
    )
    assert path_without("/usr/bin", []) == "/usr/bin"


def test_users_path() -> None:
    spawner = make_spawner("alice")
    spawner.hub = SimpleNamespace(
        public_host="",
        api_url="http://127.0.0.1:15001/hub/api",
        base_url="/hub/",
        url="http://127.0.0.1:15001/hub/",
    )
    spawner.user.escaped_name = "alice"
    env = spawner.get_env()
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["JUPYTERHUB_USER"] == "alice"
