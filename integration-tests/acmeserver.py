"""A real ACME server for the HTTPS tests: Debian's ``pebble`` (Let's Encrypt's own
test server, from the container recipe), and what the proxy serves.

Pebble validates challenges on the hub's ports 80 and 443 for :data:`DOMAIN`, which
the tests map to 127.0.0.1 in /etc/hosts; the proxy trusts pebble's listener through
a drop-in of its unit (:data:`DROP_IN`), which survives the proxy's unit being rewritten.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from conftest import run

DOMAIN = "hub.test"
PEBBLE_NAME = "pebble.test"
PEBBLE_DIR = Path("/etc/tljh-test-pebble")
PEBBLE_DIRECTORY_URL = f"https://{PEBBLE_NAME}:14000/dir"
DROP_IN = Path("/etc/systemd/system/traefik.service.d/70-test-pebble-ca.conf")


def map_test_names() -> str:
    """Point DOMAIN and PEBBLE_NAME at this machine; returns /etc/hosts as it was."""
    hosts = Path("/etc/hosts").read_text()
    Path("/etc/hosts").write_text(hosts + f"\n127.0.0.1 {DOMAIN} {PEBBLE_NAME}\n")
    return hosts


def served_der(host: str, port: int = 443, server_name: str | None = None) -> bytes:
    """The certificate the proxy serves (no verification: we compare it ourselves)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection((host, port), timeout=10)
    with context.wrap_socket(sock, server_hostname=server_name or host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    return der


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def issuer(der: bytes) -> str:
    pem = ssl.DER_cert_to_PEM_cert(der)
    return run(["openssl", "x509", "-noout", "-issuer"], input=pem).stdout.strip()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            journal = run("journalctl -u traefik -n 40 --no-pager", check=False).stdout
            raise AssertionError(f"{what} within {timeout} s\ntraefik's log:\n{journal}")
        time.sleep(1)


def start_pebble() -> Path:
    """Pebble on 127.0.0.1:14000, validating challenges on the hub's ports 80 and 443."""
    listener_cert, listener_key = PEBBLE_DIR / "listener-cert.pem", PEBBLE_DIR / "listener-key.pem"
    PEBBLE_DIR.mkdir(exist_ok=True)
    run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={PEBBLE_NAME}",
            "-addext", f"subjectAltName=DNS:{PEBBLE_NAME},IP:127.0.0.1",
            "-keyout", str(listener_key), "-out", str(listener_cert),
        ]
    )  # fmt: skip
    listener_cert.chmod(0o644)
    config = {
        "pebble": {
            "listenAddress": "127.0.0.1:14000",
            "managementListenAddress": "127.0.0.1:15000",
            "certificate": str(listener_cert),
            "privateKey": str(listener_key),
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (PEBBLE_DIR / "pebble-config.json").write_text(json.dumps(config))
    run("systemctl stop pebble-test 2>/dev/null; systemctl reset-failed pebble-test", check=False)
    run(
        [
            "systemd-run", "--unit", "pebble-test",
            "-E", "PEBBLE_VA_NOSLEEP=1", "-E", "PEBBLE_WFE_NONCEREJECT=0",
            "/usr/bin/pebble", "-config", str(PEBBLE_DIR / "pebble-config.json"),
        ]
    )  # fmt: skip

    def up() -> bool:
        return run(f"curl -sf --cacert {listener_cert} {PEBBLE_DIRECTORY_URL}",
                   check=False).returncode == 0  # fmt: skip

    wait_for(up, 30, "pebble did not answer")
    # The proxy trusts pebble's listener through its unit's environment.
    DROP_IN.parent.mkdir(exist_ok=True)
    DROP_IN.write_text(f"[Service]\nEnvironment=LEGO_CA_CERTIFICATES={listener_cert}\n")
    run("systemctl daemon-reload")
    return listener_cert


def pebble_root() -> Path:
    """The root pebble's certificates chain up to (it hands it out, for tests only)."""
    root = PEBBLE_DIR / "root.pem"
    listener_cert = PEBBLE_DIR / "listener-cert.pem"
    got = run(f"curl -sf --cacert {listener_cert} https://{PEBBLE_NAME}:15000/roots/0")
    root.write_text(got.stdout)
    return root


def serves_pebbles_certificate(
    host: str = "127.0.0.1", server_name: str = DOMAIN, other_than: str | None = None
) -> bool:
    """Whether the proxy serves a certificate from pebble (other than the one with
    fingerprint ``other_than``); False while it is starting or restarting."""
    try:
        der = served_der(host, server_name=server_name)
    except OSError:
        return False
    return fingerprint(der) != other_than and "Pebble" in issuer(der)
