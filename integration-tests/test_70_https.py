"""The front door: HTTPS with the admin's own certificate and over ACME, ports and base_url.

Everything is real: traefik as installed, openssl's certificates, and Debian's
``pebble`` (Let's Encrypt's own test server, from the container recipe) as the
ACME server, validating the HTTP-01 challenge against our proxy on port 80 for
a test domain mapped to 127.0.0.1 in /etc/hosts.  The module puts the HTTP
config back as it found it, so later modules still talk to http://127.0.0.1/.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from acmeserver import (
    DOMAIN,
    DROP_IN,
    PEBBLE_DIRECTORY_URL,
    fingerprint,
    map_test_names,
    pebble_root,
    served_der,
    serves_pebbles_certificate,
    start_pebble,
    wait_for,
)
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import record_timing, run, tljh_config, use_dummy_auth
from hubclient import HubClient

CERT_KEEPER = "certkeeper"
KEYS = [
    "https.enabled",
    "https.tls.cert",
    "https.tls.key",
    "https.letsencrypt.email",
    "https.letsencrypt.domains",
    "https.letsencrypt.ca_server",
    "https.letsencrypt.challenge",
    "http.port",
    "base_url",
]


def _restore_http() -> None:
    for key in KEYS:
        tljh_config("unset", key, check=False)
    tljh_config("reload")


@pytest.fixture(scope="module", autouse=True)
def plain_http_afterwards() -> Iterator[None]:
    hosts = map_test_names()
    use_dummy_auth()
    yield
    _restore_http()
    Path("/etc/hosts").write_text(hosts)
    run(f"systemctl stop pebble-test; rm -f {DROP_IN}; systemctl daemon-reload", check=False)
    run(f"userdel -r {CERT_KEEPER}", check=False)


def make_cert(directory: Path, name: str, days: int = 90) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
            "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN},IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ]
    )  # fmt: skip
    return cert, key


def file_der(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_proxy_runs_as_its_own_user_with_one_capability() -> None:
    pid = run("systemctl show -p MainPID --value traefik").stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    uid = fields["Uid"].split()[0]
    assert run(["id", "-nu", uid]).stdout.strip() == "tljh-proxy"
    # Effective and bounding sets: CAP_NET_BIND_SERVICE (bit 10) and nothing else.
    assert int(fields["CapEff"], 16) == 1 << 10
    assert int(fields["CapBnd"], 16) == 1 << 10
    # The hub's database and secrets are out of its sight.
    seen = run(["nsenter", "-t", pid, "-m", "ls", "-A", "/opt/tljh/state"]).stdout.split()
    assert "jupyterhub.sqlite" not in seen
    assert "traefik-api.secret" not in seen
    assert "traefik.toml" in seen


def test_own_certificate_kept_under_home_is_served_and_http_redirects() -> None:
    run(f"id {CERT_KEEPER} || useradd --create-home {CERT_KEEPER}")
    home = Path(f"/home/{CERT_KEEPER}")
    cert, key = make_cert(home / "tls" / "2026", "hub")
    # Behind symlinks, as /etc/letsencrypt/live keeps them; root-only like a real key.
    (home / "tls" / "live").mkdir(exist_ok=True)
    for link, target in ((home / "tls/live/cert.pem", cert), (home / "tls/live/key.pem", key)):
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    key.chmod(0o600)
    # Upstream's order: HTTPS on first (refused by an older tljh-config), then the files.
    tljh_config("set", "https.enabled", "true")
    tljh_config("set", "https.tls.cert", str(home / "tls/live/cert.pem"))
    tljh_config("set", "https.tls.key", str(home / "tls/live/key.pem"))
    started = time.monotonic()
    tljh_config("reload", "proxy")
    record_timing("https_own_cert_reload_proxy_seconds", round(time.monotonic() - started, 2))
    assert fingerprint(served_der("127.0.0.1")) == fingerprint(file_der(cert))

    conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
    conn.request("GET", "/hub/login")
    response = conn.getresponse()
    assert response.status in (301, 308)
    assert response.getheader("Location") == "https://127.0.0.1/hub/login"
    conn.close()

    # TLS 1.2 is served (older versions are refused by the proxy's TLS options).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with context.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=10)) as tls:
        assert tls.version() == "TLSv1.2"

    status = run(["tljh-config", "https-status"])
    assert "Served on 127.0.0.1:443 (name hub.test)" in status.stdout
    assert "problem:" not in status.stdout

    # A renewed certificate at the same path: https-status says it is not served yet,
    # and 'reload proxy' serves it.
    renewed, _ = make_cert(home / "tls" / "2026", "hub")  # same names: same paths
    assert fingerprint(file_der(renewed)) != fingerprint(served_der("127.0.0.1"))
    stale = run(["tljh-config", "https-status"], check=False)
    assert stale.returncode == 1
    assert "is not the one served" in stale.stdout
    tljh_config("reload", "proxy")
    assert fingerprint(served_der("127.0.0.1")) == fingerprint(file_der(renewed))

    # A student logs in and runs code over HTTPS, checking the certificate.
    client = HubClient("https://127.0.0.1", ca_file=str(renewed))
    client.login("https-student", PASSWORD)
    client.start_server()
    assert client.execute("6 * 7") == "42"
    client.stop_server()


def test_upstream_letsencrypt_how_to_against_a_real_acme_server() -> None:
    _restore_http()
    start_pebble()
    # Upstream's how-to, in its order (plus the ACME server: pebble, not Let's Encrypt).
    tljh_config("set", "https.enabled", "true")
    tljh_config("set", "https.letsencrypt.email", "teacher@example.org")
    tljh_config("add-item", "https.letsencrypt.domains", DOMAIN)
    tljh_config("set", "https.letsencrypt.ca_server", PEBBLE_DIRECTORY_URL)
    # Saved, not applied yet: nothing serves HTTPS, and the status says so.
    placeholder = run(["tljh-config", "https-status"], check=False)
    assert placeholder.returncode == 1
    started = time.monotonic()
    tljh_config("reload", "proxy")
    wait_for(serves_pebbles_certificate, 90, "no certificate from pebble")
    record_timing("https_acme_cert_served_seconds", round(time.monotonic() - started, 2))
    acme = Path("/opt/tljh/state/acme.json")
    st = acme.stat()
    assert st.st_mode & 0o777 == 0o600
    assert run(["stat", "-c", "%U", str(acme)]).stdout.strip() == "tljh-proxy"
    assert DOMAIN in acme.read_text()
    status = run(["tljh-config", "https-status"])
    assert "Pebble" in status.stdout
    assert f"certificates for {DOMAIN}" in status.stdout

    client = HubClient(f"https://{DOMAIN}", ca_file=str(pebble_root()))
    client.login("acme-student", PASSWORD)
    client.start_server()
    assert client.execute("sum(range(10))") == "45"
    client.stop_server()

    # The other challenge, on port 443: a new certificate from an empty store.
    first = fingerprint(served_der("127.0.0.1", server_name=DOMAIN))
    tljh_config("set", "https.letsencrypt.challenge", "tls-alpn-01")
    acme.unlink()
    tljh_config("reload", "proxy")
    wait_for(
        lambda: serves_pebbles_certificate(other_than=first),
        90,
        "no new certificate over tls-alpn-01",
    )
    assert "tlsChallenge" in Path("/opt/tljh/state/traefik.toml").read_text()


def test_custom_http_port() -> None:
    _restore_http()
    tljh_config("set", "http.port", "8080")
    tljh_config("reload", "proxy")
    try:
        client = HubClient("http://127.0.0.1:8080")
        client.login("port-student", PASSWORD)
        assert client.get("/hub/home").status_code == 200
        refused = run("curl -s -o /dev/null http://127.0.0.1:80/hub/login", check=False)
        assert refused.returncode == 7  # nothing listens on 80 any more
    finally:
        tljh_config("unset", "http.port")
        tljh_config("reload", "proxy")


def test_a_taken_port_is_refused_naming_its_holder() -> None:
    run("systemctl stop port-squatter; systemctl reset-failed port-squatter", check=False)
    run("systemd-run --unit port-squatter python3 -m http.server --bind 127.0.0.1 8081")
    try:
        wait_for(
            lambda: run("curl -s -o /dev/null http://127.0.0.1:8081/", check=False).returncode == 0,
            20,
            "the squatter did not listen",
        )
        pid = run("systemctl show -p MainPID --value port-squatter").stdout.strip()
        tljh_config("set", "http.port", "8081")
        failed = run(["tljh-config", "reload", "proxy"], check=False)
        assert failed.returncode != 0
        assert f"cannot listen on port 8081 (http.port): python3 (pid {pid}) holds it" in (
            failed.stderr
        ), failed.stderr
        assert "sudo tljh-config set http.port <port>" in failed.stderr
        # Rolled back: the hub answers on port 80 as before.
        assert run("curl -sf -o /dev/null http://127.0.0.1/hub/api", check=False).returncode == 0
    finally:
        run("systemctl stop port-squatter", check=False)
        tljh_config("unset", "http.port", check=False)
        tljh_config("reload", "proxy")


def test_base_url_with_login_spawn_and_code() -> None:
    tljh_config("set", "base_url", "/course/")
    tljh_config("reload")
    try:
        client = HubClient("http://127.0.0.1", base_url="/course/")
        client.login("course-student", PASSWORD)
        client.start_server()
        assert client.server_url and client.server_url.startswith("/course/user/")
        assert client.execute("'/'.join(['a', 'b'])") == "'a/b'"
        client.stop_server()
    finally:
        tljh_config("unset", "base_url")
        tljh_config("reload")


def test_kernel_keeps_its_state_across_reload_hub() -> None:
    client = HubClient("http://127.0.0.1")
    client.login("reload-student", PASSWORD)
    client.start_server()
    assert client.execute("answer = 41") == ""
    proxy_pid = run("systemctl show -p MainPID --value traefik").stdout
    tljh_config("reload", "hub")
    assert run("systemctl show -p MainPID --value traefik").stdout == proxy_pid
    # The same kernel answers, through the routes the proxy kept.
    assert client.execute("answer + 1") == "42"
    client.stop_server()


def test_proxy_restart_leaves_the_hub_running() -> None:
    hub_pid = run("systemctl show -p MainPID --value jupyterhub").stdout
    tljh_config("reload", "proxy")
    assert run("systemctl show -p MainPID --value jupyterhub").stdout == hub_pid
    assert subprocess.run(["curl", "-sf", "http://127.0.0.1/hub/api"]).returncode == 0
