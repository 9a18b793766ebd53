"""Whose account is whose: no hub user ever runs as another's system account.

The attack: the victim "b.s" gets the account jupyter-b-s-<hash>; the hub user
named "b-s-<hash>" has that same name under upstream's (legacy) naming rule,
and used to be handed the victim's account, home and all.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient, HubError
from machine import hub_errors, system_name, unit_property

RECORD = Path("/opt/tljh/state/system-accounts.json")
NAMED_SERVERS = Path("/opt/tljh/config/jupyterhub_config.d/test-50-named-servers.py")

READ_HOME = (
    "import os\n"
    "def probe(home):\n"
    "    try:\n"
    "        return sorted(os.listdir(home))\n"
    "    except PermissionError:\n"
    "        return 'denied'\n"
    "probe({home!r})"
)


@pytest.fixture(scope="module", autouse=True)
def dummy_auth_and_named_servers(tljh_config) -> Iterator[None]:
    NAMED_SERVERS.write_text("c.JupyterHub.allow_named_servers = True\n")
    use_dummy_auth()
    yield
    NAMED_SERVERS.unlink()
    tljh_config("reload")


def login(hub_url: str, name: str) -> HubClient:
    client = HubClient(hub_url)
    client.login(name, PASSWORD)
    return client


def owners() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORD.read_text())
    return data


def test_takeover_pair_gets_two_accounts(hub_url: str) -> None:
    victim_name = "b.s"
    account = system_name(victim_name)
    attacker_name = account[len("jupyter-") :]  # upstream's rule maps it to `account`
    victim = login(hub_url, victim_name)
    victim.start_server()
    assert victim.execute("import getpass; getpass.getuser()") == repr(account)
    victim.execute("import os; open(os.path.expanduser('~/secret.txt'), 'w').write('mine')")
    home = pwd.getpwnam(account).pw_dir

    attacker = login(hub_url, attacker_name)
    attacker.start_server()
    theirs = attacker.execute("import getpass; getpass.getuser()")
    assert theirs != repr(account)
    assert theirs == repr(system_name(attacker_name))
    assert attacker.execute(READ_HOME.format(home=home)) == "'denied'"
    assert owners()[account] == victim_name
    assert owners()[system_name(attacker_name)] == attacker_name
    # the victim's server is untouched by the attacker's start
    assert unit_property(account, "ActiveState") == "active"
    assert victim.execute("open(os.path.expanduser('~/secret.txt')).read()") == "'mine'"
    attacker.stop_server()
    victim.stop_server()


def test_unrecorded_account_is_refused_to_the_other_name(hub_url: str) -> None:
    # An account an earlier release made for "c.d", before owners were recorded.
    victim_name = "c.d"
    account = system_name(victim_name)
    subprocess.run(["useradd", "--create-home", account], check=True)
    entry = pwd.getpwnam(account)
    notes = Path(entry.pw_dir, "notes.txt")
    notes.write_text("c.d's notes")
    os.chown(notes, entry.pw_uid, entry.pw_gid)
    assert account not in owners()

    attacker = login(hub_url, account[len("jupyter-") :])
    started = time.monotonic()
    with pytest.raises(HubError) as e:
        attacker.start_server(timeout=60)
    assert time.monotonic() - started < 30
    assert "cannot start a server" in str(e.value)
    assert "admin" in str(e.value)  # the hint: who can do what
    assert account not in owners()

    # its owner still gets it (and it is recorded from now on)
    victim = login(hub_url, victim_name)
    victim.start_server()
    assert victim.execute("import getpass; getpass.getuser()") == repr(account)
    read_notes = "import os; open(os.path.expanduser('~/notes.txt')).read()"
    assert victim.execute(read_notes) == '"c.d\'s notes"'
    assert owners()[account] == victim_name
    victim.stop_server()


def test_owner_record_is_root_only() -> None:
    st = RECORD.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    for entry in RECORD.parent.iterdir():
        if entry.name.startswith("system-accounts"):
            assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0, entry
    # and nobody but root can even reach it
    assert stat.S_IMODE(os.stat(RECORD.parent).st_mode) & 0o077 == 0


def _start_named(client: HubClient, server: str, timeout: float = 120) -> None:
    api = f"/hub/api/users/{client.name}/servers/{server}"
    r = client.post(api)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + timeout
    while True:
        model = client.user_model()
        if (model.get("servers") or {}).get(server, {}).get("ready"):
            break
        assert time.monotonic() < deadline, f"{server} did not start: {model!r}"
        time.sleep(0.3)
    # Open it as a browser does: the OAuth round trip through the hub uses the
    # server's own OAuth client.
    url = model["servers"][server]["url"]
    while True:
        r = client.get(url)
        if r.status_code == 200 and urlsplit(r.url).path.startswith(url):
            return
        assert time.monotonic() < deadline, f"{url} did not load: {r.status_code} {r.url}"
        time.sleep(0.3)


def test_named_server_and_user_have_different_units(hub_url: str) -> None:
    alice = login(hub_url, "alice")
    _start_named(alice, "bob")
    alice_bob = login(hub_url, "alice-bob")
    try:
        alice_bob.start_server()
    except HubError as e:
        raise AssertionError(f"{e}\n--- the hub says ---\n{hub_errors()}") from e
    named_unit = system_name("alice") + ":bob"
    user_unit = system_name("alice-bob")
    assert user_unit == "jupyter-alice-bob"
    assert unit_property(named_unit, "ActiveState") == "active"
    assert unit_property(user_unit, "ActiveState") == "active"
    # SystemdSpawner sets User= to the uid
    assert unit_property(named_unit, "User") == str(pwd.getpwnam("jupyter-alice").pw_uid)
    assert unit_property(user_unit, "User") == str(pwd.getpwnam("jupyter-alice-bob").pw_uid)
    # both still answer, each through its own OAuth client
    assert alice_bob.execute("5 * 4") == "20"
    assert alice.get("/user/alice/bob/api/status").status_code == 200
    r = alice.delete("/hub/api/users/alice/servers/bob")
    assert r.status_code in (202, 204), r.text
    alice_bob.stop_server()
