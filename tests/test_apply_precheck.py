"""The pre-restart check: the hub's real config file, loaded by a real subprocess.

Nothing is mocked: ``python -m tljh.hub.config_check`` executes
``tljh/hub/jupyterhub_config.py`` with this checkout's JupyterHub against an
install under a temporary prefix.  That the running hub is untouched when it
refuses is tested on a real install by integration-tests/test_35_apply.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_install

from tljh.apply.precheck import check_hub_config
from tljh.errors import ConfigRefused
from tljh.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = make_install(tmp_path)
    lay.traefik_api_secret.write_text("s3cret\n")
    return lay


def refused(layout: Layout) -> str:
    with pytest.raises(ConfigRefused) as info:
        check_hub_config(layout)
    assert "tljh-config reload" in info.value.hint
    return info.value.message


def test_a_working_configuration_passes(layout: Layout) -> None:
    check_hub_config(layout)
    assert sorted(p.name for p in layout.state_dir.iterdir()) == ["traefik-api.secret"]


def test_a_raising_snippet_is_refused_with_its_traceback(layout: Layout) -> None:
    (layout.jupyterhub_config_d / "50-broken.py").write_text("x = 1\nraise ValueError('oops')\n")
    message = refused(layout)
    assert message.startswith("the hub would not start with this configuration:")
    assert "50-broken.py" in message and "ValueError: oops" in message


def test_an_authenticator_that_does_not_import_is_refused(layout: Layout) -> None:
    layout.config_file.write_text("auth:\n  type: nosuchpackage.NoSuchAuthenticator\n")
    message = refused(layout)
    assert "authenticator_class = 'nosuchpackage.NoSuchAuthenticator' does not import" in message
    assert "ModuleNotFoundError: No module named 'nosuchpackage'" in message


def test_a_value_jupyterhub_refuses_is_refused(layout: Layout) -> None:
    (layout.jupyterhub_config_d / "50-port.py").write_text("c.JupyterHub.port = 'eighty'\n")
    assert "expected an int, not the str 'eighty'" in refused(layout)


def test_a_value_the_authenticator_refuses_is_refused(layout: Layout) -> None:
    (layout.jupyterhub_config_d / "50-auth.py").write_text(
        "c.Authenticator.allowed_users = 'alice'\n"
    )
    assert "c.Authenticator.allowed_users = 'alice'" in refused(layout)


def test_a_value_the_spawner_refuses_is_refused(layout: Layout) -> None:
    (layout.jupyterhub_config_d / "50-spawner.py").write_text(
        "c.SystemdSpawner.mem_limit = 'a lot'\n"
    )
    assert "c.SystemdSpawner.mem_limit = 'a lot'" in refused(layout)


def test_an_invalid_config_yaml_is_refused_with_its_problems(layout: Layout) -> None:
    layout.config_file.write_text("limits:\n  memory: lots\n")
    assert "limits.memory" in refused(layout)


def test_unknown_settings_are_not_refused(layout: Layout) -> None:
    # JupyterHub only warns about them; so does the check.
    (layout.jupyterhub_config_d / "50-typo.py").write_text("c.Spawner.mem_limitt = '1G'\n")
    check_hub_config(layout)


def test_a_snippet_that_hangs_is_refused_in_time(layout: Layout) -> None:
    (layout.jupyterhub_config_d / "50-slow.py").write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(ConfigRefused, match="took more than 2 s"):
        check_hub_config(layout, timeout=2)


def test_a_refused_change_puts_the_files_back_and_restarts_nothing(layout: Layout) -> None:
    from tljh.apply.proxy_files import write_proxy_files
    from tljh.apply.snapshot import record_known_good
    from tljh.apply.transaction import apply_changes
    from tljh.config.store import load_checked_config
    from tljh.errors import ApplyFailed

    write_proxy_files(layout, load_checked_config(layout))
    record_known_good(layout)
    good = layout.config_file.read_bytes()
    layout.config_file.write_text("auth:\n  type: nosuchpackage.NoSuchAuthenticator\n")
    said: list[str] = []
    with pytest.raises(ApplyFailed) as info:
        apply_changes(layout, always=["hub"], say=said.append)
    err = info.value
    assert err.rolled_back and err.exit_code == 1
    assert err.message.startswith("the hub would not start with this configuration:")
    assert "Nothing was restarted" in err.message
    assert layout.config_file.read_bytes() == good
    assert not any(line.startswith("Restarting") for line in said), said


# --- tljh-config reload --dry-run ---------------------------------------------------


def _installed(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    from tljh.apply.proxy_files import write_proxy_files
    from tljh.apply.snapshot import record_known_good
    from tljh.config.store import load_checked_config

    write_proxy_files(layout, load_checked_config(layout))
    record_known_good(layout)
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(layout.prefix))


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_dry_run_says_what_would_restart_and_why(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tljh.cli.config import main

    _installed(layout, monkeypatch)
    layout.config_file.write_text("limits:\n  memory: 2G\nhttp:\n  port: 8080\n")
    (layout.jupyterhub_config_d / "20-new.py").write_text("c.JupyterHub.y = 2\n")
    before = _tree(layout.prefix)
    assert main(["reload", "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "Dry run: nothing is changed or restarted.\n"
        "Would restart the proxy:\n"
        "  - http.port changed\n"
        "Would restart the hub:\n"
        "  - 'tljh-config reload' always restarts the hub\n"
        "  - http.port changed\n"
        "  - limits.memory changed\n"
        "  - jupyterhub_config.d/20-new.py added\n"
        "The hub's configuration loads as the hub will load it.\n"
    )
    assert _tree(layout.prefix) == before


def test_dry_run_of_the_proxy_alone(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tljh.cli.config import main

    _installed(layout, monkeypatch)
    assert main(["reload", "proxy", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Would restart the proxy:\n  - 'tljh-config reload proxy' restarts only" in out
    assert "hub" not in out.replace("tljh-config", "")


def test_dry_run_refuses_what_the_hub_would_refuse(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tljh.cli.config import main

    _installed(layout, monkeypatch)
    (layout.jupyterhub_config_d / "50-broken.py").write_text("raise ValueError('oops')\n")
    before = _tree(layout.prefix)
    assert main(["reload", "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "  - jupyterhub_config.d/50-broken.py added" in captured.out
    assert "the hub would not start with this configuration" in captured.err
    assert _tree(layout.prefix) == before
