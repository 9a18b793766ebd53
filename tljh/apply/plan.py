"""What a change touches: pure decisions over snapshots, no file or process access.

A component is ``"hub"`` or ``"proxy"``.  Which ones a change restarts
follows from the schema (each top-level key lists, under ``reload``, the
components that read it) and from which snippet directories changed.
Only data comes from the modules imported here (the :class:`Snapshot` type,
the unit names, the schema, the YAML parser); nothing here reads a file,
runs a command or opens a connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tljh.apply.snapshot import Snapshot
from tljh.config.history import changed_keys
from tljh.config.schema import reload_components, to_plain
from tljh.config.store import parse_yaml
from tljh.errors import ConfigError
from tljh.layout import HUB_UNIT, PROXY_UNIT

COMPONENTS = ("hub", "proxy")
UNITS = {"hub": HUB_UNIT, "proxy": PROXY_UNIT}
#: Restart order: the hub registers its routes with a proxy that must already run.
_ORDER = ("proxy", "hub")
_NAMES = {"hub": "the hub", "proxy": "the proxy"}


def _parsed(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return {}
    try:
        data = to_plain(parse_yaml(raw.decode("utf-8"), "config.yaml"))
    except (ConfigError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def changed_components(old: Snapshot | None, new: Snapshot) -> set[str]:
    """Which components must restart to go from ``old`` to ``new`` (None: unknown, both)."""
    if old is None:
        return {"hub", "proxy"}
    out: set[str] = set()
    before, after = _parsed(old.config), _parsed(new.config)
    if before is None or after is None:
        out |= {"hub", "proxy"}
    else:
        for key in set(before) | set(after):
            if before.get(key) != after.get(key):
                out |= set(reload_components(key))
    if old.hub_snippets != new.hub_snippets:
        out.add("hub")
    if old.proxy_snippets != new.proxy_snippets:
        out.add("proxy")
    return out


def change_reasons(old: Snapshot | None, new: Snapshot) -> dict[str, list[str]]:
    """Why each component must restart to go from ``old`` to ``new``, in words.

    The same decision as :func:`changed_components`, explained: the keys of
    config.yaml that differ and the snippets added, changed or removed.
    """
    if old is None:
        reason = "no configuration has been recorded as working yet"
        return {"hub": [reason], "proxy": [reason]}
    out: dict[str, list[str]] = {}
    before, after = _parsed(old.config), _parsed(new.config)
    if before is None or after is None:
        for component in COMPONENTS:
            out.setdefault(component, []).append("config.yaml cannot be compared")
    else:
        for key in changed_keys(before, after):
            for component in reload_components(key.split(".", 1)[0]):
                out.setdefault(component, []).append(f"{key} changed")
    for component, folder, was, now in (
        ("hub", "jupyterhub_config.d", old.hub_snippets, new.hub_snippets),
        ("proxy", "traefik_config.d", old.proxy_snippets, new.proxy_snippets),
    ):
        for name in sorted(set(was) | set(now)):
            if name not in was:
                out.setdefault(component, []).append(f"{folder}/{name} added")
            elif name not in now:
                out.setdefault(component, []).append(f"{folder}/{name} removed")
            elif was[name] != now[name]:
                out.setdefault(component, []).append(f"{folder}/{name} changed")
    return out


def ordered(components: Iterable[str]) -> list[str]:
    """``components`` once each, in the order they restart."""
    wanted = set(components)
    return [c for c in _ORDER if c in wanted]


def component_names(components: Iterable[str]) -> str:
    """``components`` in words, for messages: "the proxy and the hub"."""
    return " and ".join(_NAMES[c] for c in ordered(components))
