"""What ``tljh uninstall`` removes, decided from what is there (pure).

The rules, so that an uninstall never loses a student's work by default:

- units (the hub, the proxy, every user server), the admins' sudo rules and
  our links on root's PATH always go; a link is ours only if it points into
  the prefix;
- under the prefix only what TLJH puts there goes (environments, logs,
  config/, state/, restore leftovers); anything else is left and named;
  ``--keep-user-data`` keeps config/ and state/, so a reinstall finds them;
- the homes of removed users (``state/removed-homes``) are kept unless
  ``--remove-homes``;
- accounts (``jupyter-*``) and the groups ``jupyterhub-users`` and
  ``jupyterhub-admins`` stay unless ``--remove-accounts``.  Removed accounts'
  homes are set aside, root's alone (``/home/<account>.removed-<time>``: a new
  account that gets the same uid later must not own them), unless
  ``--remove-homes`` deletes them;
- our services' own users (the proxy's, the culler's) always go: they own nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tljh.install.backup_format import REMOVED_HOMES

#: What TLJH puts directly under the prefix (besides config/ and state/).
PREFIX_ENTRIES = ("hub", "user", "installer.log", "tljh-config.log")
#: Left by a restore: what it replaced.
RESTORE_LEFTOVERS = "replaced-by-restore-"


@dataclass(frozen=True)
class Facts:
    """What an uninstall finds on the machine."""

    prefix: Path
    #: Unit files of the hub and the proxy that exist.
    unit_files: tuple[Path, ...] = ()
    #: The hub and proxy units systemd knows (loaded), and user servers.
    units: tuple[str, ...] = ()
    user_units: tuple[str, ...] = ()
    sudoers: Path | None = None
    #: Our links on root's PATH (pointing into the prefix).
    links: tuple[Path, ...] = ()
    #: Names of the entries directly under the prefix, and under state/.
    prefix_entries: tuple[str, ...] = ()
    state_entries: tuple[str, ...] = ()
    #: Whether state/removed-homes holds anything.
    removed_homes: bool = False
    accounts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    service_users: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choices:
    keep_user_data: bool = False
    remove_accounts: bool = False
    remove_homes: bool = False


@dataclass(frozen=True)
class Action:
    #: stop, disable, remove-file, daemon-reload, remove-tree, remove-home,
    #: set-home-aside, remove-account, remove-group, remove-service-user, remove-dir, keep
    kind: str
    target: str

    def describe(self) -> str:
        return {
            "stop": "stop {}",
            "disable": "disable {}",
            "remove-file": "remove {}",
            "daemon-reload": "reload systemd",
            "remove-tree": "remove {}",
            "remove-dir": "remove {} (empty by then)",
            "remove-home": "delete the home of {}",
            "set-home-aside": "set the home of {} aside (root only)",
            "remove-account": "remove the account {}",
            "remove-group": "remove the group {}",
            "remove-service-user": "remove the system user {}",
            "keep": "keep {}",
        }[self.kind].format(self.target)


def plan(facts: Facts, choices: Choices) -> list[Action]:
    """The actions, in the order to run them: everything that runs is stopped first,
    the prefix goes last (the command itself runs from it)."""
    actions: list[Action] = []
    for unit in facts.user_units:
        actions.append(Action("stop", unit))
    for unit in facts.units:
        actions.append(Action("stop", unit))
        actions.append(Action("disable", unit))
    actions += [Action("remove-file", str(p)) for p in facts.unit_files]
    if facts.unit_files:
        actions.append(Action("daemon-reload", ""))
    if facts.sudoers:
        actions.append(Action("remove-file", str(facts.sudoers)))
    actions += [Action("remove-file", str(p)) for p in facts.links]
    if choices.remove_accounts:
        for account in facts.accounts:
            home = "remove-home" if choices.remove_homes else "set-home-aside"
            actions.append(Action(home, account))
            actions.append(Action("remove-account", account))
        actions += [Action("remove-group", g) for g in facts.groups]
    actions += [Action("remove-service-user", u) for u in facts.service_users]
    actions += _prefix_actions(facts, choices)
    return actions


def _prefix_actions(facts: Facts, choices: Choices) -> list[Action]:
    prefix = facts.prefix
    actions = []
    for name in sorted(facts.prefix_entries):
        path = prefix / name
        if name in ("config", "state") and choices.keep_user_data:
            actions.append(Action("keep", str(path)))
        elif name == "state" and facts.removed_homes and not choices.remove_homes:
            # The homes of removed students: kept, the rest of state/ goes.
            actions += [
                Action("remove-tree", str(path / entry))
                for entry in sorted(facts.state_entries)
                if entry != REMOVED_HOMES
            ]
            actions.append(Action("keep", str(path / REMOVED_HOMES)))
        elif _ours(name, choices):
            actions.append(Action("remove-tree", str(path)))
        else:
            actions.append(Action("keep", str(path)))
    if not any(a.kind == "keep" for a in actions) and facts.prefix_entries:
        actions.append(Action("remove-dir", str(prefix)))
    return actions


def _ours(name: str, choices: Choices) -> bool:
    """Whether the prefix entry ``name`` is TLJH's to remove (restore leftovers are
    config and state too: kept with --keep-user-data)."""
    if name in PREFIX_ENTRIES or name in ("config", "state"):
        return True
    return name.startswith(RESTORE_LEFTOVERS) and not choices.keep_user_data


def summary(actions: Sequence[Action]) -> list[str]:
    return [a.describe() for a in actions]
