"""The grammar of config values and keys that only one config key uses.

Kinds of value that several keys or other layers share (memory sizes, ports,
addresses, e-mail, domains) are parsed in :mod:`tljh.config.kinds`; the table
:data:`FORMATS` maps every ``format`` a schema node may name to its check.
Each check returns a problem (without the key path) or None.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tljh.config import kinds
from tljh.config.kinds import describe
from tljh.config.schema import AUTH_ALIASES

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMPORT_PATH_RE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*$")
_GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _fmt_base_url(v: str) -> str | None:
    if not v.startswith("/"):
        return f"{describe(v)} must start with '/', e.g. /{v.strip('/')}/"
    if any(c.isspace() for c in v) or "?" in v or "#" in v:
        return f"{describe(v)} is not a URL path (no spaces, '?' or '#')"
    return None


def _fmt_auth_type(v: str) -> str | None:
    if v in AUTH_ALIASES or _IMPORT_PATH_RE.match(v):
        return None
    if v and _installed_authenticator(v):
        return None
    close = difflib.get_close_matches(v.lower(), sorted(AUTH_ALIASES), n=1, cutoff=0.6)
    msg = (
        f"{describe(v)} is not a known authenticator; use a short name "
        "(firstuse, native, dummy, tmp, github, google, ldap, ...) or a full import "
        "path like 'oauthenticator.github.GitHubOAuthenticator'"
    )
    if close:
        msg = f"{describe(v)} is not a known authenticator; did you mean {close[0]}?"
    return msg


def _installed_authenticator(name: str) -> bool:
    """Whether an installed package registers ``name`` as a JupyterHub authenticator."""
    # lazy: importlib.metadata adds ~20 ms to every 'tljh-config set' (measured)
    from importlib.metadata import entry_points

    try:
        return any(ep.name == name for ep in entry_points(group="jupyterhub.authenticators"))
    except Exception:  # a broken package must not break validation
        return False


def _fmt_username(v: str) -> str | None:
    if not v.strip():
        return "an empty username; remove it or write a name"
    if v != v.strip():
        return f"{describe(v)} has spaces at the start or end"
    if _CONTROL_RE.search(v):
        return f"{describe(v)} contains control characters"
    return None


def _fmt_abs_path_or_empty(v: str) -> str | None:
    if v and not v.startswith("/"):
        return f"{describe(v)} is not an absolute path (it must start with '/')"
    return None


def _fmt_acme_directory_or_empty(v: str) -> str | None:
    if not v:
        return None
    parts = urlsplit(v)
    if parts.scheme != "https" or not parts.hostname:
        return f"{describe(v)} is not an https:// URL (e.g. https://acme.example.edu/directory)"
    return None


def _fmt_basic_auth_user(v: str) -> str | None:
    if not v.strip():
        return "must not be empty"
    if ":" in v:
        # Traefik's basic auth reads "user:hash"; a ':' in the name breaks it.
        return f"{describe(v)} must not contain ':'"
    return None


FORMATS: dict[str, Callable[[Any], str | None]] = {
    "base_url": _fmt_base_url,
    "auth_type": _fmt_auth_type,
    "username": _fmt_username,
    "memory": kinds.memory_problem,
    "port": kinds.port_problem,
    "ip": kinds.ip_problem,
    "ip_or_empty": kinds.ip_or_empty_problem,
    "abs_path_or_empty": _fmt_abs_path_or_empty,
    "email_or_empty": kinds.email_or_empty_problem,
    "hostname": kinds.domain_problem,
    "basic_auth_user": _fmt_basic_auth_user,
    "acme_directory_or_empty": _fmt_acme_directory_or_empty,
}


# --- key formats for free-form sections ----------------------------------------


def _known_class_names() -> list[str]:
    return sorted({full.replace(":", ".").rsplit(".", 1)[-1] for full in AUTH_ALIASES.values()})


def key_format_problem(fmt: str, key: str, parent: str) -> str | None:
    if fmt == "identifier":
        if not _IDENT_RE.match(key):
            return f"{describe(key)} is not a valid option name (letters, digits and '_')"
        return None
    if fmt == "class_name":
        if _IDENT_RE.match(key) and key[0].isupper():
            for known in _known_class_names():
                if key != known and key.lower() == known.lower():
                    return f"unknown class name; did you mean {parent}.{known}? (case matters)"
            return None
        candidates = ["type", *_known_class_names()]
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
        hint = f"; did you mean {parent}.{close[0]}?" if close else ""
        return (
            f"unknown key; {parent} holds 'type' and sections named after an authenticator "
            f"class, like {parent}.FirstUseAuthenticator{hint}"
        )
    if fmt == "hub_name":
        return _fmt_username(key)
    if fmt == "group_name":
        if not _GROUP_RE.match(key) or len(key) > 32:
            return (
                f"{describe(key)} is not a valid Unix group name (lower-case letters, digits, "
                "'_' and '-', starting with a letter, at most 32 characters)"
            )
        return None
    return None
