"""``tljh restore FILE``: a backup of ``tljh backup`` back onto this (fresh) install."""

from __future__ import annotations

import argparse
from pathlib import Path

from tljh.install.restore import restore
from tljh.layout import Layout


def cmd_restore(args: argparse.Namespace, layout: Layout) -> int:
    report = restore(layout, Path(args.file))
    print("done: the hub runs on the restored config; students log in with their passwords")
    if report.replaced:
        print(
            f"what the restore replaced is kept in {report.replaced}/old (root only); "
            "remove it once all is well"
        )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="bring back a backup made by 'tljh backup' (onto a fresh install)",
        description="Check the archive (refused, with nothing changed, when it comes from "
        "a newer TLJH or holds anything that would write outside the install and the "
        "students' homes), stop the hub, put back config and state (keeping what they "
        "replace), recreate the students' accounts with their old uids where free, "
        "put back their homes (never replacing a file already there), then apply the "
        "config and restart the hub. A failure half-way undoes it all.",
        epilog="Only restore archives you made: the config in them runs as root in the hub.",
    )
    parser.add_argument("file", metavar="FILE", help="the archive 'tljh backup' wrote")
    parser.set_defaults(
        func=cmd_restore, needs_root="replaces the hub's state and creates system accounts"
    )
