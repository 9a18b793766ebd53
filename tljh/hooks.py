"""``tljh.hooks``: the hook specifications and :data:`hookimpl` under their upstream name.

Nearly every published TLJH plugin starts with ``from tljh.hooks import
hookimpl``, and plugins' own tests register this module's specs
(``pm.add_hookspecs(tljh.hooks)``); the specifications live in
:mod:`tljh.hub.hooks`.
"""

from __future__ import annotations

from tljh.hub.hooks import (
    PROJECT_NAME,
    hookimpl,
    hookspec,
    tljh_config_post_install,
    tljh_custom_jupyterhub_config,
    tljh_extra_apt_packages,
    tljh_extra_hub_pip_packages,
    tljh_extra_user_conda_channels,
    tljh_extra_user_conda_packages,
    tljh_extra_user_pip_packages,
    tljh_new_user_create,
    tljh_post_install,
)

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "tljh_config_post_install",
    "tljh_custom_jupyterhub_config",
    "tljh_extra_apt_packages",
    "tljh_extra_hub_pip_packages",
    "tljh_extra_user_conda_channels",
    "tljh_extra_user_conda_packages",
    "tljh_extra_user_pip_packages",
    "tljh_new_user_create",
    "tljh_post_install",
]
