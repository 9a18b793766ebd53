"""``systemd-analyze security`` of every kind of unit TLJH runs: the hub, the proxy, a
student's server and an admin's; and, for comparison, a server unit without TLJH's sandbox.

Run it alone to refresh the table in docs/topics/security.md:

    ./dev integration -k test_58

The scores (0 = most locked down, 10 = not at all) go to the timing report
(integration-tests/.timings.json, ``security_exposure_*``) and are printed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import ADMIN, system_name

STUDENT = "scored-student"
EXPOSURE = re.compile(r"Overall exposure level for \S+: ([0-9.]+) (\w+)")


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> Iterator[None]:
    use_dummy_auth()
    yield


def exposure(unit: str) -> tuple[float, str]:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--no-pager", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    match = EXPOSURE.search(proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1)), match.group(2)


def test_security_exposure_of_every_unit(
    hub_url: str, timings: Callable[[str, float], None]
) -> None:
    clients = []
    for name in (STUDENT, ADMIN):
        client = HubClient(hub_url)
        client.login(name, PASSWORD)
        client.start_server()
        clients.append(client)
    units = {
        "hub": "jupyterhub.service",
        "proxy": "traefik.service",
        "student": system_name(STUDENT),
        "admin": system_name(ADMIN),
    }
    # For comparison: a server unit as SystemdSpawner makes it without TLJH's
    # sandbox (what students' servers had before it: a private /tmp, no new privileges).
    baseline = "tljh-score-baseline"
    subprocess.run(
        [
            "systemd-run",
            "--unit",
            baseline,
            "--uid=nobody",
            "-p",
            "PrivateTmp=yes",
            "-p",
            "NoNewPrivileges=yes",
            "sleep",
            "300",
        ],
        check=True,
    )
    units["baseline"] = baseline + ".service"
    try:
        scores = {kind: exposure(unit) for kind, unit in units.items()}
    finally:
        subprocess.run(["systemctl", "stop", baseline], check=False)
    for kind, (score, verdict) in scores.items():
        timings(f"security_exposure_{kind}", score)
        print(f"{kind:8} {units[kind]:40} {score:4.1f} {verdict}")
    clients[0].stop_server()
    # What the sandbox is for: a student's unit is the most locked down of all.
    assert scores["student"][0] < scores["admin"][0]
    assert scores["student"][0] < scores["hub"][0]
