"""Traefik's generated files: written from what :mod:`tljh.render.proxy` makes of the config.

Traefik reads them when it starts, so they are brought up to date just before
the proxy restarts; :func:`proxy_files_stale` tells whether it must restart
for them although no proxy setting changed (e.g. after an upgrade of TLJH).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tljh.config.secrets import read_api_password
from tljh.config.snippets import load_extra_static_config
from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.render.proxy import traefik_files
from tljh.system.files import ensure_file


def _proxy_files(layout: Layout, config: Mapping[str, Any]) -> dict[Path, str]:
    password = read_api_password(config, layout)
    if not password:
        raise InstallError(
            f"the proxy's API secret {layout.traefik_api_secret} is missing",
            "re-run the installer (bootstrap.py): it recreates missing secrets",
        )
    return traefik_files(config, layout, password, load_extra_static_config(layout))


def write_proxy_files(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Bring traefik's config files in line with ``config``; True if any changed.

    Raises :class:`~tljh.errors.InstallError` if the proxy's API secret is missing,
    :class:`~tljh.errors.ConfigError` if a ``traefik_config.d`` snippet is not TOML.
    """
    changed = False
    for path, text in _proxy_files(layout, config).items():
        changed |= ensure_file(path, text, mode=0o600)
    return changed


def proxy_files_stale(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Whether traefik's files on disk differ from what ``config`` makes of them.

    Raises :class:`~tljh.errors.InstallError` if the proxy's API secret is missing,
    :class:`~tljh.errors.ConfigError` if a ``traefik_config.d`` snippet is not TOML.
    """
    for path, text in _proxy_files(layout, config).items():
        try:
            if path.read_text(encoding="utf-8") != text:
                return True
        except (FileNotFoundError, UnicodeDecodeError):
            return True
    return False
