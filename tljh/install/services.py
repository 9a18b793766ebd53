"""Install steps for what runs: traefik's config, the systemd units, the services themselves.

The services restart only when something they depend on changed (or they
are not running), and the install only counts when the hub answers.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from importlib import metadata
from pathlib import Path

import tljh.hub.jupyterhub_config
from tljh.apply.health import (
    check_proxy_ports,
    hub_problem,
    proxy_problem,
    restart_and_wait,
    wait_until,
)
from tljh.apply.proxy_files import write_proxy_files
from tljh.apply.snapshot import record_known_good
from tljh.install.context import Context
from tljh.install.packages import DIST_NAME
from tljh.layout import HUB_UNIT, PROXY_UNIT
from tljh.render.units import hub_unit, traefik_unit
from tljh.system import systemd
from tljh.system.files import ensure_file

HUB_START_TIMEOUT = 180.0


def step_proxy_config(ctx: Context) -> list[str]:
    # The proxy's user (tljh-proxy), who reads these files, comes from the
    # "service users" step before this one.
    changes = []
    if write_proxy_files(ctx.layout, ctx.config):
        ctx.proxy_changed = True
        changes.append(f"wrote traefik's files in {ctx.layout.state_dir}")
    return changes


def step_units(ctx: Context) -> list[str]:
    lay = ctx.layout
    hub_config = Path(tljh.hub.jupyterhub_config.__file__)
    changes = []
    if ensure_file(lay.hub_unit_file, hub_unit(lay, hub_config)):
        ctx.hub_changed = True
        changes.append(f"wrote {lay.hub_unit_file}")
    if ensure_file(lay.traefik_unit_file, traefik_unit(lay)):
        ctx.proxy_changed = True
        changes.append(f"wrote {lay.traefik_unit_file}")
    if changes:
        systemd.daemon_reload()
    for unit in (PROXY_UNIT, HUB_UNIT):
        if systemd.enable(unit):
            changes.append(f"enabled {unit}")
    return changes


def step_services(ctx: Context) -> list[str]:
    changes = []
    config = ctx.config
    stop_progress_page()
    fingerprint = hub_env_fingerprint()
    recorded = ctx.layout.state_dir / "hub-env.fingerprint"
    if not recorded.exists() or recorded.read_text().strip() != fingerprint:
        # TLJH or the hub's packages changed (the bootstrap upgrades TLJH
        # before this runs) since the hub last started after an install.
        ctx.hub_changed = True
    for unit, changed, problem in [
        (PROXY_UNIT, ctx.proxy_changed, lambda: proxy_problem(config)),
        (HUB_UNIT, ctx.hub_changed, lambda: hub_problem(config)),
    ]:
        if changed or not systemd.is_active(unit):
            if unit == PROXY_UNIT:
                check_proxy_ports(config)
            restart_and_wait(unit, problem, HUB_START_TIMEOUT)
            changes.append(f"(re)started {unit}")
    # Whatever we did, the install only counts when the hub answers.
    wait_until(lambda: hub_problem(config), HUB_UNIT, HUB_START_TIMEOUT)
    ensure_file(recorded, fingerprint + "\n", mode=0o600)
    if changes:
        # What runs now is what 'tljh-config' rolls back to if a later change fails.
        record_known_good(ctx.layout)
    return changes


def hub_env_fingerprint() -> str:
    """What is installed in the hub environment: every distribution's name and version,
    plus the file hashes TLJH's own install recorded (a reinstall from a changed
    checkout keeps its version)."""
    digest = hashlib.sha256()
    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest.update("\n".join(names).encode())
    try:
        record = metadata.distribution(DIST_NAME).read_text("RECORD") or ""
    except metadata.PackageNotFoundError:
        record = ""
    digest.update(record.encode())
    return digest.hexdigest()


def stop_progress_page() -> None:
    """Stop the bootstrap's progress page so that the proxy can have its port."""
    pid = int(os.environ.pop("TLJH_PROGRESS_PAGE_PID", "0") or 0)
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
    except (ProcessLookupError, ChildProcessError):
        pass
