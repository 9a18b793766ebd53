"""The upstream-compatible surface of tljh.config, its import cost, schema descriptions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tljh.config
from tljh.errors import ConfigError


def test_path_constants_follow_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    assert str(tmp_path) == tljh.config.INSTALL_PREFIX
    assert str(tmp_path / "hub") == tljh.config.HUB_ENV_PREFIX
    assert str(tmp_path / "user") == tljh.config.USER_ENV_PREFIX
    assert str(tmp_path / "state") == tljh.config.STATE_DIR
    assert str(tmp_path / "config") == tljh.config.CONFIG_DIR
    assert str(tmp_path / "config" / "config.yaml") == tljh.config.CONFIG_FILE
    from tljh.config import CONFIG_FILE

    assert str(tmp_path / "config" / "config.yaml") == CONFIG_FILE


def test_default_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TLJH_INSTALL_PREFIX", raising=False)
    assert tljh.config.CONFIG_FILE == "/opt/tljh/config/config.yaml"
    assert tljh.config.HUB_ENV_PREFIX == "/opt/tljh/hub"


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        _ = tljh.config.NOT_A_THING
    assert "CONFIG_FILE" in dir(tljh.config)


def test_reload_component_rejects_unknown_component() -> None:
    with pytest.raises(ConfigError, match="cannot reload 'database'"):
        tljh.config.reload_component("database")


def _modules_after(code: str, tmp_path: Path) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env={"TLJH_INSTALL_PREFIX": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    ).stdout
    return set(out.split())


def test_import_tljh_config_is_cheap(tmp_path: Path) -> None:
    mods = _modules_after("import tljh.config; tljh.config.CONFIG_FILE", tmp_path)
    assert not {m for m in mods if m.split(".")[0] in ("ruamel", "jsonschema", "filelock")}


def test_cli_set_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "from tljh.cli.config import main\n"
        f"assert main(['--config-path', {str(tmp_path / 'c.yaml')!r}, 'set', "
        "'limits.memory', '1G']) == 0\n"
    )
    mods = _modules_after(code, tmp_path)
    assert "ruamel.yaml" in mods  # it did load and save the file
    heavy = {"jupyterhub", "traitlets", "tornado", "pluggy", "jsonschema", "requests", "tomli_w"}
    assert not {m for m in mods if m.split(".")[0] in heavy}
    # The apply layer (ssl, http.client, the traefik renderer) is for applying only.
    assert not {m for m in mods if m.startswith(("tljh.apply", "tljh.render"))}


def test_every_schema_key_is_documented() -> None:
    from tljh.config.schema import SCHEMA, iter_nodes

    for path, node in iter_nodes(SCHEMA):
        assert node.get("description"), f"{path} has no description"
        if "object" not in node.get("type", "") and "<" not in path:
            assert node.get("example"), f"{path} has no example"
