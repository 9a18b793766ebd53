"""A TLJH plugin written the way published plugins are, for the integration suite.

Every hook leaves something the suite can check. Markers go to MARKERS (not
/tmp: the hub runs with PrivateTmp).
"""

import os
from datetime import datetime, timezone

from tljh.hooks import hookimpl

MARKERS = "/var/lib/tljh-test-plugin"

APT_PACKAGE = "sl"
HUB_PIP_PACKAGE = "tabulate"
USER_PIP_PACKAGE = "termcolor"
CULL_TIMEOUT = 5400


def _append(name, line):
    os.makedirs(MARKERS, exist_ok=True)
    with open(os.path.join(MARKERS, name), "a") as f:
        f.write(line + "\n")


@hookimpl
def tljh_extra_apt_packages():
    return [APT_PACKAGE]


@hookimpl
def tljh_extra_hub_pip_packages():
    return [HUB_PIP_PACKAGE]


@hookimpl
def tljh_extra_user_pip_packages():
    return [USER_PIP_PACKAGE]


@hookimpl
def tljh_config_post_install(config):
    # Like published plugins: a default that the admin's own value overrides.
    services = config.setdefault("services", {})
    cull = services.setdefault("cull", {})
    cull.setdefault("timeout", CULL_TIMEOUT)


@hookimpl
def tljh_post_install():
    _append("post-install", datetime.now(timezone.utc).isoformat())


@hookimpl
def tljh_custom_jupyterhub_config(c):
    _append("custom-config", str(os.getpid()))


@hookimpl
def tljh_new_user_create(username):
    _append("new-users", username)
