"""The shell commands of the docs' how-to guides and tutorials, as the pages show them.

A page marks a ```` ```bash ```` block for the integration suite with an HTML comment on the
line before it (MyST drops comments from the rendered page):

    <!-- howto-test: run -->
    <!-- howto-test: skip: why it cannot run in the test container -->

test_85_howto_commands.py runs the ``run`` blocks of each page, in order, on a real install,
and lists the ``skip`` blocks with their reason. Unmarked blocks are not run (placeholders,
commands for another situation). tests/test_howto_blocks.py checks the markers of every page.

Standard library only: the unit tests import this outside the container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: The folders whose pages hold commands for admins to type.
FOLDERS = ("tutorials", "howto")

_MARKER = re.compile(r"^<!--\s*howto-test:\s*(?P<body>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


@dataclass(frozen=True)
class Block:
    """One marked ```` ```bash ```` block of a page."""

    page: str  # relative to docs/, e.g. "howto/admin.md"
    line: int  # the line of the opening fence (1-based)
    code: str
    #: None: run it; otherwise why it is not run.
    skip_reason: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


class MarkerError(ValueError):
    """A marker that does not say run or skip with a reason, or marks no bash block."""


def _parse_marker(body: str, where: str) -> str | None:
    if body == "run":
        return None
    kind, _, reason = body.partition(":")
    if kind.strip() == "skip" and reason.strip():
        return reason.strip()
    raise MarkerError(
        f"{where}: unknown marker 'howto-test: {body}'; write 'howto-test: run' or "
        "'howto-test: skip: REASON'"
    )


def blocks_of(path: Path, page: str) -> list[Block]:
    """The marked blocks of one page, in order; raises MarkerError for a broken marker."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    pending: tuple[int, str | None] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        if marker:
            if pending is not None:
                raise MarkerError(
                    f"docs/{page}:{pending[0]}: the marker is not followed by a block"
                )
            pending = (i + 1, _parse_marker(marker.group("body"), f"docs/{page}:{i + 1}"))
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            close = fence.group("fence")
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].startswith(close):
                body.append(lines[j])
                j += 1
            if pending is not None:
                if fence.group("info") != "bash":
                    raise MarkerError(
                        f"docs/{page}:{pending[0]}: the marker must come right before a "
                        f"```bash block, not ```{fence.group('info')}"
                    )
                found.append(Block(page, i + 1, "\n".join(body) + "\n", pending[1]))
                pending = None
            i = j + 1
            continue
        if pending is not None and line.strip():
            raise MarkerError(
                f"docs/{page}:{pending[0]}: the marker must be on the line right before its "
                "```bash block"
            )
        i += 1
    if pending is not None:
        raise MarkerError(f"docs/{page}:{pending[0]}: the marker is not followed by a block")
    return found


def pages(docs: Path = DOCS) -> list[str]:
    """The pages that may hold marked blocks: tutorials first (in the order a new admin
    follows them), then the how-to guides by name."""
    order = {
        name: n
        for n, name in enumerate(["install", "first-steps", "add-students", "packages", "https"])
    }
    found: list[str] = []
    for folder in FOLDERS:
        names = sorted(
            (p for p in (docs / folder).glob("*.md") if p.name != "index.md"),
            key=lambda p: (
                (order.get(p.stem, len(order)), p.name) if folder == "tutorials" else (0, p.name)
            ),
        )
        found += [p.relative_to(docs).as_posix() for p in names]
    return found


def all_blocks(docs: Path = DOCS) -> list[Block]:
    """Every marked block of every page, in the order the suite runs them."""
    out: list[Block] = []
    for page in pages(docs):
        out += blocks_of(docs / page, page)
    return out
