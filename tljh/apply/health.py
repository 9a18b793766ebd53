"""Is the hub or the proxy healthy, and restarting one with a bounded wait.

Nothing here waits forever: every wait has a deadline, and a failure says
why, with the lines the unit logged since it was restarted.  A ``*_problem``
function returns None when all is well, else what is wrong, in words an
admin can act on.
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from tljh.config.kinds import host_port
from tljh.errors import PortTaken, StartFailed, UnhealthyError, journal_hint
from tljh.layout import PROXY_UNIT
from tljh.system import systemd
from tljh.system.ports import port_holders

#: Journal lines shown when a unit does not come back.
JOURNAL_LINES = 40


def local_address(address: str) -> str:
    """Where to reach a service listening on ``address`` from this machine."""
    return address if address not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"


def _http_get_status(
    host: str, port: int, path: str, timeout: float = 5.0, tls: bool = False
) -> int:
    conn: http.client.HTTPConnection
    if tls:
        # The certificate may not be issued yet (Let's Encrypt) or be for a
        # name other than 127.0.0.1: only reachability is checked here.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def hub_problem(config: Mapping[str, Any]) -> str | None:
    """None when the hub answers through the proxy, else what is wrong."""
    base_url = "/" + str(config.get("base_url", "/")).strip("/")
    path = (base_url.rstrip("/") + "/hub/api").replace("//", "/")
    https = config.get("https") or {}
    if https.get("enabled"):
        # Plain HTTP only redirects to HTTPS then.
        scheme, host, port = "https", local_address(https["address"]), int(https["port"])
    else:
        scheme, host = "http", local_address(config["http"]["address"])
        port = int(config["http"]["port"])
    url = f"{scheme}://{host_port(host, port)}{path}"
    try:
        status = _http_get_status(host, port, path, tls=scheme == "https")
    except (OSError, http.client.HTTPException) as e:
        return f"nothing answers on {url} ({e or type(e).__name__})"
    if status != 200:
        return f"{url} answered HTTP {status}, not 200"
    return None


def proxy_problem(config: Mapping[str, Any]) -> str | None:
    """None when traefik answers its ping and serves HTTP on the http port."""
    api = config.get("traefik_api") or {}
    if api:
        api_host, api_port = local_address(str(api["ip"])), int(api["port"])
        try:
            status = _http_get_status(api_host, api_port, "/ping", timeout=3)
        except (OSError, http.client.HTTPException) as e:
            return f"the proxy does not answer on http://{host_port(api_host, api_port)}/ping ({e})"
        if status != 200:
            return f"the proxy's ping on port {api_port} answered HTTP {status}, not 200"
    host = local_address(config["http"]["address"])
    port = int(config["http"]["port"])
    try:
        # Any HTTP answer will do (404 before the hub has added its route);
        # a port held by another program that does not speak HTTP fails here.
        _http_get_status(host, port, "/", timeout=3)
    except (OSError, http.client.HTTPException) as e:
        return f"the proxy does not serve HTTP on {host_port(host, port)} ({e or type(e).__name__})"
    return None


def public_ports(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The ports the proxy serves users on, with the key that sets each."""
    ports = [("http.port", int(config["http"]["port"]))]
    https = config.get("https") or {}
    if https.get("enabled"):
        ports.append(("https.port", int(https["port"])))
    return ports


def check_proxy_ports(config: Mapping[str, Any]) -> None:
    """Before (re)starting the proxy: its ports are free, or held by the proxy itself.

    Raises :class:`~tljh.errors.PortTaken` naming the process that holds one,
    instead of a proxy that exits with "address already in use".
    """
    proxy_pid = systemd.status(PROXY_UNIT).main_pid
    for key, port in public_ports(config):
        others = [h for h in port_holders(port) if h.pid != proxy_pid]
        if others:
            raise PortTaken(PROXY_UNIT, port, key, ", ".join(str(h) for h in others))


def wait_until(problem: Callable[[], str | None], unit: str, timeout: float) -> None:
    """Poll ``problem`` until it returns None.

    Raises :class:`~tljh.errors.UnhealthyError` (with the end of ``unit``'s
    log) if it still reports a problem after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    last = problem()
    while last is not None:
        if time.monotonic() >= deadline:
            journal = systemd.journal_tail(unit, 25)
            raise UnhealthyError(
                f"{unit} did not become healthy within {timeout:.0f} s: {last}"
                + (f"\nlast lines of its log:\n{journal.rstrip()}" if journal.strip() else ""),
                journal_hint(unit),
            )
        time.sleep(0.5)
        last = problem()


def restart_and_wait(unit: str, problem: Callable[[], str | None], timeout: float) -> None:
    """Restart ``unit`` and wait at most ``timeout`` s until ``problem()`` is None.

    Fails early, without waiting for the deadline, when the new process
    exits (a hub that cannot load its config stops within a second or two;
    systemd's ``Restart=`` would start it again and again).  Raises
    :class:`~tljh.errors.StartFailed`, with what the new process logged.
    """
    before = systemd.status(unit)
    since = time.time()
    systemd.restart(unit)
    deadline = time.monotonic() + timeout
    new_pid = 0
    last = f"{unit} is still restarting"

    def failed(reason: str) -> StartFailed:
        old = [before.invocation_id] if before.invocation_id else []
        journal = systemd.journal_since(unit, since - 1, JOURNAL_LINES, exclude_invocations=old)
        return StartFailed(unit, reason, journal)

    exited = f"exited while starting (it was restarted at {clock(since)})"
    while True:
        st = systemd.status(unit)
        # A process started before our restart (systemd's own restart of a
        # crashing unit, racing with ours) is not the one we wait for.
        ours = bool(st.main_pid) and st.main_pid != before.main_pid
        ours = ours and (not st.started_at or st.started_at >= since - 0.2)
        if new_pid:
            if st.main_pid != new_pid or st.n_restarts > before.n_restarts:
                raise failed(exited)
        elif ours:
            new_pid = st.main_pid
        elif st.n_restarts > before.n_restarts or st.active_state == "failed":
            raise failed(exited)
        if new_pid:
            last = problem() or ""
            if not last:
                return
        if time.monotonic() >= deadline:
            raise failed(f"did not become healthy within {timeout:g} s: {last}")
        time.sleep(0.5)


def clock(t: float) -> str:
    """``t`` (a Unix time) as local HH:MM:SS, the way messages show times."""
    return time.strftime("%H:%M:%S", time.localtime(t))
