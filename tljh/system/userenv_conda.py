"""The conda user environment: Miniforge, downloaded, verified, installed.

The installer is pinned by version and sha256 per processor architecture.
Mirrors and air-gapped sites pass another URL (``--conda-installer-url``,
also a local path) and, for a different file, its checksum
(``--conda-installer-sha256``).  Nothing downloaded runs before its checksum
matched.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system import network
from tljh.system.download import DOWNLOAD_TIMEOUT, download
from tljh.system.files import fix_permissions
from tljh.system.network import package_env
from tljh.system.packages import pip_install_user_packages, with_retries
from tljh.system.run import run

log = logging.getLogger(__name__)

#: The Miniforge release the conda user environment starts from, and the
#: sha256 of its Linux installers (published with the release on
#: https://github.com/conda-forge/miniforge/releases).
MINIFORGE_VERSION = "25.3.0-3"
MINIFORGE_SHA256 = {
    "x86_64": "1b57f8cb991982063f79b56176881093abb1dc76d73fda32102afde60585b5a1",
    "aarch64": "ac89f17b0eec4e98d38a53d1ae688e0f22c77d8ea5b5f008c2455e90ef095339",
}
MINIFORGE_URL = (
    "https://github.com/conda-forge/miniforge/releases/download/"
    "{version}/Miniforge3-{version}-Linux-{arch}.sh"
)
DEFAULT_CHANNELS = ("conda-forge",)
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def miniforge_url(arch: str, version: str = MINIFORGE_VERSION) -> str:
    return MINIFORGE_URL.format(version=version, arch=arch)


def download_installer(
    url: str,
    dest: Path,
    sha256: str,
    retries: int = network.RETRIES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> None:
    """Download the Miniforge installer to ``dest`` and check it against ``sha256``.

    Raises :class:`InstallError` when ``sha256`` is no checksum, the file
    cannot be downloaded, or it is not the file expected.
    """
    if not _SHA256.match(sha256.strip().lower()):
        raise InstallError(
            f"{sha256!r} is not a sha256 checksum (64 hexadecimal digits)",
            "pass the checksum published with the installer to --conda-installer-sha256",
        )
    download(
        url,
        dest,
        sha256,
        what="the conda installer",
        unreachable_hint="if this server cannot reach it, install with '--user-env venv' "
        "(pip only), or download the installer elsewhere and pass "
        "'--conda-installer-url PATH-OR-MIRROR-URL' "
        "(and '--conda-installer-sha256' if it is a different file)",
        mismatch_hint="the download was corrupted or replaced: try again; for a mirror that "
        "serves a different file, pass its published checksum with --conda-installer-sha256",
        retries=retries,
        timeout=timeout,
    )


def conda_package_name(spec: str) -> str:
    """The package name of a conda spec: ``numpy>=1.26`` -> ``numpy``."""
    spec = spec.strip().split("::")[-1]
    return re.split(r"[\s=<>!~\[]", spec, maxsplit=1)[0].lower()


def installed_conda_packages(prefix: Path) -> set[str]:
    """Names of the conda packages in ``prefix`` (from ``conda-meta/*.json``)."""
    names = set()
    meta = prefix / "conda-meta"
    if meta.is_dir():
        for entry in meta.glob("*.json"):
            # name-version-build.json; names may contain dashes.
            parts = entry.name[: -len(".json")].rsplit("-", 2)
            if len(parts) == 3:
                names.add(parts[0].lower())
    return names


def is_conda_env(path: Path) -> bool:
    return (path / "conda-meta" / "history").is_file()


class CondaUserEnvironment:
    """Miniforge in the user environment's place: conda, mamba and pip for admins."""

    name = "conda"

    def __init__(
        self,
        layout: Layout,
        installer_url: str | None = None,
        installer_sha256: str | None = None,
        arch: str | None = None,
    ) -> None:
        self.layout = layout
        self.path = layout.user_env
        self.arch = arch or platform.machine()
        self.installer_url = installer_url
        self.installer_sha256 = installer_sha256
        self.uv = layout.uv
        # Present while Miniforge is being installed: a prefix found with it
        # is our own interrupted install, safe to remove and start over.
        self.marker = layout.prefix / ".user-env-installing"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python3"

    def installer(self) -> tuple[str, str]:
        """(URL, sha256) of the Miniforge installer for this machine."""
        pinned = MINIFORGE_SHA256.get(self.arch)
        url = self.installer_url or miniforge_url(self.arch)
        sha256 = self.installer_sha256 or pinned
        if not sha256:
            raise InstallError(
                f"there is no pinned Miniforge installer for the {self.arch} architecture",
                "pass --conda-installer-url and --conda-installer-sha256, "
                "or install with --user-env venv",
            )
        return url, sha256

    def _check_not_foreign(self) -> None:
        if not self.path.exists() or self.marker.exists():
            return
        if not self.path.is_dir() or (any(self.path.iterdir()) and not is_conda_env(self.path)):
            what = (
                "a Python virtual environment (made with --user-env venv)"
                if (self.path / "pyvenv.cfg").exists()
                else "not a conda environment"
            )
            raise InstallError(
                f"{self.path} exists and is {what}; it was left as it is",
                "re-run with '--user-env venv' to keep a venv user environment, or move "
                f"{self.path} aside (mv {self.path} {self.path}.old) and run the installer again",
            )

    def _install_miniforge(self) -> str:
        url, sha256 = self.installer()
        if self.marker.exists():
            if self.path.exists():
                log.info("removing %s: an earlier install of it did not finish", self.path)
                shutil.rmtree(self.path)
        elif self.path.is_dir():
            if any(self.path.iterdir()):
                raise InstallError(
                    f"{self.path} is a conda environment without {self.python}; "
                    "it was left as it is",
                    f"move it aside (mv {self.path} {self.path}.old) and run the installer again",
                )
            self.path.rmdir()  # empty: the Miniforge installer wants to create it
        self.marker.touch()
        with tempfile.TemporaryDirectory(prefix="tljh-miniforge-") as tmp:
            script = Path(tmp) / "miniforge-installer.sh"
            log.info("downloading the conda installer from %s", url)
            download_installer(url, script, sha256)
            env = package_env()
            # Batch mode: no questions, no changes to root's shell startup files.
            run(
                ["/bin/bash", str(script), "-b", "-p", str(self.path)],
                env=env,
                hint="the installer's output is above; re-run the installer to try again, "
                "or install with --user-env venv",
            )
        if not self.python.exists() or not is_conda_env(self.path):
            raise InstallError(
                f"the conda installer from {url} ran but {self.python} is missing",
                "is it a Miniforge installer for Linux? Re-run, or install with --user-env venv",
            )
        self.marker.unlink()
        return f"installed Miniforge into {self.path} from {url}"

    def ensure(self, requirements: Sequence[str]) -> list[str]:
        self._check_not_foreign()
        changes = []
        if self.marker.exists() or not self.python.exists():
            changes.append(self._install_miniforge())
        if self.pip_install(requirements):
            changes.append("installed or upgraded the user environment's packages")
        if changes:
            fix_permissions(self.path)
        return changes

    def pip_install(self, requirements: Sequence[str], extra_args: Sequence[str] = ()) -> bool:
        return pip_install_user_packages(self.uv, self.python, requirements, extra_args)

    def conda_install(self, specs: Sequence[str], channels: Iterable[str] = ()) -> bool:
        """Install conda packages that are missing (with mamba when present)."""
        have = installed_conda_packages(self.path)
        missing = [s for s in dict.fromkeys(specs) if conda_package_name(s) not in have]
        if not missing:
            return False
        wanted = list(dict.fromkeys([*channels, *DEFAULT_CHANNELS]))
        tool = self.path / "bin" / "mamba"
        if not os.access(tool, os.X_OK):
            tool = self.path / "bin" / "conda"
        argv = [str(tool), "install", "--yes", "--prefix", str(self.path)]
        for channel in wanted:
            argv += ["--channel", channel]
        with_retries(
            [*argv, *missing],
            "installing the conda packages " + " ".join(missing),
            hint="check the package names and the channels ("
            + ", ".join(wanted)
            + "), and that the server reaches them",
        )
        fix_permissions(self.path)
        return True
