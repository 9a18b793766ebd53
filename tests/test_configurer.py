"""From the TLJH config to JupyterHub traitlets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tljh.config.schema import with_defaults
from tljh.config.validate import check, validate
from tljh.configurer import apply_config, load_config
from tljh.errors import ConfigValidationError
from tljh.layout import Layout
from tljh.render.default_memory import default_memory_limit
from tljh.render.hub import (
    CULLER_ROLE,
    CULLER_SERVICE,
    HUB_PORT,
    apply_traitlets,
    memory_bytes,
    traitlets_from_config,
)
from tljh.system.users import CULLER_USER

LAYOUT = Layout(prefix=Path("/opt/tljh"))


def role_named(roles: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (role,) = [r for r in roles if r["name"] == name]
    return role


def role_members(roles: list[dict[str, Any]], name: str) -> list[str]:
    return list(role_named(roles, name)["users"])


def traits(config: dict[str, Any], password: str = "pw") -> dict[str, dict[str, Any]]:
    return traitlets_from_config(with_defaults(config), LAYOUT, api_password=password)


def as_config(t: dict[str, dict[str, Any]]) -> Config:
    c = Config()
    apply_traitlets(c, t)
    return c


def test_hub_basics() -> None:
    hub = traits({})["JupyterHub"]
    assert hub["authenticator_class"] == "firstuseauthenticator.FirstUseAuthenticator"
    assert hub["base_url"] == "/"
    assert hub["cleanup_servers"] is False
    assert hub["cookie_secret_file"] == "/opt/tljh/state/jupyterhub_cookie_secret"
    assert hub["db_url"] == "sqlite:////opt/tljh/state/jupyterhub.sqlite"
    assert hub["hub_ip"] == "127.0.0.1"
    assert hub["hub_port"] == HUB_PORT < 1024
    assert hub["proxy_class"] == "tljh.hub.proxy.TLJHTraefikProxy"


def test_base_url() -> None:
    assert traits({"base_url": "/jupyter/"})["JupyterHub"]["base_url"] == "/jupyter/"


@pytest.mark.parametrize(
    "auth_type,expected",
    [
        ("dummy", "jupyterhub.auth.DummyAuthenticator"),
        ("firstuse", "firstuseauthenticator.FirstUseAuthenticator"),
        # Ours, fixed for JupyterHub 6 (tljh.hub.native).
        ("native", "tljh.hub.native.NativeAuthenticator"),
        ("nativeauthenticator.NativeAuthenticator", "tljh.hub.native.NativeAuthenticator"),
        ("tmp", "tmpauthenticator.TmpAuthenticator"),
        ("github", "oauthenticator.github.GitHubOAuthenticator"),
        ("google", "oauthenticator.google.GoogleOAuthenticator"),
        ("ldap", "ldapauthenticator.LDAPAuthenticator"),
        (
            "oauthenticator.gitlab.GitLabOAuthenticator",
            "oauthenticator.gitlab.GitLabOAuthenticator",
        ),
        ("mymodule:MyAuthenticator", "mymodule.MyAuthenticator"),
    ],
)
def test_authenticator_aliases(auth_type: str, expected: str) -> None:
    t = traits({"auth": {"type": auth_type}})
    assert t["JupyterHub"]["authenticator_class"] == expected


def test_auth_class_settings_passed_through() -> None:
    t = traits(
        {
            "auth": {
                "type": "github",
                "GitHubOAuthenticator": {
                    "client_id": "id",
                    "client_secret": "secret",
                    "allowed_organizations": ["org"],
                    "left_out": None,
                },
                "LocalAuthenticator": {"create_system_users": True},
            }
        }
    )
    assert t["GitHubOAuthenticator"] == {
        "client_id": "id",
        "client_secret": "secret",
        "allowed_organizations": ["org"],
    }
    assert t["LocalAuthenticator"] == {"create_system_users": True}
    # OAuth: an empty users.allowed must not open the hub to all of GitHub.
    assert "allow_all" not in t["GitHubOAuthenticator"]


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ({"client_id": "x"}, "auth.client_id"),
        ({"GitHubOAuthenticator": "x"}, "auth.GitHubOAuthenticator"),
    ],
)
def test_auth_section_must_be_a_mapping(auth: dict[str, Any], key: str) -> None:
    # Validation refuses it, so traitlets_from_config never sees it.
    with pytest.raises(ConfigValidationError) as e:
        check({"auth": auth})
    assert key in e.value.message


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"auth": {"type": ""}}, "auth.type"),
        ({"user_environment": {"default_app": "lab"}}, "user_environment.default_app"),
    ],
)
def test_values_the_mapping_cannot_use_are_refused_by_validation(
    config: dict[str, Any], key: str
) -> None:
    assert [p.path for p in validate(config)] == [key]


def test_user_lists() -> None:
    t = traits({"users": {"allowed": ["a", "1234"], "admin": ["boss"], "banned": ["eve"]}})
    auth = t["Authenticator"]
    # admins always get in
    assert auth["allowed_users"] == {"a", "1234", "boss"}
    assert auth["admin_users"] == {"boss"}
    assert role_members(t["JupyterHub"]["load_roles"], "admin") == ["boss"]
    assert t["UserCreatingSpawner"]["sudo_users"] == {"boss"}
    assert auth["blocked_users"] == {"eve"}
    # Logins are lower-cased before the ban list is read: a ban written "Mallory" holds.
    mixed = traits({"users": {"banned": ["Mallory"]}})
    assert "mallory" in mixed["Authenticator"]["blocked_users"]
    # with an allow list, nobody else gets in
    assert "allow_all" not in t.get("FirstUseAuthenticator", {})


@pytest.mark.parametrize(
    "auth_type,cls",
    [
        ("firstuse", "FirstUseAuthenticator"),
        ("tmp", "TmpAuthenticator"),
        ("native", "NativeAuthenticator"),
        ("dummy", "DummyAuthenticator"),
    ],
)
def test_open_authenticators_allow_all_without_allow_list(auth_type: str, cls: str) -> None:
    assert traits({"auth": {"type": auth_type}})[cls]["allow_all"] is True


def test_explicit_allow_all_wins() -> None:
    t = traits({"auth": {"type": "tmp", "TmpAuthenticator": {"allow_all": False}}})
    assert t["TmpAuthenticator"]["allow_all"] is False


def test_firstuse_defaults() -> None:
    t = traits({})
    assert t["FirstUseAuthenticator"]["create_users"] is False
    assert t["FirstUseAuthenticator"]["dbm_path"] == "/opt/tljh/state/passwords.dbm"


def test_proxy() -> None:
    t = traits({"traefik_api": {"ip": "127.0.0.1", "port": 9999, "username": "u"}}, "sekrit")
    proxy = t["TraefikProxy"]
    assert proxy["should_start"] is False
    assert proxy["enable_setup_dynamic_config"] is False
    assert proxy["traefik_api_url"] == "http://127.0.0.1:9999"
    assert proxy["traefik_api_username"] == "u"
    assert proxy["traefik_api_password"] == "sekrit"
    assert proxy["traefik_entrypoint"] == "http"
    assert t["TraefikFileProviderProxy"]["dynamic_config_file"] == (
        "/opt/tljh/state/rules/rules.toml"
    )


def test_proxy_entrypoint_does_not_follow_https_and_ipv6_api() -> None:
    """Routes name no entrypoint (tljh.hub.proxy); the hub waits for 'http', which always exists."""
    t = traits(
        {
            "https": {"enabled": True, "tls": {"cert": "/c", "key": "/k"}},
            "traefik_api": {"ip": "::1"},
        }
    )
    assert t["TraefikProxy"]["traefik_entrypoint"] == "http"
    assert t["TraefikProxy"]["traefik_api_url"] == "http://[::1]:8099"


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, None),
        ("512M", 512 * 1024**2),
        ("2G", 2 * 1024**3),
        ("1.5G", int(1.5 * 1024**3)),
        (1073741824, 1073741824),
        ("100K", 100 * 1024),
        ("1T", 1024**4),
    ],
)
def test_memory(value: Any, expected: int | None) -> None:
    assert validate({"limits": {"memory": value}}) == []
    assert memory_bytes(value) == expected
    assert traits({"limits": {"memory": value}})["Spawner"]["mem_limit"] == expected


# The mapping reads memory sizes in the language validation accepts, no wider:
# lower-case units, "GiB"/"GB", unit-less strings and floats are refused by
# both (they were accepted here before the parsers were unified).
@pytest.mark.parametrize(
    "value", ["lots", "2 GB!", True, "G", "1g", "2GiB", "2GB", "1073741824", "", 1.5e9, 1024]
)
def test_memory_rejects_junk(value: Any) -> None:
    assert [p.path for p in validate({"limits": {"memory": value}})] == ["limits.memory"]
    with pytest.raises(ConfigValidationError) as e:
        memory_bytes(value)
    (problem,) = e.value.problems
    assert problem in validate({"limits": {"memory": value}})


def test_spawner() -> None:
    t = traits({"limits": {"cpu": 2}, "user_environment": {"default_app": "classic"}})
    spawner = t["Spawner"]
    assert spawner["cmd"] == ["/opt/tljh/user/bin/jupyterhub-singleuser"]
    assert spawner["default_url"] == "/tree"
    assert spawner["cpu_limit"] == 2.0
    assert spawner["mem_limit"] is None
    systemd = t["SystemdSpawner"]
    assert systemd["isolate_tmp"] is True
    assert systemd["extra_paths"] == ["/opt/tljh/user/bin"]
    assert traits({})["Spawner"]["default_url"] == "/lab"
    assert traits({})["Spawner"]["cpu_limit"] is None


def test_extra_user_groups() -> None:
    t = traits({"users": {"extra_user_groups": {"docker": ["a", "b"], "staff": ["a"]}}})
    assert t["UserCreatingSpawner"]["user_groups"] == {"docker": ["a", "b"], "staff": ["a"]}


def test_culler_service_and_role() -> None:
    hub = traits({})["JupyterHub"]
    (service,) = hub["services"]
    assert service["name"] == CULLER_SERVICE
    assert "admin" not in service
    assert service["command"][:4] == [
        "/opt/tljh/hub/bin/python3",
        "-I",
        "-m",
        "jupyterhub_idle_culler",
    ]
    # Not root: its own system user, started outside the hub's state directory.
    assert service["user"] == CULLER_USER
    assert service["cwd"] == "/"
    assert "--timeout=600" in service["command"]
    assert "--cull-every=60" in service["command"]
    assert not any("cull-users" in a for a in service["command"])
    role = role_named(hub["load_roles"], CULLER_ROLE)
    assert role["services"] == [CULLER_SERVICE]
    assert sorted(role["scopes"]) == sorted(
        ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    )


def test_culler_options() -> None:
    hub = traits(
        {
            "services": {
                "cull": {
                    "timeout": 3600,
                    "every": 120,
                    "concurrency": 2,
                    "max_age": 86400,
                    "users": True,
                    "remove_named_servers": True,
                }
            }
        }
    )["JupyterHub"]
    (service,) = hub["services"]
    from jupyterhub_idle_culler import IdleCuller

    app = IdleCuller()
    app.parse_command_line(service["command"][3:])
    assert (app.timeout, app.cull_every, app.concurrency, app.max_age) == (3600, 120, 2, 86400)
    assert app.cull_users is True
    assert app.remove_named_servers is True
    assert "admin:users" in role_named(hub["load_roles"], CULLER_ROLE)["scopes"]


def test_culler_disabled() -> None:
    hub = traits({"services": {"cull": {"enabled": False}}})["JupyterHub"]
    assert hub["services"] == []
    assert [r["name"] for r in hub["load_roles"]] == ["admin"]


def test_real_classes_accept_the_values() -> None:
    from firstuseauthenticator import FirstUseAuthenticator
    from jupyterhub.app import JupyterHub
    from oauthenticator.github import GitHubOAuthenticator
    from tmpauthenticator import TmpAuthenticator

    c = as_config(traits({"users": {"admin": ["boss"]}, "limits": {"memory": "1G"}}))
    hub = JupyterHub(config=c)
    assert hub.hub_port == HUB_PORT
    assert hub.cleanup_servers is False
    assert hub.authenticator_class is FirstUseAuthenticator
    assert hub.proxy_class.__name__ == "TLJHTraefikProxy"

    auth = FirstUseAuthenticator(config=c)
    assert auth.allow_all is True
    assert auth.create_users is False
    assert "boss" in auth.allowed_users
    assert role_members(hub.load_roles, "admin") == ["boss"]

    tmp = TmpAuthenticator(config=as_config(traits({"auth": {"type": "tmp"}})))
    assert tmp.allow_all is True
    gh = GitHubOAuthenticator(config=as_config(traits({"auth": {"type": "github"}})))
    assert gh.allow_all is False

    from jupyterhub.spawner import Spawner

    spawner = Spawner(config=c)
    assert spawner.mem_limit == 1024**3
    assert spawner.default_url == "/lab"


def test_later_config_wins() -> None:
    # jupyterhub_config.d files run after: their settings must override ours.
    c = as_config(traits({}))
    c.Spawner.default_url = "/tree"
    c.JupyterHub.services.append({"name": "extra"})
    from jupyterhub.spawner import Spawner

    assert Spawner(config=c).default_url == "/tree"
    assert [s["name"] for s in c.JupyterHub.services] == [CULLER_SERVICE, "extra"]


def test_upstream_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir()
    layout.state_dir.mkdir()
    layout.config_file.write_text("users:\n  admin: [boss]\nlimits:\n  memory: 2G\n")
    layout.traefik_api_secret.write_text("from-secret")

    config = load_config()
    assert config["users"]["admin"] == ["boss"]
    assert config["base_url"] == "/"
    assert config["traefik_api"]["password"] == "from-secret"

    other = tmp_path / "other.yaml"
    other.write_text("base_url: /x/\n")
    assert load_config(str(other))["base_url"] == "/x/"

    c = Config()
    apply_config({"users": {"admin": ["root2"]}}, c)
    assert role_members(c.JupyterHub.load_roles, "admin") == ["root2"]
    assert c.UserCreatingSpawner.sudo_users == {"root2"}
    assert c.TraefikProxy.traefik_api_password == "from-secret"
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path}/state/jupyterhub.sqlite"


def test_upstream_entry_points_validate_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The legacy path must refuse what tljh-config and the hub refuse.
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir()
    layout.state_dir.mkdir()
    layout.traefik_api_secret.write_text("from-secret")
    c = Config()
    for bad in ({"limits": {"memory": "2 gigs"}}, {"users": {"admin": [1234]}}):
        with pytest.raises(ConfigValidationError):
            apply_config(bad, c)
    layout.config_file.write_text("limits:\n  memory: lots\n")
    with pytest.raises(ConfigValidationError):
        load_config()


def test_upstream_entry_points_warn_about_unknown_keys_and_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the hub: a key this release does not know is named, and left out.
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir()
    layout.state_dir.mkdir()
    layout.traefik_api_secret.write_text("from-secret")
    layout.config_file.write_text("nope: 1\nlimits:\n  memory: 1G\n")
    config = load_config()
    assert "nope" not in config
    assert config["limits"]["memory"] == "1G"
    assert "nope: unknown key" in capsys.readouterr().err
    c = Config()
    apply_config({"nope": 1, "user_environment": {"default_app": "classic"}}, c)
    assert c.Spawner.default_url == "/tree"
    assert "nope: unknown key" in capsys.readouterr().err


GIB = 1024**3


@pytest.mark.parametrize(
    ("machine", "limit"),
    [
        # Small machines: half of it (a 1 GiB reserve would leave nothing).
        (1 * GIB, GIB // 2),
        (2 * GIB, 1 * GIB),
        # Then the machine minus a reserve of at least 1 GiB...
        (4 * GIB, 3 * GIB),
        # ... and of a fifth of the machine on bigger ones.
        (16 * GIB, int(16 * GIB * 0.8) // 2**20 * 2**20),
        (64 * GIB, int(64 * GIB * 0.8) // 2**20 * 2**20),
    ],
)
def test_default_memory_limit(machine: int, limit: int) -> None:
    assert default_memory_limit(machine) == limit


def test_default_memory_limit_leaves_a_reserve_and_is_whole_mib() -> None:
    for machine in [GIB // 2, 3 * GIB + 12345, 7 * GIB, 24 * GIB, 250 * GIB]:
        limit = default_memory_limit(machine)
        assert machine // 2 - 2**20 < limit < machine
        assert limit % 2**20 == 0


def test_unset_memory_limit_comes_from_the_machine() -> None:
    config = with_defaults({})
    spawner = traitlets_from_config(config, LAYOUT, machine_memory=4 * GIB)["Spawner"]
    assert spawner["mem_limit"] == 3 * GIB
    # Unknown machine memory: no limit rather than a guess.
    assert traitlets_from_config(config, LAYOUT)["Spawner"]["mem_limit"] is None


def test_configured_memory_limit_wins_over_the_machine_default() -> None:
    config = with_defaults({"limits": {"memory": "512M"}})
    spawner = traitlets_from_config(config, LAYOUT, machine_memory=64 * GIB)["Spawner"]
    assert spawner["mem_limit"] == 512 * 2**20
    # Also when it is above the default: the admin knows their class.
    config = with_defaults({"limits": {"memory": "4G"}})
    spawner = traitlets_from_config(config, LAYOUT, machine_memory=4 * GIB)["Spawner"]
    assert spawner["mem_limit"] == 4 * GIB
