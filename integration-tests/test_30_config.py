"""Changing the config on the real install: edit, apply, and rollback when the hub breaks.

Every failure here is one that validation cannot see (an authenticator that
fails on import, a port held by another program, a jupyterhub_config.d snippet
that raises, a hand edit).  Each time the command must exit non-zero saying
why, and the hub must be healthy again on the previous configuration.
"""

from __future__ import annotations

import glob
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from bootstrapping import run_bootstrap
from hubclient import HubClient
from machine import unit_property

PASSWORD = "integration-test-password"
CONFIG = Path("/opt/tljh/config/config.yaml")
CONFIG_D = Path("/opt/tljh/config/jupyterhub_config.d")
HISTORY = Path("/opt/tljh/config/history")
HUB_PYTHON = "/opt/tljh/hub/bin/python3"
TLJH_CONFIG = "/usr/bin/tljh-config"
PROMPT = "What now? (e)dit again, e(x)it without saving, (Q)uit and save anyway"


def hub_status(hub_url: str) -> int:
    try:
        return requests.get(f"{hub_url}/hub/api", timeout=5).status_code
    except requests.RequestException:
        return 0


def tljh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TLJH_CONFIG, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def config_value(key: str) -> str:
    proc = tljh("get", key)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def dummy_auth(hub_url: str) -> Iterator[None]:
    for args in (
        ("set", "auth.type", "dummy"),
        ("set", "auth.DummyAuthenticator.password", PASSWORD),
    ):
        proc = tljh(*args)
        assert proc.returncode == 0, proc.stderr
    proc = tljh("reload")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hub_status(hub_url) == 200
    yield
    assert hub_status(hub_url) == 200


@pytest.fixture(scope="module")
def admin_token(hub_url: str, admin_name: str) -> str:
    client = HubClient(hub_url)
    client.login(admin_name, PASSWORD)
    return client.api_token(note="test_30_config")


def user_model(hub_url: str, token: str, name: str) -> requests.Response:
    return requests.get(
        f"{hub_url}/hub/api/users/{name}",
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )


def write_editor(tmp_path: Path, name: str, code: str) -> str:
    """An EDITOR: a Python script run by the hub's Python (which has ruamel.yaml)."""
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    return f"{HUB_PYTHON} {script}"


ADD_ADMIN = """\
import sys
from ruamel.yaml import YAML
yaml = YAML()
path = sys.argv[1]
with open(path) as f:
    data = yaml.load(f)
data.setdefault("users", {{}})
users = data["users"]
admins = users.get("admin") or []
admins.append({name!r})
users["admin"] = admins
with open(path, "w") as f:
    yaml.dump(data, f)
"""

BROKEN_TEXT = "# edited\nlimits:\n  memory: 2 GB\nlimts: {}\n"
BREAK_IT = f"""\
import sys
with open(sys.argv[1], "w") as f:
    f.write({BROKEN_TEXT!r})
"""


# --- edit ---------------------------------------------------------------------------


def test_edit_valid_change_is_applied(hub_url: str, admin_token: str, tmp_path: Path) -> None:
    assert user_model(hub_url, admin_token, "teacher-by-edit").status_code == 404
    editor = write_editor(tmp_path, "add_admin", ADD_ADMIN.format(name="teacher-by-edit"))
    started = time.monotonic()
    proc = tljh("edit", env={"EDITOR": editor, "VISUAL": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "teacher-by-edit" in CONFIG.read_text()
    # JupyterHub creates the users of the admin role (users.admin) when it starts.
    r = user_model(hub_url, admin_token, "teacher-by-edit")
    assert r.status_code == 200, r.text
    assert r.json()["admin"] is True
    assert time.monotonic() - started < 60
    assert hub_status(hub_url) == 200


def test_edit_unchanged_says_no_changes(tmp_path: Path) -> None:
    before = CONFIG.read_bytes()
    hub_pid = unit_property("jupyterhub", "MainPID")
    proc = tljh("edit", env={"EDITOR": "true", "VISUAL": ""})
    assert proc.returncode == 0, proc.stderr
    assert "No changes" in proc.stdout
    assert CONFIG.read_bytes() == before
    assert unit_property("jupyterhub", "MainPID") == hub_pid


def run_in_pty(argv: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run argv on a pseudo-terminal; answer each prompt in turn; return (status, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.execve(argv[0], argv, {**os.environ, **env})
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    seen_prompts = 0
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            text = output.decode(errors="replace")
            if text.count(PROMPT) > seen_prompts and pending:
                seen_prompts += 1
                os.write(fd, (pending.pop(0) + "\n").encode())
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_edit_invalid_reprompts_and_exit_keeps_file(tmp_path: Path) -> None:
    before = CONFIG.read_bytes()
    hub_pid = unit_property("jupyterhub", "MainPID")
    editor = write_editor(tmp_path, "break_it", BREAK_IT)
    code, out = run_in_pty(
        [TLJH_CONFIG, "edit"], {"EDITOR": editor, "VISUAL": ""}, answers=["e", "x"]
    )
    assert code == 1, out
    # Asked twice: after the first edit, and again after editing again.
    assert out.count(PROMPT) == 2, out
    assert "limits.memory: '2 GB' is not a memory size" in out
    assert "limts: unknown key; did you mean limits?" in out
    # Each problem with its line number.
    assert "line 3: limits.memory: '2 GB'" in out, out
    assert "line 4: limts: unknown key" in out, out
    assert "Exited without saving" in out
    assert CONFIG.read_bytes() == before
    assert unit_property("jupyterhub", "MainPID") == hub_pid


def test_second_edit_is_told_the_file_is_in_use(tmp_path: Path) -> None:
    before = CONFIG.read_bytes()
    slow = write_editor(tmp_path, "slow", "import time\ntime.sleep(8)\n")
    first = subprocess.Popen(
        [TLJH_CONFIG, "edit"],
        env={**os.environ, "EDITOR": slow, "VISUAL": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        assert first.poll() is None
        second = tljh("edit", env={"EDITOR": "true", "VISUAL": ""})
        assert second.returncode != 0
        assert "is in use: 'tljh-config edit' run by" in second.stderr, second.stderr
        also = tljh("--lock-timeout", "0.5", "set", "limits.cpu", "1")
        assert also.returncode != 0
        assert "in use" in also.stderr, also.stderr
    finally:
        first.wait(timeout=60)
    # The sleeping "editor" changed nothing, so nothing was written.
    assert "No changes" in (first.stdout.read() if first.stdout else "")
    assert CONFIG.read_bytes() == before


# --- apply and roll back -------------------------------------------------------------


def test_set_apply_valid_change(hub_url: str, admin_token: str) -> None:
    proc = tljh("add-item", "users.admin", "1234", "--apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "- '1234'" in CONFIG.read_text()
    r = user_model(hub_url, admin_token, "1234")
    assert r.status_code == 200, r.text
    assert r.json()["admin"] is True


@pytest.fixture
def broken_authenticator() -> Iterator[str]:
    site = glob.glob("/opt/tljh/hub/lib/python3*/site-packages")[0]
    module = Path(site) / "tljh_test_broken_auth.py"
    module.write_text('raise RuntimeError("tljh-test: this authenticator is broken on purpose")\n')
    yield "tljh_test_broken_auth.BrokenAuthenticator"
    module.unlink()


def assert_rolled_back(proc: subprocess.CompletedProcess[str], hub_url: str, took: float) -> None:
    # Shown with pytest -s: what an admin would read.
    print(f"\n--- {' '.join(proc.args)} ({took:.1f} s) ---\n{proc.stdout}{proc.stderr}")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr.split("what it logged")[0]
    assert "Rolled back" in proc.stderr, proc.stderr
    assert "running again with the previous configuration" in proc.stderr, proc.stderr
    assert hub_status(hub_url) == 200
    assert took < 150, f"took {took:.0f} s"


def assert_refused(proc: subprocess.CompletedProcess[str], hub_url: str, hub_pid: str) -> None:
    """Refused by the check before the restart: the running hub was never touched."""
    print(f"\n--- {' '.join(proc.args)} ---\n{proc.stdout}{proc.stderr}")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr.split("  | ")[0]
    assert "the hub would not start with this configuration" in proc.stderr, proc.stderr
    assert "Nothing was restarted" in proc.stderr, proc.stderr
    assert unit_property("jupyterhub", "MainPID") == hub_pid
    assert hub_status(hub_url) == 200


def test_authenticator_failing_on_import_is_refused_before_the_restart(
    hub_url: str, broken_authenticator: str, timings
) -> None:
    before = CONFIG.read_bytes()
    hub_pid = unit_property("jupyterhub", "MainPID")
    started = time.monotonic()
    proc = tljh("set", "auth.type", broken_authenticator, "--apply")
    took = time.monotonic() - started
    timings("config_refused_broken_auth_seconds", round(took, 1))
    assert_refused(proc, hub_url, hub_pid)
    assert "tljh-test: this authenticator is broken on purpose" in proc.stderr
    assert CONFIG.read_bytes() == before
    assert config_value("auth.type") == "dummy"
    # The refused version is in the history, marked.
    history = tljh("history").stdout
    assert "automatic rollback" in history.splitlines()[4], history


def test_http_port_taken_is_rolled_back(hub_url: str, timings) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("0.0.0.0", 0))
    squatter.listen(5)  # accepts connections, never answers
    port = squatter.getsockname()[1]
    before = CONFIG.read_bytes()
    try:
        started = time.monotonic()
        proc = tljh("set", "http.port", str(port), "--apply", "--timeout", "20")
        took = time.monotonic() - started
    finally:
        squatter.close()
    timings("config_rollback_port_taken_seconds", round(took, 1))
    assert_rolled_back(proc, hub_url, took)
    assert "traefik.service" in proc.stderr
    assert CONFIG.read_bytes() == before
    assert config_value("http.port") == "80"


def test_snippet_raising_only_in_the_hub_is_rolled_back(hub_url: str, timings) -> None:
    # The check before the restart runs it fine: only the restart finds the
    # failure, and the rollback after it is what brings the hub back.
    snippet = CONFIG_D / "99-tljh-test-broken.py"
    snippet.write_text(
        "import os\n"
        "if 'INVOCATION_ID' in os.environ:  # set by systemd for the hub, not for the check\n"
        "    raise RuntimeError('tljh-test: broken snippet')\n"
    )
    try:
        started = time.monotonic()
        proc = tljh("reload")
        took = time.monotonic() - started
        timings("config_rollback_snippet_seconds", round(took, 1))
        assert_rolled_back(proc, hub_url, took)
        assert str(snippet) in proc.stderr  # named, with where it went
        assert "tljh-test: broken snippet" in proc.stderr
        assert not snippet.exists()
        moved = list(HISTORY.glob("rejected-*/jupyterhub_config.d/99-tljh-test-broken.py"))
        assert moved, proc.stderr
    finally:
        snippet.unlink(missing_ok=True)


def test_hand_edited_invalid_file_is_refused_by_reload(hub_url: str) -> None:
    before = CONFIG.read_bytes()
    hub_pid = unit_property("jupyterhub", "MainPID")
    # The whole file, so that no key repeats one already there.
    CONFIG.write_bytes(b"limits:\n  memory: lots\n")
    try:
        proc = tljh("reload")
        assert proc.returncode != 0
        assert "limits.memory: 'lots' is not a memory size" in proc.stderr, proc.stderr
        assert "nothing was restarted" in proc.stderr
        assert unit_property("jupyterhub", "MainPID") == hub_pid
        assert hub_status(hub_url) == 200
        validate = tljh("validate")
        assert validate.returncode == 1
        assert "limits.memory" in validate.stderr
    finally:
        CONFIG.write_bytes(before)


def _journal_since(unit: str, since: float, text: str, wait: float = 30) -> str:
    deadline = time.monotonic() + wait
    log = ""
    while time.monotonic() < deadline:
        log = subprocess.run(
            ["journalctl", f"_SYSTEMD_UNIT={unit}", f"--since=@{int(since)}"],
            capture_output=True,
            text=True,
        ).stdout
        if text in log:
            break
        time.sleep(1)
    return log


def test_an_unknown_key_is_named_and_the_hub_and_installer_go_on(hub_url: str) -> None:
    """Upstream accepted keys we do not know: after an upgrade they must not stop a class."""
    before = CONFIG.read_bytes()
    CONFIG.write_bytes(before + b"\nlimts:\n  memory: 2G\n")
    since = time.time()
    try:
        # 'set' refuses a new unknown key, with the key it probably meant.
        proc = tljh("set", "limits.memroy", "1G")
        assert proc.returncode == 1
        assert "limits.memroy: unknown key; did you mean limits.memory?" in proc.stderr
        # reload names the key it goes on without, and restarts the hub.
        proc = tljh("reload")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "limts: unknown key; did you mean limits?" in proc.stdout + proc.stderr
        assert hub_status(hub_url) == 200
        # The hub itself says so in the journal, and did not fall back.
        log = _journal_since("jupyterhub.service", since, "limts")
        assert "limts: unknown key; did you mean limits?" in log, log
        assert "known-good" not in log, log
        # A restart by systemd (a reboot) comes back too.
        subprocess.run(["systemctl", "restart", "jupyterhub"], check=True, timeout=60)
        deadline = time.monotonic() + 60
        while hub_status(hub_url) != 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert hub_status(hub_url) == 200
        # The installer, re-run (as an upgrade does), warns and finishes.
        rerun, _ = run_bootstrap()
        assert rerun.returncode == 0, rerun.stdout
        assert "limts: unknown key; did you mean limits?" in rerun.stdout, rerun.stdout
        assert CONFIG.read_bytes().endswith(b"limts:\n  memory: 2G\n")
    finally:
        CONFIG.write_bytes(before)
    proc = tljh("reload")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hub_status(hub_url) == 200


def test_hand_edited_valid_but_broken_file_is_refused_by_reload(
    hub_url: str, broken_authenticator: str
) -> None:
    before = CONFIG.read_text()
    assert "type: dummy" in before
    hub_pid = unit_property("jupyterhub", "MainPID")
    CONFIG.write_text(before.replace("type: dummy", f"type: {broken_authenticator}"))
    proc = tljh("reload")
    assert_refused(proc, hub_url, hub_pid)
    assert CONFIG.read_text() == before


def test_history_and_rollback(hub_url: str) -> None:
    start = config_value("services.cull.timeout")
    proc = tljh("set", "services.cull.timeout", "1800")
    assert proc.returncode == 0, proc.stderr
    history = tljh("history")
    assert history.returncode == 0
    assert "services.cull.timeout" in history.stdout.splitlines()[4], history.stdout
    proc = tljh("rollback")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert config_value("services.cull.timeout") == start
    assert hub_status(hub_url) == 200
    # The version it replaced is now number 1: rolling back again redoes the change.
    proc = tljh("rollback", "--no-apply")
    assert proc.returncode == 0, proc.stderr
    assert config_value("services.cull.timeout") == "1800"
    proc = tljh("unset", "services.cull.timeout", "--apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hub_status(hub_url) == 200


def test_set_stays_fast() -> None:
    started = time.monotonic()
    proc = tljh("set", "limits.memory", "1G")
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert took < 1.0, f"tljh-config set took {took:.2f} s"
    print(f"tljh-config set took {took:.2f} s", file=sys.stderr)
