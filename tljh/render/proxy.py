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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from tljh.config.kinds import certificate_domains, host_port
from tljh.config.snippets import deep_merge
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
            "address": host_port(http["address"], http["port"]),
            # The hub's routes name no entrypoint (tljh.hub.proxy): they are
            # served on every default one, so turning HTTPS on or off needs
            # only a proxy restart, never new routes from the hub.
            "asDefault": True,
            "transport": transport,
            "http": dict(public_http),
        },
        API_ENTRYPOINT: {
            "address": host_port(api["ip"], api["port"]),
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
            "address": host_port(https["address"], https["port"]),
            "asDefault": True,
            "transport": transport,
            "http": {**public_http, "tls": tls},
        }
        if uses_acme(config):
            le = https["letsencrypt"]
            tls["certResolver"] = CERT_RESOLVER
            tls["domains"] = [certificate_domains(le["domains"])]
            acme: dict[str, Any] = {"email": le["email"], "storage": str(layout.acme_file)}
            if le["challenge"] == "tls-alpn-01":
                acme["tlsChallenge"] = {}
            else:
                # Answered on the http entrypoint ahead of its redirect to HTTPS
                # (traefik gives the challenge router the highest priority).
                acme["httpChallenge"] = {"entryPoint": HTTP_ENTRYPOINT}
            if le["ca_server"]:
                acme["caServer"] = le["ca_server"]
            elif le["staging"]:
                acme["caServer"] = LETSENCRYPT_STAGING
            static["certificatesResolvers"] = {CERT_RESOLVER: {"acme": acme}}
    return static


def uses_acme(config: Mapping[str, Any]) -> bool:
    """Whether the proxy gets its certificate over ACME (the admin's own one wins)."""
    https = config["https"]
    le = https["letsencrypt"]
    return bool(https["enabled"] and le["email"] and le["domains"] and not https["tls"]["cert"])


def own_certificate(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """The admin's certificate and key paths, when HTTPS serves them."""
    https = config["https"]
    tls = https["tls"]
    if https["enabled"] and tls["cert"] and tls["key"]:
        return str(tls["cert"]), str(tls["key"])
    return None


def certificate_copies(layout: Layout) -> tuple[Path, Path]:
    """Where the proxy reads the admin's certificate and key: copies TLJH makes.

    The admin's files may be anywhere (a home directory, /etc/letsencrypt/live
    behind symlinks) that the proxy's sandbox hides or its user may not read;
    the copies are made again at every install and 'tljh-config reload',
    which is what picks up a renewed certificate.
    """
    return layout.proxy_certs_dir / "cert.pem", layout.proxy_certs_dir / "key.pem"


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
        if own_certificate(config):
            cert, key = certificate_copies(layout)
            store["defaultCertificate"] = {"certFile": str(cert), "keyFile": str(key)}
        elif uses_acme(config):
            # Also serve the ACME certificate to clients that send no (or
            # another) server name, instead of traefik's self-signed one.
            store["defaultGeneratedCert"] = {
                "resolver": CERT_RESOLVER,
                "domain": certificate_domains(le["domains"]),
            }
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

    ``config`` is the validated TLJH config with defaults filled in
    (:func:`tljh.config.validate.check` refuses, among others, HTTPS without
    a certificate).  ``api_password`` is the traefik API password (see
    :func:`tljh.config.secrets.read_api_password`).  ``extra_static_config``
    is the merged content of ``layout.traefik_config_d/*.toml``
    (:func:`tljh.config.snippets.load_extra_static_config`); it is merged over
    the generated static configuration, the admin's values win.

    Raises :class:`ConfigError` when ``api_password`` is empty.
    """
    static = static_config(config, layout)
    if extra_static_config:
        static = deep_merge(static, extra_static_config)
    dynamic = api_dynamic_config(config, layout, api_password)
    static_header = _STATIC_HEADER.format(extra_dir=layout.traefik_config_d)
    dynamic_header = _DYNAMIC_HEADER.format(hub_rules=layout.traefik_dynamic_config.name)
    return {
        layout.traefik_static_config: static_header + tomli_w.dumps(static),
        api_rules_file(layout): dynamic_header + tomli_w.dumps(dynamic),
    }
