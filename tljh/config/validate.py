"""Checking a configuration against the schema, with messages meant for admins.

Every problem is a :class:`~tljh.errors.Problem`: the dotted key path it is
about, what is wrong and, where we can tell, what to write instead; printed,
it is one line that starts with the key path, and it has a ``kind`` (a value
that cannot be applied, an unknown key, ...).  Unknown keys are always
reported, with a suggestion; whether a problem stops what is being done is
decided in one place, :func:`blocking`: a change (``tljh-config set``/``edit``,
the Python API, ``rollback``) refuses every problem, while the installer and
the hub only warn about unknown keys and go on without them (an upgrade must
not take a running class offline for a key an older release accepted).
Values of a common
kind (memory sizes, ports, addresses, ...) are checked by the parsers of
:mod:`tljh.config.kinds`, which rendering converts them with.

This is a small hand-written validator over :data:`tljh.config.schema.SCHEMA`:
importing jsonschema costs more than a second, which ``tljh-config`` cannot
afford, and our messages can be more specific than a generic validator's.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import replace
from typing import Any, Literal

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

__all__ = [
    "KEY_NAME",
    "RENAMED_KEY",
    "UNKNOWN_KEY",
    "VALUE",
    "Problem",
    "Reader",
    "blocking",
    "check",
    "describe",
    "ignored_keys_warning",
    "key_problem",
    "runnable",
    "split_problems",
    "validate",
]

#: The kinds of :class:`Problem` (``Problem.kind``).
VALUE = "value"
UNKNOWN_KEY = "unknown-key"
RENAMED_KEY = "renamed-key"
KEY_NAME = "key-name"

#: Who reads the config: ``"change"`` -- a change being made (``tljh-config
#: set``/``edit``/``rollback``, the Python API), which can still be corrected;
#: ``"run"`` -- the installer, the hub and ``reload``, which run with the file
#: as it is.
Reader = Literal["change", "run"]

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

    def add_key(self, parts: list[str], text: str, kind: str = UNKNOWN_KEY) -> None:
        problem = Problem(".".join(parts), text, kind=kind, parts=tuple(parts))
        self.problems.append(problem)
        self.key_problems.append(problem)

    def unknown_key(self, parts: list[str], siblings: list[str]) -> None:
        path = ".".join(parts)
        key = parts[-1]
        parent = ".".join(parts[:-1])
        prefix = f"{parent}." if parent else ""
        if path in _RENAMED:
            # Known to us, and ignoring it would change who may log in
            # (users.blacklist): not merely unknown, so it blocks everywhere.
            self.add_key(parts, f"unknown key; it is called {_RENAMED[path]}", RENAMED_KEY)
            return
        close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
        if close:
            self.add_key(parts, f"unknown key; did you mean {prefix}{close[0]}?")
            return
        # Maybe it belongs in another section (e.g. top-level 'memory').
        elsewhere = [p for p in known_paths(self.extra_schema) if p.rsplit(".", 1)[-1] == key]
        if elsewhere:
            self.add_key(parts, f"unknown key; did you mean {' or '.join(elsewhere)}?")
            return
        if siblings:
            self.add_key(parts, f"unknown key; valid keys here: {', '.join(siblings)}")
        else:
            self.add_key(parts, "unknown key")

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
                    [*parts, key],
                    f"unknown key; did you mean {prefix}{same[0]}? (case matters)",
                )
                continue
            if isinstance(extra, Mapping):
                fmt = node.get("keyFormat")
                problem = key_format_problem(fmt, key, path) if fmt else None
                if problem:
                    # A section named like no authenticator class is a key no
                    # one reads (upstream passed it on to nothing); a user or
                    # group name that cannot exist is a value that cannot be applied.
                    kind = UNKNOWN_KEY if fmt == "class_name" else KEY_NAME
                    self.add_key([*parts, key], problem, kind)
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


# --- what stops what: the one rule ------------------------------------------------


def blocking(problem: Problem, reader: Reader) -> bool:
    """Whether ``problem`` stops ``reader``; the one place that decides it.

    A change refuses every problem: the admin is there to correct it, and a
    typo must not be saved.  What runs with the file as it is (the installer,
    the hub, ``reload``) goes on without a key it does not know, warning
    about it: upstream TLJH accepted such keys, and refusing them after an
    upgrade would take a running class offline.  A value that cannot be
    applied (and a key of an older release, which we know the meaning of)
    stops everyone.
    """
    return reader == "change" or problem.kind != UNKNOWN_KEY


def split_problems(
    problems: Iterable[Problem], reader: Reader
) -> tuple[list[Problem], list[Problem]]:
    """``problems`` as (those that stop ``reader``, those it ignores with a warning)."""
    stop: list[Problem] = []
    ignored: list[Problem] = []
    for problem in problems:
        (stop if blocking(problem, reader) else ignored).append(problem)
    return stop, ignored


def check(
    config: Mapping[str, Any] | None,
    extra_schema: Schema | None = None,
    *,
    reader: Reader = "change",
) -> list[Problem]:
    """Raise :class:`ConfigValidationError` listing every problem that stops ``reader``.

    Returns the problems ``reader`` goes on without (unknown keys, for
    ``"run"``); the caller warns about them.
    """
    stop, ignored = split_problems(validate(config, extra_schema), reader)
    if stop:
        raise ConfigValidationError(stop)
    return ignored


def _drop(config: MutableMapping[str, Any], parts: tuple[str, ...]) -> None:
    cur: Any = config
    for part in parts[:-1]:
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    if isinstance(cur, MutableMapping):
        cur.pop(parts[-1], None)


def runnable(
    config: Mapping[str, Any] | None, extra_schema: Schema | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """The config as the installer and the hub run it, and the keys they ignore.

    Raises :class:`ConfigValidationError` for the problems that stop them
    (:func:`blocking`); the keys they go on without are left out of the
    returned (plain) config, so that nothing further down reads them.
    """
    ignored = check(config, extra_schema, reader="run")
    plain = to_plain(config if config is not None else {})
    for problem in ignored:
        _drop(plain, problem.parts or tuple(problem.path.split(".")))
    return plain, ignored


def ignored_keys_warning(where: str, ignored: Iterable[Problem]) -> str:
    """The warning, naming each key, for keys the installer or the hub go on without."""
    lines = [str(p) for p in ignored]
    count = "a key" if len(lines) == 1 else f"{len(lines)} keys"
    return (
        f"warning: {where} has {count} TLJH does not know, ignored:\n  "
        + "\n  ".join(lines)
        + "\nhint: correct or remove "
        + ("it" if len(lines) == 1 else "them")
        + " with 'sudo tljh-config edit' (or 'sudo tljh-config unset KEY')"
    )
