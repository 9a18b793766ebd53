"""The suite's TLJH plugin (plugins/tljh-test-plugin) and the traces its hooks leave."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bootstrapping import SOURCE

PLUGIN = SOURCE / "integration-tests" / "plugins" / "tljh-test-plugin"
#: Where its hooks write (tljh_test_plugin.MARKERS).
MARKERS = Path("/var/lib/tljh-test-plugin")
HUB_PYTHON = "/opt/tljh/hub/bin/python3"
USER_PYTHON = "/opt/tljh/user/bin/python3"


def imports(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def apt_installed(package: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    ).stdout
    return "install ok installed" in out


def lines(name: str) -> list[str]:
    """What the hook behind marker ``name`` wrote, one line per call."""
    path = MARKERS / name
    return path.read_text().splitlines() if path.exists() else []
