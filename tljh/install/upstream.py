"""Taking over a server installed by upstream TLJH (jupyterhub/the-littlest-jupyterhub).

``bootstrap.py`` recognises upstream's hub environment, moves it into
``state/upstream/hub-env`` and writes ``state/upstream/migration.json`` with
status "started".  The installer then:

1. (:func:`step_upstream`, first) keeps copies of what the other steps replace:
   upstream's systemd units, sudoers rules, traefik files and hub database;
2. runs every step as for any install: config.yaml is only read, accounts and
   homes are adopted, the user environment is updated in place, the database
   upgraded on purpose (:mod:`tljh.install.database`), units rewritten;
3. (:func:`step_upstream_done`, last) records status "done".

If a step fails in between, :func:`roll_back` puts upstream's hub environment,
units, sudoers, traefik files and database back and restarts its hub: the server
runs upstream TLJH as before, and running the bootstrap again starts over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

from tljh.install.context import Context
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.system import hubdb, systemd
from tljh.system.files import PRIVATE_FILE, atomic_write, ensure_private_dir
from tljh.system.packages import pip_install_user_packages

log = logging.getLogger(__name__)

#: The migration record's statuses.
STARTED, DONE, ROLLED_BACK = "started", "done", "rolled back"


def read_record(layout: Layout) -> dict[str, Any] | None:
    """The migration record, or None on a server that never was upstream's."""
    try:
        record = json.loads(layout.migration_record.read_text())
    except FileNotFoundError:
        return None
    return record if isinstance(record, dict) else None


def write_record(layout: Layout, record: dict[str, Any]) -> None:
    atomic_write(layout.migration_record, json.dumps(record, indent=2) + "\n", mode=PRIVATE_FILE)


def kept_files(layout: Layout) -> list[tuple[Path, Path]]:
    """(file of the running install, its copy in state/upstream/) for what the steps replace."""
    kept = layout.upstream_dir
    return [
        (layout.hub_unit_file, kept / layout.hub_unit_file.name),
        (layout.traefik_unit_file, kept / layout.traefik_unit_file.name),
        (layout.sudoers_file, kept / "sudoers-jupyterhub-admins"),
        (layout.traefik_static_config, kept / "traefik.toml"),
    ]


def kept_rules(layout: Layout) -> Path:
    """The copy of traefik's rules directory (upstream's dynamic.toml, the hub's routes)."""
    return layout.upstream_dir / "rules"


def _keep_rules(layout: Layout) -> None:
    copy = kept_rules(layout)
    shutil.rmtree(copy, ignore_errors=True)
    if layout.traefik_rules_dir.is_dir():
        shutil.copytree(layout.traefik_rules_dir, copy, symlinks=True)


def _set_aside_upstream_rules(layout: Layout) -> list[str]:
    """Remove what only upstream's traefik reads from the rules directory (a copy is kept).

    Our traefik watches the whole directory as its own user: a root-only file left
    there (upstream's dynamic.toml) stops it from loading any rules.
    """
    rules = layout.traefik_rules_dir
    if not rules.is_dir():
        return []
    removed = []
    for path in sorted(rules.iterdir()):
        if path != layout.traefik_dynamic_config and (kept_rules(layout) / path.name).exists():
            path.unlink()
            removed.append(path.name)
    return removed


def dist_version(env: Path, name: str) -> str | None:
    """The installed version of the distribution ``name`` in the environment ``env``."""
    for info in sorted(env.glob(f"lib/python3*/site-packages/{name}-*.dist-info")):
        m = re.fullmatch(rf"{re.escape(name)}-(.+)\.dist-info", info.name)
        if m:
            return m.group(1)
    return None


def kept_db(layout: Layout) -> Path:
    return layout.upstream_dir / "jupyterhub.sqlite"


def step_upstream(ctx: Context) -> list[str]:
    """Keep copies of upstream's files before other steps replace them (once)."""
    lay = ctx.layout
    record = read_record(lay)
    if record is None or record.get("status") != STARTED:
        return []
    ctx.migration = record
    ensure_private_dir(lay.upstream_dir)
    # Each attempt (bootstrap.py records when it started) copies what is there now:
    # after a roll back, upstream ran again and its database moved on.  An installer
    # continuing in a fresh process (tljh.cli.installer.restart) finds them made.
    if "copies_of" in record and record["copies_of"] == record.get("started"):
        return _set_aside_upstream_rules_changes(lay)
    # The user environment is updated in place; a roll back puts this version back.
    record["user_jupyterhub"] = dist_version(lay.user_env, "jupyterhub")
    copied = []
    for live, copy in kept_files(lay):
        copy.unlink(missing_ok=True)
        if live.is_file():
            shutil.copy2(live, copy)
            copy.chmod(PRIVATE_FILE)
            copied.append(live.name)
    _keep_rules(lay)
    copied.append(f"{lay.traefik_rules_dir.name}/")
    kept_db(lay).unlink(missing_ok=True)
    if lay.hub_db.is_file():
        hubdb.backup(lay.hub_db, kept_db(lay))
        copied.append(lay.hub_db.name)
    record["copies_of"] = record.get("started")
    write_record(lay, record)
    return [
        f"taking over upstream TLJH {record.get('tljh')} (JupyterHub {record.get('jupyterhub')}); "
        f"its hub environment and {', '.join(copied)} are kept in {lay.upstream_dir}",
        *_set_aside_upstream_rules_changes(lay),
    ]


def _set_aside_upstream_rules_changes(layout: Layout) -> list[str]:
    removed = _set_aside_upstream_rules(layout)
    if not removed:
        return []
    return [f"removed upstream's {', '.join(removed)} from {layout.traefik_rules_dir} (kept)"]


def step_upstream_done(ctx: Context) -> list[str]:
    """Record that the migration finished; say what it changed."""
    record = ctx.migration
    if record is None:
        return []
    record["status"] = DONE
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_record(ctx.layout, record)
    return [
        f"migrated from upstream TLJH {record.get('tljh')}: new hub environment, hub database "
        "upgraded, systemd units and sudoers rules rewritten; config.yaml, users, passwords, "
        "homes and the user environment kept. To go back, see 'Coming from upstream "
        "TLJH' in the documentation (docs/howto/from-upstream.md)"
    ]


def roll_back(layout: Layout, record: dict[str, Any]) -> None:
    """Put upstream's install back after a failed migration, and start its hub.

    Best effort, step by step: each part that cannot be restored is logged and
    the rest still done.
    """
    log.error("migration: putting upstream TLJH back as it was")
    with contextlib.suppress(Exception):
        systemd.stop(HUB_UNIT)
    for live, copy in kept_files(layout):
        if copy.is_file():
            try:
                live.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(copy, live)
            except OSError as e:
                log.error("migration: could not restore %s: %s", live, e)
    rules_copy = kept_rules(layout)
    if rules_copy.is_dir():
        try:
            shutil.rmtree(layout.traefik_rules_dir, ignore_errors=True)
            shutil.copytree(rules_copy, layout.traefik_rules_dir, symlinks=True)
        except OSError as e:
            log.error("migration: could not restore %s: %s", layout.traefik_rules_dir, e)
    db = kept_db(layout)
    if db.is_file() and layout.hub_db.is_file():
        try:
            if hubdb.revision(layout.hub_db) != hubdb.revision(db):
                hubdb.backup(db, layout.hub_db)
        except Exception as e:
            log.error("migration: could not restore %s: %s", layout.hub_db, e)
    wanted = record.get("user_jupyterhub")
    if wanted and dist_version(layout.user_env, "jupyterhub") != wanted:
        # Upstream's hub talks to servers of its own JupyterHub version.
        try:
            pip_install_user_packages(layout.uv, layout.user_python, [f"jupyterhub=={wanted}"])
        except Exception as e:
            log.error(
                "migration: could not put back jupyterhub %s in the user environment: %s", wanted, e
            )
    kept_env = Path(record.get("hub_env") or layout.upstream_dir / "hub-env")
    failed = layout.upstream_dir / "hub-env.failed"
    if kept_env.is_dir():
        shutil.rmtree(failed, ignore_errors=True)
        if layout.hub_env.exists():
            # This installer runs from it: removed last, once nothing more is imported.
            shutil.move(layout.hub_env, failed)
        shutil.move(kept_env, layout.hub_env)
    # Upstream has no 'tljh' command: the link into its environment would dangle.
    if layout.tljh_link.is_symlink() and not layout.tljh_link.exists():
        layout.tljh_link.unlink()
    record["status"] = ROLLED_BACK
    write_record(layout, record)
    for name, action in (
        ("daemon-reload", systemd.daemon_reload),
        (PROXY_UNIT, lambda: systemd.restart(PROXY_UNIT)),
        (HUB_UNIT, lambda: systemd.restart(HUB_UNIT)),
    ):
        try:
            action()
        except Exception as e:
            log.error("migration: %s failed: %s", name, e)
    log.error(
        "migration: upstream TLJH %s runs again, as before the migration. Fix the cause "
        "above and run the bootstrap again to retry.",
        record.get("tljh"),
    )
    shutil.rmtree(failed, ignore_errors=True)
