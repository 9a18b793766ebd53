"""parse_value and the pure edits on nested mappings."""

from __future__ import annotations

from typing import Any

import pytest

from tljh.config.schema import DEFAULTS, authenticator_class_name, with_defaults
from tljh.config.values import (
    add_item,
    get_value,
    parse_value,
    remove_item,
    set_value,
    unset_value,
)
from tljh.errors import ConfigError


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("users.admin", "1234", "1234"),
        ("users.allowed", "007", "007"),
        ("users.banned", "true", "true"),
        ("users.extra_user_groups.teachers", "42", "42"),
        ("limits.cpu", "1.5", 1.5),
        ("limits.cpu", "2", 2),
        ("limits.cpu", "null", None),
        ("limits.memory", "1G", "1G"),
        ("limits.memory", "1073741824", 1073741824),
        ("http.port", "80", 80),
        ("http.address", "", ""),
        ("https.enabled", "true", True),
        ("https.enabled", "false", False),
        ("https.enabled", "Yes", True),
        ("https.enabled", "maybe", "maybe"),
        ("http.port", "eighty", "eighty"),
        ("traefik_api.password", "12345", "12345"),
        ("base_url", "/x/", "/x/"),
        ("auth.type", "dummy", "dummy"),
        ("auth.GitHubOAuthenticator.client_id", "12345", 12345),
        ("auth.DummyAuthenticator.password", "hunter2", "hunter2"),
        ("auth.NativeAuthenticator.open_signup", "true", True),
        ("auth.NativeAuthenticator.open_signup", "False", False),
        ("auth.LDAPAuthenticator.bind_dn_template", "null", None),
        ("auth.X.ratio", "0.25", 0.25),
        ("not.in.schema", "3", 3),
        ("services.cull.timeout", "3600", 3600),
        ("services.cull.users", "true", True),
    ],
)
def test_parse_value_uses_the_schema_type(key: str, text: str, expected: Any) -> None:
    value = parse_value(key, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("override", "text", "expected"),
    [
        ("str", "1234", "1234"),
        ("int", "12", 12),
        ("float", "1", 1.0),
        ("bool", "false", False),
        ("null", "whatever", None),
    ],
)
def test_type_override(override: str, text: str, expected: Any) -> None:
    value = parse_value("auth.X.y", text, override)
    assert value == expected and type(value) is type(expected)


def test_type_override_rejects_bad_text() -> None:
    with pytest.raises(ConfigError, match="not a whole number"):
        parse_value("http.port", "eighty", "int")
    with pytest.raises(ConfigError, match="unknown --type"):
        parse_value("http.port", "80", "complex")


@pytest.mark.parametrize("key", ["", ".a", "a.", "a..b"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(ConfigError, match="not a valid key"):
        parse_value(key, "x")


def test_set_creates_sections_and_get_reads() -> None:
    config: dict[str, Any] = {}
    set_value(config, "limits.memory", "1G")
    set_value(config, "auth.GitHubOAuthenticator.client_id", "abc")
    assert config == {
        "limits": {"memory": "1G"},
        "auth": {"GitHubOAuthenticator": {"client_id": "abc"}},
    }
    assert get_value(config, "limits.memory") == "1G"
    assert get_value(config, "limits") == {"memory": "1G"}


def test_set_replaces_null_section() -> None:
    config: dict[str, Any] = {"users": None}
    set_value(config, "users.admin", ["a"])
    assert config == {"users": {"admin": ["a"]}}


def test_set_below_a_scalar_is_refused() -> None:
    config: dict[str, Any] = {"limits": {"memory": "1G"}}
    with pytest.raises(ConfigError) as info:
        set_value(config, "limits.memory.soft", "1G")
    assert "limits.memory is a single value" in info.value.message
    assert "unset limits.memory" in info.value.hint
    assert config == {"limits": {"memory": "1G"}}


def test_get_absent_key() -> None:
    with pytest.raises(ConfigError, match=r"limits\.cpu is not set"):
        get_value({"limits": {}}, "limits.cpu")


def test_unset_removes_emptied_parents_only() -> None:
    config: dict[str, Any] = {
        "auth": {"GitHubOAuthenticator": {"client_id": "x"}, "type": "github"},
        "limits": {"memory": "1G", "cpu": 1},
    }
    unset_value(config, "auth.GitHubOAuthenticator.client_id")
    assert config["auth"] == {"type": "github"}
    unset_value(config, "limits.memory")
    assert config["limits"] == {"cpu": 1}
    unset_value(config, "limits.cpu")
    assert "limits" not in config


def test_unset_absent_key() -> None:
    with pytest.raises(ConfigError) as info:
        unset_value({"limits": {"cpu": 1}}, "limits.memory")
    assert "nothing to unset" in info.value.message
    assert info.value.hint
    with pytest.raises(ConfigError):
        unset_value({}, "a.b.c")


def test_add_item_creates_list_and_skips_duplicates() -> None:
    config: dict[str, Any] = {}
    add_item(config, "users.admin", "alice")
    add_item(config, "users.admin", "1234")
    add_item(config, "users.admin", "alice")
    assert config == {"users": {"admin": ["alice", "1234"]}}


def test_add_item_to_null_list() -> None:
    config: dict[str, Any] = {"users": {"admin": None}}
    add_item(config, "users.admin", "a")
    assert config == {"users": {"admin": ["a"]}}


def test_add_item_on_non_list() -> None:
    config: dict[str, Any] = {"limits": {"memory": "1G"}}
    with pytest.raises(ConfigError) as info:
        add_item(config, "limits.memory", "2G")
    assert "not a list" in info.value.message
    assert "tljh-config set limits.memory" in info.value.hint


def test_remove_item() -> None:
    config: dict[str, Any] = {"users": {"admin": ["alice", "bob"]}}
    remove_item(config, "users.admin", "alice")
    assert config == {"users": {"admin": ["bob"]}}


def test_remove_item_absent_value() -> None:
    config: dict[str, Any] = {"users": {"admin": ["bob"]}}
    with pytest.raises(ConfigError) as info:
        remove_item(config, "users.admin", "alice")
    assert "'alice' is not in users.admin" in info.value.message
    assert "'bob'" in info.value.hint


def test_remove_item_absent_key_and_non_list() -> None:
    with pytest.raises(ConfigError, match="not set"):
        remove_item({}, "users.admin", "x")
    with pytest.raises(ConfigError, match="not a list"):
        remove_item({"limits": {"memory": "1G"}}, "limits.memory", "1G")


def test_remove_item_finds_unquoted_number() -> None:
    # A file written by upstream may hold an unquoted 1234; removing "1234" fixes it.
    config: dict[str, Any] = {"users": {"admin": [1234, "x"]}}
    remove_item(config, "users.admin", "1234")
    assert config == {"users": {"admin": ["x"]}}


def test_with_defaults_merges_deeply_and_keeps_inputs() -> None:
    config = {"limits": {"memory": "1G"}, "users": None, "auth": {"type": "dummy"}}
    merged = with_defaults(config)
    assert merged["limits"] == {"memory": "1G", "cpu": None, "groups": {}, "users": {}}
    assert merged["users"] == {"allowed": [], "banned": [], "admin": [], "extra_user_groups": {}}
    assert merged["auth"]["type"] == "dummy"
    assert merged["auth"]["FirstUseAuthenticator"] == {"create_users": False}
    assert merged["services"]["cull"]["timeout"] == 600
    assert config == {"limits": {"memory": "1G"}, "users": None, "auth": {"type": "dummy"}}
    merged["users"]["admin"].append("x")
    assert DEFAULTS["users"]["admin"] == []


def test_defaults_match_the_documented_tree() -> None:
    assert DEFAULTS["base_url"] == "/"
    assert DEFAULTS["auth"]["type"] == "firstuseauthenticator.FirstUseAuthenticator"
    assert DEFAULTS["http"] == {"address": "", "port": 80}
    assert DEFAULTS["https"] == {
        "enabled": False,
        "address": "",
        "port": 443,
        "tls": {"cert": "", "key": ""},
        "letsencrypt": {
            "email": "",
            "domains": [],
            "staging": False,
            "ca_server": "",
            "challenge": "http-01",
        },
    }
    assert DEFAULTS["traefik_api"] == {
        "ip": "127.0.0.1",
        "port": 8099,
        "username": "api_admin",
        "password": "",
    }
    assert DEFAULTS["user_environment"] == {"default_app": "jupyterlab"}
    assert DEFAULTS["services"]["cull"] == {
        "enabled": True,
        "timeout": 600,
        "every": 60,
        "concurrency": 5,
        "users": False,
        "max_age": 0,
        "remove_named_servers": False,
    }
    assert DEFAULTS["limits"] == {"memory": None, "cpu": None, "groups": {}, "users": {}}


def test_with_defaults_returns_plain_types() -> None:
    from ruamel.yaml import YAML

    data = YAML(typ="rt").load("limits:\n  cpu: 1.5\nusers:\n  admin: ['a']\nx: &b true\n")
    merged = with_defaults(data)

    def walk(v: Any) -> None:
        assert type(v) in (dict, list, str, int, float, bool, type(None)), type(v)
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        if isinstance(v, list):
            for x in v:
                walk(x)

    walk(merged)
    assert merged["x"] is True


def test_authenticator_class_name() -> None:
    assert authenticator_class_name("github") == "GitHubOAuthenticator"
    assert authenticator_class_name("firstuseauthenticator.FirstUseAuthenticator") == (
        "FirstUseAuthenticator"
    )
    assert authenticator_class_name("pkg.mod:MyAuth") == "MyAuth"
