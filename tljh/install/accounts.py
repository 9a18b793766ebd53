"""Install steps for who may do what: the hub's groups, its services' own users,
and the admins' sudo rules."""

from __future__ import annotations

import os

from tljh.install.context import Context
from tljh.layout import PROXY_USER
from tljh.render.sudoers import sudoers_text
from tljh.system.files import ensure_file
from tljh.system.run import run
from tljh.system.users import (
    ADMINS_GROUP,
    CULLER_USER,
    USERS_GROUP,
    ensure_group,
    ensure_system_user,
    group_exists,
)


def step_groups(ctx: Context) -> list[str]:
    changes = []
    for group in (USERS_GROUP, ADMINS_GROUP):
        if not group_exists(group):
            ensure_group(group)
            changes.append(f"created group {group}")
    return changes


#: The system users TLJH's own services run as, with their descriptions.  The
#: culler's is made whether or not the culler is enabled: enabling it is a
#: reload of the hub, which must not need the installer.
SERVICE_USERS = {CULLER_USER: "TLJH idle culler", PROXY_USER: "TLJH proxy (traefik)"}


def step_service_users(ctx: Context) -> list[str]:
    return [
        f"created system user {name}"
        for name, comment in SERVICE_USERS.items()
        if ensure_system_user(name, comment)
    ]


def step_sudoers(ctx: Context) -> list[str]:
    target = ctx.layout.sudoers_file
    text = sudoers_text(ctx.layout)
    if target.exists() and target.read_text() == text and (target.stat().st_mode & 0o777) == 0o440:
        return []
    target.parent.mkdir(parents=True, exist_ok=True)
    # visudo-check a sibling temp file, then rename it into place: sudo never
    # sees a broken or half-written file.
    tmp = target.parent / f".{target.name}.new"
    ensure_file(tmp, text, mode=0o440)
    try:
        run(["visudo", "-cf", str(tmp)], hint="this is a bug in TLJH; please report it")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return [f"wrote {target}"]
