#!/usr/bin/env python3
"""Install The Littlest JupyterHub (TLJH) on this server.

    curl -L https://tljh.jupyter.org/bootstrap.py | sudo python3 - --admin NAME

This script uses the standard library only.  It checks that the machine can run
TLJH, installs the few Debian/Ubuntu packages it needs, creates the hub
environment (a root-owned virtual environment under /opt/tljh/hub), installs
TLJH into it and hands over to the TLJH installer with the remaining options.

Running it again is safe: it upgrades TLJH in place and keeps the config, the
users and their files.

Python reads the whole script before running any of it, and nothing runs until
the last line calls main(): a download cut short does nothing.  That is also
why it is one long file: it is downloaded and run on its own.
"""

import argparse
import contextlib
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time

MIN_PYTHON = (3, 10)
# The oldest releases whose python3 is MIN_PYTHON or newer.
SUPPORTED_OS = {"debian": ((12,), "Debian 12"), "ubuntu": ((22, 4), "Ubuntu 22.04")}
SUPPORTED_OS_TEXT = ", or ".join(label + " or newer" for _, label in SUPPORTED_OS.values())
SUPPORTED_ARCHES = ("x86_64", "aarch64")
MIN_FREE_BYTES = 1_500_000_000
APT_PACKAGES = ("python3", "python3-venv", "git", "sudo", "curl", "ca-certificates")
PACKAGE_NAME = "the-littlest-jupyterhub"
RETRIES = 3

# The installer's options (the bootstrap forwards them to it) and how the
# admin's CA and mirror settings are handed to package tools: declared once in
# tljh, copied here because nothing of tljh is installed yet.
# >>> generated from tljh/install/options.py by
# `python -m tljh.install.options --write-bootstrap`; do not edit
# fmt: off
INSTALL_OPTIONS = (
    (
        "--admin",
        {
            "action": "append",
            "default": [],
            "nargs": "+",
            "metavar": "NAME[:PASSWORD]",
            "help": (
                "make NAME an admin of the hub (repeatable; several names per flag); without a "
                "password the first login sets it.  NAME:PASSWORD sets the first-use password, but "
                "everyone on this server can read it in the process list while the install runs: "
                "prefer --admin-password-file"
            ),
        },
    ),
    (
        "--admin-password-file",
        {
            "metavar": "PATH",
            "help": (
                "a file only root can read, with one NAME:PASSWORD line per admin: each NAME "
                "becomes an admin with that first-use password"
            ),
        },
    ),
    (
        "--plugin",
        {
            "action": "append",
            "default": [],
            "nargs": "+",
            "metavar": "SPEC",
            "help": "install TLJH plugins from pip specs (repeatable; several specs per flag)",
        },
    ),
    (
        "--user-requirements-txt-url",
        {
            "metavar": "URL",
            "help": "a requirements.txt (URL or path) to install into the user environment",
        },
    ),
    (
        "--user-env",
        {
            "choices": ["conda", "venv"],
            "help": (
                "how to build the user environment: conda (Miniforge: conda, mamba and pip) or "
                "venv (pip only); default: the kind already installed, else conda"
            ),
        },
    ),
    (
        "--conda-installer-url",
        {
            "metavar": "URL",
            "help": "where to download the Miniforge installer from (a mirror, or a local path)",
        },
    ),
    (
        "--conda-installer-sha256",
        {
            "metavar": "SHA256",
            "help": "the installer's sha256, when --conda-installer-url serves another file",
        },
    ),
    (
        "--dry-run",
        {
            "action": "store_true",
            "help": (
                "only say what the install would change, step by step; change nothing (a first "
                "install only says that it would install everything)"
            ),
        },
    ),
)
CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE")
CA_BUNDLE_EXPORTS = ("SSL_CERT_FILE", "PIP_CERT")
MIRROR_VARIABLES = (
    ("PIP_INDEX_URL", "UV_INDEX_URL"),
    ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
)
TOOL_DEFAULTS = (
    ("UV_PYTHON_DOWNLOADS", "never"),
    ("UV_LINK_MODE", "copy"),
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
)


def ca_bundle(environ=None):
    """The CA bundle the admin configured (first of :data:`CA_BUNDLE_VARIABLES`), if any."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in CA_BUNDLE_VARIABLES if env.get(name)), None)


def package_env(environ=None):
    """The environment for uv, pip, conda and apt: ``environ`` (default: ours), mapped."""
    env = dict(os.environ if environ is None else environ)
    ca = ca_bundle(env)
    if ca:
        for name in CA_BUNDLE_EXPORTS:
            env.setdefault(name, ca)
    for pip_name, uv_name in MIRROR_VARIABLES:
        if env.get(pip_name):
            env.setdefault(uv_name, env[pip_name])
    for name, value in TOOL_DEFAULTS:
        env.setdefault(name, value)
    return env
# fmt: on
# <<< end of the generated block

LOG_FILE = None


class HostProblem(Exception):
    def __init__(self, message, hint):
        super().__init__(message)
        self.message = message
        self.hint = hint


def log(message):
    line = "[tljh-bootstrap] " + message
    print(line, flush=True)
    if LOG_FILE is not None:
        with open(LOG_FILE, "a") as f:
            f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")


def fail(message, hint):
    print("error: " + message, file=sys.stderr, flush=True)
    if hint:
        print("hint: " + hint, file=sys.stderr, flush=True)
    if LOG_FILE is not None:
        with open(LOG_FILE, "a") as f:
            f.write(f"error: {message}\nhint: {hint}\n")
    sys.exit(1)


# ---------------------------------------------------------------- host checks


def read_os_release(path="/etc/os-release"):
    info = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    info[key] = value.strip().strip('"')
    except OSError:
        pass
    return info


def version_tuple(text):
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_host(prefix, environ):
    """Raise HostProblem for the first reason this machine cannot run TLJH."""
    if os.geteuid() != 0:
        raise HostProblem(
            "this installer must run as root",
            "run it with sudo: curl -L https://tljh.jupyter.org/bootstrap.py "
            "| sudo python3 - --admin YOUR-NAME",
        )
    release = read_os_release()
    os_id = release.get("ID", "")
    version = version_tuple(release.get("VERSION_ID", ""))
    if os_id not in SUPPORTED_OS or version < SUPPORTED_OS[os_id][0]:
        name = release.get("PRETTY_NAME") or "this operating system"
        raise HostProblem(
            f"{name} is not supported",
            f"start from a fresh server with {SUPPORTED_OS_TEXT}",
        )
    if sys.version_info[:2] < MIN_PYTHON:
        raise HostProblem(
            "Python {}.{} is too old; TLJH needs Python {}.{} or newer".format(
                *sys.version_info[:2], *MIN_PYTHON
            ),
            f"start from a fresh server with {SUPPORTED_OS_TEXT}, whose python3 is new enough",
        )
    if not os.path.isdir("/run/systemd/system") or _pid1_name() != "systemd":
        raise HostProblem(
            "systemd is not running as PID 1 on this machine",
            "TLJH needs a full server or VM booted with systemd; plain Docker "
            "containers and WSL without systemd cannot run it",
        )
    arch = platform.machine()
    if arch not in SUPPORTED_ARCHES:
        raise HostProblem(
            f"the {arch} architecture is not supported",
            "use a server with an x86_64 (amd64) or aarch64 (arm64) processor",
        )
    existing = prefix
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    free = shutil.disk_usage(existing).free
    already_installed = os.path.exists(os.path.join(prefix, "hub", "bin", "python3"))
    if free < MIN_FREE_BYTES and not already_installed:
        raise HostProblem(
            f"only {free / 1e9:.1f} GB free on the disk holding {prefix}; TLJH needs about 1.5 GB",
            "free some space or use a server with a larger disk",
        )


def _pid1_name():
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- commands


def run(argv, env=None, retries=1, what=""):
    """Run a command, streaming its output; retry transient failures."""
    for attempt in range(1, retries + 1):
        proc = subprocess.run(argv, env=env)
        if proc.returncode == 0:
            return
        if attempt < retries:
            log(f"{what} failed (exit {proc.returncode}), trying again ({attempt + 1}/{retries})")
            time.sleep(2 * attempt)
    fail(
        "{} failed (exit {}): {}".format(what or "a command", proc.returncode, " ".join(argv)),
        "the output above says why; check the network connection and run the same "
        "command again (it is safe to re-run)",
    )


def missing_apt_packages():
    missing = []
    for pkg in APT_PACKAGES:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if "install ok installed" not in proc.stdout:
            missing.append(pkg)
    return missing


def ensure_apt_packages(env):
    missing = missing_apt_packages()
    if not missing:
        log("system packages: nothing to change")
        return
    log("system packages: installing " + " ".join(missing))
    run(["apt-get", "update", "-q"], env=env, retries=RETRIES, what="apt-get update")
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env=env,
        retries=RETRIES,
        what="installing the system packages " + " ".join(missing),
    )


def python_works(python, need_pip=False):
    """Whether ``python`` runs (and, with need_pip, can run pip)."""
    modules = "sys, venv, pip" if need_pip else "sys, venv"
    code = f"import {modules}; print(sys.version_info[:2] >= {MIN_PYTHON!r})"
    try:
        proc = subprocess.run(
            [python, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "True"


def _metadata_fields(path):
    fields = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key in ("Name", "Version"):
                    fields[key] = value.strip()
    except OSError:
        pass
    return fields


def installed_plugin_specs(hub_env):
    """pip specs that reinstall the TLJH plugins found in ``hub_env``.

    Read from the files alone: the environment's Python may no longer run.
    """
    specs = []
    pattern = os.path.join(hub_env, "lib", "python3*", "site-packages", "*.dist-info")
    for info in sorted(glob.glob(pattern)):
        try:
            with open(os.path.join(info, "entry_points.txt")) as f:
                if "[tljh]" not in f.read():
                    continue
        except OSError:
            continue
        fields = _metadata_fields(os.path.join(info, "METADATA"))
        name, version = fields.get("Name"), fields.get("Version")
        if not name:
            continue
        spec = f"{name}=={version}" if version else name
        try:
            with open(os.path.join(info, "direct_url.json")) as f:
                direct = json.load(f)
        except (OSError, ValueError):
            direct = {}
        url = direct.get("url") if isinstance(direct, dict) else None
        if url:
            vcs = direct.get("vcs_info") or {}
            if url.startswith("file://") and os.path.exists(url[len("file://") :]):
                spec = url[len("file://") :]
            elif vcs.get("vcs") and vcs.get("commit_id"):
                spec = f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
            elif not url.startswith("file://"):
                spec = f"{name} @ {url}"
        specs.append(spec)
    return specs


def ensure_hub_env(hub_env, env, prefix):
    """Create the hub venv; rebuild it when its Python is gone (the OS upgraded python3).

    Returns the plugins a rebuild has to install again.
    """
    python = os.path.join(hub_env, "bin", "python3")
    # Without uv the bootstrap installs it with pip: an environment whose
    # creation was interrupted before pip was in place is rebuilt too.
    need_pip = not os.access(os.path.join(hub_env, "bin", "uv"), os.X_OK)
    if os.path.isdir(hub_env) and python_works(python, need_pip):
        log(f"hub environment: {hub_env} is in place")
        return []
    plugins = []
    if os.path.isdir(hub_env):
        log(
            f"hub environment: {hub_env} is broken (its Python no longer runs, "
            "or its creation was interrupted); rebuilding it"
        )
        plugins = installed_plugin_specs(hub_env)
        if plugins:
            log("hub environment: the plugins in it will be installed again: " + " ".join(plugins))
        # The hub must restart from the new environment, even if this run is
        # interrupted: forget what the running hub was started from.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(prefix, "state", "hub-env.fingerprint"))
        run(
            [sys.executable, "-m", "venv", "--clear", hub_env],
            env=env,
            what="creating the hub environment",
        )
    else:
        log(f"hub environment: creating {hub_env}")
        run([sys.executable, "-m", "venv", hub_env], env=env, what="creating the hub environment")
    os.chmod(hub_env, 0o755)
    return plugins


def ensure_uv(hub_env, env):
    uv = os.path.join(hub_env, "bin", "uv")
    if os.access(uv, os.X_OK):
        return uv
    log("hub environment: installing the uv package installer")
    run(
        [os.path.join(hub_env, "bin", "python3"), "-m", "pip", "install", "-q", "uv>=0.5,<1"],
        env=env,
        retries=RETRIES,
        what="installing uv",
    )
    return uv


def tljh_spec(environ, version):
    spec = environ.get("TLJH_BOOTSTRAP_PIP_SPEC")
    if spec:
        return spec
    if version:
        return f"{PACKAGE_NAME}=={version}"
    return PACKAGE_NAME


def is_local_spec(spec):
    return spec.startswith((".", "/", "~", "file:")) or os.path.exists(spec)


SOURCE_STAMP = "tljh-source.json"


def local_source_digest(path):
    """sha256 over what a local checkout installs: packaging files and the tljh package."""
    packaging = ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in")
    names = [n for n in packaging if os.path.isfile(os.path.join(path, n))]
    for root, dirs, files in os.walk(os.path.join(path, "tljh")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".pyc"):
                names.append(os.path.relpath(os.path.join(root, name), path))
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with open(os.path.join(path, name), "rb") as f:
            digest.update(f.read())
        digest.update(b"\0")
    return digest.hexdigest()


def _local_stamp(spec, dev):
    path = os.path.abspath(os.path.expanduser(spec.removeprefix("file://")))
    if not os.path.isdir(os.path.join(path, "tljh")):
        return None
    return {"spec": path, "dev": bool(dev), "digest": local_source_digest(path)}


def install_tljh(hub_env, uv, spec, dev, env):
    """Install or upgrade TLJH in the hub environment.

    A release spec is upgraded to the newest release it allows (re-running the
    bootstrap upgrades TLJH).  uv rebuilds a local checkout every time, which
    takes seconds: a checkout unchanged since it was installed is skipped.
    """
    stamp_file = os.path.join(hub_env, SOURCE_STAMP)
    stamp = _local_stamp(spec, dev) if is_local_spec(spec) else None
    site = os.path.join(hub_env, "lib", "python3*", "site-packages")
    installed = glob.glob(os.path.join(site, PACKAGE_NAME.replace("-", "_") + "-*.dist-info"))
    if stamp is not None and installed:
        try:
            with open(stamp_file) as f:
                if json.load(f) == stamp:
                    log(f"hub environment: TLJH from {spec} is unchanged since it was installed")
                    return
        except (OSError, ValueError):
            pass
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stamp_file)
    log(f"hub environment: installing or upgrading TLJH from {spec}")
    argv = [uv, "pip", "install", "-q", "--python", os.path.join(hub_env, "bin", "python3")]
    if not is_local_spec(spec):
        argv += ["--upgrade-package", PACKAGE_NAME]
    if dev:
        argv.append("-e")
    argv.append(spec)
    run(argv, env=env, retries=RETRIES, what=f"installing TLJH ({spec})")
    if stamp is not None:
        with open(stamp_file, "w") as f:
            json.dump(stamp, f)


# ---------------------------------------------------------------- upstream TLJH

# A server installed by upstream TLJH (jupyterhub/the-littlest-jupyterhub) has the
# same layout and package name; the installer takes it over.  What it replaces is
# kept in state/upstream/ (docs/howto/from-upstream.md says how to go back).
UPSTREAM_DIR = os.path.join("state", "upstream")
MIGRATION_RECORD = "migration.json"


def upstream_tljh(hub_env):
    """The version of upstream TLJH installed in ``hub_env``; None if it is not upstream's.

    Both share the package name and often the version: only ours has tljh/layout.py.
    """
    for site in sorted(glob.glob(os.path.join(hub_env, "lib", "python3*", "site-packages"))):
        infos = glob.glob(os.path.join(site, PACKAGE_NAME.replace("-", "_") + "-*.dist-info"))
        package = os.path.join(site, "tljh")
        if infos and os.path.isdir(package):
            if os.path.exists(os.path.join(package, "layout.py")):
                return None
            return _metadata_fields(os.path.join(infos[0], "METADATA")).get("Version", "unknown")
    return None


def installed_version(hub_env, name):
    """The version of the distribution ``name`` in ``hub_env``, read from its files."""
    pattern = os.path.join(hub_env, "lib", "python3*", "site-packages", name + "-*.dist-info")
    for info in sorted(glob.glob(pattern)):
        fields = _metadata_fields(os.path.join(info, "METADATA"))
        if fields.get("Name", "").lower() == name.lower():
            return fields.get("Version")
    return None


def _write_record(path, record):
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(path + ".new", path)


def take_over_upstream(prefix, hub_env):
    """Move upstream's hub environment aside, into state/upstream/; None if not upstream.

    Returns the migration record the installer continues from.  Running servers and
    the running hub keep going; the installer restarts the hub on the new environment.
    """
    version = upstream_tljh(hub_env)
    if version is None:
        return None
    kept_dir = os.path.join(prefix, UPSTREAM_DIR)
    kept_env = os.path.join(kept_dir, "hub-env")
    if os.path.lexists(kept_env):
        fail(
            f"upstream TLJH {version} is installed, and {kept_env} (what an earlier "
            "migration kept) is in the way",
            f"move {kept_env} elsewhere (or delete it if you do not need to go back to "
            "that version), then run this again",
        )
    for path in (os.path.join(prefix, "state"), kept_dir):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    jupyterhub = installed_version(hub_env, "jupyterhub") or "unknown"
    record = {
        "tljh": version,
        "jupyterhub": jupyterhub,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "started",
        "hub_env": kept_env,
    }
    _write_record(os.path.join(kept_dir, MIGRATION_RECORD), record)
    log(
        f"migration: found upstream TLJH {version} (JupyterHub {jupyterhub}); taking it over. "
        f"Its hub environment is kept in {kept_env}"
    )
    shutil.move(hub_env, kept_env)  # a rename, unless state/ is another filesystem
    return record


def give_back_upstream(prefix, hub_env, record):
    """Put upstream's hub environment back after the bootstrap failed before the installer."""
    kept_env = record["hub_env"]
    if not os.path.isdir(kept_env):
        return
    if os.path.lexists(hub_env):
        shutil.rmtree(hub_env, ignore_errors=True)
    shutil.move(kept_env, hub_env)
    record["status"] = "rolled back"
    _write_record(os.path.join(prefix, UPSTREAM_DIR, MIGRATION_RECORD), record)
    log(
        f"migration: stopped early; upstream's hub environment is back in {hub_env} and "
        "the server runs upstream TLJH as before. Fix the cause and run this again"
    )


# ---------------------------------------------------------------- progress page

PROGRESS_PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>Installing The Littlest JupyterHub</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>The Littlest JupyterHub is being installed</h1>
<p>This takes a few minutes. This page reloads itself and shows the hub's login
page as soon as the install has finished.</p>
</body></html>
"""


def start_progress_page(port=80):
    """Serve a static "installing" page on ``port`` from a child process.

    The page shows no log: the install log is for root only.  The installer
    stops the child (TLJH_PROGRESS_PAGE_PID) before the proxy needs the port,
    and the child also exits on its own once the installer is gone.
    """
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(PROGRESS_PAGE)

        def log_message(self, *args):
            pass

    try:
        server = http.server.ThreadingHTTPServer(("", port), Handler)
    except OSError as e:
        log(f"progress page: not shown, port {port} is in use ({e})")
        return None
    parent = os.getpid()
    pid = os.fork()
    if pid:
        server.server_close()
        log(f"progress page: serving on port {port}")
        return pid

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(1)
        server.shutdown()

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        server.serve_forever()
    finally:
        os._exit(0)


# ---------------------------------------------------------------- arguments


def build_parser():
    p = argparse.ArgumentParser(
        prog="bootstrap.py",
        description="Install or upgrade The Littlest JupyterHub on this server.",
        epilog="Example: curl -L https://tljh.jupyter.org/bootstrap.py "
        "| sudo python3 - --admin alice",
    )
    p.add_argument("--version", help="the TLJH version to install (default: the newest)")
    for flag, kwargs in INSTALL_OPTIONS:
        p.add_argument(flag, **kwargs)
    p.add_argument(
        "--show-progress-page",
        action="store_true",
        help="serve a page on port 80 that says the install is under way",
    )
    return p


def forwarded_args(argv):
    """The arguments for the installer: its own options of ``argv``, as parsed.

    Re-spelled from the parsed values, so that an abbreviated or ``--flag=value``
    option of the bootstrap's own is never passed on.
    """
    args = build_parser().parse_args(argv)
    out = []
    for flag, kwargs in INSTALL_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if kwargs.get("action") == "store_true":
            out += [flag] if value else []
            continue
        for one in value if kwargs.get("action") == "append" else [value]:
            if one is None:
                continue
            out += [flag, *one] if kwargs.get("nargs") else [flag, one]
    return out


# ---------------------------------------------------------------- main


def dry_run(prefix, environ, argv, version):
    """Say what the install would change, change nothing, and exit.

    Without a hub environment there is nothing to compare with: everything
    would be installed.  With one, its installer compares each step.
    """
    log(f"dry run: nothing is changed in {prefix}, in /etc or in the services")
    missing = missing_apt_packages()
    if missing:
        log("system packages: would install " + " ".join(missing))
    python = os.path.join(prefix, "hub", "bin", "python3")
    upstream = upstream_tljh(os.path.join(prefix, "hub"))
    if upstream is not None:
        log(
            f"migration: would take over upstream TLJH {upstream}: a new hub environment "
            f"(upstream's kept in {os.path.join(prefix, UPSTREAM_DIR)}), its database upgraded "
            "(a copy kept), new units and sudoers; config.yaml, users, passwords, homes and "
            "the user environment stay"
        )
        sys.exit(0)
    if not python_works(python):
        log(
            f"hub environment: would create it in {prefix}/hub and install TLJH and "
            "everything it needs (this would be a first install)"
        )
        sys.exit(0)
    log(
        f"hub environment: would install {tljh_spec(environ, version)} if it is not the "
        "installed version; the steps below are checked by the installed TLJH"
    )
    env = package_env(environ)
    env["TLJH_INSTALL_PREFIX"] = prefix
    helped = subprocess.run(
        [python, "-I", "-m", "tljh.installer", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    if "--dry-run" not in helped.stdout:
        log(
            "the installed TLJH is too old to say step by step what would change; "
            "an install would upgrade it and then bring every step up to date"
        )
        sys.exit(0)
    installer = [python, "-I", "-m", "tljh.installer", *forwarded_args(argv)]
    sys.stdout.flush()
    os.execve(python, installer, env)


def main(argv=None):
    global LOG_FILE
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    environ = dict(os.environ)
    prefix = environ.get("TLJH_INSTALL_PREFIX") or "/opt/tljh"
    try:
        check_host(prefix, environ)
    except HostProblem as e:
        fail(e.message, e.hint)

    if args.dry_run:
        dry_run(prefix, environ, argv, args.version)

    os.umask(0o022)
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    LOG_FILE = os.path.join(prefix, "installer.log")
    fd = os.open(LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(LOG_FILE, 0o600)
    started = time.monotonic()
    log(f"installing The Littlest JupyterHub into {prefix}")

    env = package_env(environ)
    env["TLJH_INSTALL_PREFIX"] = prefix
    if args.show_progress_page:
        page_pid = start_progress_page()
        if page_pid:
            env["TLJH_PROGRESS_PAGE_PID"] = str(page_pid)
    hub_env = os.path.join(prefix, "hub")
    ensure_apt_packages(env)
    upstream = take_over_upstream(prefix, hub_env)
    try:
        plugins = ensure_hub_env(hub_env, env, prefix)
        if upstream:
            # Plugins installed into upstream's environment keep their hooks.
            kept = installed_plugin_specs(upstream["hub_env"])
            if kept:
                log("migration: the plugins of upstream's hub environment: " + " ".join(kept))
            plugins += kept
        uv = ensure_uv(hub_env, env)
        dev = environ.get("TLJH_BOOTSTRAP_DEV", "no").lower() in ("1", "yes", "true")
        install_tljh(hub_env, uv, tljh_spec(environ, args.version), dev, env)
    except BaseException:
        if upstream:
            give_back_upstream(prefix, hub_env, upstream)
        raise
    log("bootstrap done in %.1f s; starting the TLJH installer" % (time.monotonic() - started))

    python = os.path.join(hub_env, "bin", "python3")
    # -I: never import tljh from the current directory (e.g. a source checkout).
    forwarded = forwarded_args(argv)
    if plugins:
        forwarded += ["--plugin", *plugins]
    installer = [python, "-I", "-m", "tljh.installer", *forwarded]
    sys.stdout.flush()
    os.execve(python, installer, env)


if __name__ == "__main__":
    main()
