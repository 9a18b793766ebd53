"""A server that cannot start fails in seconds, saying why, on the spawn page and in the
journal: not after JupyterHub's 30-60 s timeout with "didn't respond"."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient, HubError
from machine import system_name

SINGLEUSER = Path("/opt/tljh/user/bin/jupyterhub-singleuser")
#: The issue's bound; a healthy failure takes about two seconds.
FAST = 15


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> Iterator[None]:
    use_dummy_auth()
    yield


@pytest.fixture
def broken_user_env() -> Iterator[Path]:
    """The user environment without its jupyterhub-singleuser (put back afterwards)."""
    aside = SINGLEUSER.with_name(SINGLEUSER.name + ".test-aside")
    shutil.move(SINGLEUSER, aside)
    try:
        yield aside
    finally:
        SINGLEUSER.unlink(missing_ok=True)
        shutil.move(aside, SINGLEUSER)


def spawn_page_failure(client: HubClient) -> str:
    """What the spawn page says about the last start (the hub's progress events)."""
    with client.get(
        client._user_api("/server/progress"),
        stream=True,
        headers={"Accept": "text/event-stream"},
        timeout=(10, 20),
    ) as r:
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("failed"):
                    return str(event.get("message"))
    return ""


def failed_start(hub_url: str, name: str) -> tuple[float, str, str]:
    """Log in as name and start a server that must fail: (seconds, API error, spawn page)."""
    client = HubClient(hub_url)
    client.login(name, PASSWORD)
    started = time.monotonic()
    with pytest.raises(HubError) as e:
        client.start_server(timeout=90)
    seconds = time.monotonic() - started
    return seconds, str(e.value), spawn_page_failure(client)


def hub_journal(since: str) -> str:
    return subprocess.run(
        ["journalctl", "-u", "jupyterhub", "--since", since, "--no-pager", "-o", "cat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_missing_singleuser_fails_fast_and_says_why(
    hub_url: str, broken_user_env: Path, timings
) -> None:
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    seconds, error, page = failed_start(hub_url, "broken-env")
    timings("failed_spawn_seconds", round(seconds, 2))
    assert seconds < FAST, error
    for shown in (error, page):
        assert f"could not start: {SINGLEUSER} is missing" in shown, shown
        assert "re-running the installer repairs it" in shown, shown
        assert "journalctl -u " + system_name("broken-env") in shown, shown
    assert page.startswith("Spawn failed:")
    assert str(SINGLEUSER) in hub_journal(since)


def test_singleuser_that_exits_fails_fast_with_its_own_words(
    hub_url: str, broken_user_env: Path
) -> None:
    SINGLEUSER.write_text(
        "#!/bin/sh\necho 'ModuleNotFoundError: No module named jupyterhub_broken' >&2\nexit 1\n"
    )
    SINGLEUSER.chmod(0o755)
    seconds, error, page = failed_start(hub_url, "exits-at-once")
    assert seconds < FAST, error
    for shown in (error, page):
        assert "the server stopped before it answered (exit-code, status 1)" in shown, shown
        assert "No module named jupyterhub_broken" in shown, shown


def test_lost_home_directory_fails_fast(hub_url: str) -> None:
    # A server that worked once; then its home directory went away.
    name = "lost-home"
    client = HubClient(hub_url)
    client.login(name, PASSWORD)
    client.start_server()
    client.stop_server()
    home = Path("/home") / system_name(name)
    aside = home.with_name(home.name + ".test-aside")
    home.rename(aside)
    try:
        seconds, error, page = failed_start(hub_url, name)
    finally:
        aside.rename(home)
    assert seconds < FAST, error
    assert "working directory" in page, page


def test_after_the_fix_the_server_starts(hub_url: str) -> None:
    client = HubClient(hub_url)
    client.login("broken-env", PASSWORD)
    client.start_server()
    assert client.execute("5 * 4") == "20"
    client.stop_server()
