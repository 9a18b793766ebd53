"""Snapshots of the config files, the known-good one, and restoring one.

Restarting units and rolling back on a real failure is tested on a real install
by integration-tests/test_30_config.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from conftest import make_install, mode

from tljh.apply.snapshot import (
    ROLLBACK_NOTE,
    known_good_config,
    known_good_dir,
    mentioned_snippets,
    read_known_good,
    record_known_good,
    restore_snapshot,
    take_snapshot,
)
from tljh.config.history import history_entries
from tljh.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = make_install(tmp_path, "# hub\nlimits:\n  memory: 1G\n")
    (lay.jupyterhub_config_d / "notes.txt").write_text("not a snippet\n")
    (lay.traefik_config_d / "extra.toml").write_text("[log]\nlevel = 'DEBUG'\n")
    return lay


def test_snapshot_reads_config_and_snippets(layout: Layout) -> None:
    snap = take_snapshot(layout)
    assert snap.config == b"# hub\nlimits:\n  memory: 1G\n"
    assert snap.hub_snippets == {"10-ok.py": b"c.JupyterHub.x = 1\n"}
    assert snap.proxy_snippets == {"extra.toml": b"[log]\nlevel = 'DEBUG'\n"}


def test_snapshot_without_a_config_file(layout: Layout) -> None:
    layout.config_file.unlink()
    assert take_snapshot(layout).config is None


def test_known_good_round_trip_is_root_only(layout: Layout) -> None:
    assert read_known_good(layout) is None
    record_known_good(layout)
    good = read_known_good(layout)
    assert good is not None
    assert good.same_files(take_snapshot(layout))
    assert good.recorded_at > 0
    top = known_good_dir(layout)
    assert stat.S_IMODE(top.stat().st_mode) == 0o700
    assert stat.S_IMODE((top / "config.yaml").stat().st_mode) == 0o600
    # Recording again replaces it whole; no leftovers.
    layout.config_file.write_text("limits:\n  memory: 2G\n")
    (layout.jupyterhub_config_d / "10-ok.py").unlink()
    record_known_good(layout)
    good = read_known_good(layout)
    assert good is not None and good.config == b"limits:\n  memory: 2G\n"
    assert good.hub_snippets == {}
    assert sorted(p.name for p in layout.state_dir.iterdir()) == ["config-known-good"]


def test_known_good_config_is_the_recorded_config_yaml(layout: Layout) -> None:
    assert known_good_config(layout) is None
    record_known_good(layout)
    layout.config_file.write_text("limits:\n  memory: 2G\n")
    assert known_good_config(layout) == b"# hub\nlimits:\n  memory: 1G\n"


def test_restore_puts_back_config_and_snippets(layout: Layout) -> None:
    good = take_snapshot(layout)
    # Then the admin changes things: a value, a new snippet, a changed one, a removed one.
    layout.config_file.write_text("# hub\nlimits:\n  memory: 3G\n")
    (layout.jupyterhub_config_d / "99-new.py").write_text("raise RuntimeError('x')\n")
    (layout.jupyterhub_config_d / "10-ok.py").write_text("c.JupyterHub.x = 2\n")
    (layout.traefik_config_d / "extra.toml").unlink()
    current = take_snapshot(layout)

    actions = restore_snapshot(layout, good, current)

    assert take_snapshot(layout).same_files(good)
    # The failed config.yaml is in the history, with a note saying why.
    (entry,) = history_entries(layout)
    assert entry.read_bytes() == b"# hub\nlimits:\n  memory: 3G\n"
    assert entry.note == ROLLBACK_NOTE
    # New and changed snippets were moved aside, never deleted.
    (rejected,) = layout.config_history_dir.glob("rejected-*")
    assert (rejected / "jupyterhub_config.d" / "99-new.py").read_text().startswith("raise")
    assert (rejected / "jupyterhub_config.d" / "10-ok.py").read_text() == "c.JupyterHub.x = 2\n"
    assert (layout.jupyterhub_config_d / "notes.txt").exists()  # not a snippet: untouched
    text = "\n".join(actions)
    assert "moved jupyterhub_config.d/99-new.py" in text
    assert "restored jupyterhub_config.d/10-ok.py" in text
    assert "restored traefik_config.d/extra.toml, which had been removed" in text
    assert f"restored {layout.config_file}" in text


def test_restore_of_identical_files_does_nothing(layout: Layout) -> None:
    now = take_snapshot(layout)
    assert restore_snapshot(layout, now, now) == []
    assert history_entries(layout) == []
    assert not list(layout.config_history_dir.glob("rejected-*"))


def test_mentioned_snippets_are_found_by_path(layout: Layout) -> None:
    snippet = layout.jupyterhub_config_d / "10-ok.py"
    log = f'  File "{snippet}", line 1, in <module>\nNameError: name "x" is not defined\n'
    assert mentioned_snippets(layout, log) == [str(snippet)]
    # notes.txt is not a snippet, even when the log names it.
    assert mentioned_snippets(layout, str(layout.jupyterhub_config_d / "notes.txt")) == []


@pytest.mark.usefixtures("open_umask")
def test_restore_leaves_every_file_it_writes_root_only(layout: Layout) -> None:
    good = take_snapshot(layout)
    # What an admin's 'sudo nano' makes under a default umask: readable by all.
    layout.config_file.write_text("# hub\nlimits:\n  memory: 3G\n")
    os.chmod(layout.config_file, 0o644)
    new = layout.jupyterhub_config_d / "99-new.py"
    new.write_text("c.Authenticator.client_secret = 'hunter2'\n")
    changed = layout.jupyterhub_config_d / "10-ok.py"
    changed.write_text("c.JupyterHub.x = 2\n")
    for path in (new, changed):
        os.chmod(path, 0o644)
    # A removed snippet directory is created again.
    shutil.rmtree(layout.traefik_config_d)

    restore_snapshot(layout, good, take_snapshot(layout))

    assert mode(layout.config_file) == 0o600
    assert mode(layout.jupyterhub_config_d / "10-ok.py") == 0o600
    assert mode(layout.traefik_config_d) == 0o700
    assert mode(layout.traefik_config_d / "extra.toml") == 0o600
    assert mode(layout.config_history_dir) == 0o700
    (rejected,) = layout.config_history_dir.glob("rejected-*")
    seen = []
    for path in [rejected, *rejected.rglob("*")]:
        seen.append(path.relative_to(rejected).as_posix())
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert sorted(seen) == [
        ".",
        "jupyterhub_config.d",
        "jupyterhub_config.d/10-ok.py",
        "jupyterhub_config.d/99-new.py",
    ]
    for entry in history_entries(layout):
        assert mode(entry.path) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_known_good_on_a_fresh_state_dir_is_root_only(layout: Layout) -> None:
    layout.state_dir.rmdir()
    record_known_good(layout)
    top = known_good_dir(layout)
    assert mode(layout.state_dir) == 0o700
    for path in [top, *top.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_a_hub_on_its_fallback_never_makes_the_files_known_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tljh.apply import snapshot
    from tljh.config.fallback import Fallback, write_fallback
    from tljh.system.systemd import UnitStatus

    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir()
    layout.config_file.write_text("")
    layout.jupyterhub_config_d.mkdir()
    (layout.jupyterhub_config_d / "50-raises.py").write_text("1/0\n")
    later = time.time() + 60
    monkeypatch.setattr(
        snapshot.systemd, "status", lambda unit: UnitStatus("active", "running", 1, 0, later)
    )
    monkeypatch.setattr(snapshot, "hub_problem", lambda config: None)
    monkeypatch.setattr(snapshot, "proxy_problem", lambda config: None)
    assert snapshot.running_config(layout) is not None  # healthy, started after the change
    write_fallback(layout, Fallback(("jupyterhub_config.d",), ("50-raises.py raises",), 1, 1.0))
    assert snapshot.running_config(layout) is None
    assert snapshot.note_running_config(layout) is False
