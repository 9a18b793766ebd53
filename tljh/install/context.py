"""What the install steps share: the options, the layout, and what changed so far."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from tljh.install.options import AdminRequest, InstallOptions
from tljh.layout import Layout
from tljh.system.userenv import UserEnvironment


@dataclass
class Context:
    layout: Layout
    options: InstallOptions
    # What changed, so that only the affected services are restarted.
    hub_changed: bool = False
    proxy_changed: bool = False
    #: The config with defaults, once the config step has validated it.
    config: dict[str, Any] = field(default_factory=dict)
    #: The installed plugins, once the hub packages step has loaded them.
    plugins: pluggy.PluginManager | None = None
    #: Set by the user environment step.
    user_env: UserEnvironment | None = None
    #: The hub packages step upgraded packages this process has already imported
    #: (ruamel.yaml, pluggy, ...): the remaining steps run in a fresh process.
    restart_installer: bool = False
    #: ``--admin`` and ``--admin-password-file``, once read (tljh.install.admins).
    admins: list[AdminRequest] | None = None
    #: The migration record while this install takes over upstream TLJH
    #: (tljh.install.upstream); None otherwise.
    migration: dict[str, Any] | None = None


#: A step looks at the machine, changes what differs, and returns what it changed.
Step = Callable[[Context], list[str]]


def hook_list(ctx: Context, name: str) -> list[str]:
    """The lists a hook's implementations returned, joined, without duplicates, in order."""
    if ctx.plugins is None:
        return []
    results = getattr(ctx.plugins.hook, name)()
    return list(dict.fromkeys(itertools.chain.from_iterable(r or [] for r in results)))
