"""Re-running the bootstrap repairs what broke: a hub env whose Python is gone,
an install killed half-way."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from bootstrapping import assert_ok, changes, run_bootstrap, start_bootstrap
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient

HUB_ENV = Path("/opt/tljh/hub")
USER_ENV = Path("/opt/tljh/user")


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> None:
    use_dummy_auth()


def healthy(hub_url: str, user: str) -> None:
    """A user can log in, start a server and run code."""
    client = HubClient(hub_url)
    client.login(user, PASSWORD)
    client.start_server()
    assert client.execute("import jupyterlab, sys; 6 * 7") == "42"
    client.stop_server()


def python_runs(python: Path) -> bool:
    try:
        return subprocess.run([str(python), "-c", "pass"], capture_output=True).returncode == 0
    except OSError:
        return False


def test_hub_env_with_a_missing_python_is_rebuilt(hub_url: str, timings) -> None:
    # What an OS upgrade of python3 does to a venv: its interpreter link
    # (bin/python3 -> /usr/bin/python3.X's link) dangles.
    link = HUB_ENV / "bin" / "python3"
    assert link.is_symlink()
    # Plugins installed earlier (test_40_plugins) come back after the rebuild.
    hub_python = HUB_ENV / "bin" / "python3"
    had_plugin = subprocess.run([str(hub_python), "-c", "import tljh_test_plugin"]).returncode == 0
    link.unlink()
    link.symlink_to("/usr/bin/python3.0-removed-by-an-upgrade")
    assert not python_runs(HUB_ENV / "bin" / "python3")

    proc, took = run_bootstrap()
    timings("rebuild_hub_env_seconds", round(took, 2))
    assert_ok(proc)
    assert "rebuilding it" in proc.stdout
    assert python_runs(HUB_ENV / "bin" / "python3")
    if had_plugin:
        assert "will be installed again" in proc.stdout, proc.stdout
        assert subprocess.run([str(hub_python), "-c", "import tljh_test_plugin"]).returncode == 0
    # The hub now runs from the new environment.
    assert any("jupyterhub.service" in line for line in changes(proc.stdout)), proc.stdout
    healthy(hub_url, "after-rebuild")
    # And the next run has nothing left to do.
    proc, _ = run_bootstrap()
    assert_ok(proc)
    assert changes(proc.stdout) == [], proc.stdout


def test_install_killed_in_the_user_env_step_converges(hub_url: str) -> None:
    # Make the user environment step do real work, then kill the whole
    # install (bootstrap, installer, uv) while it does.
    shutil.rmtree(USER_ENV)
    proc = start_bootstrap()
    deadline = time.monotonic() + 300
    try:
        while not (USER_ENV / "bin" / "python3").exists():
            assert proc.poll() is None, "the install ended before the user env step:\n" + (
                proc.stdout.read() if proc.stdout else ""
            )
            assert time.monotonic() < deadline, "the user env step never started"
            time.sleep(0.02)
        time.sleep(0.3)  # now uv is installing the packages
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
    assert "Done in" not in output, output

    rerun, _ = run_bootstrap()
    assert_ok(rerun)
    assert "user environment:" in rerun.stdout
    assert (USER_ENV / "bin" / "jupyterhub-singleuser").exists()
    healthy(hub_url, "after-kill")
    # Converged: one more run changes nothing.
    again, _ = run_bootstrap()
    assert_ok(again)
    assert changes(again.stdout) == [], again.stdout
