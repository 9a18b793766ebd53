"""The part of ``bootstrap/bootstrap.py`` that is generated from tljh.

The bootstrap runs before TLJH is installed, as one file piped into
``python3``, so it can import nothing of ours.  What it shares with tljh is
copied between marker comments, so that each thing has one source of truth:

- the installer's options (:data:`tljh.install.options.OPTIONS`), from which
  the bootstrap builds its parser and which it forwards to the installer;
- the network rule of :mod:`tljh.system.network` (CA bundle, mirrors);
- the progress status model and page (:mod:`tljh.render.progress_page`), the
  status file's writer (:mod:`tljh.install.progress`), the file's place
  (:mod:`tljh.layout`) and the installer's step names, for
  ``--show-progress-page``.

After changing any of them, regenerate the copy::

    python -m tljh.install.bootstrap_copy --write-bootstrap

A unit test fails while the copy is stale.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tljh.errors import InstallError
from tljh.install import options, progress
from tljh.install.steps import STEPS
from tljh.layout import Layout
from tljh.render import progress_page
from tljh.system import network

BOOTSTRAP = Path(__file__).resolve().parents[2] / "bootstrap" / "bootstrap.py"
BLOCK_START = (
    "# >>> generated from tljh/install/bootstrap_copy.py by\n"
    "# `python -m tljh.install.bootstrap_copy --write-bootstrap`; do not edit\n"
)
BLOCK_END = "# <<< end of the generated block\n"
_WIDTH = 100


def _literal(value: object, indent: int, column: int) -> str:
    """``value`` as Python source starting at ``column``, its inner lines at ``indent``,
    no line longer than :data:`_WIDTH` (with a trailing comma)."""
    pad = " " * indent
    if isinstance(value, str):
        text = json.dumps(value)
        if column + len(text) + 1 <= _WIDTH:
            return text
        # Implicitly joined pieces, each ending at a word boundary or a line's end,
        # measured as written (with escapes).
        chunks = []
        for text_line in value.splitlines(keepends=True):
            chunks.append("")
            for word in re.findall(r"\S*\s*", text_line):
                if chunks[-1] and indent + 4 + len(json.dumps(chunks[-1] + word)) > _WIDTH:
                    chunks.append("")
                chunks[-1] += word
        lines = "".join(f"{pad}    {json.dumps(chunk)}\n" for chunk in chunks)
        return f"(\n{lines}{pad})"
    if isinstance(value, (list, tuple, dict)):
        inner = indent + 4
        if isinstance(value, dict):
            opening, closing = "{", "}"
            items = []
            for k, v in value.items():
                key = json.dumps(k) + ": "
                items.append(key + _literal(v, inner, inner + len(key)))
        else:
            opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
            items = [_literal(v, inner, inner) for v in value]
        one_line = ", ".join(items) + ("," if isinstance(value, tuple) and len(items) == 1 else "")
        if "\n" not in one_line and column + len(one_line) + 3 <= _WIDTH:
            return f"{opening}{one_line}{closing}"
        lines = "".join(f"{pad}    {item},\n" for item in items)
        return f"{opening}\n{lines}{pad}{closing}"
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    raise TypeError(f"cannot write {value!r} into the bootstrap")


def _plain_source(func: Callable[..., object]) -> str:
    """``func``'s source as written (comments too) without its annotations, for the
    bootstrap (which also has to run far enough on an old Python to say that it is
    too old, and has no ``typing`` names)."""
    source = inspect.getsource(func)
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef) and node.col_offset == 0
    lines = source.splitlines(keepends=True)
    # (line, start column, end column, replacement), applied from the end backwards.
    edits: list[tuple[int, int, int, str]] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg) and sub.annotation is not None:
            assert sub.lineno == sub.end_lineno, "an annotation that spans lines"
            edits.append((sub.lineno, sub.col_offset, sub.end_col_offset or 0, sub.arg))
        if isinstance(sub, ast.FunctionDef) and sub.returns is not None:
            ret = sub.returns
            assert ret.lineno == ret.end_lineno, "a return annotation that spans lines"
            line = lines[ret.lineno - 1]
            arrow = line.rindex("->", 0, ret.col_offset)
            start = len(line[:arrow].rstrip())
            edits.append((ret.lineno, start, ret.end_col_offset or 0, ""))
    for lineno, start, end, text in sorted(edits, reverse=True):
        line = lines[lineno - 1]
        lines[lineno - 1] = line[:start] + text + line[end:]
    plain = "".join(lines)
    ast.parse(plain)
    return plain


def bootstrap_block() -> str:
    """The generated block of ``bootstrap/bootstrap.py``, markers included.

    It holds the options and the network rule as data, and the functions that
    apply the rule, so that the bootstrap maps the environment exactly as
    :func:`tljh.system.network.package_env` does; and the progress status
    model, page and file writer, so that the bootstrap's page is the one the
    installer's status describes.
    """
    layout = Layout()
    data: list[tuple[str, object]] = [
        ("INSTALL_OPTIONS", tuple((o.flag, o.argparse_kwargs()) for o in options.OPTIONS)),
        ("CA_BUNDLE_VARIABLES", network.CA_BUNDLE_VARIABLES),
        ("CA_BUNDLE_EXPORTS", network.CA_BUNDLE_EXPORTS),
        ("MIRROR_VARIABLES", network.MIRROR_VARIABLES),
        ("TOOL_DEFAULTS", network.TOOL_DEFAULTS),
        ("PROGRESS_FILE", str(layout.install_progress.relative_to(layout.prefix))),
        ("PROGRESS_RUN_VARIABLE", progress.RUN_VARIABLE),
        ("INSTALL_STEPS", tuple(name for name, _ in STEPS)),
        ("PROGRESS_FORMAT", progress_page.PROGRESS_FORMAT),
        ("BOOTSTRAP_STEPS", progress_page.BOOTSTRAP_STEPS),
        ("PROGRESS_LINGER_SECONDS", progress_page.PROGRESS_LINGER_SECONDS),
        ("PROGRESS_POLL_SECONDS", progress_page.PROGRESS_POLL_SECONDS),
        ("PROGRESS_OUTCOMES", progress_page.PROGRESS_OUTCOMES),
        ("PROGRESS_STYLE", progress_page.PROGRESS_STYLE),
        ("PROGRESS_SCRIPT", progress_page.PROGRESS_SCRIPT),
    ]
    functions: list[Callable[..., object]] = [
        network.ca_bundle,
        network.package_env,
        progress_page.new_progress,
        progress_page.progress_at,
        progress_page.progress_ended,
        progress_page.read_progress,
        progress_page.progress_script,
        progress_page.csp_hash,
        progress_page.progress_page_headers,
        progress_page.render_progress_page,
        progress.write_progress,
        progress.load_progress,
    ]
    body = "".join(f"{name} = {_literal(value, 0, len(name) + 3)}\n" for name, value in data)
    body += "".join(f"\n\n{_plain_source(f)}" for f in functions)
    # The formatter would re-wrap the generated text, which the staleness test
    # compares byte for byte.
    return f"{BLOCK_START}# fmt: off\n{body}# fmt: on\n{BLOCK_END}"


def replace_block(script: str, block: str) -> str:
    """``script`` with its generated block replaced by ``block``.

    Raises :class:`InstallError` when the marker comments are missing.
    """
    start = script.find(BLOCK_START)
    end = script.find(BLOCK_END, start)
    if start < 0 or end < 0:
        raise InstallError(
            "the marker comments of the generated block are missing from the bootstrap script",
            "restore them ('git diff bootstrap/bootstrap.py' shows what was removed), "
            "then run 'python -m tljh.install.bootstrap_copy --write-bootstrap' again",
        )
    return script[:start] + block + script[end + len(BLOCK_END) :]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tljh.install.bootstrap_copy",
        description="Print the block of bootstrap/bootstrap.py generated from the installer's "
        "options and network rule, or write it into the script.",
    )
    parser.add_argument(
        "--write-bootstrap",
        action="store_true",
        help=f"replace the generated block of {BOOTSTRAP} (a source checkout's)",
    )
    args = parser.parse_args(argv)
    if not args.write_bootstrap:
        sys.stdout.write(bootstrap_block())
        return 0
    script = BOOTSTRAP.read_text()
    updated = replace_block(script, bootstrap_block())
    if updated != script:
        BOOTSTRAP.write_text(updated)
        print(f"updated {BOOTSTRAP}")
    else:
        print(f"{BOOTSTRAP} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
