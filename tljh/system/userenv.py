"""The shared user environment that every student's server runs in.

Two backends share one interface: ``venv`` (pip only) and ``conda``
(Miniforge).  The installer only talks to :class:`UserEnvironment`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system.files import atomic_write
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

    def conda_install(self, specs: Sequence[str], channels: Iterable[str] = ()) -> bool:
        """Install conda packages (plugins); True if changed."""


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
            # --clear: what is there is ours (checked above) but unusable, e.g.
            # an install interrupted while the venv was being created.
            argv = [str(self.uv), "venv", "--seed", "--clear", "--system-site-packages"]
            argv += ["--python", self.system_python]
            with_retries(
                [*argv, str(self.path)],
                "creating the user environment",
                hint="is python3-venv installed? (apt-get install python3-venv)",
            )
            changes.append(f"created {self.path}")
        if self._enable_user_site():
            changes.append(f"let users' own packages (pip install --user) load in {self.path}")
        # pip too: admins install with it, and a creation interrupted before
        # uv seeded it would otherwise leave the environment without it.
        if self.pip_install([*requirements, "pip"]):
            changes.append("installed or upgraded the user environment's packages")
        if changes:
            fix_permissions(self.path)
        return changes

    def _enable_user_site(self) -> bool:
        """Let students ``pip install --user``: pip refuses that in an isolated venv.

        A venv sees users' site-packages only with the system site-packages,
        which come after the environment's own on ``sys.path``.
        """
        cfg = self.path / "pyvenv.cfg"
        text = cfg.read_text()
        key = re.compile(r"^(include-system-site-packages\s*=\s*)false\s*$", re.M | re.I)
        if not key.search(text):
            return False
        atomic_write(cfg, key.sub(r"\g<1>true", text), mode=0o644)
        return True

    def pip_install(self, requirements: Sequence[str], extra_args: Sequence[str] = ()) -> bool:
        return pip_install_user_packages(self.uv, self.python, requirements, extra_args)

    def conda_install(self, specs: Sequence[str], channels: Iterable[str] = ()) -> bool:
        if not specs:
            return False
        raise InstallError(
            "conda packages were asked for (" + " ".join(specs) + ") but the user "
            "environment is a venv, which has no conda",
            "install with '--user-env conda', or use a plugin that asks for pip packages",
        )


def pip_install_user_packages(
    uv: Path, python: Path, requirements: Sequence[str], extra_args: Sequence[str] = ()
) -> bool:
    """Install pip packages into the user environment of ``python``; True if changed.

    Bytecode is compiled at install time: students cannot write ``__pycache__``
    into the shared environment, so without it every server and kernel start
    would compile jupyter_server, JupyterLab & co. from source again.
    """
    if not requirements:
        return False
    changed = uv_pip_install(
        uv,
        python,
        requirements,
        ["--compile-bytecode", *extra_args],
        what="installing user packages",
    )
    if changed:
        fix_permissions(python.parent.parent)
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


def _fix_one(p: str, readable: bool = True) -> int:
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


def detect_kind(layout: Layout) -> str | None:
    """The backend of an existing user environment, or None if there is none."""
    path = layout.user_env
    if (path / "conda-meta").is_dir():
        return "conda"
    if (path / "pyvenv.cfg").exists():
        return "venv"
    return None


def user_environment(
    layout: Layout,
    kind: str | None,
    conda_installer_url: str | None = None,
    conda_installer_sha256: str | None = None,
) -> UserEnvironment:
    """The user environment backend: ``kind``, else the existing one's, else conda."""
    kind = kind or detect_kind(layout) or "conda"
    if kind == "venv":
        return VenvUserEnvironment(layout)
    if kind == "conda":
        from tljh.system.conda import CondaUserEnvironment

        return CondaUserEnvironment(layout, conda_installer_url, conda_installer_sha256)
    raise InstallError(f"unknown user environment kind {kind!r}", "use --user-env conda or venv")
