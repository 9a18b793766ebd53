"""The commands of the docs' tutorials and how-to guides, run as the pages show them.

Each ```` ```bash ```` block marked ``<!-- howto-test: run -->`` (see howto_blocks.py) runs on
this install, page by page in the order an admin reads them, as root in bash with ``-e`` and
``-o pipefail``: a command that fails, or a page whose commands no longer fit the product,
fails here. Blocks marked ``skip`` show up as skipped tests with the page's reason (they need
the internet: GitHub, Let's Encrypt, PyPI...). A few blocks are followed by a check that they
did what their page says.

The guides change the configuration (authenticators, limits, the culler) and add files
(snippets, shared folders); everything is put back afterwards, so that later tests start from
the install they expect.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from conftest import HUB_URL, TLJH_CONFIG, record_timing
from howto_blocks import Block, all_blocks

BLOCKS = all_blocks()
CONFIG = Path("/opt/tljh/config/config.yaml")
# Where the guides add files; whatever is new there afterwards is removed.
TOUCHED_DIRS = (
    Path("/opt/tljh/config/jupyterhub_config.d"),
    Path("/opt/tljh/config/traefik_config.d"),
    Path("/opt/tljh/user/share/jupyter/lab/settings"),
    Path("/etc/skel"),
    Path("/srv"),
)


def _listing() -> dict[Path, set[str]]:
    return {d: set(p.name for p in d.iterdir()) if d.is_dir() else set() for d in TOUCHED_DIRS}


@pytest.fixture(scope="module", autouse=True)
def put_everything_back() -> Iterator[None]:
    config = CONFIG.read_bytes()
    before = _listing()
    created_dirs = [d for d in TOUCHED_DIRS if not d.exists()]
    started = time.monotonic()
    yield
    record_timing("howto_commands_seconds", round(time.monotonic() - started, 1))
    for directory, names in _listing().items():
        for name in sorted(names - before[directory]):
            path = directory / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for directory in created_dirs:
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    CONFIG.write_bytes(config)
    # The config as it was, and the snippets gone: apply both (hub and proxy).
    subprocess.run([TLJH_CONFIG, "reload"], check=True, capture_output=True, text=True)


def _check_announcement() -> None:
    page = requests.get(f"{HUB_URL}/hub/login", timeout=30)
    assert "The hub restarts at 18:00." in page.text, "the announcement is not on the login page"


def _check_scratch() -> None:
    scratch = Path("/srv/scratch")
    mode = scratch.stat().st_mode & 0o7777
    assert mode == 0o3775, f"/srv/scratch has mode {oct(mode)}"
    assert scratch.group() == "jupyterhub-users"
    assert Path("/etc/skel/scratch").resolve() == scratch


def _check_culler_off() -> None:
    shown = subprocess.run(
        [TLJH_CONFIG, "get", "services.cull.enabled"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip().lower() == "false"
    units = subprocess.run(["pgrep", "-f", "jupyterhub_idle_culler"], capture_output=True)
    assert units.returncode == 1, "the idle culler still runs after it was turned off"


# What a block's page says it does, checked after the block ran (by the block's first line).
CHECKS: dict[str, Callable[[], None]] = {
    "echo 'c.JupyterHub.template_vars": _check_announcement,
    "sudo install -d -m 3775": _check_scratch,
    "sudo tljh-config set services.cull.enabled false": _check_culler_off,
}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_howto_block(block: Block) -> None:
    if block.skip_reason is not None:
        pytest.skip(f"docs/{block.id}: {block.skip_reason}")
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        cwd="/root",
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, (
        f"docs/{block.id}: the commands exited with {proc.returncode} after {took:.1f} s\n"
        f"--- commands\n{block.code}--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    )
    first = block.code.strip().splitlines()[0]
    for start, check in CHECKS.items():
        if first.startswith(start):
            check()
