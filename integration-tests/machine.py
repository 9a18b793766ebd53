"""Reading the state of the container's systemd and accounts, for the tests."""

from __future__ import annotations

import os
import subprocess

HUB_PYTHON = "/opt/tljh/hub/bin/python3"
#: The admin the harness installed TLJH with (never just "admin": a real teacher's
#: name, with a dot, which needs the hashed form of system user names).
ADMIN = os.environ.get("TLJH_TEST_ADMIN", "ms.frizzle")


def unit_property(unit: str, prop: str) -> str:
    """One property of a systemd unit, as ``systemctl show`` prints it."""
    return subprocess.run(
        ["systemctl", "show", "-p", prop, "--value", unit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def system_name(login: str) -> str:
    """The system account (and unit name) TLJH gives the hub user ``login``."""
    out = subprocess.run(
        [
            HUB_PYTHON,
            "-c",
            "import sys; from tljh.system.usernames import system_username as g; "
            "print(g(sys.argv[1]))",
            login,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def hub_errors(lines: int = 400) -> str:
    """The hub's recent tracebacks and error lines, to show why a request failed."""
    out = subprocess.run(
        ["journalctl", "-u", "jupyterhub", "-n", str(lines), "--no-pager", "-o", "cat"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    keep = [
        line
        for line in out.splitlines()
        if line.startswith(("[E ", "[W ", "Traceback", "  ", "    ")) or "Error" in line
    ]
    return "\n".join(keep[-120:])
