"""The shared user environment that every student's server runs in.

Two backends share one interface: ``venv`` (pip only) and ``conda``
(Miniforge), in :mod:`tljh.system.userenv_venv` and :mod:`tljh.system.userenv_conda`.  The
installer only talks to :class:`UserEnvironment`, made by :func:`user_environment`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system.userenv_conda import CondaUserEnvironment
from tljh.system.userenv_venv import VenvUserEnvironment


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
        return CondaUserEnvironment(layout, conda_installer_url, conda_installer_sha256)
    raise InstallError(f"unknown user environment kind {kind!r}", "use --user-env conda or venv")
