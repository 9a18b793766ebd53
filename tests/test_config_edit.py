"""tljh-config edit: editor choice, problems with line numbers, the visudo-style loop."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import held_lock

from tljh.cli.config import main
from tljh.config.edit import PROMPT, choose_editor, edit_session, problems_with_lines
from tljh.config.history import list_history
from tljh.config.store import ConfigFiles, config_lock
from tljh.errors import ConfigError, LockedError

# --- choosing the editor --------------------------------------------------------------


def _exe(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_visual_wins_over_editor() -> None:
    env = {"VISUAL": "vim -n", "EDITOR": "nano", "PATH": ""}
    assert choose_editor(env) == ["vim", "-n"]
    assert choose_editor({"VISUAL": " ", "EDITOR": "nano -w", "PATH": ""}) == ["nano", "-w"]


def test_fallback_order(tmp_path: Path) -> None:
    for name in ("vi", "nano"):
        _exe(tmp_path, name)
    assert choose_editor({"PATH": str(tmp_path)}) == [str(tmp_path / "nano")]
    _exe(tmp_path, "editor")
    assert choose_editor({"PATH": str(tmp_path)}) == [str(tmp_path / "editor")]


def test_no_editor_at_all(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no text editor found") as info:
        choose_editor({"PATH": str(tmp_path)})
    assert "EDITOR=" in info.value.hint


# --- problems with line numbers -----------------------------------------------------------


def test_valid_text_has_no_problems() -> None:
    assert problems_with_lines("# fine\nlimits:\n  memory: 1G\n") == []
    assert problems_with_lines("") == []


def test_yaml_syntax_error_has_line_and_column() -> None:
    problems = problems_with_lines("limits:\n  memory: 1G\n   cpu: 2\n")
    assert len(problems) == 1
    assert problems[0].startswith("line 3, column ")
    assert "not valid YAML" in problems[0]


def test_tab_indentation_is_reported_with_its_line() -> None:
    problems = problems_with_lines("users:\n  admin:\n  - alice\nlimits:\n\tmemory: 1G\n")
    assert problems[0].startswith("line 5, column 1: not valid YAML")


def test_each_validation_problem_has_the_line_of_its_key() -> None:
    text = (
        "# comment\n"  # 1
        "limits:\n"  # 2
        "  memory: 2 GB\n"  # 3
        "  cpu: 1\n"  # 4
        "http:\n"  # 5
        "  port: 0\n"  # 6
        "limts: {}\n"  # 7
    )
    assert problems_with_lines(text) == [
        "line 3: limits.memory: '2 GB' is not a memory size; use a number with K, M, G or T, "
        "e.g. 2G",
        "line 6: http.port: 0 is too small; expected a port number from 1 to 65535",
        "line 7: limts: unknown key; did you mean limits?",
    ]


def test_list_item_problems_point_at_the_item() -> None:
    text = "users:\n  admin:\n  - alice\n  - bob\n  - 1234\n"
    problems = problems_with_lines(text)
    assert len(problems) == 1
    assert problems[0].startswith("line 5: users.admin: 1234 is a number")


def test_missing_key_points_at_its_section() -> None:
    text = "https:\n  enabled: true\n  tls:\n    cert: /etc/hostname\n"
    problems = problems_with_lines(text)
    assert problems == ["line 3: https.tls.key: missing; it is needed together with https.tls.cert"]


def test_a_list_instead_of_a_mapping() -> None:
    assert problems_with_lines("- a\n- b\n")[0].startswith("line 1: the file must hold a mapping")


# --- the edit loop, with real editors (shell scripts) ----------------------------------------


def _editor(tmp_path: Path, name: str, script: str) -> list[str]:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return [str(path)]


class Answers:
    """Answers to the prompt, in order; records the prompts seen."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


ORIGINAL = b"# our hub\nlimits:\n  memory: 1G\n"


def test_unchanged(tmp_path: Path) -> None:
    saved: list[bytes] = []
    result = edit_session(ORIGINAL, ["true"], saved.append, read=Answers())
    assert result.outcome == "unchanged"
    assert saved == []


def test_valid_edit_is_saved_exactly(tmp_path: Path) -> None:
    editor = _editor(tmp_path, "ed", "sed -i 's/1G/2G/' \"$1\"\n")
    saved: list[bytes] = []
    result = edit_session(ORIGINAL, editor, saved.append, read=Answers())
    assert result.outcome == "saved"
    assert saved == [b"# our hub\nlimits:\n  memory: 2G\n"]


def test_invalid_edit_then_edit_again_then_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # First run breaks the value, the second run fixes it.
    editor = _editor(
        tmp_path,
        "ed",
        'if [ -e "$0.ran" ]; then sed -i "s/2 GB/2G/" "$1"; '
        'else touch "$0.ran"; sed -i "s/1G/2 GB/" "$1"; fi\n',
    )
    answers = Answers("e")
    saved: list[bytes] = []
    result = edit_session(ORIGINAL, editor, saved.append, read=answers)
    assert result.outcome == "saved"
    assert answers.prompts == [PROMPT]
    assert saved == [b"# our hub\nlimits:\n  memory: 2G\n"]
    out = capsys.readouterr().out
    assert "line 3: limits.memory: '2 GB' is not a memory size" in out


def test_invalid_edit_exit_without_saving(tmp_path: Path) -> None:
    editor = _editor(tmp_path, "ed", "sed -i 's/1G/2 GB/' \"$1\"\n")
    saved: list[bytes] = []
    answers = Answers("?", "q", "e", "x")
    result = edit_session(ORIGINAL, editor, saved.append, read=answers)
    assert result.outcome == "aborted"
    assert saved == []
    # Unknown answers ask again; 'e' ran the editor again, which was still invalid.
    assert len(answers.prompts) == 4


def test_end_of_input_counts_as_exit(tmp_path: Path) -> None:
    editor = _editor(tmp_path, "ed", "sed -i 's/1G/2 GB/' \"$1\"\n")
    saved: list[bytes] = []
    assert edit_session(ORIGINAL, editor, saved.append, read=Answers()).outcome == "aborted"
    assert saved == []


def test_capital_q_saves_anyway(tmp_path: Path) -> None:
    editor = _editor(tmp_path, "ed", "printf 'limits:\\n\\tmemory: 1G\\n' > \"$1\"\n")
    saved: list[bytes] = []
    result = edit_session(ORIGINAL, editor, saved.append, read=Answers("Q"))
    assert result.outcome == "saved-invalid"
    assert saved == [b"limits:\n\tmemory: 1G\n"]


def test_failing_editor_saves_nothing(tmp_path: Path) -> None:
    editor = _editor(tmp_path, "ed", 'echo x >> "$1"; exit 3\n')
    saved: list[bytes] = []
    with pytest.raises(ConfigError, match="exited with status 3"):
        edit_session(ORIGINAL, editor, saved.append, read=Answers())
    assert saved == []


def test_missing_editor(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot run the editor"):
        edit_session(ORIGINAL, [str(tmp_path / "nope")], lambda raw: None, read=Answers())


def test_the_copy_is_private_and_removed(tmp_path: Path) -> None:
    record = tmp_path / "seen"
    editor = _editor(tmp_path, "ed", f'stat -c %a "$1" > {record}; dirname "$1" >> {record}\n')
    edit_session(ORIGINAL, editor, lambda raw: None, read=Answers())
    mode, directory = record.read_text().split()
    assert mode == "600"
    assert not Path(directory).exists()


# --- through the command ------------------------------------------------------------------


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "prefix"))
    monkeypatch.delenv("VISUAL", raising=False)
    path = tmp_path / "config.yaml"
    path.write_bytes(ORIGINAL)
    return path


def test_cli_edit_saves_with_history(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "ed", "sed -i 's/1G/3G/' \"$1\"\n")[0])
    assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 0
    assert cfg.read_bytes() == b"# our hub\nlimits:\n  memory: 3G\n"
    history = list_history(ConfigFiles.for_file(cfg))
    assert [h.read_bytes() for h in history] == [ORIGINAL]
    assert "Saved" in capsys.readouterr().out


def test_cli_edit_unchanged(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 0
    assert "No changes" in capsys.readouterr().out
    assert cfg.read_bytes() == ORIGINAL
    assert list_history(ConfigFiles.for_file(cfg)) == []


def test_cli_edit_invalid_and_exit(
    cfg: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "ed", "sed -i 's/1G/2 GB/' \"$1\"\n")[0])
    monkeypatch.setattr("builtins.input", Answers("x"))
    assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 1
    assert cfg.read_bytes() == ORIGINAL
    out = capsys.readouterr().out
    assert "line 3: limits.memory" in out
    assert "Exited without saving" in out


def test_cli_edit_save_anyway_is_not_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The installed config (no --config-path), edited without --no-apply: a valid
    # edit would be applied, but one saved with problems never is.
    prefix = tmp_path / "prefix"
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(prefix))
    monkeypatch.delenv("VISUAL", raising=False)
    config = prefix / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_bytes(ORIGINAL)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "ed", "sed -i 's/1G/2 GB/' \"$1\"\n")[0])
    monkeypatch.setattr("builtins.input", Answers("Q"))
    assert main(["edit"]) == 1
    assert config.read_bytes() == b"# our hub\nlimits:\n  memory: 2 GB\n"
    assert "was not applied" in capsys.readouterr().err


def test_cli_edit_when_another_edit_holds_the_file(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    files = ConfigFiles.for_file(cfg)
    with config_lock(files, owner="'tljh-config edit' run by alice"):
        assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 1
        err = capsys.readouterr().err
        assert "is in use: 'tljh-config edit' run by alice (since " in err
        # Other changes are told the same.
        code = main(["--config-path", str(cfg), "--lock-timeout", "0.1", "set", "limits.cpu", "1"])
        assert code == 1
        assert "in use: 'tljh-config edit' run by alice" in capsys.readouterr().err
    assert cfg.read_bytes() == ORIGINAL


def test_edit_lock_held_without_owner(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    with held_lock(ConfigFiles.for_file(cfg).config_lock):
        assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 1
    assert "being changed by another tljh-config" in capsys.readouterr().err


def test_edit_apply_needs_the_installed_config(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    assert main(["--config-path", str(cfg), "edit"]) == 1
    assert "only the installed config" in capsys.readouterr().err


def test_locked_error_type(cfg: Path) -> None:
    files = ConfigFiles.for_file(cfg)
    with config_lock(files, owner="x"), pytest.raises(LockedError), config_lock(files, 0):
        pass


def test_cli_edit_saves_a_private_file_whatever_the_umask(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "seen"
    script = f'stat -c %a "$1" > {record}; stat -c %a "$(dirname "$1")" >> {record}\n'
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "ed", script + "sed -i 's/1G/3G/' \"$1\"\n")[0])
    os.chmod(cfg, 0o644)
    old = os.umask(0)
    try:
        assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 0
    finally:
        os.umask(old)
    assert record.read_text().split() == ["600", "700"]
    assert cfg.read_bytes() == b"# our hub\nlimits:\n  memory: 3G\n"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    (entry,) = list_history(ConfigFiles.for_file(cfg))
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700


def test_cli_edit_refuses_an_unknown_key_and_saved_anyway_says_the_hub_ignores_it(
    cfg: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "ed", "sed -i 's/memory/memroy/' \"$1\"\n")[0])
    monkeypatch.setattr("builtins.input", Answers("Q"))
    assert main(["--config-path", str(cfg), "edit", "--no-apply"]) == 1
    captured = capsys.readouterr()
    assert "line 3: limits.memroy: unknown key; did you mean limits.memory?" in captured.out
    assert "keys TLJH does not know, which the hub and the installer ignore" in captured.err
    assert b"memroy" in cfg.read_bytes()
