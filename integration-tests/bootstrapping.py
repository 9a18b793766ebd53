"""Running the real bootstrap again from inside a test, the way an admin re-runs it."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from machine import ADMIN

SOURCE = Path(__file__).resolve().parents[1]
SCRIPT = SOURCE / "bootstrap" / "bootstrap.py"
#: What the harness installed with; every re-run passes the same.
BASE_ARGS = ("--admin", ADMIN, "--user-env", "venv")


def bootstrap_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TLJH_BOOTSTRAP_PIP_SPEC", str(SOURCE))
    return env


def bootstrap_argv(*args: str) -> list[str]:
    return ["/usr/bin/python3", "-", *BASE_ARGS, *args]


def run_bootstrap(
    *args: str, timeout: float = 900
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``curl … | sudo python3 - ARGS`` with the checkout's bootstrap; (result, seconds)."""
    started = time.monotonic()
    with open(SCRIPT) as script:
        proc = subprocess.run(
            bootstrap_argv(*args),
            stdin=script,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=bootstrap_env(),
            timeout=timeout,
        )
    return proc, time.monotonic() - started


def start_bootstrap(*args: str) -> subprocess.Popen[str]:
    """Start the bootstrap in its own process group (to kill it with everything it started)."""
    with open(SCRIPT) as script:
        return subprocess.Popen(
            bootstrap_argv(*args),
            stdin=script,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=bootstrap_env(),
            start_new_session=True,
        )


def changes(output: str) -> list[str]:
    """The installer's lines that report a change (not "nothing to change")."""
    return [
        line
        for line in output.splitlines()
        if line.startswith("[tljh] ")
        and ": " in line
        and "nothing to change" not in line
        and not re.search(r": took [0-9.]+ s$", line)
        and not line.startswith(("[tljh] Done", "[tljh] The hub", "[tljh] plugins:"))
    ]


def assert_ok(proc: subprocess.CompletedProcess[str], args: Sequence[str] = ()) -> None:
    assert proc.returncode == 0, f"bootstrap {' '.join(args)} failed:\n{proc.stdout}"
