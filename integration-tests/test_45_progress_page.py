"""``--show-progress-page``: while the bootstrap installs, port 80 shows the steps and how far
the install got, and whether it stopped; never the install log.

To look at the page mid-install, the install is held at its "user environment" step: the
requirements file it downloads (``--user-requirements-txt-url``) is served by this test,
which answers only when told to.  The proxy is stopped first so that port 80 is free, as on
a fresh server.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import pwd
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bootstrapping import assert_ok, run_bootstrap, start_bootstrap

PREFIX = Path("/opt/tljh")
LOG = PREFIX / "installer.log"
STATUS = PREFIX / "install-progress.json"
#: Stands for a secret in the log (e.g. from --admin NAME:PASSWORD).
SECRET = "hunter2-progress-page-must-not-show-this"
#: Paths a curious visitor (or upstream's page, which served /logs) might try.
PROBES = ("/", "/logs", "/installer.log", "/../installer.log", "/index.html", "/hub/login")


class HeldFiles(http.server.BaseHTTPRequestHandler):
    """Serves requirements.txt once ``release`` is set; 404 for anything else."""

    release = threading.Event()
    asked = threading.Event()

    def do_GET(self) -> None:
        if self.path != "/requirements.txt":
            self.send_error(404)
            return
        self.asked.set()
        self.release.wait(60)
        body = b"ipykernel\n"  # already in the user environment: nothing to install
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def held() -> Iterator[str]:
    HeldFiles.release.clear()
    HeldFiles.asked.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeldFiles)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    HeldFiles.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def port_80_free(run) -> Iterator[None]:
    """The proxy stopped, and a secret in the install log; afterwards the hub is back."""
    with open(LOG, "a") as f:
        f.write(f"2026-12-01 00:00:00 a secret the page must not show: {SECRET}\n")
    run("systemctl stop traefik")
    yield
    if run("systemctl is-active traefik", check=False).stdout.strip() != "active":
        assert_ok(run_bootstrap()[0])


def get(path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def page_state(body: str) -> str | None:
    m = re.search(r'data-tljh-progress="(\w+)"', body)
    return m.group(1) if m else None


def wait_for_page(predicate: Callable[[str], bool], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            _, last = get("/")
            if predicate(last):
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the page never showed what was expected; last:\n{last}")


def assert_no_log(body: str) -> None:
    assert SECRET not in body
    # Lines of the install log start with a time stamp or the installer's prefix.
    assert "[tljh" not in body and not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body)


def test_the_page_shows_the_running_step_and_never_the_log(held: str, port_80_free: None) -> None:
    started = time.monotonic()
    proc = start_bootstrap(
        "--show-progress-page", "--user-requirements-txt-url", f"{held}/requirements.txt"
    )
    try:
        assert HeldFiles.asked.wait(120), "the install never asked for the requirements file"
        body = wait_for_page(
            lambda b: '<li class="running" aria-current="step">user environment' in b
        )
        assert page_state(body) == "running"
        assert re.search(r"Step \d+ of \d+: user environment", body), body
        assert '<li class="done">TLJH package</li>' in body
        assert '<li class="pending">services</li>' in body
        for path in PROBES:
            code, probe = get(path)
            assert code == 200 and page_state(probe) == "running", path
            assert_no_log(probe)
        assert get("/favicon.ico")[0] == 404
        # What answers on port 80 is not root.
        listeners = subprocess.run(
            ["ss", "-Hltnp", "sport = :80"], capture_output=True, text=True
        ).stdout
        pids = set(re.findall(r"pid=(\d+)", listeners))
        assert pids, listeners
        for pid in pids:
            uid = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[1]
            assert uid == str(pwd.getpwnam("nobody").pw_uid), listeners
        # The status behind the page is root's alone.
        st = STATUS.stat()
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
        status = json.loads(STATUS.read_text())
        assert status["steps"][status["current"]] == "user environment"
    finally:
        HeldFiles.release.set()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "progress page: serving on port 80" in out
    # The page made way for the proxy: port 80 is the hub's now.
    code, body = get("/hub/login")
    assert code == 200 and page_state(body) is None and "<form" in body
    assert json.loads(STATUS.read_text())["outcome"] == "done"
    print(f"install with the progress page: {time.monotonic() - started:.1f} s")


def test_a_failed_install_says_so_without_its_reason_until_the_next_run(
    held: str, port_80_free: None
) -> None:
    missing = f"{held}/missing-requirements.txt"
    proc, _ = run_bootstrap("--show-progress-page", "--user-requirements-txt-url", missing)
    assert proc.returncode == 1, proc.stdout
    assert f"could not install the requirements file {missing}" in proc.stdout
    body = wait_for_page(lambda b: page_state(b) == "failed", timeout=10)
    assert re.search(r"stopped at step \d+ of \d+: user environment, on an error", body), body
    assert "What to do" in body and f"sudo less {LOG}" in body
    # The reason is in the terminal and the log, for root: not on a public page.
    assert "could not install" not in body and "missing-requirements" not in body
    assert_no_log(body)
    # Running the install again (here without the page) takes port 80 back for the proxy.
    again, _ = run_bootstrap()
    assert_ok(again)
    code, body = get("/hub/login")
    assert code == 200 and page_state(body) is None
    assert os.system("ss -ltnp 'sport = :80' | grep -q traefik") == 0
