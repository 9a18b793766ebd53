"""The hub database: its schema revision, a consistent copy, and a real upgrade."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from tljh.layout import Layout
from tljh.system import hubdb


def test_head_is_the_revision_nothing_builds_on() -> None:
    scripts = [
        "revision = 'aaa'\ndown_revision = None\n",
        'revision = "bbb"\ndown_revision = "aaa"\n',
        "revision: str = 'ccc'\ndown_revision: str | None = 'bbb'\n",
    ]
    assert hubdb.head_from_scripts(scripts) == "ccc"
    # Two heads (a branch): not for us to decide.
    assert hubdb.head_from_scripts([*scripts, "revision = 'ddd'\ndown_revision = 'bbb'\n"]) is None


@pytest.fixture
def hub_layout(tmp_path: Path) -> Layout:
    """A layout whose hub environment is the environment running these tests."""
    lay = Layout(prefix=tmp_path / "tljh")
    lay.state_dir.mkdir(parents=True)
    lay.hub_env.symlink_to(Path(sys.prefix))
    return lay


def old_hub_db(db: Path, revision: str) -> None:
    """A hub database as an older JupyterHub left it: made now, then downgraded."""
    pytest.importorskip("jupyterhub")
    import alembic.command
    import alembic.config
    from jupyterhub import orm
    from jupyterhub.dbutil import _temp_alembic_ini

    url = f"sqlite:///{db}"
    session = orm.new_session_factory(url)()
    session.add(orm.User(name="ada"))
    session.commit()
    session.close()
    with _temp_alembic_ini(url) as ini:
        alembic.command.downgrade(alembic.config.Config(ini), revision)


def test_an_old_database_is_upgraded_with_the_hub_environments_alembic(
    hub_layout: Layout, tmp_path: Path
) -> None:
    db = hub_layout.hub_db
    old_hub_db(db, "4621fec11365")  # JupyterHub 5's schema
    assert hubdb.revision(db) == "4621fec11365"
    head = hubdb.head_revision(hub_layout)
    assert head != "4621fec11365"

    copy = tmp_path / "backups" / "old.sqlite"
    hubdb.backup(db, copy)
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert oct(copy.parent.stat().st_mode & 0o777) == "0o700"
    assert hubdb.revision(copy) == "4621fec11365"

    # Runs `alembic` as a command: found only on the PATH the upgrade sets up.
    hubdb.upgrade(hub_layout, db)
    assert hubdb.revision(db) == head
    names = sqlite3.connect(db).execute("SELECT name FROM users").fetchall()
    assert names == [("ada",)]


def test_a_database_without_a_revision_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite"
    sqlite3.connect(db).close()
    assert hubdb.revision(db) is None
