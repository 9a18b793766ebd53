"""Running the install steps: order, logging, and continuing in a fresh process."""

from __future__ import annotations

import sys
from pathlib import Path

from tljh.cli.installer import restart_command
from tljh.install.context import Context
from tljh.install.options import InstallOptions
from tljh.install.packages import RESTARTED_VARIABLE
from tljh.install.steps import run_steps
from tljh.layout import Layout


def test_steps_stop_when_one_asks_for_a_fresh_installer(tmp_path: Path) -> None:
    ran: list[str] = []

    def changes(ctx: Context) -> list[str]:
        ran.append("changes")
        return ["a", "b"]

    def upgrades(ctx: Context) -> list[str]:
        ran.append("upgrades")
        ctx.restart_installer = True
        return ["upgraded"]

    def later(ctx: Context) -> list[str]:
        ran.append("later")
        return []

    ctx = Context(layout=Layout(prefix=tmp_path), options=InstallOptions())
    total = run_steps(ctx, [("one", changes), ("two", upgrades), ("three", later)])
    assert ran == ["changes", "upgrades"]
    assert total == 3


def test_the_fresh_installer_gets_the_same_options_and_stops_the_loop() -> None:
    python, args, env = restart_command(["--admin", "ada", "--user-env", "venv"], {"A": "b"})
    assert args == [python, "-I", "-m", "tljh.installer", "--admin", "ada", "--user-env", "venv"]
    assert python == sys.executable
    assert env == {"A": "b", RESTARTED_VARIABLE: "1"}
