"""The install's status file: written as each step starts and when the install ends.

The bootstrap's progress page (``--show-progress-page``) reads it; its shape
and the page are in :mod:`tljh.render.progress_page`.  The bootstrap starts
the file for its own steps and hands the run's id over in
:data:`RUN_VARIABLE`, so the installer continues the same list.

Standard library only: ``bootstrap/bootstrap.py`` carries a generated copy of
:func:`write_progress` and :func:`load_progress` (which may use no name but the
bootstrap's imports and the copied :mod:`tljh.render.progress_page`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tljh.render.progress_page import (
    continue_progress,
    progress_at,
    progress_ended,
    read_progress,
)

#: The install run the status file is about, from the bootstrap to the installer
#: (and to an installer that continues in a fresh process).
RUN_VARIABLE = "TLJH_PROGRESS_RUN"

log = logging.getLogger(__name__)


def write_progress(path: str, status: dict[str, Any]) -> None:
    """Replace the status file at ``path`` atomically, readable by its owner (root) only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(status, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_progress(path: str) -> dict[str, Any] | None:
    """The status in the file at ``path``; None if it is missing or not a status."""
    try:
        with open(path) as f:
            return read_progress(f.read())
    except (OSError, UnicodeDecodeError):
        return None


class Progress:
    """The status file of one installer process.

    Writing it is a courtesy to whoever watches the page: a failure to write
    is logged and never stops the install.
    """

    def __init__(self, path: Path, steps: Sequence[str], run: str | None = None) -> None:
        self.path = path
        self.run = run or os.environ.get(RUN_VARIABLE) or uuid.uuid4().hex
        # An installer that continues in a fresh process continues this run.
        os.environ[RUN_VARIABLE] = self.run
        previous = load_progress(str(path))
        self.status = continue_progress(previous, self.run, list(steps), time.time())
        self._write()

    def step(self, name: str) -> None:
        self.status = progress_at(self.status, name, time.time())
        self._write()

    def end(self, ok: bool) -> None:
        self.status = progress_ended(self.status, ok, time.time())
        self._write()

    def _write(self) -> None:
        try:
            write_progress(str(self.path), self.status)
        except OSError as e:
            log.warning("warning: could not write the install's status to %s: %s", self.path, e)
