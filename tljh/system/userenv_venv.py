"""The venv user environment: a virtual environment on the system ``python3``, pip only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system.files import atomic_write, fix_permissions
from tljh.system.packages import pip_install_user_packages, with_retries


class VenvUserEnvironment:
    """A plain virtual environment on the system ``python3``, with pip for admins."""

    name = "venv"

    def __init__(self, layout: Layout, system_python: str = "/usr/bin/python3") -> None:
        self.layout = layout
        self.path = layout.user_env
        self.system_python = system_python
        self.uv = layout.uv

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python3"

    def _is_ours(self) -> bool:
        return (self.path / "pyvenv.cfg").exists()

    def ensure(self, requirements: Sequence[str]) -> list[str]:
        changes = []
        if self.path.exists() and any(self.path.iterdir()) and not self._is_ours():
            raise InstallError(
                f"{self.path} exists and is not a virtual environment made by TLJH",
                f"move it aside (e.g. mv {self.path} {self.path}.old) and run the installer "
                "again, or install with --user-env conda if it is a conda environment",
            )
        if not self.python.exists():
            # --clear: what is there is ours (checked above) but unusable, e.g.
            # an install interrupted while the venv was being created.
            argv = [str(self.uv), "venv", "--seed", "--clear", "--system-site-packages"]
            argv += ["--python", self.system_python]
            with_retries(
                [*argv, str(self.path)],
                "creating the user environment",
                hint="is python3-venv installed? (apt-get install python3-venv)",
            )
            changes.append(f"created {self.path}")
        if self._enable_user_site():
            changes.append(f"let users' own packages (pip install --user) load in {self.path}")
        # pip too: admins install with it, and a creation interrupted before
        # uv seeded it would otherwise leave the environment without it.
        if self.pip_install([*requirements, "pip"]):
            changes.append("installed or upgraded the user environment's packages")
        if changes:
            fix_permissions(self.path)
        return changes

    def _enable_user_site(self) -> bool:
        """Let students ``pip install --user``: pip refuses that in an isolated venv.

        A venv sees users' site-packages only with the system site-packages,
        which come after the environment's own on ``sys.path``.
        """
        cfg = self.path / "pyvenv.cfg"
        text = cfg.read_text()
        key = re.compile(r"^(include-system-site-packages\s*=\s*)false\s*$", re.M | re.I)
        if not key.search(text):
            return False
        atomic_write(cfg, key.sub(r"\g<1>true", text), mode=0o644)
        return True

    def pip_install(self, requirements: Sequence[str], extra_args: Sequence[str] = ()) -> bool:
        return pip_install_user_packages(self.uv, self.python, requirements, extra_args)

    def conda_install(self, specs: Sequence[str], channels: Iterable[str] = ()) -> bool:
        if not specs:
            return False
        raise InstallError(
            "conda packages were asked for (" + " ".join(specs) + ") but the user "
            "environment is a venv, which has no conda",
            "install with '--user-env conda', or use a plugin that asks for pip packages",
        )
