"""What the shared user environment holds, as its own pip (and conda) report it."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tljh.errors import ExportError
from tljh.layout import Layout
from tljh.system.userenv import detect_kind


@dataclass
class EnvReport:
    """The user environment's package lists, as its tools print them."""

    kind: str  # "venv" or "conda"
    prefix: str
    #: ``pip list --local --not-required --format=json``: what nothing else requires.
    pip_top: list[dict[str, Any]] = field(default_factory=list)
    #: ``conda list --json`` (conda only).
    conda_list: list[dict[str, Any]] = field(default_factory=list)
    #: ``conda-meta/history`` (conda only): what was asked for.
    conda_history: str = ""


def _json_of(argv: list[str], what: str) -> Any:
    # stderr apart: pip's and conda's notices there must not spoil the JSON.
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExportError(f"{what} failed: {e}", f"check that {argv[0]} works") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExportError(
            f"{what} failed (exit {proc.returncode}): {last}", f"run it yourself: {' '.join(argv)}"
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ExportError(
            f"{what} did not print the list it was asked for",
            f"run it yourself to see why: {' '.join(argv)}",
        ) from None


def read_env_packages(layout: Layout) -> EnvReport:
    """The package lists of ``layout.user_env``, from its own pip (and conda)."""
    prefix = layout.user_env
    kind = detect_kind(layout)
    if kind is None:
        raise ExportError(
            f"there is no user environment at {prefix}",
            "is TLJH installed here? (TLJH_INSTALL_PREFIX points elsewhere?)",
        )
    # --local: not the system's packages that a venv with system site-packages
    # sees; -I: not root's own ~/.local either.
    argv = [str(layout.user_python), "-I", "-m", "pip", "list", "--local", "--not-required"]
    report = EnvReport(kind=kind, prefix=str(prefix))
    report.pip_top = _json_of(
        [*argv, "--format=json"], "listing the user environment's packages with pip"
    )
    if kind == "conda":
        report.conda_list = _json_of(
            [str(prefix / "bin" / "conda"), "list", "--prefix", str(prefix), "--json"],
            "listing the user environment's packages with conda",
        )
        history = Path(prefix) / "conda-meta" / "history"
        report.conda_history = history.read_text(errors="replace") if history.exists() else ""
    return report
