"""``tljh``: the command for running a server, one subcommand per module.

Each subcommand lives in its own module of ``tljh.cli`` with a ``register(subparsers)``
function that adds its parser and sets ``func`` (called with the parsed arguments and the
install layout) and, for commands that only root may run, ``needs_root`` (why, for the
error). Adding a subcommand is one line in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from tljh.cli import backup, doctor, export, logs, restore, status, uninstall, users
from tljh.errors import TLJHError
from tljh.layout import Layout

SUBCOMMANDS: tuple[ModuleType, ...] = (
    users,
    status,
    doctor,
    logs,
    export,
    backup,
    restore,
    uninstall,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tljh",
        description="The Littlest JupyterHub: run and look after the server. "
        "Configuration is changed with 'tljh-config'.",
        epilog="Each command has its own --help, e.g. 'tljh users --help'.",
    )
    top = parser.add_subparsers(dest="area", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(top)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # --help, or a usage error argparse printed
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    why_root = getattr(args, "needs_root", None)
    if why_root and os.geteuid() != 0:
        print(
            f"error: tljh {args.area} {why_root}\nhint: run it as root: sudo tljh {args.area} ...",
            file=sys.stderr,
        )
        return 1
    try:
        return int(args.func(args, Layout.from_env()))
    except TLJHError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
