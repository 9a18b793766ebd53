"""Shared fixtures of the unit tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BOOTSTRAP_SCRIPT = Path(__file__).resolve().parents[1] / "bootstrap" / "bootstrap.py"


@pytest.fixture
def bootstrap() -> ModuleType:
    """A fresh copy of bootstrap/bootstrap.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("tljh_bootstrap", BOOTSTRAP_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
