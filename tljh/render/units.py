"""The systemd units of the hub and the proxy, as text (pure)."""

from __future__ import annotations

from pathlib import Path

from tljh.layout import Layout
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
    """``traefik.service``: the proxy, run by systemd so hub restarts keep routes."""
    return f"""\
# Managed by The Littlest JupyterHub; changes are overwritten by the installer.
[Unit]
Description=Traefik proxy (The Littlest JupyterHub)
After=network-online.target
Wants=network-online.target

[Service]
User=root
Restart=always
RestartSec=2
WorkingDirectory={layout.state_dir}
UMask=0077
PrivateTmp=yes
PrivateDevices=yes
ProtectHome=yes
ProtectSystem=strict
ReadWritePaths={layout.state_dir}
ExecStart={layout.traefik_bin} --configfile={layout.traefik_static_config}

[Install]
WantedBy=multi-user.target
"""
