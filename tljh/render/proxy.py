"""What traefik's configuration files must contain, computed from the TLJH config.

Traefik runs as its own systemd service (``traefik.service``), not as a child of
the hub, so a hub restart never drops users' routes.  TLJH owns two files:

* the static configuration (``layout.traefik_static_config``): entrypoints,
  the API, the file provider watching ``layout.traefik_rules_dir``, ACME;
* :func:`api_rules_file` in the rules directory: the router that exposes
  traefik's API on the loopback entrypoint ``auth_api`` behind basic auth, and
  the TLS settings.

The hub (``TraefikFileProviderProxy``) writes user routes into another file of
the same directory, ``layout.traefik_dynamic_config``, and is told *not* to
write the API router itself (``enable_setup_dynamic_config = False``, see
:mod:`tljh.render.hub`), so traefik's API answers before the hub starts and
with the same credentials the hub uses.

:func:`traefik_files` is pure: same inputs, same text, so writing the files
only when they change is enough to know whether traefik must reload.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tljh.errors import ConfigError
from tljh.layout import Layout

#: Names of the entrypoints; the hub's TraefikProxy uses the same names.
HTTP_ENTRYPOINT = "http"
HTTPS_ENTRYPOINT = "https"
API_ENTRYPOINT = "auth_api"
#: ACME certificate resolver.
CERT_RESOLVER = "letsencrypt"

LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"

# Routers and middlewares TLJH defines (prefixed so they never clash with
# the routes the hub adds).
API_ROUTER = "tljh_api"
API_AUTH_MIDDLEWARE = "tljh_api_auth"

_STATIC_HEADER = (
    "# Traefik's static configuration, managed by The Littlest JupyterHub.\n"
    "# Generated from config.yaml: edits here are overwritten.  Change settings\n"
    "# with 'tljh-config', or add static settings in a *.toml file of\n"
    "# {extra_dir}, then run 'tljh-config reload proxy'.\n"
)
_DYNAMIC_HEADER = (
    "# Traefik's API router and TLS settings, managed by The Littlest JupyterHub.\n"
    "# Generated from config.yaml: edits here are overwritten.  The hub keeps\n"
    "# users' routes in {hub_rules}; other *.toml files of this directory are\n"
    "# read by traefik too.\n"
)


def api_rules_file(layout: Layout) -> Path:
    """The dynamic configuration file TLJH owns in the rules directory."""
    return layout.traefik_rules_dir / "tljh.toml"


def hash_api_password(password: str) -> str:
    """The password as traefik's basic auth wants it: ``{SHA}`` + base64(SHA-1).

    Traefik checks bcrypt, apr1 and ``{SHA}`` hashes.  The API password is a
    long random secret only used over the loopback interface, so a fast,
    unsalted hash is as safe as bcrypt here, and it is deterministic (the file
    only changes when the password does) and cheap for traefik to check on
    each of the hub's frequent API calls.
    """
    digest = hashlib.sha1(password.encode("utf-8")).digest()
    return "{SHA}" + base64.b64encode(digest).decode("ascii")


def _address(host: str | None, port: int) -> str:
    host = host or ""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{int(port)}"


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``extra`` (``extra`` wins); returns a new dict."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def static_config(config: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """Traefik's static configuration as a dict (before extra files are merged)."""
    http = config["http"]
    https = config["https"]
    api = config["traefik_api"]

    # Traefik 3 ends a request whose reading takes longer than 60 s, which
    # breaks uploads over slow links.  An hour is plenty (Jupyter uploads big
    # files in chunks); websockets are not affected by this timeout.
    transport = {"respondingTimeouts": {"readTimeout": "1h"}}
    public_http: dict[str, Any] = {
        # File names with '#', '%', '?', ';' or '/' end up percent-encoded in
        # Jupyter's URLs; allow them explicitly, whatever traefik's default of
        # the day.  Every user server authenticates each request itself, so a
        # path that traefik and a server read differently cannot open another
        # user's server.
        "encodedCharacters": {
            "allowEncodedSlash": True,
            "allowEncodedHash": True,
            "allowEncodedPercent": True,
            "allowEncodedQuestionMark": True,
            "allowEncodedSemicolon": True,
            "allowEncodedBackSlash": True,
            "allowEncodedNullCharacter": False,
        },
        # Drop headers such as X_Forwarded_For that WSGI apps run behind
        # jupyter-server-proxy would read as the X-Forwarded-For traefik sets.
        "aliasHeadersStrategy": "delete",
    }
    entrypoints: dict[str, Any] = {
        HTTP_ENTRYPOINT: {
            "address": _address(http["address"], http["port"]),
            "transport": transport,
            "http": dict(public_http),
        },
        API_ENTRYPOINT: {
            "address": _address(api["ip"], api["port"]),
            "http": {"aliasHeadersStrategy": "delete"},
        },
    }
    static: dict[str, Any] = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "INFO"},
        # Only failed requests (5xx) go to the journal.
        "accessLog": {"filters": {"statusCodes": ["500-599"]}},
        "api": {"dashboard": False},
        # GET /ping on the API entrypoint answers without credentials: a cheap
        # health check for the installer and 'tljh-config reload proxy'.
        "ping": {"entryPoint": API_ENTRYPOINT},
        "entryPoints": entrypoints,
        "providers": {
            # Apply route changes at once: a user's server is reachable as
            # soon as the hub has written its route.
            "providersThrottleDuration": "0s",
            "file": {"directory": str(layout.traefik_rules_dir), "watch": True},
        },
    }

    if https["enabled"]:
        entrypoints[HTTP_ENTRYPOINT]["http"]["redirections"] = {
            "entryPoint": {"to": HTTPS_ENTRYPOINT, "scheme": "https", "permanent": True}
        }
        tls: dict[str, Any] = {}
        entrypoints[HTTPS_ENTRYPOINT] = {
            "address": _address(https["address"], https["port"]),
            "transport": transport,
            "http": {**public_http, "tls": tls},
        }
        le = https["letsencrypt"]
        if le["email"] and not https["tls"]["cert"]:
            domains = list(le["domains"])
            tls["certResolver"] = CERT_RESOLVER
            if domains:
                domain: dict[str, Any] = {"main": domains[0]}
                if domains[1:]:
                    domain["sans"] = domains[1:]
                tls["domains"] = [domain]
            acme: dict[str, Any] = {
                "email": le["email"],
                "storage": str(layout.acme_file),
                "httpChallenge": {"entryPoint": HTTP_ENTRYPOINT},
            }
            if le["staging"]:
                acme["caServer"] = LETSENCRYPT_STAGING
            static["certificatesResolvers"] = {CERT_RESOLVER: {"acme": acme}}
    return static


def check_https(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when https is enabled without a way to get a certificate."""
    https = config["https"]
    if not https["enabled"]:
        return
    tls = https["tls"]
    le = https["letsencrypt"]
    if bool(tls["cert"]) != bool(tls["key"]):
        raise ConfigError(
            "https.tls.cert and https.tls.key must be set together",
            "set both with 'tljh-config set https.tls.cert PATH' and "
            "'tljh-config set https.tls.key PATH'",
        )
    if tls["cert"]:
        return
    if not le["email"] or not le["domains"]:
        raise ConfigError(
            "https.enabled is true, but there is no certificate: set https.tls.cert and "
            "https.tls.key, or https.letsencrypt.email and https.letsencrypt.domains",
            "e.g. 'tljh-config set https.letsencrypt.email you@example.org' and "
            "'tljh-config add-item https.letsencrypt.domains hub.example.org', "
            "or 'tljh-config set https.enabled false'",
        )


def api_dynamic_config(
    config: Mapping[str, Any], layout: Layout, api_password: str
) -> dict[str, Any]:
    """The dynamic configuration TLJH owns: the API router and TLS settings."""
    api = config["traefik_api"]
    if not api_password:
        raise ConfigError(
            "the traefik API password is empty",
            f"re-run the installer: it creates {layout.traefik_api_secret}",
        )
    username = str(api["username"])
    if not username or ":" in username:
        raise ConfigError(
            f"traefik_api.username {username!r} is not a valid user name",
            "use letters, digits and '_' only, e.g. 'tljh-config set traefik_api.username "
            "api_admin'",
        )
    dynamic: dict[str, Any] = {
        "http": {
            "routers": {
                API_ROUTER: {
                    "rule": "PathPrefix(`/api`)",
                    "entryPoints": [API_ENTRYPOINT],
                    "service": "api@internal",
                    "middlewares": [API_AUTH_MIDDLEWARE],
                }
            },
            "middlewares": {
                API_AUTH_MIDDLEWARE: {
                    "basicAuth": {"users": [f"{username}:{hash_api_password(api_password)}"]}
                }
            },
        }
    }
    https = config["https"]
    if https["enabled"]:
        store: dict[str, Any] = {}
        tls_dynamic: dict[str, Any] = {
            "options": {"default": {"minVersion": "VersionTLS12"}},
            "stores": {"default": store},
        }
        le = https["letsencrypt"]
        if https["tls"]["cert"]:
            store["defaultCertificate"] = {
                "certFile": str(https["tls"]["cert"]),
                "keyFile": str(https["tls"]["key"]),
            }
        elif le["email"] and le["domains"]:
            # Also serve the ACME certificate to clients that send no (or
            # another) server name, instead of traefik's self-signed one.
            domains = list(le["domains"])
            generated: dict[str, Any] = {"resolver": CERT_RESOLVER, "domain": {"main": domains[0]}}
            if domains[1:]:
                generated["domain"]["sans"] = domains[1:]
            store["defaultGeneratedCert"] = generated
        if not store:
            del tls_dynamic["stores"]
        dynamic["tls"] = tls_dynamic
    return dynamic


def traefik_files(
    config: Mapping[str, Any],
    layout: Layout,
    api_password: str,
    extra_static_config: Mapping[str, Any] | None = None,
) -> dict[Path, str]:
    """The full text of every traefik file TLJH owns, by path.

    ``config`` is the TLJH config with defaults filled in.  ``api_password`` is
    the traefik API password (see :func:`read_api_password`).
    ``extra_static_config`` is the merged content of
    ``layout.traefik_config_d/*.toml`` (:func:`load_extra_static_config`); it is
    merged over the generated static configuration, the admin's values win.

    Raises :class:`ConfigError` for settings traefik could not work with.
    """
    check_https(config)
    static = static_config(config, layout)
    if extra_static_config:
        static = _deep_merge(static, extra_static_config)
    dynamic = api_dynamic_config(config, layout, api_password)
    static_header = _STATIC_HEADER.format(extra_dir=layout.traefik_config_d)
    dynamic_header = _DYNAMIC_HEADER.format(hub_rules=layout.traefik_dynamic_config.name)
    return {
        layout.traefik_static_config: static_header + dumps_toml(static),
        api_rules_file(layout): dynamic_header + dumps_toml(dynamic),
    }


# -- effects ------------------------------------------------------------------


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


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        with path.open("rb") as f:
            return tomllib.load(f)
    import toml  # type: ignore[import-untyped]

    return dict(toml.load(path))


def load_extra_static_config(layout: Layout) -> dict[str, Any]:
    """Merge ``layout.traefik_config_d/*.toml`` (in name order) into one dict."""
    merged: dict[str, Any] = {}
    directory = layout.traefik_config_d
    if not directory.is_dir():
        return merged
    for path in sorted(directory.glob("*.toml")):
        try:
            merged = _deep_merge(merged, _load_toml(path))
        except ValueError as e:  # tomllib.TOMLDecodeError is a ValueError
            raise ConfigError(
                f"{path} is not valid TOML: {e}",
                "fix or remove the file, then run 'tljh-config reload proxy'",
            ) from e
    return merged


# -- a small TOML writer ----------------------------------------------------------
# Traefik's configuration only needs tables, arrays of tables, strings,
# numbers, booleans and arrays of those; the standard library can read TOML
# but not write it.

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} cannot be written as TOML")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Path):
        return _toml_string(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise ValueError(f"{where}: cannot write a {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, Mapping) for v in value)
    )


def _emit_table(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = [
        (k, v) for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)
    ]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    header = ".".join(_toml_key(p) for p in path)
    # A table needs its own header when it has values or is empty (an empty
    # table still means something to traefik, e.g. "tls = {}").
    if path and (scalars or not (tables or arrays)):
        if lines:
            lines.append("")
        lines.append(f"[{header}]")
    for key, value in scalars:
        lines.append(f"{_toml_key(key)} = {_toml_value(value, '.'.join([*path, key]))}")
    for key, value in tables:
        _emit_table(value, [*path, key], lines)
    for key, items in arrays:
        for item in items:
            _emit_array_item(item, [*path, key], lines)


def _emit_array_item(item: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    if lines:
        lines.append("")
    lines.append("[[" + ".".join(_toml_key(p) for p in path) + "]]")
    # Sub-tables of an array item are written relative to the array's path.
    sub = [(k, v) for k, v in item.items() if isinstance(v, Mapping) or _is_table_array(v)]
    for key, value in item.items():
        if not isinstance(value, Mapping) and not _is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value, '.'.join([*path, key]))}")
    for key, value in sub:
        if isinstance(value, Mapping):
            _emit_table(value, [*path, key], lines)
        else:
            for inner in value:
                _emit_array_item(inner, [*path, key], lines)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Serialize ``data`` as TOML (deterministic: keys keep their order)."""
    lines: list[str] = []
    _emit_table(data, [], lines)
    return "\n".join(lines) + "\n"
