"""``tljh logs [hub|proxy|install|USER] [-f] [--since WHEN] [-n LINES]``.

The right log without knowing unit names: the hub's and the proxy's journals,
the installer's log file (root-only), or the server of a hub user (its unit
is named after the user's system account).  Runs ``journalctl`` or ``tail``
in place of itself, so ``-f`` follows until Ctrl-C and a terminal gets a pager.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from tljh.errors import UserError
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.system.usernames import system_username
from tljh.system.users import AccountOwners, recorded_account

UNITS = {"hub": HUB_UNIT, "proxy": PROXY_UNIT}


def user_unit(name: str, owners: Mapping[str, str]) -> str:
    """The unit of the default server of the hub user ``name``."""
    account = recorded_account(owners, name) or system_username(name)
    return f"{account}.service"


def journal_argv(unit: str, follow: bool, since: str | None, lines: int) -> list[str]:
    argv = ["journalctl", "-u", unit, "-n", str(lines)]
    if since:
        argv += ["--since", since]
    if follow:
        argv.append("--follow")
    return argv


def install_argv(layout: Layout, follow: bool, since: str | None, lines: int) -> list[str]:
    if since:
        raise UserError(
            "--since works with journals only; the installer's log is a file",
            f"leave out --since; each line of {layout.installer_log} starts with its time",
        )
    if not layout.installer_log.is_file():
        raise UserError(
            f"{layout.installer_log} does not exist",
            "it is written by the installer: has TLJH been installed with this prefix?",
        )
    return ["tail", "-n", str(lines), *(["--follow=name"] if follow else []), "--",
            str(layout.installer_log)]  # fmt: skip


def logs_argv(args: argparse.Namespace, layout: Layout) -> list[str]:
    what = args.what
    if what == "install":
        return install_argv(layout, args.follow, args.since, args.lines)
    unit = UNITS.get(what) or user_unit(what, AccountOwners(layout.account_owners).read())
    return journal_argv(unit, args.follow, args.since, args.lines)


def cmd_logs(args: argparse.Namespace, layout: Layout) -> int:
    argv = logs_argv(args, layout)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 1  # not reached: exec replaces this process


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "logs",
        help="show the log of the hub, the proxy, the installer or a user's server",
        description="hub and proxy: their journals; install: the installer's log file "
        "(root only); any other name: the server of that hub user.",
    )
    parser.add_argument(
        "what",
        nargs="?",
        default="hub",
        metavar="hub|proxy|install|USER",
        help="whose log (default: hub)",
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep showing new lines")
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="journals only: from this time, e.g. '10 min ago', 'today', '2026-12-01 08:50'",
    )
    parser.add_argument(
        "-n", "--lines", type=int, default=100, help="how many of the last lines (default 100)"
    )
    parser.set_defaults(func=cmd_logs, needs_root="reads the system journal and root-only logs")
