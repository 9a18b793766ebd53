"""Packages kept out of the user environment: the override removes them on every Python."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement

from tljh.system.packages import USER_ENV_EXCLUDED, _installed, exclusion_overrides


def test_override_lines_never_apply() -> None:
    lines = exclusion_overrides(list(USER_ENV_EXCLUDED)).splitlines()
    assert [Requirement(line).name for line in lines] == list(USER_ENV_EXCLUDED)
    for line in lines:
        marker = Requirement(line).marker
        assert marker is not None
        for version in ("3.10", "3.11", "3.13", "4.0"):
            assert not marker.evaluate({"python_version": version})


def test_the_slow_iri_checker_is_excluded() -> None:
    assert "rfc3987-syntax" in USER_ENV_EXCLUDED


def test_finds_an_excluded_package_left_by_an_older_install(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python3"
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    assert _installed(python, "rfc3987_syntax") == []
    (site / "rfc3987_syntax-1.1.0.dist-info").mkdir()
    assert _installed(python, "rfc3987_syntax") == [site / "rfc3987_syntax-1.1.0.dist-info"]
