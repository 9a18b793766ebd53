"""An error nobody expected: one line on the console, the traceback in the log."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tljh.cli import config as config_cli
from tljh.cli import installer


def _broken_step(ctx: object) -> list[str]:
    return {}["missing"]  # type: ignore[no-any-return]  # a bug, as a bug would look


@pytest.fixture
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    yield tmp_path
    # setup_logging adds handlers to the 'tljh' logger: leave it as it was.
    root = logging.getLogger("tljh")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def test_the_installer_keeps_the_traceback_off_the_console(
    prefix: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(installer, "STEPS", [("broken", _broken_step)])
    assert installer.main([]) == 1
    out, err = capsys.readouterr()
    console = out + err
    assert "Traceback" not in console
    assert f"unexpected error: KeyError: 'missing'; the details are in {prefix}/installer.log" in (
        console
    )
    assert "running the installer again is safe" in console
    log = (prefix / "installer.log").read_text()
    assert "Traceback (most recent call last)" in log and "_broken_step" in log
    assert stat.S_IMODE((prefix / "installer.log").stat().st_mode) == 0o600


def test_tljh_config_keeps_the_traceback_off_the_console(
    prefix: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setitem(config_cli.COMMANDS, "show", broken)
    assert config_cli.main(["show"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.startswith(
        "error: tljh-config stopped on an unexpected error: RuntimeError: a bug; "
        f"the details are in {prefix}/tljh-config.log\n"
    )
    assert "please report it" in err
    log = prefix / "tljh-config.log"
    assert "Traceback (most recent call last)" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_without_a_writable_log_the_details_go_to_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "not-installed"))

    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setitem(config_cli.COMMANDS, "show", broken)
    assert config_cli.main(["show"]) == 1
    err = capsys.readouterr().err
    assert "the details follow:\nTraceback" in err
