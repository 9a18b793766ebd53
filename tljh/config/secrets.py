"""Secrets in the configuration: masking them for display, and the proxy's API password.

``tljh-config show``, ``get`` and ``history N`` print configs with every value
the schema marks secret (or whose name says it is one, see
:func:`~tljh.config.schema.is_secret`) replaced by :data:`MASK`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tljh.config.schema import is_secret
from tljh.layout import Layout

MASK = "********"


def masked(value: Any, parts: list[str]) -> Any:
    """A copy of ``value`` (found at key ``parts``) with secret values replaced.

    Round-trip (ruamel) maps keep their comments.
    """
    if isinstance(value, Mapping):
        out = copy.deepcopy(value)
        _mask_in_place(out, parts)
        return out
    if is_secret(parts) and value not in (None, ""):
        return MASK
    return value


def _mask_in_place(node: Any, parts: list[str]) -> None:
    if isinstance(node, dict):
        for k in list(node):
            child = node[k]
            sub = [*parts, str(k)]
            if isinstance(child, dict):
                _mask_in_place(child, sub)
            elif isinstance(child, list):
                if is_secret(sub) and child:
                    node[k] = [MASK for _ in child]
            elif is_secret(sub) and child not in (None, ""):
                node[k] = MASK


def read_api_password(config: Mapping[str, Any], layout: Layout) -> str:
    """The traefik API password: ``traefik_api.password`` if set, else the secret file.

    The installer generates a random password into ``layout.traefik_api_secret``
    (root only).  The hub and traefik's configuration must use the same value,
    so everything that needs it calls this function.  Returns "" when neither
    is set.
    """
    configured = config.get("traefik_api", {}).get("password") or ""
    if configured:
        return str(configured)
    try:
        return layout.traefik_api_secret.read_text().strip()
    except FileNotFoundError:
        return ""


def read_users_api_token(layout: Layout) -> str:
    """The API token of ``tljh users`` (the hub's ``tljh-users`` service); "" if missing.

    The installer generates it into ``layout.users_api_token`` (root only); the
    hub registers it, and ``tljh users`` sends it.
    """
    try:
        return layout.users_api_token.read_text().strip()
    except FileNotFoundError:
        return ""
