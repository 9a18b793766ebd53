"""The idle culler, live: a server nobody uses is stopped, one in use is kept.

The culler's timeout and interval are set with tljh-config as an admin would.
Activity reaches the hub every 5 minutes by default (the single-user server's
reports, the proxy's route activity); an admin snippet in jupyterhub_config.d
makes that 5 seconds so the test takes a minute, not an hour.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import unit_property

IDLE, BUSY = "culler-idle", "culler-busy"
TIMEOUT, EVERY = 30, 5
SNIPPET = Path("/opt/tljh/config/jupyterhub_config.d/60-test-fast-activity.py")
FAST_ACTIVITY = """\
c.JupyterHub.last_activity_interval = 5
c.Spawner.environment.update({"JUPYTERHUB_ACTIVITY_INTERVAL": "5"})
"""


@pytest.fixture(scope="module")
def short_culler(tljh_config: Callable[..., str]) -> Iterator[None]:
    # Put back what was there (a plugin may have set the timeout), not the defaults.
    before = {
        key: tljh_config("get", key).strip() if f"{key.rsplit('.', 1)[1]}:" in shown else None
        for shown in [tljh_config("show")]
        for key in ("services.cull.timeout", "services.cull.every")
    }
    SNIPPET.write_text(FAST_ACTIVITY)
    use_dummy_auth(("services.cull.timeout", str(TIMEOUT)), ("services.cull.every", str(EVERY)))
    yield
    SNIPPET.unlink(missing_ok=True)
    for key, value in before.items():
        tljh_config(*(("set", key, value) if value is not None else ("unset", key)))
    tljh_config("reload")


def test_culler_runs_as_its_own_unprivileged_user() -> None:
    # The hub starts it a moment after it (re)starts.
    deadline = time.monotonic() + 60
    while True:
        ps = subprocess.run(
            ["ps", "-eww", "-o", "user:32,args"], capture_output=True, text=True, check=True
        ).stdout
        culler = [line.split() for line in ps.splitlines() if "jupyterhub_idle_culler" in line]
        if culler or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert culler, ps
    assert {fields[0] for fields in culler} == {"tljh-idle-culler"}, culler
    # A system account without a shell, a home, or any group of the hub's.
    entry = (
        subprocess.run(
            ["getent", "passwd", "tljh-idle-culler"], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .split(":")
    )
    assert entry[6] == "/usr/sbin/nologin"
    groups = subprocess.run(["id", "-Gn", "tljh-idle-culler"], capture_output=True, text=True)
    assert groups.stdout.split() == ["tljh-idle-culler"]


def server_running(client: HubClient) -> bool:
    return bool((client.user_model().get("servers") or {}).get(""))


def test_an_idle_server_is_stopped_and_a_busy_one_kept(hub_url: str, short_culler: None) -> None:
    idle, busy = HubClient(hub_url), HubClient(hub_url)
    idle.login(IDLE, PASSWORD)
    busy.login(BUSY, PASSWORD)
    idle.start_server()
    busy.start_server()
    assert busy.execute("n = 0; n") == "0"

    # Idle for TIMEOUT, then the next round of the culler (every EVERY s) stops it;
    # allow a few rounds for a slow machine.
    deadline = time.monotonic() + TIMEOUT + 6 * EVERY
    while server_running(idle):
        assert time.monotonic() < deadline, "the idle server was not culled in time"
        # Work in the busy server, as a student running cells would.
        busy.execute("n += 1; n")
        time.sleep(3)
    assert unit_property(f"jupyter-{IDLE}", "ActiveState") in ("inactive", "failed")

    # Keep working for longer than the timeout: a server in use is never culled.
    until = time.monotonic() + TIMEOUT + EVERY
    while time.monotonic() < until:
        assert server_running(busy), "the culler stopped a server that was in use"
        busy.execute("n += 1; n")
        time.sleep(3)
    assert int(busy.execute("n")) > 10
    busy.stop_server()
