"""Which memory and CPU limits a user's server gets: the most specific rule wins.

1. ``limits.users.<name>``;
2. ``limits.groups.<group>`` of the hub groups the user is in -- in several,
   the largest value of each (a group raises what its members may use; being
   put into a second group never takes resources away);
3. the general limit: what the spawner is configured with (``limits.memory``,
   ``limits.cpu``, or whatever sets ``Spawner.mem_limit``/``cpu_limit``).

Memory and CPU are decided each on its own: ``limits.users.ada.cpu: 2`` keeps
ada's memory limit from her groups or the general one.  ``None`` is "no limit"
for the general limit and "not set here" for a user or group entry.

Pure: the spawner applies the result at each start, and ``tljh users list``
shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tljh.config.kinds import parse_memory


@dataclass(frozen=True)
class Limits:
    """A memory limit in bytes and a number of CPUs; None: none set."""

    memory: int | None = None
    cpu: float | None = None

    def as_trait(self) -> dict[str, Any]:
        """As a value of the spawner's ``limits_by_group``/``limits_by_user`` traits."""
        return {"memory": self.memory, "cpu": self.cpu}

    @classmethod
    def from_trait(cls, value: Mapping[str, Any]) -> Limits:
        memory, cpu = value.get("memory"), value.get("cpu")
        return cls(
            memory=None if memory is None else int(memory),
            cpu=None if cpu is None else float(cpu),
        )


@dataclass(frozen=True)
class Effective:
    """The limits a server gets, and where each one comes from (for people to read)."""

    memory: int | None
    cpu: float | None
    memory_from: str
    cpu_from: str


def limits_by_name(section: Mapping[str, Any] | None, users: bool = False) -> dict[str, Limits]:
    """``limits.groups`` or (``users``) ``limits.users`` of a validated config, parsed.

    User names are lower-cased, as JupyterHub's logins are (``Ms.Frizzle`` logs
    in as ``ms.frizzle``); group names are kept as they are.
    """
    out = {}
    for name, entry in (section or {}).items():
        name = str(name).lower() if users else name
        entry = entry or {}
        memory, cpu = entry.get("memory"), entry.get("cpu")
        out[str(name)] = Limits(
            memory=None if memory is None else parse_memory(memory),
            cpu=None if cpu is None else float(cpu),
        )
    return out


def _pick(
    key: str,
    name: str,
    groups: Iterable[str],
    general: Limits,
    by_group: Mapping[str, Limits],
    by_user: Mapping[str, Limits],
) -> tuple[Any, str]:
    own = getattr(by_user.get(name, Limits()), key)
    if own is not None:
        return own, f"user {name}"
    best: tuple[Any, str] | None = None
    for group in sorted(set(groups)):
        value = getattr(by_group.get(group, Limits()), key)
        if value is not None and (best is None or value > best[0]):
            best = (value, f"group {group}")
    if best is not None:
        return best
    return getattr(general, key), "general"


def effective_limits(
    name: str,
    groups: Iterable[str],
    general: Limits,
    by_group: Mapping[str, Limits],
    by_user: Mapping[str, Limits],
) -> Effective:
    """The limits of the hub user ``name``, a member of the hub groups ``groups``."""
    groups = list(groups)
    memory, memory_from = _pick("memory", name, groups, general, by_group, by_user)
    cpu, cpu_from = _pick("cpu", name, groups, general, by_group, by_user)
    return Effective(memory, cpu, memory_from, cpu_from)
