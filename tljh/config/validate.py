"""Checking a configuration against the schema, with messages meant for admins.

Every problem is a :class:`~tljh.errors.Problem`: the dotted key path it is
about, what is wrong and, where we can tell, what to write instead; printed,
it is one line that starts with the key path.  Unknown keys are errors (a
typo must not be silently ignored), with a suggestion.  Values of a common
kind (memory sizes, ports, addresses, ...) are checked by the parsers of
:mod:`tljh.config.kinds`, which rendering converts them with.

This is a small hand-written validator over :data:`tljh.config.schema.SCHEMA`:
importing jsonschema costs more than a second, which ``tljh-config`` cannot
afford, and our messages can be more specific than a generic validator's.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tljh.config import kinds
from tljh.config.crosschecks import cross_checks
from tljh.config.formats import FORMATS, key_format_problem
from tljh.config.kinds import describe
from tljh.config.schema import (
    SCHEMA,
    known_paths,
    merged_schema,
    node_types,
    plugin_schema,
    to_plain,
    with_defaults,
)
from tljh.errors import ConfigValidationError, Problem

__all__ = ["Problem", "check", "describe", "key_problem", "validate"]

Schema = Mapping[str, Mapping[str, Any]]

#: Keys renamed upstream long ago; people still copy them from old answers.
_RENAMED = {
    "users.whitelist": "users.allowed",
    "users.blacklist": "users.banned",
    "users.admins": "users.admin",
    "users.blocked": "users.banned",
}

_TYPE_PHRASES = {
    "object": "a section (a mapping of keys to values)",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


# --- the walk -------------------------------------------------------------------


class _Walker:
    def __init__(self, root: Mapping[str, Any], extra_schema: Schema | None) -> None:
        self.root = root
        self.extra_schema = extra_schema
        self.problems: list[Problem] = []
        #: The problems with key names (unknown or malformed), not values.
        self.key_problems: list[Problem] = []

    def add(self, path: str, text: str) -> None:
        self.problems.append(Problem(path, text))

    def add_key(self, path: str, text: str) -> None:
        problem = Problem(path, text)
        self.problems.append(problem)
        self.key_problems.append(problem)

    def unknown_key(self, parts: list[str], siblings: list[str]) -> None:
        path = ".".join(parts)
        key = parts[-1]
        parent = ".".join(parts[:-1])
        prefix = f"{parent}." if parent else ""
        if path in _RENAMED:
            self.add_key(path, f"unknown key; it is called {_RENAMED[path]}")
            return
        close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
        if close:
            self.add_key(path, f"unknown key; did you mean {prefix}{close[0]}?")
            return
        # Maybe it belongs in another section (e.g. top-level 'memory').
        elsewhere = [p for p in known_paths(self.extra_schema) if p.rsplit(".", 1)[-1] == key]
        if elsewhere:
            self.add_key(path, f"unknown key; did you mean {' or '.join(elsewhere)}?")
            return
        if siblings:
            self.add_key(path, f"unknown key; valid keys here: {', '.join(siblings)}")
        else:
            self.add_key(path, "unknown key")

    def type_problem(self, node: Mapping[str, Any], value: Any, path: str, vtype: str) -> None:
        types = node_types(node)
        fmt = node.get("format")
        enum = node.get("enum")
        if enum is not None and vtype not in ("object", "array"):
            self.add(path, f"{describe(value)} is not one of {', '.join(map(str, enum))}")
            return
        if "string" in types and vtype in ("integer", "number", "boolean"):
            kind = "true/false" if vtype == "boolean" else "a number"
            if fmt == "username":
                self.add(
                    path,
                    f"{describe(value)} is {kind}, not a username; quote it in the YAML "
                    f"(- '{describe(value)}') or add it with tljh-config add-item, "
                    "which keeps it as text",
                )
                return
            if "integer" not in types and "number" not in types:
                self.add(
                    path,
                    f"{describe(value)} is {kind}, not text; quote it in the YAML "
                    f"('{describe(value)}')",
                )
                return
        if fmt == "memory" and vtype in ("number", "boolean"):
            self.add(path, kinds.memory_problem(value) or f"{describe(value)} is not a memory size")
            return
        if "array" in types and vtype == "string":
            self.add(
                path,
                f"{describe(value)} is not a list; add items with "
                f"'tljh-config add-item {path} {value}'",
            )
            return
        if "object" in types and vtype != "object":
            self.add(path, f"{describe(value)} is not a section; it holds keys, e.g. {path}.KEY")
            return
        expect = node.get("expect") or " or ".join(
            _TYPE_PHRASES.get(t, t) for t in types if t != "null"
        )
        if vtype == "number" and "integer" in types:
            self.add(path, f"{describe(value)} is not a whole number; expected {expect}")
            return
        self.add(path, f"{describe(value)} is not {expect}")

    def check(self, node: Mapping[str, Any], value: Any, parts: list[str]) -> None:
        types = node_types(node)
        path = ".".join(parts)
        if "any" in types:
            return
        vtype = _value_type(value)
        if vtype == "null":
            if "null" in types or "array" in types or "object" in types:
                return  # an empty section or list: the defaults apply
            expect = node.get("expect") or " or ".join(_TYPE_PHRASES.get(t, t) for t in types)
            self.add(path, f"is empty (null); give {expect} or remove the key")
            return
        ok = vtype in types or (vtype == "integer" and "number" in types)
        if not ok:
            self.type_problem(node, value, path, vtype)
            return
        if vtype == "object":
            self.check_object(node, value, parts)
        elif vtype == "array":
            items = node.get("items")
            if items is not None:
                for i, item in enumerate(value):
                    start = len(self.problems)
                    self.check(items, item, parts)
                    self.problems[start:] = [
                        p if p.item is not None else replace(p, item=i)
                        for p in self.problems[start:]
                    ]
        else:
            self.check_scalar(node, value, path)

    def check_object(
        self, node: Mapping[str, Any], value: Mapping[Any, Any], parts: list[str]
    ) -> None:
        props: Mapping[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", False)
        path = ".".join(parts)
        for key, child in value.items():
            if not isinstance(key, str):
                self.add(
                    path,
                    f"key {describe(key)} is not text; quote it in the YAML ('{describe(key)}':)",
                )
                continue
            if key in props:
                self.check(props[key], child, [*parts, key])
                continue
            same = [p for p in props if p.lower() == key.lower()]
            if same:
                prefix = f"{path}." if path else ""
                self.add_key(
                    ".".join([*parts, key]),
                    f"unknown key; did you mean {prefix}{same[0]}? (case matters)",
                )
                continue
            if isinstance(extra, Mapping):
                fmt = node.get("keyFormat")
                problem = key_format_problem(fmt, key, path) if fmt else None
                if problem:
                    self.add_key(".".join([*parts, key]), problem)
                    continue
                self.check(extra, child, [*parts, key])
                continue
            self.unknown_key([*parts, key], list(props))

    def check_scalar(self, node: Mapping[str, Any], value: Any, path: str) -> None:
        enum = node.get("enum")
        if enum is not None and value not in enum:
            close = difflib.get_close_matches(str(value), [str(e) for e in enum], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.add(
                path,
                f"{describe(value)} is not one of {', '.join(map(str, enum))}{hint}",
            )
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            expect = node.get("expect")
            lo, hi, gt = node.get("minimum"), node.get("maximum"), node.get("exclusiveMinimum")
            if gt is not None and not value > gt:
                self.add(path, f"{describe(value)} is too small; expected {expect or f'> {gt}'}")
                return
            if lo is not None and value < lo:
                self.add(path, f"{describe(value)} is too small; expected {expect or f'>= {lo}'}")
                return
            if hi is not None and value > hi:
                self.add(path, f"{describe(value)} is too large; expected {expect or f'<= {hi}'}")
                return
        fmt = node.get("format")
        if fmt in FORMATS:
            problem = FORMATS[fmt](value)
            if problem:
                self.add(path, problem)


def validate(
    config: Mapping[str, Any] | None,
    extra_schema: Schema | None = None,
    *,
    cross: bool = True,
) -> list[Problem]:
    """Every problem in ``config`` (empty if valid); ``str()`` of each is one line.

    With ``cross=False`` only each key's own value is checked, not the rules
    across keys (:mod:`tljh.config.crosschecks`): a change made one key at a
    time (upstream's HTTPS how-to turns HTTPS on before it names a domain)
    passes through states that cannot run yet, and is checked whole when it
    is applied.

    ``extra_schema`` maps top-level keys that plugins add to schema nodes (see
    :mod:`tljh.config.schema`).  Without it, the keys installed plugins declare
    (:func:`~tljh.config.schema.plugin_schema`) are used when the config has
    top-level keys the core schema does not know.
    """
    plain = to_plain(config if config is not None else {})
    if not isinstance(plain, Mapping):
        return [
            Problem(
                "",
                f"the config must be a mapping of keys to values, not {describe(plain)} "
                "(e.g. 'users:' at the start of a line)",
            )
        ]
    if extra_schema is None and any(k not in SCHEMA["properties"] for k in plain):
        extra_schema = plugin_schema() or None
    root = merged_schema(extra_schema)
    walker = _Walker(root, extra_schema)
    walker.check_object(root, plain, [])
    if cross:
        cross_checks(with_defaults(plain, extra_schema), walker.problems)
    return walker.problems


def key_problem(key: str, extra_schema: Schema | None = None) -> Problem | None:
    """Why dotted ``key`` cannot exist in a config (unknown key, with a suggestion), or None."""
    parts = key.split(".")
    if extra_schema is None and parts[0] not in SCHEMA["properties"]:
        extra_schema = plugin_schema() or None
    probe: dict[str, Any] = {}
    cur = probe
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = None
    walker = _Walker(merged_schema(extra_schema), extra_schema)
    walker.check_object(walker.root, probe, [])
    return walker.key_problems[0] if walker.key_problems else None


def check(config: Mapping[str, Any] | None, extra_schema: Schema | None = None) -> None:
    """Raise :class:`ConfigValidationError` listing every problem, if there is any."""
    problems = validate(config, extra_schema)
    if problems:
        raise ConfigValidationError(problems)
