"""The TLJH installer: ordered, idempotent steps that make this server a hub.

``bootstrap.py`` creates the hub environment and runs ``python -m
tljh.installer``.  Every step first looks at what is there and changes only
what differs, logging either what it changed or that nothing needed changing.
Running it again on a working install therefore restarts nothing, and running
servers of students are left alone.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence

from tljh.install.accounts import step_groups, step_service_users, step_sudoers
from tljh.install.admins import step_admin_passwords
from tljh.install.context import Context, Step
from tljh.install.database import step_hub_database
from tljh.install.files import step_config, step_directories, step_secrets, step_tljh_config_link
from tljh.install.packages import (
    step_hub_packages,
    step_permissions,
    step_plugin_packages,
    step_post_install,
    step_traefik,
    step_user_env,
)
from tljh.install.services import step_proxy_config, step_services, step_units
from tljh.install.upstream import step_upstream, step_upstream_done
from tljh.layout import Layout

log = logging.getLogger(__name__)

STEPS: list[tuple[str, Step]] = [
    ("directories", step_directories),
    # Before anything of upstream TLJH's is replaced: keep copies (tljh.install.upstream).
    ("migration", step_upstream),
    ("hub packages", step_hub_packages),
    ("config", step_config),
    ("admin passwords", step_admin_passwords),
    ("groups", step_groups),
    ("service users", step_service_users),
    ("sudoers", step_sudoers),
    ("user environment", step_user_env),
    ("plugin packages", step_plugin_packages),
    ("traefik", step_traefik),
    ("permissions", step_permissions),
    ("secrets", step_secrets),
    ("proxy config", step_proxy_config),
    ("systemd units", step_units),
    ("tljh-config", step_tljh_config_link),
    ("hub database", step_hub_database),
    ("services", step_services),
    # The hub runs on the new install: the migration is done, whatever plugins do next.
    ("migration done", step_upstream_done),
    ("post-install hooks", step_post_install),
]


def setup_logging(layout: Layout, log_file: bool = True) -> None:
    """Log to the console and (unless not ``log_file``) to the root-only ``installer.log``."""
    root = logging.getLogger("tljh")
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("[tljh] %(message)s"))
    # Tracebacks are for whoever fixes the bug: the log file has them, the
    # console gets the one line that follows them.
    console.addFilter(lambda record: not record.exc_info)
    root.addHandler(console)
    if not log_file:
        return
    layout.prefix.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.installer_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(layout.installer_log, 0o600)
    logfile = logging.FileHandler(layout.installer_log)
    logfile.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    root.addHandler(logfile)


def run_steps(
    ctx: Context,
    steps: Sequence[tuple[str, Step]],
    on_step: Callable[[str], None] | None = None,
) -> int:
    """Run ``steps`` in order, logging each change; return how many changes there were.

    ``on_step`` is told the name of each step before it runs (the progress page).
    Stops early when a step asks for a fresh installer process (``ctx.restart_installer``).
    """
    total = 0
    for name, step in steps:
        if on_step is not None:
            on_step(name)
        started = time.monotonic()
        changes = step(ctx)
        took = time.monotonic() - started
        if changes:
            total += len(changes)
            for change in changes:
                log.info("%s: %s", name, change)
            if took >= 1:
                log.info("%s: took %.1f s", name, took)
        else:
            log.info("%s: nothing to change (%.1f s)", name, took)
        if ctx.restart_installer:
            break
    return total
