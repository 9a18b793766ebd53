"""``bootstrap.py --version``, as upstream's upgrade how-to uses it, on the installed server.

This machine reaches PyPI but not GitHub, and TLJH is not published on PyPI: a release
(``latest``, ``2.0``) and a git ref (``main``) must each fail saying exactly that and what to
do, leaving the running hub alone; a ``file://`` URL of a copy of the source works.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bootstrapping import SCRIPT, SOURCE, bootstrap_argv

REPO = "https://github.com/jupyterhub/the-littlest-jupyterhub.git"
STATUS = Path("/opt/tljh/install-progress.json")


def bootstrap_with_version(version: str) -> subprocess.CompletedProcess[str]:
    """The bootstrap as an admin runs it: no TLJH_BOOTSTRAP_PIP_SPEC, only --version."""
    env = {k: v for k, v in os.environ.items() if k != "TLJH_BOOTSTRAP_PIP_SPEC"}
    with open(SCRIPT) as script:
        return subprocess.run(
            bootstrap_argv(f"--version={version}"),
            stdin=script,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            timeout=600,
        )


def hub_is_active() -> bool:
    proc = subprocess.run(["systemctl", "is-active", "jupyterhub"], capture_output=True, text=True)
    return proc.stdout.strip() == "active"


def test_a_release_not_on_the_package_index_says_so_and_what_to_do() -> None:
    for version in ("latest", "2.0"):
        proc = bootstrap_with_version(version)
        assert proc.returncode == 1, proc.stdout
        assert "has no package named the-littlest-jupyterhub" in proc.stdout, proc.stdout
        assert "hint: install TLJH from its source instead: --version main" in proc.stdout
        assert "Traceback" not in proc.stdout
    # The install stopped before touching the hub; the progress status says where.
    assert hub_is_active()
    status = json.loads(STATUS.read_text())
    assert status["outcome"] == "failed"
    assert status["steps"][status["current"]] == "TLJH package"


def test_a_git_ref_without_access_to_github_says_so_and_what_to_do() -> None:
    proc = bootstrap_with_version("main")
    assert proc.returncode == 1, proc.stdout
    assert f"error: cannot reach {REPO} to install TLJH from main" in proc.stdout, proc.stdout
    assert "hint: this server cannot download TLJH from there" in proc.stdout
    assert hub_is_active()


def test_a_file_url_installs_that_copy_of_the_source() -> None:
    proc = bootstrap_with_version(f"file://{SOURCE}")
    assert proc.returncode == 0, proc.stdout
    # The harness installed this very checkout, and the failed --version runs before this
    # one changed nothing: nothing to reinstall, nothing to restart.
    assert f"TLJH from {SOURCE} is unchanged since it was installed" in proc.stdout, proc.stdout
    assert "Done in" in proc.stdout and hub_is_active()
    (info,) = Path("/opt/tljh/hub/lib").glob("python3*/site-packages/the_littlest_jupyterhub-*")
    assert json.loads((info / "direct_url.json").read_text())["url"] == f"file://{SOURCE}"


def test_something_that_is_no_version_is_refused_before_anything_runs() -> None:
    proc = bootstrap_with_version("2.0;reboot")
    assert proc.returncode == 1
    assert proc.stdout.startswith("error: --version '2.0;reboot' is neither a release")
    assert "[tljh-bootstrap]" not in proc.stdout
