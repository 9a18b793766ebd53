"""Changing the config under its lock, and what 'tljh-config reload' refuses to apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tljh.apply.session import _refuse_invalid, change_session, installed_layout, reload_config
from tljh.config.store import ConfigFiles, config_lock
from tljh.errors import ConfigError, ConfigValidationError, LockedError
from tljh.layout import Layout


def _ignore(text: str) -> None:
    pass


def test_only_the_installed_config_can_be_applied(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    assert installed_layout(layout) is layout
    with pytest.raises(ConfigError, match="cannot apply") as info:
        installed_layout(ConfigFiles.for_file(tmp_path / "other.yaml"))
    assert "--no-apply" in info.value.hint


def test_a_session_holds_the_lock_and_the_previous_bytes(tmp_path: Path) -> None:
    files = ConfigFiles.for_file(tmp_path / "config.yaml")
    files.config_file.write_text("limits:\n  memory: 1G\n")
    with change_session(files, apply=False, lock_timeout=1, owner="a test", say=_ignore) as s:
        assert s.previous == b"limits:\n  memory: 1G\n"
        with pytest.raises(LockedError, match=r"in use: .*a test"), config_lock(files, 0):
            pass
    assert s.restarted == []
    with config_lock(files, 0):
        pass  # let go of on the way out


def test_applying_another_file_is_refused_before_the_change(tmp_path: Path) -> None:
    files = ConfigFiles.for_file(tmp_path / "config.yaml")
    changed = []
    with (
        pytest.raises(ConfigError, match="cannot apply"),
        change_session(files, apply=True, lock_timeout=1, say=_ignore),
    ):
        changed.append(True)
    assert changed == []


@pytest.mark.parametrize(
    ("text", "error"),
    [("http:\n  port: 0\n", ConfigValidationError), ("limits: [\n", ConfigError)],
)
def test_reload_refuses_an_invalid_config(
    tmp_path: Path, text: str, error: type[ConfigError]
) -> None:
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir(parents=True)
    layout.config_file.write_text(text)
    with pytest.raises(error) as info:
        reload_config(layout, lock_timeout=1, say=_ignore)
    assert info.value.hint.startswith("nothing was restarted: the hub and the proxy keep running")
    assert "'sudo tljh-config edit'" in info.value.hint
    # Not even a known-good snapshot was taken: state/ holds only the config lock.
    assert [p.name for p in layout.state_dir.iterdir()] == [layout.config_lock.name]


def test_reload_names_an_unknown_key_and_does_not_refuse_for_it(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir(parents=True)
    layout.config_file.write_text("limts:\n  memory: 1G\n")
    said: list[str] = []
    _refuse_invalid(layout, said.append)  # the check reload makes before it restarts
    assert len(said) == 1 and "limts: unknown key; did you mean limits?" in said[0]
    layout.config_file.write_text("limts: {}\nlimits:\n  memory: lots\n")
    with pytest.raises(ConfigValidationError) as info:
        _refuse_invalid(layout, said.append)
    assert [p.path for p in info.value.problems] == ["limits.memory"]
