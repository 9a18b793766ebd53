"""The installer's --dry-run: one check per step, and the parts that run without a server.

A dry run against a real install (nothing changes: checksums and unit PIDs)
is tested by integration-tests/test_35_apply.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from tljh.install.dryrun import CHECKS
from tljh.install.options import InstallOptions
from tljh.install.steps import STEPS
from tljh.system.files import fix_permissions, tighten_files


def test_every_step_has_a_check_in_the_same_order() -> None:
    assert list(CHECKS) == [name for name, _ in STEPS]


def test_the_option_reaches_the_installer(bootstrap: ModuleType) -> None:
    assert bootstrap.forwarded_args(["--dry-run", "--admin", "a"]) == ["--admin", "a", "--dry-run"]
    assert bootstrap.forwarded_args(["--admin", "a"]) == ["--admin", "a"]
    from tljh.cli.installer import parse_options

    assert parse_options(["--dry-run"]) == InstallOptions(dry_run=True)
    assert parse_options([]).dry_run is False


def test_a_first_install_dry_run_creates_nothing(
    bootstrap: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "tljh"
    with pytest.raises(SystemExit) as info:
        bootstrap.dry_run(str(prefix), {}, ["--dry-run"], None)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"would create it in {prefix}/hub" in out
    assert not prefix.exists()


def test_file_modes_in_a_dry_run_are_reported_not_changed(tmp_path: Path) -> None:
    loose = tmp_path / "snippet.py"
    loose.write_text("c = 1\n")
    os.chmod(loose, 0o644)
    assert tighten_files(tmp_path, dry_run=True) == [loose]
    assert loose.stat().st_mode & 0o777 == 0o644
    assert tighten_files(tmp_path / "missing", dry_run=True) == []
    os.chmod(loose, 0o666)
    if os.geteuid() == 0:
        assert fix_permissions(tmp_path, dry_run=True) >= 1
        assert loose.stat().st_mode & 0o777 == 0o666
