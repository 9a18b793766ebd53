"""The names published TLJH plugins and hand-written hub configs import keep working.

Each check calls the name the way a plugin does and compares the result with the
module that now holds the code, so a re-export that points at the wrong thing fails.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pluggy
import pytest

from tljh.hub import hooks as hook_specs
from tljh.hub.plugins import ENTRY_POINT_GROUP
from tljh.hub.spawner import UserCreatingSpawner
from tljh.system import usernames, users
from tljh.system.files import fix_permissions

UPSTREAM_NAMES = {
    "tljh.hooks": ["hookimpl", "hookspec", *[n for n in dir(hook_specs) if n.startswith("tljh_")]],
    "tljh.config": [
        "CONFIG_FILE",
        "CONFIG_DIR",
        "HUB_ENV_PREFIX",
        "USER_ENV_PREFIX",
        "INSTALL_PREFIX",
        "STATE_DIR",
        "reload_component",
    ],
    "tljh.configurer": ["load_config", "apply_config"],
    "tljh.user": ["ensure_group", "ensure_user_group"],
    "tljh.conda": ["fix_permissions"],
    "tljh.normalize": ["generate_system_username"],
    "tljh.user_creating_spawner": ["UserCreatingSpawner"],
    "tljh.utils": ["get_plugin_manager"],
    "tljh.installer": ["main"],
}


@pytest.mark.parametrize("module", sorted(UPSTREAM_NAMES))
def test_upstream_names_are_importable(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in UPSTREAM_NAMES[module] if not hasattr(mod, name)]
    assert not missing, f"{module} lost {missing}"


def test_hookimpl_marks_for_the_tljh_project() -> None:
    from tljh.hooks import hookimpl

    class Plugin:
        @hookimpl
        def tljh_extra_user_pip_packages(self) -> list[str]:
            return ["nbgitpuller"]

    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(importlib.import_module("tljh.hooks"))
    pm.register(Plugin())
    assert pm.hook.tljh_extra_user_pip_packages() == [["nbgitpuller"]]


def test_get_plugin_manager_knows_every_hook() -> None:
    from tljh.utils import get_plugin_manager

    pm = get_plugin_manager()
    for name in UPSTREAM_NAMES["tljh.hooks"]:
        if name.startswith("tljh_"):
            assert hasattr(pm.hook, name), name


def test_re_exports_are_the_real_objects() -> None:
    import tljh.conda
    import tljh.normalize
    import tljh.user
    import tljh.user_creating_spawner

    assert tljh.user_creating_spawner.UserCreatingSpawner is UserCreatingSpawner
    assert tljh.user.ensure_group is users.ensure_group
    assert tljh.user.ensure_user_group is users.ensure_user_group
    assert tljh.normalize.generate_system_username is usernames.generate_system_username
    assert tljh.normalize.generate_system_username("jupyter-ada") == "jupyter-ada"
    assert callable(tljh.conda.fix_permissions) and callable(fix_permissions)


def test_config_paths_follow_the_install_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tljh.config

    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    assert str(tmp_path / "config") == tljh.config.CONFIG_DIR
    assert str(tmp_path / "hub") == tljh.config.HUB_ENV_PREFIX
    assert str(tmp_path / "user") == tljh.config.USER_ENV_PREFIX
    assert str(tmp_path / "state") == tljh.config.STATE_DIR


def test_upstream_hub_config_file_runs_the_real_configure() -> None:
    # Units written by earlier releases point at tljh/jupyterhub_config.py.
    shim = importlib.import_module("tljh.jupyterhub_config")
    real = importlib.import_module("tljh.hub.jupyterhub_config")
    assert shim.configure is real.configure
