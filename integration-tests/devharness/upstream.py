"""A real upstream TLJH 2.x in the container, for the migration tests (--from-upstream).

Upstream's installer downloads Miniforge and traefik from GitHub, which test machines
cannot always reach. The fixture (upstream's source and a small patch, see its README)
makes it install offline: the source is unpacked and patched here on the host, and
``integration-tests/migration/install-upstream.sh`` runs upstream's own bootstrap inside.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from pathlib import Path

from devharness.container import Container
from devharness.host_environment import host_passthrough_env
from devharness.locations import REPO, RUNS, SRC
from devharness.messages import die, say
from devharness.processes import check_call, stream

#: Where the source is unpacked inside the container.
UPSTREAM_SRC = "/srv/upstream"
INSTALL_SCRIPT = f"{SRC}/integration-tests/migration/install-upstream.sh"


def fixture_dir() -> Path:
    """The folder with upstream's tarball and offline.patch (TLJH_UPSTREAM_FIXTURE)."""
    named = os.environ.get("TLJH_UPSTREAM_FIXTURE")
    return Path(named) if named else REPO.parent / "shared" / "upstream-tljh"


def _fixture_files() -> tuple[Path, Path]:
    folder = fixture_dir()
    tarballs = sorted(folder.glob("upstream-tljh-*.tar.gz"))
    patch = folder / "offline.patch"
    if not tarballs or not patch.is_file():
        die(
            f"the upstream TLJH fixture is not in {folder} (it needs upstream-tljh-*.tar.gz "
            "and offline.patch); set TLJH_UPSTREAM_FIXTURE to the folder that has them"
        )
    return tarballs[-1], patch


def prepare_upstream_source(c: Container) -> None:
    """Unpack upstream's source into the container and apply the offline patch."""
    tarball, patch = _fixture_files()
    target = c.root / UPSTREAM_SRC.lstrip("/")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    check_call(
        ["patch", "-s", "-p1", "-d", str(target), "-i", str(patch)],
        f"applying {patch.name} to upstream's source",
    )
    # The tarball has no MANIFEST.in: without one, a (non-editable) install leaves out the
    # data files upstream's installer reads (requirements, templates, units), which a
    # release installs. An editable install would work, but leave no tljh/ in the hub
    # environment, unlike any real server.
    (target / "MANIFEST.in").write_text(
        "include tljh/*.txt\ninclude tljh/*.tpl\ninclude tljh/systemd-units/*\n"
    )
    say(f"upstream TLJH from {tarball.name} (+ {patch.name}) is at {UPSTREAM_SRC} inside")


def install_upstream(c: Container, admin: str) -> tuple[int, float]:
    """Install upstream TLJH with its own bootstrap; returns (exit status, seconds)."""
    env = {**host_passthrough_env(), "PYTHONUNBUFFERED": "1"}
    argv = ["/bin/bash", INSTALL_SCRIPT, UPSTREAM_SRC, admin]
    say(f"installing upstream TLJH in {c.name}: {' '.join(argv)}")
    log_path = RUNS / "last-upstream-install.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        rc = stream(c.nsenter(argv, env, wd="/root"), "[upstream]", log=log, timeout=1200)
    took = time.monotonic() - started
    say(f"upstream's install exited with {rc} after {took:.1f}s (full output: {log_path})")
    return rc, took
