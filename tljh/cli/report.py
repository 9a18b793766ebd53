"""What a command says when it stops on an error it did not expect, and its log.

The traceback of an unexpected error helps whoever fixes the bug, not the
teacher at the console: it goes to a root-only log file, and the console gets
one line, where the details are and what to do.  The log also keeps the
outcome of an apply that a closed terminal (SIGHUP) could no longer show.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import suppress
from pathlib import Path

#: Where to report a bug in TLJH.
REPORT_URL = "https://github.com/jupyterhub/the-littlest-jupyterhub/issues"


def append_log(path: Path, text: str) -> bool:
    """Append ``text`` with the time to ``path`` (created 0600); False if it cannot be written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return False
    with suppress(OSError), os.fdopen(fd, "a", encoding="utf-8") as f:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S %z")
        f.write(f"--- {stamp} {' '.join(sys.argv)}\n{text.rstrip()}\n")
        return True
    return False


def unexpected_error(program: str, log: Path, error: BaseException, safe_again: str) -> str:
    """Log ``error``'s traceback to ``log``; return the lines for the console.

    ``safe_again`` says whether running the command again is safe.
    """
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    logged = append_log(log, trace)
    where = f"the details are in {log}" if logged else f"the details follow:\n{trace.rstrip()}"
    return (
        f"error: {program} stopped on an unexpected error: "
        f"{type(error).__name__}: {error}; {where}\n"
        f"hint: {safe_again}; if it happens again, please report it at {REPORT_URL} "
        f"with {log.name if logged else 'the details above'} (check it for passwords first)"
    )
