"""The container itself: a booted systemd, as on a real server."""

from __future__ import annotations

from collections.abc import Callable
from subprocess import CompletedProcess


def test_systemd_is_running(run: Callable[..., CompletedProcess[str]]) -> None:
    state = run(["systemctl", "is-system-running"], check=False).stdout.strip()
    assert state in ("running", "degraded"), state
