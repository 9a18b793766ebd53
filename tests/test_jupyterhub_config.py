"""The hub's config file: validation, plugins, jupyterhub_config.d."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest
from traitlets.config import Config

import tljh.hub.jupyterhub_config as hub_config
from tljh import hooks
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
    layout.config_file.write_text("http:\n  prot: 80\n")
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
    assert "http.prot" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_api_password_stops_the_hub(
    layout: Layout, plugin: Plugin, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.traefik_api_secret.unlink()
    with pytest.raises(SystemExit):
        hub_config.configure(Config(), layout)
    assert "traefik API password" in capsys.readouterr().err
