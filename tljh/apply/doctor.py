"""``tljh doctor``: the known causes of a broken server, each checked, each with its fix.

Every check is a probe that gathers facts (effects: files, /proc, a command)
and a pure ``judge_*`` function that turns them into a
:class:`~tljh.apply.findings.Finding`; the judgements are unit-tested, the
probes run against a real install in the integration suite.  A check whose
probe fails reports that as its finding; it never stops the others.

``docs/howto/troubleshooting.md`` lists every check by its name, with the
symptom it explains and its fix: keep the two in step.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tljh.apply.findings import FAIL, OK, WARN, Finding, JudgedConfig, config_finding
from tljh.apply.health import public_ports
from tljh.apply.precheck import check_hub_config
from tljh.apply.snapshot import mentioned_snippets
from tljh.config.fallback import Fallback, read_fallback
from tljh.errors import ConfigRefused
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.render.proxy import uses_acme
from tljh.render.units import hub_unit, traefik_unit
from tljh.system import systemd
from tljh.system.addresses import local_addresses
from tljh.system.ports import Holder, port_holders
from tljh.system.run import run

#: The proxy's process name, as /proc/PID/comm shows it.
PROXY_PROCESS = "traefik"
#: Free space or inodes below these fractions: warn, fail.
DISK_WARN = 0.10
DISK_FAIL = 0.05
#: ... or fewer free bytes than this on a filesystem larger than ten times it.
DISK_FAIL_BYTES = 500 * 1024**2
#: Importing the user environment's server takes ~1 s; more is a hang.
USER_ENV_TIMEOUT = 60.0
INSTALLER_HINT = (
    "re-run the installer (the bootstrap command you installed with, as root): it puts "
    "back what it manages and keeps your config and users' files"
)


# --- judgements (pure) ------------------------------------------------------------

CLOCK_FIX = (
    "turn on time synchronization: 'sudo timedatectl set-ntp true' (install "
    "systemd-timesyncd if it says NTP is not supported), then check 'timedatectl'"
)


def judge_port(key: str, port: int, holders: Sequence[Holder]) -> Finding:
    """Who listens on a port the proxy must serve users on."""
    name = f"port {port}"
    others = [h for h in holders if h.name != PROXY_PROCESS]
    if others:
        who = ", ".join(str(h) for h in others)
        return Finding(
            name,
            FAIL,
            f"{who} listens on port {port} ({key}), which the proxy needs",
            f"stop that program (e.g. 'sudo systemctl disable --now {others[0].name}'), or "
            f"move the hub with 'sudo tljh-config set {key} <port>' and "
            "'sudo tljh-config reload proxy'",
        )
    if not holders:
        return Finding(
            name,
            FAIL,
            f"nothing listens on port {port} ({key}): the proxy is not serving",
            "'sudo systemctl restart traefik', then 'sudo tljh logs proxy' if it stops again",
        )
    return Finding(name, OK, f"the proxy listens on port {port} ({key})")


def judge_dns(domain: str, resolved: Sequence[str] | str, local: set[str]) -> Finding:
    """Does a Let's Encrypt domain point at this machine?  ``resolved``: addresses or error."""
    name = f"dns {domain}"
    fix = (
        f"point an A (and AAAA, if you have IPv6) record of {domain} at this server's public "
        "address at your DNS provider; Let's Encrypt cannot issue a certificate before that"
    )
    if isinstance(resolved, str):
        return Finding(name, FAIL, f"{domain} does not resolve ({resolved})", fix)
    if not resolved:
        return Finding(name, FAIL, f"{domain} has no address", fix)
    here = sorted(set(resolved) & local)
    if here:
        return Finding(name, OK, f"{domain} points here ({', '.join(here)})")
    return Finding(
        name,
        WARN,
        f"{domain} points to {', '.join(sorted(set(resolved)))}, not to an address of this "
        "machine (fine only if a router forwards that address to this server)",
        fix + "; behind NAT, forward ports 80 and 443 of that address to this server",
    )


def judge_clock(synchronized: bool | None, uses_https_acme: bool) -> Finding:
    """Is the clock kept right?  A wrong clock breaks logins' cookies and HTTPS."""
    if synchronized:
        return Finding("clock", OK, "the clock is synchronized (NTP)")
    if synchronized is None:
        return Finding("clock", WARN, "cannot tell whether the clock is synchronized", CLOCK_FIX)
    why = " and Let's Encrypt refuses certificates" if uses_https_acme else ""
    return Finding(
        "clock",
        WARN,
        "the clock is not synchronized: a clock that is off breaks login cookies" + why,
        CLOCK_FIX,
    )


@dataclass(frozen=True)
class DiskFacts:
    path: str
    total: int
    free: int
    inodes_total: int
    inodes_free: int


def _size(n: float) -> str:
    for unit in ("T", "G", "M", "K"):
        size = {"T": 1024**4, "G": 1024**3, "M": 1024**2, "K": 1024}[unit]
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}B"


def judge_disk(facts: DiskFacts) -> Finding:
    """Free space and free inodes of one filesystem."""
    name = f"disk {facts.path}"
    space = facts.free / facts.total if facts.total else 1.0
    inodes = facts.inodes_free / facts.inodes_total if facts.inodes_total else 1.0
    detail = (
        f"{_size(facts.free)} of {_size(facts.total)} free ({space:.0%}), "
        f"{inodes:.0%} of inodes free"
    )
    fix = (
        f"free space on {facts.path}: 'sudo du -xsh {facts.path}/* | sort -h' shows what is "
        "big (students' homes, old archives in /opt/tljh/state/removed-homes, "
        "'sudo journalctl --vacuum-size=200M'); or grow the disk"
    )
    low_bytes = facts.free < DISK_FAIL_BYTES and facts.total > 10 * DISK_FAIL_BYTES
    if space < DISK_FAIL or inodes < DISK_FAIL or low_bytes:
        what = "inodes" if inodes < DISK_FAIL and space >= DISK_FAIL else "space"
        if what == "inodes":
            fix = (
                f"too many small files on {facts.path}: 'sudo du -x --inodes {facts.path} | "
                "sort -n | tail' shows where; delete what is not needed"
            )
        return Finding(name, FAIL, f"nearly full: {detail}; servers and the hub fail to write", fix)
    if space < DISK_WARN or inodes < DISK_WARN:
        return Finding(name, WARN, f"filling up: {detail}", fix)
    return Finding(name, OK, detail)


def judge_user_env(layout: Layout, script: bool, import_error: str | None) -> Finding:
    """Can users' servers start: is ``jupyterhub-singleuser`` there and does it import?"""
    fix = (
        "reinstall the server package into the user environment: 'sudo "
        f"{layout.user_env}/bin/python3 -m pip install --force-reinstall jupyterhub' "
        f"(same version as the hub's), or {INSTALLER_HINT}"
    )
    if not script:
        return Finding(
            "user env",
            FAIL,
            f"{layout.user_env}/bin/jupyterhub-singleuser is missing: no server can start",
            fix,
        )
    if import_error is not None:
        return Finding(
            "user env",
            FAIL,
            f"the user environment's server does not import: {import_error}",
            fix,
        )
    return Finding("user env", OK, f"jupyterhub-singleuser imports in {layout.user_env}")


def judge_hub_env(layout: Layout, base_python: Path | None, exists: bool) -> Finding:
    """Is the Python the hub environment was built on still there (an OS upgrade removes it)?"""
    if exists:
        return Finding("hub env", OK, f"{layout.hub_python} -> {base_python}")
    return Finding(
        "hub env",
        FAIL,
        f"the Python of the hub environment ({base_python or layout.hub_python}) is "
        "missing (removed by an OS upgrade?): the hub cannot start",
        INSTALLER_HINT + "; it rebuilds the hub environment on the system's Python",
    )


def judge_sudoers(returncode: int, output: str) -> Finding:
    """Does ``visudo -c`` accept every sudoers file?"""
    if returncode == 0:
        return Finding("sudoers", OK, "every sudoers file parses")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    bad = [line for line in lines if "error" in line.lower()] or lines[-3:]
    return Finding(
        "sudoers",
        FAIL,
        "sudo refuses its configuration, so nobody can use sudo: " + "; ".join(bad[:3]),
        "from a root shell (sudo is broken: log in as root, or use 'pkexec bash'), fix or "
        "remove the file named, check with 'visudo -c'; TLJH's own file is rewritten by "
        "re-running the installer",
    )


def judge_unit(unit: str, path: Path, wanted: str, found: str | None, reload: bool) -> Finding:
    """Is the unit file the one TLJH wrote, and does systemd run what is on disk?"""
    name = f"unit {unit}"
    if found is None:
        return Finding(name, FAIL, f"{path} is missing", INSTALLER_HINT)
    if found != wanted:
        return Finding(
            name,
            WARN,
            f"{path} was changed by hand (the installer overwrites such changes)",
            f"put your settings in a drop-in ('sudo systemctl edit {unit}') and re-run the "
            "installer to restore the file",
        )
    if reload:
        return Finding(
            name,
            WARN,
            f"systemd has not read the changed files of {unit} yet",
            f"'sudo systemctl daemon-reload', then 'sudo systemctl restart {unit}'",
        )
    return Finding(name, OK, f"{path} is as installed")


def judge_hub_config(layout: Layout, refusal: str | None, snippets: Sequence[str]) -> Finding:
    """Would the hub start on the current files (the snippets included)?"""
    if refusal is None:
        return Finding("hub config", OK, "the hub's configuration loads, snippets included")
    where = f" ({', '.join(snippets)})" if snippets else ""
    said = [line.strip(" |") for line in refusal.strip().splitlines()]
    said = [line for line in said if line and not line.startswith("hint:")]
    fix = (
        f"fix or remove {', '.join(snippets)}; 'sudo tljh-config reload hub' shows the whole "
        "traceback and refuses the file until it loads"
        if snippets
        else "'sudo tljh-config reload --dry-run' shows the whole message; fix what it names "
        f"(a file in {layout.jupyterhub_config_d}, a plugin, a value in config.yaml)"
    )
    return Finding(
        "hub config",
        FAIL,
        f"the hub would not start on the current files{where}: {said[-1] if said else ''}",
        fix,
    )


def judge_fallback(note: Fallback | None, hub_pid: int) -> Finding:
    """Does the running hub run on the known-good copy instead of the current files?"""
    if note is None or not hub_pid or note.pid != hub_pid:
        return Finding("fallback", OK, "the hub runs on the current files")
    return Finding(
        "fallback",
        FAIL,
        note.summary() + (": " + "; ".join(note.reasons) if note.reasons else ""),
        note.hint(),
    )


# --- probes (effects) ---------------------------------------------------------------


def probe_ports(config: Mapping[str, Any]) -> list[Finding]:
    return [judge_port(key, port, port_holders(port)) for key, port in public_ports(config)]


def probe_dns(config: Mapping[str, Any]) -> list[Finding]:
    if not uses_acme(config):
        return [Finding("dns", OK, "no Let's Encrypt domains configured")]
    local = local_addresses()
    findings = []
    for domain in config["https"]["letsencrypt"]["domains"]:
        resolved: list[str] | str
        try:
            resolved = sorted({str(a[4][0]) for a in socket.getaddrinfo(domain, None)})
        except OSError as e:
            resolved = str(e)
        findings.append(judge_dns(str(domain), resolved, local))
    return findings


def probe_clock(config: Mapping[str, Any]) -> list[Finding]:
    proc = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], check=False, timeout=10)
    value = proc.stdout.strip()
    synchronized = {"yes": True, "no": False}.get(value) if proc.returncode == 0 else None
    return [judge_clock(synchronized, uses_acme(config))]


def disk_facts(path: Path) -> DiskFacts:
    st = os.statvfs(path)
    return DiskFacts(
        str(path),
        st.f_blocks * st.f_frsize,
        st.f_bavail * st.f_frsize,
        st.f_files,
        st.f_favail,
    )


def disk_paths(layout: Layout) -> list[Path]:
    """The filesystems TLJH writes to: the install, homes, the journal; one path each."""
    seen: set[int] = set()
    out = []
    for path in (layout.prefix, Path("/home"), Path("/var/log")):
        try:
            dev = path.stat().st_dev
        except OSError:
            continue
        if dev not in seen:
            seen.add(dev)
            out.append(path)
    return out


def probe_disk(layout: Layout) -> list[Finding]:
    return [judge_disk(disk_facts(path)) for path in disk_paths(layout)]


def probe_user_env(layout: Layout) -> list[Finding]:
    script = (layout.user_env / "bin" / "jupyterhub-singleuser").is_file()
    error: str | None = None
    try:
        proc = subprocess.run(
            [str(layout.user_python), "-c", "import jupyterhub.singleuser"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=USER_ENV_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        error = str(e)
    else:
        if proc.returncode != 0:
            lines = proc.stdout.strip().splitlines()
            error = lines[-1] if lines else f"exit status {proc.returncode}"
    return [judge_user_env(layout, script, error)]


def probe_hub_env(layout: Layout) -> list[Finding]:
    try:
        base = layout.hub_python.resolve(strict=True)
    except (OSError, RuntimeError):
        return [judge_hub_env(layout, None, False)]
    return [judge_hub_env(layout, base, os.access(base, os.X_OK))]


def probe_sudoers(layout: Layout) -> list[Finding]:
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    proc = run([visudo, "-c"], check=False, timeout=30)
    return [judge_sudoers(proc.returncode, proc.stdout)]


def probe_units(layout: Layout, hub_config_file: Path) -> list[Finding]:
    findings = []
    for unit, path, wanted in (
        (HUB_UNIT, layout.hub_unit_file, hub_unit(layout, hub_config_file)),
        (PROXY_UNIT, layout.traefik_unit_file, traefik_unit(layout)),
    ):
        try:
            found: str | None = path.read_text()
        except FileNotFoundError:
            found = None
        out = run(["systemctl", "show", "-p", "NeedDaemonReload", "--value", unit], check=False)
        findings.append(judge_unit(unit, path, wanted, found, out.stdout.strip() == "yes"))
    return findings


def probe_hub_config(layout: Layout) -> list[Finding]:
    try:
        check_hub_config(layout)
    except ConfigRefused as e:
        return [judge_hub_config(layout, e.message, mentioned_snippets(layout, e.message))]
    return [judge_hub_config(layout, None, [])]


def probe_fallback(layout: Layout) -> list[Finding]:
    return [judge_fallback(read_fallback(layout), systemd.status(HUB_UNIT).main_pid)]


# --- the list -----------------------------------------------------------------------

Check = Callable[[Layout, JudgedConfig, Path], list[Finding]]

#: Every check, by the name ``--only`` takes and the docs list, in the order shown.
CHECKS: dict[str, Check] = {
    "config": lambda lay, judged, _: [config_finding(judged, lay)],
    "fallback": lambda lay, judged, _: probe_fallback(lay),
    "hub-config": lambda lay, judged, _: probe_hub_config(lay),
    "ports": lambda lay, judged, _: probe_ports(judged.config),
    "dns": lambda lay, judged, _: probe_dns(judged.config),
    "clock": lambda lay, judged, _: probe_clock(judged.config),
    "disk": lambda lay, judged, _: probe_disk(lay),
    "user-env": lambda lay, judged, _: probe_user_env(lay),
    "hub-env": lambda lay, judged, _: probe_hub_env(lay),
    "sudoers": lambda lay, judged, _: probe_sudoers(lay),
    "units": lambda lay, judged, hub_config_file: probe_units(lay, hub_config_file),
}


def run_checks(
    layout: Layout,
    judged: JudgedConfig,
    hub_config_file: Path,
    only: Sequence[str] = (),
) -> list[Finding]:
    """Run the checks named in ``only`` (all by default), in :data:`CHECKS` order."""
    findings: list[Finding] = []
    for name, check in CHECKS.items():
        if only and name not in only:
            continue
        try:
            findings += check(layout, judged, hub_config_file)
        except Exception as e:  # a probe that breaks is a finding, not the end of the run
            findings.append(
                Finding(
                    name,
                    WARN,
                    f"the check could not run: {type(e).__name__}: {e}",
                    "run it again; if it persists, report it with this line",
                )
            )
    return findings
