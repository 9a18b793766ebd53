"""The install's progress: the status model, the status file, the page and the bootstrap's
server of it (which must never show the install log)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import logging
import os
import pwd
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import mode

from tljh.cli import installer
from tljh.errors import InstallError
from tljh.install.progress import RUN_VARIABLE, Progress, load_progress, write_progress
from tljh.layout import Layout
from tljh.render.progress_page import (
    BOOTSTRAP_STEPS,
    continue_progress,
    new_progress,
    progress_at,
    progress_ended,
    progress_page_headers,
    read_progress,
    render_progress_page,
)

STEPS = ["directories", "hub packages", "config", "services"]
LOG = "/opt/tljh/installer.log"


def status_of(page: str) -> str:
    m = re.search(r'data-tljh-progress="(\w+)"', page)
    assert m, page
    return m.group(1)


# ------------------------------------------------------------------ the model


def test_a_step_marks_the_ones_before_it_done() -> None:
    status = new_progress("r1", STEPS, 1.0)
    assert status["current"] == 0 and status["outcome"] == "running"
    status = progress_at(status, "config", 2.0)
    assert status["current"] == 2 and status["updated"] == 2.0
    assert progress_ended(status, True, 3.0)["current"] == len(STEPS)
    failed = progress_ended(status, False, 3.0)
    assert failed["outcome"] == "failed" and failed["steps"][failed["current"]] == "config"


def test_a_step_the_list_does_not_name_is_added_after_the_current_one() -> None:
    status = progress_at(new_progress("r1", STEPS, 1.0), "hub packages", 1.0)
    status = progress_at(status, "a newer step", 2.0)
    assert status["steps"] == ["directories", "hub packages", "a newer step", "config", "services"]
    assert status["current"] == 2


def test_the_installer_continues_the_bootstraps_run() -> None:
    boot = new_progress("r1", [*BOOTSTRAP_STEPS, *STEPS], 1.0)
    boot = progress_at(boot, "TLJH package", 2.0)
    status = continue_progress(boot, "r1", STEPS, 3.0)
    # The bootstrap's steps are done (it handed over after its last one).
    assert status["steps"] == [*BOOTSTRAP_STEPS, *STEPS]
    assert status["current"] == len(BOOTSTRAP_STEPS)


def test_an_installer_that_restarts_itself_does_not_repeat_its_steps() -> None:
    status = continue_progress(
        progress_at(new_progress("r1", [*BOOTSTRAP_STEPS, *STEPS], 1), "TLJH package", 1),
        "r1",
        STEPS,
        2,
    )
    status = progress_at(status, "hub packages", 3.0)
    again = continue_progress(status, "r1", STEPS, 4.0)
    assert again["steps"] == [*BOOTSTRAP_STEPS, *STEPS]
    assert again["current"] == len(BOOTSTRAP_STEPS)


def test_the_run_keeps_the_pid_of_its_page_when_the_installer_takes_over() -> None:
    boot = progress_at(new_progress("r1", BOOTSTRAP_STEPS, 1.0), "TLJH package", 2.0)
    boot["page"] = 42
    status = continue_progress(boot, "r1", STEPS, 3.0)
    assert progress_ended(status, False, 4.0)["page"] == 42
    assert "page" not in continue_progress(boot, "r2", STEPS, 3.0)


def test_another_run_starts_afresh() -> None:
    old = progress_ended(new_progress("old", ["x", *STEPS], 1.0), False, 2.0)
    status = continue_progress(old, "new", STEPS, 3.0)
    assert status["run"] == "new" and status["steps"] == STEPS and status["outcome"] == "running"
    assert continue_progress(None, "new", STEPS, 3.0)["steps"] == STEPS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"format": 2}',
        json.dumps({**new_progress("r", STEPS, 1.0), "current": 9}),
        json.dumps({**new_progress("r", STEPS, 1.0), "current": True}),
        json.dumps({**new_progress("r", STEPS, 1.0), "steps": ["a", 1]}),
        json.dumps({**new_progress("r", STEPS, 1.0), "outcome": "maybe"}),
        json.dumps({**new_progress("r", STEPS, 1.0), "run": None}),
    ],
)
def test_what_is_not_a_status_reads_as_none(text: str) -> None:
    assert read_progress(text) is None


def test_a_status_reads_back() -> None:
    status = progress_at(new_progress("r", STEPS, 1.0), "config", 2.0)
    assert read_progress(json.dumps(status)) == status


# ------------------------------------------------------------------ the page


def test_the_running_page_names_the_step_and_how_far() -> None:
    status = progress_at(new_progress("r", STEPS, 1.0), "config", 2.0)
    page = render_progress_page(status, True, LOG)
    assert status_of(page) == "running"
    assert "Step 3 of 4: config" in page
    assert '<progress max="4" value="2">' in page
    assert '<li class="done">directories</li>' in page
    assert '<li class="running" aria-current="step">config</li>' in page
    assert '<li class="pending">services</li>' in page
    # It updates itself: a script, and a refresh for browsers without scripts.
    assert "<script>" in page and 'http-equiv="refresh"' in page


def test_a_failed_install_says_where_and_what_to_do() -> None:
    status = progress_ended(progress_at(new_progress("r", STEPS, 1.0), "config", 2.0), False, 3.0)
    page = render_progress_page(status, False, LOG)
    assert status_of(page) == "failed"
    assert "stopped at step 3 of 4: config, on an error" in page
    assert '<li class="failed" aria-current="step">config</li>' in page
    assert "What to do" in page and f"sudo less {LOG}" in page
    assert "Run the same install command again" in page


def test_an_installer_that_vanished_mid_step_is_said_to_have_stopped() -> None:
    status = progress_at(new_progress("r", STEPS, 1.0), "hub packages", 2.0)
    page = render_progress_page(status, False, LOG)
    assert status_of(page) == "stopped"
    assert "stopped at step 2 of 4: hub packages, before it finished" in page


def test_before_any_status_the_page_says_it_is_starting() -> None:
    page = render_progress_page(None, True, LOG)
    assert status_of(page) == "running" and "Starting" in page


def test_names_and_paths_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    status = progress_at(new_progress("r", [evil, "b&c"], 1.0), "b&c", 2.0)
    page = render_progress_page(progress_ended(status, False, 3.0), False, '/opt/"<x>')
    assert evil not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "b&amp;c" in page and "/opt/&quot;&lt;x&gt;" in page


def test_the_policy_allows_exactly_the_pages_own_script_and_style() -> None:
    page = render_progress_page(new_progress("r", STEPS, 1.0), True, LOG)
    policy = dict(progress_page_headers())["Content-Security-Policy"]

    def source(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    script = re.search(r"<script>(.*?)</script>", page, re.S)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert script and style
    assert f"script-src {source(script.group(1))};" in policy
    assert f"style-src {source(style.group(1))};" in policy
    assert "default-src 'none'" in policy and "http" not in page.split("<body", 1)[1]


# ------------------------------------------------------------------ the status file


def test_the_status_file_is_root_only_and_replaced_whole(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "install-progress.json"
    path.write_text("old")
    path.chmod(0o644)
    status = new_progress("r", STEPS, 1.0)
    write_progress(str(path), status)
    assert mode(path) == 0o600
    assert load_progress(str(path)) == status
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert load_progress(str(tmp_path / "missing.json")) is None


def test_the_status_file_is_in_the_layout() -> None:
    assert Layout(prefix=Path("/srv/t")).install_progress == Path("/srv/t/install-progress.json")


def test_progress_carries_its_run_to_a_fresh_installer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.json"
    first = Progress(path, STEPS)
    first.step("hub packages")
    assert os.environ[RUN_VARIABLE] == first.run
    second = Progress(path, STEPS)
    assert second.run == first.run
    second.step("config")
    second.end(ok=True)
    status = load_progress(str(path))
    assert status is not None and status["outcome"] == "done" and status["steps"] == STEPS


@pytest.fixture
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    yield tmp_path
    root = logging.getLogger("tljh")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def _ok(ctx: object) -> list[str]:
    return []


def _refuses(ctx: object) -> list[str]:
    raise InstallError("the requirements file is missing", "give another one")


def test_the_installer_records_the_step_it_failed_at(
    prefix: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "STEPS", [("first", _ok), ("second", _refuses), ("third", _ok)])
    assert installer.main([]) == 1
    status = load_progress(str(Layout(prefix=prefix).install_progress))
    assert status is not None
    assert status["outcome"] == "failed" and status["steps"][status["current"]] == "second"
    assert mode(Layout(prefix=prefix).install_progress) == 0o600


def test_a_dry_run_writes_no_status(prefix: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(installer, "dry_run", lambda ctx, names: 0)
    assert installer.main(["--dry-run"]) == 0
    assert not Layout(prefix=prefix).install_progress.exists()


# ------------------------------------------------------------------ the bootstrap's server


@pytest.fixture
def served(bootstrap: ModuleType, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The bootstrap's page server on a free port, next to a log holding a secret."""
    log = tmp_path / "installer.log"
    log.write_text("admin password: hunter2-SECRET\n")
    state: dict[str, Any] = {"status": None, "running": True}
    server = bootstrap.make_progress_server(
        0, str(log), lambda: (state["status"], state["running"])
    )
    state["port"] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def fetch(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, dict(r.getheaders()), body


def test_the_bootstrap_serves_the_status_never_the_log(
    bootstrap: ModuleType, served: dict[str, Any]
) -> None:
    port = served["port"]
    _, _, body = fetch(port, "/")
    assert status_of(body) == "running" and "Starting" in body
    served["status"] = bootstrap.progress_at(
        bootstrap.new_progress("run-1", [*BOOTSTRAP_STEPS, *STEPS], 1.0), "config", 2.0
    )
    for path in ("/", "/logs", "/installer.log", "/../installer.log", "/index.html?x=1"):
        code, headers, body = fetch(port, path)
        assert code == 200 and "Step 6 of 7: config" in body, path
        assert "SECRET" not in body and "hunter2" not in body, path
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
    code, _, body = fetch(port, "/", "HEAD")
    assert code == 200 and body == ""
    assert fetch(port, "/favicon.ico")[0] == 404
    served["running"] = False
    assert status_of(fetch(port, "/")[2]) == "stopped"


def test_connections_that_send_nothing_hold_a_bounded_number_of_threads(
    bootstrap: ModuleType, served: dict[str, Any]
) -> None:
    limit = bootstrap.BoundedHTTPServer.MAX_CONNECTIONS
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", served["port"])) for _ in range(limit * 3)]
    try:
        deadline = time.monotonic() + 5
        # The server has taken in every connection: the last ones were closed at once.
        idle[-1].settimeout(5)
        assert idle[-1].recv(1) == b""
        while threading.active_count() - before < limit and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() - before == limit
    finally:
        for conn in idle:
            conn.close()
    # Once they go, the page answers again.
    deadline = time.monotonic() + 5
    while True:
        try:
            assert fetch(served["port"], "/")[0] == 200
            break
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="the page server drops root's privileges")
def test_the_page_is_served_by_nobody_and_stops_with_the_port_free(
    bootstrap: ModuleType, tmp_path: Path
) -> None:
    bootstrap.LOG_FILE = str(tmp_path / "installer.log")
    run = bootstrap.progress_start(str(tmp_path))
    bootstrap.progress_step("hub environment")
    port = _free_port()
    watcher = bootstrap.start_progress_page(str(tmp_path), run, port=port)
    assert watcher
    try:
        deadline = time.monotonic() + 10
        body = ""
        while "hub environment" not in body and time.monotonic() < deadline:
            time.sleep(0.1)
            body = fetch(port, "/")[2]
        assert "Step 2 of " in body, body
        (server,) = _children(watcher)
        uids = Path(f"/proc/{server}/status").read_text().split("Uid:")[1].split()[:4]
        assert uids == [str(pwd.getpwnam("nobody").pw_uid)] * 4
        # The watcher stays root, to read the root-only status file.
        assert Path(f"/proc/{watcher}/status").read_text().split("Uid:")[1].split()[0] == "0"
        bootstrap.progress_failed()
        deadline = time.monotonic() + 5
        while status_of(body) != "failed" and time.monotonic() < deadline:
            time.sleep(0.1)
            body = fetch(port, "/")[2]
        assert status_of(body) == "failed"
    finally:
        os.kill(watcher, signal.SIGTERM)
        os.waitpid(watcher, 0)
    # Stopped as the installer stops it: the server is gone and the port is free at once
    # (for a server that, like traefik and the page, binds with SO_REUSEADDR).
    assert not Path(f"/proc/{server}").exists()
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))


def test_the_bootstraps_copy_renders_the_same_page(bootstrap: ModuleType) -> None:
    status = progress_ended(progress_at(new_progress("r", STEPS, 1.0), "config", 2.0), False, 3.0)
    assert bootstrap.render_progress_page(status, False, LOG) == render_progress_page(
        status, False, LOG
    )
    assert Layout().install_progress.name == bootstrap.PROGRESS_FILE


@pytest.mark.skipif(os.geteuid() != 0, reason="the page server drops root's privileges")
def test_the_next_run_waits_for_the_page_of_a_failed_run_to_free_the_port(
    bootstrap: ModuleType, tmp_path: Path
) -> None:
    bootstrap.LOG_FILE = str(tmp_path / "installer.log")
    status_file = str(tmp_path / bootstrap.PROGRESS_FILE)
    port = _free_port()
    watcher = bootstrap.start_progress_page(
        str(tmp_path), bootstrap.progress_start(str(tmp_path)), port=port
    )
    assert watcher
    bootstrap.progress_failed()
    time.sleep(1.5)  # the page shows the failure and lingers
    earlier = bootstrap.load_progress(status_file)
    assert earlier["outcome"] == "failed" and earlier["page"] == watcher
    try:
        bootstrap.progress_start(str(tmp_path))
        bootstrap.wait_for_earlier_page(earlier)
        # Reaped only now (in the field the page's parent is gone and init reaps it):
        # what matters is that it has let go of the port already.
        with socket.socket(socket.AF_INET6) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("::", port))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(watcher, signal.SIGTERM)
        os.waitpid(watcher, 0)
