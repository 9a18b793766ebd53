"""Shared fixtures of the unit tests."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from tljh.layout import Layout

BOOTSTRAP_SCRIPT = Path(__file__).resolve().parents[1] / "bootstrap" / "bootstrap.py"


def make_install(prefix: Path, config: str = "limits:\n  memory: 1G\n") -> Layout:
    """The admin's side of an install under ``prefix``: config.yaml, one hub snippet."""
    lay = Layout(prefix=prefix)
    for d in (lay.config_dir, lay.jupyterhub_config_d, lay.traefik_config_d, lay.state_dir):
        d.mkdir(parents=True, exist_ok=True)
    lay.config_file.write_text(config)
    (lay.jupyterhub_config_d / "10-ok.py").write_text("c.JupyterHub.x = 1\n")
    return lay


@pytest.fixture(autouse=True)
def no_install_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installer records its run in the environment (for a fresh installer process to
    continue it): never carry one test's run into another."""
    monkeypatch.setenv("TLJH_PROGRESS_RUN", "")
    monkeypatch.delenv("TLJH_PROGRESS_RUN")


@pytest.fixture
def bootstrap() -> ModuleType:
    """A fresh copy of bootstrap/bootstrap.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("tljh_bootstrap", BOOTSTRAP_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: every mode must come from the code itself."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """Hold ``flock`` on ``path`` the way any other program would, while in the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def install_plugin(site: Path, dist: str, module: str, source: str) -> None:
    """Make ``module`` (with ``source``) look like an installed plugin of group "tljh"."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tljh]\n{dist} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for install_plugin(); its modules are forgotten afterwards."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(path)):
            del sys.modules[name]
