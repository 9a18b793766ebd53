"""Containers earlier runs left behind (--keep, or a harness that was killed)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from devharness.container import stop_nspawn
from devharness.locations import RUNS
from devharness.messages import say
from devharness.mounts import remove_tree
from devharness.processes import is_harness, is_nspawn


def warn_about_leftovers() -> None:
    if not RUNS.is_dir():
        return
    for info in RUNS.glob("*/info.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(info.read_text())
            pid = data.get("nspawn_pid")
            state = "running" if pid and is_nspawn(pid) else "stopped"
            name = data.get("name")
            say(f"note: an earlier container {name} is left ({state}); ./dev clean removes it")


def clean_leftovers() -> None:
    """Stop containers this harness left running (--keep) and remove their files.

    A run whose harness is still alive is left alone: that harness cleans up itself.
    """
    if not RUNS.is_dir():
        say("nothing to clean")
        return
    for run_dir in sorted(p for p in RUNS.iterdir() if p.is_dir()):
        info: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((run_dir / "info.json").read_text())
        owner = info.get("harness_pid")
        if isinstance(owner, int) and owner != os.getpid() and is_harness(owner):
            say(f"leaving {run_dir.name}: its harness (PID {owner}) is running and cleans up")
            continue
        pid = info.get("nspawn_pid")
        if isinstance(pid, int) and is_nspawn(pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(run_dir / "root").encode() in cmdline:
                say(f"stopping {run_dir.name} (nspawn PID {pid})")
                stop_nspawn(pid, info.get("init_pid"))
        say(f"removing {run_dir}")
        remove_tree(run_dir)
