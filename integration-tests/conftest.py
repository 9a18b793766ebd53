"""Fixtures for the integration suite.

The suite runs inside a throwaway systemd container in which harness.py has just
installed TLJH with the real bootstrap script (see README.md). Outside such a
container (TLJH_INTEGRATION unset) every test here is skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from machine import ADMIN

HERE = Path(__file__).resolve().parent
# 127.0.0.1, not localhost: see hubclient.py
HUB_URL = os.environ.get("TLJH_HUB_URL", "http://127.0.0.1")
TLJH_CONFIG = "/usr/bin/tljh-config"
_recorded: dict[str, float] = {}
# The migration suite needs upstream TLJH installed instead of ours (harness.py
# --from-upstream sets TLJH_MIGRATION); the normal suite leaves it out.
collect_ignore = [] if os.environ.get("TLJH_MIGRATION") == "1" else ["migration"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TLJH_INTEGRATION") == "1":
        return
    skip = pytest.mark.skip(reason="runs inside the test container: ./dev integration")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _recorded:
        terminalreporter.section("timings")
        for name, value in sorted(_recorded.items()):
            terminalreporter.write_line(f"{name} = {value}")


def record_timing(name: str, value: float) -> None:
    """Merge name: value into the JSON object in $TLJH_TIMINGS_FILE (harness.py reports it)."""
    _recorded[name] = value
    target = os.environ.get("TLJH_TIMINGS_FILE")
    if not target:
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, object] = {}
        try:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                data = loaded
        except (FileNotFoundError, ValueError):
            pass
        data[name] = value
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)


def run(
    cmd: str | Sequence[str],
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command (a string goes through bash) and capture its output as text.

    With check, a non-zero exit fails the test showing the command and its output.
    env adds to (does not replace) the current environment.
    """
    argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    proc = subprocess.run(
        argv,
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **env} if env else None,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        shown = cmd if isinstance(cmd, str) else " ".join(cmd)
        raise AssertionError(
            f"`{shown}` exited with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def tljh_config(*args: str, check: bool = True) -> str:
    """Run /usr/bin/tljh-config with args; return its standard output."""
    return run([TLJH_CONFIG, *args], check=check).stdout


#: The password every user has under the dummy authenticator.
DUMMY_PASSWORD = "integration-test-password"


def use_dummy_auth(*settings: tuple[str, str]) -> None:
    """For tests about something other than logging in: the dummy authenticator with
    :data:`DUMMY_PASSWORD`, plus ``settings`` (key, value); then one reload."""
    tljh_config("set", "auth.type", "dummy")
    tljh_config("set", "auth.DummyAuthenticator.password", DUMMY_PASSWORD)
    for key, value in settings:
        tljh_config("set", key, value)
    tljh_config("reload")


@pytest.fixture(scope="session")
def hub_url() -> str:
    return HUB_URL


@pytest.fixture(scope="session")
def admin_name() -> str:
    """The admin the harness installed TLJH with."""
    return ADMIN


@pytest.fixture(scope="session")
def timings() -> Callable[[str, float], None]:
    """timings(name, seconds): record a number for the harness's timing report."""
    return record_timing


@pytest.fixture(name="run", scope="session")
def run_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    """run(cmd, check=True, input=None, env=None, timeout=600) -> CompletedProcess."""
    return run


@pytest.fixture(name="tljh_config", scope="session")
def tljh_config_fixture() -> Callable[..., str]:
    """tljh_config(*args, check=True) -> stdout of /usr/bin/tljh-config."""
    return tljh_config
