"""``tljh-config edit``: change config.yaml in an editor, the way visudo does it.

The admin edits a private copy.  When the editor exits, the copy is checked
(YAML syntax, then the schema); problems are listed with their line numbers
and the admin chooses to edit again, to leave without saving, or -- not
recommended -- to save anyway.  Only a valid file is saved (atomically, the
previous version kept in the history) and applied.  The config lock is held
for the whole session, so a second ``edit`` (or any other change) is told the
file is in use instead of overwriting this one.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tljh.config.store import _yaml
from tljh.config.validate import validate
from tljh.errors import ConfigError, Problem
from tljh.system.files import PRIVATE_FILE, atomic_write

PROMPT = "What now? (e)dit again, e(x)it without saving, (Q)uit and save anyway [not recommended] "

#: Tried in this order when neither $VISUAL nor $EDITOR is set.
FALLBACK_EDITORS = ("editor", "nano", "vi")


def choose_editor(environ: Mapping[str, str] | None = None) -> list[str]:
    """The editor command: $VISUAL, $EDITOR, else editor, nano or vi (whichever exists)."""
    env = os.environ if environ is None else environ
    for var in ("VISUAL", "EDITOR"):
        value = (env.get(var) or "").strip()
        if value:
            argv = shlex.split(value)
            if argv:
                return argv
    path = env.get("PATH", os.defpath)
    for name in FALLBACK_EDITORS:
        found = shutil.which(name, path=path)
        if found:
            return [found]
    raise ConfigError(
        "no text editor found ($VISUAL and $EDITOR are not set; editor, nano and vi are "
        "not installed)",
        "install one (apt-get install nano) or name yours, e.g. 'sudo EDITOR=vim tljh-config edit'",
    )


# --- problems with line numbers -----------------------------------------------------


def _line_of(data: Any, problem: Problem) -> int | None:
    """1-based line of the deepest part of the problem's path found in the round-trip ``data``."""
    line: int | None = None
    cur: Any = data
    for part in problem.path.split(".") if problem.path else []:
        if isinstance(cur, CommentedMap) and part in cur:
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                line = cur.lc.key(part)[0] + 1
            cur = cur[part]
        else:
            break
    if isinstance(cur, CommentedSeq) and problem.item is not None:
        # Point at the list item the problem is about.
        with contextlib.suppress(KeyError, TypeError, AttributeError, IndexError):
            return int(cur.lc.item(problem.item)[0]) + 1
    return line


def problems_with_lines(text: str, extra_schema: Mapping[str, Any] | None = None) -> list[str]:
    """Every problem of config text, each prefixed with its line; empty if valid."""
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "syntax error"
        if mark is None:
            return [f"not valid YAML: {problem}"]
        return [f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"]
    except YAMLError as e:
        return [f"not valid YAML: {e}"]
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        return [
            "line 1: the file must hold a mapping of keys to values "
            "(like 'limits:' / '  memory: 1G')"
        ]
    out = []
    for problem in validate(data, extra_schema):
        line = _line_of(data, problem)
        out.append(f"line {line}: {problem}" if line else str(problem))
    return out


# --- the session --------------------------------------------------------------------


@dataclass
class EditResult:
    #: "unchanged", "saved", "aborted" or "saved-invalid"
    outcome: str
    text: str = ""


def _ask(prompt: str, read: Callable[[str], str]) -> str:
    """The admin's answer: 'e', 'x' or 'Q' (end of input counts as 'x')."""
    while True:
        try:
            answer = read(prompt).strip()
        except (EOFError, OSError):  # no terminal, or it went away
            print()
            return "x"
        if answer in ("e", "E"):
            return "e"
        if answer in ("x", "X"):
            return "x"
        if answer == "Q":
            return "Q"
        if answer == "q":
            print("Type a capital Q to save a config with problems (not recommended).")


def edit_session(
    original: bytes,
    editor: Sequence[str],
    save: Callable[[bytes], object],
    *,
    read: Callable[[str], str] | None = None,
    extra_schema: Mapping[str, Any] | None = None,
) -> EditResult:
    """Run the edit loop on a private copy of ``original``; ``save`` writes the result.

    ``save`` is only called with text the admin accepted: a valid config, or
    one with problems after answering ``Q``.  ``read`` asks the question
    (default: :func:`input`).
    """
    tmpdir = Path(tempfile.mkdtemp(prefix="tljh-config-edit-"))
    try:
        copy = tmpdir / "config.yaml"
        # The copy holds the config's secrets: root's alone from its first byte
        # (mkdtemp's directory is 0700 too).
        atomic_write(copy, original, mode=PRIVATE_FILE)
        while True:
            try:
                proc = subprocess.run([*editor, str(copy)], check=False)
            except OSError as e:
                raise ConfigError(
                    f"cannot run the editor {shlex.join(editor)}: {e.strerror or e}",
                    "set $EDITOR to an installed editor, e.g. 'sudo EDITOR=nano tljh-config edit'",
                ) from None
            if proc.returncode != 0:
                raise ConfigError(
                    f"the editor {shlex.join(editor)} exited with status {proc.returncode}; "
                    "nothing was saved",
                    "the config file is unchanged",
                )
            edited = copy.read_bytes()
            if edited == original:
                return EditResult("unchanged")
            try:
                text = edited.decode("utf-8")
            except UnicodeDecodeError as e:
                problems = [f"byte {e.start}: the file is not UTF-8 text"]
                text = ""
            else:
                problems = problems_with_lines(text, extra_schema)
            if not problems:
                save(edited)
                return EditResult("saved", text)
            print(f"The edited config has {len(problems)} problem(s):")
            for p in problems:
                print(f"  {p}")
            answer = _ask(PROMPT, read or input)
            if answer == "e":
                continue
            if answer == "x":
                return EditResult("aborted", text)
            save(edited)
            return EditResult("saved-invalid", text)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
