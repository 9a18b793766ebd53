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
import base64
import contextlib
import errno
import glob
import hashlib
import html
import http.server
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

MIN_PYTHON = (3, 10)
# The oldest releases whose python3 is MIN_PYTHON or newer.
SUPPORTED_OS = {"debian": ((12,), "Debian 12"), "ubuntu": ((22, 4), "Ubuntu 22.04")}
SUPPORTED_OS_TEXT = ", or ".join(label + " or newer" for _, label in SUPPORTED_OS.values())
SUPPORTED_ARCHES = ("x86_64", "aarch64")
MIN_FREE_BYTES = 1_500_000_000
APT_PACKAGES = ("python3", "python3-venv", "git", "sudo", "curl", "ca-certificates")
PACKAGE_NAME = "the-littlest-jupyterhub"
# Where a git ref given as --version (a branch, tag or commit) is looked up.
SOURCE_REPOSITORY = "https://github.com/jupyterhub/the-littlest-jupyterhub.git"
RELEASES_PAGE = "https://pypi.org/project/the-littlest-jupyterhub/#history"
RETRIES = 3

# The installer's options (the bootstrap forwards them to it), how the admin's
# CA and mirror settings are handed to package tools, and the install's status
# file and progress page: declared once in tljh, copied here because nothing of
# tljh is installed yet.
# >>> generated from tljh/install/bootstrap_copy.py by
# `python -m tljh.install.bootstrap_copy --write-bootstrap`; do not edit
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
PROGRESS_FILE = "install-progress.json"
PROGRESS_RUN_VARIABLE = "TLJH_PROGRESS_RUN"
INSTALL_STEPS = (
    "directories",
    "migration",
    "hub packages",
    "config",
    "admin passwords",
    "groups",
    "service users",
    "sudoers",
    "user environment",
    "plugin packages",
    "traefik",
    "permissions",
    "secrets",
    "proxy config",
    "systemd units",
    "tljh-config",
    "hub database",
    "services",
    "migration done",
    "post-install hooks",
)
PROGRESS_FORMAT = 1
BOOTSTRAP_STEPS = ("system packages", "hub environment", "TLJH package")
PROGRESS_LINGER_SECONDS = 600
PROGRESS_POLL_SECONDS = 3
PROGRESS_OUTCOMES = ("running", "done", "failed")
PROGRESS_STYLE = (
    "\n"
    "body { font-family: system-ui, sans-serif; color: #222; background: #fafafa; margin: 0; }\n"
    "main { max-width: 42em; margin: 3em auto; padding: 0 1em; }\n"
    "h1 { font-size: 1.5em; }\n"
    "progress { width: 100%; height: 1.2em; }\n"
    "ol.steps { columns: 2; padding-left: 1.5em; color: #777; }\n"
    "ol.steps li.done { color: #2e7d32; }\n"
    "ol.steps li.done::marker { content: \"\\2713  \"; }\n"
    "ol.steps li.running { color: #222; font-weight: bold; }\n"
    "ol.steps li.failed { color: #c62828; font-weight: bold; }\n"
    ".failed-box { border-left: 4px solid #c62828; background: #fff; padding: 0.5em 1em; }\n"
    "code { background: #eee; padding: 0 0.2em; }\n"
)
PROGRESS_SCRIPT = (
    "\n"
    "(function () {\n"
    "  function poll() {\n"
    "    fetch(location.href, {cache: \"no-store\"}).then(function (r) {\n"
    "      return r.text();\n"
    "    }).then(function (text) {\n"
    "      if (text.indexOf(\"data-tljh-progress\") < 0) { location.reload(); return; }\n"
    "      var fresh = new DOMParser().parseFromString(text, "
    "\"text/html\").querySelector(\"main\");\n"
    "      document.querySelector(\"main\").replaceWith(fresh);\n"
    "    }).catch(function () {\n"
    "      var note = document.getElementById(\"waiting\");\n"
    "      if (note) { note.hidden = false; }\n"
    "    }).finally(function () { setTimeout(poll, POLL_MS); });\n"
    "  }\n"
    "  setTimeout(poll, POLL_MS);\n"
    "})();\n"
)


def ca_bundle(environ = None):
    """The CA bundle the admin configured (first of :data:`CA_BUNDLE_VARIABLES`), if any."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in CA_BUNDLE_VARIABLES if env.get(name)), None)


def package_env(environ = None):
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


def new_progress(run, steps, now):
    """A status for install ``run`` at its first step."""
    return {
        "format": PROGRESS_FORMAT,
        "run": run,
        "steps": list(steps),
        "current": 0,
        "outcome": "running",
        "updated": now,
    }


def progress_at(status, step, now):
    """``status`` with ``step`` running and every step before it done.

    A step the list does not name (an installer newer than the list) is added
    after the current one.
    """
    steps = list(status["steps"])
    if step not in steps:
        steps.insert(min(status["current"] + 1, len(steps)), step)
    return {**status, "steps": steps, "current": steps.index(step), "updated": now}


def progress_ended(status, ok, now):
    """``status`` when the install finished (``ok``) or stopped on an error at its current step."""
    current = len(status["steps"]) if ok else status["current"]
    return {**status, "current": current, "outcome": "done" if ok else "failed", "updated": now}


def read_progress(text):
    """The status in ``text`` (a status file's content), or None if it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
        return None
    steps = data.get("steps")
    current = data.get("current")
    if (
        not isinstance(data.get("run"), str)
        or not isinstance(steps, list)
        or not all(isinstance(s, str) for s in steps)
        or not isinstance(current, int)
        or isinstance(current, bool)
        or not 0 <= current <= len(steps)
        or data.get("outcome") not in PROGRESS_OUTCOMES
        or not isinstance(data.get("updated"), (int, float))
    ):
        return None
    return data


def progress_script():
    """The page's script, with the poll interval filled in."""
    return PROGRESS_SCRIPT.replace("POLL_MS", str(PROGRESS_POLL_SECONDS * 1000))


def csp_hash(text):
    """A Content-Security-Policy source that allows exactly the inline ``text``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def progress_page_headers():
    """The HTTP headers of the page: never cached, and nothing but its own script,
    its own style and requests to the same server (no outside resources)."""
    policy = (
        "default-src 'none'; connect-src 'self'; "
        f"script-src {csp_hash(progress_script())}; style-src {csp_hash(PROGRESS_STYLE)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]


def render_progress_page(
    status, installer_running, log_path
):
    """The page for ``status`` (None: not known yet).

    ``installer_running`` is False once the process that runs the install is
    gone: a status still "running" then means it was interrupted.  The page
    names steps and says what to do; it never holds log lines.
    """
    esc = html.escape
    if status is None:
        state, steps, current = "running", [], 0
    else:
        state, steps, current = status["outcome"], status["steps"], status["current"]
        if state == "running" and not installer_running:
            state = "stopped"
    total = len(steps)
    items = []
    for index, name in enumerate(steps):
        if index < current:
            cls = "done"
        elif index == current:
            cls = "failed" if state in ("failed", "stopped") else "running"
        else:
            cls = "pending"
        current_attr = ' aria-current="step"' if cls in ("running", "failed") else ""
        items.append(f'<li class="{cls}"{current_attr}>{esc(name)}</li>')
    step_name = esc(steps[current]) if current < total else ""
    what_to_do = (
        "<h2>What to do</h2><ol>"
        "<li>On the server, read the lines starting with <code>error:</code> and "
        "<code>hint:</code> that the installer printed. The full log is in "
        f"<code>{esc(log_path)}</code>, which only root can read: "
        f"<code>sudo less {esc(log_path)}</code>.</li>"
        "<li>Fix what the hint names.</li>"
        "<li>Run the same install command again. That is safe: it keeps what is done "
        "and continues from there, and this page comes back while it runs.</li></ol>"
    )
    if state == "done":
        heading = "The Littlest JupyterHub is installed"
        body = "<p>The hub is starting. This page shows its login page in a moment.</p>"
    elif state in ("failed", "stopped"):
        heading = "The installation of The Littlest JupyterHub stopped"
        where = f" at step {current + 1} of {total}: {step_name}" if step_name else ""
        why = "on an error" if state == "failed" else "before it finished (it was interrupted)"
        body = f'<div class="failed-box"><p>The install stopped{where}, {why}.</p></div>'
        body += what_to_do
    else:
        heading = "The Littlest JupyterHub is being installed"
        if step_name:
            body = f'<p class="lead">Step {current + 1} of {total}: {step_name}</p>'
        else:
            body = '<p class="lead">Starting&hellip;</p>'
        body += (
            "<p>This takes a few minutes. This page updates itself, and shows the hub's "
            "login page when the install is done.</p>"
        )
    bar = (
        f'<progress max="{max(total, 1)}" value="{min(current, total)}">'
        f"{min(current, total)} of {total} steps done</progress>"
    )
    waiting = (
        '<p id="waiting" hidden>Waiting for the server to answer (the hub may be '
        "starting)&hellip;</p>"
    )
    steps_list = f'<ol class="steps">{"".join(items)}</ol>' if items else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(heading)}</title>"
        f'<noscript><meta http-equiv="refresh" content="{PROGRESS_POLL_SECONDS * 2}"></noscript>'
        f"<style>{PROGRESS_STYLE}</style></head>\n"
        f'<body data-tljh-progress="{state}"><main>'
        f"<h1>{esc(heading)}</h1>{body}{bar}{waiting}{steps_list}</main>"
        f"<script>{progress_script()}</script></body></html>\n"
    )


def write_progress(path, status):
    """Replace the status file at ``path`` atomically, readable by its owner (root) only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(status, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_progress(path):
    """The status in the file at ``path``; None if it is missing or not a status."""
    try:
        with open(path) as f:
            return read_progress(f.read())
    except (OSError, UnicodeDecodeError):
        return None
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
    progress_failed()
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


# A release as --version takes it: 2, 2.1, 2.1.0, 2.1.0b1, 2.1.0rc1, 2.1.0.post1, 2.1.0.dev3
# (a leading "v", as in git tags, is allowed).
RELEASE_PATTERN = re.compile(
    r"v?(?P<release>\d+(?:\.\d+)*)(?P<pre>(?:a|b|rc)\d+)?(?P<post>\.post\d+)?(?P<dev>\.dev\d+)?"
)
# What git accepts as a branch or tag name, roughly, and nothing a shell would expand.
GIT_REF_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}")
COMMIT_PATTERN = re.compile(r"[0-9a-f]{7,40}")
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip")


class VersionProblem(Exception):
    def __init__(self, message, hint):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _git_source(url, ref, what):
    spec = f"{PACKAGE_NAME} @ git+{url}" + (f"@{ref}" if ref else "")
    return {"kind": "git", "spec": spec, "url": url, "ref": ref, "what": what}


def resolve_version(version):
    """What ``--version VERSION`` asks for, as upstream TLJH's bootstrap takes it.

    Returns a source: ``kind`` (release: from the package index; git; url: an
    archive; local: a directory), ``spec`` (what uv installs), ``what`` (for
    messages), and for git the ``url`` and ``ref`` to check first.

    - ``latest`` (or nothing): the newest release;
    - ``X`` or ``X.Y``: the newest release X.*, X.Y.*; ``X.Y.Z`` and pre-releases
      like ``X.Y.Zb1``: exactly that release;
    - a git URL (``git+https://…[@REF]``, ``https://….git[@REF]``) or an archive
      URL (``https://…/….tar.gz``, ``.whl``, ``.zip``); ``file:///path``: a copy of the source;
    - anything else that can be a git ref (``main``, a tag, a commit): that ref
      of :data:`SOURCE_REPOSITORY`.

    Raises :class:`VersionProblem` for anything else.
    """
    text = (version or "").strip()
    if text in ("", "latest"):
        return {"kind": "release", "spec": PACKAGE_NAME, "what": "the newest TLJH release"}
    release = RELEASE_PATTERN.fullmatch(text)
    if release:
        number = text.lstrip("v")
        exact = number.count(".") >= 2 or any(release.group(g) for g in ("pre", "post", "dev"))
        if exact:
            return {
                "kind": "release",
                "spec": f"{PACKAGE_NAME}=={number}",
                "what": f"TLJH {number}",
            }
        return {
            "kind": "release",
            "spec": f"{PACKAGE_NAME}=={number}.*",
            "what": f"the newest TLJH {number}.x release",
        }
    if text.startswith("file://"):
        return {"kind": "local", "spec": text[len("file://") :], "what": f"TLJH from {text}"}
    if text.startswith("git+"):
        url = text[len("git+") :]
        if "://" not in url:
            raise VersionProblem(
                f"--version {text}: {url} is not a URL",
                "give a git URL like git+https://github.com/jupyterhub/the-littlest-jupyterhub.git@main",
            )
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        ref = None
        if "@" in path:
            path, _, ref = path.rpartition("@")
        return _git_source(f"{scheme}://{host}{slash}{path}", ref, f"TLJH from {text}")
    if text.startswith(("https://", "http://")):
        if text.split("?")[0].split("#")[0].endswith(ARCHIVE_SUFFIXES):
            return {"kind": "url", "spec": f"{PACKAGE_NAME} @ {text}", "what": f"TLJH from {text}"}
        scheme, _, rest = text.partition("://")
        host, slash, path = rest.partition("/")
        ref = None
        if "@" in path:
            path, _, ref = path.rpartition("@")
        return _git_source(f"{scheme}://{host}{slash}{path}", ref, f"TLJH from {text}")
    if GIT_REF_PATTERN.fullmatch(text) and ".." not in text and not text.endswith((".lock", "/")):
        return _git_source(SOURCE_REPOSITORY, text, f"TLJH from {text} of {SOURCE_REPOSITORY}")
    raise VersionProblem(
        f"--version {text!r} is neither a release, a git branch, tag or commit, nor a URL",
        "give latest (the default), a release such as 2.0 or 2.0.1, a branch or tag such as "
        "main, or a URL (git+https://...@REF, or an archive https://.../....tar.gz)",
    )


def tljh_source(environ, version):
    """Where TLJH is installed from: ``--version`` (which wins, as in upstream's bootstrap),
    else ``TLJH_BOOTSTRAP_PIP_SPEC``, else the newest release."""
    if version:
        return resolve_version(version)
    spec = environ.get("TLJH_BOOTSTRAP_PIP_SPEC")
    if spec:
        kind = "local" if is_local_spec(spec) else "spec"
        return {"kind": kind, "spec": spec, "what": f"TLJH from {spec}"}
    return resolve_version("latest")


def index_name(env):
    """The package index uv asks, for messages."""
    return env.get("UV_INDEX_URL") or env.get("PIP_INDEX_URL") or "PyPI"


def release_problem(source, version, on_index, env):
    """Why installing a release failed, when uv could not find it: (message, hint).

    ``on_index``: whether the index has any release of TLJH at all.
    """
    index = index_name(env)
    if not on_index:
        return (
            f"{source['what']} cannot be installed: the package index this server uses "
            f"({index}) has no package named {PACKAGE_NAME}",
            "install TLJH from its source instead: --version main (or another branch, tag or "
            f"commit of {SOURCE_REPOSITORY}; needs access to GitHub), --version with a "
            "git+https:// or archive URL this server can reach, or, with a copy of the source "
            "on this server, TLJH_BOOTSTRAP_PIP_SPEC=/path/to/it; if this server must use a "
            "mirror of PyPI, set PIP_INDEX_URL",
        )
    return (
        f"there is no release matching --version {version} on the package index ({index})",
        f"see the releases at {RELEASES_PAGE} (or on your mirror) and give one of them, or "
        "leave out --version to install the newest",
    )


def git_problem(source, returncode, stderr):
    """Why ``git ls-remote`` of a git source failed: (message, hint), or None if it did not.

    ``returncode`` None: git did not answer in time.  With ``--exit-code``, 2
    means the repository has no branch or tag of that name.
    """
    url, ref = source["url"], source["ref"]
    if returncode == 0:
        return None
    if returncode == 2:
        if ref is None or COMMIT_PATTERN.fullmatch(ref):
            # A commit is not listed by ls-remote: the fetch will tell.
            return None
        return (
            f"{url} has no branch or tag named {ref}",
            f"check the name ('git ls-remote {url}' lists them), or give a release: "
            "--version latest or e.g. --version 2.0",
        )
    last = (stderr or "").strip().splitlines()[-1:] or ["no answer in time"]
    if returncode is None:
        last = ["no answer within a minute"]
    return (
        f"cannot reach {url} to install {source['what']} ({last[0]})",
        "this server cannot download TLJH from there. Install a release from the package "
        "index instead (--version latest, or e.g. --version 2.0), or copy the source to "
        "this server and run with TLJH_BOOTSTRAP_PIP_SPEC=/path/to/it",
    )


def check_git_source(source, env):
    """Fail with a clear message when a git source cannot be reached or has no such ref."""
    argv = ["git", "ls-remote", "--exit-code", source["url"]]
    if source["ref"] and not COMMIT_PATTERN.fullmatch(source["ref"]):
        argv.append(source["ref"])
    try:
        proc = subprocess.run(
            argv,
            env={**env, "GIT_TERMINAL_PROMPT": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        returncode, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        returncode, stderr = None, ""
    except OSError as e:
        fail(f"cannot run git to fetch {source['what']}: {e}", "install git: apt-get install git")
    problem = git_problem(source, returncode, stderr)
    if problem:
        fail(*problem)


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


def installed_tljh_version(hub_env):
    """The version of TLJH in ``hub_env`` (from its files; "" if they do not say), or None."""
    site = os.path.join(hub_env, "lib", "python3*", "site-packages")
    found = glob.glob(os.path.join(site, PACKAGE_NAME.replace("-", "_") + "-*.dist-info"))
    if not found:
        return None
    return _metadata_fields(os.path.join(sorted(found)[-1], "METADATA")).get("Version", "")


def pinned_version(compiled):
    """The version of TLJH in ``uv pip compile``'s output (``NAME==VERSION`` lines), or None."""
    for line in compiled.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and re.sub(r"[-_.]+", "-", name).lower() == PACKAGE_NAME:
            return version.split(";")[0].strip()
    return None


def uv_compile(uv, hub_env, spec, env):
    """What ``uv pip compile`` pins ``spec`` to (its output), or None when it finds nothing.

    It asks the package index only: ``uv pip install`` would be content with any
    installed TLJH that matches (a copy built from a checkout, say).
    """
    argv = [uv, "pip", "compile", "-", "-q", "--no-deps", "--no-header", "--no-annotate"]
    argv += ["--python", os.path.join(hub_env, "bin", "python3")]
    proc = subprocess.run(argv, input=spec + "\n", env=env, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def newest_release(uv, hub_env, spec, env):
    """The newest release on the package index that satisfies ``spec``, or None."""
    compiled = uv_compile(uv, hub_env, spec, env)
    return pinned_version(compiled) if compiled is not None else None


def release_to_install(uv, hub_env, source, version, env):
    """The exact release that ``source`` (a release) names; fails saying why there is none."""
    found = newest_release(uv, hub_env, source["spec"], env)
    if found:
        return found
    # pip is on every index and mirror: if it is not found either, the index is not reached.
    if uv_compile(uv, hub_env, "pip", env) is None:
        index = index_name(env)
        fail(
            f"cannot reach the package index ({index}) to look up {source['what']}",
            "check this server's network connection (and http_proxy/https_proxy, "
            "PIP_INDEX_URL or SSL_CERT_FILE if it needs them), then run the same command again",
        )
    on_index = source["spec"] != PACKAGE_NAME and newest_release(uv, hub_env, PACKAGE_NAME, env)
    fail(*release_problem(source, version, bool(on_index), env))


def install_tljh(hub_env, uv, source, dev, env, version=None):
    """Install or upgrade TLJH in the hub environment from ``source`` (:func:`tljh_source`).

    A release spec is upgraded to the newest release it allows (re-running the
    bootstrap upgrades TLJH).  uv rebuilds a local checkout every time, which
    takes seconds: a checkout unchanged since it was installed is skipped.
    """
    spec = source["spec"]
    stamp_file = os.path.join(hub_env, SOURCE_STAMP)
    stamp = _local_stamp(spec, dev) if source["kind"] == "local" else None
    installed = installed_tljh_version(hub_env)
    if stamp is not None and installed is not None:
        try:
            with open(stamp_file) as f:
                if json.load(f) == stamp:
                    log(f"hub environment: TLJH from {spec} is unchanged since it was installed")
                    return
        except (OSError, ValueError):
            pass
    if source["kind"] == "git":
        check_git_source(source, env)
    argv = [uv, "pip", "install", "-q", "--python", os.path.join(hub_env, "bin", "python3")]
    if source["kind"] == "release":
        release = release_to_install(uv, hub_env, source, version, env)
        if release == installed:
            log(f"hub environment: TLJH {release} ({source['what']}) is installed")
            return
        log(f"hub environment: installing TLJH {release} ({source['what']})")
        argv.append(f"{PACKAGE_NAME}=={release}")
    else:
        log(f"hub environment: installing or upgrading {source['what']}")
        if source["kind"] != "local":
            argv += ["--upgrade-package", PACKAGE_NAME]
        if dev and source["kind"] == "local":
            argv.append("-e")
        argv.append(spec)
    # Whatever was installed from a checkout may be half replaced from here on.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stamp_file)
    run(argv, env=env, retries=RETRIES, what=f"installing {source['what']}")
    if stamp is not None:
        with open(stamp_file, "w") as f:
            json.dump(stamp, f)
    now = installed_tljh_version(hub_env)
    if now and now != installed:
        was = f" (was {installed})" if installed else ""
        log(f"hub environment: TLJH {now} is installed{was}")


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


# ---------------------------------------------------------------- progress

# The install's status file (path, status) once the install has started.
PROGRESS = None


def _progress_write():
    try:
        write_progress(PROGRESS["path"], PROGRESS["status"])
    except OSError as e:
        print(f"[tljh-bootstrap] warning: could not write {PROGRESS['path']}: {e}", flush=True)


def progress_start(prefix):
    """Start the status file of a new install run (every step pending); return the run's id.

    A progress page still showing how an earlier run ended sees the new run
    and stops, which frees port 80.
    """
    global PROGRESS
    run = uuid.uuid4().hex
    status = new_progress(run, BOOTSTRAP_STEPS + INSTALL_STEPS, time.time())
    PROGRESS = {"path": os.path.join(prefix, PROGRESS_FILE), "status": status}
    _progress_write()
    return run


def progress_step(name):
    if PROGRESS is not None:
        PROGRESS["status"] = progress_at(PROGRESS["status"], name, time.time())
        _progress_write()


def progress_failed():
    if PROGRESS is not None:
        PROGRESS["status"] = progress_ended(PROGRESS["status"], False, time.time())
        _progress_write()


class BoundedHTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection, but at most MAX_CONNECTIONS at once.

    The page faces the internet during the install: connections that send
    nothing would otherwise each hold a thread, and enough of them would take
    the memory the install needs. Past the limit a connection is closed at once.
    """

    MAX_CONNECTIONS = 32
    # Connections past the limit are taken in (and closed), not left in the kernel's queue.
    request_queue_size = 128
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self.slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class ProgressServer(BoundedHTTPServer):
    """Port 80 on IPv6 and IPv4 where the machine has IPv6, else on IPv4."""

    address_family = socket.AF_INET6

    def server_bind(self):
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def make_progress_server(port, log_path, current):
    """A server (bound, not yet serving) that answers every GET with the progress page.

    ``current()`` returns the status to show (or None) and whether the install
    is still under way.  The server reads no file at all: it may run as nobody,
    and it can never show the install log, which may hold passwords.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        # A client that sends nothing must not hold a thread for long.
        timeout = 10

        def do_GET(self):
            self._answer(with_body=True)

        def do_HEAD(self):
            self._answer(with_body=False)

        def _answer(self, with_body):
            if self.path.split("?")[0] == "/favicon.ico":
                self.send_error(404)
                return
            status, running = current()
            page = render_progress_page(status, running, log_path).encode()
            self.send_response(200)
            for name, value in progress_page_headers():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            if with_body:
                self.wfile.write(page)

        def log_message(self, *args):
            pass

    try:
        return ProgressServer(("::", port), Handler)
    except OSError as e:
        if e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
            raise

    return BoundedHTTPServer(("", port), Handler)


def drop_privileges():
    """Become nobody: what answers the internet must not be root."""
    try:
        entry = pwd.getpwnam("nobody")
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        uid = gid = 65534
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def serve_progress(server, shown, updates):
    """Serve the page as nobody, showing what arrives on ``updates`` (a pipe of JSON
    lines ``[status, installer_running]``) by putting it into ``shown``, which the
    server's ``current()`` reads; stop when the pipe closes."""
    drop_privileges()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with os.fdopen(updates) as lines:
        for line in lines:
            with contextlib.suppress(ValueError, TypeError):
                status, running = json.loads(line)
                shown[:] = [read_progress(json.dumps(status)), bool(running)]
    server.shutdown()


def wait_for_earlier_page(earlier, seconds=5):
    """Wait until the progress page of an earlier run that did not finish is gone.

    That page stops within a second or two of seeing the new run's status file
    (:func:`progress_start`), and gives port 80 back as it goes; an install
    with nothing to change would otherwise reach the proxy before it has.
    """
    if earlier is None or earlier["outcome"] == "done":
        return
    pid = earlier.get("page")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                # A zombie has let go of its port; "pid (name) STATE ...".
                if f.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                    return
        except (OSError, IndexError):
            return
        time.sleep(0.1)


def start_progress_page(prefix, run, port=80):
    """Serve the progress page on ``port`` from child processes; return the pid to stop.

    The child (root) reads the root-only status file every second and hands
    what to show to its own child, which serves the page as nobody.  The
    installer stops the child (TLJH_PROGRESS_PAGE_PID) before the proxy needs
    the port; it stops the server first.  If the install stops before that,
    the page keeps saying so for PROGRESS_LINGER_SECONDS, or until another
    install run starts.  The run's status names the child (``page``), so that
    the next run can wait for it to let go of the port.
    """
    status_path = os.path.join(prefix, PROGRESS_FILE)
    parent = os.getpid()
    shown = [None, True]

    def installer_running():
        return os.getppid() == parent

    try:
        server = make_progress_server(port, LOG_FILE, lambda: tuple(shown))
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        log(f"progress page: not shown, port {port} is in use ({e.strerror})")
        return None
    pid = os.fork()
    if pid:
        server.server_close()
        PROGRESS["status"]["page"] = pid
        _progress_write()
        log(f"progress page: serving on port {port}")
        return pid
    server_pid = 0
    try:
        # Not the install's terminal or pipe: whoever reads the install's output
        # (a pipe into tee, a test) sees its end when the installer exits.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        read_end, write_end = os.pipe()
        server_pid = os.fork()
        if server_pid == 0:
            try:
                os.close(write_end)
                serve_progress(server, shown, read_end)
            finally:
                os._exit(0)
        os.close(read_end)
        server.server_close()

        def stop(signum, frame):
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        with os.fdopen(write_end, "w") as updates:
            gone_since = None
            sent = None
            while True:
                status = load_progress(status_path)
                if status is None or status["run"] != run or status["outcome"] == "done":
                    break
                running = installer_running()
                if not running:
                    gone_since = gone_since or time.monotonic()
                    if time.monotonic() - gone_since > PROGRESS_LINGER_SECONDS:
                        break
                update = json.dumps([status, running])
                if update != sent:
                    updates.write(update + "\n")
                    updates.flush()
                    sent = update
                time.sleep(1)
    finally:
        # The server must be gone (and port 80 free) when this process is.
        if server_pid:
            with contextlib.suppress(OSError):
                os.kill(server_pid, signal.SIGTERM)
                os.waitpid(server_pid, 0)
        os._exit(0)


# ---------------------------------------------------------------- arguments


def build_parser():
    p = argparse.ArgumentParser(
        prog="bootstrap.py",
        description="Install or upgrade The Littlest JupyterHub on this server.",
        epilog="Example: curl -L https://tljh.jupyter.org/bootstrap.py "
        "| sudo python3 - --admin alice",
    )
    p.add_argument(
        "--version",
        metavar="VERSION",
        help="the TLJH to install: latest (the default: the newest release), a release "
        "(2 or 2.0: the newest 2.x or 2.0.x; 2.0.1 or 2.1.0b1: exactly that), a branch, tag or "
        f"commit of {SOURCE_REPOSITORY} (e.g. main), or a URL (git+https://...@REF, or an "
        "archive such as https://.../....tar.gz)",
    )
    for flag, kwargs in INSTALL_OPTIONS:
        p.add_argument(flag, **kwargs)
    p.add_argument(
        "--show-progress-page",
        action="store_true",
        help="while installing, serve a page on port 80 that shows the install's steps and "
        "how far it got (and whether it stopped), never its log",
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


def dry_run(prefix, environ, argv, source):
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
        f"hub environment: would install {source['what']} if it is not the "
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
        source = tljh_source(environ, args.version)
    except VersionProblem as e:
        fail(e.message, e.hint)
    try:
        check_host(prefix, environ)
    except HostProblem as e:
        fail(e.message, e.hint)

    if args.dry_run:
        dry_run(prefix, environ, argv, source)

    os.umask(0o022)
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    LOG_FILE = os.path.join(prefix, "installer.log")
    fd = os.open(LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(LOG_FILE, 0o600)
    started = time.monotonic()
    log(f"installing The Littlest JupyterHub into {prefix}")
    if args.version and environ.get("TLJH_BOOTSTRAP_PIP_SPEC"):
        log("--version is given: TLJH_BOOTSTRAP_PIP_SPEC is not used")

    env = package_env(environ)
    env["TLJH_INSTALL_PREFIX"] = prefix
    earlier = load_progress(os.path.join(prefix, PROGRESS_FILE))
    run_id = progress_start(prefix)
    env[PROGRESS_RUN_VARIABLE] = run_id
    wait_for_earlier_page(earlier)
    if args.show_progress_page:
        page_pid = start_progress_page(prefix, run_id)
        if page_pid:
            env["TLJH_PROGRESS_PAGE_PID"] = str(page_pid)
    hub_env = os.path.join(prefix, "hub")
    progress_step("system packages")
    ensure_apt_packages(env)
    progress_step("hub environment")
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
        progress_step("TLJH package")
        dev = environ.get("TLJH_BOOTSTRAP_DEV", "no").lower() in ("1", "yes", "true")
        install_tljh(hub_env, uv, source, dev, env, args.version)
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
