"""Load the hub's configuration the way the hub will, before restarting it.

Like ``nginx -t``: :func:`check_hub_config` runs
``python -m tljh.hub.config_check`` with the hub's interpreter, working
directory and environment, so a raising ``jupyterhub_config.d`` snippet, an
authenticator that does not import or a value JupyterHub refuses is found
while the running hub is untouched.  The restart with health checks and
rollback stays the last line of defence for what only shows at start (a
port in use, a database that does not open).

Traefik has no such check (its command line offers ``healthcheck`` and
``version`` only); its static file is generated from the validated config.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tljh.errors import ConfigRefused
from tljh.layout import Layout
from tljh.system.paths import SYSTEM_PATH

#: Loading the hub's configuration imports JupyterHub and the plugins: ~1 s.
CHECK_TIMEOUT = 60.0


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.rstrip().splitlines())


def check_hub_config(layout: Layout, timeout: float = CHECK_TIMEOUT) -> None:
    """Refuse a configuration the hub would not start with.

    Raises :class:`~tljh.errors.ConfigRefused` with what the check printed.
    """
    # The hub's own interpreter where it is installed; this one otherwise (tests).
    python = layout.hub_python if layout.hub_python.exists() else sys.executable
    env = {
        "TLJH_INSTALL_PREFIX": str(layout.prefix),
        "PATH": f"{layout.hub_env}/bin:{SYSTEM_PATH}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
    }
    cwd = layout.state_dir if layout.state_dir.is_dir() else None
    try:
        proc = subprocess.run(
            [str(python), "-m", "tljh.hub.config_check"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise ConfigRefused(
            f"loading the hub's configuration took more than {timeout:g} s, so the hub "
            "was not restarted",
            "a file in jupyterhub_config.d/ or a plugin may wait on something (the network, "
            "a lock); fix it, then 'sudo tljh-config reload'",
        ) from None
    if proc.returncode != 0:
        raise ConfigRefused(
            "the hub would not start with this configuration:\n" + _indent(proc.stdout),
            "fix what is named above ('sudo tljh-config edit' for config.yaml, or the file "
            f"in {layout.jupyterhub_config_d}), then 'sudo tljh-config reload'",
        )
