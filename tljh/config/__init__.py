"""The TLJH configuration: schema, validation, values, storage and history.

Submodules:

* :mod:`tljh.config.schema`   -- the keys as data, ``DEFAULTS``, ``with_defaults``
* :mod:`tljh.config.kinds`    -- one parser per kind of value (memory, port, IP, ...)
* :mod:`tljh.config.validate` -- ``validate`` (list of ``Problem``) and ``check``
* :mod:`tljh.config.formats`  -- grammars that one key alone uses
* :mod:`tljh.config.crosschecks` -- rules across keys, HTTPS certificate files
* :mod:`tljh.config.values`   -- ``parse_value`` and the edits (set, unset, ...)
* :mod:`tljh.config.store`    -- load/save (round-trip, atomic, locked)
* :mod:`tljh.config.history`  -- earlier versions of the file: keep, list, compare
* :mod:`tljh.config.secrets`  -- masking secrets; the proxy's API password
* :mod:`tljh.config.snippets` -- the admin's ``traefik_config.d/*.toml``
* :mod:`tljh.config.edit`     -- ``tljh-config edit``: the visudo-style edit loop

The ``tljh-config`` command is :mod:`tljh.cli.config`.

Applying a config (restart, health checks, rollback) is
:func:`tljh.apply.transaction.apply_changes`.

This package also keeps the names that published upstream TLJH plugins and
scripts use from ``tljh.config``: the path constants ``INSTALL_PREFIX``,
``HUB_ENV_PREFIX``, ``USER_ENV_PREFIX``, ``STATE_DIR``, ``CONFIG_DIR`` and
``CONFIG_FILE`` (strings, computed on access from ``TLJH_INSTALL_PREFIX``),
:func:`reload_component`, :func:`main` (``tljh-config``; also
``python3 -m tljh.config``), and upstream's functions (``set_config_value``,
``add_config_value``, ``get_current_config``, ``parse_value``, ...), which
live in :mod:`tljh.config.upstream_api`.  Importing this package is cheap:
nothing heavy is imported until a name is used.
"""

from __future__ import annotations

from typing import Any

from tljh.errors import ConfigError
from tljh.layout import Layout

#: Upstream's functions, in :mod:`tljh.config.upstream_api` (imported on first use).
UPSTREAM_API = (
    "add_config_value",
    "add_item_to_config",
    "check_hub_ready",
    "config_file_lock",
    "get_current_config",
    "parse_value",
    "remove_config_value",
    "remove_item_from_config",
    "set_config_value",
    "set_item_in_config",
    "show_config",
    "unset_config_value",
    "unset_item_from_config",
)

__all__ = [
    "CONFIG_DIR",
    "CONFIG_FILE",
    "HUB_ENV_PREFIX",
    "INSTALL_PREFIX",
    "STATE_DIR",
    "USER_ENV_PREFIX",
    "main",
    "reload_component",
    *UPSTREAM_API,
]

_PATH_ATTRS = {
    "INSTALL_PREFIX": "prefix",
    "HUB_ENV_PREFIX": "hub_env",
    "USER_ENV_PREFIX": "user_env",
    "STATE_DIR": "state_dir",
    "CONFIG_DIR": "config_dir",
    "CONFIG_FILE": "config_file",
}


def __getattr__(name: str) -> Any:
    if name in UPSTREAM_API:
        from tljh.config import upstream_api

        return getattr(upstream_api, name)
    attr = _PATH_ATTRS.get(name)
    if attr is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return str(getattr(Layout.from_env(), attr))


def __dir__() -> list[str]:
    return sorted([*globals(), *_PATH_ATTRS, *UPSTREAM_API])


def main(argv: list[str] | None = None) -> int:
    """``tljh-config`` itself: upstream's entry point was ``tljh.config:main``."""
    # upstream compatibility (scripts run 'python3 -m tljh.config ...'): the
    # command line is tljh.cli's, above this layer; imported only when called.
    from tljh.cli.config import main as cli_main

    return cli_main(argv)


def reload_component(component: str) -> None:
    """Restart ``"hub"`` or ``"proxy"`` and wait until it is ready (upstream API).

    Raises :class:`~tljh.errors.UnhealthyError` if it does not come back in time.
    """
    if component not in ("hub", "proxy"):
        raise ConfigError(f"cannot reload {component!r}", "the components are 'hub' and 'proxy'")
    # upstream compatibility: plugins call tljh.config.reload_component, but restarting
    # belongs to tljh.apply, a layer above this one; this is the one import that goes up,
    # and it stays inside the function: importing tljh.config stays cheap and acyclic.
    from tljh.apply.transaction import reload

    reload(Layout.from_env(), [component])
