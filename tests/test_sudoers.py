"""The sudoers text for hub admins."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.render.sudoers import sudoers_text


def test_admins_get_full_sudo() -> None:
    text = sudoers_text(Layout())
    assert "%jupyterhub-admins ALL = (ALL:ALL) NOPASSWD: ALL\n" in text
    assert text.endswith("\n")


def test_user_env_first_on_sudo_path() -> None:
    text = sudoers_text(Layout(prefix=Path("/srv/hub")))
    line = next(ln for ln in text.splitlines() if "secure_path" in ln)
    assert line.startswith("Defaults:%jupyterhub-admins ")
    path = line.split("=", 1)[1].strip().strip('"')
    assert path.split(":")[0] == "/srv/hub/user/bin"
    assert "/usr/bin" in path.split(":")


def test_only_admins_are_affected() -> None:
    for line in sudoers_text(Layout()).splitlines():
        if line and not line.startswith("#"):
            assert "%jupyterhub-admins" in line


def test_rejects_paths_sudoers_cannot_hold() -> None:
    with pytest.raises(InstallError) as e:
        sudoers_text(Layout(prefix=Path('/opt/my "hub"')))
    assert "TLJH_INSTALL_PREFIX" in e.value.hint


@pytest.mark.skipif(shutil.which("visudo") is None, reason="visudo is not installed")
@pytest.mark.parametrize("prefix", ["/opt/tljh", "/srv/hub-1.2_x"])
def test_visudo_accepts_it(tmp_path: Path, prefix: str) -> None:
    f = tmp_path / "jupyterhub-admins"
    f.write_text(sudoers_text(Layout(prefix=Path(prefix))))
    f.chmod(0o440)
    proc = subprocess.run(["visudo", "-cf", str(f)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
