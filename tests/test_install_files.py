"""The installer's steps for files under the prefix: who may open what."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import mode

from tljh.errors import ConfigValidationError
from tljh.install.context import Context
from tljh.install.files import step_config, step_directories, step_tljh_config_link
from tljh.install.options import InstallOptions
from tljh.layout import Layout


def context(tmp_path: Path, admins: tuple[str, ...] = ()) -> Context:
    return Context(layout=Layout(prefix=tmp_path / "tljh"), options=InstallOptions(admin=admins))


@pytest.mark.usefixtures("open_umask")
def test_a_fresh_install_keeps_config_and_state_root_only(tmp_path: Path) -> None:
    ctx = context(tmp_path, ("ada",))
    step_directories(ctx)
    step_config(ctx)
    lay = ctx.layout
    # The environments below the prefix must stay readable: students' kernels run there.
    assert mode(lay.prefix) == 0o755
    for directory in (lay.config_dir, lay.jupyterhub_config_d, lay.traefik_config_d):
        assert mode(directory) == 0o700, directory
    assert mode(lay.state_dir) == 0o700
    assert mode(lay.config_file) == 0o600
    assert "ada" in lay.config_file.read_text()
    assert mode(lay.config_lock) == 0o600


def test_directories_of_an_older_install_are_tightened(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    lay = ctx.layout
    for directory in (lay.config_dir, lay.jupyterhub_config_d, lay.traefik_config_d):
        directory.mkdir(parents=True)
        os.chmod(directory, 0o755)
    snippet = lay.jupyterhub_config_d / "50-oauth.py"
    snippet.write_text("c.GitHubOAuthenticator.client_secret = 'hunter2'\n")
    os.chmod(snippet, 0o644)
    changes = step_directories(ctx)
    for directory in (lay.config_dir, lay.jupyterhub_config_d, lay.traefik_config_d):
        assert mode(directory) == 0o700, directory
        assert any(str(directory) in c for c in changes)
    assert mode(snippet) == 0o600
    assert any(str(snippet) in c for c in changes)
    assert step_directories(ctx) == []


def test_the_lock_file_of_earlier_releases_is_removed(tmp_path: Path) -> None:
    # Earlier releases locked a world-readable file in config/: a student who
    # opened it before the upgrade could still hold it.  Nothing uses it now.
    ctx = context(tmp_path)
    lay = ctx.layout
    lay.config_dir.mkdir(parents=True)
    legacy = lay.config_dir / ".config.yaml.lock"
    for path in (legacy, legacy.with_name(legacy.name + ".owner")):
        path.write_text("")
        os.chmod(path, 0o644)
    changes = step_directories(ctx)
    assert sorted(p.name for p in lay.config_dir.iterdir()) == [
        "jupyterhub_config.d",
        "traefik_config.d",
    ]
    assert any("lock" in c for c in changes)
    assert lay.config_lock != legacy


def test_both_commands_are_linked_once(tmp_path: Path) -> None:
    lay = Layout(prefix=tmp_path / "tljh", bin_dir=tmp_path / "bin")
    lay.bin_dir.mkdir()
    ctx = Context(layout=lay, options=InstallOptions())
    assert len(step_tljh_config_link(ctx)) == 2
    assert os.readlink(lay.tljh_link) == str(lay.hub_env / "bin" / "tljh")
    assert os.readlink(lay.tljh_config_link) == str(lay.hub_env / "bin" / "tljh-config")
    assert step_tljh_config_link(ctx) == []


def test_an_unknown_key_is_named_and_the_install_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = context(tmp_path, ("ada",))
    step_directories(ctx)
    text = "# kept\nlimts:\n  memory: 1G\nlimits:\n  memory: 2G\n"
    ctx.layout.config_file.write_text(text)
    with caplog.at_level("WARNING"):
        assert "made admin: ada" in step_config(ctx)
    assert "limts: unknown key; did you mean limits?" in caplog.text
    assert "limts" not in ctx.config
    assert ctx.config["limits"]["memory"] == "2G"
    # The file keeps the key: it is the admin's to correct.
    saved = ctx.layout.config_file.read_text()
    assert saved.startswith("# kept\nlimts:\n  memory: 1G\n") and "- ada" in saved


def test_a_value_that_cannot_be_applied_still_stops_the_install(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    step_directories(ctx)
    ctx.layout.config_file.write_text("limits:\n  memory: lots\n")
    with pytest.raises(ConfigValidationError, match=r"limits\.memory"):
        step_config(ctx)
