"""The hub's config file: validation, plugins, jupyterhub_config.d."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest
from traitlets.config import Config

import tljh.hub.jupyterhub_config as hub_config
from tljh import hooks
from tljh.config.fallback import Fallback, clear_fallback, read_fallback, write_fallback
from tljh.hooks import hookimpl
from tljh.hub import plugins
from tljh.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir()
    layout.state_dir.mkdir()
    layout.traefik_api_secret.write_text("pw")
    return layout


class Plugin:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    @hookimpl
    def tljh_custom_jupyterhub_config(self, c: Any) -> None:
        self.seen.append(c.Spawner.default_url)
        c.Spawner.default_url = "/from-plugin"
        c.JupyterHub.template_vars = {"by": "plugin"}


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> Plugin:
    p = Plugin()

    def manager() -> pluggy.PluginManager:
        pm = pluggy.PluginManager("tljh")
        pm.add_hookspecs(hooks)
        pm.register(p)
        return pm

    monkeypatch.setattr(plugins, "plugin_manager", manager)
    return p


def test_configure(layout: Layout, plugin: Plugin) -> None:
    layout.config_file.write_text("users:\n  admin: [boss]\nauth:\n  type: dummy\n")
    layout.jupyterhub_config_d.mkdir()
    (layout.jupyterhub_config_d / "20-second.py").write_text(
        "c.JupyterHub.template_vars['order'].append('second')\n"
    )
    (layout.jupyterhub_config_d / "10-first.py").write_text(
        "assert c.Spawner.default_url == '/from-plugin'\n"
        "c.JupyterHub.template_vars['order'] = ['first']\n"
        "c.Spawner.default_url = '/from-config-d'\n"
        "assert __file__.endswith('10-first.py')\n"
    )
    (layout.jupyterhub_config_d / "README.txt").write_text("not python")
    c = Config()
    hub_config.configure(c, layout)
    assert [r["users"] for r in c.JupyterHub.load_roles if r["name"] == "admin"] == [["boss"]]
    assert c.UserCreatingSpawner.sudo_users == {"boss"}
    assert c.JupyterHub.authenticator_class == "jupyterhub.auth.DummyAuthenticator"
    assert c.JupyterHub.spawner_class == "tljh.hub.spawner.UserCreatingSpawner"
    assert c.TraefikProxy.traefik_api_password == "pw"
    # order: config.yaml, then plugins, then jupyterhub_config.d in name order
    assert plugin.seen == ["/lab"]
    assert c.Spawner.default_url == "/from-config-d"
    assert c.JupyterHub.template_vars == {"by": "plugin", "order": ["first", "second"]}


def test_invalid_config_stops_with_readable_message(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.config_file.write_text("users:\n  admins: [boss]\nlimits:\n  memory: lots\n")
    with pytest.raises(SystemExit) as e:
        hub_config.configure(Config(), layout)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "users.admins" in err
    assert "limits.memory" in err
    assert "hint:" in err
    assert "Traceback" not in err


def test_unknown_key_is_named_and_the_hub_starts_on_the_current_file(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    # Known-good files exist, but an unknown key is no reason to use them.
    layout.config_known_good_dir.mkdir()
    (layout.config_known_good_dir / "config.yaml").write_text("users:\n  admin: [old]\n")
    layout.config_file.write_text("users:\n  admin: [boss]\nlimts:\n  memory: 1G\n")
    c = Config()
    hub_config.configure(c, layout)
    assert c.UserCreatingSpawner.sudo_users == {"boss"}
    err = capsys.readouterr().err
    assert "warning: " in err
    assert "limts: unknown key; did you mean limits?" in err
    assert "known-good" not in err
    assert read_fallback(layout) is None


def test_invalid_config_starts_on_known_good(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.config_known_good_dir.mkdir()
    (layout.config_known_good_dir / "config.yaml").write_text(
        "user_environment:\n  default_app: jupyterlab\n"
    )
    layout.config_file.write_text("limits:\n  memory: lots\n")
    c = Config()
    hub_config.configure(c, layout)
    assert c.Spawner.default_url == "/from-plugin"
    err = capsys.readouterr().err
    assert "WARNING" in err
    assert "known-good" in err
    assert "limits.memory" in err


def test_invalid_known_good_still_stops_on_current_problems(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.config_known_good_dir.mkdir()
    (layout.config_known_good_dir / "config.yaml").write_text("users: nope\n")
    layout.config_file.write_text("limits:\n  memory: lots\n")
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    err = capsys.readouterr().err
    assert "limits.memory" in err
    assert "known-good" not in err


def test_broken_config_d_file_names_itself(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.jupyterhub_config_d.mkdir()
    bad = layout.jupyterhub_config_d / "50-bad.py"
    bad.write_text("x = 1\nc.Spawner.nope = undefined_name\n")
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "line 2" in err
    assert "NameError" in err


def test_plugin_failure_stops_the_hub(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken:
        @hookimpl
        def tljh_custom_jupyterhub_config(self, c: Any) -> None:
            raise RuntimeError("plugin bug")

    def manager() -> pluggy.PluginManager:
        pm = pluggy.PluginManager("tljh")
        pm.add_hookspecs(hooks)
        pm.register(Broken())
        return pm

    monkeypatch.setattr(plugins, "plugin_manager", manager)
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    err = capsys.readouterr().err
    assert "tljh_custom_jupyterhub_config" in err
    assert "plugin bug" in err


def test_importing_the_module_configures_nothing() -> None:
    # imported (not executed by JupyterHub), the module only defines functions
    assert callable(hub_config.configure)


def test_real_hub_refuses_invalid_config(layout: Layout) -> None:
    layout.config_file.write_text("http:\n  port: eighty\n")
    env = dict(os.environ, TLJH_INSTALL_PREFIX=str(layout.prefix))
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterhub", "-f", hub_config.__file__],
        cwd=layout.state_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "http.port" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_api_password_stops_the_hub(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.traefik_api_secret.unlink()
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    assert "traefik API password" in capsys.readouterr().err


def _known_good_snippets(layout: Layout, files: dict[str, str]) -> None:
    good = layout.config_known_good_dir / "jupyterhub_config.d"
    good.mkdir(parents=True)
    for name, text in files.items():
        (good / name).write_text(text)


def test_raising_snippet_starts_on_known_good_snippets(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_good_snippets(layout, {"50-app.py": "c.Spawner.default_url = '/known-good'\n"})
    layout.jupyterhub_config_d.mkdir()
    # Changes c, then raises: none of it may stay.
    (layout.jupyterhub_config_d / "50-app.py").write_text(
        "c.Spawner.default_url = '/half-done'\n"
        "c.JupyterHub.template_vars = {}\n"
        "raise KeyError('x')\n"
    )
    c = Config()
    hub_config.configure(c, layout)
    assert c.Spawner.default_url == "/known-good"
    assert c.JupyterHub.template_vars == {"by": "plugin"}
    err = capsys.readouterr().err
    assert "WARNING" in err and "known-good jupyterhub_config.d" in err
    assert "KeyError" in err
    note = read_fallback(layout)
    assert note is not None
    assert note.replaced == ("jupyterhub_config.d",)
    assert note.pid == os.getpid()
    assert "50-app.py raises: KeyError: 'x'" in note.reasons[0]
    assert stat.S_IMODE(layout.hub_fallback_marker.stat().st_mode) == 0o600


def test_start_on_current_files_removes_the_note(layout: Layout, plugin: Plugin) -> None:
    write_fallback(layout, Fallback(("config.yaml",), ("old",), 1, 1.0))
    hub_config.configure(Config(), layout)
    assert read_fallback(layout) is None
    assert not layout.hub_fallback_marker.exists()


def test_invalid_config_fallback_leaves_a_note(layout: Layout, plugin: Plugin) -> None:
    layout.config_known_good_dir.mkdir()
    (layout.config_known_good_dir / "config.yaml").write_text("")
    layout.config_file.write_text("limits:\n  memory: lots\n")
    hub_config.configure(Config(), layout)
    note = read_fallback(layout)
    assert note is not None and note.replaced == ("config.yaml",)
    assert any("limits.memory" in r for r in note.reasons)
    assert "known-good config.yaml" in note.summary()


def test_strict_never_falls_back_nor_touches_the_note(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_good_snippets(layout, {})
    layout.jupyterhub_config_d.mkdir()
    (layout.jupyterhub_config_d / "50-bad.py").write_text("1/0\n")
    before = Fallback(("config.yaml",), ("kept",), 1, 1.0)
    write_fallback(layout, before)
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout, strict=True)
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert read_fallback(layout) == before


def test_raising_snippet_without_known_good_stops_the_hub(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.jupyterhub_config_d.mkdir()
    (layout.jupyterhub_config_d / "50-bad.py").write_text("1/0\n")
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "known-good" not in err
    assert read_fallback(layout) is None


def test_known_good_snippets_that_raise_too_stop_on_the_current_error(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_good_snippets(layout, {"10-old.py": "raise ValueError('old')\n"})
    layout.jupyterhub_config_d.mkdir()
    (layout.jupyterhub_config_d / "50-new.py").write_text("raise ValueError('new')\n")
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    err = capsys.readouterr().err
    assert "50-new.py" in err and "ValueError: new" in err


def test_unreadable_note_reads_as_none(layout: Layout) -> None:
    layout.hub_fallback_marker.write_text("{not json")
    assert read_fallback(layout) is None
    assert clear_fallback(layout) is True
    assert clear_fallback(layout) is False
