"""Import rules the layer contract (setup.cfg, lint-imports) cannot express.

What the bootstrap shares with tljh must be standard library only: the bootstrap
runs before anything is installed.  The installer imports at the top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from conftest import BOOTSTRAP_SCRIPT

TLJH = Path(__file__).resolve().parents[1] / "tljh"


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, imported inside a function) for every import of ``path``."""
    tree = ast.parse(path.read_text())
    nested: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(n for n in ast.walk(node) if n is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node in nested) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node in nested))
    return found


def test_what_the_bootstrap_shares_is_standard_library_only() -> None:
    ours = {
        "tljh.errors",
        "tljh.system",
        "tljh.system.network",
        "tljh.render.progress_page",
    }
    shared = (
        "install/options.py",
        "system/network.py",
        "render/progress_page.py",
        "install/progress.py",
    )
    for path in (TLJH / p for p in shared):
        for module, _ in imports(path):
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or module in ours, f"{path.name}: {module}"
    for module, _ in imports(BOOTSTRAP_SCRIPT):
        assert module.split(".")[0] in sys.stdlib_module_names, module


def test_install_imports_at_the_top() -> None:
    for path in sorted((TLJH / "install").glob("*.py")):
        for module, inside in imports(path):
            assert not inside, f"{path.name} imports {module} inside a function"
