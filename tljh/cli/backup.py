"""``tljh backup FILE [--homes]``: the server's config, state and accounts in one archive.

The archive holds every secret of the hub (the cookie secret, API tokens,
password hashes, OAuth client secrets in config.yaml): it is root's alone
(0600) from its first byte, and the admin is told to keep it that way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tljh.install.backup import write_backup
from tljh.layout import Layout


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cmd_backup(args: argparse.Namespace, layout: Layout) -> int:
    summary = write_backup(layout, Path(args.file), homes=args.homes)
    for warning in summary.warnings:
        print(f"warning: {warning}")
    homes = f", {len(summary.homes)} home(s)" if args.homes else " (no homes: add --homes)"
    print(
        f"wrote {summary.path} ({_size(summary.size)}): config, state, "
        f"{len(summary.accounts)} account(s){homes}"
    )
    print(
        "it holds the hub's secrets and password hashes: keep it root-only (it is 0600) and "
        "store a copy off this server; 'sudo tljh restore FILE' brings it back"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="write the config, state and accounts (and homes) to one archive",
        description="Write config.yaml and its snippets, the state (hub database, "
        "secrets, password databases, certificates), the students' system accounts "
        "(with their uids and groups) and, with --homes, the students' home "
        "directories to FILE, a gzipped tar readable by root only. The archive "
        "holds secrets: keep it safe.",
        epilog="Restore it on a fresh install with 'sudo tljh restore FILE'.",
    )
    parser.add_argument("file", metavar="FILE", help="the archive to write (never overwritten)")
    parser.add_argument(
        "--homes", action="store_true", help="also the home directories of the hub's users"
    )
    parser.set_defaults(func=cmd_backup, needs_root="reads the hub's secrets and every home")
