"""Building the cached root filesystem a recipe describes, and reusing it between runs."""

from __future__ import annotations

import contextlib
import fcntl
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from devharness.host_environment import host_passthrough_env, install_host_trust
from devharness.locations import CACHE
from devharness.messages import die, say
from devharness.mounts import remove_tree, rootfs_in_use
from devharness.processes import stream
from devharness.recipe import (
    BASE_PACKAGES,
    HOSTNAME,
    TEST_APT_PACKAGES,
    TEST_PACKAGES,
    TEST_VENV,
    Recipe,
)

CACHE_MAX_AGE_DAYS = 30


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another harness holding {path}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def ensure_rootfs(recipe: Recipe, rebuild: bool = False) -> tuple[Path, float | None]:
    """The cached rootfs for the recipe, built if needed. Returns (path, build seconds)."""
    done = recipe.path / ".tljh-dev-complete"
    with locked(CACHE / "rootfs" / f"{recipe.suite}.lock"):
        if done.exists() and not rebuild:
            age_days = (time.time() - done.stat().st_mtime) / 86400
            if age_days < CACHE_MAX_AGE_DAYS:
                return recipe.path, None
            say(f"cached rootfs is {age_days:.0f} days old; rebuilding it for fresh packages")
        started = time.monotonic()
        build_rootfs(recipe)
        took = time.monotonic() - started
        say(f"rootfs {recipe.key()} built in {took:.0f}s")
        return recipe.path, took


def build_rootfs(recipe: Recipe) -> None:
    final = recipe.path
    tmp = final.with_name(final.name + ".partial")
    for old in (tmp, final):
        if old.exists():
            remove_tree(old)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    logdir = CACHE / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / f"rootfs-{recipe.key()}.log"
    say(f"building the {recipe.suite} rootfs into {final} (log: {log_path}); takes a few minutes")
    noisy = re.compile(r"^I: (Retrieving|Validating|Unpacking|Configuring|Extracting|Checking)")
    with open(log_path, "w") as log:
        argv = [
            "debootstrap",
            "--include=" + ",".join(BASE_PACKAGES),
            recipe.suite,
            str(tmp),
            recipe.mirror,
        ]
        log.write("$ " + " ".join(argv) + "\n")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            log.write(line)
            tail = [*tail[-39:], line.rstrip()]
            if not noisy.match(line):
                print(f"[debootstrap] {line.rstrip()}", flush=True)
        if proc.wait() != 0:
            die("debootstrap failed; its last lines:\n" + "\n".join(tail))

        # A fresh server as a cloud image or the Debian installer leaves it.
        (tmp / "etc/apt/sources.list").write_text(recipe.sources_list())
        (tmp / "etc/hostname").write_text(HOSTNAME + "\n")
        hosts = tmp / "etc/hosts"
        hosts.write_text(f"127.0.1.1\t{HOSTNAME}\n" + hosts.read_text())
        # An empty machine-id makes systemd generate a new one on every boot.
        (tmp / "etc/machine-id").write_text("")
        install_host_trust(tmp)

        script = " && ".join(
            [
                "apt-get update -q",
                "apt-get -y -q upgrade",
                "apt-get -y -q install --no-install-recommends " + " ".join(TEST_APT_PACKAGES),
                "apt-get clean",
                f"python3 -m venv {TEST_VENV}",
                f"{TEST_VENV}/bin/pip install -q --disable-pip-version-check "
                + " ".join(TEST_PACKAGES),
            ]
        )
        env = {**host_passthrough_env(), "DEBIAN_FRONTEND": "noninteractive"}
        pip_cache = CACHE / "pip"
        pip_cache.mkdir(parents=True, exist_ok=True)
        argv = [
            "systemd-nspawn",
            "--quiet",
            "-D",
            str(tmp),
            "-M",
            f"tljh-dev-build-{secrets.token_hex(3)}",
            "--register=no",
            "--keep-unit",
            "--link-journal=no",
            f"--bind={pip_cache}:/root/.cache/pip",
            *[f"--setenv={k}={v}" for k, v in env.items()],
            "/bin/sh",
            "-c",
            script,
        ]
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        rc = stream(argv, "[rootfs]", log=log)
        if rc != 0:
            die(f"setting up the rootfs failed (exit {rc}); see {log_path}")

    (tmp / ".tljh-dev-complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    tmp.rename(final)
    # Older builds of the same suite are no longer used by anything.
    for stale in final.parent.glob(f"{recipe.suite}-*"):
        if stale != final and not stale.name.endswith(".partial") and not rootfs_in_use(stale):
            say(f"removing the outdated rootfs {stale.name}")
            remove_tree(stale)
