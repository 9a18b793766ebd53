"""An install cut short leaves a package record without METADATA; the next install must mend it."""

from __future__ import annotations

from pathlib import Path

from tljh.system.packages import drop_half_installed


def _env(tmp_path: Path) -> tuple[Path, Path]:
    site = tmp_path / "env/lib/python3.11/site-packages"
    site.mkdir(parents=True)
    python = tmp_path / "env/bin/python3"
    python.parent.mkdir(parents=True)
    python.touch()
    return python, site


def test_a_record_without_metadata_is_removed_and_whole_ones_kept(tmp_path: Path) -> None:
    python, site = _env(tmp_path)
    whole = site / "jupyterlab-4.4.0.dist-info"
    whole.mkdir()
    (whole / "METADATA").write_text("Name: jupyterlab\n")
    cut = site / "pip-26.3.dist-info"
    cut.mkdir()
    (cut / "RECORD").write_text("")
    assert drop_half_installed(python) == [cut]
    assert not cut.exists()
    assert (whole / "METADATA").is_file()
    assert drop_half_installed(python) == []
