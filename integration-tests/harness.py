#!/usr/bin/env python3
"""Run TLJH in a throwaway systemd container: install it as a user would, then test it.

The machine TLJH installs onto must boot with systemd, so every run gets a fresh
Debian system booted with ``systemd-nspawn`` from a cached, debootstrapped root
filesystem. The checkout is copied into it and installed with the real
``bootstrap/bootstrap.py``; the integration suite then runs inside the container.

    harness.py test [--debian trixie] [--keep] [-k EXPR] [-- PYTEST-ARGS]
    harness.py test --from-upstream [-k EXPR]   (upstream installed; integration-tests/migration/)
    harness.py try [--debian trixie] [--no-install]
    harness.py bench [--debian trixie] [--keep] [-- BENCH-ARGS]
    harness.py rootfs [--debian trixie] [--rebuild]
    harness.py clean

Standard library only: it runs before any virtual environment exists. Needs root,
``systemd-nspawn`` (package systemd-container), ``debootstrap``, ``nsenter`` and ``ss``.
This file is the command line; the work is done by the ``devharness`` package next to it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

# It runs as root (through sudo) from a developer's checkout: compiling the package
# next to it would leave root-owned __pycache__ directories there.
sys.dont_write_bytecode = True

from devharness.host_checks import require_host  # noqa: E402
from devharness.interrupts import handle_signals, signal_number  # noqa: E402
from devharness.leftovers import clean_leftovers  # noqa: E402
from devharness.messages import HarnessError, say  # noqa: E402
from devharness.recipe import SUITES, Recipe  # noqa: E402
from devharness.rootfs_cache import ensure_rootfs  # noqa: E402
from devharness.session import SessionOptions, run_session  # noqa: E402

ADMIN = "ms.frizzle"


def session_options(args: argparse.Namespace, mode: str, **extra: Any) -> SessionOptions:
    """What ``test`` and ``try`` share, from their parsed arguments."""
    return SessionOptions(
        mode=mode,
        debian=args.debian,
        admin=args.admin,
        rebuild=args.rebuild,
        keep=args.keep,
        cold_cache=args.cold_cache,
        bootstrap_cmd=args.bootstrap_cmd,
        ignore_busy_ports=args.ignore_busy_ports,
        from_upstream=args.from_upstream,
        **extra,
    )


def cmd_test(args: argparse.Namespace) -> int:
    pytest_args = (*(["-k", args.k] if args.k else []), *args.pytest_args)
    return run_session(session_options(args, "test", pytest_args=pytest_args))


def cmd_bench(args: argparse.Namespace) -> int:
    return run_session(session_options(args, "bench", bench_args=tuple(args.bench_args)))


def cmd_try(args: argparse.Namespace) -> int:
    return run_session(session_options(args, "try", no_install=args.no_install))


def cmd_rootfs(args: argparse.Namespace) -> int:
    require_host()
    path, took = ensure_rootfs(Recipe(args.debian), rebuild=args.rebuild)
    say(f"{path} (" + (f"built in {took:.0f}s" if took is not None else "cached") + ")")
    return 0


def cmd_clean(_args: argparse.Namespace) -> int:
    """Stop containers this harness left running (--keep) and remove their files."""
    require_host()
    clean_leftovers()
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness.py",
        description="Install TLJH into a throwaway systemd-nspawn container and test it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--debian",
            choices=SUITES,
            default="bookworm",
            help="Debian release (default: bookworm)",
        )
        p.add_argument("--rebuild", action="store_true", help="rebuild the cached rootfs first")

    def session(p: argparse.ArgumentParser) -> None:
        common(p)
        p.add_argument("--keep", action="store_true", help="leave the container running afterwards")
        p.add_argument(
            "--admin", default=ADMIN, help=f"the admin to install with (default: {ADMIN})"
        )
        p.add_argument(
            "--cold-cache",
            action="store_true",
            help="do not share the pip/uv/apt download caches with the container",
        )
        p.add_argument(
            "--from-upstream",
            action="store_true",
            help="install upstream TLJH 2.x instead (from the fixture in ../shared/upstream-tljh "
            "or $TLJH_UPSTREAM_FIXTURE); test then runs integration-tests/migration/, "
            "whose tests migrate it with our bootstrap",
        )
        # Replaces `python3 - --admin … < bootstrap/bootstrap.py` with a shell command run
        # inside (same environment); for working on the harness itself.
        p.add_argument("--bootstrap-cmd", help=argparse.SUPPRESS)
        # Skips the port check: only sensible with a --bootstrap-cmd that starts no hub.
        p.add_argument("--ignore-busy-ports", action="store_true", help=argparse.SUPPRESS)

    t = sub.add_parser(
        "test", help="install TLJH in a fresh container and run integration-tests/ inside"
    )
    session(t)
    t.add_argument("-k", metavar="EXPR", help="only run tests matching EXPR (pytest -k)")
    t.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    tr = sub.add_parser("try", help="install TLJH in a fresh container and keep it up until Ctrl-C")
    session(tr)
    tr.add_argument("--no-install", action="store_true", help="only boot the container")
    b = sub.add_parser(
        "bench", help="install TLJH in a fresh container and run benchmarks/run.py inside"
    )
    session(b)
    b.add_argument("bench_args", nargs="*", help="arguments for benchmarks/run.py (after --)")
    r = sub.add_parser("rootfs", help="build (or reuse) the cached rootfs")
    common(r)
    sub.add_parser("clean", help="stop containers left by --keep and remove their files")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with handle_signals():
            if args.command == "test":
                return cmd_test(args)
            if args.command == "try":
                return cmd_try(args)
            if args.command == "bench":
                return cmd_bench(args)
            if args.command == "rootfs":
                return cmd_rootfs(args)
            return cmd_clean(args)
    except HarnessError as e:
        print(f"[harness] error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt as e:
        return 128 + signal_number(e)


if __name__ == "__main__":
    sys.exit(main())
