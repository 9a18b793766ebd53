"""``tljh-installer`` and ``python -m tljh.installer``: run the install steps.

``bootstrap.py`` creates the hub environment and hands over to this command
with the options it does not handle itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from typing import NoReturn

from tljh.cli.report import REPORT_URL
from tljh.errors import HostError, TLJHError
from tljh.install.context import Context
from tljh.install.dryrun import dry_run
from tljh.install.options import InstallOptions, add_options
from tljh.install.packages import RESTARTED_VARIABLE
from tljh.install.progress import Progress
from tljh.install.steps import STEPS, run_steps, setup_logging
from tljh.install.upstream import roll_back
from tljh.layout import Layout

log = logging.getLogger("tljh.install")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m tljh.installer",
        description="Install or upgrade The Littlest JupyterHub on this server "
        "(normally run for you by bootstrap.py).",
    )
    add_options(parser)
    return parser


def parse_options(argv: Sequence[str] | None = None) -> InstallOptions:
    """The installer's options from ``argv`` (default: the command line)."""
    return InstallOptions.from_namespace(build_parser().parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    os.umask(0o022)
    layout = Layout.from_env()
    # A dry run leaves every file as it was, the install log too.
    setup_logging(layout, log_file=not options.dry_run)
    ctx = Context(layout=layout, options=options)
    started = time.monotonic()
    names = [name for name, _ in STEPS]
    # What the progress page shows; a dry run writes no file.
    progress = None if options.dry_run else Progress(layout.install_progress, names)
    try:
        if options.dry_run:
            return report_dry_run(ctx, dry_run(ctx, names))
        assert progress is not None
        total = run_steps(ctx, STEPS, on_step=progress.step)
    except TLJHError as e:
        if progress is not None:
            progress.end(ok=False)
        log.error("%s", e.render())
        if ctx.migration is not None:
            roll_back(layout, ctx.migration)
        log.error(
            "The full log is in %s. Fix the cause and run the installer again.",
            layout.installer_log,
        )
        return 1
    except Exception as e:
        if progress is not None:
            progress.end(ok=False)
        log.error("unexpected error", exc_info=True)  # the log file only
        if ctx.migration is not None:
            roll_back(layout, ctx.migration)
        log.error(
            "error: the installer stopped on an unexpected error: %s: %s; the details are in %s\n"
            "hint: running the installer again is safe (each step only changes what is not "
            "yet as it should be); if it stops at the same place, please report it at %s "
            "with that log (check it for passwords first)",
            type(e).__name__,
            e,
            layout.installer_log,
            REPORT_URL,
        )
        return 1
    if ctx.restart_installer:
        restart(argv)
    assert progress is not None
    progress.end(ok=True)
    took = time.monotonic() - started
    if total == 0:
        log.info("Done in %.1f s: nothing needed to change.", took)
    else:
        log.info("Done in %.1f s: %d change(s).", took, total)
    port = ctx.config.get("http", {}).get("port", 80)
    where = "http://<this server's address>" + ("" if port == 80 else f":{port}")
    log.info("The hub is running: open %s in a browser.", where)
    return 0


def report_dry_run(ctx: Context, total: int) -> int:
    if total:
        log.info("Dry run: %d change(s) would be made; nothing was changed.", total)
    else:
        log.info("Dry run: nothing would change.")
    return 0


def restart_command(
    argv: Sequence[str], environ: Mapping[str, str]
) -> tuple[str, list[str], dict[str, str]]:
    """How to continue the install in a fresh process: executable, arguments, environment."""
    python = sys.executable
    # -I: like the bootstrap, never import tljh from the current directory.
    args = [python, "-I", "-m", "tljh.installer", *argv]
    return python, args, {**environ, RESTARTED_VARIABLE: "1"}


def restart(argv: Sequence[str] | None) -> NoReturn:
    """Continue the install in a fresh process that imports the upgraded hub packages."""
    log.info("hub packages: continuing in a fresh installer process, with the new packages")
    logging.shutdown()
    sys.stdout.flush()
    python, args, env = restart_command(list(sys.argv[1:] if argv is None else argv), os.environ)
    os.execve(python, args, env)


def run() -> int:
    if shutil.which("systemctl") is None:
        error = HostError(
            "systemctl not found; TLJH needs a systemd host",
            "install on a server or VM booted with systemd; plain Docker containers "
            "and WSL without systemd cannot run TLJH",
        )
        print(error.render(), file=sys.stderr)
        return 1
    return main()
