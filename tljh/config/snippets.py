"""The admin's own traefik settings: ``traefik_config.d/*.toml``.

They are merged, in file name order, over the static configuration TLJH
generates (:func:`tljh.render.proxy.traefik_files`); the admin's values win.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from tljh.errors import ConfigError
from tljh.layout import Layout

if sys.version_info >= (3, 11):
    import tomllib
else:
    # The dev venv runs 3.11+, where tomli is not installed.
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``extra`` (``extra`` wins); returns a new dict."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_extra_static_config(layout: Layout) -> dict[str, Any]:
    """Merge ``layout.traefik_config_d/*.toml`` (in name order) into one dict.

    Raises :class:`ConfigError` naming a file that is not valid TOML.
    """
    merged: dict[str, Any] = {}
    directory = layout.traefik_config_d
    if not directory.is_dir():
        return merged
    for path in sorted(directory.glob("*.toml")):
        try:
            with path.open("rb") as f:
                merged = deep_merge(merged, tomllib.load(f))
        except ValueError as e:  # TOMLDecodeError, or a file that is not UTF-8
            raise ConfigError(
                f"{path} is not valid TOML: {e}",
                "fix or remove the file, then run 'tljh-config reload proxy'",
            ) from e
    return merged
