"""tljh-config https-status: the served certificate read for real, from a local TLS server."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tljh.apply.https_status import (
    acme_domains,
    describe_pem,
    https_status,
    last_acme_error,
    parse_openssl_x509,
)
from tljh.config.schema import with_defaults
from tljh.layout import Layout

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


def make_cert(tmp_path: Path, cn: str, days: int = 90, name: str = "c") -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn},DNS:www.{cn}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def serving(cert: Path, key: Path) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 serving ``cert``; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_parse_real_openssl_output(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path, "hub.example.org", days=30)
    info = describe_pem(cert.read_text())
    assert info.subject == "CN=hub.example.org"
    assert info.names == ["hub.example.org", "www.hub.example.org"]
    assert info.not_after is not None
    assert 29 < (info.not_after - time.time()) / 86400 <= 30
    assert len(info.sha256.split(":")) == 32
    assert not info.is_traefik_default


def test_parse_without_alternative_names_uses_the_common_name() -> None:
    info = parse_openssl_x509("subject=CN=TRAEFIK DEFAULT CERT\nissuer=CN=TRAEFIK DEFAULT CERT\n")
    assert info.names == ["TRAEFIK DEFAULT CERT"]
    assert info.is_traefik_default


def test_acme_store_and_last_error(tmp_path: Path) -> None:
    store = tmp_path / "acme.json"
    store.write_text(
        json.dumps(
            {"letsencrypt": {"Certificates": [{"domain": {"main": "a.org", "sans": ["b.org"]}}]}}
        )
    )
    assert acme_domains(store) == ["a.org", "b.org"]
    store.write_text("")
    assert acme_domains(store) == []
    journal = (
        "2026-12-01T08:00:00Z INF Starting provider\n"
        "2026-12-01T08:00:01Z ERR Unable to obtain ACME certificate for domains "
        'error="acme: error: 400 :: urn:ietf:params:acme:error:connection"\n'
        "2026-12-01T08:00:02Z ERR some other error\n"
    )
    assert "Unable to obtain ACME certificate" in last_acme_error(journal)


def test_status_names_the_traefik_default_certificate(tmp_path: Path) -> None:
    placeholder = make_cert(tmp_path, "TRAEFIK DEFAULT CERT", name="served")
    with serving(*placeholder) as port:
        _check_placeholder_reported(tmp_path, port)


def _check_placeholder_reported(tmp_path: Path, port: int) -> None:
    own, own_key = make_cert(tmp_path, "hub.example.org")
    config = with_defaults(
        {
            "https": {
                "enabled": True,
                "address": "127.0.0.1",
                "port": port,
                "tls": {"cert": str(own), "key": str(own_key)},
            }
        }
    )
    lines, problems = https_status(Layout(prefix=tmp_path), config)
    text = "\n".join(lines)
    assert f"your own certificate: {own}" in text
    assert "subject:     CN=TRAEFIK DEFAULT CERT" in text
    assert len(problems) == 1
    assert "placeholder certificate (TRAEFIK DEFAULT CERT)" in problems[0]


def test_status_says_a_renewed_file_is_not_served_yet(tmp_path: Path) -> None:
    served, served_key = make_cert(tmp_path, "hub.example.org", name="served")
    with serving(served, served_key) as port:
        _check_renewal_reported(tmp_path, port, served)


def _check_renewal_reported(tmp_path: Path, port: int, served: Path) -> None:
    config = with_defaults(
        {"https": {"enabled": True, "address": "127.0.0.1", "port": port,
                   "tls": {"cert": str(served), "key": str(served)}}}
    )  # fmt: skip
    # What is served is the file: nothing to report.
    _, problems = https_status(Layout(prefix=tmp_path), config)
    assert problems == []
    renewed, _ = make_cert(tmp_path, "hub.example.org", name="renewed")
    config["https"]["tls"]["cert"] = str(renewed)
    _, problems = https_status(Layout(prefix=tmp_path), config)
    assert any("not the one served" in p and "reload proxy" in p for p in problems)


def test_status_when_https_is_off(tmp_path: Path) -> None:
    lines, problems = https_status(Layout(prefix=tmp_path), with_defaults({}))
    assert "HTTPS is off" in lines[0]
    assert problems == []
