"""Plugins: found through entry points of group "tljh", hooks callable by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import install_plugin

from tljh.errors import PluginError
from tljh.hub.plugins import plugin_manager
from tljh.layout import Layout

PLUGIN = """
from tljh.hooks import hookimpl

@hookimpl
def tljh_extra_user_pip_packages():
    return ["nbgitpuller"]

@hookimpl
def tljh_extra_apt_packages():
    return ["htop"]

@hookimpl
def tljh_custom_jupyterhub_config(c):
    c["seen"] = True

@hookimpl
def tljh_new_user_create(username):
    CREATED.append(username)

CREATED = []
"""


def test_published_style_plugin_is_loaded(site: Path) -> None:
    install_plugin(site, "tljhtest-good", "tljhtest_good", PLUGIN)
    pm = plugin_manager()
    assert pm.has_plugin("tljhtest-good")
    assert ["nbgitpuller"] in pm.hook.tljh_extra_user_pip_packages()
    assert ["htop"] in pm.hook.tljh_extra_apt_packages()
    c: dict[str, bool] = {}
    pm.hook.tljh_custom_jupyterhub_config(c=c)
    assert c == {"seen": True}
    pm.hook.tljh_new_user_create(username="jupyter-x")
    assert sys.modules["tljhtest_good"].CREATED == ["jupyter-x"]


def test_every_upstream_hook_exists() -> None:
    pm = plugin_manager()
    for name in [
        "tljh_extra_user_conda_packages",
        "tljh_extra_user_conda_channels",
        "tljh_extra_user_pip_packages",
        "tljh_extra_hub_pip_packages",
        "tljh_extra_apt_packages",
        "tljh_custom_jupyterhub_config",
        "tljh_config_post_install",
        "tljh_post_install",
        "tljh_new_user_create",
    ]:
        assert getattr(pm.hook, name).spec is not None, name


def test_broken_plugin_is_named(site: Path) -> None:
    install_plugin(site, "tljhtest-broken", "tljhtest_broken", "import does_not_exist_xyz\n")
    with pytest.raises(PluginError) as e:
        plugin_manager(Layout(prefix=Path("/srv/hub")))
    assert "tljhtest-broken" in e.value.message
    assert "does_not_exist_xyz" in e.value.message
    # The hint names this installation's hub environment and the package to remove.
    assert "/srv/hub/hub/bin/pip uninstall tljhtest-broken" in e.value.hint
