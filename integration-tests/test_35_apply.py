"""Applying a change survives what a teacher on a flaky connection does to it.

Ctrl-C (SIGINT) and a dropped SSH session (SIGHUP) while the hub restarts with
a configuration that hangs it roll back to the previous configuration; a
snippet that raises and an authenticator that does not import are refused by
the check before anything restarts; ``--dry-run`` changes nothing.  The module
puts back the config files and snippets it found.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from machine import unit_property

CONFIG = Path("/opt/tljh/config/config.yaml")
CONFIG_D = Path("/opt/tljh/config/jupyterhub_config.d")
CONFIG_LOG = Path("/opt/tljh/tljh-config.log")
TLJH_CONFIG = "/usr/bin/tljh-config"
#: Hangs the hub's start, and only the hub's: systemd sets INVOCATION_ID for
#: its services, the check before the restart does not run under systemd.
HANGS_THE_HUB = "import os, time\nif 'INVOCATION_ID' in os.environ:\n    time.sleep(600)\n"


def hub_status() -> int:
    try:
        return requests.get("http://127.0.0.1/hub/api", timeout=5).status_code
    except requests.RequestException:
        return 0


def tljh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TLJH_CONFIG, *args], capture_output=True, text=True, timeout=600)


def hub_pid() -> str:
    return unit_property("jupyterhub", "MainPID")


@pytest.fixture(scope="module", autouse=True)
def restore_config() -> Iterator[None]:
    before = CONFIG.read_bytes()
    snippets = set(CONFIG_D.iterdir())
    # Earlier modules may have left saved but unapplied changes: apply them, so
    # that "the previous configuration" is the file as the tests find it.
    proc = tljh("reload")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hub_status() == 200
    yield
    for path in set(CONFIG_D.iterdir()) - snippets:
        path.unlink()
    if CONFIG.read_bytes() != before:
        CONFIG.write_bytes(before)
    proc = tljh("reload")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hub_status() == 200


@pytest.fixture
def hanging_change() -> Iterator[bytes]:
    """A valid change to config.yaml plus a snippet that hangs the hub; yields the old file."""
    before = CONFIG.read_bytes()
    snippet = CONFIG_D / "99-tljh-test-hangs.py"
    snippet.write_text(HANGS_THE_HUB)
    CONFIG.write_bytes(before + b"\n# tljh-test: a change that hangs the hub\n")
    try:
        yield before
    finally:
        snippet.unlink(missing_ok=True)
        CONFIG.write_bytes(before)


def start_in_terminal(argv: list[str]) -> tuple[int, int]:
    """Start argv on a pseudo-terminal of its own, as over SSH: (pid, terminal fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    return pid, fd


def read_until(fd: int, text: str, timeout: float) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text.encode() not in out:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out.decode(errors="replace")


def read_rest(fd: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the command has ended and closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def wait_exit(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"tljh-config did not end within {timeout} s")


def interrupted_reload(send: str) -> tuple[int, str, float]:
    """Start 'tljh-config reload', interrupt it while the hub restarts: (status, output, s)."""
    pid, fd = start_in_terminal([TLJH_CONFIG, "reload", "--timeout", "120"])
    shown = read_until(fd, "Restarting", 60)
    assert "Restarting" in shown, shown
    time.sleep(3)  # systemd has restarted the hub, which now hangs in the snippet
    assert hub_status() != 200
    started = time.monotonic()
    if send == "SIGINT":
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the foreground group
        code = wait_exit(pid, 180)
        shown += read_rest(fd)
        os.close(fd)
    else:
        # The SSH session drops: the terminal goes away and the kernel sends SIGHUP.
        os.close(fd)
        code = wait_exit(pid, 180)
    return code, shown, time.monotonic() - started


@pytest.mark.parametrize("send", ["SIGINT", "SIGHUP"])
def test_an_interrupt_while_the_hub_restarts_rolls_back(
    send: str, hanging_change: bytes, timings
) -> None:
    log_before = CONFIG_LOG.read_text() if CONFIG_LOG.exists() else ""
    code, shown, took = interrupted_reload(send)
    print(f"\n--- tljh-config reload, {send} ({took:.1f} s to finish) ---\n{shown}")
    timings(f"apply_interrupt_{send.lower()}_rollback_seconds", round(took, 1))
    assert code == 128 + getattr(signal, send), shown
    assert hub_status() == 200
    assert CONFIG.read_bytes() == hanging_change
    assert not (CONFIG_D / "99-tljh-test-hangs.py").exists()
    # Said on the terminal when there is one, and always kept in the log.
    logged = CONFIG_LOG.read_text()[len(log_before) :]
    assert f"interrupted by {send}" in logged, logged
    assert "is running again with the previous configuration" in logged, logged
    if send == "SIGINT":
        assert "interrupted by SIGINT (Ctrl-C) while restarting the hub" in shown
        assert "running again with the previous configuration" in shown
        assert "Traceback" not in shown


def test_a_raising_snippet_is_refused_before_the_restart() -> None:
    snippet = CONFIG_D / "99-tljh-test-raises.py"
    snippet.write_text("raise RuntimeError('tljh-test: this snippet raises')\n")
    pid = hub_pid()
    try:
        proc = tljh("reload")
    finally:
        snippet.unlink(missing_ok=True)
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the hub would not start with this configuration" in proc.stderr
    assert "99-tljh-test-raises.py" in proc.stderr
    assert "tljh-test: this snippet raises" in proc.stderr
    assert "Nothing was restarted" in proc.stderr
    assert "Restarting" not in proc.stdout
    assert hub_pid() == pid
    assert hub_status() == 200


def test_an_unimportable_authenticator_is_refused_before_the_restart() -> None:
    before = CONFIG.read_bytes()
    pid = hub_pid()
    proc = tljh("set", "auth.type", "tljh_test_nowhere.NoAuthenticator", "--apply")
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "does not import: ModuleNotFoundError" in proc.stderr, proc.stderr
    assert "Nothing was restarted" in proc.stderr
    assert hub_pid() == pid
    assert CONFIG.read_bytes() == before
    assert hub_status() == 200


def test_a_reload_checks_then_restarts_in_bounded_time(timings) -> None:
    pid = hub_pid()
    started = time.monotonic()
    proc = tljh("reload")
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hub_pid() != pid
    timings("reload_with_check_seconds", round(took, 1))
    started = time.monotonic()
    check = subprocess.run(
        ["/opt/tljh/hub/bin/python3", "-m", "tljh.hub.config_check"],
        capture_output=True,
        text=True,
        env={"TLJH_INSTALL_PREFIX": "/opt/tljh", "PATH": os.environ["PATH"]},
        cwd="/opt/tljh/state",
    )
    timings("hub_config_check_seconds", round(time.monotonic() - started, 2))
    assert check.returncode == 0, check.stdout + check.stderr


def checksums() -> dict[str, str]:
    out = {}
    for log in (CONFIG_LOG, Path("/opt/tljh/installer.log")):
        if log.exists():
            out[str(log)] = hashlib.sha256(log.read_bytes()).hexdigest()
    for root in ("/opt/tljh/config", "/opt/tljh/state", "/etc/systemd/system", "/etc/sudoers.d"):
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and not path.name.startswith("jupyterhub.sqlite"):
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def unit_pids() -> dict[str, str]:
    return {unit: unit_property(unit, "MainPID") for unit in ("jupyterhub", "traefik")}


def test_reload_dry_run_changes_nothing() -> None:
    before_config = CONFIG.read_bytes()
    try:
        assert tljh("set", "limits.cpu", "1.5").returncode == 0
        sums, pids = checksums(), unit_pids()
        proc = tljh("reload", "--dry-run")
        print(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Would restart the hub:\n" in proc.stdout
        assert "  - limits.cpu changed\n" in proc.stdout
        assert "The hub's configuration loads" in proc.stdout
        assert checksums() == sums
        assert unit_pids() == pids
    finally:
        CONFIG.write_bytes(before_config)


def test_installer_dry_run_changes_nothing(timings) -> None:
    sums, pids = checksums(), unit_pids()
    hub_env = {str(p): p.stat().st_mtime_ns for p in Path("/opt/tljh/hub/bin").iterdir()}
    started = time.monotonic()
    proc = subprocess.run(
        ["/opt/tljh/hub/bin/python3", "-I", "-m", "tljh.installer", "--dry-run"],
        capture_output=True,
        text=True,
        env={**os.environ, "TLJH_INSTALL_PREFIX": "/opt/tljh"},
        timeout=300,
    )
    timings("installer_dry_run_seconds", round(time.monotonic() - started, 1))
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A working install that was just installed: nothing to do, like a re-run.
    assert "Dry run: nothing would change." in proc.stdout
    assert checksums() == sums
    assert unit_pids() == pids
    assert {str(p): p.stat().st_mtime_ns for p in Path("/opt/tljh/hub/bin").iterdir()} == hub_env


def test_installer_dry_run_names_what_would_change() -> None:
    unit = Path("/etc/systemd/system/jupyterhub.service")
    before = unit.read_bytes()
    unit.write_bytes(before + b"# tljh-test: a hand edit\n")
    try:
        sums, pids = checksums(), unit_pids()
        proc = subprocess.run(
            ["python3", "bootstrap/bootstrap.py", "--dry-run"],
            capture_output=True,
            text=True,
            env={**os.environ, "TLJH_BOOTSTRAP_PIP_SPEC": "/srv/src"},
            cwd="/srv/src",
            timeout=300,
        )
        print(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "dry run: nothing is changed" in proc.stdout
        assert f"systemd units: would write {unit}" in proc.stdout
        assert "services: would (re)start jupyterhub.service" in proc.stdout
        assert "Dry run: 2 change(s) would be made; nothing was changed." in proc.stdout
        assert checksums() == sums
        assert unit_pids() == pids
    finally:
        unit.write_bytes(before)
