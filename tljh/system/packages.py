"""Installing Python packages into an environment with uv, and apt packages."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from tljh.errors import CommandFailed
from tljh.system.run import run

RETRIES = 3
#: Seconds to wait before the second attempt; the wait grows with each attempt.
RETRY_DELAY = 2.0


def package_env() -> dict[str, str]:
    """The environment for uv/pip/apt: the admin's proxy and CA settings, mapped for uv.

    bootstrap.py's ``network_env`` does the same for the steps before TLJH is
    installed (it may import nothing of ours); keep the two in step.  Here it
    matters when the installer or a plugin hook runs without the bootstrap.
    """
    env = dict(os.environ)
    ca = env.get("SSL_CERT_FILE") or env.get("PIP_CERT") or env.get("REQUESTS_CA_BUNDLE")
    if ca:
        env.setdefault("SSL_CERT_FILE", ca)
    if env.get("PIP_INDEX_URL"):
        env.setdefault("UV_INDEX_URL", env["PIP_INDEX_URL"])
    if env.get("PIP_EXTRA_INDEX_URL"):
        env.setdefault("UV_EXTRA_INDEX_URL", env["PIP_EXTRA_INDEX_URL"])
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.setdefault("UV_LINK_MODE", "copy")
    env.setdefault("DEBIAN_FRONTEND", "noninteractive")
    return env


def with_retries(argv: Sequence[str], what: str, hint: str, retries: int = RETRIES) -> str:
    """Run a networked command, retrying a bounded number of times; return its output."""
    last: CommandFailed | None = None
    for attempt in range(1, retries + 1):
        try:
            return run(argv, env=package_env(), hint=hint).stdout
        except CommandFailed as e:
            last = e
            if attempt < retries:
                time.sleep(RETRY_DELAY * attempt)
    assert last is not None
    last.message = f"{what} failed after {retries} attempts: {last.message}"
    raise last


def uv_pip_install(
    uv: Path,
    python: Path,
    requirements: Sequence[str],
    extra_args: Sequence[str] = (),
    what: str = "installing Python packages",
) -> bool:
    """Install ``requirements`` into the environment of ``python``.

    Returns True when anything was installed or removed, False when all was
    already satisfied (uv then only says it audited the packages).
    """
    argv = [str(uv), "pip", "install", "--python", str(python), *extra_args, *requirements]
    out = with_retries(
        argv,
        what,
        hint="check the server's network connection (and proxy settings), then re-run "
        "the installer: it is safe to run again",
    )
    return any(line.strip().startswith(("Installed ", "Uninstalled ")) for line in out.splitlines())
