"""A plugin installed with --plugin: every hook that can run here has its effect."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bootstrapping import assert_ok, changes, run_bootstrap
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from testplugin import HUB_PYTHON, PLUGIN, USER_PYTHON, apt_installed, imports, lines


@pytest.fixture(scope="module")
def installed(tljh_config) -> Iterator[str]:
    # What the plugin asks for is not there yet, or the test would prove nothing.
    assert not apt_installed("sl")
    assert not imports(HUB_PYTHON, "tabulate")
    assert not imports(USER_PYTHON, "termcolor")
    assert "5400" not in tljh_config("show")
    proc, _ = run_bootstrap("--plugin", str(PLUGIN))
    assert_ok(proc, ["--plugin", str(PLUGIN)])
    yield proc.stdout


def test_plugin_is_installed_into_the_hub_env(installed: str) -> None:
    assert "tljh_test_plugin" in installed  # "plugins: tljh_test_plugin"
    assert imports(HUB_PYTHON, "tljh_test_plugin")


def test_apt_packages(installed: str) -> None:
    assert apt_installed("sl")


def test_hub_pip_packages(installed: str) -> None:
    assert imports(HUB_PYTHON, "tabulate")


def test_user_pip_packages(installed: str) -> None:
    assert imports(USER_PYTHON, "termcolor")


def test_config_post_install(installed: str, tljh_config) -> None:
    text = Path("/opt/tljh/config/config.yaml").read_text()
    assert "timeout: 5400" in text, text
    tljh_config("show")  # still valid


def test_post_install(installed: str) -> None:
    assert len(lines("post-install")) >= 1


def test_custom_jupyterhub_config_runs_in_the_hub(installed: str) -> None:
    hub_pid = subprocess.run(
        ["systemctl", "show", "-p", "MainPID", "--value", "jupyterhub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The hub was restarted to load the new plugin, and called the hook.
    assert hub_pid in lines("custom-config")


def test_new_user_create(installed: str, hub_url: str, tljh_config) -> None:
    use_dummy_auth()
    client = HubClient(hub_url)
    client.login("plugin-newcomer", PASSWORD)
    client.start_server()
    assert "jupyter-plugin-newcomer" in lines("new-users")
    # And the user's kernel sees the package the plugin asked for.
    assert client.execute("import termcolor; 'ok'") == "'ok'"
    client.stop_server()


def test_rerun_without_plugin_keeps_it_and_runs_its_hooks(installed: str, tljh_config) -> None:
    before = len(lines("post-install"))
    # An admin's own value wins over the plugin's default.
    tljh_config("set", "services.cull.timeout", "1200")
    proc, _ = run_bootstrap()
    assert_ok(proc)
    assert len(lines("post-install")) == before + 1
    assert imports(HUB_PYTHON, "tljh_test_plugin")
    assert "timeout: 1200" in Path("/opt/tljh/config/config.yaml").read_text()
    assert changes(proc.stdout) == [], proc.stdout
    assert "nothing needed to change" in proc.stdout
