"""The systemd units the installer writes."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tljh.layout import Layout
from tljh.render.units import hub_unit, traefik_unit


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def test_units_follow_the_prefix() -> None:
    layout = Layout(prefix=Path("/srv/hub-prefix"))
    hub = parse(hub_unit(layout, Path("/x/jupyterhub_config.py")))
    assert hub["Service"]["ExecStart"].startswith("/srv/hub-prefix/hub/bin/python3 -m jupyterhub")
    assert "-f /x/jupyterhub_config.py" in hub["Service"]["ExecStart"]
    assert hub["Service"]["WorkingDirectory"] == "/srv/hub-prefix/state"
    assert hub["Install"]["WantedBy"] == "multi-user.target"
    proxy = parse(traefik_unit(layout))
    assert proxy["Service"]["ExecStart"] == (
        "/srv/hub-prefix/hub/bin/traefik --configfile=/srv/hub-prefix/state/traefik.toml"
    )


def test_hub_unit_keeps_state_private_and_restarts() -> None:
    text = hub_unit(Layout(), Path("/c.py"))
    service = parse(text)["Service"]
    assert service["UMask"] == "0077"
    assert service["Restart"] == "always"
    assert "TLJH_INSTALL_PREFIX=/opt/tljh" in text


def test_proxy_runs_as_its_own_user_seeing_only_its_files() -> None:
    service = parse(traefik_unit(Layout()))["Service"]
    assert service["User"] == "tljh-proxy"
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert service["NoNewPrivileges"] == "yes"
    # state/ is an empty directory in its view, but for traefik's own files.
    assert service["TemporaryFileSystem"] == "/opt/tljh/state:ro"
    bound = " ".join([service["BindReadOnlyPaths"], service["BindPaths"]])
    assert "jupyterhub.sqlite" not in bound and "secret" not in bound
    assert "/opt/tljh/state/acme.json" in service["BindPaths"]
    assert service["ProtectHome"] == "yes"
    assert service["ProtectSystem"] == "strict"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_units_pass_systemd_analyze(tmp_path: Path) -> None:
    for name, text in [
        ("jupyterhub.service", hub_unit(Layout(), Path("/c.py"))),
        ("traefik.service", traefik_unit(Layout())),
    ]:
        f = tmp_path / name
        f.write_text(text)
        proc = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(f)], capture_output=True, text=True
        )
        # Missing executables are expected outside an install; syntax errors are not.
        bad = [
            line
            for line in proc.stderr.splitlines()
            if "Unknown" in line or "Invalid" in line or "Failed to parse" in line
        ]
        assert not bad, bad


def test_hub_unit_cannot_change_the_system_config_or_the_user_environment() -> None:
    layout = Layout(prefix=Path("/srv/p"))
    service = parse(hub_unit(layout, Path("/c.py")))["Service"]
    # /usr read-only; not "strict": plugins' hooks run in the hub and keep files
    # where they like (the test plugin in /var/lib).
    assert service["ProtectSystem"] == "yes"
    assert service["ReadOnlyPaths"].split() == ["/srv/p/config", "/srv/p/user"]
    assert "ReadWritePaths" not in service
    assert service["NoNewPrivileges"] == "yes"


def test_hub_unit_drops_capabilities_it_never_uses() -> None:
    text = hub_unit(Layout(), Path("/c.py"))
    dropped = {
        cap
        for line in text.splitlines()
        if line.startswith("CapabilityBoundingSet=~")
        for cap in line.split("~", 1)[1].split()
    }
    assert {"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"} <= dropped
    # what creating accounts, homes and the culler's process needs, and its port
    assert not dropped & {
        "CAP_NET_BIND_SERVICE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_KILL",
    }
