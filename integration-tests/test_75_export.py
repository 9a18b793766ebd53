"""``tljh export z2jh`` and ``tljh export user-image`` on the live install.

An admin has students, a limit, a ``jupyterhub_config.d`` file and a package
installed into the shared user environment for everyone; the export names
them all, and the image's requirements name the package at its installed
version.  No Kubernetes runs here (nor anywhere in the tests): that the chart
reads the values as the TLJH hub runs is tested against the chart's own code in
tests/test_export_z2jh_chart.py; deploying them is not tested.

Leaves config.yaml and jupyterhub_config.d as it found them.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run, tljh_config

TLJH = "/usr/bin/tljh"
USER_PYTHON = "/opt/tljh/user/bin/python3"
SNIPPET = Path("/opt/tljh/config/jupyterhub_config.d/75-export-test.py")
CONFIG = Path("/opt/tljh/config/config.yaml")
#: A small package nothing in the user environment depends on.
PACKAGE = "colorama"


@pytest.fixture(scope="module")
def classroom() -> Iterator[None]:
    """Students, a limit and a snippet in the config (no reload: export reads the files)."""
    before = CONFIG.read_bytes()
    tljh_config("add-item", "users.allowed", "ada.lovelace")
    tljh_config("add-item", "users.allowed", "grace")
    tljh_config("set", "limits.memory", "768M")
    SNIPPET.write_text("c.SystemdSpawner.isolate_devices = True\nc.Spawner.args = ['--debug']\n")
    try:
        yield
    finally:
        SNIPPET.unlink(missing_ok=True)
        CONFIG.write_bytes(before)


@pytest.fixture(scope="module")
def package() -> str:
    """The package installed into the shared environment, as an admin does (its pip)."""
    run([USER_PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", PACKAGE])
    version = f"import importlib.metadata as m; print(m.version({PACKAGE!r}))"
    return run([USER_PYTHON, "-c", version]).stdout.strip()


def test_export_z2jh_on_the_live_install(classroom: None, tmp_path: Path) -> None:
    out = tmp_path / "values.yaml"
    proc = run([TLJH, "export", "z2jh", "--out", str(out)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    head, _, values = text.partition("\nhub:\n")
    assert "ada.lovelace" in values and "grace" in values
    assert "limit: 768M" in values and "guarantee: 768M" in values
    assert "75-export-test.py: |" in values
    assert "# TLJH-EXPORT: only for one server with systemd" in values
    # What does not move is said on stderr and at the top of the file.
    for said in (proc.stderr, head):
        assert "homes" in said and "user_environment" in said
        assert "jupyterhub_config.d/75-export-test.py" in said
    # Refuses to overwrite; --force replaces.
    again = run([TLJH, "export", "z2jh", "--out", str(out)], check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert run([TLJH, "export", "z2jh", "--out", str(out), "--force"], check=False).returncode == 0


def test_export_z2jh_is_for_root_only(tmp_path: Path) -> None:
    # config.yaml may hold secrets: the command says to use sudo rather than fail half-way.
    proc = run(["runuser", "-u", "nobody", "--", TLJH, "export", "z2jh", "--out", "-"], check=False)
    assert proc.returncode != 0
    assert "sudo tljh export" in proc.stderr
    assert not proc.stdout


def test_export_user_image_names_the_installed_package(package: str, tmp_path: Path) -> None:
    out = tmp_path / "image"
    proc = run([TLJH, "export", "user-image", "--out", str(out)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert f"{PACKAGE}=={package}" in requirements
    # JupyterHub comes with the base image (it must match the cluster's hub).
    assert not [r for r in requirements if r.lower().startswith("jupyterhub==")]
    dockerfile = (out / "Dockerfile").read_text()
    assert "FROM ${BASE_IMAGE}" in dockerfile and "quay.io/jupyter/" in dockerfile
    assert "requirements.txt" in dockerfile
