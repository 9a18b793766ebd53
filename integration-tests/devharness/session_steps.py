"""What a run does in a booted container: install TLJH, run the suite, gather the timings."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from devharness.container import Container
from devharness.host_environment import host_passthrough_env
from devharness.locations import REPO, RUNS, SRC
from devharness.messages import die, say
from devharness.processes import kill_group, stream
from devharness.recipe import TEST_VENV

BOOTSTRAP_ARGS = ("--user-env", "venv")  # Miniforge is not reachable from every test machine
#: The suite run over an upstream install (--from-upstream); the normal suite leaves it out.
MIGRATION_SUITE = "integration-tests/migration/"


def run_bootstrap(c: Container, admin: str, bootstrap_cmd: str | None) -> tuple[int, float]:
    """Install TLJH the way the docs tell a user to; returns (exit status, seconds)."""
    env = {
        **host_passthrough_env(),
        "TLJH_BOOTSTRAP_PIP_SPEC": SRC,
        "PYTHONUNBUFFERED": "1",
    }
    script = c.root / SRC.lstrip("/") / "bootstrap" / "bootstrap.py"
    if bootstrap_cmd:
        argv = ["/bin/sh", "-c", bootstrap_cmd]
    else:
        if not script.is_file():
            die(f"{script.relative_to(c.root / SRC.lstrip('/'))} does not exist in the checkout")
        argv = ["python3", "-", "--admin", admin, *BOOTSTRAP_ARGS]
    shown = " ".join(argv) + (" < bootstrap/bootstrap.py" if not bootstrap_cmd else "")
    say(f"installing TLJH in {c.name}: {shown}")
    log_path = RUNS / "last-bootstrap.log"
    started = time.monotonic()
    with (
        open(log_path, "w") as log,
        open(script if script.is_file() else os.devnull, "rb") as stdin,
    ):
        rc = stream(
            c.nsenter(argv, env, wd="/root"), "[bootstrap]", stdin=stdin, log=log, timeout=1800
        )
    took = time.monotonic() - started
    say(f"bootstrap exited with {rc} after {took:.1f}s (full output: {log_path})")
    return rc, took


def run_pytest(
    c: Container, admin: str, pytest_args: Sequence[str], suite: str | None = None
) -> int:
    """Run the integration suite inside (or, with ``suite``, that folder of it)."""
    env = {
        **host_passthrough_env(),
        "TLJH_INTEGRATION": "1",
        "TLJH_TIMINGS_FILE": f"{TEST_VENV}/timings.json",
        "TLJH_BOOTSTRAP_PIP_SPEC": SRC,
        "TLJH_TEST_ADMIN": admin,
        "PYTHONUNBUFFERED": "1",
    }
    if suite:
        env["TLJH_MIGRATION"] = "1"
    if os.environ.get("TERM"):
        env["TERM"] = os.environ["TERM"]
    where = suite or "integration-tests/"
    # The slowest tests, listed at the end: where to look when the suite grows slow.
    argv = [f"{TEST_VENV}/bin/python", "-m", "pytest", "-v", "--durations=15", where, *pytest_args]
    say("running the integration suite inside: " + " ".join(argv[2:]))
    # Its own session, so that an interruption can kill the whole test run.
    proc = subprocess.Popen(
        c.nsenter(argv, env, wd=SRC), stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        return proc.wait()
    except BaseException:
        kill_group(proc)
        raise


def run_bench(c: Container, admin: str, bench_args: Sequence[str], fresh_install: float) -> int:
    """Run benchmarks/run.py inside; its JSON lands in benchmarks/last-run.json."""
    env = {
        **host_passthrough_env(),
        "TLJH_BOOTSTRAP_PIP_SPEC": SRC,
        "TLJH_TEST_ADMIN": admin,
        "BENCH_FRESH_INSTALL_SECONDS": f"{fresh_install:.2f}",
        "PYTHONUNBUFFERED": "1",
    }
    inner = "/root/bench.json"
    argv = [f"{TEST_VENV}/bin/python", "benchmarks/run.py", "--json", inner, *bench_args]
    say("running the benchmarks inside: " + " ".join(argv[1:]))
    proc = subprocess.Popen(
        c.nsenter(argv, env, wd=SRC), stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        rc = proc.wait()
    except BaseException:
        kill_group(proc)
        raise
    result = c.root / inner.lstrip("/")
    if result.is_file():
        out = REPO / "benchmarks" / "last-run.json"
        out.write_text(result.read_text())
        owner = REPO.stat()
        os.chown(out, owner.st_uid, owner.st_gid)
        say(f"benchmark results written to {out.relative_to(REPO)}")
    return rc


def collect_screenshots(c: Container) -> None:
    """Copy what test_95_screenshots.py wrote into docs/_static/screenshots/ (./dev screenshots)."""
    inner = c.root / TEST_VENV.lstrip("/") / "screenshots"
    if os.environ.get("TLJH_SCREENSHOTS") != "1" or not inner.is_dir():
        return
    out = REPO / "docs" / "_static" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    owner = REPO.stat()
    for src in sorted(inner.iterdir()):
        dest = out / src.name
        dest.write_bytes(src.read_bytes())
        os.chown(dest, owner.st_uid, owner.st_gid)
        say(f"wrote {dest.relative_to(REPO)}")


def collect_timings(c: Container, extra: dict[str, float]) -> dict[str, Any]:
    timings: dict[str, Any] = {}
    inner = c.root / TEST_VENV.lstrip("/") / "timings.json"
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(inner.read_text())
        if isinstance(loaded, dict):
            timings.update(loaded)
    timings.update({k: round(v, 2) for k, v in extra.items()})
    timings["debian"] = c.recipe.suite
    return dict(sorted(timings.items()))
