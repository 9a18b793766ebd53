"""Install steps for the files under the prefix: directories, config, secrets, the CLI link."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from tljh.apply.proxy_files import shared_with_proxy
from tljh.config.schema import with_defaults
from tljh.config.store import config_lock, dump_yaml, read_config, save_config
from tljh.config.validate import ignored_keys_warning, runnable
from tljh.config.values import add_item
from tljh.errors import ConfigError
from tljh.install.admins import requested_admins
from tljh.install.context import Context
from tljh.layout import Layout
from tljh.system.files import PRIVATE_DIR, PRIVATE_FILE, ensure_dir, ensure_file, tighten_files

log = logging.getLogger(__name__)

DEFAULT_CONFIG = """\
# The configuration of The Littlest JupyterHub.
#
# Change it with 'sudo tljh-config set KEY VALUE' (or 'sudo tljh-config edit'),
# then apply it with 'sudo tljh-config reload'.  'tljh-config --help' lists
# the commands; the documentation lists every key.
"""


def step_directories(ctx: Context) -> list[str]:
    """The prefix (open: students' kernels run from it) and config/ and state/ (root's alone).

    config/ is 0700 like upstream TLJH's: config.yaml, its history and the
    ``jupyterhub_config.d``/``traefik_config.d`` snippets may hold secrets
    (OAuth client secrets, LDAP bind passwords), and only root reads them --
    the hub runs as root, and traefik's own files are written by tljh-config
    into state/.  A private directory also covers what an admin's editor
    leaves next to the files (backups, swap files) with whatever mode.
    """
    lay = ctx.layout
    changes = []
    for path, mode in directories(lay):
        if ensure_dir(path, mode):
            changes.append(f"{path} (mode {mode:o})")
    # The admin's snippets, often written with 'sudo nano' (0644): root's alone,
    # in case the directory is ever opened up again.
    for directory in (lay.jupyterhub_config_d, lay.traefik_config_d):
        changes += [f"made {path} readable by root only" for path in tighten_files(directory)]
    for path in legacy_lock_files(lay):
        path.unlink()
        changes.append(f"removed {path} (the config lock is {lay.config_lock} now)")
    return changes


def directories(lay: Layout) -> list[tuple[Path, int]]:
    """The directories under the prefix, with their modes (see :func:`step_directories`)."""
    return [
        (lay.prefix, 0o755),
        (lay.config_dir, PRIVATE_DIR),
        (lay.jupyterhub_config_d, PRIVATE_DIR),
        (lay.traefik_config_d, PRIVATE_DIR),
        (lay.state_dir, PRIVATE_DIR),
        # state/rules/ is the proxy's to read: tljh.apply.proxy_files keeps it.
    ]


def legacy_lock_files(lay: Layout) -> list[Path]:
    """Lock files of earlier releases that are still there, to be removed.

    Earlier releases locked config/.config.yaml.lock, readable by everyone: a
    student holding it blocked every change.  The lock is in state/ now
    (Layout.config_lock); the old file is only a door left open.
    """
    legacy = lay.config_dir / ".config.yaml.lock"
    return [
        path
        for path in (legacy, legacy.with_name(legacy.name + ".owner"))
        if path.is_file() or path.is_symlink()
    ]


def step_config(ctx: Context) -> list[str]:
    """Write the default config, add ``--admin`` names, let plugins change it, validate it.

    Raises :class:`ConfigError` when the config (after plugins changed it) is invalid,
    :class:`InstallError` for a bad ``--admin`` or password file; nothing is saved then.
    """
    lay = ctx.layout
    changes = []
    if not lay.config_file.exists():
        ensure_file(lay.config_file, DEFAULT_CONFIG, mode=PRIVATE_FILE)
        changes.append(f"wrote the default {lay.config_file}")
    elif lay.config_file.stat().st_mode & 0o077:
        # It may hold OAuth client secrets: root only, like the state.
        os.chmod(lay.config_file, PRIVATE_FILE)
        changes.append(f"made {lay.config_file} readable by root only")
    with config_lock(lay):
        config = read_config(lay)
        added, by_plugins, runs = installer_config_changes(ctx, config)
        if added or by_plugins:
            save_config(lay, config)
        if added:
            changes.append("made admin: " + ", ".join(added))
        if by_plugins:
            changes.append("plugins changed the config (tljh_config_post_install)")
    ctx.config = with_defaults(runs)
    if changes:
        ctx.hub_changed = True
    return changes


def installer_config_changes(ctx: Context, config: Any) -> tuple[list[str], bool, dict[str, Any]]:
    """Add the ``--admin`` names to ``config`` and let plugins change it, in memory.

    Returns the names added, whether plugins changed it, and the config the
    install goes on with: without the keys TLJH does not know, which are named
    in a warning (an upgrade must not stop on a key an older release accepted,
    see :func:`tljh.config.validate.blocking`).  Raises :class:`ConfigError`
    when the result has a value that cannot be applied.
    """
    added = []
    for name in [request.name for request in requested_admins(ctx)]:
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
        runs, ignored = runnable(config)
    except ConfigError as e:
        if not by_plugins:
            raise
        raise ConfigError(
            "after plugins changed it (tljh_config_post_install): " + e.message,
            "upgrade or uninstall the plugin that sets this value, or set a valid value "
            "yourself with 'tljh-config set KEY VALUE' (plugins keep the admin's values), "
            "then re-run the installer",
        ) from e
    if ignored:
        log.warning(ignored_keys_warning(str(ctx.layout.config_file), ignored))
    return added, by_plugins, runs


def secret_files(lay: Layout) -> list[Path]:
    """The random secrets the installer generates (32 bytes each), root's alone."""
    return [lay.traefik_api_secret, lay.cookie_secret, lay.users_api_token]


def step_secrets(ctx: Context) -> list[str]:
    lay = ctx.layout
    changes = []
    nbytes = 32
    for path in secret_files(lay):
        if path.exists() and path.stat().st_size > 0:
            if (path.stat().st_mode & 0o777) != PRIVATE_FILE:
                os.chmod(path, PRIVATE_FILE)
                changes.append(f"made {path} private")
            continue
        ensure_file(path, secrets.token_hex(nbytes) + "\n", mode=PRIVATE_FILE)
        changes.append(f"generated {path}")
    # Files the hub made before it ran with UMask=0077 (older installs).
    changes += [
        f"made {path} private"
        for path in tighten_files(lay.state_dir, shared=shared_with_proxy(lay))
    ]
    if changes:
        ctx.hub_changed = ctx.proxy_changed = True
    return changes


def command_links(lay: Layout) -> list[Path]:
    """The links on root's PATH to the commands of the hub environment, by the same name."""
    return [lay.tljh_config_link, lay.tljh_link]


def step_tljh_config_link(ctx: Context) -> list[str]:
    """``tljh-config`` and ``tljh`` on root's PATH, pointing into the hub environment."""
    lay = ctx.layout
    changes = []
    for link in command_links(lay):
        target = lay.hub_env / "bin" / link.name
        if link.is_symlink() and os.readlink(link) == str(target):
            continue
        tmp = link.parent / f".{link.name}.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
        changes.append(f"linked {link} -> {target}")
    return changes
