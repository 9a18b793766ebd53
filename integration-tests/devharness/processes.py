"""Running commands on the host, and recognising the processes the harness starts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from devharness.messages import die, say


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


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def is_nspawn(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmd) and cmd[0].endswith(b"systemd-nspawn") and not is_zombie(pid)


def is_harness(pid: int) -> bool:
    """Whether pid runs harness.py, the entry point every run of the harness goes through."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"harness.py") for part in cmd[:3]) and not is_zombie(pid)


def tail_file(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no output)"
