"""What a container takes over from this machine: trusted CAs, pip settings, proxy variables.

A user behind a proxy, a TLS-inspecting gateway or a mirror has set these up on the
host; the install inside the container must reach PyPI the same way.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from devharness.messages import die

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Variables a user behind a proxy, a TLS-inspecting gateway or a mirror would have set.
CA_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
PASSTHROUGH_VARS = (
    *CA_VARS,
    # ./dev screenshots: integration-tests/test_95_screenshots.py runs only when it is 1
    "TLJH_SCREENSHOTS",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_DEFAULT_TIMEOUT",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
)
PIP_CONFIGS = (Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"))


def host_passthrough_env() -> dict[str, str]:
    return {k: os.environ[k] for k in PASSTHROUGH_VARS if os.environ.get(k)}


def install_host_trust(root: Path) -> None:
    """Make the container trust what this machine trusts, and use its pip settings.

    A user behind a TLS-inspecting proxy has added the proxy's CA to the system
    store. Certificates this machine trusts beyond the container's own set go to
    /usr/local/share/ca-certificates (which update-ca-certificates keeps) and are
    added to the container's bundle, at the path the CA variables name here.
    """
    if HOST_CA_BUNDLE.is_file():
        pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
        distro: set[str] = set()
        for crt in (root / "usr/share/ca-certificates").rglob("*.crt"):
            distro.update(pem.findall(crt.read_text(errors="replace")))
        extra = [c for c in pem.findall(HOST_CA_BUNDLE.read_text()) if c not in distro]
        local = root / "usr/local/share/ca-certificates"
        local.mkdir(parents=True, exist_ok=True)
        for old in local.glob("tljh-dev-host-*.crt"):
            old.unlink()
        for i, cert in enumerate(extra):
            (local / f"tljh-dev-host-{i}.crt").write_text(cert + "\n")
        inner = root / str(HOST_CA_BUNDLE).lstrip("/")
        if inner.is_symlink() or not inner.is_file():
            copy_into(root, HOST_CA_BUNDLE)
        else:
            text = inner.read_text()
            missing = [c for c in extra if c not in text]
            if missing:
                sep = "" if not text or text.endswith("\n") else "\n"
                inner.write_text(text + sep + "".join(c + "\n" for c in missing))
    # Files the CA variables point at must exist at the same path inside.
    for var in CA_VARS:
        value = os.environ.get(var)
        if value and Path(value).is_file() and Path(value) != HOST_CA_BUNDLE:
            copy_into(root, Path(value))
    for conf in PIP_CONFIGS:
        if conf.is_file():
            copy_into(root, conf)
            for m in re.finditer(
                r"^\s*(?:constraint|requirement)\s*=\s*(\S+)", conf.read_text(), re.M
            ):
                named = Path(m.group(1))
                if named.is_absolute() and named.is_file():
                    copy_into(root, named)


def copy_into(root: Path, host_file: Path) -> None:
    """Copy a host file to the same path inside root, never writing outside root."""
    target = root / str(host_file).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root.resolve()):
        die(f"refusing to write {target}: it leads outside {root}")
    if target.is_symlink():
        target.unlink()
    shutil.copyfile(host_file, target)
