"""Talking to systemd: reload units, enable, restart, and read the journal."""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tljh.system.run import run

SYSTEMCTL_TIMEOUT = 90.0


def daemon_reload() -> None:
    run(["systemctl", "daemon-reload"], timeout=SYSTEMCTL_TIMEOUT)


def is_enabled(unit: str) -> bool:
    return run(["systemctl", "is-enabled", unit], check=False).stdout.strip() == "enabled"


def enable(unit: str) -> bool:
    """Enable ``unit`` at boot.  Returns True if it was not enabled before."""
    if is_enabled(unit):
        return False
    run(["systemctl", "enable", unit], timeout=SYSTEMCTL_TIMEOUT)
    return True


def is_active(unit: str) -> bool:
    return run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"


def restart(unit: str) -> None:
    # --no-block: never wait on a unit that hangs in start-up; callers check
    # health themselves with a bounded wait.
    run(["systemctl", "reset-failed", unit], check=False)
    run(["systemctl", "restart", "--no-block", unit], timeout=SYSTEMCTL_TIMEOUT)


def stop(unit: str) -> None:
    """Stop ``unit`` and wait until it has stopped."""
    run(["systemctl", "stop", unit], timeout=SYSTEMCTL_TIMEOUT)


def journal_tail(unit: str, lines: int = 30) -> str:
    try:
        proc = subprocess.run(
            ["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout


def journal_since(
    unit: str,
    since: float,
    lines: int = 40,
    exclude_invocations: Sequence[str] = (),
    settle: float = 3.0,
) -> str:
    """What ``unit`` logged the first time it was started after ``since``.

    Only the output of the service's own processes (``_SYSTEMD_UNIT=``), not
    systemd's messages about it: those say *that* it failed, the process's
    own lines say *why*.  Lines of ``exclude_invocations`` (systemd's
    InvocationID of the run that was being stopped) are left out, and so are
    those of later attempts, which repeat the first one.  At most the last
    ``lines`` lines.  A process's last lines reach the journal a little after
    it exits, so this waits up to ``settle`` seconds for the output to stop
    growing.
    """
    argv = [
        "journalctl",
        f"_SYSTEMD_UNIT={unit}",
        f"--since=@{int(since)}",
        "--no-pager",
        "-o",
        "json",
        "--output-fields=_SYSTEMD_INVOCATION_ID,_PID,MESSAGE",
    ]

    raw = _settled_journal(argv, settle, interval=0.5, timeout=30)
    return "".join(line + "\n" for line in _first_run_lines(raw, exclude_invocations)[-lines:])


def invocation_log(invocation_id: str, lines: int = 20, settle: float = 2.0) -> str:
    """The last ``lines`` lines one run of a unit logged: its processes' output
    and systemd's messages about it ("Failed to execute ...", "Main process
    exited ...").  Waits up to ``settle`` seconds for the last lines, which
    reach the journal a little after the process exits, to arrive.
    """
    argv = [
        "journalctl",
        f"_SYSTEMD_INVOCATION_ID={invocation_id}",
        "+",
        f"INVOCATION_ID={invocation_id}",
        "-n",
        str(lines),
        "-o",
        "cat",
        "--no-pager",
    ]

    return _settled_journal(argv, settle, interval=0.3, timeout=10, until_some=True)


def _settled_journal(
    argv: Sequence[str], settle: float, interval: float, timeout: float, until_some: bool = False
) -> str:
    """journalctl's output once it stops growing, or after ``settle`` seconds.

    A process's last lines reach the journal a little after it exits, so one
    read can miss them.  With ``until_some``, an empty output does not count
    as settled.  A journalctl that fails or hangs reads as "".
    """

    def read() -> str:
        try:
            proc = subprocess.run(
                argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return proc.stdout if proc.returncode == 0 else ""

    text = read()
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        time.sleep(interval)
        again = read()
        if again == text and (text or not until_some):
            break
        text = again
    return text


def _first_run_lines(raw: str, exclude_invocations: Sequence[str]) -> list[str]:
    """The messages of the first run (invocation) in journalctl's JSON output."""
    first: str | None = None
    out: list[str] = []
    excluded = set(exclude_invocations)
    for text in raw.splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        run = str(entry.get("_SYSTEMD_INVOCATION_ID") or f"pid:{entry.get('_PID', '')}")
        if run in excluded:
            continue
        if first is None:
            first = run
        elif run != first:
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # not valid UTF-8: journald gives the bytes
            message = bytes(b for b in message if isinstance(b, int)).decode(errors="replace")
        if isinstance(message, str):
            out.extend(message.splitlines() or [""])
    return out


@dataclass(frozen=True)
class UnitStatus:
    """The few properties of a unit that tell whether it (re)started."""

    active_state: str
    sub_state: str
    main_pid: int
    #: Automatic restarts (``Restart=``) since the last start asked for by hand.
    n_restarts: int
    #: Wall-clock time the main process started, 0 if unknown.
    started_at: float
    #: Identifies this run of the unit (in the journal: _SYSTEMD_INVOCATION_ID).
    invocation_id: str = ""
    #: How the last run ended ("success", "exit-code", "signal", ...).
    result: str = ""
    #: The main process's exit status (or signal number).
    exec_main_status: int = 0
    #: Wall-clock time the unit entered its current state (active, failed, ...), 0 if unknown.
    state_since: float = 0.0


def status(unit: str) -> UnitStatus:
    out = run(
        [
            "systemctl",
            "show",
            "-p",
            "ActiveState",
            "-p",
            "SubState",
            "-p",
            "MainPID",
            "-p",
            "NRestarts",
            "-p",
            "ExecMainStartTimestampMonotonic",
            "-p",
            "InvocationID",
            "-p",
            "Result",
            "-p",
            "ExecMainStatus",
            "-p",
            "StateChangeTimestampMonotonic",
            unit,
        ],
        check=False,
    ).stdout
    props: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        props[key] = value.strip()

    def number(name: str) -> int:
        try:
            return int(props.get(name) or 0)
        except ValueError:
            return 0

    def wall_clock(name: str) -> float:
        mono_us = number(name)
        return time.time() - (time.monotonic() - mono_us / 1e6) if mono_us else 0.0

    started = wall_clock("ExecMainStartTimestampMonotonic")
    return UnitStatus(
        active_state=props.get("ActiveState", ""),
        sub_state=props.get("SubState", ""),
        main_pid=number("MainPID"),
        n_restarts=number("NRestarts"),
        started_at=started,
        invocation_id=props.get("InvocationID", ""),
        result=props.get("Result", ""),
        exec_main_status=number("ExecMainStatus"),
        state_since=wall_clock("StateChangeTimestampMonotonic"),
    )


def environment_value(show: str, name: str, read: Callable[[str], str]) -> str | None:
    """The value of variable ``name`` in a unit's environment, from ``systemctl show
    -p Environment -p EnvironmentFiles`` output; ``read(path)`` reads an environment
    file. None when neither sets it (or a file cannot be read)."""
    found: str | None = None
    for line in show.splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            with contextlib.suppress(ValueError):
                for word in shlex.split(value):
                    if word.startswith(f"{name}="):
                        found = word.split("=", 1)[1]
        elif key == "EnvironmentFiles" and value:
            # "PATH (ignore_errors=no)", one line per file; later files win.
            path = value.rsplit(" (ignore_errors=", 1)[0]
            try:
                text = read(path)
            except OSError:
                continue
            for entry in text.splitlines():
                var, sep, raw = entry.partition("=")
                if sep and var.strip() == name:
                    with contextlib.suppress(ValueError):
                        words = shlex.split(raw)
                        found = words[0] if words else ""
    return found


def unit_environment_value(unit: str, name: str) -> str | None:
    """The value of ``name`` a running unit was started with (see :func:`environment_value`)."""
    out = run(
        ["systemctl", "show", "-p", "Environment", "-p", "EnvironmentFiles", unit], check=False
    ).stdout
    return environment_value(out, name, lambda path: Path(path).read_text())
