"""Installing Debian/Ubuntu packages (for plugins' ``tljh_extra_apt_packages``)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable

from tljh.errors import InstallError
from tljh.system.network import RETRIES
from tljh.system.packages import with_retries

# What dpkg accepts as a package name (Debian policy 5.6.1), optionally with
# an architecture qualifier; anything else never reaches apt-get's command line.
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?\Z")


def is_installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    return "install ok installed" in proc.stdout


def missing_packages(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that are not installed, in order, without duplicates."""
    missing: list[str] = []
    for name in packages:
        if not _NAME.match(name):
            raise InstallError(
                f"{name!r} is not a valid Debian package name",
                "fix the plugin or option that asked for it",
            )
        if name not in missing and not is_installed(name):
            missing.append(name)
    return missing


def install_packages(packages: Iterable[str], retries: int = RETRIES) -> list[str]:
    """Install the packages that are missing; return the ones installed.

    ``apt-get update`` runs only when something is missing.  Both commands
    are retried a bounded number of times (mirrors and networks fail
    transiently); when they give up the error names the packages.
    """
    missing = missing_packages(packages)
    if not missing:
        return []
    names = " ".join(missing)
    hint = (
        "check that these packages exist for this release "
        "(apt-cache policy NAME) and that the package mirror is reachable, "
        "then re-run the installer"
    )
    with_retries(
        ["apt-get", "update", "-q"],
        f"updating the package lists (apt-get update) to install {names}",
        hint=hint,
        retries=retries,
    )
    with_retries(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        f"installing the system packages {names}",
        hint=hint,
        retries=retries,
    )
    return missing
