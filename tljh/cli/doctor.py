"""``tljh doctor [--only CHECK ...] [--json]``: check the known causes of breakage.

Each check prints OK, WARN or FAIL with what it saw and, when something is
wrong, the fix.  Exit status 1 when a check fails.  The checks and their
fixes are listed in docs/howto/troubleshooting.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tljh.apply.doctor import CHECKS, run_checks
from tljh.apply.findings import exit_status, judged_config, render
from tljh.layout import Layout


def cmd_doctor(args: argparse.Namespace, layout: Layout) -> int:
    # The hub unit names this file: the installer writes it so (tljh.install.services).
    # Imported here, not at the top: every 'tljh' command imports this module, and
    # the hub's config file pulls in the plugin machinery, which only this one needs.
    import tljh.hub.jupyterhub_config

    hub_config_file = Path(tljh.hub.jupyterhub_config.__file__)
    findings = run_checks(layout, judged_config(layout), hub_config_file, args.only or ())
    if args.json:
        print(
            json.dumps(
                {"ok": not exit_status(findings), "findings": [f.as_json() for f in findings]},
                indent=2,
            )
        )
    else:
        print("\n".join(render(findings)))
        failed = sum(f.level == "fail" for f in findings)
        print(
            f"\n{failed} check(s) failed: apply the fix under each FAIL, then run "
            "'sudo tljh doctor' again"
            if failed
            else "\nno known cause of breakage found"
        )
    return exit_status(findings)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the known causes of breakage, and print the fix for each",
        description="Checks: " + ", ".join(CHECKS) + ". Exit status 1 when one fails.",
        epilog="docs/howto/troubleshooting.md lists every check with its symptom and fix.",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(CHECKS),
        metavar="CHECK",
        help="run only this check (repeatable): " + ", ".join(CHECKS),
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for monitoring")
    parser.set_defaults(
        func=cmd_doctor, needs_root="reads root's files (sudoers, state/) and the hub's logs"
    )
