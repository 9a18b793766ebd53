"""The install itself: services, files, permissions, tljh-config."""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import urllib.request
from pathlib import Path

PREFIX = Path(os.environ.get("TLJH_INSTALL_PREFIX", "/opt/tljh"))


def systemctl(*args: str) -> str:
    return subprocess.run(
        ["systemctl", *args], capture_output=True, text=True, check=False
    ).stdout.strip()


def test_services_active_and_enabled() -> None:
    for unit in ("jupyterhub", "traefik"):
        assert systemctl("is-active", unit) == "active", unit
        assert systemctl("is-enabled", unit) == "enabled", unit


def test_hub_api_answers_on_port_80(hub_url: str) -> None:
    with urllib.request.urlopen(f"{hub_url}/hub/api", timeout=10) as r:
        assert r.status == 200
        info = json.load(r)
    installed = subprocess.run(
        [str(PREFIX / "hub/bin/python3"), "-c", "import jupyterhub; print(jupyterhub.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert info["version"] == installed


def test_layout_and_modes() -> None:
    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(PREFIX / "state") == 0o700
    assert (PREFIX / "config/config.yaml").is_file()
    assert (PREFIX / "config/jupyterhub_config.d").is_dir()
    assert (PREFIX / "config/traefik_config.d").is_dir()
    assert mode(PREFIX / "installer.log") == 0o600
    assert (PREFIX / "installer.log").stat().st_uid == 0
    sudoers = Path("/etc/sudoers.d/jupyterhub-admins")
    assert mode(sudoers) == 0o440
    subprocess.run(["visudo", "-cf", str(sudoers)], check=True, capture_output=True)
    for secret in (PREFIX / "state").iterdir():
        if secret.name == "traefik.toml":
            # The proxy (user tljh-proxy) reads its static config through its group.
            assert mode(secret) == 0o640, secret
            assert grp.getgrgid(secret.stat().st_gid).gr_name == "tljh-proxy"
        elif secret.is_file():
            assert mode(secret) & 0o077 == 0, f"{secret} is readable by others"
    for env in ("hub", "user"):
        st = (PREFIX / env).stat()
        assert st.st_uid == 0 and mode(PREFIX / env) & 0o022 == 0


def test_groups_exist() -> None:
    grp.getgrnam("jupyterhub-users")
    grp.getgrnam("jupyterhub-admins")


def test_tljh_config_command(tljh_config, admin_name: str) -> None:
    link = Path("/usr/bin/tljh-config")
    assert link.is_symlink()
    out = tljh_config("show")
    assert f"- {admin_name}" in out, out
    assert tljh_config("get", "users.admin").strip() == f"- {admin_name}"


def test_user_env_has_the_notebook_stack() -> None:
    python = PREFIX / "user/bin/python3"
    code = "import jupyterlab, notebook, ipykernel, ipywidgets, nbgitpuller, jupyter_resource_usage"
    subprocess.run([str(python), "-c", code], check=True)
    hub_version = subprocess.run(
        [str(PREFIX / "hub/bin/python3"), "-c", "import jupyterhub; print(jupyterhub.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    user_version = subprocess.run(
        [str(python), "-c", "import jupyterhub; print(jupyterhub.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert hub_version == user_version
    assert (PREFIX / "user/bin/pip").exists(), "admins need pip in the user environment"
