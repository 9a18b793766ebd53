"""Rules that involve more than one key, or a file a key names (HTTPS certificates).

They run on the config merged with its defaults, after every key passed its
own checks in :mod:`tljh.config.validate`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from tljh.config.kinds import describe
from tljh.errors import Problem


def _file_problem(path: str) -> str | None:
    """Why the proxy could not read the PEM file at ``path``, or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{path!r} does not exist; HTTPS needs it while https.enabled is true"
    except PermissionError:
        return None  # not ours to read (not root): the proxy, running as root, may
    except OSError as e:
        return f"{path!r} cannot be read: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"{path!r} is not a file"
    if not os.access(path, os.R_OK) and os.geteuid() == 0:
        return f"{path!r} cannot be read"
    return None


def cross_checks(config: Mapping[str, Any], problems: list[Problem]) -> None:
    """Rules that involve more than one key (run on the config merged with defaults)."""

    def get(*parts: str) -> Any:
        cur: Any = config
        for p in parts:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(p)
        return cur

    https_on = get("https", "enabled") is True
    http_port, https_port = get("http", "port"), get("https", "port")
    if https_on:
        cert, key = get("https", "tls", "cert"), get("https", "tls", "key")
        email, domains = (
            get("https", "letsencrypt", "email"),
            get("https", "letsencrypt", "domains"),
        )
        have_tls = bool(cert) and bool(key)
        have_le = bool(email) and bool(domains)
        for name, value in (("https.tls.cert", cert), ("https.tls.key", key)):
            if isinstance(value, str) and value.startswith("/"):
                problem = _file_problem(value)
                if problem:
                    problems.append(Problem(name, problem))
        if bool(cert) != bool(key):
            missing = "https.tls.key" if cert else "https.tls.cert"
            other = "https.tls.cert" if cert else "https.tls.key"
            problems.append(Problem(missing, f"missing; it is needed together with {other}"))
        elif bool(email) != bool(domains):
            if email:
                problems.append(
                    Problem(
                        "https.letsencrypt.domains",
                        "empty; Let's Encrypt needs at least one domain "
                        "(tljh-config add-item https.letsencrypt.domains hub.example.org)",
                    )
                )
            else:
                problems.append(
                    Problem(
                        "https.letsencrypt.email",
                        "empty; Let's Encrypt needs a contact address "
                        "(tljh-config set https.letsencrypt.email you@example.org)",
                    )
                )
        elif not have_tls and not have_le:
            problems.append(
                Problem(
                    "https.enabled",
                    "true needs a certificate: set https.tls.cert and https.tls.key, "
                    "or https.letsencrypt.email and https.letsencrypt.domains",
                )
            )
        if isinstance(http_port, int) and http_port == https_port:
            problems.append(
                Problem(
                    "https.port",
                    f"{https_port} is also http.port; HTTP and HTTPS need different ports",
                )
            )
    api_port = get("traefik_api", "port")
    if isinstance(api_port, int) and not isinstance(api_port, bool):
        if api_port == http_port:
            problems.append(
                Problem(
                    "traefik_api.port",
                    f"{api_port} is also http.port; the proxy API needs its own port",
                )
            )
        elif https_on and api_port == https_port:
            problems.append(
                Problem(
                    "traefik_api.port",
                    f"{api_port} is also https.port; the proxy API needs its own port",
                )
            )
    admins, banned = get("users", "admin"), get("users", "banned")
    if isinstance(admins, list) and isinstance(banned, list):
        for i, name in enumerate(banned):
            if isinstance(name, str) and name in admins:
                problems.append(
                    Problem(
                        "users.banned",
                        f"{describe(name)} is also in users.admin; an admin cannot be banned",
                        item=i,
                    )
                )
