"""``tljh uninstall [--keep-user-data] [--remove-accounts [--remove-homes]] [--yes]``."""

from __future__ import annotations

import argparse
import sys

from tljh.errors import UninstallError
from tljh.install.uninstall import check_prefix, execute, gather
from tljh.install.uninstall_plan import Choices, plan
from tljh.layout import Layout


def cmd_uninstall(args: argparse.Namespace, layout: Layout) -> int:
    if args.remove_homes and not args.remove_accounts:
        raise UninstallError(
            "--remove-homes deletes the homes of the accounts --remove-accounts removes",
            "add --remove-accounts, or leave out --remove-homes to keep the accounts and homes",
        )
    check_prefix(layout)
    choices = Choices(args.keep_user_data, args.remove_accounts, args.remove_homes)
    actions = plan(gather(layout), choices)
    if not [a for a in actions if a.kind != "keep"]:
        print(f"nothing of TLJH is left to remove (prefix {layout.prefix})")
        return 0
    print("tljh uninstall will:")
    for action in actions:
        print(f"  {action.describe()}")
    if not args.remove_accounts:
        print("  keep the students' accounts and homes (--remove-accounts removes the accounts)")
    if not args.keep_user_data:
        print(
            "  the config, the hub database and the passwords go: 'sudo tljh backup FILE "
            "--homes' first if you may want them back (or use --keep-user-data)"
        )
    if not args.yes:
        if not sys.stdin.isatty():
            raise UninstallError(
                "not asking for confirmation without a terminal",
                "run it in a terminal, or add --yes once you have read what it will do",
            )
        answer = input("type 'yes' to go on: ")
        if answer.strip().lower() != "yes":
            print("nothing was removed")
            return 1
    kept = execute(actions)
    print("TLJH is uninstalled." + (" Kept: " + ", ".join(kept) if kept else ""))
    print("Installing again (the bootstrap command) works at any time.")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "uninstall",
        help="remove TLJH from this server (students' homes are kept)",
        description="Stop and remove the hub, the proxy and every user server, the admins' "
        "sudo rules, the tljh and tljh-config commands and the install directory. "
        "Students' accounts and homes stay unless asked; their files are never deleted "
        "without --remove-homes. Says what it will do and asks first.",
        epilog="Back up first: 'sudo tljh backup /root/tljh-backup.tar.gz --homes'.",
    )
    parser.add_argument(
        "--keep-user-data",
        action="store_true",
        help="keep config/ and state/ (config, hub database, passwords, secrets): "
        "installing again picks them up",
    )
    parser.add_argument(
        "--remove-accounts",
        action="store_true",
        help="also remove the students' system accounts (jupyter-*) and the groups "
        "jupyterhub-users and jupyterhub-admins; their homes are set aside, root-only, "
        "as /home/<account>.removed-<time>",
    )
    parser.add_argument(
        "--remove-homes",
        action="store_true",
        help="with --remove-accounts: delete the students' homes (and the homes kept of "
        "removed users) instead of setting them aside. Their files are lost.",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=cmd_uninstall, needs_root="removes system files and accounts")
