"""The spawner: a systemd unit per user server, running as the user's own system account.

Before a server starts, :class:`UserCreatingSpawner` makes sure the hub user
has a system account ``jupyter-<name>`` (see :mod:`tljh.system.usernames`) with a
private home, in the right groups.  ``useradd`` & co. are slow and block, so
they run in a worker thread: the hub keeps serving everybody else meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, ClassVar

from systemdspawner import SystemdSpawner
from traitlets import Bool, Dict, List, Unicode, default

from tljh.hub import plugins
from tljh.layout import Layout
from tljh.system import users
from tljh.system.paths import USER_PATH
from tljh.system.usernames import legacy_system_username, system_username

#: Placeholders TLJH adds to SystemdSpawner's templates: the system user
#: name, and "-<server name>" for a named server ("" for the default one).
SYSTEM_USERNAME = "{SYSTEM_USERNAME}"
SERVER_SUFFIX = "{SERVER_SUFFIX}"

_UNIT_SAFE = re.compile(r"[A-Za-z0-9_.-]+\Z")


def server_suffix(server_name: str) -> str:
    """What a named server adds to its unit name, so units never clash."""
    if not server_name:
        return ""
    if _UNIT_SAFE.match(server_name):
        return "-" + server_name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", server_name)
    digest = hashlib.sha256(server_name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"-{safe}-{digest}"


def path_without(path: str, directories: Iterable[str]) -> str:
    """``path`` (a PATH value) without ``directories`` and empty entries."""
    drop = {os.path.normpath(d) for d in directories}
    return ":".join(p for p in path.split(":") if p and os.path.normpath(p) not in drop)


def _hub_bin_dirs() -> set[str]:
    return {
        os.path.join(sys.prefix, "bin"),
        os.path.dirname(sys.executable),
        str(Layout.from_env().hub_env / "bin"),
    }


class UserCreatingSpawner(SystemdSpawner):
    """SystemdSpawner that creates the hub user's system account first."""

    user_groups = Dict(
        key_trait=Unicode(),
        value_trait=List(Unicode()),
        help="""Extra system groups, each with the hub users that belong to it.

        From ``users.extra_user_groups`` in the TLJH config.  Groups are
        created when missing.
        """,
    ).tag(config=True)

    admin_sudo = Bool(
        True,
        help="""Let hub admins use sudo inside their servers.

        Everybody else's server runs with NoNewPrivileges, so sudo and other
        set-uid programs cannot raise their privileges.
        """,
    ).tag(config=True)

    # One lock per system user, so that two starts of the same user (e.g. a
    # named server and the default one) never race on its account.
    _account_locks: ClassVar[dict[str, asyncio.Lock]] = {}

    @default("disable_user_sudo")
    def _default_disable_user_sudo(self) -> bool:
        # Students' servers run with NoNewPrivileges; sudo_disabled() lifts it
        # for admins.
        return True

    @default("username_template")
    def _default_username_template(self) -> str:
        return SYSTEM_USERNAME

    @default("unit_name_template")
    def _default_unit_name_template(self) -> str:
        return SYSTEM_USERNAME + SERVER_SUFFIX

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the admin configured; start() lowers it for admins only.
        self._configured_disable_user_sudo: bool = bool(self.disable_user_sudo)

    @property
    def system_username(self) -> str:
        """The system account this hub user's servers run as."""
        cached: str | None = getattr(self, "_system_username", None)
        if cached is None:
            name: str = self.user.name
            cached = system_username(name)
            legacy = legacy_system_username(name)
            if legacy != cached and users.user_exists(legacy):
                # An account made by an earlier TLJH release, before names
                # were sanitized: keep using it, it holds the user's files.
                cached = legacy
            self._system_username = cached
        return cached

    def _expand_user_vars(self, string: str) -> str:
        # SystemdSpawner expands {USERNAME} and {USERID} in its templates
        # (unit name, user, paths); add the system user name.
        return string.format(
            USERNAME=self.user.name,
            USERID=self.user.id,
            SYSTEM_USERNAME=self.system_username,
            SERVER_SUFFIX=server_suffix(self.name or ""),
        )

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        # JupyterHub passes no PATH by default (SystemdSpawner would then use
        # Python's minimal os.defpath); if an admin passes the hub's PATH on,
        # the hub environment's tools (its jupyter, pip, traefik) are still
        # not for users.  SystemdSpawner.extra_paths puts the user
        # environment in front of either.
        path = path_without(env.get("PATH", ""), _hub_bin_dirs())
        env["PATH"] = path or USER_PATH
        return env

    def _groups_for_user(self) -> tuple[list[str], list[str]]:
        """(groups the account must be in, groups it must not be in)."""
        member = [users.USERS_GROUP]
        not_member = []
        if self.user.admin:
            member.append(users.ADMINS_GROUP)
        else:
            not_member.append(users.ADMINS_GROUP)
        for group, names in sorted(self.user_groups.items()):
            if self.user.name in names:
                member.append(group)
        return member, not_member

    def _ensure_account(self, system_name: str) -> bool:
        """Blocking: create the account and fix its groups.  True if created."""
        member, not_member = self._groups_for_user()
        for group in member:
            users.ensure_group(group)
        created = users.ensure_user(system_name)
        for group in member:
            users.ensure_user_group(system_name, group)
        for group in not_member:
            users.remove_user_group(system_name, group)
        return created

    async def ensure_account(self) -> str:
        """Make sure the system account exists and is set up; returns its name."""
        system_name = self.system_username
        lock = self._account_locks.setdefault(system_name, asyncio.Lock())
        async with lock:
            created = await asyncio.to_thread(self._ensure_account, system_name)
        if created:
            self.log.info("Created system user %s for %s", system_name, self.user.name)
            await asyncio.to_thread(self._run_new_user_hook, system_name)
        return system_name

    def _run_new_user_hook(self, system_name: str) -> None:
        try:
            plugins.plugin_manager().hook.tljh_new_user_create(username=system_name)
        except Exception:
            # The account exists and works; a failing plugin must not keep
            # the user out, but the admin must hear about it.
            self.log.exception("A plugin failed in tljh_new_user_create(%r)", system_name)

    async def start(self) -> Any:
        await self.ensure_account()
        self.disable_user_sudo = self.sudo_disabled()
        return await super().start()

    def sudo_disabled(self) -> bool:
        """Whether this start runs with NoNewPrivileges (no sudo).

        Admins may sudo (they administer the machine); nobody else can.
        """
        return self._configured_disable_user_sudo and not (self.user.admin and self.admin_sudo)
