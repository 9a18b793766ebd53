"""Applying the config to the running hub and proxy: bounded waits, rollback.

Nothing here waits forever: every restart is followed by a health check with a
deadline, and a failure says why, with the lines the unit logged since.

Applying a change (:func:`apply_config`) never leaves the hub down because of
that change: if the hub or the proxy does not come back healthy, the last
configuration known to work is put back, they are restarted again and their
health confirmed, and :class:`ApplyFailed` explains what happened.

"Known to work" is a snapshot kept in ``state/config-known-good/``: the bytes
of ``config.yaml`` and of every ``jupyterhub_config.d/*.py`` and
``traefik_config.d/*.toml`` file, recorded each time the hub and the proxy
passed their health checks after an apply.  The snippets are part of it
because a snippet that raises stops the hub just as surely as a bad value in
``config.yaml``; rolling back ``config.yaml`` alone would not bring it back.
When no snapshot exists yet, :func:`note_running_config` records the files as
they are if the running hub and proxy were started after the files were last
changed and are healthy (then those files are what they run with).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import shutil
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tljh.errors import ConfigError, TLJHError, UnhealthyError
from tljh.layout import Layout
from tljh.system import systemd
from tljh.system.files import atomic_write, ensure_file

HUB_UNIT = "jupyterhub.service"
PROXY_UNIT = "traefik.service"
COMPONENTS = ("hub", "proxy")
UNITS = {"hub": HUB_UNIT, "proxy": PROXY_UNIT}
DEFAULT_TIMEOUT = 60.0
#: Journal lines shown when a unit does not come back.
JOURNAL_LINES = 40

HUB_SNIPPETS = "*.py"
PROXY_SNIPPETS = "*.toml"


def _loaded_config(layout: Layout) -> dict[str, Any]:
    from tljh.config.schema import with_defaults
    from tljh.config.store import load_config
    from tljh.config.validate import check

    raw = load_config(layout)
    check(raw)
    return with_defaults(raw)


# --- health -------------------------------------------------------------------------


def _local_address(address: str) -> str:
    return address if address not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"


def _http_get_status(
    host: str, port: int, path: str, timeout: float = 5.0, tls: bool = False
) -> int:
    conn: http.client.HTTPConnection
    if tls:
        # The certificate may not be issued yet (Let's Encrypt) or be for a
        # name other than 127.0.0.1: only reachability is checked here.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def hub_problem(config: Mapping[str, Any]) -> str | None:
    """None when the hub answers through the proxy, else what is wrong."""
    base_url = "/" + str(config.get("base_url", "/")).strip("/")
    path = (base_url.rstrip("/") + "/hub/api").replace("//", "/")
    https = config.get("https") or {}
    if https.get("enabled"):
        # Plain HTTP only redirects to HTTPS then.
        scheme, host, port = "https", _local_address(https["address"]), int(https["port"])
    else:
        scheme, host = "http", _local_address(config["http"]["address"])
        port = int(config["http"]["port"])
    url = f"{scheme}://{host}:{port}{path}"
    try:
        status = _http_get_status(host, port, path, tls=scheme == "https")
    except (OSError, http.client.HTTPException) as e:
        return f"nothing answers on {url} ({e or type(e).__name__})"
    if status != 200:
        return f"{url} answered HTTP {status}, not 200"
    return None


def proxy_problem(config: Mapping[str, Any]) -> str | None:
    """None when traefik answers its ping and serves HTTP on the http port."""
    api = config.get("traefik_api") or {}
    if api:
        api_host, api_port = _local_address(str(api["ip"])), int(api["port"])
        try:
            status = _http_get_status(api_host, api_port, "/ping", timeout=3)
        except (OSError, http.client.HTTPException) as e:
            return f"the proxy does not answer on http://{api_host}:{api_port}/ping ({e})"
        if status != 200:
            return f"the proxy's ping on port {api_port} answered HTTP {status}, not 200"
    host = _local_address(config["http"]["address"])
    port = int(config["http"]["port"])
    try:
        # Any HTTP answer will do (404 before the hub has added its route);
        # a port held by another program that does not speak HTTP fails here.
        _http_get_status(host, port, "/", timeout=3)
    except (OSError, http.client.HTTPException) as e:
        return f"the proxy does not serve HTTP on {host}:{port} ({e or type(e).__name__})"
    return None


def wait_until(problem: Callable[[], str | None], unit: str, timeout: float) -> None:
    """Poll ``problem`` until it returns None; raise UnhealthyError at the deadline."""
    deadline = time.monotonic() + timeout
    last = problem()
    while last is not None:
        if time.monotonic() >= deadline:
            journal = systemd.journal_tail(unit, 25)
            raise UnhealthyError(
                f"{unit} did not become healthy within {timeout:.0f} s: {last}"
                + (f"\nlast lines of its log:\n{journal.rstrip()}" if journal.strip() else ""),
                _journal_hint(unit),
            )
        time.sleep(0.5)
        last = problem()


def _journal_hint(unit: str) -> str:
    return (
        f"see 'sudo journalctl -u {unit} -n 100' for the whole story; "
        "fix the cause and run 'sudo tljh-config reload'"
    )


class StartFailed(UnhealthyError):
    """A unit did not come back healthy after a restart."""

    def __init__(self, unit: str, reason: str, journal: str) -> None:
        self.unit = unit
        self.reason = reason
        self.journal = journal
        text = f"{unit} {reason}"
        if journal.strip():
            text += f"\nwhat it logged since the restart:\n{_indent(journal)}"
        super().__init__(text, _journal_hint(unit))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _indent(text: str) -> str:
    # Traefik colours its log lines; the escapes are noise in a message.
    plain = _ANSI.sub("", text)
    return "\n".join(f"  | {line}" for line in plain.rstrip().splitlines())


def restart_and_wait(unit: str, problem: Callable[[], str | None], timeout: float) -> None:
    """Restart ``unit`` and wait at most ``timeout`` s until ``problem()`` is None.

    Fails early, without waiting for the deadline, when the new process
    exits (a hub that cannot load its config stops within a second or two;
    systemd's ``Restart=`` would start it again and again).
    """
    before = systemd.status(unit)
    since = time.time()
    systemd.restart(unit)
    deadline = time.monotonic() + timeout
    new_pid = 0
    last = f"{unit} is still restarting"

    def failed(reason: str) -> StartFailed:
        old = [before.invocation_id] if before.invocation_id else []
        journal = systemd.journal_since(unit, since - 1, JOURNAL_LINES, exclude_invocations=old)
        return StartFailed(unit, reason, journal)

    exited = f"exited while starting (it was restarted at {_clock(since)})"
    while True:
        st = systemd.status(unit)
        # A process started before our restart (systemd's own restart of a
        # crashing unit, racing with ours) is not the one we wait for.
        ours = bool(st.main_pid) and st.main_pid != before.main_pid
        ours = ours and (not st.started_at or st.started_at >= since - 0.2)
        if new_pid:
            if st.main_pid != new_pid or st.n_restarts > before.n_restarts:
                raise failed(exited)
        elif ours:
            new_pid = st.main_pid
        elif st.n_restarts > before.n_restarts or st.active_state == "failed":
            raise failed(exited)
        if new_pid:
            last = problem() or ""
            if not last:
                return
        if time.monotonic() >= deadline:
            raise failed(f"did not become healthy within {timeout:g} s: {last}")
        time.sleep(0.5)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


# --- the proxy's files -----------------------------------------------------------


def _proxy_files(layout: Layout, config: Mapping[str, Any]) -> dict[Path, str]:
    from tljh.config.secrets import read_api_password
    from tljh.config.snippets import load_extra_static_config
    from tljh.render.proxy import traefik_files

    password = read_api_password(config, layout)
    if not password:
        raise TLJHError(
            f"the proxy's API secret {layout.traefik_api_secret} is missing",
            "re-run the installer (bootstrap.py): it recreates missing secrets",
        )
    return traefik_files(config, layout, password, load_extra_static_config(layout))


def write_proxy_files(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Bring traefik's config files in line with ``config``; True if any changed."""
    changed = False
    for path, text in _proxy_files(layout, config).items():
        changed |= ensure_file(path, text, mode=0o600)
    return changed


def proxy_files_stale(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Whether traefik's files on disk differ from what ``config`` makes of them."""
    for path, text in _proxy_files(layout, config).items():
        try:
            if path.read_text(encoding="utf-8") != text:
                return True
        except (FileNotFoundError, UnicodeDecodeError):
            return True
    return False


def reload(layout: Layout, components: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Restart the named components with the current config and wait until healthy.

    No rollback: see :func:`apply_config` for that.
    """
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise TLJHError(
            f"unknown component {unknown[0]!r}", "choose 'hub' or 'proxy' (or nothing: the hub)"
        )
    _restart(layout, components, _loaded_config(layout), timeout)


def _restart(
    layout: Layout, components: Iterable[str], config: Mapping[str, Any], timeout: float
) -> None:
    wanted = set(components)
    if "proxy" in wanted:
        write_proxy_files(layout, config)
        restart_and_wait(PROXY_UNIT, lambda: proxy_problem(config), timeout)
    if "hub" in wanted:
        restart_and_wait(HUB_UNIT, lambda: hub_problem(config), timeout)


# --- snapshots of the configuration ------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The admin's configuration files at one moment: config.yaml and snippets."""

    config: bytes | None
    hub_snippets: dict[str, bytes] = field(default_factory=dict)
    proxy_snippets: dict[str, bytes] = field(default_factory=dict)
    #: When it was recorded as known to work (0 for a snapshot of the files now).
    recorded_at: float = 0.0

    def same_files(self, other: Snapshot) -> bool:
        return (
            self.config == other.config
            and self.hub_snippets == other.hub_snippets
            and self.proxy_snippets == other.proxy_snippets
        )


def known_good_dir(layout: Layout) -> Path:
    return layout.state_dir / "config-known-good"


def _read_dir(directory: Path, pattern: str) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    out: dict[str, bytes] = {}
    for path in sorted(directory.glob(pattern)):
        if path.is_file():
            out[path.name] = path.read_bytes()
    return out


def take_snapshot(layout: Layout) -> Snapshot:
    """The configuration files as they are now."""
    try:
        config: bytes | None = layout.config_file.read_bytes()
    except FileNotFoundError:
        config = None
    return Snapshot(
        config,
        _read_dir(layout.jupyterhub_config_d, HUB_SNIPPETS),
        _read_dir(layout.traefik_config_d, PROXY_SNIPPETS),
    )


def read_known_good(layout: Layout) -> Snapshot | None:
    """The last configuration that passed the health checks, if one was recorded."""
    top = known_good_dir(layout)
    marker = top / "recorded"
    try:
        recorded_at = float(marker.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return None
    try:
        config: bytes | None = (top / "config.yaml").read_bytes()
    except FileNotFoundError:
        config = None
    return Snapshot(
        config,
        _read_dir(top / "jupyterhub_config.d", HUB_SNIPPETS),
        _read_dir(top / "traefik_config.d", PROXY_SNIPPETS),
        recorded_at,
    )


def record_known_good(layout: Layout, snapshot: Snapshot | None = None) -> None:
    """Remember ``snapshot`` (default: the files now) as known to work.

    Written into a new directory that then replaces the old one, so a crash
    leaves one complete snapshot or the other.  Root only: config.yaml may hold
    secrets.
    """
    snap = snapshot or take_snapshot(layout)
    top = known_good_dir(layout)
    top.parent.mkdir(parents=True, exist_ok=True)
    new = top.with_name(top.name + ".new")
    old = top.with_name(top.name + ".old")
    for stale in (new, old):
        shutil.rmtree(stale, ignore_errors=True)
    new.mkdir(mode=0o700)
    if snap.config is not None:
        atomic_write(new / "config.yaml", snap.config, mode=0o600)
    for sub, files in (
        ("jupyterhub_config.d", snap.hub_snippets),
        ("traefik_config.d", snap.proxy_snippets),
    ):
        (new / sub).mkdir(mode=0o700)
        for name, data in files.items():
            atomic_write(new / sub / name, data, mode=0o600)
    atomic_write(new / "recorded", f"{time.time():.3f}\n", mode=0o600)
    if top.exists():
        top.rename(old)
    new.rename(top)
    shutil.rmtree(old, ignore_errors=True)


def _newest_change(layout: Layout) -> float:
    newest = 0.0
    for path in (layout.config_file, layout.jupyterhub_config_d, layout.traefik_config_d):
        try:
            newest = max(newest, path.stat().st_mtime)
        except FileNotFoundError:
            continue
        if path.is_dir():
            for child in path.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, child.stat().st_mtime)
    return newest


def note_running_config(layout: Layout) -> bool:
    """Record the files as known good if the healthy hub and proxy run with them.

    That is the case when both units were started after the files were last
    changed (they read them at start) and both pass their health checks now.
    Call it *before* changing the files.  Returns True if it recorded them.
    """
    try:
        return _note_running_config(layout)
    except (TLJHError, OSError):
        return False  # only a shortcut: never a reason to fail the command


def _note_running_config(layout: Layout) -> bool:
    current = take_snapshot(layout)
    good = read_known_good(layout)
    if good is not None and good.same_files(current):
        return False
    newest = _newest_change(layout)
    for unit in (HUB_UNIT, PROXY_UNIT):
        st = systemd.status(unit)
        if st.active_state != "active" or not st.started_at or st.started_at <= newest + 1:
            return False
    try:
        config = _loaded_config(layout)
    except ConfigError:
        return False
    if proxy_problem(config) or hub_problem(config):
        return False
    record_known_good(layout, current)
    return True


# --- what a change touches ---------------------------------------------------------


def _parsed(raw: bytes | None) -> dict[str, Any] | None:
    from tljh.config.schema import to_plain
    from tljh.config.store import parse_yaml

    if raw is None:
        return {}
    try:
        data = to_plain(parse_yaml(raw.decode("utf-8"), "config.yaml"))
    except (ConfigError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def changed_components(old: Snapshot | None, new: Snapshot) -> set[str]:
    """Which components must restart to go from ``old`` to ``new`` (None: unknown, both)."""
    from tljh.config.schema import SCHEMA

    if old is None:
        return {"hub", "proxy"}
    out: set[str] = set()
    before, after = _parsed(old.config), _parsed(new.config)
    if before is None or after is None:
        out |= {"hub", "proxy"}
    else:
        for key in set(before) | set(after):
            if before.get(key) != after.get(key):
                node = SCHEMA["properties"].get(key, {})
                out |= set(node.get("reload", ["hub"]))
    if old.hub_snippets != new.hub_snippets:
        out.add("hub")
    if old.proxy_snippets != new.proxy_snippets:
        out.add("proxy")
    return out


def _ordered(components: Iterable[str]) -> list[str]:
    wanted = set(components)
    return [c for c in ("proxy", "hub") if c in wanted]


# --- restoring a snapshot ----------------------------------------------------------


def _restore_dir(
    directory: Path,
    wanted: Mapping[str, bytes],
    present: Mapping[str, bytes],
    aside: Path,
    label: str,
) -> list[str]:
    actions = []
    for name, data in present.items():
        if wanted.get(name) == data:
            continue
        if name not in wanted:
            aside.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.move(str(directory / name), str(aside / name))
            actions.append(
                f"moved {label}/{name} (new since the last working configuration) to {aside / name}"
            )
    for name, data in wanted.items():
        if present.get(name) == data:
            continue
        if name in present:
            aside.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(str(directory / name), str(aside / name))
            actions.append(
                f"restored {label}/{name} as it was; the changed version is in {aside / name}"
            )
        else:
            actions.append(f"restored {label}/{name}, which had been removed")
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / name, data, mode=0o644)
    return actions


ROLLBACK_NOTE = "replaced by an automatic rollback: the hub or the proxy did not work with it"


def restore_snapshot(layout: Layout, target: Snapshot, current: Snapshot) -> list[str]:
    """Put ``target``'s files back; returns what was done, one line each.

    The replaced ``config.yaml`` goes into the history (with a note); replaced
    or new snippets are moved to a ``rejected-<time>`` directory next to the
    history, never deleted.  The caller holds the config lock.
    """
    from tljh.config.store import write_bytes

    actions: list[str] = []
    if target.config != current.config:
        write_bytes(layout, target.config or b"", note=ROLLBACK_NOTE)
        when = f" (recorded {_clock(target.recorded_at)})" if target.recorded_at else ""
        actions.append(
            f"restored {layout.config_file} to the last version that worked{when}; the "
            "version that failed is kept in the history ('tljh-config history')"
        )
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    aside = layout.config_history_dir / f"rejected-{stamp}"
    actions += _restore_dir(
        layout.jupyterhub_config_d,
        target.hub_snippets,
        current.hub_snippets,
        aside / "jupyterhub_config.d",
        "jupyterhub_config.d",
    )
    actions += _restore_dir(
        layout.traefik_config_d,
        target.proxy_snippets,
        current.proxy_snippets,
        aside / "traefik_config.d",
        "traefik_config.d",
    )
    return actions


# --- applying with rollback --------------------------------------------------------


class ApplyFailed(UnhealthyError):
    """Applying a configuration failed; ``rolled_back`` tells if the old one runs again."""

    def __init__(self, message: str, hint: str, rolled_back: bool) -> None:
        super().__init__(message, hint)
        self.rolled_back = rolled_back


def component_names(components: Iterable[str]) -> str:
    words = {"hub": "the hub", "proxy": "the proxy"}
    return " and ".join(words[c] for c in _ordered(components))


def _mentioned_snippets(layout: Layout, text: str) -> list[str]:
    found = []
    for directory, pattern in (
        (layout.jupyterhub_config_d, HUB_SNIPPETS),
        (layout.traefik_config_d, PROXY_SNIPPETS),
    ):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob(pattern)):
            if str(path) in text:
                found.append(str(path))
    return found


def _say_nothing(text: str) -> None:
    pass


def apply_config(
    layout: Layout,
    always: Sequence[str] = (),
    *,
    only: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    previous: bytes | None = None,
    say: Callable[[str], None] = _say_nothing,
) -> list[str]:
    """Make the hub and proxy run with the current files; roll back if they fail.

    Restarts what the change since the last known-good configuration touches,
    plus ``always``; the proxy also when its generated files are out of date.
    ``only`` restarts exactly those components (``reload proxy``).  Each
    restart waits at most ``timeout`` s for health.  On failure, restores the
    known-good snapshot (or, without one, ``previous``: the config.yaml bytes
    before the change), restarts again, and raises :class:`ApplyFailed`.

    The caller holds the config lock.  Returns the components restarted.
    """
    config = _loaded_config(layout)  # invalid: refuse before touching anything
    good = read_known_good(layout)
    current = take_snapshot(layout)
    needed = changed_components(good, current)
    if only is not None:
        components = _ordered(only)
    else:
        wanted = set(always) | needed
        if "proxy" not in wanted and proxy_files_stale(layout, config):
            wanted.add("proxy")
        components = _ordered(wanted)
    if not components:
        if good is not None and not needed:
            # Only comments or layout changed: what runs is equivalent.
            record_known_good(layout, current)
        say("Nothing to restart: the hub and the proxy already run with this configuration.")
        return []
    say(f"Restarting {component_names(components)} (waiting up to {timeout:g} s for each)...")
    try:
        _restart(layout, components, config, timeout)
    except (UnhealthyError, TLJHError) as failure:
        _roll_back(layout, components, failure, good, current, previous, timeout, say)
    if needed <= set(components):
        record_known_good(layout, current)
    return components


def _roll_back(
    layout: Layout,
    components: Sequence[str],
    failure: TLJHError,
    good: Snapshot | None,
    current: Snapshot,
    previous: bytes | None,
    timeout: float,
    say: Callable[[str], None],
) -> None:
    failed = [
        c for c in components if isinstance(failure, StartFailed) and UNITS[c] == failure.unit
    ]
    what = component_names(failed or components)
    head = f"{what} did not work with the new configuration:\n{failure.message}"
    target = good
    if target is None and previous is not None:
        target = Snapshot(previous, current.hub_snippets, current.proxy_snippets)
    if target is None:
        raise ApplyFailed(
            head + "\nNo earlier configuration is known to have worked, so nothing was "
            "rolled back.",
            "'sudo tljh-config history' lists earlier versions and 'sudo tljh-config rollback N' "
            "restores one; " + failure.hint,
            rolled_back=False,
        )
    if target.same_files(current):
        snippets = _mentioned_snippets(layout, failure.message)
        raise ApplyFailed(
            head + "\nThe files are the same as the last configuration that worked, so the "
            "cause is elsewhere (an installed package, the disk, another program on a port"
            + (f"; the log mentions {', '.join(snippets)}" if snippets else "")
            + "). Nothing was rolled back.",
            failure.hint,
            rolled_back=False,
        )
    say(f"{what} did not come back; restoring the last configuration that worked...")
    actions = restore_snapshot(layout, target, current)
    again = _ordered(set(components) | changed_components(current, target))
    try:
        _restart(layout, again, _loaded_config(layout), timeout)
    except TLJHError as second:
        snippets = _mentioned_snippets(layout, second.message)
        raise ApplyFailed(
            head
            + "\nRolled back:\n"
            + "".join(f"  - {a}\n" for a in actions)
            + f"but {component_names(again)} still did not come back:\n{second.message}"
            + (f"\nThe log mentions {', '.join(snippets)}." if snippets else ""),
            second.hint,
            rolled_back=False,
        ) from None
    if good is None:
        record_known_good(layout, target)
    verb = "are" if len(again) > 1 else "is"
    raise ApplyFailed(
        head
        + "\nRolled back:\n"
        + "".join(f"  - {a}\n" for a in actions)
        + f"{component_names(again).capitalize()} {verb} running again with the previous "
        "configuration.",
        "fix the cause shown above and try again; 'sudo tljh-config history' shows the "
        "version that failed",
        rolled_back=True,
    )
