"""One throwaway systemd container: a private copy of the cached rootfs, booted with nspawn.

The container shares this machine's network. Commands run inside through ``nsenter``
into the namespaces of the container's init, since there is no machined to ask.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devharness.host_environment import install_host_trust
from devharness.locations import CACHE, REPO, RUNS, SRC
from devharness.messages import die, say
from devharness.mounts import mount_private_copy, remove_tree
from devharness.processes import is_zombie, tail_file
from devharness.recipe import TEST_VENV, Recipe

INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "*.egg-info",
    "build",
    "_build",
    "dist",
    "node_modules",
    ".timings.json",
    ".timings-migration.json",
)


@dataclass
class Container:
    recipe: Recipe
    lower: Path
    warm_caches: bool = True
    name: str = field(default_factory=lambda: f"tljh-dev-{secrets.token_hex(3)}")
    proc: subprocess.Popen[bytes] | None = None
    init_pid: int | None = None

    @property
    def run_dir(self) -> Path:
        return RUNS / self.name

    @property
    def root(self) -> Path:
        return self.run_dir / "root"

    @property
    def console_log(self) -> Path:
        return self.run_dir / "console.log"

    def prepare(self) -> None:
        """A private copy of the cached rootfs, with the checkout and the host's trust."""
        mount_private_copy(self.lower, self.run_dir, self.root)
        install_host_trust(self.root)
        src = self.root / SRC.lstrip("/")
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(REPO, src, ignore=COPY_IGNORE, symlinks=True)

    def boot(self, timeout: float = 120) -> float:
        started = time.monotonic()
        binds = []
        if self.warm_caches:
            apt_cache = CACHE / f"apt-{self.recipe.suite}"
            (apt_cache / "partial").mkdir(parents=True, exist_ok=True)
            for host, inner in (
                (CACHE / "pip", "/root/.cache/pip"),
                (CACHE / "uv", "/root/.cache/uv"),
                (apt_cache, "/var/cache/apt/archives"),
            ):
                host.mkdir(parents=True, exist_ok=True)
                binds.append(f"--bind={host}:{inner}")
        argv = [
            "systemd-nspawn",
            "-D",
            str(self.root),
            "-M",
            self.name,
            "--register=no",
            "--keep-unit",
            "--boot",
            "--link-journal=no",
            "--console=read-only",
            *binds,
        ]
        with open(self.console_log, "wb") as console:
            # Its own session: Ctrl-C in the terminal must not reach the container;
            # the harness stops it cleanly instead.
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._write_info()
        deadline = started + timeout
        while self.init_pid is None:
            self._check_alive()
            self.init_pid = self._find_init()
            if time.monotonic() > deadline:
                die(f"the container's init did not start within {timeout:.0f}s")
            time.sleep(0.05)
        self._write_info()
        state = ""
        while True:
            self._check_alive()
            proc = self.exec(["systemctl", "is-system-running"], capture=True, check=False)
            state = proc.stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                die(
                    f"systemd in the container did not finish booting within {timeout:.0f}s "
                    f"(state: {state})"
                )
            time.sleep(0.1)
        took = time.monotonic() - started
        if state == "degraded":
            failed = self.exec(["systemctl", "--failed", "--no-legend", "--plain"], capture=True)
            say(
                "booted degraded; failed units: "
                + " ".join(line.split()[0] for line in failed.stdout.splitlines() if line.strip())
            )
        return took

    def _find_init(self) -> int | None:
        assert self.proc is not None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return None
        for pid in children.split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
            except OSError:
                continue
        return None

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            die(
                f"systemd-nspawn exited with {self.proc.returncode} while booting; console:\n"
                + tail_file(self.console_log, 30)
            )

    def _write_info(self) -> None:
        info = {
            "name": self.name,
            "nspawn_pid": self.proc.pid if self.proc else None,
            "init_pid": self.init_pid,
            "suite": self.recipe.suite,
            "harness_pid": os.getpid(),
        }
        (self.run_dir / "info.json").write_text(json.dumps(info))

    def nsenter(
        self, argv: Sequence[str], env: dict[str, str] | None = None, wd: str = "/"
    ) -> list[str]:
        """The host command line running argv inside, with exactly env (plus PATH, HOME, LANG)."""
        assert self.init_pid is not None
        full = {"PATH": INNER_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        return [
            "nsenter",
            "-t",
            str(self.init_pid),
            "-a",
            "env",
            "-i",
            # the container's env(1): nsenter's own --wd resolves paths on the host
            f"--chdir={wd}",
            *[f"{k}={v}" for k, v in full.items()],
            *argv,
        ]

    def exec(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        capture: bool = False,
        check: bool = True,
        wd: str = "/",
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.nsenter(argv, env, wd),
            capture_output=capture,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check and proc.returncode != 0:
            output = (proc.stdout or "") + (proc.stderr or "")
            die(f"{' '.join(argv)} failed in the container (exit {proc.returncode})\n{output}")
        return proc

    def print_journals(self, lines: int = 50) -> None:
        if self.init_pid is None or not self.alive():
            return
        for unit in ("jupyterhub", "traefik"):
            out = self.exec(
                ["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "short-monotonic"],
                capture=True,
                check=False,
            )
            print(f"----- last {lines} journal lines of {unit} -----", flush=True)
            for line in (out.stdout + out.stderr).splitlines():
                print(f"[journal {unit}] {line}")
        sys.stdout.flush()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the container (SIGTERM, then SIGKILL) and remove this run's rootfs copy."""
        t0 = time.monotonic()
        if self.proc is not None:
            stop_nspawn(self.proc.pid, self.init_pid, self.proc)
        t1 = time.monotonic()
        if self.run_dir.exists():
            remove_tree(self.run_dir, background=True)
        say(f"stopped {self.name} in {t1 - t0:.1f}s; its files are being deleted")

    def keep_message(self) -> str:
        assert self.proc is not None
        return (
            f"the container {self.name} is still running (nspawn PID {self.proc.pid}).\n"
            f"  enter it:  nsenter -t {self.init_pid} -a bash\n"
            f"  run the suite again inside:  nsenter -t {self.init_pid} -a env -C {SRC} "
            f"TLJH_INTEGRATION=1 {TEST_VENV}/bin/pytest -v integration-tests/\n"
            f"  stop it and remove its files:  ./dev clean   "
            f"(or: python3 integration-tests/harness.py clean)"
        )


def stop_nspawn(
    pid: int, init_pid: int | None, proc: subprocess.Popen[bytes] | None = None, grace: float = 30
) -> None:
    """SIGTERM makes nspawn shut the container down cleanly; SIGKILL if that stalls."""

    def gone() -> bool:
        if proc is not None:
            return proc.poll() is not None
        return not Path(f"/proc/{pid}").exists() or is_zombie(pid)

    if gone():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not gone():
        say(f"the container did not stop within {grace:.0f}s; killing it")
        for victim in (init_pid, pid):
            if victim:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=10)
