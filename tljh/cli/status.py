"""``tljh status [--json]``: the server on one screen; non-zero exit when something is wrong.

Versions, the hub and the proxy (running or not, since when), whether students
reach the hub, the config (valid, or the hub on its known-good copy), routes
against running servers, users, memory and disk headroom, HTTPS.  Runs as
root: it reads the hub's token and the proxy's routes.
"""

from __future__ import annotations

import argparse
import json

from tljh.apply.findings import exit_status, render
from tljh.apply.status import as_json, gather, judge, summary
from tljh.layout import Layout


def cmd_status(args: argparse.Namespace, layout: Layout) -> int:
    facts = gather(layout)
    findings = judge(facts, layout)
    if args.json:
        print(json.dumps(as_json(facts, findings), indent=2))
    else:
        print("\n".join([*summary(facts), "", *render(findings)]))
        if exit_status(findings):
            print(
                "\nsomething is wrong: see the fix under each FAIL; 'sudo tljh doctor' "
                "checks the known causes of breakage"
            )
    return exit_status(findings)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="the server on one screen; exit status 1 when something is wrong",
        description="Versions, hub and proxy, config, routes, users, memory, disk and "
        "HTTPS, each judged OK, WARN or FAIL. Exit status 1 when anything FAILs "
        "(for monitoring: --json).",
        epilog="'tljh doctor' checks the known causes of breakage, each with its fix.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for monitoring")
    parser.set_defaults(func=cmd_status, needs_root="reads the hub's token and the proxy's routes")
