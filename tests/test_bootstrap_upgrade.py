"""The bootstrap on re-runs: repairing the hub environment, keeping plugins, upgrading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest


def runs(python: Path) -> bool:
    try:
        return subprocess.run([str(python), "-c", "pass"], capture_output=True).returncode == 0
    except OSError:
        return False


def test_broken_hub_env_is_rebuilt(bootstrap: ModuleType, tmp_path: Path) -> None:
    prefix = tmp_path / "tljh"
    hub = prefix / "hub"
    (prefix / "state").mkdir(parents=True)
    fingerprint = prefix / "state" / "hub-env.fingerprint"
    fingerprint.write_text("abc\n")
    env = dict(os.environ)
    assert bootstrap.ensure_hub_env(str(hub), env, str(prefix)) == []
    python = hub / "bin" / "python3"
    assert runs(python)
    # In place and working: left alone, the fingerprint too.
    assert bootstrap.ensure_hub_env(str(hub), env, str(prefix)) == []
    fingerprint.write_text("abc\n")
    # The OS upgraded python3: the venv's interpreter link dangles.
    link = hub / "bin" / "python3"
    link.unlink()
    link.symlink_to("/usr/bin/python3.0-gone")
    assert not runs(python)
    bootstrap.ensure_hub_env(str(hub), env, str(prefix))
    assert runs(python)
    # The hub must be restarted from the new environment by the installer.
    assert not fingerprint.exists()


def test_interrupted_hub_env_without_pip_is_rebuilt(bootstrap: ModuleType, tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(hub)], check=True)
    assert bootstrap.python_works(str(hub / "bin" / "python3"))
    assert not bootstrap.python_works(str(hub / "bin" / "python3"), need_pip=True)
    bootstrap.ensure_hub_env(str(hub), dict(os.environ), str(tmp_path))
    assert bootstrap.python_works(str(hub / "bin" / "python3"), need_pip=True)


def dist_info(site: Path, name: str, version: str, tljh: bool, direct: dict | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-this\n"
    )
    group = "[tljh]\nx = x\n" if tljh else "[console_scripts]\nx = x:main\n"
    (info / "entry_points.txt").write_text(group)
    if direct is not None:
        (info / "direct_url.json").write_text(json.dumps(direct))


def test_installed_plugins_are_found_without_running_python(
    bootstrap: ModuleType, tmp_path: Path
) -> None:
    site = tmp_path / "hub" / "lib" / "python3.11" / "site-packages"
    checkout = tmp_path / "my-plugin"
    checkout.mkdir()
    dist_info(site, "tljh-repo2docker", "1.0.0", tljh=True)
    dist_info(site, "jupyterhub", "5.0.0", tljh=False)
    dist_info(
        site, "my-plugin", "0.1", tljh=True, direct={"url": f"file://{checkout}", "dir_info": {}}
    )
    dist_info(
        site,
        "git-plugin",
        "0.2",
        tljh=True,
        direct={
            "url": "https://github.com/example/git-plugin",
            "vcs_info": {"vcs": "git", "commit_id": "0123abc"},
        },
    )
    dist_info(site, "gone-plugin", "0.3", tljh=True, direct={"url": "file:///nowhere/at/all"})
    specs = bootstrap.installed_plugin_specs(str(tmp_path / "hub"))
    assert sorted(specs) == sorted(
        [
            "tljh-repo2docker==1.0.0",
            str(checkout),
            "git-plugin @ git+https://github.com/example/git-plugin@0123abc",
            "gone-plugin==0.3",
        ]
    )


def test_release_specs_are_upgraded_local_ones_rebuilt(
    bootstrap: ModuleType, tmp_path: Path
) -> None:
    assert bootstrap.is_local_spec(str(tmp_path))
    assert bootstrap.is_local_spec("./checkout")
    assert not bootstrap.is_local_spec("the-littlest-jupyterhub")
    assert not bootstrap.is_local_spec("the-littlest-jupyterhub==2.0.0")


def test_conda_options_are_forwarded(bootstrap: ModuleType) -> None:
    argv = ["--conda-installer-url", "https://mirror/m.sh", "--conda-installer-sha256", "ab"]
    assert bootstrap.forwarded_args(argv) == argv


def checkout(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "tljh" / "sub").mkdir(parents=True)
    (src / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (src / "tljh" / "__init__.py").write_text("")
    (src / "tljh" / "sub" / "m.py").write_text("x = 1\n")
    return src


def test_local_source_digest_follows_the_sources(bootstrap: ModuleType, tmp_path: Path) -> None:
    src = checkout(tmp_path)
    first = bootstrap.local_source_digest(str(src))
    (src / "tljh" / "sub" / "__pycache__").mkdir()
    (src / "tljh" / "sub" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (src / "README.md").write_text("not installed")
    assert bootstrap.local_source_digest(str(src)) == first
    (src / "tljh" / "sub" / "m.py").write_text("x = 2\n")
    second = bootstrap.local_source_digest(str(src))
    assert second != first
    (src / "tljh" / "new.py").write_text("")
    assert bootstrap.local_source_digest(str(src)) not in (first, second)
    (src / "setup.py").write_text("# changed requirements\n")
    assert bootstrap.local_source_digest(str(src)) not in (first, second)


def test_unchanged_local_checkout_is_not_reinstalled(
    bootstrap: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap.time, "sleep", lambda _s: None)
    src = checkout(tmp_path)
    hub = tmp_path / "hub"
    site = hub / "lib" / "python3.11" / "site-packages"
    (site / "the_littlest_jupyterhub-2.0.0.dist-info").mkdir(parents=True)
    # Recorded by an earlier, successful install of this checkout.
    stamp = bootstrap._local_stamp(str(src), False)
    (hub / bootstrap.SOURCE_STAMP).write_text(json.dumps(stamp))
    # "/bin/false" as uv: any install attempt fails the bootstrap.
    local = bootstrap.tljh_source({"TLJH_BOOTSTRAP_PIP_SPEC": str(src)}, None)
    assert local["kind"] == "local"
    bootstrap.install_tljh(str(hub), "/bin/false", local, False, dict(os.environ))
    (src / "tljh" / "sub" / "m.py").write_text("x = 3\n")
    with pytest.raises(SystemExit):
        bootstrap.install_tljh(str(hub), "/bin/false", local, False, dict(os.environ))
    # A failed install leaves no stamp: the next run tries again.
    assert not (hub / bootstrap.SOURCE_STAMP).exists()
    # Editable and non-editable installs of one checkout are different installs.
    (hub / bootstrap.SOURCE_STAMP).write_text(json.dumps(bootstrap._local_stamp(str(src), False)))
    with pytest.raises(SystemExit):
        bootstrap.install_tljh(str(hub), "/bin/false", local, True, dict(os.environ))
    # TLJH removed from the hub environment behind our back: installed again.
    (hub / bootstrap.SOURCE_STAMP).write_text(json.dumps(bootstrap._local_stamp(str(src), False)))
    (site / "the_littlest_jupyterhub-2.0.0.dist-info").rmdir()
    with pytest.raises(SystemExit):
        bootstrap.install_tljh(str(hub), "/bin/false", local, False, dict(os.environ))
