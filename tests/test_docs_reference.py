"""The generated reference pages in docs/reference/ match the code they come from."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("docs_generate", module)
    spec.loader.exec_module(module)
    return module


GENERATE = _generator()


@pytest.mark.parametrize("page", sorted(GENERATE.PAGES))
def test_generated_page_is_up_to_date(page: str) -> None:
    committed = (DOCS / page).read_text()
    assert committed == GENERATE.PAGES[page](), (
        f"docs/{page} is stale: run ./dev docs --regenerate and commit it"
    )


def test_every_generated_page_is_in_the_reference_toctree() -> None:
    index = (DOCS / "reference" / "index.md").read_text()
    for page in GENERATE.PAGES:
        assert f"\n{Path(page).stem}\n" in index, f"{page} is not in docs/reference/index.md"


def test_a_stale_page_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check must be able to fail: a page that differs by one character is stale.
    (tmp_path / "reference").mkdir()
    for page, render in GENERATE.PAGES.items():
        (tmp_path / page).write_text(render())
    monkeypatch.setattr(GENERATE, "DOCS", tmp_path)
    assert GENERATE.stale_pages() == []
    target = tmp_path / "reference" / "tljh-config.md"
    target.write_text(target.read_text().replace("reload", "relaod", 1))
    assert GENERATE.stale_pages() == ["reference/tljh-config.md"]


def test_every_subcommand_has_a_section() -> None:
    # A command added to a parser appears on its page without anyone writing it.
    from tljh.cli.config import COMMANDS

    page = GENERATE.PAGES["reference/tljh-config.md"]()
    for name in COMMANDS:
        assert f"## `tljh-config {name}`" in page
