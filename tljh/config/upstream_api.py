"""Upstream TLJH's Python API of ``tljh.config``, over our own write path.

Scripts, plugins and test suites written for upstream TLJH call these with
upstream's signatures; :mod:`tljh.config` hands them out (imported only when
one is used).  They keep upstream's meaning -- the four ``*_config_value``
functions change one key of the file at ``config_path`` and do not apply it;
``validate=False`` saves a change validation refuses -- but every write goes
through :func:`tljh.config.store.update_config`, like ``tljh-config``: under
the same lock, validated (unknown keys refused, with a suggestion), written
atomically, root's alone, the previous version kept in the history.

Where upstream's behaviour was a weakness, ours differs, and only there:

* a value in the way of a key (``set a.b`` where ``a`` holds a single value)
  is not silently replaced: ``ValueError``;
* ``add_*`` does not add an item that is already in the list;
* ``parse_value`` is upstream's (``"1234"`` becomes a number); the write
  functions store what the schema expects where that is unambiguous
  (a user name ``1234`` in ``users.admin`` is kept as text);
* ``show_config`` masks secrets, as ``tljh-config show`` does;
* errors: a missing key or item raises ``ValueError`` (as upstream); a change
  validation refuses, or a lock held by another writer, prints the reason
  and what to do, then exits with status 1 (``SystemExit``, as upstream).
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

from tljh.config import UPSTREAM_API
from tljh.config.schema import node_at, node_types
from tljh.config.secrets import masked
from tljh.config.store import (
    config_lock,
    dump_yaml,
    paths_for,
    read_config,
    update_config,
)
from tljh.config.values import (
    add_item,
    remove_item,
    set_value,
    unset_value,
    value_for_set,
)
from tljh.errors import ConfigError, ConfigValidationError, KeyNotSetError, LockedError, TLJHError

# The names are listed once, in the package, which hands them out lazily.
__all__ = list(UPSTREAM_API)

PathLike = str | os.PathLike[str]


def _exit(error: TLJHError) -> NoReturn:
    print(error.render(), file=sys.stderr, flush=True)
    raise SystemExit(1) from error


# --- pure edits: return a changed copy, never change ``config`` --------------------


def _edited(
    config: Mapping[str, Any], edit: Callable[[Any], object], missing: type[Exception]
) -> Any:
    copied = copy.deepcopy(config)
    try:
        edit(copied)
    except KeyNotSetError as e:
        raise missing(e.message) from e
    except ConfigError as e:
        raise ValueError(e.message) from e
    return copied


def set_item_in_config(config: Mapping[str, Any], property_path: str, value: Any) -> Any:
    """A copy of ``config`` with ``property_path`` (dotted) set to ``value``."""
    return _edited(config, lambda c: set_value(c, property_path, value), ValueError)


def unset_item_from_config(config: Mapping[str, Any], property_path: str) -> Any:
    """A copy of ``config`` without ``property_path``; ``ValueError`` if it is not there."""
    return _edited(config, lambda c: unset_value(c, property_path), ValueError)


def add_item_to_config(config: Mapping[str, Any], property_path: str, value: Any) -> Any:
    """A copy of ``config`` with ``value`` appended to the list at ``property_path``."""
    return _edited(config, lambda c: add_item(c, property_path, value), ValueError)


def remove_item_from_config(config: Mapping[str, Any], property_path: str, value: Any) -> Any:
    """A copy of ``config`` without ``value`` in the list at ``property_path``."""
    return _edited(config, lambda c: remove_item(c, property_path, value), ValueError)


# --- the file ------------------------------------------------------------------------


@contextmanager
def config_file_lock(config_path: PathLike, timeout: float = 1) -> Iterator[None]:
    """Hold the lock every writer of ``config_path`` takes (``tljh-config`` too).

    The lock of the installation's own file is in ``state/``, root's alone
    (not upstream's ``config.yaml.lock`` next to it).  If another writer
    keeps it for ``timeout`` seconds, says so and exits with status 1.
    """
    try:
        with config_lock(paths_for(config_path), timeout, owner="a tljh.config script"):
            yield
    except LockedError as e:
        _exit(e)


def get_current_config(config_path: PathLike) -> Any:
    """The config at ``config_path`` (comments kept); ``{}`` if there is no file."""
    return read_config(paths_for(config_path))


def show_config(config_path: PathLike) -> None:
    """Print the config at ``config_path`` as YAML, secrets masked."""
    sys.stdout.write(dump_yaml(masked(get_current_config(config_path), [])))


def _typed(key_path: str, value: Any) -> Any:
    """A whole number where the schema wants text only (a user name) as that text.

    Upstream's callers pass what upstream's ``parse_value`` made of the text
    typed, so a user name ``1234`` arrives as a number; kept as a number it
    would be refused.  Only keys that want text and nothing else are changed.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    node = node_at(key_path)
    if node is not None and "array" in node_types(node):
        node = node.get("items")
    if node is not None and node_types(node) == ["string"]:
        return str(value)
    return value


def _write(
    config_path: PathLike,
    key_path: str,
    edit: Callable[[Any], object],
    validate: bool,
) -> None:
    def change(data: Any) -> None:
        try:
            edit(data)
        except ConfigError as e:  # not set, not in the list, a value in the way
            raise ValueError(e.message) from e

    try:
        result = update_config(paths_for(config_path), change, validate_change=validate)
    except (ConfigValidationError, LockedError) as e:
        _exit(e)
    if result.unvalidated:
        print(
            "warning: saved without validation (validate=False): "
            + "; ".join(str(p) for p in result.unvalidated),
            file=sys.stderr,
        )


def set_config_value(
    config_path: PathLike, key_path: str, value: Any, validate: bool = True
) -> None:
    """Set ``key_path`` to ``value`` in the file at ``config_path`` (not applied)."""
    value = value_for_set(key_path, _typed(key_path, value))
    _write(config_path, key_path, lambda d: set_value(d, key_path, value), validate)


def unset_config_value(config_path: PathLike, key_path: str, validate: bool = True) -> None:
    """Remove ``key_path`` from the file at ``config_path``; ``ValueError`` if not set."""
    _write(config_path, key_path, lambda d: unset_value(d, key_path), validate)


def add_config_value(
    config_path: PathLike, key_path: str, value: Any, validate: bool = True
) -> None:
    """Add ``value`` to the list at ``key_path`` in the file at ``config_path``."""
    value = _typed(key_path, value)
    _write(config_path, key_path, lambda d: add_item(d, key_path, value), validate)


def remove_config_value(
    config_path: PathLike, key_path: str, value: Any, validate: bool = True
) -> None:
    """Remove ``value`` from the list at ``key_path``; ``ValueError`` if it is not there."""
    value = _typed(key_path, value)
    _write(config_path, key_path, lambda d: remove_item(d, key_path, value), validate)


# --- values typed on a command line ------------------------------------------------

_WHOLE = re.compile(r"^\d+$")
_DECIMAL = re.compile(r"^\d+\.\d*$")


def parse_value(value_str: str) -> Any:
    """Upstream's reading of a value typed on the command line.

    ``none`` is None, digits are a whole number, digits with a point a
    float, ``true``/``false`` (any case) a boolean, anything else text.
    ``tljh-config`` itself reads values by the type the key expects
    (:func:`tljh.config.values.parse_value`).
    """
    low = value_str.lower()
    if low == "none":
        return None
    if _WHOLE.match(value_str):
        return int(value_str)
    if _DECIMAL.match(value_str):
        return float(value_str)
    if low in ("true", "false"):
        return low == "true"
    return value_str


# --- the running hub -----------------------------------------------------------------


def check_hub_ready() -> bool:
    """Whether the hub answers through the proxy now; says why not if it does not."""
    # upstream compatibility: probing the hub belongs to tljh.apply, a layer
    # above this one; see the import-linter exception in setup.cfg.
    from tljh.apply.health import hub_problem
    from tljh.config.store import load_checked_config
    from tljh.layout import Layout

    problem = hub_problem(load_checked_config(Layout.from_env()))
    if problem is not None:
        print(f"Hub not ready: {problem}")
    return problem is None
