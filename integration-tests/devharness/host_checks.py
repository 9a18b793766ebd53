"""Checks on this machine before a container starts: root, the tools, the ports."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from devharness.messages import die

# The container shares the host's network, so these are this machine's ports too.
PORTS = (80, 443, 1001, 8099)  # 1001: tljh.render.hub.HUB_PORT


def require_host() -> None:
    if os.geteuid() != 0:
        die("the harness must run as root (use ./dev, which re-runs itself with sudo)")
    missing = [
        f"{tool} (package {pkg})"
        for tool, pkg in (
            ("systemd-nspawn", "systemd-container"),
            ("debootstrap", "debootstrap"),
            ("nsenter", "util-linux"),
            ("ss", "iproute2"),
        )
        if shutil.which(tool) is None
    ]
    if missing:
        die("missing on this machine: " + ", ".join(missing) + "; ./dev installs them")


def ports_in_use(ports: Sequence[int]) -> list[str]:
    """Lines of `ss -ltnp` for listeners on any of the ports."""
    proc = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False)
    held = []
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        port = fields[3].rsplit(":", 1)[-1]
        if port.isdigit() and int(port) in ports:
            held.append(line)
    return held


def refuse_taken_ports() -> None:
    held = ports_in_use(PORTS)
    if held:
        die(
            "the container shares this machine's network and needs ports "
            + ", ".join(map(str, PORTS))
            + ", but some are taken (ss -ltnp):\n  "
            + "\n  ".join(held)
            + "\nstop what holds them (a container kept with --keep: ./dev clean) and retry"
        )
