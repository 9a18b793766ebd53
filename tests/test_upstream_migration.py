"""Taking over upstream TLJH: recognising it, keeping what is replaced, putting it back."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest

from tljh.install import upstream
from tljh.install.context import Context
from tljh.install.options import InstallOptions
from tljh.layout import Layout


def hub_env(prefix: Path, ours: bool, version: str = "2.0.0") -> Path:
    """A hub environment's files as upstream's (or our) installer leaves them."""
    site = prefix / "hub" / "lib" / "python3.11" / "site-packages"
    info = site / f"the_littlest_jupyterhub-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Name: the-littlest-jupyterhub\nVersion: {version}\n\n")
    jh = site / "jupyterhub-5.3.0.dist-info"
    jh.mkdir()
    (jh / "METADATA").write_text("Name: jupyterhub\nVersion: 5.3.0\n\n")
    (site / "tljh").mkdir()
    (site / "tljh" / "config.py").write_text("")
    if ours:
        (site / "tljh" / "layout.py").write_text("")
    return prefix / "hub"


def test_upstream_is_told_from_ours_by_its_files(bootstrap: ModuleType, tmp_path: Path) -> None:
    theirs = hub_env(tmp_path / "a", ours=False)
    ours = hub_env(tmp_path / "b", ours=True)
    assert bootstrap.upstream_tljh(str(theirs)) == "2.0.0"
    assert bootstrap.upstream_tljh(str(ours)) is None
    assert bootstrap.upstream_tljh(str(tmp_path / "none")) is None
    assert bootstrap.installed_version(str(theirs), "jupyterhub") == "5.3.0"


def test_take_over_moves_upstream_aside_and_give_back_restores_it(
    bootstrap: ModuleType, tmp_path: Path
) -> None:
    prefix = tmp_path / "tljh"
    hub = hub_env(prefix, ours=False)
    (hub / "bin").mkdir()
    (hub / "bin" / "marker").write_text("upstream's")
    record = bootstrap.take_over_upstream(str(prefix), str(hub))
    kept = prefix / "state" / "upstream"
    assert not hub.exists()
    assert (kept / "hub-env" / "bin" / "marker").read_text() == "upstream's"
    assert oct(kept.stat().st_mode & 0o777) == "0o700"
    saved = json.loads((kept / "migration.json").read_text())
    assert saved == record
    assert (saved["tljh"], saved["jupyterhub"], saved["status"]) == ("2.0.0", "5.3.0", "started")
    assert oct((kept / "migration.json").stat().st_mode & 0o777) == "0o600"

    # The bootstrap failed after making a new environment: upstream's comes back.
    (hub / "bin").mkdir(parents=True)
    bootstrap.give_back_upstream(str(prefix), str(hub), record)
    assert (hub / "bin" / "marker").read_text() == "upstream's"
    assert not (kept / "hub-env").exists()
    assert json.loads((kept / "migration.json").read_text())["status"] == "rolled back"
    # ... and the next run starts over.
    assert bootstrap.take_over_upstream(str(prefix), str(hub))["status"] == "started"


def test_take_over_leaves_our_install_alone(bootstrap: ModuleType, tmp_path: Path) -> None:
    prefix = tmp_path / "tljh"
    hub = hub_env(prefix, ours=True)
    assert bootstrap.take_over_upstream(str(prefix), str(hub)) is None
    assert hub.is_dir()
    assert not (prefix / "state" / "upstream").exists()


def test_take_over_refuses_when_an_earlier_copy_is_in_the_way(
    bootstrap: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "tljh"
    hub = hub_env(prefix, ours=False)
    (prefix / "state" / "upstream" / "hub-env").mkdir(parents=True)
    with pytest.raises(SystemExit):
        bootstrap.take_over_upstream(str(prefix), str(hub))
    assert hub.is_dir()
    err = capsys.readouterr().err
    assert "is in the way" in err and "hint: move" in err


def layout(tmp_path: Path) -> Layout:
    lay = Layout(
        prefix=tmp_path / "tljh",
        systemd_dir=tmp_path / "systemd",
        sudoers_dir=tmp_path / "sudoers.d",
        bin_dir=tmp_path / "bin",
    )
    for d in (lay.state_dir, lay.systemd_dir, lay.sudoers_dir, lay.traefik_rules_dir):
        d.mkdir(parents=True, exist_ok=True)
    return lay


def make_db(path: Path, revision: str) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    con.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    con.execute("CREATE TABLE users (name TEXT)")
    con.execute("INSERT INTO users VALUES ('ada')")
    con.commit()
    con.close()


def started(lay: Layout) -> dict[str, object]:
    lay.upstream_dir.mkdir(parents=True, exist_ok=True)
    record = {"tljh": "2.0.0", "jupyterhub": "5.3.0", "status": "started", "started": "now"}
    record["hub_env"] = str(lay.upstream_dir / "hub-env")
    upstream.write_record(lay, record)
    return record


def test_step_keeps_copies_once_and_roll_back_restores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lay = layout(tmp_path)
    record = started(lay)
    lay.hub_unit_file.write_text("upstream's hub unit\n")
    lay.traefik_unit_file.write_text("upstream's traefik unit\n")
    lay.sudoers_file.write_text("%jupyterhub-admins ALL = (ALL) NOPASSWD: ALL\n")
    lay.traefik_static_config.write_text("upstream's traefik.toml\n")
    (lay.traefik_rules_dir / "dynamic.toml").write_text("upstream's, root's alone\n")
    lay.traefik_dynamic_config.write_text("the hub's routes\n")
    make_db(lay.hub_db, "4621fec11365")
    (lay.upstream_dir / "hub-env" / "bin").mkdir(parents=True)
    (lay.upstream_dir / "hub-env" / "bin" / "marker").write_text("upstream's")
    ctx = Context(layout=lay, options=InstallOptions())

    changes = upstream.step_upstream(ctx)
    assert ctx.migration is not None
    assert "taking over upstream TLJH 2.0.0" in changes[0], changes
    # Our traefik cannot read upstream's root-only dynamic.toml: it goes (a copy stays).
    assert "removed upstream's dynamic.toml" in changes[1], changes
    assert sorted(p.name for p in lay.traefik_rules_dir.iterdir()) == ["rules.toml"]
    assert (lay.upstream_dir / "rules" / "dynamic.toml").is_file()
    for name in ("jupyterhub.service", "traefik.service", "sudoers-jupyterhub-admins"):
        assert (lay.upstream_dir / name).is_file(), name
        assert oct((lay.upstream_dir / name).stat().st_mode & 0o777) == "0o600"
    assert upstream.kept_db(lay).is_file()
    # The installer continuing in a fresh process keeps the copies of this attempt.
    lay.hub_unit_file.write_text("our hub unit\n")
    assert upstream.step_upstream(Context(layout=lay, options=InstallOptions())) == []
    assert (lay.upstream_dir / "jupyterhub.service").read_text() == "upstream's hub unit\n"
    (lay.traefik_rules_dir / "tljh.toml").write_text("ours\n")

    # Half-way: our files and environment are in place, the database upgraded.
    lay.sudoers_file.write_text("ours\n")
    lay.traefik_static_config.write_text("ours\n")
    (lay.hub_env / "bin").mkdir(parents=True)
    con = sqlite3.connect(lay.hub_db)
    con.execute("UPDATE alembic_version SET version_num = 'f460b0348206'")
    con.commit()
    con.close()
    lay.bin_dir.mkdir()
    lay.tljh_link.symlink_to(lay.hub_env / "bin" / "tljh")
    (lay.hub_env / "bin" / "tljh").write_text("ours")
    for name in ("stop", "daemon_reload", "restart"):
        monkeypatch.setattr(upstream.systemd, name, lambda *a: None)
    upstream.roll_back(lay, ctx.migration)

    assert lay.hub_unit_file.read_text() == "upstream's hub unit\n"
    assert lay.sudoers_file.read_text() == "%jupyterhub-admins ALL = (ALL) NOPASSWD: ALL\n"
    assert lay.traefik_static_config.read_text() == "upstream's traefik.toml\n"
    assert sorted(p.name for p in lay.traefik_rules_dir.iterdir()) == ["dynamic.toml", "rules.toml"]
    assert (lay.hub_env / "bin" / "marker").read_text() == "upstream's"
    assert not (lay.upstream_dir / "hub-env").exists()
    assert not (lay.upstream_dir / "hub-env.failed").exists()
    assert not lay.tljh_link.is_symlink()
    from tljh.system import hubdb

    assert hubdb.revision(lay.hub_db) == "4621fec11365"
    assert upstream.read_record(lay)["status"] == "rolled back"

    # The next attempt (bootstrap.py records a new start) copies what is there then.
    lay.hub_unit_file.write_text("upstream's hub unit, edited since\n")
    upstream.write_record(lay, {**record, "status": "started", "started": "later"})
    assert upstream.step_upstream(Context(layout=lay, options=InstallOptions()))
    kept = (lay.upstream_dir / "jupyterhub.service").read_text()
    assert kept == "upstream's hub unit, edited since\n"


def test_finished_migration_is_recorded_and_not_repeated(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    started(lay)
    ctx = Context(layout=lay, options=InstallOptions())
    upstream.step_upstream(ctx)
    done = upstream.step_upstream_done(ctx)
    assert len(done) == 1 and done[0].startswith("migrated from upstream TLJH 2.0.0"), done
    assert "config.yaml" in done[0] and "go back" in done[0]
    assert upstream.read_record(lay)["status"] == "done"
    again = Context(layout=lay, options=InstallOptions())
    assert upstream.step_upstream(again) == []
    assert again.migration is None
    assert upstream.step_upstream_done(again) == []


def test_a_server_that_never_was_upstreams_has_no_migration(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    ctx = Context(layout=lay, options=InstallOptions())
    assert upstream.step_upstream(ctx) == []
    assert upstream.step_upstream_done(ctx) == []
    assert not lay.upstream_dir.exists()
    assert os.listdir(lay.state_dir) == ["rules"]
