"""Install step for the hub's database: upgrade its schema on purpose, after a copy.

When the hub environment's JupyterHub needs a newer schema than the database has
(an upgrade of JupyterHub, or a server taken over from upstream TLJH), the hub is
stopped, the database copied into state/db-backups/, and upgraded.  The services
step then starts the hub on it.  Users' servers keep running meanwhile.
"""

from __future__ import annotations

import time

from tljh.errors import CommandFailed, InstallError
from tljh.install.context import Context
from tljh.layout import HUB_UNIT
from tljh.system import hubdb, systemd


def step_hub_database(ctx: Context) -> list[str]:
    lay = ctx.layout
    db = lay.hub_db
    if not db.is_file():
        return []  # a fresh install: the hub creates it with the newest schema
    have = hubdb.revision(db)
    want = hubdb.head_revision(lay)
    if have == want:
        return []
    # The hub must not write while the schema changes under it.
    if systemd.is_active(HUB_UNIT):
        systemd.stop(HUB_UNIT)
    ctx.hub_changed = True
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = lay.state_dir / "db-backups" / f"jupyterhub-{have or 'unversioned'}-{stamp}.sqlite"
    hubdb.backup(db, copy)
    try:
        hubdb.upgrade(lay, db)
    except CommandFailed as e:
        hubdb.backup(copy, db)  # back to the schema the old JupyterHub knows
        raise InstallError(
            f"upgrading the hub database {db} to JupyterHub's schema {want} failed:\n" + e.message,
            f"the database is as it was (a copy is in {copy}); re-run the installer, and "
            "if it fails the same way, please report it with the output above",
        ) from e
    return [f"upgraded the hub database from schema {have} to {want} (copy of the old one: {copy})"]
