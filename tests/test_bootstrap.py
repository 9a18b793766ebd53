"""The bootstrap script's own logic (it runs piped into python3, so it is loaded by path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import BOOTSTRAP_SCRIPT as SCRIPT


def test_truncated_download_does_nothing() -> None:
    """A download cut at any line boundary must neither run nor half-run."""
    lines = SCRIPT.read_text().splitlines(keepends=True)
    # Cutting before the final call leaves a script that defines things only.
    for cut in (len(lines) // 3, len(lines) // 2, len(lines) - 1):
        text = "".join(lines[:cut])
        proc = subprocess.run(
            [sys.executable, "-", "--admin", "x"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "[tljh-bootstrap]" not in proc.stdout
        assert "error:" not in proc.stderr or "SyntaxError" in proc.stderr


def test_help_runs_without_root() -> None:
    proc = subprocess.run(
        [sys.executable, "-", "--help"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0
    for flag in (
        "--admin",
        "--plugin",
        "--version",
        "--user-requirements-txt-url",
        "--user-env",
        "--conda-installer-url",
        "--conda-installer-sha256",
    ):
        assert flag in proc.stdout


def test_version_tuple(bootstrap: ModuleType) -> None:
    assert bootstrap.version_tuple("22.04") == (22, 4)
    assert bootstrap.version_tuple("12") == (12,)
    assert bootstrap.version_tuple("") == ()
    assert bootstrap.version_tuple("13") >= bootstrap.SUPPORTED_OS["debian"][0]
    assert bootstrap.version_tuple("20.04") < bootstrap.SUPPORTED_OS["ubuntu"][0]


def test_forwarded_args_drop_bootstrap_only_flags(bootstrap: ModuleType) -> None:
    argv = ["--admin", "a", "--version", "2.0", "--show-progress-page", "--plugin", "p1", "p2"]
    assert bootstrap.forwarded_args(argv) == ["--admin", "a", "--plugin", "p1", "p2"]
    assert bootstrap.forwarded_args(["--version=1.0", "--admin", "b"]) == ["--admin", "b"]


def test_tljh_spec(bootstrap: ModuleType) -> None:
    assert bootstrap.tljh_spec({"TLJH_BOOTSTRAP_PIP_SPEC": "/src"}, "9.9") == "/src"
    assert bootstrap.tljh_spec({}, "2.1.0") == "the-littlest-jupyterhub==2.1.0"
    assert bootstrap.tljh_spec({}, None) == "the-littlest-jupyterhub"


def test_package_env_maps_pip_settings_for_uv(bootstrap: ModuleType) -> None:
    env = bootstrap.package_env(
        {"PIP_CERT": "/ca.pem", "PIP_INDEX_URL": "https://mirror.example/simple"}
    )
    assert env["SSL_CERT_FILE"] == "/ca.pem"
    assert env["UV_INDEX_URL"] == "https://mirror.example/simple"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"


def test_os_release_parsing(bootstrap: ModuleType, tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    info = bootstrap.read_os_release(str(f))
    assert info["ID"] == "debian" and info["VERSION_ID"] == "12"


def test_host_check_refuses_non_root(bootstrap: ModuleType, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    with pytest.raises(bootstrap.HostProblem) as e:
        bootstrap.check_host(str(tmp_path), {})
    assert "root" in e.value.message and "sudo" in e.value.hint


def test_host_check_refuses_old_os(bootstrap: ModuleType, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        bootstrap,
        "read_os_release",
        lambda: {"ID": "ubuntu", "VERSION_ID": "20.04", "PRETTY_NAME": "Ubuntu 20.04"},
    )
    with pytest.raises(bootstrap.HostProblem) as e:
        bootstrap.check_host(str(tmp_path), {})
    assert e.value.message == "Ubuntu 20.04 is not supported"


def test_host_check_refuses_os_whose_python_is_too_old(
    bootstrap: ModuleType, monkeypatch, tmp_path
) -> None:
    """Debian 11's python3 is 3.9: refused by name, with the releases that work."""
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        bootstrap,
        "read_os_release",
        lambda: {"ID": "debian", "VERSION_ID": "11", "PRETTY_NAME": "Debian GNU/Linux 11"},
    )
    with pytest.raises(bootstrap.HostProblem) as e:
        bootstrap.check_host(str(tmp_path), {})
    assert e.value.message == "Debian GNU/Linux 11 is not supported"
    assert "Debian 12 or newer" in e.value.hint and "Ubuntu 22.04 or newer" in e.value.hint


def test_host_check_refuses_without_systemd(bootstrap: ModuleType, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    monkeypatch.setattr(bootstrap, "read_os_release", lambda: {"ID": "debian", "VERSION_ID": "12"})
    monkeypatch.setattr(bootstrap, "_pid1_name", lambda: "bash")
    with pytest.raises(bootstrap.HostProblem) as e:
        bootstrap.check_host(str(tmp_path), {})
    assert "systemd" in e.value.message


def test_non_root_run_exits_1_with_reason() -> None:
    """As a user would see it: one line of reason, one of hint, exit 1, no traceback."""
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: this installer must run as root")
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr
