"""Re-running our bootstrap over a server installed by upstream TLJH 2.x takes it over.

The harness (``harness.py test --from-upstream``) installed a real upstream TLJH with
its own bootstrap (``install-upstream.sh``) and admin :data:`machine.ADMIN`. Here, as
on a teacher's server: a student and the admin use it, then our bootstrap runs over it
as upstream's upgrade how-to says (``--admin NAME``, nothing else), and everything
they had must still be there.

The tests run in file order and share one migration (module-scoped fixtures).
"""

from __future__ import annotations

import grp
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from bootstrapping import SCRIPT, bootstrap_env, changes
from conftest import record_timing
from hubclient import HubClient
from machine import ADMIN, HUB_PYTHON, unit_property

STUDENT, STUDENT_PASSWORD = "ada", "ada-first-use-1"
ADMIN_PASSWORD = "frizzle-first-use-1"
NOTEBOOK = "homework.ipynb"
CONFIG = Path("/opt/tljh/config/config.yaml")
STATE = Path("/opt/tljh/state")
SUDO_RC = (
    "import subprocess; subprocess.run(['sudo', '-n', 'true'], capture_output=True).returncode"
)
HUB = "http://127.0.0.1"


def notebook(text: str) -> dict[str, object]:
    cell = {"cell_type": "markdown", "metadata": {}, "source": text}
    return {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def hub_version() -> str:
    r = requests.get(f"{HUB}/hub/api/", timeout=10)
    r.raise_for_status()
    return str(r.json()["version"])


def wait_for_hub(timeout: float = 90) -> str:
    """The hub's JupyterHub version, once it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return hub_version()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def upstream_bootstrap(*args: str) -> subprocess.CompletedProcess[str]:
    """Our bootstrap, run the way upstream's upgrade how-to runs bootstrap.py."""
    with open(SCRIPT) as script:
        return subprocess.run(
            ["/usr/bin/python3", "-", "--admin", ADMIN, *args],
            stdin=script,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=bootstrap_env(),
            timeout=1200,
        )


@dataclass
class Before:
    config: bytes
    hub_version: str
    notebook: dict[str, object]


@pytest.fixture(scope="module")
def before() -> Before:
    """Upstream in use: the student saved a notebook, the admin used a server."""
    # Upstream's installer is done when the proxy answers, maybe before the hub does.
    version = wait_for_hub(180)
    assert version.startswith("5."), f"expected upstream's JupyterHub 5, found {version}"
    # Upstream's FirstUse creates no users: the admin adds the student on the admin page.
    admin = HubClient(HUB)
    admin.login(ADMIN, ADMIN_PASSWORD)  # FirstUse: the first login sets the password
    assert admin.user_model()["admin"] is True
    admin.start_server()  # upstream makes the account jupyter-ms.frizzle (a '.' in it)
    assert admin.execute(SUDO_RC) == "0"
    r = admin.post(f"/hub/api/users/{STUDENT}")
    assert r.status_code in (201, 409), r.text  # 409: there already (the suite ran before)
    student = HubClient(HUB)
    student.login(STUDENT, STUDENT_PASSWORD)
    student.start_server()
    saved = notebook("My answer: 42")
    r = student.request(
        "PUT",
        student.server_url + f"api/contents/{NOTEBOOK}",
        json={"type": "notebook", "format": "json", "content": saved},
    )
    assert r.status_code in (200, 201), r.text
    return Before(config=CONFIG.read_bytes(), hub_version=version, notebook=saved)


def student_finds_the_notebook() -> HubClient:
    student = HubClient(HUB)
    student.login(STUDENT, STUDENT_PASSWORD)
    student.start_server()
    r = student.get(student.server_url + f"api/contents/{NOTEBOOK}")
    assert r.status_code == 200, r.text
    assert r.json()["content"]["cells"][0]["source"] == "My answer: 42"
    return student


SUDOERS = Path("/etc/sudoers.d/jupyterhub-admins")
UNITS = [
    Path("/etc/systemd/system/jupyterhub.service"),
    Path("/etc/systemd/system/traefik.service"),
]


def test_a_migration_that_fails_half_way_leaves_upstream_running(before: Before) -> None:
    files = {path: path.read_bytes() for path in [SUDOERS, *UNITS, CONFIG]}
    # A requirements file that cannot be read stops the install after the new hub
    # environment, the sudoers rules and the user environment were changed.
    proc = upstream_bootstrap("--user-requirements-txt-url", "/nonexistent/requirements.txt")
    assert proc.returncode != 0, proc.stdout
    assert "could not install the requirements file" in proc.stdout, proc.stdout
    assert "runs again, as before the migration" in proc.stdout, proc.stdout
    assert wait_for_hub() == before.hub_version
    for path, content in files.items():
        assert path.read_bytes() == content, f"{path} was not restored"
    record = json.loads((STATE / "upstream" / "migration.json").read_text())
    assert record["status"] == "rolled back"
    assert not (STATE / "upstream" / "hub-env").exists()
    student_finds_the_notebook().stop_server()


@pytest.fixture(scope="module")
def migrated(before: Before) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    proc = upstream_bootstrap()
    record_timing("migration_seconds", round(time.monotonic() - started, 2))
    assert proc.returncode == 0, proc.stdout
    return proc


def test_the_install_says_it_migrated(migrated: subprocess.CompletedProcess[str]) -> None:
    found = changes(migrated.stdout)
    assert any("upstream" in line for line in found), migrated.stdout
    assert "migrat" in migrated.stdout, migrated.stdout


def test_the_hub_runs_our_version(migrated: subprocess.CompletedProcess[str]) -> None:
    assert hub_version().startswith("6."), hub_version()
    out = subprocess.run(
        [HUB_PYTHON, "-c", "import tljh.layout"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr


def test_config_yaml_is_byte_for_byte_the_same(
    before: Before, migrated: subprocess.CompletedProcess[str]
) -> None:
    assert CONFIG.read_bytes() == before.config


def test_the_student_logs_in_with_the_same_password_and_finds_the_notebook(
    before: Before, migrated: subprocess.CompletedProcess[str]
) -> None:
    student = student_finds_the_notebook()
    # The server runs as the account upstream made for the student.
    assert student.execute("import getpass; getpass.getuser()") == f"'jupyter-{STUDENT}'"
    wrong = HubClient(HUB)
    with pytest.raises(Exception, match="login as"):
        wrong.login(STUDENT, "not-the-password")


def test_the_admin_is_still_admin_and_can_sudo(migrated: subprocess.CompletedProcess[str]) -> None:
    admin = HubClient(HUB)
    admin.login(ADMIN, ADMIN_PASSWORD)
    assert admin.user_model()["admin"] is True
    admin.start_server()
    assert admin.execute(SUDO_RC) == "0"
    # The account upstream made, though our rule names new accounts without a '.'.
    assert admin.execute("import getpass; getpass.getuser()") == f"'jupyter-{ADMIN}'"
    assert f"jupyter-{ADMIN}" in grp.getgrnam("jupyterhub-admins").gr_mem


def test_the_old_state_is_kept_to_go_back(migrated: subprocess.CompletedProcess[str]) -> None:
    kept = STATE / "upstream"
    assert (kept / "jupyterhub.sqlite").is_file()
    assert (kept / "jupyterhub.service").is_file()
    assert oct(STATE.stat().st_mode & 0o777) == "0o700"
    record = json.loads((kept / "migration.json").read_text())
    assert record["jupyterhub"].startswith("5.")


def test_a_rerun_changes_nothing(
    before: Before, migrated: subprocess.CompletedProcess[str]
) -> None:
    hub_pid = unit_property("jupyterhub", "MainPID")
    started = time.monotonic()
    proc = upstream_bootstrap()
    record_timing("rerun_after_migration_seconds", round(time.monotonic() - started, 2))
    assert proc.returncode == 0, proc.stdout
    assert "nothing needed to change" in proc.stdout, proc.stdout
    assert unit_property("jupyterhub", "MainPID") == hub_pid
    assert CONFIG.read_bytes() == before.config
