"""Interrupts during an apply: the first one is a failure where it lands, later ones wait.

The rollback they trigger on a real install (SIGINT and SIGHUP while the hub
restarts) is tested by integration-tests/test_35_apply.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_install

from tljh.apply.interrupts import INTERRUPTS, InterruptGuard
from tljh.apply.proxy_files import write_proxy_files
from tljh.apply.snapshot import read_known_good, record_known_good, take_snapshot
from tljh.apply.transaction import ApplyTransaction
from tljh.config.store import load_checked_config
from tljh.errors import ApplyFailed, Interrupted
from tljh.layout import Layout

CHILD_SEES = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"


@pytest.mark.parametrize("signum", INTERRUPTS)
def test_the_first_interrupt_raises_and_later_ones_are_held(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in INTERRUPTS}
    with InterruptGuard() as guard:
        with pytest.raises(Interrupted) as info:
            os.kill(os.getpid(), signum)
        assert info.value.exit_code == 128 + signum
        assert guard.received == signum
        # Held: neither this process nor the commands it runs now are stopped by them.
        for again in INTERRUPTS:
            os.kill(os.getpid(), again)
        child = subprocess.run([sys.executable, "-c", CHILD_SEES], capture_output=True, text=True)
        assert child.stdout.strip() == "True"
    assert {s: signal.getsignal(s) for s in INTERRUPTS} == before


def test_hold_before_any_interrupt() -> None:
    # Whatever the handler was before (ignored, under a background job), it comes back.
    before = signal.getsignal(signal.SIGINT)
    with InterruptGuard() as guard:
        guard.hold()
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.received is None
    assert signal.getsignal(signal.SIGINT) is before


def test_messages_name_the_signal() -> None:
    assert Interrupted(signal.SIGINT).message == "interrupted by SIGINT (Ctrl-C)"
    assert "SSH session closed" in Interrupted(signal.SIGHUP).message
    assert Interrupted(signal.SIGTERM).message == "interrupted by SIGTERM"


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = make_install(tmp_path)
    lay.traefik_api_secret.write_text("s3cret\n")
    write_proxy_files(lay, load_checked_config(lay))
    record_known_good(lay)
    return lay


def test_an_interrupt_before_any_restart_puts_the_files_back_and_restarts_nothing(
    layout: Layout,
) -> None:
    good = layout.config_file.read_bytes()
    layout.config_file.write_text("limits:\n  memory: 3G\n")
    transaction = ApplyTransaction(
        layout,
        load_checked_config(layout),
        components=["hub"],
        needed={"hub"},
        known_good=read_known_good(layout),
        current=take_snapshot(layout),
    )
    with pytest.raises(ApplyFailed) as info:
        transaction.roll_back(Interrupted(signal.SIGHUP))
    err = info.value
    assert err.rolled_back and err.exit_code == 129
    assert err.message.startswith("interrupted by SIGHUP")
    assert "Nothing was restarted" in err.message
    assert "run the command again" in err.hint
    assert layout.config_file.read_bytes() == good
