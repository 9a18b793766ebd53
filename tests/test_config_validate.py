"""Validation: every bad config is rejected with a message naming the key."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tljh.config.history import list_history
from tljh.config.schema import DEFAULTS, plugin_schema
from tljh.config.store import read_config, update_config
from tljh.config.validate import (
    KEY_NAME,
    RENAMED_KEY,
    UNKNOWN_KEY,
    VALUE,
    blocking,
    check,
    ignored_keys_warning,
    key_problem,
    runnable,
    split_problems,
    validate,
)
from tljh.config.values import parse_value
from tljh.errors import ConfigValidationError, Problem
from tljh.layout import Layout

LE = {"email": "admin@example.org", "domains": ["hub.example.org"]}
TLS = {"cert": "/etc/ssl/hub.pem", "key": "/etc/ssl/hub.key"}

# (config, key path the message must start with, text the message must contain)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"base_url": "jupyter"}, "base_url", "must start with '/'"),
    ({"base_url": 5}, "base_url", "not text"),
    ({"base_url": "/a b/"}, "base_url", "not a URL path"),
    ({"auth": {"type": ""}}, "auth.type", "not a known authenticator"),
    ({"auth": {"type": "githbu"}}, "auth.type", "did you mean github?"),
    ({"auth": {"type": 3}}, "auth.type", "not text"),
    ({"auth": {"Type": "dummy"}}, "auth.Type", "did you mean auth.type?"),
    ({"auth": {"firstuse": {"create_users": True}}}, "auth.firstuse", "authenticator class"),
    (
        {"auth": {"GithubOAuthenticator": {"client_id": "x"}}},
        "auth.GithubOAuthenticator",
        "GitHubOAuthenticator",
    ),
    ({"auth": {"DummyAuthenticator": "pw"}}, "auth.DummyAuthenticator", "not a section"),
    (
        {"auth": {"DummyAuthenticator": {"bad-name": 1}}},
        "auth.DummyAuthenticator.bad-name",
        "option name",
    ),
    ({"auth": "dummy"}, "auth", "not a section"),
    ({"users": {"admin": [1234]}}, "users.admin", "quote it"),
    ({"users": {"allowed": [True]}}, "users.allowed", "not a username"),
    ({"users": {"banned": "mallory"}}, "users.banned", "add-item users.banned mallory"),
    ({"users": {"admin": [""]}}, "users.admin", "empty username"),
    ({"users": {"admin": [" alice"]}}, "users.admin", "spaces"),
    ({"users": {"admin": [None]}}, "users.admin", "is empty (null)"),
    ({"users": {"admins": ["alice"]}}, "users.admins", "users.admin"),
    ({"users": {"whitelist": ["alice"]}}, "users.whitelist", "users.allowed"),
    ({"users": {"admin": ["alice"], "banned": ["alice"]}}, "users.banned", "also in users.admin"),
    (
        {"users": {"extra_user_groups": {"Bad Group": ["a"]}}},
        "users.extra_user_groups.Bad Group",
        "group name",
    ),
    (
        {"users": {"extra_user_groups": {"teachers": "alice"}}},
        "users.extra_user_groups.teachers",
        "not a list",
    ),
    (
        {"users": {"extra_user_groups": {"teachers": [42]}}},
        "users.extra_user_groups.teachers",
        "quote it",
    ),
    ({"users": {"extra_user_groups": {123: ["a"]}}}, "users.extra_user_groups", "not text"),
    (
        {"limits": {"memory": "2 GB"}},
        "limits.memory",
        "is not a memory size; use a number with K, M, G or T",
    ),
    ({"limits": {"memory": "2GB"}}, "limits.memory", "not a memory size"),
    ({"limits": {"memory": "1g"}}, "limits.memory", "write it as 1G"),
    ({"limits": {"memory": "512"}}, "limits.memory", "no unit"),
    ({"limits": {"memory": "0G"}}, "limits.memory", "more than 0"),
    ({"limits": {"memory": -5}}, "limits.memory", "more than 0"),
    ({"limits": {"memory": 512}}, "limits.memory", "did you mean 512M"),
    ({"limits": {"memory": 1.5}}, "limits.memory", "not a memory size"),
    ({"limits": {"cpu": 0}}, "limits.cpu", "too small"),
    ({"limits": {"cpu": -1.5}}, "limits.cpu", "too small"),
    ({"limits": {"cpu": "two"}}, "limits.cpu", "not a number of CPUs"),
    ({"limits": {"cpu": True}}, "limits.cpu", "not a number of CPUs"),
    ({"limits": {"memroy": "1G"}}, "limits.memroy", "did you mean limits.memory?"),
    ({"memory": "1G"}, "memory", "did you mean limits.memory?"),
    ({"limits": ["1G"]}, "limits", "not a section"),
    ({"http": {"port": 0}}, "http.port", "port number from 1 to 65535"),
    ({"http": {"port": 70000}}, "http.port", "port number from 1 to 65535"),
    ({"http": {"port": "eighty"}}, "http.port", "port number"),
    ({"http": {"port": 80.5}}, "http.port", "not a whole number"),
    ({"http": {"port": None}}, "http.port", "is empty (null)"),
    ({"http": {"address": "localhost"}}, "http.address", "use 127.0.0.1"),
    ({"http": {"address": "1.2.3.999"}}, "http.address", "not an IP address"),
    ({"https": {"port": -1}}, "https.port", "port number"),
    ({"https": {"enabled": "yes"}}, "https.enabled", "true or false"),
    ({"https": {"enabled": True}}, "https.enabled", "needs a certificate"),
    ({"https": {"enabled": True, "tls": {"cert": "/c.pem"}}}, "https.tls.key", "missing"),
    ({"https": {"enabled": True, "tls": {"key": "/k.pem"}}}, "https.tls.cert", "missing"),
    (
        {"https": {"enabled": True, "letsencrypt": {"email": "a@b.org"}}},
        "https.letsencrypt.domains",
        "at least one",
    ),
    (
        {"https": {"enabled": True, "letsencrypt": {"domains": ["a.org"]}}},
        "https.letsencrypt.email",
        "contact",
    ),
    ({"https": {"enabled": True, "tls": TLS, "port": 80}}, "https.port", "also http.port"),
    ({"https": {"tls": {"cert": "certs/hub.pem"}}}, "https.tls.cert", "absolute path"),
    (
        {"https": {"enabled": True, "tls": {"cert": "/nonexistent/c.pem", "key": "/etc/hostname"}}},
        "https.tls.cert",
        "does not exist",
    ),
    (
        {"https": {"enabled": True, "tls": {"cert": "/etc/hostname", "key": "/"}}},
        "https.tls.key",
        "is not a file",
    ),
    (
        {"https": {"letsencrypt": {"email": "not-an-email"}}},
        "https.letsencrypt.email",
        "not an email",
    ),
    (
        {"https": {"letsencrypt": {"domains": ["*.example.org"]}}},
        "https.letsencrypt.domains",
        "wildcard",
    ),
    (
        {"https": {"letsencrypt": {"domains": ["10.0.0.1"]}}},
        "https.letsencrypt.domains",
        "IP address",
    ),
    (
        {"https": {"letsencrypt": {"domains": ["bad_domain!"]}}},
        "https.letsencrypt.domains",
        "not a domain",
    ),
    ({"https": {"letsencrypt": {"staging": "no"}}}, "https.letsencrypt.staging", "true or false"),
    ({"https": {"tsl": TLS}}, "https.tsl", "did you mean https.tls?"),
    ({"traefik_api": {"ip": "not-an-ip"}}, "traefik_api.ip", "not an IP address"),
    ({"traefik_api": {"ip": ""}}, "traefik_api.ip", "not an IP address"),
    ({"traefik_api": {"port": 80}}, "traefik_api.port", "also http.port"),
    (
        {"traefik_api": {"port": 443}, "https": {"enabled": True, "tls": TLS}},
        "traefik_api.port",
        "also https.port",
    ),
    ({"traefik_api": {"username": ""}}, "traefik_api.username", "must not be empty"),
    ({"traefik_api": {"password": 1234}}, "traefik_api.password", "quote it"),
    (
        {"user_environment": {"default_app": "lab"}},
        "user_environment.default_app",
        "not one of jupyterlab, classic",
    ),
    (
        {"user_environment": {"default_app": "nteract"}},
        "user_environment.default_app",
        "not one of",
    ),
    ({"user_environment": {"default_app": 5}}, "user_environment.default_app", "not one of"),
    ({"services": {"cull": {"timeout": 0}}}, "services.cull.timeout", "too small"),
    ({"services": {"cull": {"every": "often"}}}, "services.cull.every", "number of seconds"),
    ({"services": {"cull": {"concurrency": 0}}}, "services.cull.concurrency", "too small"),
    ({"services": {"cull": {"max_age": -1}}}, "services.cull.max_age", "too small"),
    ({"services": {"cull": {"enabled": "true"}}}, "services.cull.enabled", "true or false"),
    ({"services": {"cull": {"users": 1}}}, "services.cull.users", "true or false"),
    (
        {"services": {"cull": {"remove_named_servers": None}}},
        "services.cull.remove_named_servers",
        "empty",
    ),
    ({"services": {"culler": {}}}, "services.culler", "did you mean services.cull?"),
    ({"user_env": {}}, "user_env", "unknown key"),
    ({"plugins": {"x": 1}}, "plugins", "unknown key"),
]


def texts(problems: list[Problem]) -> list[str]:
    """The problems as admins read them, one line each."""
    return [str(p) for p in problems]


def _ids() -> list[str]:
    return [f"{i}-{path}" for i, (_, path, _) in enumerate(BAD)]


def test_table_is_big_enough() -> None:
    assert len(BAD) >= 40


@pytest.mark.parametrize(("config", "path", "text"), BAD, ids=_ids())
def test_bad_config_is_rejected_naming_the_key(
    config: dict[str, Any], path: str, text: str
) -> None:
    problems = validate(config)
    assert problems, f"{config!r} was accepted"
    matching = [str(p) for p in problems if p.path == path]
    assert matching, f"no problem names {path}: {problems}"
    assert all(m.startswith(f"{path}: ") for m in matching)
    assert any(text in p for p in matching), f"{text!r} not in {matching}"
    with pytest.raises(ConfigValidationError) as info:
        check(config)
    assert info.value.problems == problems


def test_memory_message_matches_documented_wording() -> None:
    assert texts(validate({"limits": {"memory": "2 GB"}})) == [
        "limits.memory: '2 GB' is not a memory size; use a number with K, M, G or T, e.g. 2G"
    ]


GOOD: list[dict[str, Any]] = [
    {},
    DEFAULTS,
    {"base_url": "/jupyter/"},
    {"auth": {"type": "dummy", "DummyAuthenticator": {"password": "pw"}}},
    {"auth": {"type": "oauthenticator.github.GitHubOAuthenticator"}},
    {"auth": {"type": "mypkg.auth:MyAuthenticator", "MyAuthenticator": {"a": [1, 2]}}},
    {"auth": {"type": "native", "NativeAuthenticator": {"open_signup": True, "x": None}}},
    {"auth": {"type": "firstuse", "FirstUseAuthenticator": None}},
    {"users": {"admin": ["alice", "1234", "bob@example.org"], "allowed": [], "banned": None}},
    {"users": {"extra_user_groups": {"teachers": ["alice"], "data_science-2": None}}},
    {"users": None},
    {"limits": {"memory": "1G", "cpu": 2}},
    {"limits": {"memory": "1.5G", "cpu": 0.5}},
    {"limits": {"memory": "512M"}},
    {"limits": {"memory": 2**30, "cpu": None}},
    {"http": {"address": "0.0.0.0", "port": 8080}},
    {"http": {"address": "::1"}},
    {"https": {"enabled": True, "letsencrypt": {**LE, "staging": True}}},
    {"https": {"enabled": False, "tls": {"cert": "/only/cert.pem"}}},
    {"traefik_api": {"ip": "127.0.0.1", "port": 8099, "username": "api", "password": "s"}},
    {"user_environment": {"default_app": "classic"}},
    {"services": {"cull": {"enabled": False, "timeout": 3600, "every": 300, "max_age": 0}}},
]


@pytest.mark.parametrize("config", GOOD)
def test_good_config_is_accepted(config: dict[str, Any]) -> None:
    assert validate(config) == []
    check(config)


def test_https_with_readable_certificate_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.write_text("cert")
    key.write_text("key")
    config = {"https": {"enabled": True, "tls": {"cert": str(cert), "key": str(key)}}}
    assert validate(config) == []
    key.unlink()
    assert texts(validate(config)) == [
        f"https.tls.key: '{key}' does not exist; HTTPS needs it while https.enabled is true"
    ]
    # Files only matter while HTTPS is on.
    config["https"]["enabled"] = False
    assert validate(config) == []


@pytest.mark.parametrize(("config", "path", "text"), BAD, ids=_ids())
def test_bad_config_writes_nothing(
    config: dict[str, Any], path: str, text: str, tmp_path: Path
) -> None:
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir(parents=True)
    original = "# our hub\nlimits:\n  memory: 1G  # for the course\n"
    layout.config_file.write_text(original)

    def change(data: Any) -> None:
        data.clear()
        data.update(copy.deepcopy(config))

    # cross=True: the change is applied at once, so rules across keys block it too.
    with pytest.raises(ConfigValidationError):
        update_config(layout, change, cross=True)
    assert layout.config_file.read_text() == original
    assert list_history(layout) == []
    assert sorted(p.name for p in layout.config_dir.iterdir()) == ["config.yaml"]


def test_rules_across_keys_wait_for_the_apply(tmp_path: Path) -> None:
    """Saved without applying, a step of a multi-key change is kept and reported as pending."""
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir(parents=True)
    result = update_config(layout, lambda data: data.update({"https": {"enabled": True}}))
    assert result.changed
    assert [p.path for p in result.pending] == ["https.enabled"]
    assert result.remaining == []
    assert "enabled: true" in layout.config_file.read_text()
    with pytest.raises(ConfigValidationError, match="needs a certificate"):
        check(read_config(layout))


def test_top_level_must_be_a_mapping() -> None:
    problems = validate(["a"])  # type: ignore[arg-type]
    assert problems and "mapping" in problems[0].message
    assert problems[0].path == ""
    assert str(problems[0]) == problems[0].message


def test_several_problems_are_all_reported() -> None:
    problems = validate({"limits": {"memory": "x", "cpu": -1}, "http": {"port": 0}})
    assert [p.path for p in problems] == ["limits.memory", "limits.cpu", "http.port"]
    assert [str(p).split(":")[0] for p in problems] == [p.path for p in problems]


def test_extra_schema_lets_plugins_add_top_level_keys() -> None:
    extra = {
        "myplugin": {
            "type": "object",
            "properties": {"level": {"type": "integer", "minimum": 1, "default": 3}},
        }
    }
    assert validate({"myplugin": {"level": 2}}) != []
    assert validate({"myplugin": {"level": 2}}, extra_schema=extra) == []
    problems = validate({"myplugin": {"levle": 2}}, extra_schema=extra)
    assert texts(problems) == ["myplugin.levle: unknown key; did you mean myplugin.level?"]
    assert str(validate({"myplugin": {"level": 0}}, extra_schema=extra)[0]).startswith(
        "myplugin.level: "
    )


def test_extra_schema_cannot_redefine_core_keys() -> None:
    with pytest.raises(ValueError, match="users"):
        validate({}, extra_schema={"users": {"type": "any"}})


def test_key_problem_suggests() -> None:
    assert key_problem("limits.memroy") == Problem(
        "limits.memroy", "unknown key; did you mean limits.memory?", kind=UNKNOWN_KEY
    )
    assert str(key_problem("limits.memroy")) == (
        "limits.memroy: unknown key; did you mean limits.memory?"
    )
    assert key_problem("limits.memory") is None
    assert key_problem("auth.GitHubOAuthenticator.client_id") is None


def test_ruamel_loaded_config_validates_like_plain() -> None:
    from ruamel.yaml import YAML

    data = YAML(typ="rt").load("users:\n  admin:\n  - 1234\nx: &a true\nlimits:\n  cpu: 1.5\n")
    problems = texts(validate(data))
    assert any(p.startswith("users.admin: 1234 is a number") for p in problems)
    assert any(p.startswith("x: unknown key") for p in problems)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin distribution, found by importlib.metadata, that declares a key."""
    (tmp_path / "tljh_fake_plugin.py").write_text(
        "CONFIG_SCHEMA = {'fakeplugin': {'type': 'object', 'properties': {\n"
        "    'level': {'type': 'integer', 'minimum': 1, 'default': 3}}}}\n"
    )
    info = tmp_path / "tljh_fake_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tljh-fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[tljh_config_schema]\nfake = tljh_fake_plugin:CONFIG_SCHEMA\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_schema(refresh=True)
    yield
    monkeypatch.undo()
    plugin_schema(refresh=True)


def test_installed_plugins_declare_top_level_keys(installed_plugin: None) -> None:
    assert validate({"fakeplugin": {"level": 2}}) == []
    assert texts(validate({"fakeplugin": {"levle": 2}})) == [
        "fakeplugin.levle: unknown key; did you mean fakeplugin.level?"
    ]
    assert str(validate({"fakeplugin": {"level": 0}})[0]).startswith(
        "fakeplugin.level: 0 is too small"
    )
    assert str(validate({"otherplugin": {}})[0]).startswith("otherplugin: unknown key")
    assert parse_value("fakeplugin.level", "5") == 5


def test_without_the_plugin_its_keys_are_unknown() -> None:
    plugin_schema(refresh=True)
    assert str(validate({"fakeplugin": {"level": 2}})[0]).startswith("fakeplugin: unknown key")


# Validation is the one place that knows which HTTPS settings can work; the
# traefik files are only rendered from a config that passed it.
@pytest.mark.parametrize(
    "https",
    [
        {"enabled": True},
        {"enabled": True, "letsencrypt": {"email": "a@example.org"}},
        {"enabled": True, "letsencrypt": {"domains": ["x.example.org"]}},
        {"enabled": True, "tls": {"cert": "/a.pem"}},
    ],
)
def test_https_without_certificate_refused(https: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError) as e:
        check({"https": https})
    assert "https" in e.value.message
    assert all(p.path.startswith("https.") for p in e.value.problems)


def test_traefik_api_username_must_fit_basic_auth() -> None:
    assert texts(validate({"traefik_api": {"username": "a:b"}})) == [
        "traefik_api.username: 'a:b' must not contain ':'"
    ]
    assert [p.path for p in validate({"traefik_api": {"username": " "}})] == [
        "traefik_api.username"
    ]


def test_problems_with_list_items_name_the_item() -> None:
    problems = validate({"users": {"admin": ["alice", 1234, "bob"], "banned": ["x", "bob"]}})
    assert [(p.path, p.item) for p in problems] == [("users.admin", 1), ("users.banned", 1)]


def test_key_problem_is_structured() -> None:
    assert key_problem("auth.GithubOAuthenticator.client_id") == Problem(
        "auth.GithubOAuthenticator",
        "unknown class name; did you mean auth.GitHubOAuthenticator? (case matters)",
        kind=UNKNOWN_KEY,
    )
    # A value problem of the probe (null where a value is needed) is not one.
    assert key_problem("http.port") is None


def test_problem_prints_as_one_line() -> None:
    assert str(Problem("limits.memory", "'x' is not a memory size")) == (
        "limits.memory: 'x' is not a memory size"
    )
    assert str(Problem("", "the config must be a mapping")) == "the config must be a mapping"
    error = ConfigValidationError([Problem("a", "one"), Problem("b", "two")])
    assert error.message == "2 problems in the config:\n  a: one\n  b: two"
    assert ConfigValidationError([Problem("a", "one")]).message == "a: one"


# --- what stops what (blocking) ----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"limts": {"memory": "1G"}}, UNKNOWN_KEY),
        ({"limits": {"memroy": "1G"}}, UNKNOWN_KEY),
        ({"auth": {"Type": "dummy"}}, UNKNOWN_KEY),
        ({"auth": {"GithubOAuthenticator": {"client_id": "x"}}}, UNKNOWN_KEY),
        ({"users": {"whitelist": ["a"]}}, RENAMED_KEY),
        ({"users": {"extra_user_groups": {"Bad Group": ["a"]}}}, KEY_NAME),
        ({"limits": {"memory": "lots"}}, VALUE),
        ({"https": {"enabled": True}}, VALUE),
    ],
)
def test_each_problem_has_a_kind(config: dict[str, Any], kind: str) -> None:
    assert [p.kind for p in validate(config)] == [kind]


def test_a_change_refuses_every_problem_running_only_values() -> None:
    unknown = validate({"limts": {"memory": "1G"}})[0]
    renamed = validate({"users": {"blacklist": ["x"]}})[0]
    value = validate({"limits": {"memory": "lots"}})[0]
    for problem in (unknown, renamed, value):
        assert blocking(problem, "change")
    assert not blocking(unknown, "run")
    assert blocking(renamed, "run")  # ignoring it would let banned users in
    assert blocking(value, "run")
    assert split_problems([unknown, value], "run") == ([value], [unknown])


def test_check_for_running_returns_the_keys_it_goes_on_without() -> None:
    config = {"limts": {"memory": "1G"}, "limits": {"memory": "2G"}}
    with pytest.raises(ConfigValidationError, match="limts: unknown key; did you mean limits"):
        check(config)
    ignored = check(config, reader="run")
    assert [str(p) for p in ignored] == ["limts: unknown key; did you mean limits?"]
    with pytest.raises(ConfigValidationError, match=r"limits\.memory"):
        check({"limts": 1, "limits": {"memory": "lots"}}, reader="run")


def test_runnable_leaves_out_unknown_keys_only() -> None:
    config = {
        "limits": {"memory": "2G", "memroy": "1G"},
        "limts": {"cpu": 1},
        "users": {"admin": ["ms.frizzle"]},
    }
    runs, ignored = runnable(config)
    assert runs == {"limits": {"memory": "2G"}, "users": {"admin": ["ms.frizzle"]}}
    assert sorted(p.path for p in ignored) == ["limits.memroy", "limts"]
    assert config["limts"] == {"cpu": 1}  # the caller's config is not changed


def test_runnable_drops_an_unknown_key_under_a_dotted_user_name() -> None:
    runs, ignored = runnable({"limits": {"users": {"ms.frizzle": {"memroy": "1G"}}}})
    assert [p.parts for p in ignored] == [("limits", "users", "ms.frizzle", "memroy")]
    assert runs == {"limits": {"users": {"ms.frizzle": {}}}}


def test_ignored_keys_warning_names_each_key() -> None:
    _, ignored = runnable({"limts": {}, "memory": "1G"})
    text = ignored_keys_warning("/opt/tljh/config/config.yaml", ignored)
    assert text.startswith("warning: /opt/tljh/config/config.yaml has 2 keys TLJH does not know")
    assert "\n  limts: unknown key; did you mean limits?" in text
    assert "\n  memory: unknown key; did you mean limits.memory?" in text
    assert "hint: " in text
