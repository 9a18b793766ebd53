"""What the cached root filesystem contains, and the cache key that names it.

The key is a hash of the recipe's data below (not of any source file), so moving or
editing the harness's code keeps the cached rootfs; changing anything the key covers
rebuilds it on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from devharness.locations import CACHE

# Changing anything here changes the cache key, so the next run rebuilds the rootfs.
RECIPE_VERSION = 1
SUITES = ("bookworm", "trixie")
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-venv",
    "curl",
    "sudo",
    "ca-certificates",
)
# The suite's own test tools, in their own venv so they never touch what TLJH installs.
TEST_VENV = "/opt/tljh-tests"
TEST_PACKAGES = ("pytest", "requests", "websocket-client", "playwright")
# Debian packages the suite itself needs (a real browser for test_25_browser.py), installed
# after debootstrap so that BASE_PACKAGES stays what a fresh server has (pebble: the ACME
# server of test_70_https.py). Playwright drives
# Debian's chromium (its own browser download is never used); its node driver needs libatomic1.
TEST_APT_PACKAGES = ("chromium", "fonts-liberation", "libatomic1", "pebble")
HOSTNAME = "tljh-dev"

DEFAULT_MIRROR = os.environ.get("TLJH_DEV_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get(
    "TLJH_DEV_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)


@dataclass(frozen=True)
class Recipe:
    suite: str
    mirror: str = DEFAULT_MIRROR

    def key(self) -> str:
        spec = {
            "version": RECIPE_VERSION,
            "suite": self.suite,
            "packages": sorted(BASE_PACKAGES),
            "test_venv": TEST_VENV,
            "test_packages": sorted(TEST_PACKAGES),
            "test_apt_packages": sorted(TEST_APT_PACKAGES),
            "hostname": HOSTNAME,
            "arch": os.uname().machine,
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        return f"{self.suite}-{digest[:12]}"

    @property
    def path(self) -> Path:
        return CACHE / "rootfs" / self.key()

    def sources_list(self) -> str:
        lines = [
            f"deb {self.mirror} {self.suite} main",
            f"deb {self.mirror} {self.suite}-updates main",
            f"deb {SECURITY_MIRROR} {self.suite}-security main",
        ]
        return "\n".join(lines) + "\n"
