"""Watching a server come up: it answers, its process ends first, or time runs out."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tljh.errors import ServerStartFailed
from tljh.hub.server_start import (
    Outcome,
    connect_host,
    pid_alive,
    port_open,
    runnable,
    wait_until_listening,
)
from tljh.system.machine import total_memory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_listening_server_is_found() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        outcome = asyncio.run(wait_until_listening("127.0.0.1", port, lambda: True, timeout=5))
    assert outcome is Outcome.LISTENING


def test_server_that_starts_listening_later_is_waited_for() -> None:
    port = free_port()
    script = (
        "import socket, time; time.sleep(0.6); s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(5)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        outcome = asyncio.run(
            wait_until_listening("127.0.0.1", port, lambda: proc.poll() is None, timeout=10)
        )
    finally:
        proc.kill()
        proc.wait()
    assert outcome is Outcome.LISTENING


def test_process_that_exits_ends_the_wait_at_once() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    started = time.monotonic()
    outcome = asyncio.run(
        wait_until_listening(
            "127.0.0.1", port, lambda: pid_alive(proc.pid) and proc.poll() is None, timeout=30
        )
    )
    proc.wait()
    assert outcome is Outcome.EXITED
    assert time.monotonic() - started < 3


def test_silent_live_process_times_out() -> None:
    port = free_port()
    started = time.monotonic()
    outcome = asyncio.run(wait_until_listening("127.0.0.1", port, lambda: True, timeout=0.5))
    assert outcome is Outcome.TIMEOUT
    assert time.monotonic() - started < 3


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
    assert not pid_alive(0)


def test_port_open_on_a_closed_port() -> None:
    assert not asyncio.run(port_open("127.0.0.1", free_port()))


def test_connect_host() -> None:
    assert connect_host("") == "127.0.0.1"
    assert connect_host("0.0.0.0") == "127.0.0.1"
    assert connect_host("10.0.0.5") == "10.0.0.5"


def test_start_failure_says_what_and_why_on_the_spawn_page() -> None:
    journal = (
        "jupyter-ada.service: Failed to execute /opt/tljh/user/bin/jupyterhub-singleuser: "
        "No such file or directory\n"
        "jupyter-ada.service: Failed at step EXEC spawning /opt/tljh/user/bin/"
        "jupyterhub-singleuser: No such file or directory\n"
    )
    error = ServerStartFailed(
        "jupyter-ada", "stopped before it answered (exit-code, status 203)", journal
    )
    shown = error.jupyterhub_message
    assert shown.startswith("the server stopped before it answered (exit-code, status 203)")
    assert "Failed to execute /opt/tljh/user/bin/jupyterhub-singleuser" in shown
    assert "sudo journalctl -u jupyter-ada" in shown
    # Without a journal: the reason and the hint still.
    assert "journalctl" in ServerStartFailed("jupyter-ada", "did not start", "").jupyterhub_message


def test_total_memory(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24563412 kB\nMemFree:         1000 kB\n")
    assert total_memory(meminfo) == 24563412 * 1024
    meminfo.write_text("MemFree: 1 kB\n")
    assert total_memory(meminfo) is None
    assert total_memory(tmp_path / "missing") is None
    # This machine's, from the real file.
    real = total_memory()
    assert real is None or real > 2**20


def test_runnable(tmp_path: Path) -> None:
    script = tmp_path / "jupyterhub-singleuser"
    assert not runnable(str(script))
    script.write_text("#!/bin/sh\n")
    assert not runnable(str(script))
    script.chmod(0o755)
    assert runnable(str(script))
    assert not runnable(str(tmp_path))
