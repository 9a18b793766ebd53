"""The shared user environment that every student's server runs in.

Two backends share one interface: ``venv`` (pip only) and ``conda``
(Miniforge).  The installer only talks to :class:`UserEnvironment`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system.packages import uv_pip_install, with_retries


def user_env_requirements(hub_jupyterhub_version: str) -> list[str]:
    """What every user environment holds.  jupyterhub must match the hub's version."""
    return [
        f"jupyterhub=={hub_jupyterhub_version}",
        "jupyterlab>=4.4,<5",
        "notebook>=7.4,<8",
        "ipykernel>=6.29",
        "ipywidgets>=8.1,<9",
        "nbgitpuller>=1.2,<2",
        "jupyter-resource-usage>=1.1,<2",
    ]


class UserEnvironment(Protocol):
    name: str

    def ensure(self, requirements: Sequence[str]) -> list[str]:
        """Create the environment if needed and install ``requirements``; return changes."""

    def pip_install(self, requirements: Sequence[str], extra_args: Sequence[str] = ()) -> bool:
        """Install more pip packages (plugins, requirements files); True if changed."""


class VenvUserEnvironment:
    """A plain virtual environment on the system ``python3``, with pip for admins."""

    name = "venv"

    def __init__(self, layout: Layout, system_python: str = "/usr/bin/python3") -> None:
        self.layout = layout
        self.path = layout.user_env
        self.system_python = system_python
        self.uv = layout.hub_env / "bin" / "uv"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python3"

    def _is_ours(self) -> bool:
        return (self.path / "pyvenv.cfg").exists()

    def ensure(self, requirements: Sequence[str]) -> list[str]:
        changes = []
        if self.path.exists() and any(self.path.iterdir()) and not self._is_ours():
            raise InstallError(
                f"{self.path} exists and is not a virtual environment made by TLJH",
                f"move it aside (e.g. mv {self.path} {self.path}.old) and run the installer "
                "again, or install with --user-env conda if it is a conda environment",
            )
        if not self.python.exists():
            with_retries(
                [str(self.uv), "venv", "--seed", "--python", self.system_python, str(self.path)],
                "creating the user environment",
                hint="is python3-venv installed? (apt-get install python3-venv)",
            )
            changes.append(f"created {self.path}")
        if self.pip_install(requirements):
            changes.append("installed or upgraded the user environment's packages")
        if changes:
            fix_permissions(self.path)
        return changes

    def pip_install(self, requirements: Sequence[str], extra_args: Sequence[str] = ()) -> bool:
        changed = uv_pip_install(
            self.uv, self.python, requirements, extra_args, what="installing user packages"
        )
        if changed:
            fix_permissions(self.path)
        return changed


def fix_permissions(path: Path, readable: bool = True) -> int:
    """Make ``path`` root-owned and writable by root alone; with ``readable``, readable by all.

    Students must never be able to change what everyone's kernels import.
    The hub environment passes ``readable=False``: nobody but root needs to
    read it, and the hub (UMask=0077) writes private bytecode caches there.
    Returns how many entries had to be fixed.
    """
    fixed = _fix_one(str(path), readable)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            fixed += _fix_one(os.path.join(root, name), readable)
    return fixed


def _fix_one(p: str, readable: bool) -> int:
    st = os.lstat(p)
    fixed = 0
    if st.st_uid != 0 or st.st_gid != 0:
        os.lchown(p, 0, 0)
        fixed = 1
    if stat.S_ISLNK(st.st_mode):
        return fixed
    mode = stat.S_IMODE(st.st_mode)
    wanted = mode & ~0o022
    if readable:
        wanted |= 0o444
        if stat.S_ISDIR(st.st_mode) or mode & 0o100:
            wanted |= 0o111
    if wanted != mode:
        os.chmod(p, wanted)
        fixed = 1
    return fixed


def user_environment(layout: Layout, kind: str) -> UserEnvironment:
    if kind == "venv":
        return VenvUserEnvironment(layout)
    raise InstallError(
        f"the '{kind}' user environment is not available in this version",
        "install with --user-env venv",
    )
