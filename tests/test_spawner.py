"""The spawner: names, groups, sudo policy, and creating accounts without blocking the hub."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from tljh.errors import AccountConflict
from tljh.hooks import hookimpl
from tljh.hub import plugins
from tljh.hub.accounts import choose_account, oauth_client_id, server_suffix
from tljh.hub.spawner import UserCreatingSpawner
from tljh.system import users
from tljh.system.usernames import legacy_system_username, system_username
from tljh.system.users import AccountOwners

ROOT = os.geteuid() == 0 and shutil.which("useradd") is not None


def make_spawner(name: str, admin: bool = False, server: str = "", **kw: Any) -> Any:
    """A spawner of ``name``; ``admin``: listed in users.admin (admin in the hub, sudo)."""
    if admin:
        kw.setdefault("sudo_users", {name})
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
    assert make_spawner("alice", server="gpu").unit_name == "jupyter-alice:gpu"
    assert server_suffix("") == ""
    assert server_suffix("a b") != server_suffix("a_b")


def test_default_server_keeps_upstreams_unit_name() -> None:
    assert make_spawner("alice").unit_name == "jupyter-alice"
    assert make_spawner("alice-bob").unit_name == "jupyter-alice-bob"


def test_named_server_and_user_never_share_a_unit() -> None:
    # alice's server "bob" used to be jupyter-alice-bob: user alice-bob's unit.
    assert make_spawner("alice", server="bob").unit_name != make_spawner("alice-bob").unit_name
    units: dict[str, tuple[str, str]] = {}
    for user in ("alice", "alice-bob", "alice-bob-gpu", "a", "a-b"):
        for server in ("", "bob", "gpu", "bob-gpu", "b", "x y", "x_y", "x:y"):
            unit = make_spawner(user, server=server).unit_name
            assert unit not in units, f"{(user, server)} and {units[unit]} share {unit}"
            units[unit] = (user, server)
            # ':' separates the account from the server, and only there
            assert unit.split(":")[0] == system_username(user)


def test_named_server_and_user_never_share_an_oauth_client() -> None:
    # JupyterHub's own ids: jupyterhub-user-alice-bob for both.
    named = make_spawner("alice", server="bob", oauth_client_id="jupyterhub-user-alice-bob")
    assert named.oauth_client_id == "jupyterhub-user-alice!bob"
    default = make_spawner("alice-bob", oauth_client_id="jupyterhub-user-alice-bob")
    assert default.oauth_client_id == "jupyterhub-user-alice-bob"
    ids = {
        oauth_client_id(user, server)
        for user in ("alice", "alice-bob", "alice!bob", "a@b", "alice-bob!x")
        for server in ("", "bob", "x", "bob!x", "b%21x")
    }
    assert len(ids) == 25


def test_server_suffixes_are_distinct() -> None:
    hashed = server_suffix("a b")
    assert server_suffix(hashed[1:]) != hashed  # a name that looks hashed is hashed again
    assert server_suffix("x" * 100) != server_suffix("x" * 101)
    assert len(server_suffix("é" * 300)) <= 65
    for name in ("gpu", "a.b", "A_b-2"):
        assert server_suffix(name) == ":" + name


# -- who owns an account: the pure rule --------------------------------------------


def _world(*existing: str) -> Any:
    accounts = set(existing)
    return accounts.__contains__


def _nobody() -> list[str]:
    return []


def test_new_account_is_recorded() -> None:
    owners: dict[str, str] = {}
    name = choose_account("alice", owners, _world(), _nobody)
    assert name == "jupyter-alice"
    assert owners == {"jupyter-alice": "alice"}


def test_recorded_account_is_used() -> None:
    # including one an admin recorded under any name
    owners = {"jupyter-old-alice": "alice", "jupyter-bob": "bob"}
    assert choose_account("alice", owners, _world(), _nobody) == "jupyter-old-alice"
    assert choose_account("bob", owners, _world("jupyter-bob"), _nobody) == "jupyter-bob"


def test_takeover_through_the_legacy_name_is_refused() -> None:
    # The victim "b.s" got jupyter-b-s-<hash8>; that is also the legacy name of
    # the hub user "b-s-<hash8>".
    victim = "b.s"
    account = system_username(victim)
    attacker = account[len("jupyter-") :]
    assert legacy_system_username(attacker) == account
    owners: dict[str, str] = {}
    exists = _world()
    assert choose_account(victim, owners, exists, _nobody) == account
    exists = _world(account)
    got = choose_account(attacker, owners, exists, lambda: [victim, attacker])
    assert got != account
    assert owners == {account: victim, got: attacker}
    # and the victim keeps theirs
    assert choose_account(victim, owners, exists, _nobody) == account


def test_unrecorded_account_with_a_hashed_looking_name_is_not_adopted_by_legacy_name() -> None:
    # Made by an earlier release for "b.s" before accounts were recorded.
    victim = "b.s"
    account = system_username(victim)
    attacker = account[len("jupyter-") :]
    owners: dict[str, str] = {}
    with pytest.raises(AccountConflict) as e:
        choose_account(attacker, owners, _world(account), lambda: [attacker])
    assert account in e.value.message and "admin" in e.value.hint
    assert owners == {}
    # its rightful owner still gets it, even with the attacker in the hub
    assert choose_account(victim, owners, _world(account), lambda: [attacker, victim]) == account
    assert owners == {account: victim}


def test_upstream_account_is_adopted_and_recorded() -> None:
    owners: dict[str, str] = {}
    legacy = legacy_system_username("a.b")
    assert choose_account("a.b", owners, _world(legacy), lambda: ["a.b", "a-b"]) == legacy
    assert owners == {legacy: "a.b"}


def test_short_hash_collision_cannot_take_an_upstream_account() -> None:
    # Both names map to one upstream account (5 hex digits collide).
    victim, attacker = "collision-victim-name-394", "collision-victim-name-825"
    account = legacy_system_username(victim)
    assert legacy_system_username(attacker) == account
    # the victim is a hub user but has not logged in since the upgrade
    owners: dict[str, str] = {}
    with pytest.raises(AccountConflict):
        choose_account(attacker, owners, _world(account), lambda: [victim, attacker])
    assert owners == {}
    # nor can the victim prove it is theirs while the attacker exists: an admin decides
    with pytest.raises(AccountConflict):
        choose_account(victim, owners, _world(account), lambda: [victim, attacker])
    # before the attacker came, the victim adopted it, recorded
    assert choose_account(victim, owners, _world(account), lambda: [victim]) == account
    # and then the attacker simply gets an account of their own
    got = choose_account(attacker, owners, _world(account), lambda: [victim, attacker])
    assert got == system_username(attacker) != account


def test_current_name_recorded_for_someone_else_is_refused() -> None:
    owners = {"jupyter-alice": "someone-else"}
    with pytest.raises(AccountConflict) as e:
        choose_account("alice", owners, _world("jupyter-alice"), _nobody)
    assert "another hub user" in e.value.message
    assert owners == {"jupyter-alice": "someone-else"}


def test_hub_users_listed_only_for_unrecorded_accounts() -> None:
    def boom() -> list[str]:
        raise AssertionError("listed the hub's users")

    owners: dict[str, str] = {"jupyter-bob": "bob"}
    choose_account("alice", owners, _world(), boom)
    choose_account("bob", owners, _world("jupyter-bob"), boom)


# -- the record on disk ------------------------------------------------------------


def test_owner_record_is_root_only_and_atomic(tmp_path: Path) -> None:
    record = AccountOwners(tmp_path / "state" / "system-accounts.json")
    assert record.read() == {}
    with record.locked() as owners:
        owners["jupyter-alice"] = "Alice@Example.org"
    assert record.read() == {"jupyter-alice": "Alice@Example.org"}
    for path in tmp_path.joinpath("state").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(tmp_path.joinpath("state").stat().st_mode) == 0o700
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.joinpath("state").iterdir()) == [
        "system-accounts.json",
        "system-accounts.json.lock",
    ]
    # unchanged: not rewritten
    before = record.path.stat().st_mtime_ns
    with record.locked():
        pass
    assert record.path.stat().st_mtime_ns == before


def test_damaged_record_refuses_every_account(tmp_path: Path) -> None:
    record = AccountOwners(tmp_path / "system-accounts.json")
    for text in ("{", "[]", '{"jupyter-a": 1}'):
        record.path.write_text(text)
        with pytest.raises(AccountConflict) as e:
            record.read()
        assert "damaged" in e.value.message and "backup" in e.value.hint


def test_spawner_names_the_recorded_account(tmp_path: Path) -> None:
    record = AccountOwners(tmp_path / "system-accounts.json")
    with record.locked() as owners:
        owners["jupyter-a.b"] = "a.b"
    spawner = make_spawner("a.b", account_owners_file=str(record.path))
    assert spawner.system_username == "jupyter-a.b"
    assert spawner.unit_name == "jupyter-a.b"
    assert make_spawner("a.b", account_owners_file=str(tmp_path / "none")).system_username == (
        system_username("a.b")
    )


def test_unit_sandbox_depends_on_sudo_and_the_admin_has_the_last_word() -> None:
    student = make_spawner("ada")
    student.disable_user_sudo = student.sudo_disabled()
    props = student.unit_properties()
    assert props["RestrictSUIDSGID"] == "yes"
    assert props["TasksMax"] == "1024"

    admin = make_spawner("grace", admin=True)
    admin.disable_user_sudo = admin.sudo_disabled()
    assert "RestrictSUIDSGID" not in admin.unit_properties()

    # c.SystemdSpawner.unit_extra_properties, e.g. to let a tool use namespaces.
    own = make_spawner(
        "ada", unit_extra_properties={"RestrictNamespaces": "no", "TasksMax": "4096"}
    )
    own.disable_user_sudo = own.sudo_disabled()
    props = own.unit_properties()
    assert props["RestrictNamespaces"] == "no"
    assert props["TasksMax"] == "4096"
    assert props["ProtectKernelTunables"] == "yes"


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
    # Made admin on the hub's admin page only: admin in the hub, but no sudo.
    page_admin = make_spawner("helper", admin=True, sudo_users=set())
    assert page_admin.sudo_disabled() is True
    assert users.ADMINS_GROUP in page_admin._groups_for_user()[1]
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
    test_groups: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
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
    record = str(tmp_path / "system-accounts.json")
    spawners = [
        make_spawner(n, admin=(i == 0), account_owners_file=record) for i, n in enumerate(hub_names)
    ]
    # the same user started twice at once (e.g. two tabs): created once
    spawners.append(make_spawner(hub_names[1], account_owners_file=record))
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
        assert AccountOwners(Path(record)).read() == {system_username(n): n for n in hub_names}

        # the admin is demoted: the next start takes the group away
        spawners[0].sudo_users = set()
        asyncio.run(spawners[0].ensure_account())
        assert admin not in users.group_members(admins_group)
        assert sorted(recorder.created) == system_names  # no second creation
    finally:
        for name in system_names:
            _delete_user(name)


@pytest.mark.skipif(not ROOT, reason="needs root and useradd")
def test_existing_account_of_an_earlier_release_is_kept(
    test_groups: tuple[str, str], tmp_path: Path
) -> None:
    hub_name = f"tljht{os.urandom(2).hex()}.old"
    legacy = "jupyter-" + hub_name
    proc = subprocess.run(["useradd", "--create-home", legacy], capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"this useradd refuses {legacy!r}")
    record = str(tmp_path / "system-accounts.json")
    try:
        spawner = make_spawner(hub_name, account_owners_file=record)
        assert asyncio.run(spawner.ensure_account()) == legacy
        assert spawner.system_username == legacy
        assert AccountOwners(Path(record)).read() == {legacy: hub_name}
        other = make_spawner(hub_name + "x", account_owners_file=record)
        assert other.system_username == system_username(hub_name + "x")
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
        api_url="http://127.0.0.1:1001/hub/api",
        base_url="/hub/",
        url="http://127.0.0.1:1001/hub/",
    )
    spawner.user.escaped_name = "alice"
    env = spawner.get_env()
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["JUPYTERHUB_USER"] == "alice"


def test_owner_record_loses_no_entry_under_concurrent_writers(tmp_path: Path) -> None:
    # Many hub users starting at once, each recording its account: every
    # record survives (the read-modify-write happens under the file lock).
    path = tmp_path / "state" / "system-accounts.json"

    def claim(i: int) -> None:
        with AccountOwners(path).locked() as owners:
            owners[f"jupyter-u{i}"] = f"u{i}"

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(claim, range(64)))
    assert AccountOwners(path).read() == {f"jupyter-u{i}": f"u{i}" for i in range(64)}


def test_conflict_is_shown_with_its_hint_on_the_spawn_page() -> None:
    # JupyterHub shows an exception's jupyterhub_message on the spawn page and
    # in its API's error; the user must see what an admin can do.
    e = AccountConflict("cannot start a server for 'x'", hint="ask an admin")
    assert e.jupyterhub_message == "cannot start a server for 'x'. ask an admin"
