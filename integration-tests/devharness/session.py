"""A whole `test` or `try` run: checks, a fresh container, the install, the suite, cleanup."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import IO

from devharness.container import Container
from devharness.host_checks import refuse_taken_ports, require_host
from devharness.interrupts import shielded, signal_number
from devharness.leftovers import warn_about_leftovers
from devharness.locations import REPO, RUNS, SRC, TIMINGS_OUT
from devharness.messages import say
from devharness.mounts import empty_trash
from devharness.recipe import Recipe
from devharness.rootfs_cache import ensure_rootfs
from devharness.session_steps import (
    BOOTSTRAP_ARGS,
    MIGRATION_SUITE,
    collect_screenshots,
    collect_timings,
    run_bench,
    run_bootstrap,
    run_pytest,
)
from devharness.upstream import install_upstream, prepare_upstream_source


@dataclass(frozen=True)
class SessionOptions:
    """What the command line asked of a run."""

    # "test": install and run the suite; "try": install and wait for Ctrl-C;
    # "bench": install and run benchmarks/run.py
    mode: str
    debian: str
    admin: str
    rebuild: bool = False
    keep: bool = False
    cold_cache: bool = False
    # For working on the harness itself: a shell command run inside instead of the bootstrap.
    bootstrap_cmd: str | None = None
    ignore_busy_ports: bool = False
    no_install: bool = False  # try: only boot the container
    pytest_args: tuple[str, ...] = ()
    bench_args: tuple[str, ...] = ()
    # test/try: install upstream TLJH 2.x instead of ours; test then runs the
    # migration suite (integration-tests/migration/), whose tests run our bootstrap.
    from_upstream: bool = False


_session_lock: IO[str] | None = None


def one_session_at_a_time() -> None:
    """Queue behind another run of this harness: containers share the host's ports."""
    global _session_lock
    RUNS.mkdir(parents=True, exist_ok=True)
    f = open(RUNS / "session.lock", "a+")  # noqa: SIM115 - held until this process exits
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        say(f"waiting for another run of the harness to finish ({f.read().strip()})")
        fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
    f.flush()
    _session_lock = f


def started_container(opts: SessionOptions) -> tuple[Container, dict[str, float]]:
    require_host()
    one_session_at_a_time()
    warn_about_leftovers()
    empty_trash()
    if not opts.ignore_busy_ports:
        refuse_taken_ports()
    recipe = Recipe(opts.debian)
    lower, built = ensure_rootfs(recipe, rebuild=opts.rebuild)
    timings: dict[str, float] = {}
    if built is not None:
        timings["rootfs_build_seconds"] = built
    return Container(recipe, lower, warm_caches=not opts.cold_cache), timings


def run_session(opts: SessionOptions) -> int:
    """Run it; return the exit status for the command line.

    Afterwards the container is stopped and removed (left running with --keep), and
    the hub's and proxy's journals are shown if something failed.
    """
    c, timings = started_container(opts)
    failed = True
    try:
        t0 = time.monotonic()
        c.prepare()
        if opts.from_upstream:
            prepare_upstream_source(c)
        timings["container_prepare_seconds"] = time.monotonic() - t0
        say(f"booting {c.name} from {c.lower.name}")
        timings["container_boot_seconds"] = c.boot()
        say(f"booted in {timings['container_boot_seconds']:.1f}s; init PID {c.init_pid}")

        if opts.mode == "try" and opts.no_install:
            failed = False
            return wait_for_ctrl_c(c, installed=False, admin=opts.admin)

        if opts.from_upstream:
            rc, took = install_upstream(c, opts.admin)
            timings["upstream_install_seconds"] = took
            if rc != 0:
                say("upstream's install failed")
                return rc or 1
        else:
            rc, took = run_bootstrap(c, opts.admin, opts.bootstrap_cmd)
            timings["fresh_install_seconds"] = took
            if rc != 0:
                say("the bootstrap failed")
                return rc or 1

        if opts.mode == "try":
            failed = False
            return wait_for_ctrl_c(c, installed=True, admin=opts.admin)

        if opts.mode == "bench":
            rc = run_bench(c, opts.admin, opts.bench_args, took)
            failed = rc != 0
            return rc

        suite = MIGRATION_SUITE if opts.from_upstream else None
        rc = run_pytest(c, opts.admin, opts.pytest_args, suite)
        failed = rc != 0
        collect_screenshots(c)
        result = collect_timings(c, timings)
        out = TIMINGS_OUT.with_name(".timings-migration.json") if suite else TIMINGS_OUT
        out.write_text(json.dumps(result, indent=2) + "\n")
        owner = REPO.stat()
        os.chown(out, owner.st_uid, owner.st_gid)
        print(json.dumps(result, indent=2), flush=True)
        say(f"pytest exited with {rc}; timings written to {out.relative_to(REPO)}")
        return rc
    except KeyboardInterrupt as e:
        signum = signal_number(e)
        say(f"interrupted ({signal.Signals(signum).name}); stopping")
        failed = False  # no journals: nothing failed, the user stopped it
        return 128 + signum
    finally:
        with shielded():
            if failed and c.alive() and c.init_pid is not None:
                c.print_journals()
            if opts.keep and c.alive():
                say(c.keep_message())
            else:
                c.stop()


def wait_for_ctrl_c(c: Container, installed: bool, admin: str) -> int:
    assert c.proc is not None
    print(flush=True)
    if installed:
        print(
            "TLJH is running in the container, on this machine's network:\n"
            "\n"
            "    http://127.0.0.1/\n"
            "\n"
            "  (use 127.0.0.1, not localhost: logins fail with an XSRF error when the\n"
            "  browser switches between ::1 and 127.0.0.1)\n"
            f"  Log in as '{admin}'. With the default FirstUse authenticator the first\n"
            "  password you type for a user becomes that user's password.",
        )
    else:
        print(f"A fresh {c.recipe.suite} container is running; TLJH is not installed.")
        print(f"  The checkout is at {SRC}; install with:")
        print(
            f"    cd {SRC} && TLJH_BOOTSTRAP_PIP_SPEC={SRC} python3 - --admin {admin} "
            f"{' '.join(BOOTSTRAP_ARGS)} < bootstrap/bootstrap.py"
        )
    print(
        f"\n  A shell inside:  nsenter -t {c.init_pid} -a bash\n"
        "  (tljh-config, journalctl -u jupyterhub -u traefik, systemctl status ...)\n"
        "\nPress Ctrl-C to stop the container and remove it.",
        flush=True,
    )
    rc = c.proc.wait()
    say(f"the container exited by itself ({rc})")
    return 1
