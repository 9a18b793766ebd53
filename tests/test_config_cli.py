"""tljh-config, driven through main([...]) on a temporary --config-path."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import held_lock

from tljh.cli.config import main
from tljh.config.fallback import Fallback, write_fallback
from tljh.config.history import list_history
from tljh.config.store import ConfigFiles
from tljh.layout import Layout


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Keep the real /opt/tljh out of reach even if a test forgets --config-path.
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "prefix"))
    return tmp_path / "config.yaml"


def run(cfg: Path, *args: str) -> int:
    return main(["--config-path", str(cfg), *args])


def test_set_writes_and_prints_reload_hint(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "set", "limits.memory", "1G") == 0
    assert cfg.read_text() == "limits:\n  memory: 1G\n"
    out = capsys.readouterr().out
    assert "Set limits.memory = '1G'." in out
    assert "sudo tljh-config reload" in out


def test_set_typed_values(cfg: Path) -> None:
    assert run(cfg, "set", "limits.cpu", "1.5") == 0
    assert run(cfg, "set", "http.port", "8080") == 0
    assert run(cfg, "set", "services.cull.enabled", "false") == 0
    assert run(cfg, "set", "auth.DummyAuthenticator.password", "1234", "--type", "str") == 0
    text = cfg.read_text()
    assert "cpu: 1.5" in text
    assert "port: 8080" in text
    assert "enabled: false" in text
    assert "password: '1234'" in text


def test_https_keys_mention_proxy_reload(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "set", "http.port", "8080") == 0
    assert "restarts the proxy too" in capsys.readouterr().out


def test_invalid_set_writes_nothing(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text("# keep me\nlimits:\n  memory: 1G\n")
    before = cfg.read_text()
    assert run(cfg, "set", "limits.memory", "2 GB") == 1
    err = capsys.readouterr().err
    assert "limits.memory: '2 GB' is not a memory size" in err
    assert "Traceback" not in err
    assert cfg.read_text() == before
    assert list_history(ConfigFiles.for_file(cfg)) == []


def test_invalid_set_on_missing_file_creates_nothing(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "http.port", "99999") == 1
    assert "http.port: 99999 is too large" in capsys.readouterr().err
    assert not cfg.exists()


def test_unknown_key_is_refused_with_suggestion(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "limits.memroy", "1G") == 1
    assert "did you mean limits.memory?" in capsys.readouterr().err
    assert not cfg.exists()


def test_numeric_username_stays_text(cfg: Path) -> None:
    assert run(cfg, "add-item", "users.admin", "1234") == 0
    assert cfg.read_text() == "users:\n  admin:\n  - '1234'\n"


def test_add_and_remove_item(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "add-item", "users.admin", "alice") == 0
    assert run(cfg, "add-item", "users.admin", "bob") == 0
    assert run(cfg, "add-item", "users.admin", "alice") == 0
    assert "already in users.admin" in capsys.readouterr().out
    assert cfg.read_text() == "users:\n  admin:\n  - alice\n  - bob\n"
    assert run(cfg, "remove-item", "users.admin", "alice") == 0
    assert "Removed 'alice' from users.admin." in capsys.readouterr().out
    assert cfg.read_text() == "users:\n  admin:\n  - bob\n"


def test_remove_absent_item_fails(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "add-item", "users.admin", "bob") == 0
    before = cfg.read_text()
    assert run(cfg, "remove-item", "users.admin", "alice") == 1
    err = capsys.readouterr().err
    assert "error: 'alice' is not in users.admin" in err
    assert "hint: users.admin holds: 'bob'" in err
    assert cfg.read_text() == before


def test_add_item_on_scalar_fails(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "set", "limits.memory", "1G") == 0
    assert run(cfg, "add-item", "limits.memory", "2G") == 1
    assert "limits.memory is not a list" in capsys.readouterr().err


def test_unset(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "set", "limits.memory", "1G") == 0
    assert run(cfg, "set", "http.port", "8080") == 0
    assert run(cfg, "unset", "limits.memory") == 0
    assert "Unset limits.memory (it is now the default, null)" in capsys.readouterr().out
    assert cfg.read_text() == "http:\n  port: 8080\n"
    assert run(cfg, "unset", "limits.memory") == 1
    assert "limits.memory is not set" in capsys.readouterr().err


def test_unset_typo_suggests(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "unset", "limits.memroy") == 1
    assert "did you mean limits.memory?" in capsys.readouterr().err


def test_unset_removes_an_unknown_key_from_a_hand_edited_file(cfg: Path) -> None:
    cfg.write_text("users:\n  admins:\n  - alice\n")
    assert run(cfg, "unset", "users.admins") == 0
    assert cfg.read_text() == ""


def test_show_masks_secrets(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text(
        "# my hub\n"
        "auth:\n"
        "  type: github\n"
        "  GitHubOAuthenticator:\n"
        "    client_id: public-id\n"
        "    client_secret: very-secret\n"
        "traefik_api:\n"
        "  password: hunter2\n"
        "https:\n"
        "  tls:\n"
        "    key: /etc/ssl/private/hub.key\n"
    )
    assert run(cfg, "show") == 0
    out = capsys.readouterr().out
    assert "# my hub" in out
    assert "public-id" in out
    assert "very-secret" not in out
    assert "hunter2" not in out
    assert out.count("********") == 2
    assert "/etc/ssl/private/hub.key" in out  # a path, not a secret
    assert run(cfg, "show", "--show-secrets") == 0
    out = capsys.readouterr().out
    assert "very-secret" in out and "hunter2" in out
    assert "very-secret" in cfg.read_text()  # showing never changes the file


def test_show_defaults(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "set", "limits.memory", "1G") == 0
    capsys.readouterr()
    assert run(cfg, "show", "--defaults") == 0
    out = capsys.readouterr().out
    assert "memory: 1G" in out
    assert "timeout: 600" in out


def test_get(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "set", "limits.memory", "1G") == 0
    assert run(cfg, "add-item", "users.admin", "alice") == 0
    assert run(cfg, "set", "traefik_api.password", "pw") == 0
    capsys.readouterr()
    assert run(cfg, "get", "limits.memory") == 0
    assert capsys.readouterr().out == "1G\n"
    assert run(cfg, "get", "http.port") == 0  # not set: the default
    assert capsys.readouterr().out == "80\n"
    assert run(cfg, "get", "users.admin") == 0
    assert capsys.readouterr().out == "- alice\n"
    assert run(cfg, "get", "traefik_api.password") == 0
    assert capsys.readouterr().out == "********\n"
    assert run(cfg, "get", "traefik_api.password", "--show-secrets") == 0
    assert capsys.readouterr().out == "pw\n"
    assert run(cfg, "get", "https.enabled") == 0
    assert capsys.readouterr().out == "false\n"
    assert run(cfg, "get", "limits.memroy") == 1
    assert "did you mean limits.memory?" in capsys.readouterr().err


def test_validate(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text("limits:\n  memory: 1G\n")
    assert run(cfg, "validate") == 0
    assert "is valid" in capsys.readouterr().out
    other = tmp_path / "other.yaml"
    other.write_text("limits:\n  memory: 2 GB\nhttp:\n  port: 0\n")
    assert main(["validate", str(other)]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err
    assert "limits.memory: " in err and "http.port: " in err
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_yaml_error_is_reported_without_traceback(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg.write_text("limits:\n\tmemory: 1G\n")
    assert run(cfg, "set", "limits.cpu", "1") == 1
    err = capsys.readouterr().err
    assert "line 2, column 1" in err
    assert "Traceback" not in err
    assert cfg.read_text() == "limits:\n\tmemory: 1G\n"


def test_locked_config(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = ConfigFiles.for_file(cfg)
    with held_lock(files.config_lock):
        code = main(["--config-path", str(cfg), "--lock-timeout", "0.1", "set", "base_url", "/x/"])
    assert code == 1
    assert "being changed by another tljh-config" in capsys.readouterr().err
    assert not cfg.exists()


def test_config_path_after_the_command(cfg: Path) -> None:
    assert main(["set", "--config-path", str(cfg), "base_url", "/x/"]) == 0
    assert cfg.read_text() == "base_url: /x/\n"


def test_help_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    for command in (
        "show",
        "get",
        "set",
        "unset",
        "add-item",
        "remove-item",
        "reload",
        "validate",
        "edit",
        "history",
        "rollback",
    ):
        assert command in top
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "Example:" in out and "tljh-config" in out


def test_usage_errors_return_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "only-a-key"]) == 2
    assert main(["reload", "database"]) == 2
    assert main([]) == 2
    capsys.readouterr()


def test_reload_refuses_invalid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "prefix"
    (prefix / "config").mkdir(parents=True)
    (prefix / "config" / "config.yaml").write_text("http:\n  port: 0\n")
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(prefix))
    assert main(["reload"]) == 1
    assert "http.port: " in capsys.readouterr().err


def test_upstream_https_order_is_accepted_step_by_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Upstream's how-to turns HTTPS on before it names a domain; reload checks the whole."""
    prefix = tmp_path / "prefix"
    (prefix / "config").mkdir(parents=True)
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(prefix))
    assert main(["set", "https.enabled", "true"]) == 0
    err = capsys.readouterr().err
    assert "will refuse the config until this is settled" in err
    assert "https.enabled: true needs a certificate" in err
    # Applying is refused with the rule's own message, before anything restarts.
    assert main(["reload", "proxy"]) == 1
    err = capsys.readouterr().err
    assert "https.enabled: true needs a certificate" in err
    assert "nothing was restarted" in err
    assert main(["set", "https.letsencrypt.email", "you@example.org"]) == 0
    assert "https.letsencrypt.domains: empty" in capsys.readouterr().err
    assert main(["add-item", "https.letsencrypt.domains", "hub.example.org"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["validate"]) == 0


def test_set_still_refuses_a_bad_value_of_its_own(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cfg, "set", "https.letsencrypt.email", "not an address") == 1
    assert "https.letsencrypt.email" in capsys.readouterr().err
    assert not cfg.exists()


def test_show_and_validate_say_the_hub_runs_on_known_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = Layout(prefix=tmp_path)
    layout.config_dir.mkdir()
    layout.config_file.write_text("limits:\n  memory: lots\n")
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    note = Fallback(("config.yaml",), ("limits.memory: not a size",), 999_999_999, 1.0)
    write_fallback(layout, note)
    assert main(["validate"]) == 1
    assert "known-good" not in capsys.readouterr().err  # no such hub process: an old note
    hub = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "jupyterhub"])
    try:
        write_fallback(layout, replace(note, pid=hub.pid))
        assert main(["validate"]) == 1
        err = capsys.readouterr().err
    finally:
        hub.kill()
        hub.wait()
    assert "note: the hub runs on the last known-good config.yaml" in err
    assert "limits.memory: not a size" in err
    main(["show"])  # the hub process has gone since
    assert "known-good" not in capsys.readouterr().err


# --- upstream's forms -----------------------------------------------------------------


def test_set_on_a_group_of_extra_user_groups_stores_a_list_of_that_user(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As upstream's docs write it; upstream stored the bare name, which its
    # spawner refused at every server start.
    assert run(cfg, "set", "users.extra_user_groups.group1", "user1") == 0
    assert cfg.read_text() == "users:\n  extra_user_groups:\n    group1:\n    - user1\n"
    assert "Set users.extra_user_groups.group1 = ['user1']." in capsys.readouterr().out
    assert run(cfg, "add-item", "users.extra_user_groups.group1", "user2") == 0
    assert "- user1\n    - user2\n" in cfg.read_text()
    # set replaces, as set does
    assert run(cfg, "set", "users.extra_user_groups.group1", "user3") == 0
    assert "group1:\n    - user3\n" in cfg.read_text()


def test_set_on_a_fixed_list_is_still_refused(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg.write_text("users:\n  admin:\n  - ada\n  - bob\n")
    assert run(cfg, "set", "users.admin", "eve") == 1
    assert "add-item users.admin eve" in capsys.readouterr().err
    assert "bob" in cfg.read_text()


@pytest.mark.parametrize("where", ["before", "after"])
def test_no_validate_saves_and_lists_what_it_let_through(
    cfg: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    args = ["set", "limits.memroy", "1G"]
    args = ["--no-validate", *args] if where == "before" else [*args, "--no-validate"]
    assert run(cfg, *args) == 0
    assert cfg.read_text() == "limits:\n  memroy: 1G\n"
    err = capsys.readouterr().err
    assert "saved WITHOUT validation" in err
    assert "limits.memroy: unknown key; did you mean limits.memory?" in err
    # Kept in the history like any change, and undone like any change.
    assert run(cfg, "--no-validate", "unset", "limits.memroy") == 0
    assert len(list_history(ConfigFiles.for_file(cfg))) == 1


def test_validate_is_the_default(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "--validate", "set", "limits.memory", "lots") == 1
    assert run(cfg, "set", "limits.memory", "1G", "--validate") == 0
    assert run(cfg, "--no-validate", "add-item", "users.admin", "1234", "--type", "int") == 0
    assert "users.admin: 1234 is a number" in capsys.readouterr().err
    assert run(cfg, "--no-validate", "remove-item", "users.admin", "1234", "--type", "int") == 0
    assert run(cfg, "--validate", "show") == 0


def test_reload_takes_no_component_hub_or_proxy() -> None:
    from tljh.cli.config import COMMANDS
    from tljh.cli.config_args import build_parser

    parser = build_parser(COMMANDS)
    assert parser.parse_args(["reload"]).component == "hub"
    assert parser.parse_args(["reload", "hub"]).component == "hub"
    assert parser.parse_args(["reload", "proxy"]).component == "proxy"
    assert parser.parse_args(["--no-validate", "reload", "proxy"]).validate is False
    with pytest.raises(SystemExit):
        parser.parse_args(["reload", "database"])
