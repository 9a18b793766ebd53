"""Applying the config to the running hub and proxy, with bounded waits.

Nothing here waits forever: every restart is followed by a health check with a
deadline, and a failure says why, with the unit's last journal lines.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tljh.errors import TLJHError, UnhealthyError
from tljh.layout import Layout
from tljh.system import systemd
from tljh.system.files import ensure_file

HUB_UNIT = "jupyterhub.service"
PROXY_UNIT = "traefik.service"
COMPONENTS = ("hub", "proxy")


def _loaded_config(layout: Layout) -> dict[str, Any]:
    from tljh.config.schema import with_defaults
    from tljh.config.store import load_config
    from tljh.config.validate import check

    raw = load_config(layout)
    check(raw)
    return with_defaults(raw)


def _local_address(address: str) -> str:
    return address if address not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"


def _http_get_status(host: str, port: int, path: str, timeout: float = 5.0) -> int:
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
    host = _local_address(config["http"]["address"])
    port = int(config["http"]["port"])
    try:
        status = _http_get_status(host, port, path)
    except OSError as e:
        return f"nothing answers on http://{host}:{port}{path} ({e})"
    if status != 200:
        return f"http://{host}:{port}{path} answered HTTP {status}, not 200"
    return None


def proxy_problem(config: Mapping[str, Any]) -> str | None:
    """None when traefik accepts connections on the http port, else what is wrong."""
    host = _local_address(config["http"]["address"])
    port = int(config["http"]["port"])
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as e:
        return f"the proxy does not accept connections on {host}:{port} ({e})"


def wait_until(problem: Callable[[], str | None], unit: str, timeout: float) -> None:
    """Poll ``problem`` until it returns None; raise UnhealthyError at the deadline."""
    deadline = time.monotonic() + timeout
    last = problem()
    while last is not None:
        if time.monotonic() >= deadline:
            journal = systemd.journal_tail(unit, 25)
            raise UnhealthyError(
                f"{unit} did not become healthy within {timeout:.0f} s: {last}"
                + (f"\nlast lines of its log:\n{journal.rstrip()}" if journal.strip() else ""),
                f"see 'sudo journalctl -u {unit} -n 100' for the whole story; "
                "fix the cause and run 'sudo tljh-config reload'",
            )
        time.sleep(0.5)
        last = problem()


def write_proxy_files(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Bring traefik's config files in line with ``config``; True if any changed."""
    from tljh.traefik import load_extra_static_config, read_api_password, traefik_files

    password = read_api_password(config, layout)
    if not password:
        raise TLJHError(
            f"the proxy's API secret {layout.traefik_api_secret} is missing",
            "re-run the installer (bootstrap.py): it recreates missing secrets",
        )
    files = traefik_files(config, layout, password, load_extra_static_config(layout))
    changed = False
    for path, text in files.items():
        changed |= ensure_file(path, text, mode=0o600)
    return changed


def reload(layout: Layout, components: Sequence[str], timeout: float = 60.0) -> None:
    """Restart the named components with the current config and wait until healthy."""
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise TLJHError(
            f"unknown component {unknown[0]!r}", "choose 'hub' or 'proxy' (or nothing: the hub)"
        )
    config = _loaded_config(layout)
    if "proxy" in components:
        write_proxy_files(layout, config)
        restart_and_wait(PROXY_UNIT, lambda: proxy_problem(config), timeout)
    if "hub" in components:
        restart_and_wait(HUB_UNIT, lambda: hub_problem(config), timeout)


def restart_and_wait(unit: str, problem: Callable[[], str | None], timeout: float) -> None:
    old_pid = systemd.main_pid(unit)
    systemd.restart(unit)

    def restarted_problem() -> str | None:
        # Until the old process is gone, a healthy answer may still come from it.
        pid = systemd.main_pid(unit)
        if old_pid and pid in (0, old_pid):
            return f"{unit} is still restarting"
        return problem()

    wait_until(restarted_problem, unit, timeout)
