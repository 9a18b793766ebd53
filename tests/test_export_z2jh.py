"""The translation of a TLJH config into Zero to JupyterHub values, and ``tljh export``.

What the chart's own code makes of the values is tested in test_export_z2jh_chart.py.
"""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tljh.cli.export import cmd_user_image, cmd_z2jh
from tljh.cli.main import build_parser
from tljh.errors import ExportError
from tljh.layout import Layout
from tljh.render.user_image import (
    EnvPackages,
    Package,
    conda_requested,
    env_packages,
    image_files,
)
from tljh.render.z2jh import (
    FLAG,
    LIMITS_CONFIG_KEY,
    SECRET_PLACEHOLDER,
    TLS_SECRET_NAME,
    Certificate,
    flag_snippet,
    to_z2jh,
    values_text,
)
from tljh.system.envpackages import EnvReport

GITHUB = {
    "auth": {
        "type": "github",
        "GitHubOAuthenticator": {"client_id": "abc", "client_secret": "s3cret"},
    },
    "users": {"allowed": ["b", "a"], "admin": ["ms.frizzle"], "banned": ["mallory"]},
    "limits": {"memory": "1G", "cpu": 1},
    "services": {"cull": {"enabled": True, "timeout": 900, "max_age": 0}},
    "user_environment": {"default_app": "jupyterlab"},
    "base_url": "/class/",
}


def test_github_users_limits_cull() -> None:
    export = to_z2jh(GITHUB)
    hub = export.values["hub"]
    assert (
        hub["config"]["JupyterHub"]["authenticator_class"]
        == "oauthenticator.github.GitHubOAuthenticator"
    )
    assert hub["config"]["GitHubOAuthenticator"]["client_secret"] == SECRET_PLACEHOLDER
    assert hub["config"]["GitHubOAuthenticator"]["client_id"] == "abc"
    # As on the TLJH hub: admins are always allowed in.
    assert hub["config"]["Authenticator"] == {
        "allowed_users": ["a", "b", "ms.frizzle"],
        "blocked_users": ["mallory"],
        "admin_users": ["ms.frizzle"],
    }
    # FirstUse's default section is not carried to another authenticator.
    assert "FirstUseAuthenticator" not in hub["config"]
    assert hub["baseUrl"] == "/class/"
    assert export.values["singleuser"] == {
        "memory": {"limit": "1G"},
        "cpu": {"limit": 1.0},
        "defaultUrl": "/lab",
    }
    # Every setting, since the chart's defaults (1 h, every 10 min) differ from TLJH's.
    assert export.values["cull"] == {
        "enabled": True,
        "timeout": 900,
        "every": 60,
        "concurrency": 5,
        "users": False,
        "adminUsers": True,
        "maxAge": 0,
        "removeNamedServers": False,
    }
    assert [s.values_key for s in export.secrets] == [
        "hub.config.GitHubOAuthenticator.client_secret"
    ]
    included = to_z2jh(GITHUB, include_secrets=True)
    assert included.values["hub"]["config"]["GitHubOAuthenticator"]["client_secret"] == "s3cret"
    assert not included.secrets
    assert "s3cret" not in values_text(export)
    assert "s3cret" in values_text(included)


def test_firstuse_is_a_warning_and_keeps_open_login() -> None:
    export = to_z2jh({"users": {"admin": ["ms.frizzle"]}})
    config = export.values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == (
        "firstuseauthenticator.FirstUseAuthenticator"
    )
    # Without users.allowed the TLJH hub lets in whoever sets a password: so must the cluster.
    assert config["FirstUseAuthenticator"]["allow_all"] is True
    # Its password file is a path on this server.
    assert "dbm_path" not in config["FirstUseAuthenticator"]
    keys = {w.key for w in export.warnings}
    assert {"auth.type", "users.admin", "user_environment", "homes"} <= keys
    assert "limits.memory" in keys  # no limit set: this server's follows its memory


def test_local_authenticator_becomes_the_plain_one() -> None:
    export = to_z2jh({"auth": {"type": "local-github", "LocalGitHubOAuthenticator": {"a": 1}}})
    config = export.values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == (
        "oauthenticator.github.GitHubOAuthenticator"
    )
    assert config["GitHubOAuthenticator"] == {"a": 1}
    assert any("system user" in w.reason for w in export.warnings)


def test_ldap_password_left_out() -> None:
    config = {
        "auth": {
            "type": "ldap",
            "LDAPAuthenticator": {
                "server_address": "ldap.example.org",
                "lookup_dn_search_password": "bindpw",
                "lookup_dn_search_user": "cn=reader",
            },
        }
    }
    section = to_z2jh(config).values["hub"]["config"]["LDAPAuthenticator"]
    assert section["lookup_dn_search_password"] == SECRET_PLACEHOLDER
    assert section["lookup_dn_search_user"] == "cn=reader"


def test_small_memory_limit_brings_the_guarantee_down() -> None:
    # The chart guarantees 1G by default: Kubernetes refuses a guarantee above the limit.
    memory = to_z2jh({"limits": {"memory": "512M"}}).values["singleuser"]["memory"]
    assert memory == {"limit": "512M", "guarantee": "512M"}
    assert to_z2jh({"limits": {"memory": "2G"}}).values["singleuser"]["memory"] == {"limit": "2G"}


def test_https_letsencrypt_staging() -> None:
    config = {
        "https": {
            "enabled": True,
            "letsencrypt": {
                "email": "t@example.org",
                "domains": ["hub.example.org"],
                "staging": True,
            },
        }
    }
    https = to_z2jh(config).values["proxy"]["https"]
    assert https["type"] == "letsencrypt"
    assert https["hosts"] == ["hub.example.org"]
    assert https["letsencrypt"]["contactEmail"] == "t@example.org"
    assert "staging" in https["letsencrypt"]["acmeServer"]
    assert "proxy" not in to_z2jh({}).values


def test_https_own_certificate_is_a_secret_unless_included() -> None:
    config = {"https": {"enabled": True, "tls": {"cert": "/etc/c.pem", "key": "/etc/k.pem"}}}
    export = to_z2jh(config, certificate=Certificate("/etc/c.pem", "/etc/k.pem"))
    https = export.values["proxy"]["https"]
    assert https["type"] == "secret"
    assert https["secret"]["name"] == TLS_SECRET_NAME
    assert export.commands == [
        f"kubectl create secret tls {TLS_SECRET_NAME} --cert=/etc/c.pem --key=/etc/k.pem"
    ]
    assert f"kubectl create secret tls {TLS_SECRET_NAME}" in values_text(export)
    cert = Certificate("/etc/c.pem", "/etc/k.pem", "CERT", "KEY")
    included = to_z2jh(config, include_secrets=True, certificate=cert)
    assert included.values["proxy"]["https"] == {
        "enabled": True,
        "type": "manual",
        "manual": {"cert": "CERT", "key": "KEY"},
    }
    # The key is only read with --include-secrets.
    assert "KEY" not in values_text(to_z2jh(config, certificate=cert))


def test_snippets_flagged_and_secrets_left_out() -> None:
    text = (
        "import os\n"
        "c.SystemdSpawner.isolate_devices = True\n"
        "if True:\n"
        "    c.GitHubOAuthenticator.client_secret = 'abc'\n"
        "c.Spawner.args = ['--debug']\n"
        "# c.SystemdSpawner.x = 1 is a comment\n"
    )
    code, reasons, hidden = flag_snippet("10-a.py", text, include_secrets=False)
    compile(code, "10-a.py", "exec")  # still Python
    assert hidden == 1
    assert "'abc'" not in code and SECRET_PLACEHOLDER in code
    assert len(reasons) == 1 and "line 2" in reasons[0]
    lines = code.splitlines()
    flagged = lines.index("c.SystemdSpawner.isolate_devices = True")
    assert lines[flagged - 1].startswith(FLAG)
    assert "c.Spawner.args = ['--debug']" in lines
    kept, _, none_hidden = flag_snippet("10-a.py", text, include_secrets=True)
    assert "'abc'" in kept and none_hidden == 0

    export = to_z2jh({}, snippets={"10-a.py": text})
    assert export.values["hub"]["extraConfig"]["10-a.py"] == code
    assert any(w.key == "jupyterhub_config.d/10-a.py" for w in export.warnings)
    assert any(s.values_key == "hub.extraConfig.10-a.py" for s in export.secrets)


def _run_limits_hook(config: dict[str, Any], name: str, groups: list[str]) -> Any:
    code = to_z2jh(config).values["hub"]["extraConfig"][LIMITS_CONFIG_KEY]
    from traitlets.config import Config

    c = Config()
    exec(compile(str(code), LIMITS_CONFIG_KEY, "exec"), {"c": c})
    user = SimpleNamespace(name=name, groups=[SimpleNamespace(name=g) for g in groups])
    spawner = SimpleNamespace(user=user, mem_limit=None, cpu_limit=None, mem_guarantee=1024**3)
    c.KubeSpawner.pre_spawn_hook(spawner)
    return spawner


def test_group_and_user_limits_as_a_hook() -> None:
    config = {
        "limits": {
            "memory": "1G",
            "groups": {"instructors": {"memory": "4G", "cpu": 2}, "tas": {"memory": "2G"}},
            "users": {"Ada": {"cpu": 3}},
        }
    }
    # The largest of the user's groups, for each limit on its own.
    s = _run_limits_hook(config, "grace", ["tas", "instructors"])
    assert (s.mem_limit, s.cpu_limit) == (4 * 1024**3, 2.0)
    # A user's own limit wins (names compared lower-cased, as TLJH does).
    s = _run_limits_hook(config, "ada", ["tas"])
    assert (s.mem_limit, s.cpu_limit) == (2 * 1024**3, 3.0)
    # Others keep the general limits (not touched by the hook).
    s = _run_limits_hook(config, "bob", [])
    assert (s.mem_limit, s.cpu_limit) == (None, None)
    assert LIMITS_CONFIG_KEY not in to_z2jh({}).values["hub"].get("extraConfig", {})


def test_plugins_are_named_in_a_warning() -> None:
    export = to_z2jh({}, plugins=["tljh-repo2docker", "tljh-plasma"])
    (warning,) = [w for w in export.warnings if w.key == "plugins"]
    assert "tljh-plasma, tljh-repo2docker" in warning.reason
    assert not [w for w in to_z2jh({}).warnings if w.key == "plugins"]


def test_values_text_says_what_is_left_behind_at_the_top() -> None:
    text = values_text(to_z2jh(GITHUB), "/opt/tljh/config/config.yaml")
    head = text.split("\nhub:", 1)[0]
    assert all(line.startswith("#") for line in head.splitlines())
    assert "Secrets left out" in head
    assert "hub.config.GitHubOAuthenticator.client_secret" in head
    assert "home directories" in head and "sudo" in head


# --- user image -------------------------------------------------------------------------


def test_user_image_from_a_venv_report() -> None:
    report = EnvReport(
        kind="venv",
        prefix="/opt/tljh/user",
        pip_top=[
            {"name": "numpy", "version": "2.1.0"},
            {"name": "jupyterhub", "version": "6.1.1"},
            {"name": "pip", "version": "25.0"},
            {"name": "mine", "version": "0.1", "editable_project_location": "/src/mine"},
        ],
    )
    files = image_files(env_packages(report), "quay.io/jupyter/minimal-notebook:2026-11-30")
    assert set(files) == {"Dockerfile", "requirements.txt"}
    reqs = [r for r in files["requirements.txt"].splitlines() if not r.startswith("#")]
    # JupyterHub comes with the base image: it must match the cluster's hub.
    assert reqs == ["numpy==2.1.0"]
    assert "ARG BASE_IMAGE=quay.io/jupyter/minimal-notebook:2026-11-30" in files["Dockerfile"]
    assert "pip install --no-cache-dir -r" in files["Dockerfile"]


def test_user_image_from_a_conda_report() -> None:
    history = (
        "==> 2026-11-01 <==\n# cmd: conda create\n"
        "# update specs: ['python=3.12', 'conda-forge::numpy>=2', 'scipy']\n"
        "# remove specs: ['scipy']\n"
        '# update specs: ["r-base"]\n'
    )
    assert conda_requested(history) == ["python", "numpy", "r-base"]
    report = EnvReport(
        kind="conda",
        prefix="/opt/tljh/user",
        pip_top=[{"name": "numpy", "version": "2.1"}, {"name": "nbgitpuller", "version": "1.2"}],
        conda_list=[
            {"name": "python", "version": "3.12.1", "channel": "conda-forge"},
            {"name": "numpy", "version": "2.1", "channel": "conda-forge"},
            {"name": "r-base", "version": "4.4.1", "channel": "conda-forge"},
            {"name": "libzlib", "version": "1.3", "channel": "conda-forge"},
            {"name": "nbgitpuller", "version": "1.2", "channel": "pypi"},
        ],
        conda_history=history,
    )
    env = env_packages(report)
    assert [p.name for p in env.conda] == ["numpy", "python", "r-base"]
    # pip's list shows conda's numpy too; only what pip installed goes to requirements.txt.
    assert env.pip == [Package("nbgitpuller", "1.2")]
    files = image_files(env)
    assert "  - numpy=2.1" in files["environment.yml"]
    assert "python=" not in files["environment.yml"]  # the base image's Python
    assert "mamba env update" in files["Dockerfile"]


# --- the command ----------------------------------------------------------------------


def _layout(tmp_path: Path, config: str = "", snippet: str = "") -> Layout:
    layout = Layout(prefix=tmp_path / "tljh")
    layout.config_dir.mkdir(parents=True)
    layout.config_file.write_text(config)
    if snippet:
        layout.jupyterhub_config_d.mkdir()
        (layout.jupyterhub_config_d / "10-mine.py").write_text(snippet)
    return layout


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["export", *argv])


def test_export_command_writes_a_private_file_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = _layout(
        tmp_path,
        "auth:\n  type: github\n  GitHubOAuthenticator:\n    client_secret: s3cret\n",
        "c.SystemdSpawner.isolate_tmp = True\n",
    )
    out = tmp_path / "values.yaml"
    old = os.umask(0o022)
    try:
        assert cmd_z2jh(_args("z2jh", "--out", str(out)), layout) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert "s3cret" not in text and SECRET_PLACEHOLDER in text
    assert "c.SystemdSpawner.isolate_tmp = True" in text
    err = capsys.readouterr().err
    assert "warning: jupyterhub_config.d/10-mine.py" in err
    assert "warning: homes" in err
    with pytest.raises(ExportError, match="already exists"):
        cmd_z2jh(_args("z2jh", "--out", str(out), "--include-secrets"), layout)
    assert "s3cret" not in out.read_text()
    assert cmd_z2jh(_args("z2jh", "--out", str(out), "--include-secrets", "--force"), layout) == 0
    assert "s3cret" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_export_command_does_not_write_through_a_link(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    target = tmp_path / "elsewhere"
    link = tmp_path / "values.yaml"
    link.symlink_to(target)
    with pytest.raises(ExportError, match="already exists"):
        cmd_z2jh(_args("z2jh", "--out", str(link)), layout)
    assert not target.exists()


def test_export_command_image_option(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    out = tmp_path / "v.yaml"
    cmd_z2jh(_args("z2jh", "--out", str(out), "--image", "reg.example.org:5000/class:v1"), layout)
    assert "name: reg.example.org:5000/class\n    tag: v1" in out.read_text()
    with pytest.raises(ExportError, match="no tag"):
        cmd_z2jh(_args("z2jh", "--out", str(tmp_path / "w"), "--image", "reg:5000/x"), layout)


def test_export_needs_root_for_z2jh_only() -> None:
    assert _args("z2jh").needs_root
    assert not getattr(_args("user-image"), "needs_root", None)


def _venv_with(path: Path, name: str, version: str) -> None:
    """A real virtual environment with pip, holding a package ``name`` (its metadata only)."""
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.skip("uv is not installed next to the test interpreter")
    subprocess.run([str(uv), "venv", "-q", "--seed", str(path)], check=True)
    site = next(path.glob("lib/python3*/site-packages"))
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def test_user_image_command_reads_a_real_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The environment's own pip lists its packages."""
    layout = Layout(prefix=tmp_path / "tljh")
    _venv_with(layout.user_env, "class-tools", "1.2.3")
    out = tmp_path / "image"
    assert cmd_user_image(_args("user-image", "--out", str(out)), layout) == 0
    reqs = (out / "requirements.txt").read_text()
    assert "class-tools==1.2.3\n" in reqs
    assert "pip==" not in reqs  # the base image's own
    assert "FROM ${BASE_IMAGE}" in (out / "Dockerfile").read_text()
    assert "venv" in capsys.readouterr().out
    with pytest.raises(ExportError, match="already holds"):
        cmd_user_image(_args("user-image", "--out", str(out)), layout)
    assert cmd_user_image(_args("user-image", "--out", str(out), "--force"), layout) == 0


def test_user_image_without_an_environment(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no user environment"):
        cmd_user_image(_args("user-image", "--out", str(tmp_path / "x")), Layout(prefix=tmp_path))


def test_env_packages_lists_empty_conda_channels_as_conda_forge() -> None:
    env = env_packages(EnvReport(kind="conda", prefix="/p", conda_history=""))
    assert env == EnvPackages(kind="conda", prefix="/p", channels=["conda-forge"])


def test_files_belong_to_the_admin_who_ran_sudo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, as 'sudo tljh export' runs")
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    layout = _layout(tmp_path)
    out = tmp_path / "values.yaml"
    cmd_z2jh(_args("z2jh", "--out", str(out)), layout)
    st = out.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)
    cmd_z2jh(_args("z2jh", "--out", str(out), "--force"), layout)
    assert out.stat().st_uid == 65534
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".values.yaml")]
