"""Talking to systemd: reload units, enable, restart, and read the journal."""

from __future__ import annotations

import subprocess

from tljh.system.run import run

SYSTEMCTL_TIMEOUT = 90.0


def daemon_reload() -> None:
    run(["systemctl", "daemon-reload"], timeout=SYSTEMCTL_TIMEOUT)


def enable(unit: str) -> bool:
    """Enable ``unit`` at boot.  Returns True if it was not enabled before."""
    state = run(["systemctl", "is-enabled", unit], check=False).stdout.strip()
    if state == "enabled":
        return False
    run(["systemctl", "enable", unit], timeout=SYSTEMCTL_TIMEOUT)
    return True


def is_active(unit: str) -> bool:
    return run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"


def restart(unit: str) -> None:
    # --no-block: never wait on a unit that hangs in start-up; callers check
    # health themselves with a bounded wait.
    run(["systemctl", "reset-failed", unit], check=False)
    run(["systemctl", "restart", "--no-block", unit], timeout=SYSTEMCTL_TIMEOUT)


def start(unit: str) -> None:
    run(["systemctl", "start", "--no-block", unit], timeout=SYSTEMCTL_TIMEOUT)


def journal_tail(unit: str, lines: int = 30) -> str:
    try:
        proc = subprocess.run(
            ["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout


def main_pid(unit: str) -> int:
    """The unit's main process id, 0 when it is not running."""
    out = run(["systemctl", "show", "-p", "MainPID", "--value", unit], check=False).stdout
    try:
        return int(out.strip() or 0)
    except ValueError:
        return 0
