"""Applying without restarting anything, and the decisions of a rollback before it restarts.

The paths that restart units (a change that works, one rolled back) are tested
on a real install by integration-tests/test_30_config.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_install

from tljh.apply.proxy_files import proxy_files_stale, write_proxy_files
from tljh.apply.snapshot import (
    read_known_good,
    record_known_good,
    take_snapshot,
)
from tljh.apply.transaction import ApplyTransaction, apply_changes, reload
from tljh.config.store import load_checked_config
from tljh.errors import ApplyFailed, ConfigError, InstallError, StartFailed, TLJHError
from tljh.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """An install whose proxy files match its config, recorded as known to work."""
    lay = make_install(tmp_path)
    lay.traefik_api_secret.write_text("s3cret\n")
    write_proxy_files(lay, load_checked_config(lay))
    record_known_good(lay)
    return lay


def test_nothing_to_restart(layout: Layout) -> None:
    said: list[str] = []
    assert apply_changes(layout, say=said.append) == []
    assert said == [
        "Nothing to restart: the hub and the proxy already run with this configuration."
    ]


def test_a_comment_only_change_is_recorded_as_known_good(layout: Layout) -> None:
    layout.config_file.write_text("# why 1G: see the ticket\nlimits:\n  memory: 1G\n")
    assert apply_changes(layout) == []
    good = read_known_good(layout)
    assert good is not None and good.same_files(take_snapshot(layout))


def test_an_invalid_config_is_refused_before_anything_else(layout: Layout) -> None:
    layout.config_file.write_text("limits:\n  memory: lots\n")
    before = read_known_good(layout)
    with pytest.raises(ConfigError, match=r"limits\.memory"):
        apply_changes(layout, always=["hub"])
    assert read_known_good(layout) == before


def test_proxy_files_go_stale_with_a_proxy_setting(layout: Layout) -> None:
    config = load_checked_config(layout)
    assert not proxy_files_stale(layout, config)
    layout.config_file.write_text("http:\n  port: 8080\n")
    assert proxy_files_stale(layout, load_checked_config(layout))
    assert write_proxy_files(layout, load_checked_config(layout))
    assert not write_proxy_files(layout, load_checked_config(layout))


def test_proxy_files_need_the_api_secret(layout: Layout) -> None:
    layout.traefik_api_secret.unlink()
    with pytest.raises(InstallError) as info:
        write_proxy_files(layout, load_checked_config(layout))
    assert "re-run the installer" in info.value.hint


def test_reload_refuses_an_unknown_component(layout: Layout) -> None:
    with pytest.raises(ConfigError, match="unknown component 'database'") as info:
        reload(layout, ["database"])
    assert "'hub' or 'proxy'" in info.value.hint


def _transaction(layout: Layout) -> ApplyTransaction:
    """Hub and proxy restarted for a change to the hub's settings, that failed."""
    return ApplyTransaction(
        layout,
        load_checked_config(layout),
        components=["proxy", "hub"],
        needed={"hub"},
        known_good=read_known_good(layout),
        current=take_snapshot(layout),
    )


def test_without_anything_known_to_work_nothing_is_rolled_back(layout: Layout) -> None:
    failure = StartFailed("jupyterhub.service", "exited while starting", "")
    with pytest.raises(ApplyFailed) as info:
        replace(_transaction(layout), known_good=None).roll_back(failure)
    err = info.value
    assert not err.rolled_back
    assert err.message.startswith(
        "the hub did not work with the new configuration:\n"
        "jupyterhub.service exited while starting\n"
    )
    assert "nothing was rolled back" in err.message
    assert "'sudo tljh-config rollback N' restores one" in err.hint
    assert "journalctl -u jupyterhub.service" in err.hint
    assert take_snapshot(layout).config == b"limits:\n  memory: 1G\n"


def test_when_the_known_good_files_fail_the_cause_is_elsewhere(layout: Layout) -> None:
    snippet = layout.jupyterhub_config_d / "10-ok.py"
    failure = StartFailed("traefik.service", f"exited while starting: {snippet}", "")
    with pytest.raises(ApplyFailed) as info:
        _transaction(layout).roll_back(failure)
    err = info.value
    assert not err.rolled_back
    assert err.message.startswith("the proxy did not work with the new configuration:")
    assert "so the cause is elsewhere" in err.message
    assert f"the log mentions {snippet}" in err.message
    assert err.hint == failure.hint


def test_a_failure_without_a_hint_gets_one(layout: Layout) -> None:
    with pytest.raises(ApplyFailed) as info:
        _transaction(layout).roll_back(TLJHError("systemctl restart failed"))
    assert info.value.message.startswith(
        "the proxy and the hub did not work with the new configuration:"
    )
    assert "journalctl -u jupyterhub.service" in info.value.hint


def test_a_hub_started_on_its_fallback_is_a_failed_restart(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tljh.apply import transaction
    from tljh.config.fallback import Fallback, write_fallback
    from tljh.system.systemd import UnitStatus

    monkeypatch.setattr(
        transaction.systemd, "status", lambda unit: UnitStatus("active", "", 7, 0, 1)
    )
    transaction.refuse_fallback(layout)  # no note: the new files run
    write_fallback(layout, Fallback(("jupyterhub_config.d",), ("50-x.py raises: KeyError",), 6))
    transaction.refuse_fallback(layout)  # a note of an earlier hub process
    write_fallback(layout, Fallback(("jupyterhub_config.d",), ("50-x.py raises: KeyError",), 7))
    with pytest.raises(StartFailed, match=r"on the last known-good files.*50-x.py raises"):
        transaction.refuse_fallback(layout)
