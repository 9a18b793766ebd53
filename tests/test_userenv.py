"""The venv user environment and the permissions of both environments (root only: chown)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system.files import fix_permissions
from tljh.system.userenv_venv import VenvUserEnvironment

UV = shutil.which("uv") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "uv")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(UV, os.X_OK), reason="needs root and uv"
)


def venv_layout(tmp_path: Path) -> Layout:
    layout = Layout(prefix=tmp_path)
    (layout.hub_env / "bin").mkdir(parents=True)
    (layout.hub_env / "bin" / "uv").symlink_to(UV)
    return layout


def test_venv_lets_students_install_for_themselves(tmp_path: Path) -> None:
    env = VenvUserEnvironment(venv_layout(tmp_path))
    assert env.ensure([]) == [f"created {env.path}"]
    cfg = (env.path / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    # What pip checks before a --user install, and what site does at start-up.
    code = "import site, sys; print(site.ENABLE_USER_SITE, sys.prefix != sys.base_prefix)"
    out = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True"]
    assert env.ensure([]) == []


def test_older_isolated_venv_is_opened_to_user_site(tmp_path: Path) -> None:
    env = VenvUserEnvironment(venv_layout(tmp_path))
    subprocess.run(
        [UV, "venv", "-q", "--seed", "--python", "/usr/bin/python3", str(env.path)], check=True
    )
    assert "include-system-site-packages = false" in (env.path / "pyvenv.cfg").read_text()
    changes = env.ensure([])
    assert changes == [f"let users' own packages (pip install --user) load in {env.path}"]
    assert "include-system-site-packages = true" in (env.path / "pyvenv.cfg").read_text()


def test_half_created_venv_is_recreated(tmp_path: Path) -> None:
    env = VenvUserEnvironment(venv_layout(tmp_path))
    env.path.mkdir()
    (env.path / "pyvenv.cfg").write_text("home = /usr/bin\n")  # killed right after this
    assert env.ensure([]) == [f"created {env.path}"]
    assert env.python.exists()


def test_venv_refuses_foreign_directory(tmp_path: Path) -> None:
    env = VenvUserEnvironment(venv_layout(tmp_path))
    env.path.mkdir()
    (env.path / "notes.txt").write_text("keep me")
    with pytest.raises(InstallError):
        env.ensure([])
    assert (env.path / "notes.txt").read_text() == "keep me"


def test_venv_has_no_conda(tmp_path: Path) -> None:
    env = VenvUserEnvironment(venv_layout(tmp_path))
    assert env.conda_install([], ["conda-forge"]) is False
    with pytest.raises(InstallError) as e:
        env.conda_install(["numpy"])
    assert "--user-env conda" in e.value.hint


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_fix_permissions_readable_and_private(tmp_path: Path) -> None:
    for name in ("user", "hub"):
        d = tmp_path / name / "pkg" / "__pycache__"
        d.mkdir(parents=True)
        (d / "m.pyc").write_text("")
        os.chmod(d / "m.pyc", 0o600)
        os.chmod(d, 0o700)
        (d.parent / "w.py").write_text("")
        os.chmod(d.parent / "w.py", 0o666)
    user, hub = tmp_path / "user", tmp_path / "hub"
    assert fix_permissions(user) == 3
    assert mode(user / "pkg" / "__pycache__" / "m.pyc") == 0o644
    assert mode(user / "pkg" / "__pycache__") == 0o755
    assert mode(user / "pkg" / "w.py") == 0o644
    # The hub's own private caches stay private; only others' write bits go.
    assert fix_permissions(hub, readable=False) == 1
    assert mode(hub / "pkg" / "__pycache__" / "m.pyc") == 0o600
    assert mode(hub / "pkg" / "w.py") == 0o644
    assert fix_permissions(hub, readable=False) == 0
    assert fix_permissions(user) == 0
