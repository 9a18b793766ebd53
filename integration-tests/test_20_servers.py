"""Logging in, spawning, running code, limits and privileges — on the real install."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Iterator

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import ADMIN, system_name, unit_property

STUDENT = "student"
EMAIL_USER = "Grace.Hopper@example.org"


@pytest.fixture(scope="module", autouse=True)
def dummy_auth_and_limits(tljh_config) -> Iterator[None]:
    use_dummy_auth(("limits.memory", "1G"), ("limits.cpu", "1"))
    yield


@pytest.fixture(scope="module")
def admin(hub_url: str, timings) -> HubClient:
    client = HubClient(hub_url)
    client.login(ADMIN, PASSWORD)
    seconds = client.start_server()
    timings("login_to_ready_seconds", round(seconds, 2))
    return client


@pytest.fixture(scope="module")
def student(hub_url: str) -> HubClient:
    client = HubClient(hub_url)
    client.login(STUDENT, PASSWORD)
    client.start_server()
    return client


def test_kernel_runs_code(admin: HubClient) -> None:
    assert admin.execute("5 * 4") == "20"


def test_user_unit_carries_limits(admin: HubClient, student: HubClient) -> None:
    for login in (ADMIN, STUDENT):
        unit = system_name(login)
        assert unit_property(unit, "ActiveState") == "active"
        assert unit_property(unit, "MemoryMax") == str(1024**3)
        assert unit_property(unit, "CPUQuotaPerSecUSec") == "1s"
        assert unit_property(unit, "PrivateTmp") == "yes"


def test_system_users_and_homes(admin: HubClient, student: HubClient) -> None:
    for login in (ADMIN, STUDENT):
        name = system_name(login)
        assert name.startswith("jupyter-")
        entry = pwd.getpwnam(name)
        home = os.stat(entry.pw_dir)
        assert home.st_uid == entry.pw_uid
        assert stat.S_IMODE(home.st_mode) == 0o700
        members = grp.getgrnam("jupyterhub-users").gr_mem
        assert name in members
    admins = grp.getgrnam("jupyterhub-admins").gr_mem
    assert system_name(ADMIN) in admins
    assert system_name(STUDENT) not in admins


def test_kernel_runs_as_the_system_user(student: HubClient) -> None:
    assert student.execute("import getpass; getpass.getuser()") == repr(system_name(STUDENT))


SUDO = "import subprocess; subprocess.run(['sudo', '-n', 'true'], capture_output=True).returncode"


def test_admin_can_sudo(admin: HubClient) -> None:
    assert admin.execute(SUDO) == "0"


def test_student_cannot_sudo(student: HubClient) -> None:
    assert student.execute(SUDO) != "0"
    # Not even a set-uid binary can raise a student's privileges.
    assert unit_property(system_name(STUDENT), "NoNewPrivileges") == "yes"
    assert unit_property(system_name(ADMIN), "NoNewPrivileges") == "no"


def test_student_cannot_write_under_prefix(student: HubClient) -> None:
    code = (
        "import os\n"
        "found = []\n"
        "for root, dirs, files in os.walk('/opt/tljh'):\n"
        "    for n in [root, *(os.path.join(root, f) for f in files)]:\n"
        "        if os.access(n, os.W_OK) and not os.path.islink(n):\n"
        "            found.append(n)\n"
        "found[:5]"
    )
    assert student.execute(code) == "[]"


def test_student_cannot_read_state(student: HubClient) -> None:
    code = (
        "import os\n"
        "try:\n"
        "    os.listdir('/opt/tljh/state'); r = 'readable'\n"
        "except PermissionError:\n"
        "    r = 'denied'\n"
        "r"
    )
    assert student.execute(code) == "'denied'"


def test_students_do_not_share_tmp(admin: HubClient, student: HubClient) -> None:
    admin.execute("open('/tmp/tljh-private-tmp-check', 'w').write('x')")
    code = "import os; os.path.exists('/tmp/tljh-private-tmp-check')"
    assert student.execute(code) == "False"


def test_email_login_name_can_spawn(hub_url: str) -> None:
    client = HubClient(hub_url)
    client.login(EMAIL_USER, PASSWORD)
    client.start_server()
    assert client.execute("5 * 4") == "20"
    # JupyterHub lower-cases login names before anything else sees them.
    name = system_name(EMAIL_USER.lower())
    assert "@" not in name and len(name) <= 32
    pwd.getpwnam(name)
    client.stop_server()
