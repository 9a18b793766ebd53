"""``tljh.configurer``: the upstream-compatible ``load_config`` and ``apply_config``.

Deployments whose own ``jupyterhub_config.py`` predates ``jupyterhub_config.d``
call ``tljh.configurer.load_config()`` and ``tljh.configurer.apply_config(config, c)``.
Both validate the config first, exactly as the hub does, so this path accepts
no value the hub refuses (and, like the hub, warns about unknown keys and goes
on).  The mapping itself is :func:`tljh.render.hub.traitlets_from_config`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tljh.config.schema import with_defaults
from tljh.config.secrets import read_api_password
from tljh.config.store import ConfigFiles, load_checked_config
from tljh.config.validate import ignored_keys_warning, runnable
from tljh.layout import Layout
from tljh.render.hub import apply_traitlets, traitlets_from_config
from tljh.system.machine import total_memory

__all__ = ["apply_config", "load_config"]


def _warn(message: str) -> None:
    # The hub's stderr is its journal: keys it goes on without are named there.
    print(message, file=sys.stderr, flush=True)


def load_config(config_file: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The validated TLJH config with defaults filled in (and the traefik API password).

    Reads ``config.yaml`` of the installation named by ``TLJH_INSTALL_PREFIX``,
    or ``config_file`` when given; a missing file means every default.
    """
    layout = Layout.from_env()
    paths = layout if config_file is None else ConfigFiles.for_file(Path(config_file))
    config = load_checked_config(paths, warn=_warn)
    traefik_api = config.setdefault("traefik_api", {})
    if not traefik_api.get("password"):
        traefik_api["password"] = read_api_password(config, layout)
    return config


def apply_config(config_overrides: Mapping[str, Any], c: Any) -> None:
    """Validate a TLJH config, fill in defaults and apply it to the JupyterHub config ``c``."""
    runs, ignored = runnable(config_overrides)
    if ignored:
        _warn(ignored_keys_warning("the TLJH config", ignored))
    layout = Layout.from_env()
    config = with_defaults(runs)
    apply_traitlets(
        c,
        traitlets_from_config(
            config,
            layout,
            api_password=read_api_password(config, layout),
            machine_memory=total_memory(),
        ),
    )
