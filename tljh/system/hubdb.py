"""The hub's database: which schema it has, a consistent copy of it, and its upgrade.

JupyterHub refuses to start on a database made by an older JupyterHub until the
schema is upgraded.  The installer does that on purpose, once, after a copy
(:func:`backup`), instead of every hub start doing it behind the admin's back.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from tljh.layout import Layout
from tljh.system.files import PRIVATE_FILE
from tljh.system.paths import SYSTEM_PATH
from tljh.system.run import run

# Run by the hub environment's Python: the newest schema revision its JupyterHub knows.
_HEAD = (
    "from alembic.script import ScriptDirectory\n"
    "from jupyterhub.dbutil import ALEMBIC_DIR\n"
    "print(ScriptDirectory(ALEMBIC_DIR).get_current_head())\n"
)
# Run by the hub environment's Python: upgrade the database at sys.argv[1] to that head.
_UPGRADE = "import sys\nfrom jupyterhub import dbutil\ndbutil.upgrade('sqlite:///' + sys.argv[1])\n"


def revision(db: Path) -> str | None:
    """The schema revision recorded in the database ``db``; None without a record."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return str(row[0]) if row else None


_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([0-9a-f]+)['\"]", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*['\"]([0-9a-f]+)['\"]", re.M)


def head_from_scripts(scripts: list[str]) -> str | None:
    """The one revision no other migration script builds on; None if that is unclear."""
    revisions: set[str] = set()
    below: set[str] = set()
    for text in scripts:
        revisions.update(_REVISION.findall(text))
        below.update(_DOWN_REVISION.findall(text))
    heads = revisions - below
    return heads.pop() if len(heads) == 1 else None


def head_revision(layout: Layout) -> str:
    """The schema revision the hub environment's JupyterHub needs.

    Read from its migration scripts (fast: every re-run of the installer asks);
    JupyterHub's alembic answers when the scripts are not as expected.
    """
    pattern = "lib/python3*/site-packages/jupyterhub/alembic/versions"
    for versions in sorted(layout.hub_env.glob(pattern)):
        scripts = [p.read_text(errors="replace") for p in sorted(versions.glob("*.py"))]
        head = head_from_scripts(scripts)
        if head:
            return head
    out = run(
        [str(layout.hub_python), "-c", _HEAD],
        hint="the hub environment's JupyterHub is broken; re-run the installer",
    )
    return out.stdout.strip().splitlines()[-1]


def backup(db: Path, target: Path) -> None:
    """A consistent copy of ``db`` at ``target`` (root-only), also while the hub writes."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    os.close(fd)
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(tmp, PRIVATE_FILE)
    os.replace(tmp, target)


def upgrade(layout: Layout, db: Path) -> None:
    """Upgrade ``db`` to the hub environment's JupyterHub schema (alembic, in a subprocess).

    JupyterHub runs the ``alembic`` command of the hub environment: it must be on PATH.
    """
    env = {
        **os.environ,
        "PATH": f"{layout.hub_env / 'bin'}:{SYSTEM_PATH}",
        "TLJH_INSTALL_PREFIX": str(layout.prefix),
    }
    run(
        [str(layout.hub_python), "-c", _UPGRADE, str(db)],
        env=env,
        timeout=600,
        hint=f"the hub database {db} could not be upgraded; the output above says why",
    )
