"""tljh-config history and rollback, on a temporary --config-path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tljh.cli.config import main
from tljh.config.history import (
    HISTORY_KEEP,
    changed_keys,
    describe_changes,
    history_entries,
    history_entry,
    list_history,
)
from tljh.config.secrets import MASK, masked
from tljh.config.store import ConfigFiles, write_bytes
from tljh.errors import ConfigError


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "prefix"))
    return tmp_path / "config.yaml"


def run(cfg: Path, *args: str) -> int:
    return main(["--config-path", str(cfg), *args])


def test_empty_history(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "history") == 0
    assert "No earlier versions" in capsys.readouterr().out
    assert run(cfg, "rollback", "--no-apply") == 1
    assert "no earlier versions" in capsys.readouterr().err


def test_history_lists_newest_first_with_differences(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "limits.memory", "1G") == 0
    assert run(cfg, "set", "limits.cpu", "2") == 0
    assert run(cfg, "add-item", "users.admin", "alice") == 0
    capsys.readouterr()
    assert run(cfg, "history") == 0
    lines = capsys.readouterr().out.splitlines()
    entries = [line for line in lines if line[:3].strip().isdigit()]
    assert len(entries) == 2
    assert entries[0].split()[0] == "1" and entries[0].endswith("users.admin")
    assert entries[1].split()[0] == "2" and entries[1].endswith("limits.cpu, users.admin")


def test_history_prints_a_version_with_secrets_masked(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "auth.DummyAuthenticator.password", "hunter2") == 0
    assert run(cfg, "set", "limits.cpu", "2") == 0
    capsys.readouterr()
    assert run(cfg, "history", "1") == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "password: '********'" in out
    assert "cpu" not in out
    assert run(cfg, "history", "1", "--show-secrets") == 0
    assert "password: hunter2" in capsys.readouterr().out
    assert run(cfg, "history", "5") == 1
    assert "the history holds 1 to 1" in capsys.readouterr().err


def test_rollback_restores_and_can_be_undone(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text("# keep this comment\nlimits:\n  memory: 1G\n")
    assert run(cfg, "set", "limits.memory", "4G") == 0
    assert run(cfg, "rollback", "--no-apply") == 0
    assert cfg.read_text() == "# keep this comment\nlimits:\n  memory: 1G\n"
    out = capsys.readouterr().out
    assert "Restored version 1" in out and "tljh-config reload" in out
    # The version rollback replaced is number 1 now, with a note.
    entries = history_entries(ConfigFiles.for_file(cfg))
    assert entries[0].read_bytes() == b"# keep this comment\nlimits:\n  memory: 4G\n"
    assert "rollback" in entries[0].note
    assert run(cfg, "history") == 0
    assert "[replaced by 'tljh-config rollback']" in capsys.readouterr().out
    assert run(cfg, "rollback", "--no-apply") == 0
    assert "memory: 4G" in cfg.read_text()


def test_rollback_to_an_older_version(cfg: Path) -> None:
    for cpu in ("1", "2", "3"):
        assert run(cfg, "set", "limits.cpu", cpu) == 0
    assert run(cfg, "rollback", "2", "--no-apply") == 0
    assert cfg.read_text() == "limits:\n  cpu: 1\n"


def test_rollback_refuses_an_invalid_version(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text("limits:\n  memory: 2 GB\n")  # a hand edit
    assert run(cfg, "set", "limits.memory", "2G") == 0  # repaired by tljh-config
    capsys.readouterr()
    assert run(cfg, "rollback", "--no-apply") == 1
    err = capsys.readouterr().err
    assert "limits.memory: '2 GB' is not a memory size" in err
    assert "not restored" in err
    assert cfg.read_text() == "limits:\n  memory: 2G\n"


def test_rollback_apply_needs_the_installed_config(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "limits.cpu", "1") == 0
    assert run(cfg, "set", "limits.cpu", "2") == 0
    assert run(cfg, "rollback") == 1
    assert "only the installed config" in capsys.readouterr().err
    assert cfg.read_text() == "limits:\n  cpu: 2\n"


def test_set_apply_needs_the_installed_config(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "limits.cpu", "1", "--apply") == 1
    assert "only the installed config" in capsys.readouterr().err
    assert not cfg.exists()


def test_write_bytes_keeps_text_exactly_and_notes(cfg: Path) -> None:
    files = ConfigFiles.for_file(cfg)
    assert write_bytes(files, b"a:  1   # odd spacing\n") is True
    assert write_bytes(files, b"a:  1   # odd spacing\n") is False
    assert write_bytes(files, b"b: 2\n", note="because") is True
    assert cfg.read_bytes() == b"b: 2\n"
    (entry,) = history_entries(files)
    assert entry.number == 1
    assert entry.read_bytes() == b"a:  1   # odd spacing\n"
    assert entry.note == "because"
    assert entry.replaced_at > 0


def test_pruning_removes_notes_too(cfg: Path) -> None:
    files = ConfigFiles.for_file(cfg)
    for i in range(HISTORY_KEEP + 3):
        write_bytes(files, f"n: {i}\n".encode(), note=f"note {i}")
    assert len(list_history(files)) == HISTORY_KEEP
    notes = list(files.config_history_dir.glob("*.note"))
    assert len(notes) == HISTORY_KEEP
    # Write i replaced version i - 1, and its note says so.
    assert history_entries(files)[0].read_bytes() == f"n: {HISTORY_KEEP + 1}\n".encode()
    assert history_entries(files)[0].note == f"note {HISTORY_KEEP + 2}"


def test_history_entry_range(cfg: Path) -> None:
    files = ConfigFiles.for_file(cfg)
    with pytest.raises(ConfigError, match="no earlier versions"):
        history_entry(files, 1)
    write_bytes(files, b"a: 1\n")
    write_bytes(files, b"a: 2\n")
    assert history_entry(files, 1).read_bytes() == b"a: 1\n"
    with pytest.raises(ConfigError, match="there is no version 0"):
        history_entry(files, 0)


def test_describe_changes() -> None:
    old = {"limits": {"memory": "1G"}, "users": {"admin": ["a"]}}
    assert describe_changes(old, old) == "same settings (only comments or layout differ)"
    assert describe_changes(old, {"limits": {"memory": "2G"}}) == "limits.memory, users.admin"
    assert describe_changes(None, old) == "(not valid YAML)"
    assert describe_changes(old, None) == ""
    many = {f"k{i}": i for i in range(6)}
    assert describe_changes({}, many) == "k0, k1, k2, k3 (+2 more)"
    assert changed_keys({"a": None}, {"a": {}}) == []
    assert changed_keys(1, 2) == ["(everything)"]


def test_masked_keeps_the_original_and_masks_secrets() -> None:
    config = {"traefik_api": {"password": "pw", "port": 1}, "auth": {"X": {"client_secret": ""}}}
    shown = masked(config, [])
    assert shown == {
        "traefik_api": {"password": MASK, "port": 1},
        "auth": {"X": {"client_secret": ""}},
    }
    assert config["traefik_api"]["password"] == "pw"
    assert masked("pw", ["traefik_api", "password"]) == MASK
    assert masked("", ["traefik_api", "password"]) == ""


def test_rollback_tightens_the_files_it_writes(cfg: Path) -> None:
    old = os.umask(0)
    try:
        cfg.write_text("limits:\n  memory: 1G\n")
        os.chmod(cfg, 0o644)
        assert run(cfg, "set", "limits.memory", "4G") == 0
        os.chmod(cfg, 0o644)
        assert run(cfg, "rollback", "--no-apply") == 0
    finally:
        os.umask(old)
    assert cfg.read_text() == "limits:\n  memory: 1G\n"
    history = ConfigFiles.for_file(cfg).config_history_dir
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.stat().st_mode) == 0o700
    files = sorted(history.iterdir())
    assert len(files) == 3  # two versions and the note of the one rollback replaced
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --- order that does not depend on the clock ------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The wall clock history reads; tests set ``clock[0]``."""
    now = [1_800_000_000.0]
    monkeypatch.setattr("tljh.config.history.time.time", lambda: now[0])
    return now


def test_a_clock_going_backwards_keeps_the_newest_first(cfg: Path, clock: list[float]) -> None:
    files = ConfigFiles.for_file(cfg)
    write_bytes(files, b"v: 0\n")
    for i, when in enumerate([1_800_000_000.0, 1_700_000_000.0, 1_600_000_000.0], start=1):
        clock[0] = when
        write_bytes(files, f"v: {i}\n".encode())
    entries = history_entries(files)
    assert [e.read_bytes() for e in entries] == [b"v: 2\n", b"v: 1\n", b"v: 0\n"]
    assert history_entry(files, 1).read_bytes() == b"v: 2\n"
    # The time shown is still the clock's, however wrong it was.
    assert entries[0].replaced_at == 1_600_000_000.0


def test_entries_in_the_same_instant_stay_in_order(cfg: Path, clock: list[float]) -> None:
    files = ConfigFiles.for_file(cfg)
    for i in range(12):
        write_bytes(files, f"v: {i}\n".encode())
    assert [e.read_bytes() for e in history_entries(files)] == [
        f"v: {i}\n".encode() for i in reversed(range(11))
    ]


def test_pruning_after_the_clock_jumped_back_keeps_the_version_just_saved(
    cfg: Path, clock: list[float]
) -> None:
    files = ConfigFiles.for_file(cfg)
    for i in range(HISTORY_KEEP + 1):
        write_bytes(files, f"v: {i}\n".encode())
    clock[0] -= 86400 * 365
    write_bytes(files, b"v: latest\n")
    entries = history_entries(files)
    assert len(entries) == HISTORY_KEEP
    assert entries[0].read_bytes() == f"v: {HISTORY_KEEP}\n".encode()
    assert entries[-1].read_bytes() == b"v: 1\n"


def test_entries_of_earlier_releases_are_read_in_order_and_older(cfg: Path) -> None:
    files = ConfigFiles.for_file(cfg)
    hist = files.config_history_dir
    hist.mkdir(parents=True)
    # Named by wall time alone; "-1" was written after the one without it.
    for name, text in [
        ("config-20260101T000000.000001Z-1.yaml", "old: 3\n"),
        ("config-20260101T000000.000001Z.yaml", "old: 2\n"),
        ("config-20250101T000000.000000Z.yaml", "old: 1\n"),
    ]:
        (hist / name).write_text(text)
    (hist / "config-20260101T000000.000001Z.note").write_text("hand edit\n")
    write_bytes(files, b"a: 1\n")
    write_bytes(files, b"a: 2\n")  # keeps "a: 1" as the newest
    entries = history_entries(files)
    assert [e.read_bytes() for e in entries] == [b"a: 1\n", b"old: 3\n", b"old: 2\n", b"old: 1\n"]
    assert entries[2].note == "hand edit"
    assert entries[3].replaced_at == 1735689600.0
    assert entries[0].path.name.startswith("config-v000001-")


def test_a_failed_write_leaves_no_history_entry(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = ConfigFiles.for_file(cfg)
    write_bytes(files, b"a: 1\n")
    write_bytes(files, b"a: 2\n")
    before = sorted(files.config_history_dir.iterdir())
    import tljh.config.store as store
    import tljh.system.files as system_files

    real = system_files.atomic_write

    def full_disk(path: Path, data: str | bytes, mode: int = 0o644) -> None:
        if Path(path) == cfg:
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(store, "atomic_write", full_disk)
    with pytest.raises(ConfigError, match="No space left on device"):
        write_bytes(files, b"a: 3\n", note="lost")
    assert sorted(files.config_history_dir.iterdir()) == before
    assert cfg.read_bytes() == b"a: 2\n"


def test_a_failed_history_write_leaves_nothing_and_keeps_the_file(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = ConfigFiles.for_file(cfg)
    write_bytes(files, b"a: 1\n")
    import tljh.config.history as history
    import tljh.system.files as system_files

    real = system_files.atomic_write

    def full_disk(path: Path, data: str | bytes, mode: int = 0o644) -> None:
        if Path(path).suffix == ".note":
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(history, "atomic_write", full_disk)
    with pytest.raises(ConfigError, match="No space left on device"):
        write_bytes(files, b"a: 2\n", note="lost")
    assert list(files.config_history_dir.iterdir()) == []
    assert cfg.read_bytes() == b"a: 1\n"
