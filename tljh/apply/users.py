"""The user lifecycle behind ``tljh users``: list, remove, and record an account's owner.

The hub is asked through its REST API, as the ``tljh-users`` service whose
token only root can read (``state/users-api.token``); accounts and homes are
changed here, under the lock of the ownership record, so that no server start
hands out an account while it is being taken away.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tljh.config.secrets import read_users_api_token
from tljh.config.store import load_checked_config
from tljh.errors import HubAPIError, UserError
from tljh.layout import Layout
from tljh.render.hub import HUB_IP, HUB_PORT, traitlets_from_config
from tljh.render.limits import Effective, Limits, effective_limits
from tljh.system import removal
from tljh.system.hubapi import HubAPI
from tljh.system.usernames import system_username
from tljh.system.users import AccountOwners, recorded_account, user_exists

#: What ``remove`` does with the home: archive it, then delete it (the default);
#: keep it, set aside; or delete it without an archive.
HOME_MODES = ("archive", "keep", "delete")


@dataclass(frozen=True)
class UserRow:
    """One hub user as ``tljh users list`` shows them."""

    name: str
    #: The system account the ownership record gives them (None: no server started yet).
    account: str | None
    account_exists: bool
    #: The hub's admin flag.
    admin: bool
    #: In users.admin: sudo in their servers.
    sudo: bool
    server: str
    groups: tuple[str, ...]
    limits: Effective

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "account": self.account,
            "account_exists": self.account_exists,
            "admin": self.admin,
            "sudo": self.sudo,
            "server": self.server,
            "groups": list(self.groups),
            "memory_limit": self.limits.memory,
            "memory_limit_from": self.limits.memory_from,
            "cpu_limit": self.limits.cpu,
            "cpu_limit_from": self.limits.cpu_from,
        }


def hub_api(config: Mapping[str, Any], layout: Layout) -> HubAPI:
    """The hub's API on its internal address, with the token of ``tljh users``.

    Raises :class:`UserError` when the token is missing.
    """
    token = read_users_api_token(layout)
    if not token:
        raise UserError(
            f"the API token of 'tljh users' ({layout.users_api_token}) is missing",
            "re-run the installer: it creates the token and restarts the hub with it",
        )
    base = "/" + str(config["base_url"]).strip("/")
    return HubAPI(f"http://{HUB_IP}:{HUB_PORT}{base.rstrip('/')}/hub/api", token)


def _explained(e: HubAPIError) -> HubAPIError:
    if e.status in (401, 403):
        return HubAPIError(
            f"{e.message} (the hub does not accept the token of 'tljh users')",
            "restart the hub so that it reads the token: 'sudo tljh-config reload hub'; "
            "if that does not help, re-run the installer",
            e.status,
        )
    return e


def server_state(model: Mapping[str, Any]) -> str:
    """The default server's state in a word, and how many named servers are active."""
    servers = model.get("servers") or {}
    default = servers.get("")
    if not default:
        state = "stopped"
    elif default.get("pending") == "spawn":
        state = "starting"
    elif default.get("pending") == "stop":
        state = "stopping"
    elif default.get("ready"):
        state = "running"
    else:
        state = str(default.get("pending") or "running")
    named = [n for n, s in servers.items() if n and s]
    if named:
        state += f" (+{len(named)} named)"
    return state


def limit_rules(
    config: Mapping[str, Any], layout: Layout
) -> tuple[Limits, dict[str, Limits], dict[str, Limits]]:
    """The general, per-group and per-user limits, as the hub's spawner gets them."""
    traits = traitlets_from_config(config, layout)
    spawner = traits.get("Spawner", {})
    ours = traits.get("UserCreatingSpawner", {})
    general = Limits.from_trait(
        {"memory": spawner.get("mem_limit"), "cpu": spawner.get("cpu_limit")}
    )
    by_group = {k: Limits.from_trait(v) for k, v in ours.get("limits_by_group", {}).items()}
    by_user = {k: Limits.from_trait(v) for k, v in ours.get("limits_by_user", {}).items()}
    return general, by_group, by_user


def rows(
    models: Iterable[Mapping[str, Any]],
    owners: Mapping[str, str],
    config: Mapping[str, Any],
    layout: Layout,
    exists: Any = user_exists,
) -> list[UserRow]:
    """The rows of ``tljh users list`` from the hub's user models and the ownership record."""
    general, by_group, by_user = limit_rules(config, layout)
    sudo = {str(u) for u in config["users"]["admin"]}
    out = []
    for model in models:
        name = str(model["name"])
        groups = tuple(sorted(str(g) for g in model.get("groups") or []))
        account = recorded_account(owners, name)
        out.append(
            UserRow(
                name=name,
                account=account,
                account_exists=bool(account and exists(account)),
                admin=bool(model.get("admin")),
                sudo=name in sudo,
                server=server_state(model),
                groups=groups,
                limits=effective_limits(name, groups, general, by_group, by_user),
            )
        )
    return sorted(out, key=lambda row: row.name)


def list_users(layout: Layout, config: Mapping[str, Any] | None = None) -> list[UserRow]:
    """Every hub user, with account, admin flag, server state and limits.

    ``config``: the one the hub runs with (default: config.yaml, checked).
    Raises :class:`HubAPIError` when the hub does not answer, :class:`UserError`
    without the token, :class:`ConfigError` for an invalid config.
    """
    if config is None:
        config = load_checked_config(layout)
    api = hub_api(config, layout)
    try:
        models = list(api.users())
    except HubAPIError as e:
        raise _explained(e) from None
    return rows(models, AccountOwners(layout.account_owners).read(), config, layout)


def remove_user(layout: Layout, name: str, home: str = "archive") -> list[str]:
    """Stop ``name``'s servers, delete the hub user, remove their system account and
    archive (default), keep (set aside) or delete their home; returns what was done.

    Safe to run again after a failure: it goes on from where it stopped.  Raises
    :class:`UserError` for an admin (users.admin), an unknown user or an account
    that is not TLJH's; :class:`HubAPIError` when the hub does not answer.
    """
    assert home in HOME_MODES
    config = load_checked_config(layout)
    if name in {str(u) for u in config["users"]["admin"]}:
        raise UserError(
            f"{name} is an admin (users.admin)",
            f"take the admin rights away first ('sudo tljh-config remove-item users.admin "
            f"{name}', then 'sudo tljh-config reload'), then run this again",
        )
    api = hub_api(config, layout)
    owners = AccountOwners(layout.account_owners)
    try:
        model = api.user(name)
    except HubAPIError as e:
        raise _explained(e) from None
    recorded = recorded_account(owners.read(), name)
    if model is None and recorded is None:
        raise UserError(
            f"there is no hub user {name!r}, and no system account is recorded for that name",
            "'sudo tljh users list' shows the hub's users (names are lower-case)",
        )
    done = []
    if model is not None:
        try:
            stopped = api.stop_servers(name)
            api.delete_user(name)
        except HubAPIError as e:
            raise _explained(e) from None
        for server in stopped:
            done.append(f"stopped the server {server!r}" if server else "stopped the server")
        done.append(f"deleted the hub user {name}")
    if recorded is None:
        done.append("no system account was recorded for this user (no server ever started)")
        unrecorded = system_username(name)
        if user_exists(unrecorded):
            done.append(
                f"left {unrecorded} alone: it exists, but is not recorded as {name}'s account"
            )
    else:
        done += _remove_account(layout, owners, name, recorded, home)
    listed = [key for key in ("allowed",) if name in {str(u) for u in config["users"][key]}]
    for key in listed:
        done.append(
            f"note: {name} is still in users.{key} and can log in again; "
            f"'sudo tljh-config remove-item users.{key} {name}' takes them out"
        )
    return done


def _remove_account(
    layout: Layout, owners: AccountOwners, name: str, system_name: str, home: str
) -> list[str]:
    done = []
    entry = removal.account(system_name)
    if entry is not None and not removal.is_hub_account(entry):
        raise UserError(
            f"the record gives {name} the account {system_name}, which is not one TLJH makes "
            f"(jupyter-..., uid {removal.UID_MIN} or more); nothing of it was removed",
            f"check {layout.account_owners}; remove the account by hand if it really is "
            "this user's",
        )
    if entry is not None and home == "archive":
        # Before the lock: archiving a big home takes a while, and every server
        # start waits for the lock.
        archive = removal.archive_home(entry, layout.removed_homes)
        if archive is not None:
            size = archive.stat().st_size / 1024**2
            done.append(f"archived the home of {system_name} to {archive} ({size:.1f} MB)")
    aside: Path | None = None
    with owners.locked() as record:
        if record.get(system_name) != name:
            raise UserError(
                f"the record of {system_name} changed meanwhile (now: "
                f"{record.get(system_name) or 'nobody'})",
                "run 'sudo tljh users list' and try again",
            )
        if entry is None:
            done.append(f"the system account {system_name} was gone already")
        else:
            aside = removal.set_home_aside(entry)
            removal.delete_account(entry)
            done.append(f"deleted the system account {system_name}")
        del record[system_name]
        done.append(f"dropped {system_name} from {layout.account_owners}")
    if aside is None and entry is not None:
        done.append(f"left {entry.pw_dir} alone: it is not a directory of {system_name}'s own")
    elif aside is not None:
        if home == "keep":
            done.append(f"kept the home as {aside} (root's alone now)")
        else:
            shutil.rmtree(aside)
            done.append(f"deleted the home {entry.pw_dir if entry else aside}")
    return done


def set_owner(layout: Layout, system_name: str, name: str) -> list[str]:
    """Record the system account ``system_name`` as the hub user ``name``'s; returns
    what changed.  The account ``name`` had before (if any) is no longer theirs.

    Raises :class:`UserError` for an account that does not exist, is not one TLJH
    makes, or is in use.
    """
    entry = removal.account(system_name)
    if entry is None:
        raise UserError(
            f"there is no system account {system_name}",
            "'sudo tljh users list' shows each hub user's account",
        )
    if not removal.is_hub_account(entry):
        raise UserError(
            f"{system_name} is not an account TLJH makes for hub users (jupyter-..., uid "
            f"{removal.UID_MIN} or more): its owner's servers would run as it",
            "give hub users only accounts named jupyter-...",
        )
    owners = AccountOwners(layout.account_owners)
    with owners.locked() as record:
        before = record.get(system_name)
        previous = recorded_account(record, name)
        if before == name:
            return []
        for busy in [system_name, previous]:
            other = removal.account(busy) if busy else None
            if other is not None and removal.processes_of(other.pw_uid):
                raise UserError(
                    f"{busy} is in use (its server or other processes run)",
                    "stop the server first (the hub's admin page, or 'sudo tljh users "
                    "list' to see it), then run this again",
                )
        changes = []
        if previous is not None:
            del record[previous]
            changes.append(f"{previous} is no longer {name}'s account")
        record[system_name] = name
        changes.append(
            f"{system_name} is now {name}'s account" + (f" (it was {before}'s)" if before else "")
        )
    return changes
