"""Re-running the bootstrap upgrades the hub's packages within their ranges; servers survive."""

from __future__ import annotations

import subprocess

from bootstrapping import assert_ok, changes, run_bootstrap
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import unit_property

HUB_PYTHON = "/opt/tljh/hub/bin/python3"
UV = "/opt/tljh/hub/bin/uv"
# A hub requirement (pluggy>=1.5,<2) whose lowest allowed release is older
# than the newest: installing the lowest stands in for "an older install".
PACKAGE, OLDEST = "pluggy", "1.5.0"


def version(package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    return subprocess.run(
        [HUB_PYTHON, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_rerun_upgrades_hub_packages_and_servers_survive(hub_url: str, tljh_config) -> None:
    use_dummy_auth()
    client = HubClient(hub_url)
    client.login("upgrader", PASSWORD)
    client.start_server()
    assert client.execute("state = 'kept'; state") == "'kept'"
    server_pid = unit_property("jupyter-upgrader", "MainPID")

    newest = version(PACKAGE)
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", HUB_PYTHON, f"{PACKAGE}=={OLDEST}"], check=True
    )
    assert version(PACKAGE) == OLDEST != newest
    hub_pid = unit_property("jupyterhub", "MainPID")

    proc, _ = run_bootstrap()
    assert_ok(proc)
    assert version(PACKAGE) == newest
    found = changes(proc.stdout)
    assert "[tljh] hub packages: installed or upgraded the hub's packages" in found, proc.stdout
    # Code imported before the upgrade must not run on with the new files.
    assert "continuing in a fresh installer process" in proc.stdout, proc.stdout
    # The hub restarted to run the new code; the user's server did not.
    assert unit_property("jupyterhub", "MainPID") != hub_pid
    assert unit_property("jupyter-upgrader", "MainPID") == server_pid
    assert client.execute("state") == "'kept'"
    client.stop_server()
