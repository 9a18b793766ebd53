"""The hooks a TLJH plugin can implement.

A plugin is a Python package that declares an entry point in the group
``tljh`` and implements any of the functions below, marked with
:data:`hookimpl`::

    from tljh.hooks import hookimpl

    @hookimpl
    def tljh_extra_user_pip_packages():
        return ["nbgitpuller"]

Hook names and arguments are those of earlier TLJH releases, so existing
plugins keep working.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "tljh"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def tljh_extra_user_conda_packages() -> list[str]:  # type: ignore[empty-body]
    """Conda packages to install into the user environment."""


@hookspec
def tljh_extra_user_conda_channels() -> list[str]:  # type: ignore[empty-body]
    """Extra conda channels to install the packages above from (conda-forge comes after them)."""


@hookspec
def tljh_extra_user_pip_packages() -> list[str]:  # type: ignore[empty-body]
    """pip packages to install into the user environment."""


@hookspec
def tljh_extra_hub_pip_packages() -> list[str]:  # type: ignore[empty-body]
    """pip packages to install into the hub environment."""


@hookspec
def tljh_extra_apt_packages() -> list[str]:  # type: ignore[empty-body]
    """apt packages to install on the machine.

    They are installed before the extra conda and pip packages.
    """


@hookspec
def tljh_custom_jupyterhub_config(c: Any) -> None:
    """Change the JupyterHub configuration object ``c``.

    Called while the hub loads its configuration, after TLJH applied
    ``config.yaml`` and before the files in ``jupyterhub_config.d`` run, so
    anything a ``jupyterhub_config.py`` can do is possible here.
    """


@hookspec
def tljh_config_post_install(config: dict[str, Any]) -> None:
    """Change the TLJH configuration after an installation, in place.

    ``config`` is what ``config.yaml`` will contain; keep values the admin set
    explicitly.
    """


@hookspec
def tljh_post_install() -> None:
    """Run arbitrary code at the end of an installation, after all other hooks.

    Runs on every run of the installer (re-runs too), once the hub answers.
    """


@hookspec
def tljh_new_user_create(username: str) -> None:
    """Run arbitrary code after the system user ``username`` was created."""
