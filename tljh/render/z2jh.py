"""Translate a TLJH config into values for the Zero to JupyterHub Helm chart.

Pure: a validated config mapping in, a values mapping and structured
:class:`ExportWarning` s out.  What one server does that a Kubernetes cluster
cannot (unix groups, sudo, local home directories) becomes a warning, never
a silent omission, so a teacher sees what the move leaves behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tljh.config.schema import AUTH_ALIASES, DEFAULT_AUTH_TYPE

SECRET_PLACEHOLDER = "<SECRET: fill in before deploying>"
_SECRET_WORDS = ("secret", "password", "token", "key")


@dataclass(frozen=True)
class ExportWarning:
    """Something in the config with no equivalent in the chart's values."""

    key: str
    reason: str
    hint: str


@dataclass
class Export:
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[ExportWarning] = field(default_factory=list)


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _auth_options(options: Mapping[str, Any], include_secrets: bool) -> dict[str, Any]:
    return {
        name: value if include_secrets or not _is_secret(name) else SECRET_PLACEHOLDER
        for name, value in options.items()
    }


def to_z2jh(config: Mapping[str, Any], include_secrets: bool = False) -> Export:
    """The chart values equivalent to ``config`` and what could not be carried over."""
    out = Export()
    hub_config: dict[str, Any] = {}
    auth = config.get("auth", {})
    auth_type = auth.get("type", DEFAULT_AUTH_TYPE)
    auth_class = AUTH_ALIASES.get(auth_type, auth_type).replace(":", ".")
    hub_config["JupyterHub"] = {"authenticator_class": auth_class}
    class_name = auth_class.rsplit(".", 1)[-1]
    if isinstance(auth.get(class_name), Mapping):
        hub_config[class_name] = _auth_options(auth[class_name], include_secrets)
    users = config.get("users", {})
    authenticator: dict[str, Any] = {}
    for ours, theirs in (
        ("allowed", "allowed_users"),
        ("banned", "blocked_users"),
        ("admin", "admin_users"),
    ):
        if users.get(ours):
            authenticator[theirs] = sorted(users[ours])
    if authenticator:
        hub_config["Authenticator"] = authenticator
    if "firstuse" in auth_class.lower():
        out.warnings.append(
            ExportWarning(
                "auth.type",
                "FirstUse passwords live in a file on this server and cannot be moved",
                "Pick an authenticator the cluster can use (OAuth or LDAP) before moving.",
            )
        )
    out.values["hub"] = {"config": hub_config}
    singleuser: dict[str, Any] = {}
    limits = config.get("limits", {})
    if limits.get("memory"):
        singleuser["memory"] = {"limit": limits["memory"]}
    if limits.get("cpu"):
        singleuser["cpu"] = {"limit": float(limits["cpu"])}
    default_app = config.get("user_environment", {}).get("default_app")
    if default_app == "jupyterlab":
        singleuser["defaultUrl"] = "/lab"
    elif default_app == "classic":
        singleuser["defaultUrl"] = "/tree"
    if singleuser:
        out.values["singleuser"] = singleuser
    base_url = config.get("base_url")
    if base_url and base_url != "/":
        out.values["hub"]["baseUrl"] = base_url
    cull = config.get("services", {}).get("cull", {})
    if cull:
        out.values["cull"] = {
            theirs: cull[ours]
            for ours, theirs in (
                ("enabled", "enabled"),
                ("timeout", "timeout"),
                ("every", "every"),
                ("max_age", "maxAge"),
            )
            if ours in cull
        }
    out.warnings.append(
        ExportWarning(
            "user_environment",
            "the shared user environment and local home directories do not move",
            "Build a user image with the same packages; copy home directories to volumes.",
        )
    )
    return out
