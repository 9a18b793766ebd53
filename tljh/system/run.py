"""Running external commands with errors that say what failed."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from tljh.errors import CommandFailed


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    hint: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and capture its output (stdout and stderr together).

    With ``check`` a non-zero exit raises :class:`CommandFailed` carrying the
    last lines of output and ``hint``.
    """
    args = [str(a) for a in argv]
    try:
        proc = subprocess.run(
            args,
            env=dict(env) if env is not None else None,
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError as e:
        raise CommandFailed(args, 127, str(e), hint or f"is {args[0]} installed?") from e
    except subprocess.TimeoutExpired as e:
        out = e.output if isinstance(e.output, str) else (e.output or b"").decode(errors="replace")
        raise CommandFailed(args, -1, out + f"\n(timed out after {timeout} s)", hint) from e
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, proc.stdout, hint)
    return proc
