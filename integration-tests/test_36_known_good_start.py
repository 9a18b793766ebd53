"""A restart never makes things worse: with config.yaml broken by hand, the hub
starts on the last known-good configuration and says so in its journal.  The
module puts back the file it found."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

CONFIG = Path("/opt/tljh/config/config.yaml")
KNOWN_GOOD = Path("/opt/tljh/state/config-known-good/config.yaml")


def hub_status() -> int:
    try:
        return requests.get("http://127.0.0.1/hub/api", timeout=5).status_code
    except requests.RequestException:
        return 0


def wait_for_hub(timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    status = hub_status()
    while status != 200 and time.monotonic() < deadline:
        time.sleep(1)
        status = hub_status()
    return status


@pytest.fixture
def restore_config() -> Iterator[bytes]:
    before = CONFIG.read_bytes()
    # Records the file as found as the known-good configuration.
    proc = subprocess.run(["tljh-config", "reload"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield before
    CONFIG.write_bytes(before)
    subprocess.run(["systemctl", "restart", "jupyterhub"], check=True, timeout=300)
    assert wait_for_hub() == 200


def test_hand_broken_config_starts_on_known_good(restore_config: bytes) -> None:
    assert KNOWN_GOOD.is_file()
    # The whole file replaced by a broken one, as a half-restored backup would be
    # (appending could repeat a top-level key an earlier module left).
    CONFIG.write_bytes(b"limits:\n  memory: lots\n")
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    subprocess.run(["systemctl", "restart", "jupyterhub"], check=True, timeout=300)
    assert wait_for_hub() == 200
    journal = subprocess.run(
        ["journalctl", "-u", "jupyterhub", "--since", since, "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "known-good configuration" in journal
    assert "limits.memory" in journal
