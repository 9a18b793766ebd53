"""The markers that pick the docs' commands run by integration-tests/test_85_howto_commands.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    path = ROOT / "integration-tests" / "howto_blocks.py"
    spec = importlib.util.spec_from_file_location("howto_blocks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["howto_blocks"] = module
    spec.loader.exec_module(module)
    return module


HB = _load()


def test_every_marker_of_the_docs_is_well_formed() -> None:
    blocks = HB.all_blocks()  # raises MarkerError naming the page and line
    assert any(b.skip_reason is None for b in blocks)
    for block in blocks:
        assert block.code.strip(), f"{block.id}: an empty block"


def test_tutorials_come_first_in_reading_order() -> None:
    pages = HB.pages()
    assert pages[:5] == [
        "tutorials/install.md",
        "tutorials/first-steps.md",
        "tutorials/add-students.md",
        "tutorials/packages.md",
        "tutorials/https.md",
    ]


def _write(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_blocks_are_found_with_their_line_and_reason(tmp_path: Path) -> None:
    page = _write(
        tmp_path,
        "# T\n\n<!-- howto-test: run -->\n```bash\necho one\necho two\n```\n\n"
        "```bash\necho not marked\n```\n\n"
        "<!-- howto-test: skip: needs the internet -->\n```bash\ncurl https://x\n```\n",
    )
    blocks = HB.blocks_of(page, "howto/page.md")
    assert [(b.line, b.code, b.skip_reason) for b in blocks] == [
        (4, "echo one\necho two\n", None),
        (14, "curl https://x\n", "needs the internet"),
    ]
    assert blocks[0].id == "howto/page.md:4"


@pytest.mark.parametrize(
    "text",
    [
        "<!-- howto-test: skip -->\n```bash\nx\n```\n",  # no reason
        "<!-- howto-test: maybe -->\n```bash\nx\n```\n",
        "<!-- howto-test: run -->\n```python\nx\n```\n",  # not bash
        "<!-- howto-test: run -->\nsome prose\n```bash\nx\n```\n",  # not right before
        "<!-- howto-test: run -->\n",  # nothing follows
    ],
)
def test_a_broken_marker_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(HB.MarkerError):
        HB.blocks_of(_write(tmp_path, text), "howto/page.md")
