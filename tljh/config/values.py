"""Values typed on the command line, and the edits ``tljh-config`` makes.

:func:`parse_value` turns the text an admin typed into the type the schema
expects at that key, so that ``tljh-config add-item users.admin 1234`` keeps the
username as the text ``"1234"`` (upstream turned it into a number, which broke
the hub).

The edit functions (:func:`set_value`, :func:`unset_value`, :func:`add_item`,
:func:`remove_item`) work on any nested mapping, including ruamel's
round-trip maps (so comments survive).  They change ``config`` in place, do no
I/O and return ``config``.  Misuse raises :class:`ConfigError` with a hint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from tljh.config.kinds import describe
from tljh.config.schema import SCHEMA, join_dotted_names, node_at, node_types, plugin_schema
from tljh.errors import ConfigError, KeyNotSetError

Schema = Mapping[str, Mapping[str, Any]]

TYPE_NAMES = ("str", "int", "float", "bool", "null")

_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_NULL = ("null", "~", "none")


def split_key(key: str) -> list[str]:
    """``"a.b.c"`` → ``["a", "b", "c"]``, refusing empty parts; a user or group name
    with dots stays one part (``limits.users.ms.frizzle.memory``, see
    :func:`tljh.config.schema.join_dotted_names`)."""
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise ConfigError(
            f"{key!r} is not a valid key",
            "keys are dot-separated names, e.g. limits.memory or users.admin",
        )
    return join_dotted_names(parts)


def _yamlish(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "~"):
        return None
    if _INT_RE.match(text.strip()):
        return int(text)
    if _FLOAT_RE.match(text.strip()):
        return float(text)
    return text


def _override(key: str, text: str, type_override: str) -> Any:
    low = text.strip().lower()
    if type_override == "str":
        return text
    if type_override == "null":
        return None
    if type_override == "bool":
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(
            f"{key}: {text!r} is not true or false", "use --type bool with true or false"
        )
    if type_override == "int":
        if _INT_RE.match(text.strip()):
            return int(text)
        raise ConfigError(f"{key}: {text!r} is not a whole number", "e.g. --type int 42")
    if type_override == "float":
        if _FLOAT_RE.match(text.strip()):
            return float(text)
        raise ConfigError(f"{key}: {text!r} is not a number", "e.g. --type float 1.5")
    raise ConfigError(f"unknown --type {type_override!r}", f"use one of: {', '.join(TYPE_NAMES)}")


def parse_value(
    key: str,
    text: str,
    type_override: str | None = None,
    extra_schema: Schema | None = None,
) -> Any:
    """Turn command-line ``text`` into the value to store at ``key``.

    The schema decides: text where the schema wants text (a username "1234"
    stays a string), numbers where it wants numbers, true/false/yes/no/on/off
    where it wants a boolean.  For a list key the item type is used (this is
    what ``add-item`` needs).  Keys the schema does not type (free-form
    ``auth.<Class>.<option>``, unknown keys) get YAML-like parsing:
    true/false, null, integers, floats, else text.  Text that does not fit the
    expected type is returned unchanged so that validation reports it with
    the key's own message.  ``type_override`` (``str``, ``int``, ``float``,
    ``bool`` or ``null``) forces a type.
    """
    parts = split_key(key)
    if type_override is not None:
        return _override(key, text, type_override)
    if extra_schema is None and parts[0] not in SCHEMA["properties"]:
        extra_schema = plugin_schema() or None
    node = node_at(parts, extra_schema)
    if node is not None and "array" in node_types(node):
        node = node.get("items")
    types = node_types(node) if node is not None else ["any"]
    if "any" in types:
        return _yamlish(text)
    stripped = text.strip()
    low = stripped.lower()
    if "null" in types and low in _NULL:
        return None
    if "boolean" in types:
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    if "integer" in types and _INT_RE.match(stripped):
        return int(stripped)
    if "number" in types and _FLOAT_RE.match(stripped):
        return int(stripped) if _INT_RE.match(stripped) else float(stripped)
    if "object" in types and low in ("{}",):
        return {}
    return text


def value_for_set(key: str, value: Any, extra_schema: Schema | None = None) -> Any:
    """What ``set KEY VALUE`` stores: ``value``, or ``[value]`` for a named list.

    Upstream's docs add a user to an extra group with ``tljh-config set
    users.extra_user_groups.group1 user1``.  Upstream stores the bare name,
    which its spawner then refuses (it wants a list): every start of a
    server fails.  A single value set on an entry of a map whose entries are
    lists (``users.extra_user_groups.<group>``) becomes a list of that one
    value, which is what the docs meant.  Fixed list keys (``users.admin``)
    are left alone: replacing every admin by one is not what a ``set`` of one
    name should quietly do, and validation says to use ``add-item``.
    """
    if value is None or isinstance(value, (list, Mapping)):
        return value
    parts = split_key(key)
    if extra_schema is None and parts[0] not in SCHEMA["properties"]:
        extra_schema = plugin_schema() or None
    parent = node_at(parts[:-1], extra_schema) if len(parts) > 1 else None
    if parent is None or parts[-1] in parent.get("properties", {}):
        return value
    entry = parent.get("additionalProperties")
    if isinstance(entry, Mapping) and "array" in node_types(entry):
        return [value]
    return value


# --- edits on nested mappings ------------------------------------------------------


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _new_map_like(parent: Any) -> MutableMapping[str, Any]:
    try:
        made = type(parent)()
    except TypeError:
        return {}
    return made if isinstance(made, MutableMapping) else {}


def _walk(config: Any, parts: list[str], create: bool, key: str) -> Any:
    """The mapping that holds ``parts[-1]``; creates missing sections if ``create``."""
    cur = config
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        nxt = cur.get(part) if _is_map(cur) else None
        if nxt is None:
            if not create:
                raise KeyNotSetError(
                    key,
                    f"{key} is not set",
                    "'tljh-config show' lists what is set in the config file",
                )
            nxt = _new_map_like(cur)
            cur[part] = nxt
        elif not _is_map(nxt):
            raise ConfigError(
                f"{here} is a single value ({_show(nxt)}), not a section, so it has no {key}",
                f"run 'tljh-config unset {here}' first if you want {here} to be a section",
            )
        cur = nxt
    return cur


def _show(value: Any) -> str:
    return describe(value)


def get_value(config: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key``; ConfigError if it is not set."""
    parts = split_key(key)
    parent = _walk(config, parts, create=False, key=key)
    if not _is_map(parent) or parts[-1] not in parent:
        raise KeyNotSetError(
            key, f"{key} is not set", "'tljh-config show' lists what is set in the config file"
        )
    return parent[parts[-1]]


def set_value(config: MutableMapping[str, Any], key: str, value: Any) -> MutableMapping[str, Any]:
    """Set dotted ``key`` to ``value``, creating missing sections."""
    parts = split_key(key)
    parent = _walk(config, parts, create=True, key=key)
    parent[parts[-1]] = value
    return config


def unset_value(config: MutableMapping[str, Any], key: str) -> MutableMapping[str, Any]:
    """Remove dotted ``key``; sections left empty by the removal are removed too."""
    parts = split_key(key)
    parent = _walk(config, parts, create=False, key=key)
    if not _is_map(parent) or parts[-1] not in parent:
        raise KeyNotSetError(
            key,
            f"{key} is not set, so there is nothing to unset",
            "'tljh-config show' lists what is set; keys that are not set use their default",
        )
    del parent[parts[-1]]
    # Remove the sections this made empty, innermost first.
    for depth in range(len(parts) - 1, 0, -1):
        holder = config
        for part in parts[: depth - 1]:
            holder = holder[part]
        section = holder[parts[depth - 1]]
        if _is_map(section) and len(section) == 0:
            del holder[parts[depth - 1]]
        else:
            break
    return config


def _list_at(config: MutableMapping[str, Any], key: str, create: bool) -> list[Any]:
    parts = split_key(key)
    parent = _walk(config, parts, create=create, key=key)
    name = parts[-1]
    current = parent.get(name) if _is_map(parent) else None
    if current is None:
        if not create:
            raise KeyNotSetError(
                key,
                f"{key} is not set, so there is nothing to remove",
                "'tljh-config show' lists what is set in the config file",
            )
        current = []
        parent[name] = current
    if not isinstance(current, list):
        raise ConfigError(
            f"{key} is not a list (it is {_show(current)})",
            f"use 'tljh-config set {key} VALUE' for single values",
        )
    return current


def add_item(config: MutableMapping[str, Any], key: str, value: Any) -> MutableMapping[str, Any]:
    """Append ``value`` to the list at ``key`` (created if missing); no duplicates."""
    items = _list_at(config, key, create=True)
    if not any(_same(x, value) for x in items):
        items.append(value)
    return config


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind (the text "1" is not the number 1, True is not 1)."""
    return _kind(a) == _kind(b) and bool(a == b)


def _find(items: list[Any], value: Any) -> int | None:
    for i, item in enumerate(items):
        if _same(item, value):
            return i
    # "1234" typed on the command line should find an unquoted 1234 in the file.
    for i, item in enumerate(items):
        if (
            isinstance(item, (int, float))
            and not isinstance(item, bool)
            and str(item) == str(value)
        ):
            return i
    return None


def contains_item(config: Mapping[str, Any], key: str, value: Any) -> bool:
    """Whether the list at ``key`` already holds ``value`` (same type)."""
    try:
        items = get_value(config, key)
    except ConfigError:
        return False
    return isinstance(items, list) and any(_same(x, value) for x in items)


def remove_item(config: MutableMapping[str, Any], key: str, value: Any) -> MutableMapping[str, Any]:
    """Remove ``value`` from the list at ``key``; ConfigError if it is not there."""
    items = _list_at(config, key, create=False)
    index = _find(items, value)
    if index is None:
        shown = ", ".join(_show(x) for x in items) or "nothing"
        raise ConfigError(
            f"{_show(value)} is not in {key}",
            f"{key} holds: {shown}",
        )
    del items[index]
    return config
