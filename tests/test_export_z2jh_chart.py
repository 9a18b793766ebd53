"""Exported values, read by the Zero to JupyterHub chart's own code, give the TLJH hub's settings.

For realistic config.yaml files, ``tljh export z2jh``'s values:

* merged over the chart's defaults, validate against the chart's schema
  (``values.schema.yaml``, what ``helm`` checks);
* run through the chart's hub configuration (its ``jupyterhub_config.py`` and
  ``z2jh.py``, unmodified but for the directory they read, which points at a
  temporary one), with real JupyterHub, KubeSpawner and authenticators, give
  the same authenticator class and options, allowed, banned and admin users,
  memory and CPU limits (per group too), culler and default URL as the TLJH
  hub's own traitlets (:func:`tljh.render.hub.traitlets_from_config`) for the
  same config.

No Kubernetes runs here: KubeSpawner is made with its test switch (``_mock``)
and a kubeconfig naming no reachable cluster, and nothing is deployed.  The
chart's files are test data outside this repository (``../shared/z2jh`` next to
the checkout); without them these tests are skipped.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tljh.config.schema import with_defaults
from tljh.layout import Layout
from tljh.render.hub import (
    HUB_AUTHENTICATOR_CLASSES,
    apply_traitlets,
    configured_authenticator,
    traitlets_from_config,
)
from tljh.render.limits import Limits, effective_limits, limits_by_name
from tljh.render.z2jh import Certificate, to_z2jh, values_text

CHART = Path(__file__).resolve().parents[1].parent / "shared" / "z2jh"
CHART_DIR_IN_POD = "/usr/local/etc/jupyterhub"

pytestmark = pytest.mark.skipif(
    not (CHART / "jupyterhub_config.py").exists(),
    reason=f"the Zero to JupyterHub chart's files are not at {CHART} (test data kept "
    "outside this repository)",
)

#: (hub user, their hub groups): whose limits are compared.
PROBE_USERS = [("ada", []), ("grace", ["instructors"]), ("ms.frizzle", ["tas", "instructors"])]

CONFIGS: dict[str, dict[str, Any]] = {
    "firstuse": {"users": {"admin": ["ms.frizzle"]}},
    "firstuse-allowed": {
        "users": {"admin": ["ms.frizzle"], "allowed": ["ada", "grace"], "banned": ["mallory"]},
        "auth": {"FirstUseAuthenticator": {"min_password_length": 10}},
    },
    "github-allowed": {
        "auth": {
            "type": "github",
            "GitHubOAuthenticator": {
                "client_id": "abc123",
                "client_secret": "s3cret",
                "oauth_callback_url": "https://hub.example.org/hub/oauth_callback",
                "allowed_organizations": ["example-school"],
            },
        },
        "users": {"allowed": ["ada", "grace"], "admin": ["ms.frizzle"]},
    },
    "native": {
        "auth": {"type": "native", "NativeAuthenticator": {"open_signup": False}},
        "users": {"admin": ["ms.frizzle"]},
    },
    "ldap": {
        "auth": {
            "type": "ldap",
            "LDAPAuthenticator": {
                "server_address": "ldap.example.org",
                "bind_dn_template": ["uid={username},ou=people,dc=example,dc=org"],
                "lookup_dn_search_user": "cn=reader,dc=example,dc=org",
                "lookup_dn_search_password": "bindpw",
            },
        },
        "users": {"admin": ["ms.frizzle"]},
    },
    "limits": {
        "users": {"admin": ["ms.frizzle"]},
        "limits": {
            "memory": "512M",
            "cpu": 0.5,
            "groups": {"instructors": {"memory": "4G", "cpu": 2}, "tas": {"memory": "2G"}},
            "users": {"ms.frizzle": {"cpu": 4}},
        },
    },
    "culler": {
        "services": {
            "cull": {
                "timeout": 1800,
                "every": 120,
                "concurrency": 2,
                "users": True,
                "max_age": 86400,
                "remove_named_servers": True,
            }
        }
    },
    "culler-off-classic": {
        "services": {"cull": {"enabled": False}},
        "user_environment": {"default_app": "classic"},
    },
    "https-letsencrypt": {
        "https": {
            "enabled": True,
            "letsencrypt": {"email": "teacher@example.org", "domains": ["hub.example.org"]},
        },
        "limits": {"memory": "2G", "cpu": 1},
    },
    "https-own-certs": {
        "https": {"enabled": True, "tls": {"cert": "/etc/ssl/hub.pem", "key": "/etc/ssl/hub.key"}}
    },
    "base-url": {"base_url": "/class/", "users": {"admin": ["ms.frizzle"]}},
}

CERT = Certificate("/etc/ssl/hub.pem", "/etc/ssl/hub.key", "-----CERT-----\n", "-----KEY-----\n")


def _yaml() -> Any:
    return pytest.importorskip("yaml")


@functools.cache
def _chart_file(name: str) -> Any:
    """A YAML file of the chart, parsed once (the schema is large)."""
    yaml = _yaml()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((CHART / name).read_text(), Loader=loader)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the chart's defaults."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def chart_values(name: str, include_secrets: bool = True) -> dict[str, Any]:
    """What the chart's hub reads: its defaults with the exported file over them."""
    yaml = _yaml()
    export = to_z2jh(CONFIGS[name], include_secrets=include_secrets, certificate=CERT)
    exported = yaml.safe_load(values_text(export))  # the file as written, comments and all
    return _merge(copy.deepcopy(_chart_file("values.yaml")), exported)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("include_secrets", [False, True])
def test_values_validate_against_the_chart_schema(name: str, include_secrets: bool) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(chart_values(name, include_secrets), _chart_file("values.schema.yaml"))


# --- what a hub makes of a configuration ------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return value


def culler_flags(services: list[dict[str, Any]]) -> dict[str, str] | None:
    """The idle culler's options, with jupyterhub-idle-culler's defaults filled in."""
    for service in services:
        command = service.get("command") or []
        if "jupyterhub_idle_culler" not in command:
            continue
        flags = {
            "timeout": "600",
            "cull-every": "0",
            "concurrency": "10",
            "max-age": "0",
            "cull-users": "false",
            "cull-admin-users": "true",
            "remove-named-servers": "false",
        }
        for arg in command:
            if not arg.startswith("--") or arg.startswith("--url="):
                continue
            key, _, value = arg[2:].partition("=")
            flags[key] = (value or "true").lower()
        return flags
    return None


def summarize(config: Any, auth_traits: list[str]) -> dict[str, Any]:
    """What a hub configured by the traitlets ``config`` does, as comparable values.

    Runs in the test (the TLJH hub's config) and in a child process (the
    chart's), so that each hub's classes are made from its own config.
    """
    from traitlets import import_item

    hub = config.JupyterHub
    auth_class = import_item(str(hub.authenticator_class))
    kwargs = {}
    if any("nativeauthenticator" in c.__module__ for c in auth_class.__mro__):
        # It makes its table in the hub's database when it is made.
        from jupyterhub import orm

        kwargs["db"] = orm.new_session_factory("sqlite://")()
    auth = auth_class(config=config, **kwargs)
    roles = list(hub.get("load_roles", []))
    admins = set(auth.admin_users) | {
        u for role in roles if role.get("name") == "admin" for u in role.get("users", [])
    }
    out: dict[str, Any] = {
        "authenticator_class": str(hub.authenticator_class),
        "auth": {t: _plain(getattr(auth, t)) for t in auth_traits},
        "allowed_users": sorted(auth.allowed_users),
        "blocked_users": sorted(auth.blocked_users),
        "allow_all": bool(auth.allow_all),
        "admins": sorted(admins),
        "base_url": hub.get("base_url", "/"),
        "culler": culler_flags(list(hub.get("services", []))),
        "culler_scopes": sorted(
            s for r in roles if "idle" in r.get("name", "") for s in r.get("scopes", [])
        ),
    }
    return out


def tljh_summary(name: str) -> dict[str, Any]:
    """The TLJH hub's settings for config ``name``, from its own traitlets."""
    from traitlets.config import Config

    config = with_defaults(CONFIGS[name])
    traits = traitlets_from_config(config, Layout())
    c = Config()
    apply_traitlets(c, traits)
    auth_class = traits["JupyterHub"]["authenticator_class"]
    own = traits.get(auth_class.rsplit(".", 1)[-1], {})
    auth_traits = sorted(t for t in own if t != "dbm_path")
    out = summarize(c, auth_traits)
    out["auth_traits"] = auth_traits
    if auth_class in HUB_AUTHENTICATOR_CLASSES.values():
        # Our fixed subclass of a released authenticator: the chart runs the release.
        out["authenticator_class"] = configured_authenticator(config)
    from jupyterhub.spawner import Spawner

    spawner = Spawner(config=c)
    general = Limits(spawner.mem_limit, spawner.cpu_limit)
    by_group = limits_by_name(config["limits"]["groups"])
    by_user = limits_by_name(config["limits"]["users"], users=True)
    out["default_url"] = spawner.default_url
    out["limits"] = {}
    for user, groups in PROBE_USERS:
        eff = effective_limits(user, groups, general, by_group, by_user)
        out["limits"][user] = [eff.memory, eff.cpu]
    return out


# The child process: load the chart's jupyterhub_config.py as JupyterHub does, once
# for each values file, and summarize with the same function as the TLJH side.  One
# process for all (importing KubeSpawner and its Kubernetes client takes seconds).
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_export_z2jh_chart import chart_summaries
print("SUMMARY " + json.dumps(chart_summaries(sys.argv[2], json.loads(sys.argv[3]))))
"""


def chart_summaries(pod_dir: str, cases: dict[str, list[str]]) -> dict[str, Any]:
    """For each case (its values in ``pod_dir/values-<case>.yaml``, the authenticator
    traits to compare), what the chart's hub configuration gives."""
    import asyncio
    import shutil

    out = {}
    for case, auth_traits in cases.items():
        shutil.copy(Path(pod_dir) / f"values-{case}.yaml", Path(pod_dir) / "secret" / "values.yaml")
        if "z2jh" in sys.modules:  # the chart caches what it read
            z2jh = sys.modules["z2jh"]
            for cached in ("_load_config", "_get_config_value", "get_secret_value"):
                getattr(z2jh, cached).cache_clear()
        out[case] = asyncio.run(chart_summary(pod_dir, auth_traits))
    return out


async def chart_summary(pod_dir: str, auth_traits: list[str]) -> dict[str, Any]:
    from types import SimpleNamespace

    from kubespawner import KubeSpawner
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("jupyterhub_config.py", path=pod_dir).load_config()
    out = summarize(config, auth_traits)
    spawner = KubeSpawner(_mock=True, config=config)
    out["default_url"] = spawner.default_url
    out["guarantee_within_limit"] = not spawner.mem_limit or (
        (spawner.mem_guarantee or 0) <= spawner.mem_limit
    )
    out["limits"] = {}
    for user, groups in PROBE_USERS:
        spawner = KubeSpawner(_mock=True, config=config)
        spawner.user = SimpleNamespace(
            name=user, groups=[SimpleNamespace(name=g) for g in groups], url="/", id=1
        )
        if spawner.pre_spawn_hook:
            spawner.pre_spawn_hook(spawner)
        out["limits"][user] = [spawner.mem_limit, spawner.cpu_limit]
        if spawner.mem_limit and (spawner.mem_guarantee or 0) > spawner.mem_limit:
            out["guarantee_within_limit"] = False
    return out


def pod_directory(tmp_path: Path) -> Path:
    """The hub pod's /usr/local/etc/jupyterhub, in ``tmp_path``: the chart's two files
    (pointed at it), and the names and secrets Helm would mount."""
    pod = tmp_path / "pod"
    pod.mkdir()
    for name in ("jupyterhub_config.py", "z2jh.py"):
        text = (CHART / name).read_text().replace(CHART_DIR_IN_POD, str(pod))
        (pod / name).write_text(text)
    (pod / "secret").mkdir()
    (pod / "secret" / "hub.config.JupyterHub.cookie_secret").write_text("ab" * 32)
    (pod / "secret" / "hub.config.CryptKeeper.keys").write_text("cd" * 32)
    (pod / "config").mkdir()
    for name in ("hub", "proxy-api", "user-scheduler", "priority", "image-pull-secret"):
        (pod / "config" / name).write_text(name)
    return pod


KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: none
contexts: [{name: none, context: {cluster: none, user: none}}]
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {}}]
"""

NO_SECRETS = "github-allowed, secrets left out"


@pytest.fixture(scope="module")
def chart_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the chart's hub configuration gives for every case, and the TLJH side."""
    pytest.importorskip("kubespawner")
    pytest.importorskip("pycurl")
    tmp_path = tmp_path_factory.mktemp("chart")
    pod = pod_directory(tmp_path)
    yaml = _yaml()
    tljh = {name: tljh_summary(name) for name in CONFIGS}
    cases = {name: summary.pop("auth_traits") for name, summary in tljh.items()}
    for name in CONFIGS:
        (pod / f"values-{name}.yaml").write_text(yaml.safe_dump(chart_values(name)))
    cases[NO_SECRETS] = ["client_secret"]
    (pod / f"values-{NO_SECRETS}.yaml").write_text(
        yaml.safe_dump(chart_values("github-allowed", include_secrets=False))
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PROXY_API_SERVICE_PORT": "8001",
        "HUB_SERVICE_PORT": "8081",
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(__file__).parent), str(pod), json.dumps(cases)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("SUMMARY "))
    return {"chart": json.loads(line[len("SUMMARY ") :]), "tljh": tljh}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_chart_hub_gets_the_tljh_hub_settings(name: str, chart_results: dict[str, Any]) -> None:
    chart = dict(chart_results["chart"][name])
    assert chart.pop("guarantee_within_limit") is True
    assert json.loads(json.dumps(chart_results["tljh"][name])) == chart


def test_chart_hub_without_secrets_has_placeholders(chart_results: dict[str, Any]) -> None:
    """By default the secret is a placeholder the chart's hub would run with, visibly."""
    chart = chart_results["chart"][NO_SECRETS]
    assert chart["auth"]["client_secret"].startswith("<SECRET")
    assert chart["authenticator_class"] == "oauthenticator.github.GitHubOAuthenticator"
