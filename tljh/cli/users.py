"""``tljh users``: the hub's users, their system accounts, and removing them.

``tljh users list [--json]``
    every hub user with their system account, admin flag, server state, groups
    and the memory and CPU limits their next server start gets;
``tljh users remove NAME [--keep-home | --delete-home] [--yes]``
    stop their servers, delete the hub user, delete their system account; the
    home is archived (root-only, under ``state/removed-homes/``) and deleted,
    kept (set aside, root's alone), or deleted without an archive;
``tljh users owner ACCOUNT NAME``
    record a system account as a hub user's (a renamed user keeps their files).

Runs as root: it reads the hub token and changes system accounts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from tljh.apply.users import UserRow, list_users, remove_user, set_owner
from tljh.errors import UserError
from tljh.layout import Layout

EPILOG = (
    "Groups are the hub's groups (the admin page's Groups); limits.users and limits.groups "
    "in the config set their memory and CPU limits (see 'tljh-config --help')."
)


def format_memory(value: int | None) -> str:
    """Bytes as a size in the config's grammar: 4G, 1.5G, 512M; "none" for no limit."""
    if value is None:
        return "none"
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= size:
            number = value / size
            text = f"{number:.2f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return str(value)


def format_cpu(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _from(source: str) -> str:
    if source == "general":
        return ""
    kind, _, who = source.partition(" ")
    return " (own)" if kind == "user" else f" ({who})"


def table(rows: Sequence[UserRow]) -> str:
    """The rows as an aligned text table."""
    header = ("NAME", "ACCOUNT", "ADMIN", "SERVER", "MEMORY", "CPU", "GROUPS")
    lines = [header]
    for row in rows:
        account = row.account or "-"
        if row.account and not row.account_exists:
            account += " (missing)"
        admin = "yes" if row.admin and row.sudo else "hub only" if row.admin else ""
        lines.append(
            (
                row.name,
                account,
                admin,
                row.server,
                format_memory(row.limits.memory) + _from(row.limits.memory_from),
                format_cpu(row.limits.cpu) + _from(row.limits.cpu_from),
                ",".join(row.groups),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def cmd_list(args: argparse.Namespace, layout: Layout) -> int:
    rows = list_users(layout)
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
    elif rows:
        print(table(rows))
    else:
        print("the hub has no users yet")
    return 0


def _confirmed(name: str, home: str) -> bool:
    what = {
        "archive": "their home is archived, then deleted",
        "keep": "their home is kept, set aside",
        "delete": "their home is DELETED, without an archive",
    }[home]
    print(f"Remove {name}: their servers stop, their account goes, {what}.")
    try:
        answer = input(f"Type the name ({name}) to go on: ")
    except EOFError:
        return False
    return answer.strip() == name


def cmd_remove(args: argparse.Namespace, layout: Layout) -> int:
    home = "keep" if args.keep_home else "delete" if args.delete_home else "archive"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(
                "not asking for confirmation without a terminal",
                f"add --yes to remove {args.name} without being asked",
            )
        if not _confirmed(args.name, home):
            print("nothing removed")
            return 1
    for line in remove_user(layout, args.name, home):
        print(line)
    return 0


def cmd_owner(args: argparse.Namespace, layout: Layout) -> int:
    changes = set_owner(layout, args.account, args.name)
    for line in changes or [f"{args.account} is {args.name}'s account already; nothing changed"]:
        print(line)
    if changes:
        print("the next server start of the user runs as this account")
    return 0


def register(top: argparse._SubParsersAction) -> None:
    """Add ``tljh users`` and its commands to the ``tljh`` parser."""
    users = top.add_parser("users", help="list and remove the hub's users", epilog=EPILOG)
    users.set_defaults(needs_root="changes system accounts and reads the hub's token")
    commands = users.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser(
        "list",
        help="hub users with system account, admin flag, server state, groups and limits",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "remove",
        help="stop a user's servers, delete the hub user and their system account",
        description="Stop the user's servers, delete the hub user, delete their system "
        "account. By default their home is archived (a root-only .tar.gz in "
        "/opt/tljh/state/removed-homes/) and then deleted.",
    )
    p.add_argument("name", metavar="NAME", help="the hub user (as 'tljh users list' shows)")
    homes = p.add_mutually_exclusive_group()
    homes.add_argument(
        "--keep-home",
        action="store_true",
        help="keep the home, renamed to HOME.removed-TIME and root's alone, instead of "
        "archiving it",
    )
    homes.add_argument(
        "--delete-home", action="store_true", help="delete the home without an archive"
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_remove)

    p = commands.add_parser(
        "owner",
        help="record a system account as a hub user's (e.g. after renaming the user)",
    )
    p.add_argument("account", metavar="ACCOUNT", help="the system account, jupyter-...")
    p.add_argument("name", metavar="NAME", help="the hub user who owns it from now on")
    p.set_defaults(func=cmd_owner)
