"""``tljh status``, ``tljh doctor`` and ``tljh logs`` on the real install, each cause
of breakage made for real and undone: the proxy stopped, config.yaml broken by hand,
a ``jupyterhub_config.d`` snippet that raises, port 80 taken, a full disk, a broken
user environment, invalid sudoers, a unit edited by hand.

Every test puts back what it broke and leaves the hub healthy.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import run

TLJH = "/usr/bin/tljh"
PREFIX = Path("/opt/tljh")
CONFIG = PREFIX / "config" / "config.yaml"
SNIPPETS = PREFIX / "config" / "jupyterhub_config.d"
MARKER = PREFIX / "state" / "hub-fallback.json"
HUB_UNIT_FILE = Path("/etc/systemd/system/jupyterhub.service")


def tljh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([TLJH, *args], check=False, env=env, timeout=180)


def findings(*args: str, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``tljh ARGS --json``: the findings by name."""
    proc = tljh(*args, "--json", env=env)
    assert proc.stdout.strip(), proc.stderr
    return {f["name"]: f for f in json.loads(proc.stdout)["findings"]}


def hub_answers() -> bool:
    try:
        return requests.get("http://127.0.0.1/hub/api", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def wait_for_hub(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not hub_answers():
        assert time.monotonic() < deadline, run("journalctl -u jupyterhub -n 40").stdout
        time.sleep(1)


def restart_hub() -> None:
    run("systemctl restart jupyterhub")
    wait_for_hub()


@contextmanager
def file_restored(path: Path) -> Iterator[bytes]:
    before = path.read_bytes()
    mode = stat.S_IMODE(path.stat().st_mode)
    try:
        yield before
    finally:
        path.write_bytes(before)
        os.chmod(path, mode)


# --- status -----------------------------------------------------------------------


def test_status_green_on_a_healthy_hub(timings: Callable[[str, float], None]) -> None:
    wait_for_hub()
    tljh("status")  # the first run pays for cold caches; the admin's second one is measured
    started = time.monotonic()
    proc = tljh("status")
    seconds = time.monotonic() - started
    timings("tljh_status_seconds", round(seconds, 2))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout
    assert "versions: tljh " in proc.stdout and "jupyterhub 6." in proc.stdout
    data = json.loads(tljh("status", "--json").stdout)
    assert data["ok"] is True
    assert data["hub"]["active_state"] == "active"
    assert data["config_valid"] is True and data["fallback"] is None
    assert data["users_total"] >= 1
    assert seconds < 2.0, f"tljh status took {seconds:.2f} s"


def test_status_red_with_the_proxy_stopped() -> None:
    run("systemctl stop traefik")
    try:
        proc = tljh("status")
        assert proc.returncode == 1, proc.stdout
        assert "FAIL  proxy" in proc.stdout and "traefik.service is inactive" in proc.stdout
        assert "tljh logs proxy" in proc.stdout
    finally:
        run("systemctl start traefik")
        wait_for_hub()


def test_hand_broken_config_status_and_known_good_start(tljh_config: Callable[..., str]) -> None:
    # Records the config as found as the known-good one.
    tljh_config("reload")
    with file_restored(CONFIG):
        CONFIG.write_bytes(b"limits:\n  memory: lots\n")
        found = findings("status")
        assert found["config"]["level"] == "fail" and "limits.memory" in found["config"]["detail"]
        assert found["fallback"]["level"] == "ok"  # the hub still runs what it started with

        restart_hub()
        proc = tljh("status")
        assert proc.returncode == 1
        assert "the hub runs on the last known-good config.yaml" in proc.stdout, proc.stdout
        assert stat.S_IMODE(MARKER.stat().st_mode) == 0o600
        note = run("tljh-config validate", check=False)
        assert "note: the hub runs on the last known-good config.yaml" in note.stderr
    restart_hub()
    assert not MARKER.exists()
    assert tljh("status").returncode == 0


def test_raising_snippet_is_found_and_the_hub_starts_on_known_good(
    tljh_config: Callable[..., str],
) -> None:
    bad = SNIPPETS / "zz-status-test.py"
    bad.write_text("raise RuntimeError('a snippet that raises at start')\n")
    try:
        found = findings("doctor", "--only", "hub-config")
        assert found["hub config"]["level"] == "fail"
        assert str(bad) in found["hub config"]["detail"]

        since = time.strftime("%Y-%m-%d %H:%M:%S")
        restart_hub()  # up, on the known-good snippets
        journal = run(["journalctl", "-u", "jupyterhub", "--since", since, "--no-pager"]).stdout
        assert "known-good jupyterhub_config.d" in journal
        found = findings("status")
        assert found["fallback"]["level"] == "fail"
        assert "a snippet that raises at start" in found["fallback"]["detail"]
    finally:
        bad.unlink()
    restart_hub()
    assert findings("status")["fallback"]["level"] == "ok"


def test_reload_rolls_back_a_snippet_the_hub_only_starts_without() -> None:
    """A snippet that passes the pre-restart check but raises in the hub itself (here:
    it tells them apart; in life, e.g. a file the hub's sandbox cannot read) makes the
    hub start on its fallback: reload counts that as a failure and rolls the snippet
    back, instead of recording it as known to work."""
    bad = SNIPPETS / "zz-only-in-the-hub.py"
    bad.write_text(
        "import os\n"
        "if os.environ.get('TLJH_HUB_CONFIG_STRICT') != '1':\n"
        "    raise RuntimeError('raised in the hub only')\n"
    )
    try:
        proc = run("tljh-config reload hub", check=False)
        assert proc.returncode != 0, proc.stdout
        said = proc.stdout + proc.stderr
        assert "known-good files" in said and "raised in the hub only" in said, said
        assert not bad.exists()  # moved aside by the rollback
        wait_for_hub()
        assert findings("status")["fallback"]["level"] == "ok"
        good = PREFIX / "state" / "config-known-good" / "jupyterhub_config.d" / bad.name
        assert not good.exists()
    finally:
        bad.unlink(missing_ok=True)


# --- doctor -----------------------------------------------------------------------


def test_doctor_on_a_healthy_install(timings: Callable[[str, float], None]) -> None:
    started = time.monotonic()
    proc = tljh("doctor")
    timings("tljh_doctor_seconds", round(time.monotonic() - started, 2))
    assert "FAIL" not in proc.stdout, proc.stdout
    assert proc.returncode == 0


def test_doctor_names_who_took_port_80() -> None:
    run("systemctl stop traefik")
    squatter = subprocess.Popen(
        ["python3", "-m", "http.server", "80", "--bind", "0.0.0.0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        found = findings("doctor", "--only", "ports")
        while "python3" not in found["port 80"]["detail"] and time.monotonic() < deadline:
            time.sleep(0.3)
            found = findings("doctor", "--only", "ports")
        assert found["port 80"]["level"] == "fail"
        assert f"python3 (pid {squatter.pid})" in found["port 80"]["detail"]
        assert "tljh-config set http.port" in found["port 80"]["fix"]
    finally:
        squatter.send_signal(signal.SIGTERM)
        squatter.wait(10)
        run("systemctl start traefik")
        wait_for_hub()


def test_doctor_checks_where_the_letsencrypt_domains_point(tmp_path: Path) -> None:
    # The real resolver, through /etc/hosts; the config is another prefix's, so the
    # running install keeps its own.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(
        "https:\n  enabled: true\n  letsencrypt:\n    email: admin@example.org\n"
        "    domains: [doctor-here.test, doctor-elsewhere.test, doctor-nowhere.invalid]\n"
    )
    hosts = Path("/etc/hosts")
    with file_restored(hosts) as before:
        hosts.write_bytes(
            before + b"\n127.0.0.1 doctor-here.test\n198.51.100.7 doctor-elsewhere.test\n"
        )
        found = findings("doctor", "--only", "dns", env={"TLJH_INSTALL_PREFIX": str(tmp_path)})
    assert found["dns doctor-here.test"]["level"] == "ok"
    elsewhere = found["dns doctor-elsewhere.test"]
    assert elsewhere["level"] == "warn" and "198.51.100.7" in elsewhere["detail"]
    assert found["dns doctor-nowhere.invalid"]["level"] == "fail"


@contextmanager
def small_filesystem(options: str) -> Iterator[Path]:
    where = Path("/tmp/tljh-doctor-small")
    where.mkdir(exist_ok=True)
    mounted = run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in this container: {mounted.stdout}")
    try:
        yield where
    finally:
        run(["umount", str(where)])
        where.rmdir()


def test_doctor_finds_a_full_disk() -> None:
    with small_filesystem("size=4m") as small:
        env = {"TLJH_INSTALL_PREFIX": str(small)}
        assert findings("doctor", "--only", "disk", env=env)[f"disk {small}"]["level"] == "ok"
        run(f"dd if=/dev/zero of={small}/fill bs=64k count=1000", check=False)
        full = findings("doctor", "--only", "disk", env=env)[f"disk {small}"]
        assert full["level"] == "fail" and "nearly full" in full["detail"], full


def test_doctor_finds_no_inodes_left() -> None:
    with small_filesystem("size=4m,nr_inodes=64") as small:
        env = {"TLJH_INSTALL_PREFIX": str(small)}
        run(f"for i in $(seq 1 80); do : > {small}/f$i; done", check=False)
        full = findings("doctor", "--only", "disk", env=env)[f"disk {small}"]
        assert full["level"] == "fail" and "--inodes" in full["fix"], full


def test_doctor_finds_a_broken_user_env() -> None:
    package = next((PREFIX / "user" / "lib").glob("python3*/site-packages/jupyterhub"))
    aside = package.with_name("jupyterhub.status-test")
    package.rename(aside)
    try:
        found = findings("doctor", "--only", "user-env")["user env"]
        assert found["level"] == "fail"
        assert "No module named 'jupyterhub'" in found["detail"], found
    finally:
        aside.rename(package)
    assert findings("doctor", "--only", "user-env")["user env"]["level"] == "ok"


def test_doctor_finds_a_hub_env_whose_python_is_gone(tmp_path: Path) -> None:
    # What an OS upgrade that removes the hub's Python leaves: a dangling link. Made in
    # another prefix: breaking the real one would stop tljh itself.
    (tmp_path / "hub" / "bin").mkdir(parents=True)
    (tmp_path / "hub" / "bin" / "python3").symlink_to("/usr/bin/python3.0-removed")
    env = {"TLJH_INSTALL_PREFIX": str(tmp_path)}
    found = findings("doctor", "--only", "hub-env", env=env)["hub env"]
    assert found["level"] == "fail" and "re-run the installer" in found["fix"]
    assert findings("doctor", "--only", "hub-env")["hub env"]["level"] == "ok"


def test_doctor_finds_invalid_sudoers() -> None:
    broken = Path("/etc/sudoers.d/zz-status-test")
    broken.write_text("this is not a sudoers line\n")
    os.chmod(broken, 0o440)
    try:
        found = findings("doctor", "--only", "sudoers")["sudoers"]
        assert found["level"] == "fail" and str(broken) in found["detail"], found
    finally:
        broken.unlink()
    assert findings("doctor", "--only", "sudoers")["sudoers"]["level"] == "ok"


def test_doctor_finds_a_unit_changed_by_hand() -> None:
    with file_restored(HUB_UNIT_FILE) as before:
        HUB_UNIT_FILE.write_bytes(before + b"# changed by hand\n")
        found = findings("doctor", "--only", "units")["unit jupyterhub.service"]
        assert found["level"] == "warn" and "changed by hand" in found["detail"]
        assert "systemctl edit jupyterhub.service" in found["fix"]
    run("systemctl daemon-reload")
    assert findings("doctor", "--only", "units")["unit jupyterhub.service"]["level"] == "ok"


# --- logs ------------------------------------------------------------------------------


def test_logs_without_unit_names() -> None:
    hub = tljh("logs", "-n", "20")
    assert hub.returncode == 0 and hub.stdout.strip(), hub.stderr
    proxy = tljh("logs", "proxy", "--since", "1 day ago", "-n", "5")
    assert proxy.returncode == 0, proxy.stderr
    follow = run(["timeout", "3", TLJH, "logs", "hub", "-f", "-n", "3"], check=False)
    assert follow.returncode == 124 and follow.stdout.strip()  # still following when stopped


def test_installer_log_is_root_only_and_shown() -> None:
    log = PREFIX / "installer.log"
    st = log.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    shown = tljh("logs", "install", "-n", "5")
    assert shown.returncode == 0 and shown.stdout.strip()
    # Nobody else reads it, nor runs the commands.
    assert run(["runuser", "-u", "nobody", "--", "cat", str(log)], check=False).returncode != 0
    refused = run(["runuser", "-u", "nobody", "--", TLJH, "logs", "install"], check=False)
    assert refused.returncode == 1 and "sudo tljh logs" in refused.stderr
