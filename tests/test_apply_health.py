"""Health probes against a real local HTTP server, and the messages of a failed start.

Restarting real units is tested on a real install by integration-tests/test_30_config.py.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tljh.apply.health import hub_problem, proxy_problem, wait_until
from tljh.errors import StartFailed, UnhealthyError
from tljh.system.systemd import _first_run_lines


class _Answers(BaseHTTPRequestHandler):
    #: path -> HTTP status; any other path answers 404.
    routes: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        self.send_response(self.routes.get(self.path, 404))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, dict[str, int]]]:
    """A local HTTP server on a free port, and its routes to fill in."""
    routes: ClassVar[dict[str, int]] = {}
    handler = type("Handler", (_Answers,), {"routes": routes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], routes
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(port: int, base_url: str = "/", api_port: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"base_url": base_url, "http": {"address": "", "port": port}}
    if api_port is not None:
        config["traefik_api"] = {"ip": "127.0.0.1", "port": api_port}
    return config


def test_hub_is_healthy_when_its_api_answers_200(server: tuple[int, dict[str, int]]) -> None:
    port, routes = server
    routes["/jh/hub/api"] = 200
    assert hub_problem(_config(port, "/jh/")) is None
    assert (
        hub_problem(_config(port)) == f"http://127.0.0.1:{port}/hub/api answered HTTP 404, not 200"
    )


def test_hub_problem_when_nothing_answers() -> None:
    port = _closed_port()
    problem = hub_problem(_config(port))
    assert problem is not None
    assert problem.startswith(f"nothing answers on http://127.0.0.1:{port}/hub/api (")


def test_proxy_needs_its_ping_and_any_http_answer(server: tuple[int, dict[str, int]]) -> None:
    port, routes = server
    # Any answer on the http port will do: 404 before the hub added its route.
    assert proxy_problem(_config(port)) is None
    assert proxy_problem(_config(port, api_port=port)) == (
        f"the proxy's ping on port {port} answered HTTP 404, not 200"
    )
    routes["/ping"] = 200
    assert proxy_problem(_config(port, api_port=port)) is None
    closed = _closed_port()
    problem = proxy_problem(_config(closed))
    assert problem is not None
    assert problem.startswith(f"the proxy does not serve HTTP on 127.0.0.1:{closed} (")


def test_wait_until_returns_once_the_problem_is_gone() -> None:
    answers = iter(["still starting", None])
    wait_until(lambda: next(answers), "tljh-unit-test.service", timeout=10)


def test_wait_until_gives_up_at_the_deadline() -> None:
    with pytest.raises(UnhealthyError) as info:
        wait_until(lambda: "still down", "tljh-unit-test.service", timeout=0)
    assert info.value.message.startswith(
        "tljh-unit-test.service did not become healthy within 0 s: still down"
    )
    assert "journalctl -u tljh-unit-test.service" in info.value.hint


def test_start_failure_message_shows_the_log_without_colours() -> None:
    journal = (
        "\x1b[90m2026-11-23T16:54:27Z\x1b[0m \x1b[31mERR\x1b[0m bind: address already in use\n"
    )
    err = StartFailed("traefik.service", "exited while starting", journal)
    assert err.message == (
        "traefik.service exited while starting\n"
        "what it logged since the restart:\n"
        "  | 2026-11-23T16:54:27Z ERR bind: address already in use"
    )
    assert "journalctl -u traefik.service" in err.hint


def test_journal_lines_of_the_first_new_run_only() -> None:
    def entry(run: str, message: object) -> str:
        return json.dumps({"_SYSTEMD_INVOCATION_ID": run, "_PID": "1", "MESSAGE": message})

    raw = "\n".join(
        [
            entry("old", "shutting down"),
            entry("new1", "starting"),
            entry("old", "bye"),
            entry("new1", "error: port in use\nmore"),
            entry("new1", list(b"bytes \xff")),
            entry("new2", "starting again"),
            "not json",
        ]
    )
    assert _first_run_lines(raw, ["old"]) == [
        "starting",
        "error: port in use",
        "more",
        "bytes \ufffd",
    ]
