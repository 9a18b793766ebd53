"""Admins with passwords at install time, limits per group and per user, and
``tljh users`` (list, remove, owner) on the real install.

Every test puts back the config it found (the file, then a reload).
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from bootstrapping import run_bootstrap
from conftest import DUMMY_PASSWORD, run, use_dummy_auth
from hubclient import HubClient, HubError
from machine import system_name, unit_property

CONFIG = Path("/opt/tljh/config/config.yaml")
STATE = Path("/opt/tljh/state")
TLJH = "/usr/bin/tljh"
G = 1024**3


@contextmanager
def config_restored(tljh_config: Callable[..., str]) -> Iterator[None]:
    """Put config.yaml back as it was (its mode stays), then reload."""
    saved = CONFIG.read_bytes()
    try:
        yield
    finally:
        CONFIG.write_bytes(saved)
        tljh_config("reload")


def logged_in(hub_url: str, name: str, password: str = DUMMY_PASSWORD) -> HubClient:
    client = HubClient(hub_url)
    client.login(name, password)
    return client


def tljh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([TLJH, *args], check=check)


def listed(name: str) -> dict[str, object]:
    rows = json.loads(tljh("users", "list", "--json").stdout)
    return next(row for row in rows if row["name"] == name)


# -- admins at install time ----------------------------------------------------------

ARGV_ADMIN = "argv-admin"
ARGV_PASSWORD = "from-the-command-line-1"
FILE_ADMIN = "file.admin"
FILE_PASSWORD = "from: a root-only file"


def test_admin_passwords_from_argv_and_from_a_root_only_file(
    hub_url: str, tljh_config: Callable[..., str], tmp_path: Path
) -> None:
    with config_restored(tljh_config):
        # The login as shipped, whatever earlier modules switched to.
        tljh_config("unset", "auth.type", check=False)
        tljh_config("reload")
        proc, _ = run_bootstrap("--admin", f"{ARGV_ADMIN}:{ARGV_PASSWORD}", "second-admin")
        assert proc.returncode == 0, proc.stdout
        assert "process list" in proc.stdout
        assert ARGV_PASSWORD not in Path("/opt/tljh/installer.log").read_text()
        admin = logged_in(hub_url, ARGV_ADMIN, ARGV_PASSWORD)
        assert admin.user_model()["admin"] is True
        with pytest.raises(HubError, match="login as"):
            logged_in(hub_url, ARGV_ADMIN, "a-wrong-password")

        secrets = tmp_path / "admins.txt"
        secrets.write_text(f"# admins\n{FILE_ADMIN}:{FILE_PASSWORD}\n")
        os.chmod(secrets, 0o644)
        proc, _ = run_bootstrap("--admin-password-file", str(secrets))
        assert proc.returncode == 1, proc.stdout
        assert f"chmod 600 {secrets}" in proc.stdout
        assert FILE_ADMIN not in CONFIG.read_text()

        os.chmod(secrets, 0o600)
        proc, _ = run_bootstrap("--admin-password-file", str(secrets))
        assert proc.returncode == 0, proc.stdout
        assert "process list" not in proc.stdout
        assert logged_in(hub_url, FILE_ADMIN, FILE_PASSWORD).user_model()["admin"] is True
        with pytest.raises(HubError, match="login as"):
            logged_in(hub_url, FILE_ADMIN, ARGV_PASSWORD)
        passwords = STATE / "passwords.dbm"
        for path in STATE.glob("passwords.dbm*"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert list(STATE.glob("passwords.dbm*")), passwords


# -- limits per group and per user -------------------------------------------------------

GROUP = "instructors-test"
MEMBER = "limits-member"
OTHER = "limits-other"
DOTTED = "limits.dotted"


@pytest.fixture(scope="module")
def dummy(tljh_config: Callable[..., str]) -> Iterator[None]:
    saved = CONFIG.read_bytes()
    use_dummy_auth()
    yield
    CONFIG.write_bytes(saved)
    tljh_config("reload")


@pytest.mark.usefixtures("dummy")
def test_a_group_members_unit_has_the_groups_limit(
    hub_url: str, admin_name: str, tljh_config: Callable[..., str]
) -> None:
    with config_restored(tljh_config):
        tljh_config("set", "limits.memory", "1G")
        tljh_config("set", f"limits.groups.{GROUP}.memory", "3G")
        tljh_config("set", f"limits.groups.{GROUP}.cpu", "2")
        tljh_config("set", f"limits.users.{DOTTED}.memory", "2G")
        tljh_config("reload")
        admin = logged_in(hub_url, admin_name)
        clients = {name: logged_in(hub_url, name) for name in (MEMBER, OTHER, DOTTED)}
        r = admin.post(f"/hub/api/groups/{GROUP}")
        assert r.status_code in (201, 409), r.text
        r = admin.post(f"/hub/api/groups/{GROUP}/users", json={"users": [MEMBER]})
        assert r.status_code == 200, r.text
        try:
            for client in clients.values():
                client.start_server()
            assert unit_property(system_name(MEMBER), "MemoryMax") == str(3 * G)
            assert unit_property(system_name(MEMBER), "CPUQuotaPerSecUSec") == "2s"
            assert unit_property(system_name(OTHER), "MemoryMax") == str(1 * G)
            assert unit_property(system_name(DOTTED), "MemoryMax") == str(2 * G)
            # The list shows what the next start gets, and why.
            member = listed(MEMBER)
            assert (member["memory_limit"], member["memory_limit_from"]) == (
                3 * G,
                f"group {GROUP}",
            )
            assert member["groups"] == [GROUP] and member["server"] == "running"
            assert listed(OTHER)["memory_limit"] == 1 * G
            assert listed(DOTTED)["memory_limit_from"] == f"user {DOTTED}"
            assert f"3G ({GROUP})" in tljh("users", "list").stdout
        finally:
            for client in clients.values():
                client.stop_server()
            admin.delete(f"/hub/api/groups/{GROUP}")


# -- tljh users ---------------------------------------------------------------------------

LEAVING = "leaving-student"
KEEPING = "keeping-student"


def started_with_a_file(hub_url: str, name: str) -> HubClient:
    client = logged_in(hub_url, name)
    client.start_server()
    client.execute("open('homework.txt', 'w').write('my work')")
    return client


def test_the_token_of_tljh_users_is_roots_alone() -> None:
    token = STATE / "users-api.token"
    st = token.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)


@pytest.mark.usefixtures("dummy")
def test_remove_archives_the_home_and_takes_everything_away(hub_url: str, admin_name: str) -> None:
    started_with_a_file(hub_url, LEAVING)
    account = system_name(LEAVING)
    home = Path(pwd.getpwnam(account).pw_dir)
    row = listed(LEAVING)
    assert (row["account"], row["server"], row["admin"]) == (account, "running", False)

    started = time.monotonic()
    proc = tljh("users", "remove", LEAVING, "--yes")
    took = time.monotonic() - started
    assert "deleted the hub user" in proc.stdout, proc.stdout
    assert unit_property(account, "ActiveState") in ("inactive", "")
    admin = logged_in(hub_url, admin_name)
    assert admin.get(f"/hub/api/users/{LEAVING}").status_code == 404
    assert run(["getent", "passwd", account], check=False).returncode == 2
    assert not home.exists()
    record = json.loads((STATE / "system-accounts.json").read_text())
    assert account not in record
    archives = list((STATE / "removed-homes").glob(f"{account}-*.tar.gz"))
    assert len(archives) == 1
    assert stat.S_IMODE(archives[0].stat().st_mode) == 0o600
    with tarfile.open(archives[0]) as tar:
        member = tar.extractfile(f"{home.name}/homework.txt")
        assert member is not None and member.read() == b"my work"
    print(f"remove took {took:.1f} s")

    # The name comes back (the dummy login lets anyone in): a fresh account and home.
    again = logged_in(hub_url, LEAVING)
    again.start_server()
    assert again.execute("import os; os.path.exists('homework.txt')") == "False"
    again.stop_server()
    tljh("users", "remove", LEAVING, "--yes", "--delete-home")


@pytest.mark.usefixtures("dummy")
def test_remove_keep_home_sets_it_aside_for_root(hub_url: str) -> None:
    started_with_a_file(hub_url, KEEPING)
    account = system_name(KEEPING)
    home = Path(pwd.getpwnam(account).pw_dir)
    proc = tljh("users", "remove", KEEPING, "--yes", "--keep-home")
    assert "kept the home as" in proc.stdout, proc.stdout
    assert not home.exists()
    (aside,) = home.parent.glob(f"{home.name}.removed-*")
    st = aside.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o700)
    assert (aside / "homework.txt").read_text() == "my work"
    assert run(["getent", "passwd", account], check=False).returncode == 2


@pytest.mark.usefixtures("dummy")
def test_remove_and_owner_refuse_what_they_must(admin_name: str) -> None:
    proc = tljh("users", "remove", "nobody-by-this-name", "--yes", check=False)
    assert proc.returncode == 1 and "no hub user" in proc.stderr, proc.stderr
    proc = tljh("users", "remove", admin_name, "--yes", check=False)
    assert proc.returncode == 1 and "users.admin" in proc.stderr, proc.stderr
    assert listed(admin_name)["admin"] is True
    proc = tljh("users", "owner", "root", "mallory", check=False)
    assert proc.returncode == 1 and "not an account TLJH makes" in proc.stderr
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    proc = run([*as_nobody, TLJH, "users", "list"], check=False)
    assert proc.returncode == 1 and "sudo tljh users" in proc.stderr


@pytest.mark.usefixtures("dummy")
def test_owner_gives_a_renamed_user_their_account(hub_url: str) -> None:
    old = started_with_a_file(hub_url, "renamed-before")
    account = system_name("renamed-before")
    proc = tljh("users", "owner", account, "renamed-after", check=False)
    assert proc.returncode == 1 and "in use" in proc.stderr
    old.stop_server()
    tljh("users", "owner", account, "renamed-after")
    new = logged_in(hub_url, "renamed-after")
    new.start_server()
    assert new.execute("open('homework.txt').read()") == "'my work'"
    assert unit_property(account, "ActiveState") == "active"
    new.stop_server()


@pytest.mark.usefixtures("dummy")
def test_list_says_what_to_do_when_the_hub_is_down() -> None:
    run(["systemctl", "stop", "jupyterhub"])
    try:
        proc = tljh("users", "list", check=False)
    finally:
        run(["systemctl", "start", "jupyterhub"])
    assert proc.returncode == 1
    assert "does not answer" in proc.stderr and "systemctl start jupyterhub" in proc.stderr
    deadline = time.monotonic() + 60
    while tljh("users", "list", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the hub did not come back"
        time.sleep(1)
