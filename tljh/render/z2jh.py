"""Translate a TLJH config into values for the Zero to JupyterHub Helm chart.

Pure: a config mapping (and the text of the ``jupyterhub_config.d`` files) in,
a values mapping and structured :class:`ExportWarning` s out.  What one server
does that a Kubernetes cluster cannot (unix groups, sudo, local home
directories, FirstUse's password file) becomes a warning, never a silent
omission, so a teacher sees what the move leaves behind.

The values say what the TLJH hub runs with (:func:`tljh.render.hub.traitlets_from_config`),
not only what config.yaml spells out: its defaults (a 600 s culler, JupyterLab,
admins always allowed in, ``allow_all`` for authenticators whose login decides
who gets in) differ from the chart's, so they are written out.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from tljh.config.schema import is_secret_name, with_defaults
from tljh.layout import Layout
from tljh.render.hub import (
    DEFAULT_URLS,
    FIRSTUSE_AUTHENTICATOR,
    configured_authenticator,
    traitlets_from_config,
)
from tljh.render.limits import limits_by_name

SECRET_PLACEHOLDER = "<SECRET: fill in before deploying>"
#: The Kubernetes Secret the values name for an admin's own certificate.
TLS_SECRET_NAME = "tljh-tls"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
#: The chart's default memory guarantee: a limit below it must bring the guarantee down too.
CHART_MEMORY_GUARANTEE = 1024**3
#: The hub.extraConfig key of the per-group/per-user limits (before admins' snippets
#: in the chart's name order, as TLJH applies them before its jupyterhub_config.d).
LIMITS_CONFIG_KEY = "00-tljh-limits"
#: What marks a flagged line in hub.extraConfig.
FLAG = "# TLJH-EXPORT:"

# Authenticators whose Local* variant creates system users: on Kubernetes
# there are none, so the plain class does the same login.
_LOCAL_AUTHENTICATOR = re.compile(r"^(oauthenticator\.\w+)\.Local(\w+)$")

# Traits of the TLJH hub that describe this server only (paths, the hub's
# own process), never carried over.
_SERVER_ONLY_TRAITS = {"FirstUseAuthenticator": {"dbm_path"}}

#: (pattern, why) of jupyterhub_config.d lines that only make sense on one
#: server with systemd: flagged in hub.extraConfig.
SYSTEMD_ONLY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"SystemdSpawner|systemdspawner"), "SystemdSpawner is not the cluster's spawner"),
    (
        re.compile(r"UserCreatingSpawner|\btljh\b"),
        "TLJH's own code is not in the chart's hub image",
    ),
    (re.compile(r"/opt/tljh"), "a path on this server"),
    (re.compile(r"\bsystemctl\b|\bjournalctl\b"), "there is no systemd in a pod"),
    (
        re.compile(r"\b(sudo|useradd|usermod|groupadd|pwd|grp)\b|jupyterhub-(users|admins)"),
        "unix users, groups and sudo do not exist for users' pods",
    ),
)

_SECRET_ASSIGNMENT = re.compile(
    r"""^(?P<lhs>\s*[\w.\[\]'"]*(secret|password|passwd|token)[\w\]'"]*\s*=\s*)"""
    r"""(?P<q>['"])(?P<value>.*)(?P=q)\s*$""",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ExportWarning:
    """Something in the config with no equivalent in the chart's values."""

    key: str
    reason: str
    hint: str


@dataclass(frozen=True)
class SecretHole:
    """A secret left out of the values: where it goes, and where it is now."""

    values_key: str
    source: str


@dataclass
class Export:
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[ExportWarning] = field(default_factory=list)
    secrets: list[SecretHole] = field(default_factory=list)
    #: Commands the admin runs on the cluster before ``helm upgrade``.
    commands: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Certificate:
    """The admin's own certificate (``https.tls``): paths, and the text when exported."""

    cert_path: str
    key_path: str
    cert: str = ""
    key: str = ""


def _plain(value: Any) -> Any:
    """Sets (TLJH's traits) as sorted lists: YAML and JSON have no sets."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def chart_authenticator(tljh_class: str) -> str:
    """The authenticator class the cluster's hub uses for TLJH's ``tljh_class``."""
    m = _LOCAL_AUTHENTICATOR.match(tljh_class)
    return f"{m.group(1)}.{m.group(2)}" if m else tljh_class


def _auth_section(
    out: Export, class_name: str, options: Mapping[str, Any], include_secrets: bool
) -> dict[str, Any]:
    section: dict[str, Any] = {}
    skip = _SERVER_ONLY_TRAITS.get(class_name, set())
    for name, value in options.items():
        if name in skip:
            continue
        if include_secrets or not is_secret_name(name) or value in (None, ""):
            section[name] = _plain(value)
        else:
            section[name] = SECRET_PLACEHOLDER
            out.secrets.append(
                SecretHole(f"hub.config.{class_name}.{name}", f"auth.{class_name}.{name}")
            )
    return section


def _hub_config(out: Export, config: Mapping[str, Any], include_secrets: bool) -> dict[str, Any]:
    traits = traitlets_from_config(config, Layout())
    # The chosen authenticator, not the hub's fixed form of it: the cluster's hub image
    # has the released one.
    tljh_class = configured_authenticator(config)
    auth_class = chart_authenticator(tljh_class)
    hub_config: dict[str, Any] = {"JupyterHub": {"authenticator_class": auth_class}}
    if auth_class != tljh_class:
        out.warnings.append(
            ExportWarning(
                "auth.type",
                f"{tljh_class} makes a system user for each login; a cluster has none",
                f"the values use {auth_class}, which logs in the same people",
            )
        )
    auth_traits = traits["Authenticator"]
    authenticator: dict[str, Any] = {
        "allowed_users": sorted(auth_traits["allowed_users"]),
        "blocked_users": sorted(auth_traits["blocked_users"]),
        "admin_users": sorted(auth_traits["admin_users"]),
    }
    hub_config["Authenticator"] = {k: v for k, v in authenticator.items() if v}
    # Every other section of the TLJH hub that configures authentication:
    # auth.<Class> as written, plus what TLJH adds (allow_all).
    active = tljh_class.rsplit(".", 1)[-1]
    auth_sections = {str(k) for k in config["auth"] if k != "type"}
    auth_sections.add(active)
    if active != "FirstUseAuthenticator":
        # Its section is one of TLJH's defaults, there whichever authenticator is used.
        auth_sections.discard("FirstUseAuthenticator")
    for class_name in sorted(auth_sections):
        options = traits.get(class_name) or {}
        section = _auth_section(out, class_name, options, include_secrets)
        if section:
            target = class_name
            if class_name == active and auth_class != tljh_class:
                target = auth_class.rsplit(".", 1)[-1]
            hub_config.setdefault(target, {}).update(section)
    return hub_config


def _memory_value(value: Any) -> Any:
    """``limits.memory`` as the chart takes it: KubeSpawner reads K/M/G/T as TLJH does."""
    return value if isinstance(value, int) else str(value)


def _singleuser(out: Export, config: Mapping[str, Any]) -> dict[str, Any]:
    singleuser: dict[str, Any] = {
        "defaultUrl": DEFAULT_URLS[config["user_environment"]["default_app"]]
    }
    limits = config["limits"]
    memory = limits.get("memory")
    if memory is not None:
        singleuser["memory"] = {"limit": _memory_value(memory)}
        general = limits_by_name({"_": {"memory": memory}})["_"].memory
        if general is not None and general < CHART_MEMORY_GUARANTEE:
            # The chart guarantees 1G; Kubernetes refuses a guarantee above the limit.
            singleuser["memory"]["guarantee"] = _memory_value(memory)
    else:
        out.warnings.append(
            ExportWarning(
                "limits.memory",
                "not set: on this server each server's limit follows the machine's memory",
                "set singleuser.memory.limit (e.g. 2G) to suit the cluster's nodes",
            )
        )
    cpu = limits.get("cpu")
    if cpu is not None:
        singleuser["cpu"] = {"limit": float(cpu)}
    return singleuser


def limits_hook(config: Mapping[str, Any]) -> str | None:
    """hub.extraConfig code giving members of hub groups (and single users) their limits.

    The chart's profiles cannot be tied to groups, and a profile is something a
    student picks, so the same rule TLJH's spawner follows runs before each
    start instead: the user's own limit, else the largest of their groups',
    else the general one.
    """
    by_group = {k: v.as_trait() for k, v in limits_by_name(config["limits"].get("groups")).items()}
    by_user = {
        k: v.as_trait() for k, v in limits_by_name(config["limits"].get("users"), True).items()
    }
    if not by_group and not by_user:
        return None
    return f"""\
# Limits of hub groups' members and of single users, from TLJH's limits.groups
# and limits.users: the user's own, else the largest of their groups', else
# singleuser.memory/cpu.  Memory in bytes.
_tljh_limits_by_group = {by_group!r}
_tljh_limits_by_user = {by_user!r}


def _tljh_apply_limits(spawner):
    groups = sorted(g.name for g in spawner.user.groups)
    own = _tljh_limits_by_user.get(spawner.user.name.lower(), {{}})
    for key, trait in (("memory", "mem_limit"), ("cpu", "cpu_limit")):
        value = own.get(key)
        if value is None:
            values = [_tljh_limits_by_group[g][key] for g in groups
                      if g in _tljh_limits_by_group and _tljh_limits_by_group[g][key] is not None]
            value = max(values) if values else None
        if value is not None:
            setattr(spawner, trait, value)
            if key == "memory" and (spawner.mem_guarantee or 0) > value:
                spawner.mem_guarantee = value


_tljh_previous_hook = c.KubeSpawner.pre_spawn_hook if "pre_spawn_hook" in c.KubeSpawner else None


def _tljh_pre_spawn_hook(spawner):
    _tljh_apply_limits(spawner)
    if _tljh_previous_hook is not None:
        return _tljh_previous_hook(spawner)


c.KubeSpawner.pre_spawn_hook = _tljh_pre_spawn_hook
"""


def _cull(config: Mapping[str, Any]) -> dict[str, Any]:
    cull = config["services"]["cull"]
    # Everything, since the chart's defaults differ (1 h timeout, every 10 min);
    # TLJH's culler stops admins' idle servers too.
    return {
        "enabled": bool(cull["enabled"]),
        "timeout": int(cull["timeout"]),
        "every": int(cull["every"]),
        "concurrency": int(cull["concurrency"]),
        "users": bool(cull["users"]),
        "adminUsers": True,
        "maxAge": int(cull["max_age"]),
        "removeNamedServers": bool(cull["remove_named_servers"]),
    }


def _https(
    out: Export, config: Mapping[str, Any], cert: Certificate | None, include_secrets: bool
) -> dict[str, Any] | None:
    https = config["https"]
    if not https.get("enabled"):
        return None
    tls = https.get("tls") or {}
    le = https.get("letsencrypt") or {}
    if tls.get("cert") and tls.get("key"):
        if include_secrets and cert is not None and cert.cert and cert.key:
            return {
                "enabled": True,
                "type": "manual",
                "manual": {"cert": cert.cert, "key": cert.key},
            }
        out.secrets.append(
            SecretHole(f"the Kubernetes Secret {TLS_SECRET_NAME}", "https.tls.cert and .key")
        )
        out.commands.append(
            f"kubectl create secret tls {TLS_SECRET_NAME} --cert={tls['cert']} --key={tls['key']}"
        )
        return {
            "enabled": True,
            "type": "secret",
            "secret": {"name": TLS_SECRET_NAME, "key": "tls.key", "crt": "tls.crt"},
        }
    domains = [str(d) for d in le.get("domains") or []]
    section: dict[str, Any] = {
        "enabled": True,
        "type": "letsencrypt",
        "hosts": domains,
        "letsencrypt": {"contactEmail": str(le.get("email") or "")},
    }
    if le.get("ca_server"):
        section["letsencrypt"]["acmeServer"] = str(le["ca_server"])
    elif le.get("staging"):
        section["letsencrypt"]["acmeServer"] = LETSENCRYPT_STAGING
    if not domains or not le.get("email"):
        out.warnings.append(
            ExportWarning(
                "https.letsencrypt",
                "HTTPS is on but Let's Encrypt has no e-mail or domains",
                "fill in proxy.https.hosts and proxy.https.letsencrypt.contactEmail",
            )
        )
    return section


def flag_snippet(name: str, text: str, include_secrets: bool) -> tuple[str, list[str], int]:
    """A jupyterhub_config.d file as hub.extraConfig code.

    Returns (code, why each flagged line is flagged, number of secrets left out).
    Lines that only make sense on this server get a ``# TLJH-EXPORT:`` comment
    above them; string values assigned to a name that says secret, password or
    token become :data:`SECRET_PLACEHOLDER` unless ``include_secrets``.
    """
    lines_out: list[str] = []
    reasons: list[str] = []
    hidden = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if not stripped.startswith("#"):
            for pattern, why in SYSTEMD_ONLY:
                if pattern.search(line):
                    lines_out.append(f"{indent}{FLAG} only for one server with systemd: {why}")
                    reasons.append(f"{name} line {number}: {why}")
                    break
            m = _SECRET_ASSIGNMENT.match(line)
            if m and not include_secrets and m.group("value"):
                line = f"{m.group('lhs')}{m.group('q')}{SECRET_PLACEHOLDER}{m.group('q')}"
                lines_out.append(f"{indent}{FLAG} secret left out: copy it from {name}")
                hidden += 1
        lines_out.append(line)
    return "\n".join(lines_out) + "\n", reasons, hidden


def _snippets(out: Export, snippets: Mapping[str, str], include_secrets: bool) -> dict[str, str]:
    extra: dict[str, str] = {}
    for name in sorted(snippets):
        code, reasons, hidden = flag_snippet(name, snippets[name], include_secrets)
        extra[name] = code
        if reasons:
            out.warnings.append(
                ExportWarning(
                    f"jupyterhub_config.d/{name}",
                    "lines only for one server with systemd: " + "; ".join(reasons),
                    f"review the lines marked '{FLAG}' in hub.extraConfig.{name}",
                )
            )
        if hidden:
            out.secrets.append(SecretHole(f"hub.extraConfig.{name}", f"jupyterhub_config.d/{name}"))
    return extra


def to_z2jh(
    config: Mapping[str, Any],
    include_secrets: bool = False,
    snippets: Mapping[str, str] | None = None,
    certificate: Certificate | None = None,
    image: tuple[str, str] | None = None,
    plugins: Sequence[str] = (),
) -> Export:
    """The chart values equivalent to ``config`` and what could not be carried over.

    ``config`` is validated (defaults are filled in here); ``snippets`` maps the
    file names of ``jupyterhub_config.d`` to their text; ``certificate`` is the
    admin's own certificate (its text is only used with ``include_secrets``);
    ``image`` the (name, tag) of the users' image built from ``tljh export user-image``;
    ``plugins`` the installed TLJH plugins (their changes to the hub are not exported).
    """
    config = with_defaults(config)
    out = Export()
    hub: dict[str, Any] = {"config": _hub_config(out, config, include_secrets)}
    base_url = config["base_url"]
    if base_url and base_url != "/":
        hub["baseUrl"] = base_url
    extra = _snippets(out, snippets or {}, include_secrets)
    hook = limits_hook(config)
    if hook:
        extra[LIMITS_CONFIG_KEY] = hook
    if extra:
        hub["extraConfig"] = {k: LiteralScalarString(v) for k, v in sorted(extra.items())}
    out.values["hub"] = hub
    singleuser = _singleuser(out, config)
    if image:
        singleuser["image"] = {"name": image[0], "tag": image[1]}
    out.values["singleuser"] = singleuser
    out.values["cull"] = _cull(config)
    https = _https(out, config, certificate, include_secrets)
    if https:
        out.values["proxy"] = {"https": https}
    _warn_leftovers(out, config)
    if plugins:
        out.warnings.append(
            ExportWarning(
                "plugins",
                f"what the TLJH plugins {', '.join(sorted(plugins))} do to the hub or install "
                "on this server is not in the values",
                "redo it in hub.extraConfig, a custom hub image or the user image",
            )
        )
    return out


def _warn_leftovers(out: Export, config: Mapping[str, Any]) -> None:
    auth_class = out.values["hub"]["config"]["JupyterHub"]["authenticator_class"]
    if auth_class == FIRSTUSE_AUTHENTICATOR:
        out.warnings.append(
            ExportWarning(
                "auth.type",
                "FirstUse passwords live in a file on this server (bcrypt hashes in "
                "state/passwords.dbm) and the chart's hub cannot read it",
                "switch to OAuth or LDAP before moving, or let students set a new password "
                "at their first login on the cluster",
            )
        )
    elif auth_class == "nativeauthenticator.NativeAuthenticator":
        out.warnings.append(
            ExportWarning(
                "auth.type",
                "NativeAuthenticator's accounts and passwords live in the hub database",
                "copy state/jupyterhub.sqlite into the hub's volume, or have users sign up again",
            )
        )
    elif auth_class in ("jupyterhub.auth.PAMAuthenticator",):
        out.warnings.append(
            ExportWarning(
                "auth.type",
                "PAM checks this server's unix passwords; the cluster's hub has none",
                "pick OAuth or LDAP (tljh-config set auth.type ...) before moving",
            )
        )
    if config["users"]["admin"]:
        out.warnings.append(
            ExportWarning(
                "users.admin",
                "admins' sudo rights (installing packages into the shared environment) "
                "have no equivalent: users' pods have no sudo",
                "admins stay hub admins; packages go into the user image instead",
            )
        )
    if config["users"].get("extra_user_groups"):
        out.warnings.append(
            ExportWarning(
                "users.extra_user_groups",
                "unix groups of users' accounts do not exist in users' pods",
                "use hub groups (JupyterHub's own) and share files through a volume",
            )
        )
    if config["services"].get("configurator", {}).get("enabled"):
        out.warnings.append(
            ExportWarning(
                "services.configurator",
                "the configurator service is TLJH's own and is not exported",
                "configure the cluster through the values file and helm upgrade",
            )
        )
    out.warnings.append(
        ExportWarning(
            "user_environment",
            "the shared user environment does not move: users' pods run an image",
            "build one with 'tljh export user-image' and set singleuser.image",
        )
    )
    out.warnings.append(
        ExportWarning(
            "homes",
            "users' home directories (/home/jupyter-*) stay on this server: on the cluster "
            "each user gets a volume (PVC) mounted at /home/jovyan, owned by uid 1000",
            "copy each home into its volume with rsync and chown it to 1000:100 "
            "(docs: When you outgrow one server)",
        )
    )


def _comment_block(export: Export, source: str) -> str:
    lines = [
        "Zero to JupyterHub (Helm chart) values exported by 'tljh export z2jh'",
        f"from {source}.",
        "Deploy: helm upgrade --install jupyterhub jupyterhub/jupyterhub --values THIS_FILE",
        "",
    ]
    if export.secrets:
        lines.append(f"Secrets left out (search for '{SECRET_PLACEHOLDER}'):")
        lines += [f"  - {s.values_key}: from {s.source}" for s in export.secrets]
        lines.append("  (or export again with --include-secrets; keep that file private)")
        lines.append("")
    if export.commands:
        lines.append("Run on the cluster first:")
        lines += [f"  {cmd}" for cmd in export.commands]
        lines.append("")
    if export.warnings:
        lines.append("Not carried over (no equivalent on Kubernetes):")
        for w in export.warnings:
            lines.append(f"  - {w.key}: {w.reason}")
            lines.append(f"    what to do: {w.hint}")
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def values_text(export: Export, source: str = "config.yaml") -> str:
    """The values file: what was left behind as comments on top, then the values."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    yaml.dump(export.values, buf)
    return _comment_block(export, source) + buf.getvalue()
