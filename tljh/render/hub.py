"""From the TLJH configuration to JupyterHub's traitlets.

:func:`traitlets_from_config` is pure: it maps the (defaults-filled) TLJH
config to ``{ClassName: {trait: value}}`` and touches nothing.  The hub's
``jupyterhub_config.py`` applies the result to its ``c``.

The config it gets has passed :func:`tljh.config.validate.check`, so nothing
here checks a value again; values are converted with the parsers validation
uses (:mod:`tljh.config.kinds`).

"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tljh.config.kinds import KindError, host_port, parse_memory
from tljh.config.schema import AUTH_ALIASES, DEFAULT_AUTH_TYPE
from tljh.errors import ConfigValidationError, Problem
from tljh.layout import Layout
from tljh.render.default_memory import default_memory_limit
from tljh.render.limits import limits_by_name
from tljh.system.users import CULLER_USER

DEFAULT_AUTHENTICATOR = DEFAULT_AUTH_TYPE
FIRSTUSE_AUTHENTICATOR = "firstuseauthenticator.FirstUseAuthenticator"
#: FirstUseAuthenticator's own default for ``min_password_length``.
FIRSTUSE_MIN_PASSWORD_LENGTH = 7

# Authenticators whose own login step decides who gets in (first login sets
# the password, admins approve sign-ups, anyone gets a temporary account...).
# JupyterHub >= 5 refuses everybody unless some allow rule is configured, so
# with these, an empty users.allowed means "everybody who can log in".
_OPEN_AUTHENTICATORS = {
    "firstuseauthenticator.FirstUseAuthenticator",
    "jupyterhub.auth.DummyAuthenticator",
    "nativeauthenticator.NativeAuthenticator",
    "tmpauthenticator.TmpAuthenticator",
}

#: Authenticators the hub runs in a form of ours, fixed for this JupyterHub
#: (tljh.hub.native says what it fixes). auth.type keeps naming the original.
HUB_AUTHENTICATOR_CLASSES = {
    "nativeauthenticator.NativeAuthenticator": "tljh.hub.native.NativeAuthenticator",
    "nativeauthenticator.nativeauthenticator.NativeAuthenticator": (
        "tljh.hub.native.NativeAuthenticator"
    ),
}

#: Where the hub itself listens: internal, only traefik talks to it (and
#: users' servers, which ask it whose a login is). A port below 1024: while
#: the hub restarts its port is free, and a student who could bind it there
#: would be answering for the hub, to the proxy (passwords) and to admins'
#: servers (whose logins), which is admin rights. Students hold no
#: capability, so they cannot bind it. Upstream and earlier releases used 15001.
HUB_IP = "127.0.0.1"
HUB_PORT = 1001

#: Traefik's file provider with routes for any entrypoint (see tljh.hub.proxy).
PROXY_CLASS = "tljh.hub.proxy.TLJHTraefikProxy"

#: The service ``tljh users`` talks to the hub as (no process: only its token).
USERS_SERVICE = "tljh-users"
CULLER_SERVICE = "cull-idle"
CULLER_ROLE = "tljh-idle-culler"

DEFAULT_URLS = {"jupyterlab": "/lab", "classic": "/tree"}


def resolve_authenticator(auth_type: str) -> str:
    """What ``JupyterHub.authenticator_class`` gets for ``auth.type``.

    Short names ("firstuse", "github", ...) become the full ``module.Class``
    path; ``module:Class`` becomes ``module.Class``; anything else (a full
    path, or the entry point name of another installed authenticator) is
    passed on unchanged.
    """
    name = str(auth_type).strip()
    if name in AUTH_ALIASES:
        return AUTH_ALIASES[name]
    return name.replace(":", ".")


def configured_authenticator(config: Mapping[str, Any]) -> str:
    """The authenticator ``auth.type`` names, as a ``module.Class`` path.

    The hub may run a fixed form of it (:data:`HUB_AUTHENTICATOR_CLASSES`); this is
    the one the admin chose, which a cluster's hub image has too.
    """
    return resolve_authenticator(config["auth"].get("type") or DEFAULT_AUTHENTICATOR)


def firstuse_settings(config: Mapping[str, Any], layout: Layout) -> tuple[bool, Path, int]:
    """FirstUseAuthenticator as the hub will run it: (whether it is the hub's
    authenticator, its password file, its shortest password)."""
    auth = config["auth"]
    used = configured_authenticator(config) == FIRSTUSE_AUTHENTICATOR
    section = auth.get("FirstUseAuthenticator") or {}
    path = section.get("dbm_path") or layout.firstuse_passwords
    length = section.get("min_password_length")
    if not isinstance(length, int) or isinstance(length, bool):
        length = FIRSTUSE_MIN_PASSWORD_LENGTH
    return used, Path(path), length


def memory_bytes(value: Any) -> int | None:
    """``limits.memory`` as a number of bytes (None: no limit): 1073741824, "1G", "1.5G".

    Raises :class:`ConfigValidationError` for a value validation refuses too
    (it is the same parser, :func:`tljh.config.kinds.parse_memory`).
    """
    if value is None:
        return None
    try:
        return parse_memory(value)
    except KindError as e:
        raise ConfigValidationError([Problem("limits.memory", str(e))]) from None


def culler_service(config: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """The idle culler, as a JupyterHub-managed service.

    It runs as its own system user, not as root with the hub: all it needs
    is its API token (scoped by :func:`culler_role`) and the hub's address.
    ``-I`` and the working directory ``/`` keep it from importing anything
    from the hub's working directory (state/, which that user cannot enter
    anyway) or from ``PYTHON*`` variables.
    """
    cull = config["services"]["cull"]
    command = [
        str(layout.hub_python),
        "-I",
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={int(cull['timeout'])}",
        f"--cull-every={int(cull['every'])}",
        f"--concurrency={int(cull['concurrency'])}",
        f"--max-age={int(cull['max_age'])}",
    ]
    if cull["users"]:
        command.append("--cull-users=True")
    if cull["remove_named_servers"]:
        command.append("--remove-named-servers=True")
    return {"name": CULLER_SERVICE, "command": command, "user": CULLER_USER, "cwd": "/"}


def culler_role(config: Mapping[str, Any]) -> dict[str, Any]:
    """The culler's role: only the scopes it uses, not admin."""
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if config["services"]["cull"]["users"]:
        # Deleting users needs admin:users.
        scopes.append("admin:users")
    return {
        "name": CULLER_ROLE,
        "description": "Stop idle servers (TLJH's idle culler)",
        "scopes": scopes,
        "services": [CULLER_SERVICE],
    }


def users_service_role() -> dict[str, Any]:
    """The role of ``tljh users``: list users and their servers, stop servers, delete users."""
    return {
        "name": USERS_SERVICE,
        "description": "List and remove users (the 'tljh users' command, run by root)",
        # admin:users is what deleting a user takes.
        "scopes": ["list:users", "read:users", "read:servers", "servers", "admin:users"],
        "services": [USERS_SERVICE],
    }


def server_memory_limit(config: Mapping[str, Any], machine_memory: int | None) -> int | None:
    """Each server's memory limit in bytes: ``limits.memory``, else the machine's
    default (:func:`tljh.render.default_memory.default_memory_limit`), else none."""
    configured = memory_bytes(config["limits"].get("memory"))
    if configured is not None:
        return configured
    return default_memory_limit(machine_memory) if machine_memory else None


def traitlets_from_config(
    config: Mapping[str, Any],
    layout: Layout,
    api_password: str = "",
    users_api_token: str = "",
    machine_memory: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Map the defaults-filled TLJH ``config`` to ``{ClassName: {trait: value}}``.

    ``api_password`` is the traefik API password (the hub's
    ``jupyterhub_config.py`` reads it from ``layout.traefik_api_secret``, see
    :func:`tljh.config.secrets.read_api_password`), ``users_api_token`` the token of
    ``tljh users`` (:func:`tljh.config.secrets.read_users_api_token`; none: no such
    service), ``machine_memory`` the machine's memory in bytes, which sets the
    servers' memory limit when ``limits.memory`` does not.  This function reads no file.
    """
    traits: dict[str, dict[str, Any]] = {}

    def put(cls: str, **values: Any) -> None:
        traits.setdefault(cls, {}).update(values)

    auth = config["auth"]
    users = config["users"]
    authenticator = configured_authenticator(config)

    # -- the hub ------------------------------------------------------------
    put(
        "JupyterHub",
        authenticator_class=HUB_AUTHENTICATOR_CLASSES.get(authenticator, authenticator),
        base_url=config["base_url"],
        # Users' servers keep running while the hub restarts (upgrades,
        # 'tljh-config reload'): traefik and systemd keep them reachable.
        cleanup_servers=False,
        cookie_secret_file=str(layout.cookie_secret),
        db_url=f"sqlite:///{layout.hub_db}",
        hub_ip=HUB_IP,
        hub_port=HUB_PORT,
        proxy_class=PROXY_CLASS,
    )

    # -- who may log in ---------------------------------------------------------
    admins = sorted({str(u) for u in users["admin"]})
    # Admins always get in. admin_users is what authenticators themselves ask
    # (NativeAuthenticator approves admins' sign-ups at once); the admin role
    # below is what makes exactly these the admins.
    put(
        "Authenticator",
        admin_users=set(admins),
        allowed_users={str(u) for u in users["allowed"]} | set(admins),
        # JupyterHub lower-cases the other lists' names, as the usual
        # authenticators do logins, but not this one: "Mallory" would ban nobody.
        blocked_users={form for u in users["banned"] for form in (str(u), str(u).lower())},
    )
    class_name = authenticator.rsplit(".", 1)[-1]
    explicit_allow_all = isinstance(auth.get(class_name), Mapping) and (
        "allow_all" in auth[class_name]
    )
    if authenticator in _OPEN_AUTHENTICATORS and not users["allowed"] and not explicit_allow_all:
        put(class_name, allow_all=True)
    if authenticator == FIRSTUSE_AUTHENTICATOR:
        # Its password file; otherwise it would depend on the hub's working directory.
        put(class_name, dbm_path=str(layout.firstuse_passwords))
    # auth.<ClassName>.<trait>: value, passed through as they are (validation
    # made sure every key but 'type' holds such a section).
    for key, value in auth.items():
        if key == "type":
            continue
        put(str(key), **{str(k): v for k, v in value.items() if v is not None})

    # -- the proxy (traefik runs as its own service) ---------------------------------
    api = config["traefik_api"]
    put(
        "TraefikProxy",
        should_start=False,
        # TLJH writes traefik's API router and credentials itself
        # (tljh.render.proxy), so the API works before the hub starts.
        enable_setup_dynamic_config=False,
        traefik_api_url=f"http://{host_port(api['ip'], api['port'])}",
        traefik_api_username=str(api["username"]),
        traefik_api_password=api_password,
        # Routes name no entrypoint (tljh.hub.proxy); the hub only waits for
        # this one to exist, and the http entrypoint always does.
        traefik_entrypoint="http",
        traefik_api_entrypoint="auth_api",
    )
    put("TraefikFileProviderProxy", dynamic_config_file=str(layout.traefik_dynamic_config))

    # -- users' servers -------------------------------------------------------------
    user_bin = layout.user_env / "bin"
    limits = config["limits"]
    cpu = limits.get("cpu")
    default_app = config["user_environment"]["default_app"]
    put(
        "Spawner",
        cmd=[str(user_bin / "jupyterhub-singleuser")],
        default_url=DEFAULT_URLS[default_app],
        mem_limit=server_memory_limit(config, machine_memory),
        cpu_limit=float(cpu) if cpu is not None else None,
    )
    put(
        "SystemdSpawner",
        extra_paths=[str(user_bin)],
        default_shell="/bin/bash",
        # Each user gets their own /tmp.
        isolate_tmp=True,
    )
    put(
        "UserCreatingSpawner",
        limits_by_group={k: v.as_trait() for k, v in limits_by_name(limits.get("groups")).items()},
        limits_by_user={
            k: v.as_trait() for k, v in limits_by_name(limits.get("users"), users=True).items()
        },
        sudo_users=set(admins),
        user_groups={
            str(group): [str(u) for u in (members or [])]
            for group, members in (users.get("extra_user_groups") or {}).items()
        },
    )

    # -- services ------------------------------------------------------------------
    services: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    if config["services"]["cull"]["enabled"]:
        services.append(culler_service(config, layout))
        roles.append(culler_role(config))
    if users_api_token:
        services.append({"name": USERS_SERVICE, "api_token": users_api_token})
        roles.append(users_service_role())
    # users.admin is the whole list of admins: JupyterHub sets the admin role's
    # members to exactly these at every start, taking the admin flag away from
    # anyone removed (Authenticator.admin_users alone could only ever add).
    roles.append({"name": "admin", "users": admins})
    put("JupyterHub", services=services, load_roles=roles)

    return traits


def apply_traitlets(c: Any, traits: Mapping[str, Mapping[str, Any]]) -> None:
    """Set every ``{ClassName: {trait: value}}`` on the traitlets config ``c``."""
    for class_name, values in traits.items():
        section = c[class_name]
        for trait, value in values.items():
            section[trait] = value
