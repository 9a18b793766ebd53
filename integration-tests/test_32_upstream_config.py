"""Upstream's tljh-config forms and Python API of tljh.config, as scripts and plugins use them.

Each form is run the way upstream's docs write it, against the real install: the
file changes through our write path (lock, validation, atomic write, history)
and the hub runs with the result.
"""

from __future__ import annotations

import grp
import json
import stat
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from conftest import DUMMY_PASSWORD, use_dummy_auth
from hubclient import HubClient
from machine import unit_property

CONFIG = Path("/opt/tljh/config/config.yaml")
HISTORY = Path("/opt/tljh/config/history")
HUB_PYTHON = "/opt/tljh/hub/bin/python3"
TLJH_CONFIG = "/usr/bin/tljh-config"


def tljh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TLJH_CONFIG, *args], capture_output=True, text=True, timeout=300)


def newest_history_entry() -> str:
    """The name of the newest kept version (numbered: only the newest 20 are kept)."""
    return max((p.name for p in HISTORY.glob("config-v*.yaml")), default="")


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> None:
    use_dummy_auth()


def test_every_upstream_tljh_config_form(hub_url: str) -> None:
    before = CONFIG.read_bytes()
    try:
        _every_form(hub_url)
    finally:
        CONFIG.write_bytes(before)


def _every_form(hub_url: str) -> None:
    # Upstream's docs: 'set' on an entry of users.extra_user_groups.
    proc = tljh("set", "users.extra_user_groups.tljh-upstream-group", "groupie")
    assert proc.returncode == 0, proc.stderr
    assert "tljh-upstream-group:\n    - groupie\n" in CONFIG.read_text()
    # Upstream's entry point, run as python3 -m tljh.config.
    proc = subprocess.run(
        [HUB_PYTHON, "-m", "tljh.config", "show"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "tljh-upstream-group:" in proc.stdout
    # --no-validate saves what validation refuses, before or after the command ...
    proc = tljh("--no-validate", "set", "tljh_upstream_plugin.level", "3")
    assert proc.returncode == 0, proc.stderr
    assert "saved WITHOUT validation" in proc.stderr
    assert "tljh_upstream_plugin: unknown key" in proc.stderr
    proc = tljh("set", "limits.memroy", "1G", "--no-validate")
    assert proc.returncode == 0, proc.stderr
    assert "limits.memroy: unknown key" in proc.stderr
    assert tljh("unset", "limits.memroy").returncode == 0
    # ... and --validate (the default) refuses it.
    proc = tljh("--validate", "set", "limits.memroy", "1G")
    assert proc.returncode == 1
    assert "limits.memroy: unknown key; did you mean limits.memory?" in proc.stderr
    # reload with no argument, hub, proxy: the unknown key is named, not fatal.
    hub_pid = unit_property("jupyterhub", "MainPID")
    proc = tljh("reload")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tljh_upstream_plugin: unknown key" in proc.stdout + proc.stderr
    assert unit_property("jupyterhub", "MainPID") != hub_pid
    proxy_pid = unit_property("traefik", "MainPID")
    hub_pid = unit_property("jupyterhub", "MainPID")
    proc = tljh("reload", "proxy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert unit_property("traefik", "MainPID") != proxy_pid
    assert unit_property("jupyterhub", "MainPID") == hub_pid
    proc = tljh("--no-validate", "reload", "hub")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert unit_property("jupyterhub", "MainPID") != hub_pid

    # The hub runs with the group: the student's account is in it.
    client = HubClient(hub_url)
    client.login("groupie", DUMMY_PASSWORD)
    client.start_server()
    try:
        members = grp.getgrnam("tljh-upstream-group").gr_mem
        assert "jupyter-groupie" in members, members
    finally:
        client.stop_server()


SCRIPT = textwrap.dedent(
    """
    import io, contextlib, json, sys
    import tljh.config as config

    path = config.CONFIG_FILE
    out = {"paths": [config.INSTALL_PREFIX, config.HUB_ENV_PREFIX, config.USER_ENV_PREFIX,
                     config.STATE_DIR, config.CONFIG_DIR, path]}
    config.set_config_value(path, "limits.cpu", config.parse_value("2"))
    config.add_config_value(path, "users.banned", config.parse_value("1234"))
    config.add_config_value(path, "users.banned", "tljh-api-user")
    config.remove_config_value(path, "users.banned", 1234)
    config.set_config_value(path, "users.extra_user_groups.tljh-api-group", "tljh-api-user")
    try:
        config.unset_config_value(path, "limits.users")
    except ValueError as e:
        out["unset_missing"] = str(e)
    try:
        config.set_config_value(path, "limits.memroy", "1G")
    except SystemExit as e:
        out["unknown_exit"] = e.code
    with config.config_file_lock(path):
        out["locked"] = True
    current = config.get_current_config(path)
    out["cpu"] = current["limits"]["cpu"]
    out["banned"] = current["users"]["banned"]
    out["groups"] = current["users"]["extra_user_groups"]
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        config.show_config(path)
    out["shown_masks"] = "DummyAuthenticator" in shown.getvalue() and (
        "integration-test-password" not in shown.getvalue())
    out["copy"] = config.set_item_in_config({"a": 1}, "b.c", 2)
    config.reload_component("hub")
    out["ready"] = config.check_hub_ready()
    print(json.dumps(out))
    """
)


RESTORE = textwrap.dedent(
    """
    import sys
    from ruamel.yaml import YAML
    import tljh.config as c
    p = c.CONFIG_FILE
    before = YAML(typ="safe").load(sys.stdin.read()) or {}
    limits, users = before.get("limits") or {}, before.get("users") or {}
    if "cpu" in limits:
        c.set_config_value(p, "limits.cpu", limits["cpu"])
    else:
        c.unset_config_value(p, "limits.cpu")
    if "banned" in users:
        c.remove_config_value(p, "users.banned", "tljh-api-user")
    else:
        c.unset_config_value(p, "users.banned")
    if "extra_user_groups" in users:
        c.unset_config_value(p, "users.extra_user_groups.tljh-api-group")
    else:
        c.unset_config_value(p, "users.extra_user_groups")
    """
)


def test_upstream_python_api_as_a_script_calls_it(hub_url: str) -> None:
    before = CONFIG.read_text()
    newest = newest_history_entry()
    started = time.monotonic()
    proc = subprocess.run(
        [HUB_PYTHON, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd="/"
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["paths"] == [
        "/opt/tljh",
        "/opt/tljh/hub",
        "/opt/tljh/user",
        "/opt/tljh/state",
        "/opt/tljh/config",
        str(CONFIG),
    ]
    assert out["cpu"] == 2
    assert out["banned"] == ["tljh-api-user"]
    assert out["groups"] == {"tljh-api-group": ["tljh-api-user"]}
    assert out["unset_missing"] == "limits.users is not set, so there is nothing to unset"
    assert out["unknown_exit"] == 1
    assert "limits.memroy: unknown key; did you mean limits.memory?" in proc.stderr
    assert out["locked"] and out["shown_masks"] and out["ready"]
    assert out["copy"] == {"a": 1, "b": {"c": 2}}
    # Our write path: root's alone, every change in the history, the hub up.
    assert stat.S_IMODE(CONFIG.stat().st_mode) == 0o600
    assert newest_history_entry() > newest
    assert took < 120
    # Back as it was (the test's own changes only), through the same API. Earlier
    # tests may have left keys (an empty users.banned): those are kept.
    subprocess.run([HUB_PYTHON, "-c", RESTORE], input=before, text=True, check=True, timeout=60)
    assert CONFIG.read_text() == before
    proc = tljh("reload")
    assert proc.returncode == 0, proc.stdout + proc.stderr
