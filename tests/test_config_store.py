"""Loading and saving config.yaml: round-trip, atomic, locked, history."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import held_lock, mode

from tljh.config import store
from tljh.config.history import HISTORY_KEEP, list_history
from tljh.config.store import (
    ConfigFiles,
    config_lock,
    read_config,
    save_config,
    update_config,
)
from tljh.config.values import add_item, remove_item, set_value
from tljh.errors import ConfigError, ConfigValidationError, LockedError
from tljh.layout import Layout

COMMENTED = """\
# Our hub, managed by the IT team.
users:
  admin:
  - alice   # the teacher
  - '1234'
limits:
  memory: 2G  # raised for the ML course
auth:
  type: dummy
"""


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(prefix=tmp_path)


def write(layout: Layout, text: str) -> None:
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    layout.config_file.write_text(text)


def test_missing_file_is_empty(layout: Layout) -> None:
    data = read_config(layout)
    assert dict(data) == {}


def test_empty_file_is_empty(layout: Layout) -> None:
    write(layout, "# nothing yet\n")
    assert dict(read_config(layout)) == {}


def test_round_trip_keeps_comments_order_and_quotes(layout: Layout) -> None:
    write(layout, COMMENTED)
    data = read_config(layout)
    assert data["users"]["admin"] == ["alice", "1234"]
    save_config(layout, data)
    assert layout.config_file.read_text() == COMMENTED

    set_value(data, "limits.cpu", 2)
    add_item(data, "users.admin", "5678")
    save_config(layout, data)
    text = layout.config_file.read_text()
    assert "# Our hub, managed by the IT team." in text
    assert "- alice   # the teacher" in text
    assert "memory: 2G  # raised for the ML course" in text
    assert "- '5678'" in text  # numeric-looking usernames stay quoted text
    assert text.index("users:") < text.index("limits:") < text.index("auth:")
    again = read_config(layout)
    assert again["users"]["admin"] == ["alice", "1234", "5678"]
    assert again["limits"]["cpu"] == 2


def test_items_added_to_empty_flow_list_are_block_style(layout: Layout) -> None:
    write(layout, "users:\n  admin: []\n")
    data = read_config(layout)
    add_item(data, "users.admin", "alice")
    save_config(layout, data)
    assert layout.config_file.read_text() == "users:\n  admin:\n  - alice\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("users:\n  admin: [alice\n", "line 3"),
        ("limits:\n\tmemory: 1G\n", "line 2, column 1"),
        ("limits: memory: 1G\n", "line 1, column 15"),
        ("a: 1\na: 2\n", "line 2"),
    ],
)
def test_yaml_errors_name_file_line_and_column(layout: Layout, text: str, where: str) -> None:
    write(layout, text)
    with pytest.raises(ConfigError) as info:
        read_config(layout)
    assert str(layout.config_file) in info.value.message
    assert where in info.value.message
    assert info.value.hint


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n"])
def test_top_level_must_be_mapping(layout: Layout, text: str) -> None:
    write(layout, text)
    with pytest.raises(ConfigError, match="mapping"):
        read_config(layout)


def test_save_creates_file_0600(layout: Layout) -> None:
    # It may hold secrets (OAuth client secrets, LDAP passwords): root's alone.
    save_config(layout, {"limits": {"memory": "1G"}})
    assert stat.S_IMODE(layout.config_file.stat().st_mode) == 0o600
    assert layout.config_file.read_text() == "limits:\n  memory: 1G\n"


def test_save_keeps_existing_mode(layout: Layout) -> None:
    write(layout, "limits:\n  memory: 1G\n")
    os.chmod(layout.config_file, 0o600)
    save_config(layout, {"limits": {"memory": "2G"}})
    assert stat.S_IMODE(layout.config_file.stat().st_mode) == 0o600


def test_failed_rename_leaves_old_file_intact(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(layout, COMMENTED)

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    data = read_config(layout)
    set_value(data, "limits.memory", "4G")
    with pytest.raises(ConfigError, match="No space left"):
        save_config(layout, data)
    monkeypatch.undo()
    assert layout.config_file.read_text() == COMMENTED
    leftovers = [p for p in layout.config_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_history_keeps_previous_versions(layout: Layout) -> None:
    save_config(layout, {"limits": {"memory": "1G"}})
    assert list_history(layout) == []  # nothing before the first save
    save_config(layout, {"limits": {"memory": "2G"}})
    save_config(layout, {"limits": {"memory": "2G"}})  # unchanged: no new entry
    history = list_history(layout)
    assert len(history) == 1
    assert history[0].read_text() == "limits:\n  memory: 1G\n"
    assert history[0].parent == layout.config_history_dir
    assert stat.S_IMODE(history[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.config_history_dir.stat().st_mode) == 0o700


def test_history_is_pruned(layout: Layout) -> None:
    for i in range(HISTORY_KEEP + 5):
        save_config(layout, {"services": {"cull": {"timeout": 100 + i}}})
    history = list_history(layout)
    assert len(history) == HISTORY_KEEP
    # The newest entry is the version before the last save.
    assert f"timeout: {100 + HISTORY_KEEP + 3}" in history[-1].read_text()
    assert f"timeout: {100 + HISTORY_KEEP + 4}" in layout.config_file.read_text()


def test_lock_busy_raises_locked_error(layout: Layout) -> None:
    layout.config_dir.mkdir(parents=True)
    with held_lock(layout.config_lock):
        with pytest.raises(LockedError) as info, config_lock(layout, timeout=0.1):
            pass  # pragma: no cover - must not be reached
        assert "being changed by another tljh-config" in info.value.message
        assert info.value.hint
    with config_lock(layout, timeout=0.1):
        pass


def test_lock_is_exclusive_across_processes(layout: Layout) -> None:
    import subprocess
    import sys

    layout.config_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"os.makedirs({str(layout.config_lock.parent)!r}, exist_ok=True)\n"
            f"fd = os.open({str(layout.config_lock)!r}, os.O_RDONLY | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError), config_lock(layout, timeout=0.2):
            pass  # pragma: no cover
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    with config_lock(layout, timeout=5):
        pass


def test_update_config_refuses_invalid_change(layout: Layout) -> None:
    write(layout, COMMENTED)
    with pytest.raises(ConfigValidationError) as info:
        update_config(layout, lambda d: set_value(d, "limits.memory", "2 GB"))
    assert info.value.problems[0].path == "limits.memory"
    assert str(info.value.problems[0]).startswith("limits.memory: ")
    assert layout.config_file.read_text() == COMMENTED
    assert list_history(layout) == []


def test_update_config_allows_repairing_a_broken_file(layout: Layout) -> None:
    write(layout, "limits:\n  memory: 2 GB\n  cpu: -1\n")
    result = update_config(layout, lambda d: set_value(d, "limits.memory", "2G"))
    assert result.changed
    assert [str(p).split(":")[0] for p in result.remaining] == ["limits.cpu"]
    assert "memory: 2G" in layout.config_file.read_text()
    # ...but a change that adds a new problem is still refused.
    with pytest.raises(ConfigValidationError):
        update_config(layout, lambda d: set_value(d, "http.port", 0))


def test_config_files_for_other_path(tmp_path: Path) -> None:
    files = ConfigFiles.for_file(tmp_path / "x.yaml")
    assert files.config_lock == tmp_path / ".x.yaml.lock"
    assert files.config_history_dir == tmp_path / ".x.yaml.history"
    standard = ConfigFiles.for_file(tmp_path / "config.yaml")
    layout = Layout(prefix=tmp_path.parent)
    assert standard.config_lock == tmp_path / ".config.yaml.lock"
    assert standard.config_history_dir.name == layout.config_history_dir.name
    save_config(files, {"base_url": "/x/"})
    save_config(files, {"base_url": "/y/"})
    assert len(list_history(files)) == 1


def test_dump_of_empty_config_is_empty() -> None:
    assert store.dump_yaml({}) == ""


def test_removing_a_list_item_before_a_bad_one_is_no_new_problem(layout: Layout) -> None:
    # The bad item moves from index 2 to 1: the same problem, not a new one.
    write(layout, "users:\n  admin:\n  - alice\n  - bob\n  - 1234\n")
    result = update_config(layout, lambda d: remove_item(d, "users.admin", "bob"))
    assert result.changed
    assert [(p.path, p.item) for p in result.remaining] == [("users.admin", 1)]


# --- who may open what: config, history and the lock are root's alone ---------------------


@pytest.mark.usefixtures("open_umask")
def test_set_on_a_fresh_prefix_leaves_everything_private(tmp_path: Path) -> None:
    # 'tljh-config set' before any install: nothing exists under the prefix yet.
    layout = Layout(prefix=tmp_path / "opt" / "tljh")
    update_config(layout, lambda d: set_value(d, "base_url", "/a/"))
    update_config(layout, lambda d: set_value(d, "base_url", "/b/"))
    assert mode(layout.config_file) == 0o600
    for directory in (layout.prefix, layout.config_dir, layout.config_history_dir):
        assert mode(directory) == 0o700, directory
    (entry,) = list_history(layout)
    assert mode(entry) == 0o600
    assert mode(layout.config_lock) == 0o600
    assert mode(layout.config_lock.parent) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_a_rewrite_tightens_a_loose_config_and_history(layout: Layout) -> None:
    # An older release (or an admin's editor) left them readable by everyone.
    write(layout, COMMENTED)
    os.chmod(layout.config_file, 0o644)
    layout.config_history_dir.mkdir()
    os.chmod(layout.config_history_dir, 0o755)
    update_config(layout, lambda d: set_value(d, "limits.cpu", 2))
    assert mode(layout.config_file) == 0o600
    assert mode(layout.config_history_dir) == 0o700
    (entry,) = list_history(layout)
    assert mode(entry) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_history_notes_are_private(layout: Layout) -> None:
    write(layout, COMMENTED)
    store.write_bytes(layout, b"limits:\n  cpu: 1\n", note="replaced by a test")
    (entry,) = list_history(layout)
    notes = list(layout.config_history_dir.glob("*.note"))
    assert len(notes) == 1
    for path in (entry, *notes):
        assert mode(path) == 0o600, path


def test_the_lock_lives_in_the_private_state_dir(layout: Layout) -> None:
    # A lock anyone can open is a lock anyone can hold: flock needs only a
    # read-only descriptor.  state/ is 0700, so no student can even reach it.
    assert layout.config_lock.parent == layout.state_dir
    assert layout.config_lock.parent != layout.config_dir


@pytest.mark.usefixtures("open_umask")
def test_the_lock_and_its_owner_file_are_private(layout: Layout) -> None:
    with config_lock(layout, owner="'tljh-config edit' by alice"):
        assert mode(layout.config_lock) == 0o600
        assert mode(layout.state_dir) == 0o700
        owner = store._owner_file(layout)
        assert owner.read_text().split(" ", 1)[1].startswith("'tljh-config edit' by alice")
        assert mode(owner) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_an_existing_loose_lock_file_is_tightened(layout: Layout) -> None:
    layout.config_lock.parent.mkdir(parents=True)
    layout.config_lock.write_text("")
    os.chmod(layout.config_lock, 0o666)
    with config_lock(layout, timeout=0.1):
        assert mode(layout.config_lock) == 0o600
    assert mode(layout.config_lock) == 0o600


def test_a_lock_path_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    # In a shared directory another user could point the lock at a file of
    # root's: the lock must not follow it (nor change that file's mode).
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    os.chmod(target, 0o644)
    files = ConfigFiles.for_file(tmp_path / "x.yaml")
    files.config_lock.symlink_to(target)
    with pytest.raises(ConfigError) as info, config_lock(files, timeout=0.1):
        pass  # pragma: no cover - must not be reached
    assert str(files.config_lock) in info.value.message
    assert info.value.hint
    assert target.read_text() == "keep me\n"
    assert mode(target) == 0o644


def test_saving_the_same_content_still_tightens_the_mode(layout: Layout) -> None:
    write(layout, "limits:\n  memory: 1G\n")
    os.chmod(layout.config_file, 0o644)
    save_config(layout, {"limits": {"memory": "1G"}})
    assert mode(layout.config_file) == 0o600
    assert list_history(layout) == []
