"""The systemd units of the hub and the proxy, as text (pure)."""

from __future__ import annotations

from pathlib import Path

from tljh.layout import PROXY_USER, Layout
from tljh.system.paths import SYSTEM_PATH

#: Capabilities of root the hub's process never needs.
_HUB_NEVER_USES = [
    "CAP_SYS_ADMIN",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_BOOT",
    "CAP_SYS_TIME",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_LINUX_IMMUTABLE",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_SYSLOG",
    "CAP_SYS_CHROOT",
    "CAP_LEASE",
    "CAP_IPC_LOCK",
    "CAP_NET_BROADCAST",
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_SETFCAP",
]
#: Capabilities newer than some supported systemd: on their own line, since
#: systemd ignores a whole line with a name it does not know.
_HUB_NEVER_USES_NEWER = ["CAP_BPF", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE"]


def _capability_lines(dropped: list[str], per_line: int = 6) -> str:
    """``CapabilityBoundingSet=~...`` lines taking ``dropped`` away (lines with
    ``~`` add up: each takes its capabilities away too)."""
    chunks = [dropped[i : i + per_line] for i in range(0, len(dropped), per_line)]
    return "\n".join("CapabilityBoundingSet=~" + " ".join(chunk) for chunk in chunks)


def hub_unit(layout: Layout, jupyterhub_config: Path) -> str:
    """``jupyterhub.service``: the hub, run from the hub environment as root.

    Root is needed to create system users and start their systemd units.
    No ``--upgrade-db``: the installer upgrades the database on purpose, after
    a copy (tljh.install.database); a hub whose packages were changed by hand
    refuses an old schema instead of changing it behind the admin's back.

    The sandbox takes away what the hub's job does not need (see the comments
    in the unit).  A hub that can start units as any user is root in effect,
    so this limits mistakes and the reach of a bug in the hub's process
    itself, not a determined attacker who controls it (see docs/topics/security.md).
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
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
# /usr and /boot read-only, and what the hub only reads: config/ and the
# environment students' code runs from.  Not "strict": plugins' hooks run in
# the hub and may keep files anywhere (/var/lib, /srv, ...).
ProtectSystem=yes
ReadOnlyPaths={layout.config_dir} {layout.user_env}
NoNewPrivileges=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# Root's powers the hub never uses: it makes accounts and files, and asks
# systemd for units; it loads no modules, mounts nothing, traces nobody.
{_capability_lines(_HUB_NEVER_USES)}
{_capability_lines(_HUB_NEVER_USES_NEWER)}
Environment=TLJH_INSTALL_PREFIX={layout.prefix}
Environment=PATH={layout.hub_env}/bin:{SYSTEM_PATH}
ExecStart={layout.hub_python} -m jupyterhub -f {jupyterhub_config}

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
