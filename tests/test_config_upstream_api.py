"""Upstream's Python API of tljh.config, on real files: signatures, meaning, our write path."""

from __future__ import annotations

import inspect
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import held_lock

import tljh.config
from tljh.config.history import list_history
from tljh.config.store import ConfigFiles
from tljh.layout import Layout


@pytest.fixture
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "tljh"))
    layout = Layout(prefix=tmp_path / "tljh")
    layout.config_dir.mkdir(parents=True)
    return layout


@pytest.fixture
def cfg(prefix: Layout) -> Path:
    """The installation's own config file, as plugins and scripts name it."""
    assert str(prefix.config_file) == tljh.config.CONFIG_FILE
    return prefix.config_file


# Upstream's signatures, as scripts call them (positional and by keyword).
SIGNATURES = {
    "set_config_value": ["config_path", "key_path", "value", "validate"],
    "unset_config_value": ["config_path", "key_path", "validate"],
    "add_config_value": ["config_path", "key_path", "value", "validate"],
    "remove_config_value": ["config_path", "key_path", "value", "validate"],
    "set_item_in_config": ["config", "property_path", "value"],
    "unset_item_from_config": ["config", "property_path"],
    "add_item_to_config": ["config", "property_path", "value"],
    "remove_item_from_config": ["config", "property_path", "value"],
    "get_current_config": ["config_path"],
    "show_config": ["config_path"],
    "parse_value": ["value_str"],
    "check_hub_ready": [],
    "reload_component": ["component"],
    "config_file_lock": ["config_path", "timeout"],
}


@pytest.mark.parametrize(("name", "params"), SIGNATURES.items())
def test_signatures_are_upstreams(name: str, params: list[str]) -> None:
    func = getattr(tljh.config, name)
    assert list(inspect.signature(func).parameters) == params
    if "validate" in params:
        assert inspect.signature(func).parameters["validate"].default is True
    assert name in dir(tljh.config)


def test_set_config_value_goes_through_the_safe_write_path(cfg: Path, prefix: Layout) -> None:
    cfg.write_text("# the admin's comment\nlimits:\n  memory: 1G\n")
    tljh.config.set_config_value(tljh.config.CONFIG_FILE, "limits.memory", "2G")
    assert cfg.read_text() == "# the admin's comment\nlimits:\n  memory: 2G\n"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    # The previous version is in the installation's history.
    [entry] = list_history(prefix)
    assert entry.read_bytes() == b"# the admin's comment\nlimits:\n  memory: 1G\n"


def test_set_config_value_refuses_an_unknown_key_and_exits(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg.write_text("limits:\n  memory: 1G\n")
    with pytest.raises(SystemExit) as e:
        tljh.config.set_config_value(str(cfg), "limits.memroy", "2G")
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "limits.memroy: unknown key; did you mean limits.memory?" in err
    assert "hint: " in err
    assert cfg.read_text() == "limits:\n  memory: 1G\n"


def test_set_config_value_refuses_a_bad_value(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        tljh.config.set_config_value(cfg, "limits.memory", "lots")
    assert "limits.memory: 'lots' is not a memory size" in capsys.readouterr().err
    assert not cfg.exists()


def test_validate_false_saves_what_validation_refuses(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tljh.config.set_config_value(cfg, "myplugin.level", 3, validate=False)
    assert cfg.read_text() == "myplugin:\n  level: 3\n"
    assert "saved without validation" in capsys.readouterr().err
    tljh.config.unset_config_value(cfg, "myplugin.level", False)
    assert cfg.read_text() == ""


def test_set_on_a_group_stores_a_list(cfg: Path) -> None:
    tljh.config.set_config_value(cfg, "users.extra_user_groups.group1", "user1")
    assert tljh.config.get_current_config(cfg) == {
        "users": {"extra_user_groups": {"group1": ["user1"]}}
    }


def test_unset_config_value(cfg: Path) -> None:
    cfg.write_text("limits:\n  memory: 1G\nhttp:\n  port: 81\n")
    tljh.config.unset_config_value(cfg, "limits.memory")
    assert cfg.read_text() == "http:\n  port: 81\n"
    with pytest.raises(ValueError, match=r"limits\.memory is not set"):
        tljh.config.unset_config_value(cfg, "limits.memory")


def test_add_and_remove_config_value(cfg: Path) -> None:
    # What upstream's CLI passes: parse_value of the text typed.
    tljh.config.add_config_value(cfg, "users.admin", tljh.config.parse_value("ada"))
    tljh.config.add_config_value(cfg, "users.admin", tljh.config.parse_value("1234"))
    tljh.config.add_config_value(cfg, "users.admin", "ada")  # already there
    # A user name stays text, or the hub would refuse it.
    assert tljh.config.get_current_config(cfg)["users"]["admin"] == ["ada", "1234"]
    tljh.config.remove_config_value(cfg, "users.admin", 1234)
    assert tljh.config.get_current_config(cfg)["users"]["admin"] == ["ada"]
    with pytest.raises(ValueError, match=r"'bob' is not in users\.admin"):
        tljh.config.remove_config_value(cfg, "users.admin", "bob")
    with pytest.raises(ValueError, match=r"users\.banned is not set"):
        tljh.config.remove_config_value(cfg, "users.banned", "bob")


def test_another_config_file_keeps_its_own_history(tmp_path: Path, prefix: Layout) -> None:
    other = tmp_path / "elsewhere" / "config.yaml"
    other.parent.mkdir()
    other.write_text("limits:\n  cpu: 1\n")
    tljh.config.set_config_value(str(other), "limits.cpu", 2)
    assert other.read_text() == "limits:\n  cpu: 2\n"
    assert len(list_history(ConfigFiles.for_file(other))) == 1
    assert not prefix.config_file.exists()


def test_get_current_config(cfg: Path) -> None:
    assert tljh.config.get_current_config(cfg) == {}
    cfg.write_text("# c\nusers:\n  admin: [ada]\n")
    assert tljh.config.get_current_config(str(cfg)) == {"users": {"admin": ["ada"]}}


def test_show_config_masks_secrets(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text("auth:\n  GitHubOAuthenticator:\n    client_id: id\n    client_secret: s3cr3t\n")
    tljh.config.show_config(cfg)
    out = capsys.readouterr().out
    assert "client_id: id" in out
    assert "s3cr3t" not in out


def test_pure_edits_return_a_copy() -> None:
    config = {"users": {"admin": ["ada"]}, "limits": {"memory": "1G"}}
    before = {"users": {"admin": ["ada"]}, "limits": {"memory": "1G"}}
    assert tljh.config.set_item_in_config(config, "limits.cpu", 2) == {
        "users": {"admin": ["ada"]},
        "limits": {"memory": "1G", "cpu": 2},
    }
    assert tljh.config.unset_item_from_config(config, "limits.memory") == {
        "users": {"admin": ["ada"]}
    }
    assert tljh.config.add_item_to_config(config, "users.admin", "bob") == {
        "users": {"admin": ["ada", "bob"]},
        "limits": {"memory": "1G"},
    }
    assert tljh.config.remove_item_from_config(config, "users.admin", "ada") == {
        "users": {"admin": []},
        "limits": {"memory": "1G"},
    }
    assert config == before


def test_pure_edits_raise_value_error_like_upstream() -> None:
    with pytest.raises(ValueError, match=r"a\.b is not set"):
        tljh.config.unset_item_from_config({}, "a.b")
    with pytest.raises(ValueError):
        tljh.config.remove_item_from_config({"a": ["x"]}, "a", "y")
    # A single value in the way is not silently replaced by a section.
    with pytest.raises(ValueError, match="limits is a single value"):
        tljh.config.set_item_in_config({"limits": 5}, "limits.memory", "1G")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("none", None),
        ("None", None),
        ("42", 42),
        ("1.5", 1.5),
        ("2.", 2.0),
        ("true", True),
        ("FALSE", False),
        ("-1", "-1"),  # upstream's rules: only unsigned digits are numbers
        ("1G", "1G"),
        ("", ""),
    ],
)
def test_parse_value_is_upstreams(text: str, value: object) -> None:
    parsed = tljh.config.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_config_file_lock_is_the_lock_of_every_writer(
    cfg: Path, prefix: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    with tljh.config.config_file_lock(tljh.config.CONFIG_FILE):
        assert prefix.config_lock.exists()
        # Held here: a write from another thread waits for it.
        done: list[float] = []
        writer = threading.Thread(
            target=lambda: (
                tljh.config.set_config_value(cfg, "limits.cpu", 1),
                done.append(time.monotonic()),
            )
        )
        writer.start()
        time.sleep(0.5)
        assert not done
    released = time.monotonic()
    writer.join(10)
    assert done and done[0] >= released
    assert cfg.read_text() == "limits:\n  cpu: 1\n"


def test_config_file_lock_held_elsewhere_exits(
    cfg: Path, prefix: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        held_lock(prefix.config_lock),
        pytest.raises(SystemExit) as e,
        tljh.config.config_file_lock(cfg, timeout=0.2),
    ):
        pass
    assert e.value.code == 1
    assert "is being changed by another" in capsys.readouterr().err


def test_check_hub_ready_says_why_not(prefix: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on this port: not ready, and the reason is printed.
    prefix.config_file.write_text("http:\n  address: 127.0.0.1\n  port: 9\n")
    assert tljh.config.check_hub_ready() is False
    assert "Hub not ready: nothing answers on http://127.0.0.1:9/hub/api" in capsys.readouterr().out


def test_the_api_is_imported_on_first_use_and_stays_below_apply(tmp_path: Path) -> None:
    code = (
        "import sys, tljh.config\n"
        "assert 'tljh.config.upstream_api' not in sys.modules\n"
        f"tljh.config.set_config_value({str(tmp_path / 'c.yaml')!r}, 'limits.cpu', 1)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"TLJH_INSTALL_PREFIX": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    ).stdout
    mods = set(out.split())
    assert "tljh.config.upstream_api" in mods
    assert not {m for m in mods if m.startswith(("tljh.apply", "tljh.render", "jupyterhub"))}
    assert (tmp_path / "c.yaml").read_text() == "limits:\n  cpu: 1\n"


def test_python_m_tljh_config_is_tljh_config(tmp_path: Path) -> None:
    # Upstream's entry point was tljh.config:main; scripts run it with python3 -m.
    target = tmp_path / "c.yaml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tljh.config",
            "--config-path",
            str(target),
            "set",
            "limits.cpu",
            "2",
        ],
        capture_output=True,
        text=True,
        env={"TLJH_INSTALL_PREFIX": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "limits:\n  cpu: 2\n"
    assert tljh.config.main(["--config-path", str(target), "unset", "limits.memory"]) == 1
