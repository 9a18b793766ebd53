"""The spawner: a systemd unit per user server, running as the user's own system account.

Before a server starts, :class:`UserCreatingSpawner` makes sure the hub user
has a system account ``jupyter-<name>`` (see :mod:`tljh.system.usernames`) with a
private home, in the right groups.  ``useradd`` & co. are slow and block, so
they run in a worker thread: the hub keeps serving everybody else meanwhile.

Invariant: a system account is only ever used for the hub user recorded as its
owner (:class:`tljh.system.users.AccountOwners`).  Names are how accounts are
found, never proof of whose they are: see :func:`choose_account`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from systemdspawner import SystemdSpawner
from traitlets import Bool, Dict, List, Set, Unicode, default

from tljh.errors import AccountConflict
from tljh.hub import plugins
from tljh.layout import Layout
from tljh.system import users
from tljh.system.paths import USER_PATH
from tljh.system.usernames import legacy_system_username, looks_hashed, system_username
from tljh.system.users import AccountOwners

#: Placeholders TLJH adds to SystemdSpawner's templates: the system user
#: name, and ":<server name>" for a named server ("" for the default one).
SYSTEM_USERNAME = "{SYSTEM_USERNAME}"
SERVER_SUFFIX = "{SERVER_SUFFIX}"

# A named server's unit is "<system name>:<server>".  systemd allows ':' in
# unit names, and useradd never allows it in a user name (it separates the
# fields of /etc/passwd), so the first ':' splits every unit name in exactly
# one way: "alice" + server "bob" (jupyter-alice:bob) can never be the default
# server of the user "alice-bob" (jupyter-alice-bob).  The default server
# keeps the plain "jupyter-<name>" that upstream TLJH and its docs use.
_SERVER_SEPARATOR = ":"
_SERVER_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_SERVER_HASH = 8
_SERVER_LOOKS_HASHED = re.compile(rf"-[0-9a-f]{{{_SERVER_HASH}}}\Z")


def server_suffix(server_name: str) -> str:
    """What a named server adds to its unit name, so units never clash.

    Different server names always give different suffixes: a name is used
    verbatim only when it is short, in systemd's alphabet and does not end
    like a hashed name; every other name is folded and gets a hash.
    """
    if not server_name:
        return ""
    if _SERVER_SAFE.match(server_name) and not _SERVER_LOOKS_HASHED.search(server_name):
        return _SERVER_SEPARATOR + server_name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", server_name)[:55]
    digest = hashlib.sha256(server_name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_SERVER_SEPARATOR}{safe}-{digest[:_SERVER_HASH]}"


def oauth_client_id(hub_name: str, server_name: str) -> str:
    """The OAuth client of a user's server, unambiguous also for named servers.

    JupyterHub names it ``jupyterhub-user-<quoted user>[-<quoted server>]``, so
    alice's server "bob" and the default server of the user "alice-bob" get the
    same client, and whichever starts second fails ("OAuthClient ... is only
    allowed a single parent").  ``quote()`` always escapes '!' (as %21), so
    "<user>!<server>" splits in one way only; '!' is allowed in the cookie
    names the client id becomes (it is quoted for that reason, JupyterHub
    #1333).  The default server keeps JupyterHub's own id.
    """
    client_id = f"jupyterhub-user-{quote(hub_name)}"
    if server_name:
        client_id += "!" + quote(server_name)
    return client_id


def _refuse(hub_name: str, system_name: str, why: str, what_to_do: str) -> AccountConflict:
    return AccountConflict(
        f"cannot start a server for {hub_name!r}: the system account {system_name} {why}",
        hint=f"ask an admin of this hub; an admin can {what_to_do}, then start the server again",
    )


def choose_account(
    hub_name: str,
    owners: MutableMapping[str, str],
    exists: Callable[[str], bool],
    hub_users: Callable[[], Iterable[str]],
) -> str:
    """The system account of ``hub_name``; records a new or adopted one in ``owners``.

    ``owners`` maps system account -> hub user (the ownership record), ``exists``
    says whether a system account exists, ``hub_users`` lists the hub's users
    (only called when an unrecorded account is found).

    1. An account recorded for ``hub_name`` is its account.
    2. An existing account under the user's upstream (legacy) name is adopted if
       nobody else is recorded for it and nobody else can claim it (below); if it
       is recorded for someone else, it is simply not this user's.
    3. Otherwise the user gets (or adopts) the account under the current rule,
       unless that name is recorded for another hub user.

    Adopting an account that has no record (made by an earlier release or by
    upstream TLJH) is refused when another hub user's current or legacy name is
    the same account name, and when a legacy name ends like a hashed name
    (``-<8 hex>``): such a name is presumed to belong to the user whose
    *current* name it is (``b.s`` -> ``jupyter-b-s-<hash>``), not to the hub user
    ``b-s-<hash>`` whose legacy name it also is.

    Residual risk, by design: an unrecorded account whose rightful owner is not
    (or no longer) a user of this hub can be adopted by the first user whose
    name maps to it, e.g. after the hub database was reset while the accounts
    were kept, or for an upstream 5-hex-digit name someone found a collision
    for.  Every account created or adopted from now on is recorded, so this
    only concerns accounts older than the record.

    Raises :class:`AccountConflict` (shown on the spawn page) when the account
    is, or may be, another hub user's.
    """
    for system_name, owner in sorted(owners.items()):
        if owner == hub_name:
            return system_name
    current = system_username(hub_name)
    legacy = legacy_system_username(hub_name)
    if legacy != current and exists(legacy) and legacy not in owners:
        if looks_hashed(legacy):
            raise _refuse(
                hub_name,
                legacy,
                "exists without an owner record, and its name is also one TLJH gives "
                "to another user name",
                f'record it as this user\'s account if it is (add "{legacy}": '
                f'"{hub_name}" to the JSON object in /opt/tljh/state/system-accounts.json '
                f"as root), or rename it ('usermod -l NEW {legacy}') if it is not",
            )
        _refuse_if_claimed(hub_name, legacy, hub_users, by_legacy_name=True)
        owners[legacy] = hub_name
        return legacy
    if current in owners:
        raise _refuse(
            hub_name,
            current,
            "belongs to another hub user",
            "rename this hub user, or give the account to this user by changing its "
            "entry in /opt/tljh/state/system-accounts.json (as root) if it really is theirs",
        )
    if exists(current):
        _refuse_if_claimed(hub_name, current, hub_users, by_legacy_name=not looks_hashed(current))
    owners[current] = hub_name
    return current


def _refuse_if_claimed(
    hub_name: str,
    system_name: str,
    hub_users: Callable[[], Iterable[str]],
    by_legacy_name: bool,
) -> None:
    """Raise if another hub user's name also maps to the unrecorded ``system_name``."""
    for other in hub_users():
        if other == hub_name:
            continue
        if system_username(other) == system_name or (
            by_legacy_name and legacy_system_username(other) == system_name
        ):
            raise _refuse(
                hub_name,
                system_name,
                "exists without an owner record, and another hub user's name maps to it too",
                f'record the account for its owner (add "{system_name}": "<hub user>" to '
                "the JSON object in /opt/tljh/state/system-accounts.json as root); the other "
                "user then gets an account of their own",
            )


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
        help="""Let the users in :attr:`sudo_users` use sudo inside their servers.

        Everybody else's server runs with NoNewPrivileges, so sudo and other
        set-uid programs cannot raise their privileges.
        """,
    ).tag(config=True)

    sudo_users = Set(
        Unicode(),
        help="""Hub users whose servers may use sudo: ``users.admin`` of the TLJH config.

        Only root decides who is root: the admin flag a hub admin sets on the
        admin page gives rights in the hub, never sudo on the machine.
        """,
    ).tag(config=True)

    account_owners_file = Unicode(
        help="""The record of which hub user owns each system account (root-only JSON).

        Defaults to ``state/system-accounts.json`` in the install prefix.
        """,
    ).tag(config=True)

    @default("account_owners_file")
    def _default_account_owners_file(self) -> str:
        return str(Layout.from_env().account_owners)

    # One lock per hub user, so that two starts of the same user (e.g. a
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
        if self.name:
            # A named server that is already running keeps the client it was
            # started with: JupyterHub reads the id anew at each start.
            self.oauth_client_id = oauth_client_id(self.user.name, self.name)
        # The account ensure_account chose for this start (None before that).
        self._system_username: str | None = None
        # What the admin configured; start() lowers it for admins only.
        self._configured_disable_user_sudo: bool = bool(self.disable_user_sudo)
        # Whether poll() has checked a server started by an earlier hub for sudo.
        self._sudo_checked = False

    @property
    def system_username(self) -> str:
        """The system account this hub user's servers run as.

        Decided (and recorded) by :meth:`ensure_account` when a server starts.
        Before that -- SystemdSpawner names the unit when the spawner is
        built -- it is the recorded account, else the one the current rule
        gives; nothing runs as it until ensure_account has checked it.
        """
        # getattr: SystemdSpawner.__init__ asks for the unit name before our
        # __init__ has set anything.
        chosen: str | None = getattr(self, "_system_username", None)
        if chosen is not None:
            return chosen
        try:
            owners = self._owners().read()
        except AccountConflict:
            owners = {}
        for system_name, owner in sorted(owners.items()):
            if owner == self.user.name:
                return system_name
        return system_username(self.user.name)

    def _owners(self) -> AccountOwners:
        return AccountOwners(Path(self.account_owners_file))

    def _hub_user_names(self) -> list[str]:
        """Every hub user's name, from the hub's database (runs on the event loop)."""
        db = getattr(self.user, "db", None)
        if db is None:
            return []
        # Imported here: the hub's ORM is only there when running in the hub.
        from jupyterhub import orm

        return [name for (name,) in db.query(orm.User.name)]

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
        if self.may_sudo():
            member.append(users.ADMINS_GROUP)
        else:
            not_member.append(users.ADMINS_GROUP)
        for group, names in sorted(self.user_groups.items()):
            if self.user.name in names:
                member.append(group)
        return member, not_member

    def _claim_account(self, hub_users: list[str] | None) -> str:
        """Blocking: choose this user's account under the record's lock, and record it."""
        with self._owners().locked() as owners:

            def listed() -> list[str]:
                if hub_users is None:
                    # Recorded a moment ago, no longer now: someone edited the record.
                    raise AccountConflict(
                        f"the owner record of {self.user.name!r} changed while their server "
                        "was starting",
                        hint="start the server again",
                    )
                return hub_users

            return choose_account(self.user.name, owners, users.user_exists, listed)

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
        """Make sure this user's own system account exists and is set up; returns its name.

        Raises :class:`AccountConflict` when the account this user's name leads
        to is, or may be, another hub user's (see :func:`choose_account`).
        """
        hub_name: str = self.user.name
        lock = self._account_locks.setdefault(hub_name, asyncio.Lock())
        async with lock:
            owners = await asyncio.to_thread(self._owners().read)
            # The database session belongs to the event loop's thread: list the
            # hub's users here, and only when an unrecorded account may need
            # checking against them (once per user, the first time).
            recorded = hub_name in owners.values()
            hub_users = None if recorded else self._hub_user_names()
            system_name = await asyncio.to_thread(self._claim_account, hub_users)
            self._system_username = system_name
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
        self._system_username = None
        await self.ensure_account()
        # SystemdSpawner named the unit when the spawner was built (or from the
        # saved state of an earlier start); name it after the account chosen now.
        self.unit_name = self._expand_user_vars(self.unit_name_template)
        self.disable_user_sudo = self.sudo_disabled()
        self._sudo_checked = True
        return await super().start()

    def may_sudo(self) -> bool:
        """Whether this user's servers may use sudo (they are in ``users.admin``)."""
        return self.admin_sudo and self.user.name in self.sudo_users

    def sudo_disabled(self) -> bool:
        """Whether this start runs with NoNewPrivileges (no sudo).

        Admins may sudo (they administer the machine); nobody else can.
        """
        return self._configured_disable_user_sudo and not self.may_sudo()

    async def poll(self) -> int | None:
        status: int | None = await super().poll()
        # Once per hub start is enough: users.admin changes only with a restart,
        # and servers this hub started already run with the right rights.
        check = not self._sudo_checked
        self._sudo_checked = True
        if status is None and check and not self.may_sudo() and await self._runs_with_sudo():
            # Removed from users.admin while the server ran: its processes keep
            # the admin group they started with, and sudo trusts that group, so
            # taking it away from the account is not enough.  Stop the server;
            # the next start runs without sudo.
            self.log.warning(
                "Stopping %s: %s is no longer an admin, and the server still runs with sudo",
                self.unit_name,
                self.user.name,
            )
            await self.stop()
            await asyncio.to_thread(
                users.remove_user_group, self.system_username, users.ADMINS_GROUP
            )
            return 0
        return status

    async def _runs_with_sudo(self) -> bool:
        """Whether the running unit was started without NoNewPrivileges."""
        proc = await asyncio.create_subprocess_exec(
            "systemctl",
            "show",
            "--property=NoNewPrivileges",
            "--value",
            self.unit_name,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        return out.decode().strip() == "no"
