"""Running the bootstrap again changes nothing and keeps running servers alive."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bootstrapping import bootstrap_argv
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import unit_property

SOURCE = Path(__file__).resolve().parents[1]


def test_rerun_changes_nothing_and_servers_survive(hub_url: str, tljh_config, timings) -> None:
    use_dummy_auth()
    client = HubClient(hub_url)
    client.login("survivor", PASSWORD)
    client.start_server()
    assert client.execute("x = 6 * 7; x") == "42"
    unit = "jupyter-survivor"
    pid_before = unit_property(unit, "MainPID")
    hub_pid_before = unit_property("jupyterhub", "MainPID")

    env = dict(os.environ)
    env.setdefault("TLJH_BOOTSTRAP_PIP_SPEC", str(SOURCE))
    started = time.monotonic()
    with open(SOURCE / "bootstrap" / "bootstrap.py") as script:
        proc = subprocess.run(
            bootstrap_argv(),
            stdin=script,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    took = time.monotonic() - started
    timings("rerun_seconds", round(took, 2))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing needed to change" in proc.stdout, proc.stdout

    # The same server process is still there, with its kernel state.
    assert unit_property(unit, "MainPID") == pid_before
    assert unit_property("jupyterhub", "MainPID") == hub_pid_before
    assert client.execute("x") == "42"
