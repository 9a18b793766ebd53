#!/usr/bin/env python3
"""Run TLJH in a throwaway systemd container: install it as a user would, then test it.

The machine TLJH installs onto must boot with systemd, so every run gets a fresh
Debian system booted with ``systemd-nspawn`` from a cached, debootstrapped root
filesystem. The checkout is copied into it and installed with the real
``bootstrap/bootstrap.py``; the integration suite then runs inside the container.

    harness.py test [--debian trixie] [--keep] [-k EXPR] [-- PYTEST-ARGS]
    harness.py try [--debian trixie] [--no-install]
    harness.py rootfs [--debian trixie] [--rebuild]
    harness.py clean

Standard library only: it runs before any virtual environment exists. Needs root,
``systemd-nspawn`` (package systemd-container), ``debootstrap``, ``nsenter`` and ``ss``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("TLJH_DEV_CACHE", "/var/cache/tljh-dev"))
RUNS = Path(os.environ.get("TLJH_DEV_RUNS", "/var/tmp/tljh-dev"))
TIMINGS_OUT = REPO / "integration-tests" / ".timings.json"

# ------------------------------------------------------------------ the recipe
# Changing anything here changes the cache key, so the next run rebuilds the rootfs.
RECIPE_VERSION = 1
SUITES = ("bookworm", "trixie")
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-venv",
    "curl",
    "sudo",
    "ca-certificates",
)
# The suite's own test tools, in their own venv so they never touch what TLJH installs.
TEST_VENV = "/opt/tljh-tests"
TEST_PACKAGES = ("pytest", "requests", "websocket-client", "playwright")
# Debian packages the suite itself needs (a real browser for test_25_browser.py), installed
# after debootstrap so that BASE_PACKAGES stays what a fresh server has. Playwright drives
# Debian's chromium (its own browser download is never used); its node driver needs libatomic1.
TEST_APT_PACKAGES = ("chromium", "fonts-liberation", "libatomic1")
HOSTNAME = "tljh-dev"
CACHE_MAX_AGE_DAYS = 30

DEFAULT_MIRROR = os.environ.get("TLJH_DEV_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get(
    "TLJH_DEV_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)

# ------------------------------------------------------------------ the run
SRC = "/srv/src"  # where the checkout is copied inside the container (writable)
ADMIN = "admin"
BOOTSTRAP_ARGS = ("--user-env", "venv")  # Miniforge is not reachable from every test machine
PORTS = (80, 443, 8099, 15001)
INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Variables a user behind a proxy, a TLS-inspecting gateway or a mirror would have set.
CA_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
PASSTHROUGH_VARS = (
    *CA_VARS,
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_DEFAULT_TIMEOUT",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
)
PIP_CONFIGS = (Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"))
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
    "dist",
    "node_modules",
    ".timings.json",
)


class HarnessError(Exception):
    """A problem the harness explains to the user and stops on."""


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def say(msg: str) -> None:
    print(f"[harness] {msg}", flush=True)


def die(msg: str) -> NoReturn:
    raise HarnessError(msg)


# ------------------------------------------------------------------ processes


def stream(
    argv: Sequence[str],
    prefix: str,
    stdin: IO[bytes] | None = None,
    log: IO[str] | None = None,
    timeout: float | None = None,
    echo: bool = True,
) -> int:
    """Run argv, printing each output line with a prefix; return its exit status."""
    proc = subprocess.Popen(
        list(argv),
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timer: threading.Timer | None = None
    timed_out = threading.Event()
    if timeout:

        def expire() -> None:
            timed_out.set()
            kill_group(proc)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            # progress bars redraw with carriage returns; keep the last state
            line = line.rsplit("\r", 1)[-1]
            if log is not None:
                log.write(line + "\n")
            if echo:
                print(f"{prefix} {line}", flush=True)
        rc = proc.wait()
    except BaseException:
        kill_group(proc)
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if timed_out.is_set():
        say(f"{argv[0]} ran longer than {timeout:.0f}s and was killed")
        return 124
    return rc


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a process started in its own session and everything it started there.

    Commands run in the container via nsenter are not part of any unit, and
    systemd would wait for them when the container shuts down.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def check_call(argv: Sequence[str], what: str) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if proc.returncode != 0:
        die(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{proc.stdout}{proc.stderr}")


def host_passthrough_env() -> dict[str, str]:
    return {k: os.environ[k] for k in PASSTHROUGH_VARS if os.environ.get(k)}


# ------------------------------------------------------------------ host checks


def require_host() -> None:
    if os.geteuid() != 0:
        die("the harness must run as root (use ./dev, which re-runs itself with sudo)")
    missing = [
        f"{tool} (package {pkg})"
        for tool, pkg in (
            ("systemd-nspawn", "systemd-container"),
            ("debootstrap", "debootstrap"),
            ("nsenter", "util-linux"),
            ("ss", "iproute2"),
        )
        if shutil.which(tool) is None
    ]
    if missing:
        die("missing on this machine: " + ", ".join(missing) + "; ./dev installs them")


def ports_in_use(ports: Sequence[int]) -> list[str]:
    """Lines of `ss -ltnp` for listeners on any of the ports."""
    proc = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False)
    held = []
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        port = fields[3].rsplit(":", 1)[-1]
        if port.isdigit() and int(port) in ports:
            held.append(line)
    return held


def refuse_taken_ports() -> None:
    held = ports_in_use(PORTS)
    if held:
        die(
            "the container shares this machine's network and needs ports "
            + ", ".join(map(str, PORTS))
            + ", but some are taken (ss -ltnp):\n  "
            + "\n  ".join(held)
            + "\nstop what holds them (a container kept with --keep: ./dev clean) and retry"
        )


# ------------------------------------------------------------------ the cached rootfs


@dataclass(frozen=True)
class Recipe:
    suite: str
    mirror: str = DEFAULT_MIRROR

    def key(self) -> str:
        spec = {
            "version": RECIPE_VERSION,
            "suite": self.suite,
            "packages": sorted(BASE_PACKAGES),
            "test_venv": TEST_VENV,
            "test_packages": sorted(TEST_PACKAGES),
            "test_apt_packages": sorted(TEST_APT_PACKAGES),
            "hostname": HOSTNAME,
            "arch": os.uname().machine,
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        return f"{self.suite}-{digest[:12]}"

    @property
    def path(self) -> Path:
        return CACHE / "rootfs" / self.key()


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


def _sources_list(recipe: Recipe) -> str:
    lines = [
        f"deb {recipe.mirror} {recipe.suite} main",
        f"deb {recipe.mirror} {recipe.suite}-updates main",
        f"deb {SECURITY_MIRROR} {recipe.suite}-security main",
    ]
    return "\n".join(lines) + "\n"


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
        (tmp / "etc/apt/sources.list").write_text(_sources_list(recipe))
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
        if stale != final and not stale.name.endswith(".partial") and not in_use(stale):
            say(f"removing the outdated rootfs {stale.name}")
            remove_tree(stale)


def in_use(lower: Path) -> bool:
    """Whether a container left running (--keep) still has this rootfs under its overlay."""
    with open("/proc/self/mountinfo") as f:
        return any(f"lowerdir={lower}," in line or f"lowerdir={lower} " in line for line in f)


def install_host_trust(root: Path) -> None:
    """Make the container trust what this machine trusts, and use its pip settings.

    A user behind a TLS-inspecting proxy has added the proxy's CA to the system
    store. Certificates this machine trusts beyond the container's own set go to
    /usr/local/share/ca-certificates (which update-ca-certificates keeps) and are
    added to the container's bundle, at the path the CA variables name here.
    """
    if HOST_CA_BUNDLE.is_file():
        pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
        distro: set[str] = set()
        for crt in (root / "usr/share/ca-certificates").rglob("*.crt"):
            distro.update(pem.findall(crt.read_text(errors="replace")))
        extra = [c for c in pem.findall(HOST_CA_BUNDLE.read_text()) if c not in distro]
        local = root / "usr/local/share/ca-certificates"
        local.mkdir(parents=True, exist_ok=True)
        for old in local.glob("tljh-dev-host-*.crt"):
            old.unlink()
        for i, cert in enumerate(extra):
            (local / f"tljh-dev-host-{i}.crt").write_text(cert + "\n")
        inner = root / str(HOST_CA_BUNDLE).lstrip("/")
        if inner.is_symlink() or not inner.is_file():
            copy_into(root, HOST_CA_BUNDLE)
        else:
            text = inner.read_text()
            missing = [c for c in extra if c not in text]
            if missing:
                sep = "" if not text or text.endswith("\n") else "\n"
                inner.write_text(text + sep + "".join(c + "\n" for c in missing))
    # Files the CA variables point at must exist at the same path inside.
    for var in CA_VARS:
        value = os.environ.get(var)
        if value and Path(value).is_file() and Path(value) != HOST_CA_BUNDLE:
            copy_into(root, Path(value))
    for conf in PIP_CONFIGS:
        if conf.is_file():
            copy_into(root, conf)
            for m in re.finditer(
                r"^\s*(?:constraint|requirement)\s*=\s*(\S+)", conf.read_text(), re.M
            ):
                named = Path(m.group(1))
                if named.is_absolute() and named.is_file():
                    copy_into(root, named)


def copy_into(root: Path, host_file: Path) -> None:
    """Copy a host file to the same path inside root, never writing outside root."""
    target = root / str(host_file).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root.resolve()):
        die(f"refusing to write {target}: it leads outside {root}")
    if target.is_symlink():
        target.unlink()
    shutil.copyfile(host_file, target)


# ------------------------------------------------------------------ mounts and removal


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def remove_tree(path: Path, background: bool = False) -> None:
    """Remove a directory tree, refusing to descend into anything still mounted.

    In the background, the tree is first renamed into RUNS/.trash, so the files of
    an installed TLJH (slow to delete) go away while the next run already starts.
    """
    for point in sorted(mounts_under(path), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts_under(path)
    if left:
        die(f"cannot remove {path}: still mounted: {', '.join(left)}")
    if background:
        trash = RUNS / ".trash"
        trash.mkdir(parents=True, exist_ok=True)
        target = trash / f"{path.name}-{secrets.token_hex(3)}"
        path.rename(target)
        empty_trash()
        return
    # rm(1) is several times faster than shutil.rmtree on an installed TLJH
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def empty_trash() -> None:
    """Delete what earlier runs moved to RUNS/.trash, in a process that outlives this one."""
    trash = RUNS / ".trash"
    if not trash.is_dir() or mounts_under(trash):
        return
    entries = [str(p) for p in trash.iterdir()]
    if entries:
        subprocess.Popen(
            ["rm", "-rf", "--one-file-system", *entries],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


# ------------------------------------------------------------------ the container


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
        for sub in ("upper", "work", "root"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        upper, work = self.run_dir / "upper", self.run_dir / "work"
        opts = f"lowerdir={self.lower},upperdir={upper},workdir={work}"
        mounted = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", opts, str(self.root)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            say(f"overlay mount failed ({mounted.stderr.strip()}); copying the rootfs instead")
            self.root.rmdir()
            check_call(
                ["cp", "-a", "--reflink=auto", str(self.lower), str(self.root)],
                "copying the rootfs",
            )
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
        return not Path(f"/proc/{pid}").exists() or _is_zombie(pid)

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


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def tail_file(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no output)"


# ------------------------------------------------------------------ steps


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


def run_pytest(c: Container, admin: str, pytest_args: Sequence[str]) -> int:
    env = {
        **host_passthrough_env(),
        "TLJH_INTEGRATION": "1",
        "TLJH_TIMINGS_FILE": f"{TEST_VENV}/timings.json",
        "TLJH_BOOTSTRAP_PIP_SPEC": SRC,
        "TLJH_TEST_ADMIN": admin,
        "PYTHONUNBUFFERED": "1",
    }
    if os.environ.get("TERM"):
        env["TERM"] = os.environ["TERM"]
    argv = [f"{TEST_VENV}/bin/python", "-m", "pytest", "-v", "integration-tests/", *pytest_args]
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


# ------------------------------------------------------------------ commands


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into exceptions so `finally` blocks clean up."""

    def raise_it(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    old = {s: signal.signal(s, raise_it) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Let cleanup finish even when the user presses Ctrl-C again."""

    def note(_signum: int, _frame: object) -> None:
        print("[harness] still cleaning up; one moment", flush=True)

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, note) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


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


def started_container(args: argparse.Namespace) -> tuple[Container, dict[str, float]]:
    require_host()
    one_session_at_a_time()
    warn_about_leftovers()
    empty_trash()
    if not args.ignore_busy_ports:
        refuse_taken_ports()
    recipe = Recipe(args.debian)
    lower, built = ensure_rootfs(recipe, rebuild=args.rebuild)
    timings: dict[str, float] = {}
    if built is not None:
        timings["rootfs_build_seconds"] = built
    return Container(recipe, lower, warm_caches=not args.cold_cache), timings


def cmd_session(args: argparse.Namespace, mode: str) -> int:
    c, timings = started_container(args)
    failed = True
    try:
        t0 = time.monotonic()
        c.prepare()
        timings["container_prepare_seconds"] = time.monotonic() - t0
        say(f"booting {c.name} from {c.lower.name}")
        timings["container_boot_seconds"] = c.boot()
        say(f"booted in {timings['container_boot_seconds']:.1f}s; init PID {c.init_pid}")

        if mode == "try" and args.no_install:
            failed = False
            return wait_for_ctrl_c(c, installed=False, admin=args.admin)

        rc, took = run_bootstrap(c, args.admin, args.bootstrap_cmd)
        timings["fresh_install_seconds"] = took
        if rc != 0:
            say("the bootstrap failed")
            return rc or 1

        if mode == "try":
            failed = False
            return wait_for_ctrl_c(c, installed=True, admin=args.admin)

        pytest_args = [*(["-k", args.k] if args.k else []), *args.pytest_args]
        rc = run_pytest(c, args.admin, pytest_args)
        failed = rc != 0
        result = collect_timings(c, timings)
        TIMINGS_OUT.write_text(json.dumps(result, indent=2) + "\n")
        owner = REPO.stat()
        os.chown(TIMINGS_OUT, owner.st_uid, owner.st_gid)
        print(json.dumps(result, indent=2), flush=True)
        say(f"pytest exited with {rc}; timings written to {TIMINGS_OUT.relative_to(REPO)}")
        return rc
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        say(f"interrupted ({signal.Signals(signum).name}); stopping")
        failed = False  # no journals: nothing failed, the user stopped it
        return 128 + signum
    finally:
        with shielded():
            if failed and c.alive() and c.init_pid is not None:
                c.print_journals()
            if args.keep and c.alive():
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


def warn_about_leftovers() -> None:
    if not RUNS.is_dir():
        return
    for info in RUNS.glob("*/info.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(info.read_text())
            pid = data.get("nspawn_pid")
            state = "running" if pid and _is_nspawn(pid) else "stopped"
            name = data.get("name")
            say(f"note: an earlier container {name} is left ({state}); ./dev clean removes it")


def _is_nspawn(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmd) and cmd[0].endswith(b"systemd-nspawn") and not _is_zombie(pid)


def _is_harness(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"harness.py") for part in cmd[:3]) and not _is_zombie(pid)


def cmd_clean(_args: argparse.Namespace) -> int:
    """Stop containers this harness left running (--keep) and remove their files."""
    require_host()
    if not RUNS.is_dir():
        say("nothing to clean")
        return 0
    for run_dir in sorted(p for p in RUNS.iterdir() if p.is_dir()):
        info: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((run_dir / "info.json").read_text())
        owner = info.get("harness_pid")
        if isinstance(owner, int) and owner != os.getpid() and _is_harness(owner):
            say(f"leaving {run_dir.name}: its harness (PID {owner}) is running and cleans up")
            continue
        pid = info.get("nspawn_pid")
        if isinstance(pid, int) and _is_nspawn(pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(run_dir / "root").encode() in cmdline:
                say(f"stopping {run_dir.name} (nspawn PID {pid})")
                stop_nspawn(pid, info.get("init_pid"))
        say(f"removing {run_dir}")
        remove_tree(run_dir)
    return 0


def cmd_rootfs(args: argparse.Namespace) -> int:
    require_host()
    path, took = ensure_rootfs(Recipe(args.debian), rebuild=args.rebuild)
    say(f"{path} (" + (f"built in {took:.0f}s" if took is not None else "cached") + ")")
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness.py",
        description="Install TLJH into a throwaway systemd-nspawn container and test it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--debian",
            choices=SUITES,
            default="bookworm",
            help="Debian release (default: bookworm)",
        )
        p.add_argument("--rebuild", action="store_true", help="rebuild the cached rootfs first")

    def session(p: argparse.ArgumentParser) -> None:
        common(p)
        p.add_argument("--keep", action="store_true", help="leave the container running afterwards")
        p.add_argument(
            "--admin", default=ADMIN, help=f"the admin to install with (default: {ADMIN})"
        )
        p.add_argument(
            "--cold-cache",
            action="store_true",
            help="do not share the pip/uv/apt download caches with the container",
        )
        # Replaces `python3 - --admin … < bootstrap/bootstrap.py` with a shell command run
        # inside (same environment); for working on the harness itself.
        p.add_argument("--bootstrap-cmd", help=argparse.SUPPRESS)
        # Skips the port check: only sensible with a --bootstrap-cmd that starts no hub.
        p.add_argument("--ignore-busy-ports", action="store_true", help=argparse.SUPPRESS)

    t = sub.add_parser(
        "test", help="install TLJH in a fresh container and run integration-tests/ inside"
    )
    session(t)
    t.add_argument("-k", metavar="EXPR", help="only run tests matching EXPR (pytest -k)")
    t.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    tr = sub.add_parser("try", help="install TLJH in a fresh container and keep it up until Ctrl-C")
    session(tr)
    tr.add_argument("--no-install", action="store_true", help="only boot the container")
    r = sub.add_parser("rootfs", help="build (or reuse) the cached rootfs")
    common(r)
    sub.add_parser("clean", help="stop containers left by --keep and remove their files")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with handle_signals():
            if args.command == "test":
                return cmd_session(args, "test")
            if args.command == "try":
                return cmd_session(args, "try")
            if args.command == "rootfs":
                return cmd_rootfs(args)
            return cmd_clean(args)
    except HarnessError as e:
        print(f"[harness] error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
