"""The spawner: a systemd unit per user server, running as the user's own system account.

Before a server starts, :class:`UserCreatingSpawner` makes sure the hub user
has a system account ``jupyter-<name>`` (see :mod:`tljh.system.usernames`) with a
private home, in the right groups.  ``useradd`` & co. are slow and block, so
they run in a worker thread: the hub keeps serving everybody else meanwhile.

Invariant: a system account is only ever used for the hub user recorded as its
owner; the rules are in :mod:`tljh.hub.accounts`.

Each server's unit is sandboxed (:mod:`tljh.render.user_units`), and a server
that dies while it starts fails the spawn at once, with its own last log
lines (:mod:`tljh.hub.server_start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, ClassVar

from systemdspawner import SystemdSpawner
from systemdspawner import systemd as systemdspawner_systemd
from traitlets import Bool, Dict, Int, Integer, List, Set, Unicode, default

from tljh.errors import AccountConflict, ServerStartFailed
from tljh.hub import plugins
from tljh.hub.accounts import choose_account, oauth_client_id, server_suffix
from tljh.hub.admission import StartQueue, Ticket, default_slots, waiting_message
from tljh.hub.server_start import (
    Outcome,
    connect_host,
    pid_alive,
    runnable,
    wait_until_listening,
)
from tljh.layout import Layout
from tljh.render.limits import Effective, Limits, effective_limits
from tljh.render.user_units import DEFAULT_TASKS_MAX, server_properties
from tljh.system import ports, systemd, users
from tljh.system.paths import USER_PATH
from tljh.system.usernames import system_username
from tljh.system.users import AccountOwners, recorded_account

#: Placeholders TLJH adds to SystemdSpawner's templates: the system user
#: name, and ":<server name>" for a named server ("" for the default one).
SYSTEM_USERNAME = "{SYSTEM_USERNAME}"
SERVER_SUFFIX = "{SERVER_SUFFIX}"


def same_url(a: str, b: str) -> bool:
    """Whether two URLs name the same place (a trailing slash aside)."""
    return a.rstrip("/") == b.rstrip("/")


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

    limits_by_group = Dict(
        key_trait=Unicode(),
        value_trait=Dict(),
        help="""Memory (bytes) and CPU limits of hub groups' members: ``limits.groups``.

        ``{"instructors": {"memory": 4294967296, "cpu": 2.0}}``; a missing or None
        value keeps the general limit.  See :mod:`tljh.render.limits`.
        """,
    ).tag(config=True)

    limits_by_user = Dict(
        key_trait=Unicode(),
        value_trait=Dict(),
        help="""Memory (bytes) and CPU limits of single hub users: ``limits.users``.

        They win over :attr:`limits_by_group` and the general limits.
        """,
    ).tag(config=True)

    account_owners_file = Unicode(
        help="""The record of which hub user owns each system account (root-only JSON).

        Defaults to ``state/system-accounts.json`` in the install prefix.
        """,
    ).tag(config=True)

    tasks_max = Int(
        DEFAULT_TASKS_MAX,
        help="""The most processes and threads one server may have (systemd's TasksMax).

        A fork bomb stops there instead of filling the machine's process table.
        """,
    ).tag(config=True)

    @default("account_owners_file")
    def _default_account_owners_file(self) -> str:
        return str(Layout.from_env().account_owners)

    start_slots = Integer(
        help="""How many servers may be starting at the same time; later starts wait in line.

        A server start is CPU-bound for a few seconds: thirty at once on two
        cores each get a fifteenth of a core, and none is ready in time.  In
        line, each waiting student's spawn page says how many starts are ahead.
        Defaults to the number of cores; 0 starts everything at once.
        """,
    ).tag(config=True)

    @default("start_slots")
    def _default_start_slots(self) -> int:
        return default_slots()

    @default("start_timeout")
    def _default_start_timeout(self) -> int:
        # The whole start, waiting in line included: the 31st of a class on two
        # cores waits about a minute, which must not count as a failure.
        return 600

    @default("http_timeout")
    def _default_http_timeout(self) -> int:
        # Counted from when the start got its slot, so only a server that is
        # itself slow uses it up.
        return 60

    # One line for the whole hub process (one event loop).
    _start_queue: ClassVar[StartQueue | None] = None

    # One lock per hub user, so that two starts of the same user (e.g. a
    # named server and the default one) never race on its account.
    _account_locks: ClassVar[dict[str, asyncio.Lock]] = {}

    # SystemdSpawner's trait, for the type checker (systemdspawner has no types).
    disable_user_sudo: bool

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
        # Whether poll() has checked a server started by an earlier hub (its sudo,
        # and the hub address it asks); start() marks a server this hub starts as checked.
        self._sudo_checked = False
        # The general limits; each start sets its own on top of them.
        self._general_limits = Limits(memory=self.mem_limit, cpu=self.cpu_limit)
        # This start's place in line, while it has one; and whether it got past the line.
        self._ticket: Ticket | None = None
        self._admitted = False
        # What the admin configured; start() puts the sandbox underneath.
        self._configured_extra_properties: dict[str, Any] = dict(self.unit_extra_properties)
        # True while SystemdSpawner.start waits for the unit to become active.
        self._unit_starting = False

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
        return recorded_account(owners, self.user.name) or system_username(self.user.name)

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

            return choose_account(
                self.user.name, owners, users.user_exists, listed, self.account_owners_file
            )

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
        to is, or may be, another hub user's (see :func:`tljh.hub.accounts.choose_account`).
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
        self._admitted = False
        # Account creation does not need a slot: it happens while the user waits in line.
        await self.ensure_account()
        # SystemdSpawner named the unit when the spawner was built (or from the
        # saved state of an earlier start); name it after the account chosen now.
        self.unit_name = self._expand_user_vars(self.unit_name_template)
        self.disable_user_sudo = self.sudo_disabled()
        self._sudo_checked = True
        self.apply_limits()
        self.unit_extra_properties = self.unit_properties()
        async with self._start_slot():
            self._unit_starting = True
            try:
                started = await super().start()
            finally:
                self._unit_starting = False
            if started is None:
                raise await self.start_failure("did not start")
            # The slot is kept until the server answers: that is the costly part.
            await self.wait_until_up(*started)
            return started

    def start_queue(self) -> StartQueue:
        """The hub's one line of starts, made on first use with :attr:`start_slots`."""
        cls = UserCreatingSpawner
        if cls._start_queue is None:
            cls._start_queue = StartQueue(self.start_slots)
        return cls._start_queue

    @contextlib.asynccontextmanager
    async def _start_slot(self) -> AsyncIterator[None]:
        """Hold one of the hub's start slots, waiting in line for it if none is free."""
        queue = self.start_queue()
        ticket = queue.enter(self._log_name)
        self._ticket = ticket
        try:
            if not ticket.admitted.is_set():
                self.log.info(
                    "%s waits for a start slot (%d starting, %d ahead)",
                    self._log_name,
                    queue.running,
                    queue.ahead(ticket),
                )
            await queue.wait(ticket)
            self._admitted = True
            yield
        finally:
            self._ticket = None
            queue.leave(ticket)

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        async for message in self._waiting_messages():
            yield {"progress": 10, "message": message}
        yield {"progress": 50, "message": "Starting your server..."}

    async def _waiting_messages(self) -> AsyncIterator[str]:
        """While this start waits in line: how many are ahead, each time that changes."""
        queue = self.start_queue()
        shown: int | None = None
        while self._spawn_pending and not self._admitted:
            ticket = self._ticket
            if ticket is not None and not ticket.admitted.is_set():
                ahead = queue.ahead(ticket)
                if ahead != shown:
                    shown = ahead
                    yield waiting_message(ahead)
            # The account is created before the start joins the line: look
            # again every second until then, and at every move of the line.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(queue.changed(), timeout=1)

    def effective_limits(self) -> Effective:
        """The limits this start gets: the user's own, else their groups', else the general."""
        return effective_limits(
            self.user.name,
            [group.name for group in self.user.groups],
            self._general_limits,
            {k: Limits.from_trait(v) for k, v in self.limits_by_group.items()},
            {k: Limits.from_trait(v) for k, v in self.limits_by_user.items()},
        )

    def apply_limits(self) -> Effective:
        """Set this start's limits (:meth:`effective_limits`) for SystemdSpawner to use."""
        limits = self.effective_limits()
        self.mem_limit, self.cpu_limit = limits.memory, limits.cpu
        return limits

    def unit_properties(self) -> dict[str, Any]:
        """The sandbox and limits of this start's unit; the admin's
        ``SystemdSpawner.unit_extra_properties`` win over ours."""
        ours = server_properties(
            may_sudo=not self.disable_user_sudo,
            systemd_version=systemdspawner_systemd.get_systemd_version(),
            tasks_max=self.tasks_max,
        )
        return {**ours, **self._configured_extra_properties}

    async def wait_until_up(self, ip: str, port: int) -> None:
        """Return when the server accepts connections; raise :class:`ServerStartFailed`
        as soon as its process is gone, or after ``http_timeout``."""
        unit = await asyncio.to_thread(systemd.status, self.unit_name)
        if unit.active_state != "active" or not unit.main_pid:
            raise await self.start_failure("stopped before it answered")
        outcome = await wait_until_listening(
            connect_host(ip),
            port,
            lambda: pid_alive(unit.main_pid),
            timeout=self.http_timeout,
        )
        if outcome is Outcome.EXITED:
            raise await self.start_failure("stopped before it answered")
        if outcome is Outcome.TIMEOUT:
            raise await self.start_failure(f"did not answer within {self.http_timeout} seconds")
        # Any account may bind a free port: another student's program that got
        # there first would be answering as this user's server.
        owners = await asyncio.to_thread(ports.port_owners, port)
        strangers = owners - {pwd.getpwnam(self.system_username).pw_uid}
        if strangers:
            names = ", ".join(sorted(users.id_holder(uid) or f"uid {uid}" for uid in strangers))
            self.log.warning(
                "Port %s of %s's server is held by another account: %s", port, self.user.name, names
            )
            await self.stop()
            raise await self.start_failure(
                f"could not have its port {port}: a program of another account ({names}) "
                "listens there; starting the server again picks another port"
            )

    async def start_failure(self, what: str) -> ServerStartFailed:
        """The error for a start that failed: ``what`` happened, and what the unit logged."""
        unit = await asyncio.to_thread(systemd.status, self.unit_name)
        reason = what
        if unit.result not in ("", "success"):
            reason += f" ({unit.result}, status {unit.exec_main_status})"
        journal = ""
        if unit.invocation_id:
            journal = await asyncio.to_thread(systemd.invocation_log, unit.invocation_id)
        else:
            # No run of the unit at all: systemd-run refused to make it, and
            # said why only in the hub's log.
            command = self._expand_user_vars(self.cmd[0]) if self.cmd else ""
            if command and not runnable(command):
                reason = (
                    f"could not start: {command} is missing or not executable "
                    "(the user environment is broken; re-running the installer repairs it)"
                )
            else:
                reason += " (systemd did not start it; see 'sudo journalctl -u jupyterhub')"
        error = ServerStartFailed(self.unit_name, reason, journal)
        self.log.error("Server %s of %s %s", self.unit_name, self.user.name, error.message)
        return error

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
        if status is not None and self._unit_starting:
            # SystemdSpawner.start polls until the unit is active, for as long
            # as start_timeout; a unit that already failed never will be.
            raise await self.start_failure("stopped before it answered")
        # Once per hub start is enough: users.admin changes only with a restart,
        # and servers this hub started already run with the right rights.
        check = not self._sudo_checked
        self._sudo_checked = True
        if status is None and check and await self._started_for_another_hub():
            return 0
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

    async def _started_for_another_hub(self) -> bool:
        """Stop a server that asks another address than this hub's whose a login is.

        A server started by an earlier hub (upstream's, or an earlier release's,
        on port 15001) checks logins at the address it was given then. Nothing
        listens there any more, and a student could: their answer would let
        them into that server, an admin's included. The next visit starts it
        again, at this hub's address.
        """
        started_for = await asyncio.to_thread(
            systemd.unit_environment_value, self.unit_name, "JUPYTERHUB_API_URL"
        )
        if started_for is None or same_url(started_for, self.hub.api_url):
            return False
        self.log.warning(
            "Stopping %s: it was started for the hub at %s, and the hub is at %s now; "
            "it starts again at %s's next visit",
            self.unit_name,
            started_for,
            self.hub.api_url,
            self.user.name,
        )
        await self.stop()
        return True

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
