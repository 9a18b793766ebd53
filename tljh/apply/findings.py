"""What ``tljh status`` and ``tljh doctor`` report: findings, and the config they judge by.

A :class:`Finding` is one judgement: its name, how bad (``ok``, ``warn``,
``fail``), what was seen and, unless all is well, what to do.  Probes gather
facts; small pure functions turn facts into findings, so each judgement is
unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tljh.config.schema import with_defaults
from tljh.config.store import ConfigFiles, load_checked_config, read_config
from tljh.config.validate import runnable, split_problems, validate
from tljh.errors import ConfigError, Problem
from tljh.layout import Layout

OK = "ok"
WARN = "warn"
FAIL = "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Finding:
    """One judgement: ``level`` is :data:`OK`, :data:`WARN` or :data:`FAIL`."""

    name: str
    level: str
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "level": self.level, "detail": self.detail, "fix": self.fix}


def worst(findings: Iterable[Finding]) -> str:
    return max((f.level for f in findings), key=_RANK.__getitem__, default=OK)


def exit_status(findings: Iterable[Finding]) -> int:
    """1 when something has failed, else 0 (warnings alone do not fail a monitor)."""
    return 1 if worst(findings) == FAIL else 0


def render(findings: Iterable[Finding]) -> list[str]:
    """Aligned lines: level, name, detail; the fix under each finding that has one."""
    found = list(findings)
    width = max((len(f.name) for f in found), default=0)
    lines = []
    indent = " " * (width + 8)
    for f in found:
        first, *more = f.detail.splitlines() or [""]
        lines.append(f"{f.level.upper():4}  {f.name.ljust(width)}  {first}")
        lines += [indent + line for line in more]
        if f.fix and f.level != OK:
            lines.append(f"{indent}fix: {f.fix}")
    return lines


@dataclass(frozen=True)
class JudgedConfig:
    """The config the server runs by, and what is wrong with the current file."""

    #: With defaults filled in: the current file if valid, else the known-good
    #: one, else the defaults alone.
    config: dict[str, Any]
    #: Which that is: "current", "known-good" or "defaults".
    source: str
    #: The current file's problems that keep the hub from using it (a file
    #: that does not parse is one problem).
    problems: list[Problem]
    #: Keys of the current file the hub goes on without (unknown keys).
    ignored: list[Problem] = field(default_factory=list)


def judged_config(layout: Layout) -> JudgedConfig:
    """The config to probe the server with, and the current file's problems."""
    ignored: list[Problem] = []
    try:
        raw = read_config(layout)
        problems, ignored = split_problems(validate(raw), "run")
    except ConfigError as e:
        problems = [Problem("", e.message, e.hint)]
    if not problems:
        runs, _ = runnable(raw)
        return JudgedConfig(with_defaults(runs), "current", [], ignored)
    good_dir = layout.config_known_good_dir
    good = ConfigFiles(
        config_file=good_dir / "config.yaml",
        config_lock=good_dir / ".config.yaml.lock",
        config_history_dir=layout.config_history_dir,
    )
    try:
        if good.config_file.is_file():
            return JudgedConfig(load_checked_config(good), "known-good", problems)
    except (ConfigError, OSError):
        pass
    return JudgedConfig(dict(with_defaults({})), "defaults", problems)


def config_finding(judged: JudgedConfig, layout: Layout) -> Finding:
    """Is config.yaml valid?"""
    if not judged.problems and judged.ignored:
        listed = "; ".join(str(p) for p in judged.ignored)
        return Finding(
            "config",
            WARN,
            f"{layout.config_file} has keys TLJH does not know, which the hub ignores: {listed}",
            "correct or remove them with 'sudo tljh-config edit' (or 'sudo tljh-config unset KEY')",
        )
    if not judged.problems:
        return Finding("config", OK, f"{layout.config_file} is valid")
    listed = "; ".join(str(p) for p in judged.problems[:5])
    more = f" (and {len(judged.problems) - 5} more)" if len(judged.problems) > 5 else ""
    return Finding(
        "config",
        FAIL,
        f"{layout.config_file} is invalid: {listed}{more}",
        "'sudo tljh-config validate' lists the problems; fix them with 'sudo tljh-config "
        "edit' (or 'sudo tljh-config rollback' to the last version that worked), then "
        "'sudo tljh-config reload'",
    )
