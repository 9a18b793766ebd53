"""``users.admin`` is the whole list of admins, and only it gives sudo.

Removing a name takes the hub's admin flag away at the next reload and stops a
server that still runs with sudo; an admin flag set on the hub's admin page gives
rights in the hub, never sudo on the machine.
"""

from __future__ import annotations

import grp
import time
from collections.abc import Callable

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import system_name, unit_property

DEPUTY = "deputy-teacher"
HELPER = "page-admin-helper"
SUDO_RC = (
    "import subprocess; subprocess.run(['sudo', '-n', 'true'], capture_output=True).returncode"
)


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> None:
    use_dummy_auth()


def logged_in(hub_url: str, name: str) -> HubClient:
    client = HubClient(hub_url)
    client.login(name, PASSWORD)
    return client


def in_admins_group(login: str) -> bool:
    return system_name(login) in grp.getgrnam("jupyterhub-admins").gr_mem


def test_removing_an_admin_takes_hub_rights_and_sudo_away(
    hub_url: str, tljh_config: Callable[..., str]
) -> None:
    tljh_config("add-item", "users.admin", DEPUTY)
    tljh_config("reload")
    deputy = logged_in(hub_url, DEPUTY)
    assert deputy.user_model()["admin"] is True
    deputy.start_server()
    assert deputy.execute(SUDO_RC) == "0"
    assert in_admins_group(DEPUTY)

    tljh_config("remove-item", "users.admin", DEPUTY)
    tljh_config("reload")
    again = logged_in(hub_url, DEPUTY)
    assert again.user_model()["admin"] is False
    # The server that still ran with sudo was stopped when the hub came back.
    deadline = time.monotonic() + 30
    while (again.user_model().get("servers") or {}).get(""):
        assert time.monotonic() < deadline, "the former admin's server kept running"
        time.sleep(1)
    assert not in_admins_group(DEPUTY)
    again.start_server()
    assert again.execute(SUDO_RC) != "0"
    assert unit_property(system_name(DEPUTY), "NoNewPrivileges") == "yes"
    again.stop_server()


def test_an_admin_made_on_the_admin_page_gets_no_sudo(hub_url: str, admin_name: str) -> None:
    admin = logged_in(hub_url, admin_name)
    r = admin.post(f"/hub/api/users/{HELPER}")
    assert r.status_code in (201, 409), r.text
    r = admin.request("PATCH", f"/hub/api/users/{HELPER}", json={"admin": True})
    assert r.status_code == 200, r.text

    helper = logged_in(hub_url, HELPER)
    assert helper.user_model()["admin"] is True
    helper.start_server()
    assert helper.execute(SUDO_RC) != "0"
    assert not in_admins_group(HELPER)
    helper.stop_server()
