"""The systemd units of the hub and the proxy, as text (pure)."""

from __future__ import annotations

from pathlib import Path

from tljh.layout import PROXY_USER, Layout
from tljh.system.paths import SYSTEM_PATH


def hub_unit(layout: Layout, jupyterhub_config: Path) -> str:
    """``jupyterhub.service``: the hub, run from the hub environment as root.

    Root is needed to create system users and start their systemd units.
    ``--upgrade-db`` lets an upgraded JupyterHub migrate its database at start.
    """
    return f"""\
# Managed by The Littlest JupyterHub; changes are overwritten by the installer.
[Unit]
Description=JupyterHub (The Littlest JupyterHub)
After=network-online.target traefik.service
Wants=network-online.target traefik.service

[Service]
User=root
Restart=always
RestartSec=2
WorkingDirectory={layout.state_dir}
# The hub's database, cookie secret and passwords are for root alone.
UMask=0077
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
Environment=TLJH_INSTALL_PREFIX={layout.prefix}
Environment=PATH={layout.hub_env}/bin:{SYSTEM_PATH}
ExecStart={layout.hub_python} -m jupyterhub -f {jupyterhub_config} --upgrade-db

[Install]
WantedBy=multi-user.target
"""


def traefik_unit(layout: Layout) -> str:
    """``traefik.service``: the proxy, run by systemd so hub restarts keep routes.

    It runs as :data:`~tljh.layout.PROXY_USER`, with only the capability to
    bind ports below 1024.  state/ is replaced in its view by an empty,
    read-only directory holding just traefik's own files (bound in), so the
    hub's database and secrets are out of its sight whatever their modes.
    """
    state = layout.state_dir
    return f"""\
# Managed by The Littlest JupyterHub; changes are overwritten by the installer.
# Add settings in a drop-in (systemctl edit traefik), e.g. Environment= lines.
[Unit]
Description=Traefik proxy (The Littlest JupyterHub)
After=network-online.target
Wants=network-online.target

[Service]
User={PROXY_USER}
Group={PROXY_USER}
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
Restart=always
RestartSec=2
UMask=0077
TemporaryFileSystem={state}:ro
BindReadOnlyPaths={layout.traefik_static_config} {layout.traefik_rules_dir}
BindReadOnlyPaths=-{layout.proxy_certs_dir}
BindPaths=-{layout.acme_file}
WorkingDirectory={state}
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
ExecStart={layout.traefik_bin} --configfile={layout.traefik_static_config}

[Install]
WantedBy=multi-user.target
"""
