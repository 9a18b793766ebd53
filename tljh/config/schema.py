"""What ``config.yaml`` may contain, as data.

This module is long because it is the data: one entry per config key, each
with its description and example for the generated reference.  The few
functions at the end only walk it.

The schema is a tree of plain dicts ("nodes") so that the validator, the
``tljh-config`` value parser, the defaults and the reference documentation all
read the same source.  A node understands these keys:

``type``
    ``"object"``, ``"array"``, ``"string"``, ``"integer"``, ``"number"``,
    ``"boolean"``, ``"null"``, ``"any"`` or a list of them (e.g.
    ``["string", "integer", "null"]``).
``description``
    One or two sentences for admins (used by the generated reference).
``default``
    The value used when the key is absent (leaves).  Objects build their
    default from their properties; an object may add a ``default`` mapping of
    extra entries (``auth`` does).
``properties`` / ``additionalProperties`` / ``keyFormat`` / ``keyName``
    Objects: the known keys, and the node (or ``False``) for any other key,
    whose name must then match ``keyFormat``.  ``keyName`` names such keys in
    the docs (e.g. ``<ClassName>``).
``items``
    Arrays: the node every item must match.
``enum``, ``minimum``, ``maximum``, ``exclusiveMinimum``, ``format``
    Further checks on leaves; ``format`` names a check in
    :mod:`tljh.config.validate` (``ip``, ``memory``, ``username``, ...).
``expect``
    How an error message describes a valid value ("a port number from 1 to
    65535").
``secret``
    ``tljh-config show`` masks the value.
``reload``
    On top-level nodes: which components must be reloaded after a change.
``example``
    A ``tljh-config`` command line shown in the docs.

Plugins may describe their own top-level keys with nodes of the same shape and
pass them as ``extra_schema`` to :func:`tljh.config.validate.validate`.

This module only uses the standard library so that importing it is cheap.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from tljh.config.kinds import PORT_EXPECT

Node = dict[str, Any]

#: Short names accepted for ``auth.type`` and the class each one selects.
#: They are the entry point names the authenticator packages register with
#: JupyterHub, so the hub accepts them as they are.
AUTH_ALIASES: dict[str, str] = {
    "firstuse": "firstuseauthenticator.FirstUseAuthenticator",
    "firstuseauthenticator": "firstuseauthenticator.FirstUseAuthenticator",
    "dummy": "jupyterhub.auth.DummyAuthenticator",
    "null": "jupyterhub.auth.NullAuthenticator",
    "pam": "jupyterhub.auth.PAMAuthenticator",
    "default": "jupyterhub.auth.PAMAuthenticator",
    "shared-password": "jupyterhub.authenticators.shared.SharedPasswordAuthenticator",
    "native": "nativeauthenticator.NativeAuthenticator",
    "tmp": "tmpauthenticator.TmpAuthenticator",
    "ldap": "ldapauthenticator.LDAPAuthenticator",
    "ldapauthenticator": "ldapauthenticator.LDAPAuthenticator",
    "github": "oauthenticator.github.GitHubOAuthenticator",
    "google": "oauthenticator.google.GoogleOAuthenticator",
    "gitlab": "oauthenticator.gitlab.GitLabOAuthenticator",
    "bitbucket": "oauthenticator.bitbucket.BitbucketOAuthenticator",
    "azuread": "oauthenticator.azuread.AzureAdOAuthenticator",
    "auth0": "oauthenticator.auth0.Auth0OAuthenticator",
    "cilogon": "oauthenticator.cilogon.CILogonOAuthenticator",
    "globus": "oauthenticator.globus.GlobusOAuthenticator",
    "openshift": "oauthenticator.openshift.OpenShiftOAuthenticator",
    "mediawiki": "oauthenticator.mediawiki.MWOAuthenticator",
    "generic-oauth": "oauthenticator.generic.GenericOAuthenticator",
    "local-github": "oauthenticator.github.LocalGitHubOAuthenticator",
    "local-google": "oauthenticator.google.LocalGoogleOAuthenticator",
    "local-gitlab": "oauthenticator.gitlab.LocalGitLabOAuthenticator",
    "local-bitbucket": "oauthenticator.bitbucket.LocalBitbucketOAuthenticator",
    "local-azuread": "oauthenticator.azuread.LocalAzureAdOAuthenticator",
    "local-auth0": "oauthenticator.auth0.LocalAuth0OAuthenticator",
    "local-cilogon": "oauthenticator.cilogon.LocalCILogonOAuthenticator",
    "local-globus": "oauthenticator.globus.LocalGlobusOAuthenticator",
    "local-openshift": "oauthenticator.openshift.LocalOpenShiftOAuthenticator",
    "local-generic-oauth": "oauthenticator.generic.LocalGenericOAuthenticator",
}

DEFAULT_AUTH_TYPE = "firstuseauthenticator.FirstUseAuthenticator"


def authenticator_class_name(auth_type: str) -> str:
    """The class name whose ``auth.<ClassName>`` section configures ``auth_type``.

    ``"github"`` → ``"GitHubOAuthenticator"``;
    ``"oauthenticator.github.GitHubOAuthenticator"`` → ``"GitHubOAuthenticator"``.
    """
    full = AUTH_ALIASES.get(auth_type, auth_type)
    return full.replace(":", ".").rsplit(".", 1)[-1]


def _port(description: str, default: int, example: str) -> Node:
    return {
        "type": "integer",
        "format": "port",
        "default": default,
        "expect": PORT_EXPECT,
        "description": description,
        "example": example,
    }


def _usernames(description: str, example: str) -> Node:
    return {
        "type": "array",
        "items": {"type": "string", "format": "username", "expect": "a username"},
        "default": [],
        "description": description,
        "example": example,
    }


def _memory_limit(description: str, example: str) -> Node:
    return {
        "type": ["string", "integer", "null"],
        "format": "memory",
        "default": None,
        "expect": "a memory size such as 512M or 2G",
        "description": description,
        "example": example,
    }


def _cpu_limit(description: str, example: str) -> Node:
    return {
        "type": ["number", "null"],
        "exclusiveMinimum": 0,
        "default": None,
        "expect": "a number of CPUs greater than 0",
        "description": description,
        "example": example,
    }


def _limits_by(key_name: str, description: str, whose: str, example_key: str) -> Node:
    """``limits.groups`` / ``limits.users``: a name, then ``memory`` and ``cpu``.

    Names may hold dots (``ms.frizzle``, e-mail addresses): ``dottedKeys`` tells
    :func:`join_dotted_names` to read ``limits.users.ms.frizzle.memory`` as the
    user ``ms.frizzle``.
    """
    return {
        "type": ["object", "null"],
        "description": description,
        "default": {},
        "keyFormat": "hub_name",
        "keyName": key_name,
        "dottedKeys": True,
        "additionalProperties": {
            "type": ["object", "null"],
            "description": f"Limits for {whose}; a key left out (or null) keeps the general one.",
            "properties": {
                "memory": _memory_limit(
                    f"Maximum memory for {whose}, in the grammar of limits.memory.",
                    f"tljh-config set {example_key}.memory 4G",
                ),
                "cpu": _cpu_limit(
                    f"Maximum CPUs for {whose}.",
                    f"tljh-config set {example_key}.cpu 2",
                ),
            },
        },
    }


SCHEMA: Node = {
    "type": "object",
    "description": "The Littlest JupyterHub configuration (config.yaml).",
    "properties": {
        "base_url": {
            "type": "string",
            "format": "base_url",
            "default": "/",
            "expect": "a URL path starting with '/'",
            "description": "URL path under which the hub is served, e.g. '/jupyter/'.",
            "example": "tljh-config set base_url /jupyter/",
            "reload": ["hub"],
        },
        "auth": {
            "type": "object",
            "description": (
                "How users log in.  'auth.type' picks the authenticator; each "
                "'auth.<ClassName>' section sets that class's options (traits), "
                "e.g. auth.GitHubOAuthenticator.client_id."
            ),
            "reload": ["hub"],
            "default": {"FirstUseAuthenticator": {"create_users": False}},
            "properties": {
                "type": {
                    "type": "string",
                    "format": "auth_type",
                    "default": DEFAULT_AUTH_TYPE,
                    "expect": "an authenticator name or 'module.ClassName'",
                    "description": (
                        "The authenticator: a short name (firstuse, native, dummy, tmp, "
                        "github, google, ldap, ...) or a full import path "
                        "'module.ClassName'."
                    ),
                    "example": "tljh-config set auth.type nativeauthenticator.NativeAuthenticator",
                },
            },
            "keyFormat": "class_name",
            "keyName": "<ClassName>",
            "additionalProperties": {
                "type": ["object", "null"],
                "description": (
                    "Options for one authenticator class, passed on unchanged: "
                    "auth.<ClassName>.<option> becomes c.<ClassName>.<option>."
                ),
                "keyFormat": "identifier",
                "keyName": "<option>",
                "additionalProperties": {
                    "type": "any",
                    "description": "One option (trait) of the class.",
                    "example": "tljh-config set auth.GitHubOAuthenticator.client_id abc123",
                },
            },
        },
        "users": {
            "type": ["object", "null"],
            "description": "Who may log in, who is an admin, and extra Unix groups.",
            "reload": ["hub"],
            "properties": {
                "allowed": _usernames(
                    "Users allowed to log in (with some authenticators, only these).",
                    "tljh-config add-item users.allowed alice",
                ),
                "banned": _usernames(
                    "Users who may never log in.",
                    "tljh-config add-item users.banned mallory",
                ),
                "admin": _usernames(
                    "Hub admins; they may also install software with sudo.",
                    "tljh-config add-item users.admin alice",
                ),
                "extra_user_groups": {
                    "type": ["object", "null"],
                    "description": "Extra Unix groups and the users put into each of them.",
                    "default": {},
                    "keyFormat": "group_name",
                    "keyName": "<group>",
                    "additionalProperties": _usernames(
                        "Users put into this Unix group.",
                        "tljh-config add-item users.extra_user_groups.teachers alice",
                    ),
                },
            },
        },
        "limits": {
            "type": ["object", "null"],
            "description": (
                "Resource limits for each user's server.  The most specific one applies: "
                "limits.users, then limits.groups, then limits.memory/limits.cpu."
            ),
            "reload": ["hub"],
            "properties": {
                "memory": _memory_limit(
                    "Maximum memory per user: a number with K, M, G or T "
                    "(e.g. 512M, 1.5G) or a number of bytes.  Unset: the machine's memory "
                    "minus a reserve of a fifth of it (at least 1 GiB), and never less "
                    "than half of it.",
                    "tljh-config set limits.memory 1G",
                ),
                "cpu": _cpu_limit(
                    "Maximum CPUs per user (e.g. 0.5 or 2); null for no limit.",
                    "tljh-config set limits.cpu 1.5",
                ),
                "groups": _limits_by(
                    "<group>",
                    "Limits for the members of hub groups (the Groups of the admin page), "
                    "instead of limits.memory/limits.cpu.  A user in several of these groups "
                    "gets the largest value of each.",
                    "the members of this hub group",
                    "limits.groups.instructors",
                ),
                "users": _limits_by(
                    "<user>",
                    "Limits for single users, instead of their groups' and the general ones.",
                    "this hub user",
                    "limits.users.ms.frizzle",
                ),
            },
        },
        "http": {
            "type": ["object", "null"],
            "description": "Plain HTTP listener of the proxy.",
            "reload": ["proxy", "hub"],
            "properties": {
                "address": {
                    "type": "string",
                    "format": "ip_or_empty",
                    "default": "",
                    "expect": "an IP address or '' for all addresses",
                    "description": "IP address to listen on; empty for all addresses.",
                    "example": "tljh-config set http.address 10.0.0.5",
                },
                "port": _port("Port for HTTP.", 80, "tljh-config set http.port 8080"),
            },
        },
        "https": {
            "type": ["object", "null"],
            "description": (
                "HTTPS, with your own certificate (tls) or one from Let's Encrypt (letsencrypt)."
            ),
            "reload": ["proxy", "hub"],
            "properties": {
                "enabled": {
                    "type": "boolean",
                    "default": False,
                    "description": "Serve HTTPS.  Needs tls.cert and tls.key, or letsencrypt.",
                    "example": "tljh-config set https.enabled true",
                },
                "address": {
                    "type": "string",
                    "format": "ip_or_empty",
                    "default": "",
                    "expect": "an IP address or '' for all addresses",
                    "description": "IP address to listen on; empty for all addresses.",
                    "example": "tljh-config set https.address 10.0.0.5",
                },
                "port": _port("Port for HTTPS.", 443, "tljh-config set https.port 8443"),
                "tls": {
                    "type": ["object", "null"],
                    "description": "Your own certificate and key (PEM files).",
                    "properties": {
                        "cert": {
                            "type": "string",
                            "format": "abs_path_or_empty",
                            "default": "",
                            "expect": "an absolute file path",
                            "description": "Path of the certificate (full chain) PEM file.",
                            "example": "tljh-config set https.tls.cert /etc/ssl/hub/fullchain.pem",
                        },
                        "key": {
                            "type": "string",
                            "format": "abs_path_or_empty",
                            "default": "",
                            "secret": False,
                            "expect": "an absolute file path",
                            "description": "Path of the private key PEM file.",
                            "example": "tljh-config set https.tls.key /etc/ssl/hub/privkey.pem",
                        },
                    },
                },
                "letsencrypt": {
                    "type": ["object", "null"],
                    "description": "Automatic certificates from Let's Encrypt.",
                    "properties": {
                        "email": {
                            "type": "string",
                            "format": "email_or_empty",
                            "default": "",
                            "expect": "an email address",
                            "description": "Contact address for Let's Encrypt.",
                            "example": "tljh-config set https.letsencrypt.email you@example.org",
                        },
                        "domains": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "format": "hostname",
                                "expect": "a domain name",
                            },
                            "default": [],
                            "description": "Domain names the certificate is for.",
                            "example": (
                                "tljh-config add-item https.letsencrypt.domains hub.example.org"
                            ),
                        },
                        "staging": {
                            "type": "boolean",
                            "default": False,
                            "description": (
                                "Use Let's Encrypt's staging server (for testing; its "
                                "certificates are not trusted by browsers)."
                            ),
                            "example": "tljh-config set https.letsencrypt.staging true",
                        },
                        "ca_server": {
                            "type": "string",
                            "format": "acme_directory_or_empty",
                            "default": "",
                            "expect": "an https:// URL of an ACME directory, or ''",
                            "description": (
                                "ACME directory to get certificates from instead of Let's "
                                "Encrypt (ZeroSSL, a campus ACME server, step-ca).  Empty: "
                                "Let's Encrypt (its staging server with staging true)."
                            ),
                            "example": (
                                "tljh-config set https.letsencrypt.ca_server "
                                "https://acme.example.edu/directory"
                            ),
                        },
                        "challenge": {
                            "type": "string",
                            "enum": ["http-01", "tls-alpn-01"],
                            "default": "http-01",
                            "description": (
                                "How the ACME server checks that this server answers for the "
                                "domains: http-01 connects to port 80, tls-alpn-01 to port 443 "
                                "(both from the internet, on those exact ports)."
                            ),
                            "example": "tljh-config set https.letsencrypt.challenge tls-alpn-01",
                        },
                    },
                },
            },
        },
        "traefik_api": {
            "type": ["object", "null"],
            "description": "The proxy's (traefik's) API, used by the hub to add routes.",
            "reload": ["proxy", "hub"],
            "properties": {
                "ip": {
                    "type": "string",
                    "format": "ip",
                    "default": "127.0.0.1",
                    "expect": "an IP address",
                    "description": "IP address the API listens on.",
                    "example": "tljh-config set traefik_api.ip 127.0.0.1",
                },
                "port": _port(
                    "Port the API listens on.", 8099, "tljh-config set traefik_api.port 8099"
                ),
                "username": {
                    "type": "string",
                    "format": "basic_auth_user",
                    "default": "api_admin",
                    "expect": "a non-empty user name",
                    "description": "User name for the API.",
                    "example": "tljh-config set traefik_api.username api_admin",
                },
                "password": {
                    "type": "string",
                    "default": "",
                    "secret": True,
                    "description": (
                        "Password for the API; empty means generated at install and kept "
                        "in the state directory."
                    ),
                    "example": "tljh-config set traefik_api.password s3cret",
                },
            },
        },
        "user_environment": {
            "type": ["object", "null"],
            "description": "What users see when their server starts.",
            "reload": ["hub"],
            "properties": {
                "default_app": {
                    "type": "string",
                    "enum": ["jupyterlab", "classic"],
                    "default": "jupyterlab",
                    "description": "Interface opened after login: jupyterlab or classic.",
                    "example": "tljh-config set user_environment.default_app classic",
                },
            },
        },
        "services": {
            "type": ["object", "null"],
            "description": "Hub services run by TLJH.",
            "reload": ["hub"],
            "properties": {
                "cull": {
                    "type": ["object", "null"],
                    "description": "Stopping idle user servers (jupyterhub-idle-culler).",
                    "properties": {
                        "enabled": {
                            "type": "boolean",
                            "default": True,
                            "description": "Stop servers that have been idle too long.",
                            "example": "tljh-config set services.cull.enabled false",
                        },
                        "timeout": {
                            "type": "integer",
                            "minimum": 1,
                            "default": 600,
                            "expect": "a number of seconds (at least 1)",
                            "description": "Seconds of inactivity after which a server is stopped.",
                            "example": "tljh-config set services.cull.timeout 3600",
                        },
                        "every": {
                            "type": "integer",
                            "minimum": 1,
                            "default": 60,
                            "expect": "a number of seconds (at least 1)",
                            "description": "Seconds between checks for idle servers.",
                            "example": "tljh-config set services.cull.every 300",
                        },
                        "concurrency": {
                            "type": "integer",
                            "minimum": 1,
                            "default": 5,
                            "expect": "a whole number of at least 1",
                            "description": "How many requests to the hub the culler makes at once.",
                            "example": "tljh-config set services.cull.concurrency 5",
                        },
                        "users": {
                            "type": "boolean",
                            "default": False,
                            "description": "Also delete idle users, not just their servers.",
                            "example": "tljh-config set services.cull.users true",
                        },
                        "max_age": {
                            "type": "integer",
                            "minimum": 0,
                            "default": 0,
                            "expect": "a number of seconds (0 for no limit)",
                            "description": (
                                "Stop servers older than this many seconds even if busy; "
                                "0 for no limit."
                            ),
                            "example": "tljh-config set services.cull.max_age 86400",
                        },
                        "remove_named_servers": {
                            "type": "boolean",
                            "default": False,
                            "description": "Delete named servers when culling them.",
                            "example": "tljh-config set services.cull.remove_named_servers true",
                        },
                    },
                },
                "configurator": {
                    "type": ["object", "null"],
                    "description": (
                        "Accepted so that config files of earlier TLJH releases stay valid; "
                        "the web configurator they describe is not part of TLJH any more, "
                        "and this section has no effect."
                    ),
                    "properties": {
                        "enabled": {
                            "type": "boolean",
                            "default": False,
                            "description": "Has no effect (kept for earlier releases' files).",
                            "example": "tljh-config unset services.configurator",
                        },
                    },
                },
            },
        },
    },
}


#: Entry point group under which plugins declare their own top-level keys:
#: each entry point loads to a mapping of top-level key -> schema node (or a
#: function returning one), e.g. in a plugin's pyproject.toml
#: ``[project.entry-points.tljh_config_schema] myplugin = "myplugin:CONFIG_SCHEMA"``.
PLUGIN_SCHEMA_GROUP = "tljh_config_schema"

_plugin_schema_cache: dict[str, Node] | None = None


def plugin_schema(refresh: bool = False) -> dict[str, Node]:
    """The top-level keys installed plugins declare (see :data:`PLUGIN_SCHEMA_GROUP`).

    Looked up once per process, and only when a config has a top-level key the
    core schema does not know (scanning entry points costs tens of
    milliseconds, which ``tljh-config set`` should not pay every time).  A
    plugin whose schema cannot be loaded, or that tries to redefine a core
    key, is skipped: its keys are then reported as unknown.
    """
    global _plugin_schema_cache
    if _plugin_schema_cache is not None and not refresh:
        return _plugin_schema_cache
    found: dict[str, Node] = {}
    try:
        # lazy: importlib.metadata adds ~20 ms to every 'tljh-config set' (measured);
        # plugin keys are looked up only when a config has an unknown top-level key.
        from importlib.metadata import entry_points

        eps = list(entry_points(group=PLUGIN_SCHEMA_GROUP))
    except Exception:
        eps = []
    for ep in eps:
        try:
            loaded = ep.load()
            declared = loaded() if callable(loaded) else loaded
        except Exception:
            continue
        if not isinstance(declared, Mapping):
            continue
        for key, node in declared.items():
            if (
                isinstance(key, str)
                and isinstance(node, Mapping)
                and key not in SCHEMA["properties"]
                and key not in found
            ):
                found[key] = dict(node)
    _plugin_schema_cache = found
    return found


def node_types(node: Mapping[str, Any]) -> list[str]:
    """The ``type`` of ``node`` as a list."""
    t = node.get("type", "any")
    return [t] if isinstance(t, str) else list(t)


def merged_schema(extra_schema: Mapping[str, Mapping[str, Any]] | None = None) -> Node:
    """The root schema, with plugin-provided top-level keys added."""
    if not extra_schema:
        return SCHEMA
    core = SCHEMA["properties"]
    clash = sorted(k for k in extra_schema if k in core)
    if clash:
        raise ValueError(f"extra_schema may not redefine core config keys: {', '.join(clash)}")
    root = dict(SCHEMA)
    root["properties"] = {**core, **{k: dict(v) for k, v in extra_schema.items()}}
    return root


def child_node(node: Mapping[str, Any] | None, key: str) -> Node | None:
    """The node describing ``key`` inside object ``node``, or None if unknown."""
    if node is None or "object" not in node_types(node):
        return None
    props = node.get("properties", {})
    if key in props:
        return dict(props[key])
    extra = node.get("additionalProperties", False)
    if isinstance(extra, Mapping):
        return dict(extra)
    return None


def join_dotted_names(
    parts: list[str], extra_schema: Mapping[str, Mapping[str, Any]] | None = None
) -> list[str]:
    """``parts`` of a dotted key, with a name that holds dots rejoined.

    Under a node with ``dottedKeys`` (``limits.users``), the name runs to the end,
    or up to a last part that is a key of the entry: ``limits.users.ms.frizzle.memory``
    is ``["limits", "users", "ms.frizzle", "memory"]``.
    """
    node: Node | None = merged_schema(extra_schema)
    for i, part in enumerate(parts):
        if node is not None and node.get("dottedKeys") and part not in node.get("properties", {}):
            rest = parts[i:]
            entry = node.get("additionalProperties")
            known = entry.get("properties", {}) if isinstance(entry, Mapping) else {}
            cut = len(rest) - 1 if len(rest) > 1 and rest[-1] in known else len(rest)
            return [*parts[:i], ".".join(rest[:cut]), *rest[cut:]]
        node = child_node(node, part)
    return list(parts)


def node_at(
    key: str | list[str], extra_schema: Mapping[str, Mapping[str, Any]] | None = None
) -> Node | None:
    """The schema node at dotted path ``key``, or None if the schema doesn't know it."""
    parts = join_dotted_names(key.split("."), extra_schema) if isinstance(key, str) else key
    node: Node | None = merged_schema(extra_schema)
    for part in parts:
        node = child_node(node, part)
        if node is None:
            return None
    return node


def node_default(node: Mapping[str, Any]) -> Any:
    """The default value a node stands for (objects: built from their properties)."""
    if "object" in node_types(node) and ("properties" in node or "default" in node):
        out: dict[str, Any] = copy.deepcopy(dict(node.get("default") or {}))
        for name, child in node.get("properties", {}).items():
            value = node_default(child)
            if value is not _NO_DEFAULT:
                out[name] = value
        return out
    if "default" in node:
        return copy.deepcopy(node["default"])
    return _NO_DEFAULT


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Any = _NoDefault()


def iter_nodes(
    node: Mapping[str, Any] | None = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, Node]]:
    """Every documented key as (dotted path, node), depth first, in schema order.

    Free-form keys appear with their ``keyName`` (e.g. ``auth.<ClassName>``).
    """
    node = SCHEMA if node is None else node
    for name, child in node.get("properties", {}).items():
        yield ".".join((*path, name)), dict(child)
        yield from iter_nodes(child, (*path, name))
    extra = node.get("additionalProperties", False)
    if isinstance(extra, Mapping):
        name = node.get("keyName", "<key>")
        yield ".".join((*path, name)), dict(extra)
        yield from iter_nodes(extra, (*path, name))


def known_paths(extra_schema: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Dotted paths of all fixed (not free-form) keys."""
    return [p for p, _ in iter_nodes(merged_schema(extra_schema)) if "<" not in p]


def is_secret_name(name: str) -> bool:
    """Whether a free-form key's name suggests a secret (password, token, ...)."""
    parts = name.lower().replace("-", "_").split("_")
    if any(p in ("password", "passwd", "secret", "passphrase") for p in parts):
        return True
    return parts[-1] in ("token", "key", "secret", "password", "pass")


def is_secret(
    parts: list[str], extra_schema: Mapping[str, Mapping[str, Any]] | None = None
) -> bool:
    """Whether the value at this key path should be masked when shown."""
    node = node_at(parts, extra_schema)
    if node is not None and "secret" in node:
        return bool(node["secret"])
    return bool(parts) and is_secret_name(parts[-1])


def _plain(value: Any) -> Any:
    """A deep copy made of builtin types only (no ruamel subclasses)."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def to_plain(value: Any) -> Any:
    """Convert a loaded (possibly ruamel round-trip) tree into plain dicts, lists, scalars."""
    return _plain(value)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict):
        if override is None:
            # An emptied section ("users:" with everything commented out) keeps the defaults.
            return base
        if isinstance(override, dict):
            for k, v in override.items():
                base[k] = _merge(base[k], v) if k in base else v
            return base
    if isinstance(base, list) and override is None:
        return base
    return override


def with_defaults(
    config: Mapping[str, Any] | None,
    extra_schema: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``DEFAULTS`` deep-merged with ``config``, as plain dicts and lists.

    Mappings merge key by key; lists and scalars in ``config`` replace the
    default.  A null section or list (``users:`` with nothing under it) keeps
    the default.  Neither argument is modified.
    """
    base = copy.deepcopy(DEFAULTS)
    if extra_schema:
        for name, node in extra_schema.items():
            value = node_default(node)
            if value is not _NO_DEFAULT:
                base[name] = value
    merged = _merge(base, _plain(config or {}))
    assert isinstance(merged, dict)
    return merged


#: The full default configuration tree (plain dicts and lists).
DEFAULTS: dict[str, Any] = node_default(SCHEMA)


def reload_components(top_key: str) -> list[str]:
    """What must restart when the top-level section ``top_key`` changes (its ``reload``)."""
    node = SCHEMA["properties"].get(top_key, {})
    return list(node.get("reload", ["hub"]))
