"""Benchmarks of a real install: management commands, memory, and students starting servers.

Runs inside the container that ``./dev bench`` boots and installs (as root, with the
integration suite's tools); it prints a table and writes the figures as JSON. Not a
test: nothing here fails on a slow number. Logins use JupyterHub's dummy
authenticator, because what is measured is spawning, not password hashing.

    python benchmarks/run.py [--json FILE] [--only NAMES] [--users 10,30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent
sys.path.insert(0, str(SOURCE / "integration-tests"))

from hubclient import HubClient  # noqa: E402

HUB_URL = "http://127.0.0.1"
TLJH_CONFIG = "/usr/bin/tljh-config"
PASSWORD = "benchmark-password"
SNIPPET = Path("/opt/tljh/config/jupyterhub_config.d/benchmark-slots.py")


# ------------------------------------------------------------------ helpers


def sh(argv: Sequence[str], stdin: Any = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        list(argv), stdin=stdin, capture_output=True, text=True, env=env, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def timed(fn: Callable[[], Any]) -> float:
    started = time.monotonic()
    fn()
    return round(time.monotonic() - started, 3)


def percentile(values: Sequence[float], p: float, digits: int = 2) -> float | None:
    """The p-th percentile (0-100), nearest rank, rounded; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.4999))
    return round(ordered[min(rank, len(ordered)) - 1], digits)


def load() -> str:
    """The machine's load averages (1, 5, 15 min): other work on it skews the figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main_pid(unit: str) -> int:
    return int(sh(["systemctl", "show", "-p", "MainPID", "--value", unit]).strip() or 0)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its descendants (the hub's culler runs as its child)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += rss_kib(p)
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return round(total / 1024, 1)


def memory() -> dict[str, float]:
    hub = main_pid("jupyterhub")
    proxy = main_pid("traefik")
    hub_only = round(rss_kib(hub) / 1024, 1)
    hub_tree = tree_rss_mb(hub)
    proxy_mb = round(rss_kib(proxy) / 1024, 1)
    return {
        "hub_mb": hub_only,
        "culler_mb": round(hub_tree - hub_only, 1),
        "proxy_mb": proxy_mb,
        "hub_proxy_mb": round(hub_only + proxy_mb, 1),
        "hub_proxy_culler_mb": round(hub_tree + proxy_mb, 1),
    }


def tljh_config(*args: str) -> str:
    return sh([TLJH_CONFIG, *args])


def use_dummy_auth() -> None:
    tljh_config("set", "auth.type", "dummy")
    tljh_config("set", "auth.DummyAuthenticator.password", PASSWORD)
    tljh_config("reload", "hub")


def set_slots(slots: int | None) -> None:
    """Override the spawner's start_slots (None: the default) and restart the hub."""
    if slots is None:
        SNIPPET.unlink(missing_ok=True)
    else:
        SNIPPET.write_text(f"c.UserCreatingSpawner.start_slots = {int(slots)}\n")
    tljh_config("reload", "hub")


def stop_all_servers() -> None:
    """Stop every user's server through systemd (quicker than 30 API calls)."""
    units = sh(["systemctl", "list-units", "--no-legend", "--plain", "jupyter-*.service"])
    names = [line.split()[0] for line in units.splitlines() if line.strip()]
    if names:
        subprocess.run(["systemctl", "stop", *names], check=False, timeout=300)
    # The hub notices on its next poll; a reload makes it forget at once.
    tljh_config("reload", "hub")


# ------------------------------------------------------------------ scenarios


def management() -> dict[str, Any]:
    env = {**os.environ}
    env.setdefault("TLJH_BOOTSTRAP_PIP_SPEC", str(SOURCE))
    admin = os.environ.get("TLJH_TEST_ADMIN", "ms.frizzle")

    def rerun() -> None:
        with open(SOURCE / "bootstrap" / "bootstrap.py") as script:
            sh(["python3", "-", "--admin", admin, "--user-env", "venv"], stdin=script, env=env)

    result: dict[str, Any] = {
        "rerun_s": timed(rerun),
        "config_set_s": timed(lambda: tljh_config("set", "limits.memory", "1G")),
        "reload_hub_s": timed(lambda: tljh_config("reload", "hub")),
    }
    tljh_config("unset", "limits.memory")
    tljh_config("reload", "hub")
    time.sleep(5)  # let the hub and culler settle before measuring memory
    result["idle_memory"] = memory()
    return result


#: Environment variables tried on the hub's and traefik's units by the memory scenario.
MEMORY_VARIANTS: dict[str, dict[str, str]] = {
    "jupyterhub": {"MALLOC_ARENA_MAX": "2"},
    "traefik": {"GOGC": "50", "GOMEMLIMIT": "40MiB"},
}


def memory_variants() -> dict[str, Any]:
    """Idle RSS with allocator settings on the units (drop-ins, removed afterwards)."""
    results: dict[str, Any] = {"baseline": memory()}
    for unit, env in MEMORY_VARIANTS.items():
        dropin = Path(f"/etc/systemd/system/{unit}.service.d/zz-bench.conf")
        dropin.parent.mkdir(exist_ok=True)
        lines = "".join(f"Environment={k}={v}\n" for k, v in env.items())
        dropin.write_text("[Service]\n" + lines)
        try:
            sh(["systemctl", "daemon-reload"])
            sh(["systemctl", "restart", f"{unit}.service"])
            time.sleep(8)
            label = unit + ": " + " ".join(f"{k}={v}" for k, v in env.items())
            results[label] = memory()
        finally:
            dropin.unlink()
            sh(["systemctl", "daemon-reload"])
            sh(["systemctl", "restart", f"{unit}.service"])
            time.sleep(3)
    return results


def one_login(name: str) -> float:
    """Log in and start the server; seconds from the login form until the server's page."""
    client = HubClient(HUB_URL, timeout=120)
    started = time.monotonic()
    client.login(name, PASSWORD)
    client.start_server(timeout=600)
    return time.monotonic() - started


def single_user(repeat: int) -> dict[str, Any]:
    first: list[float] = []
    later: list[float] = []
    for i in range(repeat):
        name = f"solo{i}"
        first.append(one_login(name))
        stop_user(name)
    for _ in range(repeat):
        later.append(one_login("solo0"))
        stop_user("solo0")
    return {
        "first_spawn_s": [round(x, 2) for x in first],
        "later_spawn_s": [round(x, 2) for x in later],
        "first_p50_s": percentile(first, 50),
        "first_p95_s": percentile(first, 95),
        "later_p50_s": percentile(later, 50),
        "later_p95_s": percentile(later, 95),
    }


def stop_user(name: str) -> None:
    client = HubClient(HUB_URL, timeout=120)
    client.login(name, PASSWORD)
    client.stop_server()


def at_once(count: int, prefix: str) -> dict[str, Any]:
    """count students log in within the same moment and start their servers."""
    barrier = threading.Barrier(count)
    ready: dict[str, float] = {}
    failures: dict[str, str] = {}
    origin: list[float] = []

    def student(i: int) -> None:
        name = f"{prefix}{i:02d}"
        client = HubClient(HUB_URL, timeout=300)
        barrier.wait()
        if not origin:
            origin.append(time.monotonic())
        try:
            client.login(name, PASSWORD)
            client.start_server(timeout=600)
            ready[name] = time.monotonic()
        except Exception as e:  # every failure is a figure here
            failures[name] = str(e).splitlines()[0][:200]

    latencies: list[float] = []
    finished = threading.Event()

    def probe() -> None:
        """How long the hub takes to answer while the class starts (event-loop stalls)."""
        import requests

        while not finished.wait(0.5):
            t = time.monotonic()
            with contextlib.suppress(requests.RequestException):
                requests.get(HUB_URL + "/hub/health", timeout=30)
            latencies.append(time.monotonic() - t)

    prober = threading.Thread(target=probe)
    prober.start()
    threads = [threading.Thread(target=student, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finished.set()
    prober.join()
    start = origin[0]
    each = [t - start for t in ready.values()]
    result = {
        "users": count,
        "ready": len(ready),
        "failed": len(failures),
        "all_ready_s": round(max(each), 2) if each and not failures else None,
        "p50_s": percentile(each, 50),
        "p95_s": percentile(each, 95),
        "failures": failures,
        "hub_health_p95_ms": round(1000 * (percentile(latencies, 95, digits=3) or 0)),
        "hub_health_max_ms": round(1000 * max(latencies, default=0)),
        "load": load(),
    }
    return result


USER_PYTHON = "/opt/tljh/user/bin/python3"
EXTENSIONS = (
    "jupyterlab",
    "notebook",
    "notebook_shim",
    "jupyter_lsp",
    "jupyter_server_terminals",
    "jupyter_resource_usage",
    "nbgitpuller",
)


def import_times(statement: str, top: int = 15) -> dict[str, Any]:
    """Wall time of ``statement`` in the user environment, and its slowest imports (ms)."""
    proc = subprocess.run(
        [USER_PYTHON, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        cwd="/tmp",
        timeout=120,
    )
    rows: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1].strip()), parts[2].rstrip()))
    rows.sort(reverse=True)
    started = time.monotonic()
    subprocess.run([USER_PYTHON, "-c", statement], cwd="/tmp", check=True, timeout=120)
    return {
        "wall_s": round(time.monotonic() - started, 3),
        "slowest_ms": [f"{us / 1000:.0f} {name}" for us, name in rows[:top]],
    }


def imports() -> dict[str, Any]:
    """What the single-user server imports before it can answer."""
    result = {"singleuser": import_times("import jupyterhub.singleuser")}
    for ext in EXTENSIONS:
        result[ext] = import_times(f"import jupyterhub.singleuser, {ext}", top=5)
    return result


def spawn_profile() -> dict[str, Any]:
    """One spawn with the hub's timestamps: where its seconds go (see docs/topics/benchmarks.md)."""
    name = "profiled"
    since = sh(["date", "+%Y-%m-%d %H:%M:%S.%N"]).strip()
    client = HubClient(HUB_URL, timeout=120)
    t0 = time.monotonic()
    client.login(name, PASSWORD)
    t_login = time.monotonic()
    client.start_server(timeout=600)
    t_ready = time.monotonic()
    log = sh(["journalctl", "-u", "jupyterhub", "--since", since, "-o", "short-unix", "--no-pager"])
    sys.path.insert(0, str(SOURCE / "integration-tests"))
    from machine import system_name

    unit = system_name(name)
    server_log = sh(["journalctl", "-u", unit, "--since", since, "-o", "short-unix", "--no-pager"])
    stop_user(name)
    return {
        "imports": imports(),
        "login_s": round(t_login - t0, 3),
        "login_to_ready_s": round(t_ready - t0, 3),
        "hub_log": log.splitlines()[-80:],
        "server_log": server_log.splitlines()[:80],
    }


# ------------------------------------------------------------------ report


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any, unit: str = "s") -> None:
        rows.append((label, "-" if value is None else f"{value} {unit}".strip()))

    if "fresh_install_s" in results:
        add("fresh install", results["fresh_install_s"])
    m = results.get("management")
    if m:
        add("no-op re-run", m["rerun_s"])
        add("tljh-config set", m["config_set_s"])
        add("reload hub (healthy)", m["reload_hub_s"])
        mem = m["idle_memory"]
        add("idle RSS hub + proxy", mem["hub_proxy_mb"], "MB")
        add("idle RSS hub + proxy + culler", mem["hub_proxy_culler_mb"], "MB")
    for label, mem in (results.get("memory_variants") or {}).items():
        add(f"idle RSS hub / proxy, {label}", f"{mem['hub_mb']} / {mem['proxy_mb']}", "MB")
    s = results.get("single")
    if s:
        add("1 login -> ready, first spawn p50", s["first_p50_s"])
        add("1 login -> ready, first spawn p95", s["first_p95_s"])
        add("1 login -> ready, later spawn p50", s["later_p50_s"])
        add("1 login -> ready, later spawn p95", s["later_p95_s"])
    for key, r in sorted(results.items()):
        if not key.startswith("at_once_"):
            continue
        label = f"{r['users']} at once" + (f" (slots {r['slots']})" if "slots" in r else "")
        add(f"{label}: ready / failed", f"{r['ready']} / {r['failed']}", "")
        add(f"{label}: all ready", r["all_ready_s"])
        add(f"{label}: p50 / p95", f"{r['p50_s']} / {r['p95_s']}")
        add(
            f"{label}: hub answers in (p95 / max)",
            f"{r['hub_health_p95_ms']} / {r['hub_health_max_ms']}",
            "ms",
        )
        if "memory" in r:
            add(f"{label}: RSS hub + proxy", r["memory"]["hub_proxy_mb"], "MB")
    width = max(len(label) for label, _ in rows) if rows else 0
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_at_start": load(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument(
        "--only",
        default="management,memory,single,profile,at_once",
        help="comma-separated scenarios: management, memory, single, profile, at_once "
        "(default: all)",
    )
    p.add_argument("--users", default="10,30", help="students logging in at once, per run")
    p.add_argument("--repeat", type=int, default=5, help="single logins of each kind")
    p.add_argument(
        "--slots",
        default="",
        help="comma-separated start_slots to compare for the at-once runs ('' = the default)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    only = set(args.only.split(","))
    results: dict[str, Any] = {"machine": machine()}
    if os.environ.get("BENCH_FRESH_INSTALL_SECONDS"):
        results["fresh_install_s"] = round(float(os.environ["BENCH_FRESH_INSTALL_SECONDS"]), 1)

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")

    if "management" in only:
        print("[bench] management commands", flush=True)
        results["management"] = management()
        save()
    if "memory" in only:
        print("[bench] memory with allocator settings", flush=True)
        results["memory_variants"] = memory_variants()
        save()
    use_dummy_auth()
    if "single" in only:
        print("[bench] single logins", flush=True)
        results["single"] = single_user(args.repeat)
        save()
    if "profile" in only:
        print("[bench] one profiled spawn", flush=True)
        results["profile"] = spawn_profile()
        save()
    if "at_once" in only:
        slot_runs: list[int | None] = [int(s) for s in args.slots.split(",") if s] or [None]
        for slots in slot_runs:
            set_slots(slots)
            for count in (int(n) for n in args.users.split(",") if n):
                tag = f"at_once_{count}" + ("" if slots is None else f"_slots{slots}")
                print(f"[bench] {count} at once (slots {slots or 'default'})", flush=True)
                r = at_once(count, prefix=f"s{slots if slots is not None else 'd'}u{count}x")
                if slots is not None:
                    r["slots"] = slots
                r["memory"] = memory()
                results[tag] = r
                save()
                stop_all_servers()
        set_slots(None)
    results["machine"]["load_at_end"] = load()
    save()
    print(table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
