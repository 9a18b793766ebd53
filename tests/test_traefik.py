"""Traefik's configuration files, as text, and (when a traefik binary is around) for real."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib

from tljh.config.schema import with_defaults
from tljh.config.secrets import read_api_password
from tljh.config.snippets import deep_merge, load_extra_static_config
from tljh.errors import ConfigError
from tljh.layout import Layout
from tljh.render.proxy import (
    api_dynamic_config,
    api_rules_file,
    hash_api_password,
    static_config,
    traefik_files,
)

LAYOUT = Layout(prefix=Path("/opt/tljh"))
LE = {"email": "admin@example.org", "domains": ["hub.example.org", "www.example.org"]}


def render(config: dict[str, Any], password: str = "pw", **kw: Any) -> tuple[dict, dict]:
    files = traefik_files(with_defaults(config), LAYOUT, password, **kw)
    assert set(files) == {LAYOUT.traefik_static_config, api_rules_file(LAYOUT)}
    assert api_rules_file(LAYOUT).parent == LAYOUT.traefik_rules_dir
    static = tomllib.loads(files[LAYOUT.traefik_static_config])
    dynamic = tomllib.loads(files[api_rules_file(LAYOUT)])
    return static, dynamic


def test_defaults() -> None:
    static, dynamic = render({})
    eps = static["entryPoints"]
    assert set(eps) == {"http", "auth_api"}
    assert eps["http"]["address"] == ":80"
    assert eps["auth_api"]["address"] == "127.0.0.1:8099"
    assert "redirections" not in eps["http"].get("http", {})
    assert static["api"] == {"dashboard": False}
    assert static["providers"]["file"] == {"directory": "/opt/tljh/state/rules", "watch": True}
    assert static["providers"]["providersThrottleDuration"] == "0s"
    assert "certificatesResolvers" not in static
    assert "tls" not in dynamic


def test_addresses() -> None:
    static, _ = render(
        {
            "http": {"address": "10.0.0.5", "port": 8000},
            "traefik_api": {"ip": "::1", "port": 9000},
        }
    )
    assert static["entryPoints"]["http"]["address"] == "10.0.0.5:8000"
    assert static["entryPoints"]["auth_api"]["address"] == "[::1]:9000"


def test_api_router_and_basic_auth() -> None:
    config = {"traefik_api": {"username": "hubapi"}}
    _, dynamic = render(config, password="s3cret")
    (router,) = dynamic["http"]["routers"].values()
    assert router["entryPoints"] == ["auth_api"]
    assert router["service"] == "api@internal"
    (middleware_name,) = router["middlewares"]
    users = dynamic["http"]["middlewares"][middleware_name]["basicAuth"]["users"]
    expected = base64.b64encode(hashlib.sha1(b"s3cret").digest()).decode()
    assert users == [f"hubapi:{{SHA}}{expected}"]
    # the password itself never appears
    files = traefik_files(with_defaults(config), LAYOUT, "s3cret")
    assert not any("s3cret" in text for text in files.values())


def test_deterministic() -> None:
    a = traefik_files(with_defaults({}), LAYOUT, "pw")
    b = traefik_files(with_defaults({}), LAYOUT, "pw")
    assert a == b
    c = traefik_files(with_defaults({}), LAYOUT, "other")
    assert a[api_rules_file(LAYOUT)] != c[api_rules_file(LAYOUT)]


def test_empty_password_refused() -> None:
    with pytest.raises(ConfigError):
        traefik_files(with_defaults({}), LAYOUT, "")


def test_https_with_own_certificate() -> None:
    static, dynamic = render(
        {
            "https": {
                "enabled": True,
                "port": 8443,
                "tls": {"cert": "/etc/ssl/hub.pem", "key": "/etc/ssl/hub.key"},
            }
        }
    )
    eps = static["entryPoints"]
    assert eps["https"]["address"] == ":8443"
    assert eps["https"]["http"]["tls"] == {}
    assert eps["http"]["http"]["redirections"]["entryPoint"]["to"] == "https"
    assert "certificatesResolvers" not in static
    # The proxy reads copies in state/, whatever path the admin gave.
    assert dynamic["tls"]["stores"]["default"]["defaultCertificate"] == {
        "certFile": "/opt/tljh/state/proxy-certs/cert.pem",
        "keyFile": "/opt/tljh/state/proxy-certs/key.pem",
    }
    assert dynamic["tls"]["options"]["default"]["minVersion"] == "VersionTLS12"


def test_public_entrypoints_are_the_default_ones() -> None:
    """The hub's routes name no entrypoint: they must reach both public ones, not the API's."""
    static, _ = render({"https": {"enabled": True, "letsencrypt": LE}})
    eps = static["entryPoints"]
    assert eps["http"]["asDefault"] is True
    assert eps["https"]["asDefault"] is True
    assert "asDefault" not in eps["auth_api"]


def test_acme_server_and_challenge_are_chosen() -> None:
    le = {**LE, "ca_server": "https://acme.example.edu/dir", "challenge": "tls-alpn-01"}
    static, _ = render({"https": {"enabled": True, "letsencrypt": {**le, "staging": True}}})
    acme = static["certificatesResolvers"]["letsencrypt"]["acme"]
    assert acme["caServer"] == "https://acme.example.edu/dir"
    assert acme["tlsChallenge"] == {}
    assert "httpChallenge" not in acme


@pytest.mark.parametrize("staging", [False, True])
def test_https_with_letsencrypt(staging: bool) -> None:
    static, dynamic = render(
        {"https": {"enabled": True, "letsencrypt": {**LE, "staging": staging}}}
    )
    tls = static["entryPoints"]["https"]["http"]["tls"]
    assert tls["certResolver"] == "letsencrypt"
    assert tls["domains"] == [{"main": "hub.example.org", "sans": ["www.example.org"]}]
    acme = static["certificatesResolvers"]["letsencrypt"]["acme"]
    assert acme["email"] == "admin@example.org"
    assert acme["storage"] == "/opt/tljh/state/acme.json"
    assert acme["httpChallenge"] == {"entryPoint": "http"}
    assert ("staging" in acme.get("caServer", "")) is staging
    generated = dynamic["tls"]["stores"]["default"]["defaultGeneratedCert"]
    assert generated["resolver"] == "letsencrypt"
    assert generated["domain"]["main"] == "hub.example.org"


def test_extra_static_config_merged_admin_wins() -> None:
    extra = {
        "log": {"level": "DEBUG"},
        "entryPoints": {"http": {"transport": {"respondingTimeouts": {"readTimeout": "5m"}}}},
        "metrics": {"prometheus": {"entryPoint": "auth_api"}},
    }
    static, _ = render({}, extra_static_config=extra)
    assert static["log"]["level"] == "DEBUG"
    assert static["entryPoints"]["http"]["transport"]["respondingTimeouts"]["readTimeout"] == "5m"
    assert static["entryPoints"]["http"]["address"] == ":80"
    assert static["metrics"] == {"prometheus": {"entryPoint": "auth_api"}}


def test_load_extra_static_config(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    assert load_extra_static_config(layout) == {}
    layout.traefik_config_d.mkdir(parents=True)
    (layout.traefik_config_d / "b.toml").write_text('[log]\nlevel = "WARN"\n')
    (layout.traefik_config_d / "a.toml").write_text('[log]\nlevel = "DEBUG"\nformat = "json"\n')
    (layout.traefik_config_d / "ignored.txt").write_text("not toml")
    assert load_extra_static_config(layout) == {"log": {"level": "WARN", "format": "json"}}
    (layout.traefik_config_d / "c.toml").write_text("[log\n")
    with pytest.raises(ConfigError) as e:
        load_extra_static_config(layout)
    assert "c.toml" in e.value.message


def test_read_api_password(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    config = with_defaults({})
    assert read_api_password(config, layout) == ""
    layout.state_dir.mkdir()
    layout.traefik_api_secret.write_text("from-file\n")
    assert read_api_password(config, layout) == "from-file"
    config["traefik_api"]["password"] = "from-config"
    assert read_api_password(config, layout) == "from-config"


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"http": {"address": "::1", "port": 8080}, "traefik_api": {"ip": "::1"}},
        {"https": {"enabled": True, "letsencrypt": {**LE, "staging": True}}},
        {"https": {"enabled": True, "tls": {"cert": "/etc/a.pem", "key": "/etc/a.key"}}},
    ],
)
def test_files_parse_back_to_the_computed_config(config: dict[str, Any]) -> None:
    # What traefik reads is exactly what static_config and api_dynamic_config
    # computed, including values that need quoting or escapes in TOML.
    extra = {
        "log": {"level": "DEBUG"},
        "odd": {
            "s": 'quote " backslash \\ newline \n tab \t del \x7f nul \x00 é 😀',
            "i": 3,
            "f": 1.5,
            "b": True,
            "list": ["x", 'y"', 2],
            "empty": {},
            "key with space": {"k": "v"},
            "arr": [{"main": "a", "sub": {"x": 1}}, {"main": "b"}],
        },
    }
    full = with_defaults(config)
    static, dynamic = render(config, password="pw", extra_static_config=extra)
    assert static == deep_merge(static_config(full, LAYOUT), extra)
    assert dynamic == api_dynamic_config(full, LAYOUT, "pw")


def test_files_say_they_are_generated() -> None:
    for text in traefik_files(with_defaults({}), LAYOUT, "pw").values():
        assert text.startswith("# Traefik's ")
        assert "edits here are overwritten" in text


def test_hash_api_password_format() -> None:
    assert hash_api_password("abc") == "{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0="


# -- with the real traefik binary --------------------------------------------------


def _traefik_binary() -> str | None:
    for candidate in (
        os.environ.get("TLJH_TEST_TRAEFIK"),
        str(LAYOUT.traefik_bin),
        shutil.which("traefik"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, auth: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except urllib.error.URLError:
        return 0, ""  # not listening (yet)


@pytest.fixture
def backend() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"backend {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(_traefik_binary() is None, reason="no traefik binary (set TLJH_TEST_TRAEFIK)")
def test_real_traefik_serves_api_and_hub_routes(tmp_path: Path, backend: int) -> None:
    layout = Layout(prefix=tmp_path)
    layout.traefik_rules_dir.mkdir(parents=True)
    http_port, api_port = _free_port(), _free_port()
    config = with_defaults(
        {
            "http": {"address": "127.0.0.1", "port": http_port},
            "traefik_api": {"port": api_port},
        }
    )
    for path, text in traefik_files(config, layout, "pw").items():
        path.write_text(text)
    log_path = tmp_path / "traefik.log"
    api = f"http://127.0.0.1:{api_port}"
    proc = _start_traefik(layout, log_path)
    try:
        _wait_ping(proc, api, log_path)
        assert _get(api + "/api/overview")[0] == 401
        assert _get(api + "/api/overview", "api_admin:wrong")[0] == 401
        assert _get(api + "/api/overview", "api_admin:pw")[0] == 200
        assert _get(api + "/dashboard/", "api_admin:pw")[0] == 404

        _add_route(layout, api, "/user/alice/", backend)
        status, body = _get(f"http://127.0.0.1:{http_port}/user/alice/lab/tree/a%23b.ipynb")
        assert status == 200
        assert body == "backend /user/alice/lab/tree/a%23b.ipynb"
        assert _get(f"http://127.0.0.1:{http_port}/user/bob/")[0] == 404
        errors = [
            line for line in log_path.read_text().splitlines() if " ERR " in line or " WRN " in line
        ]
        assert not errors, errors
    finally:
        proc.terminate()
        proc.wait(10)


def _start_traefik(layout: Layout, log_path: Path) -> subprocess.Popen[bytes]:
    binary = _traefik_binary()
    assert binary
    with log_path.open("a") as log:
        return subprocess.Popen(
            [binary, "--configfile", str(layout.traefik_static_config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_ping(proc: subprocess.Popen[bytes], api: str, log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while _get(api + "/ping")[0] != 200:
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, "traefik did not come up"
        time.sleep(0.1)


def _add_route(layout: Layout, api: str, prefix: str, backend: int) -> None:
    """The hub's proxy class, configured as tljh.render.hub configures it, adds a
    route to ``backend`` and waits until traefik's API reports it."""
    from tljh.hub.proxy import TLJHTraefikProxy

    async def add() -> None:
        proxy = TLJHTraefikProxy(
            should_start=False,
            enable_setup_dynamic_config=False,
            traefik_api_url=api,
            traefik_api_username="api_admin",
            traefik_api_password="pw",
            traefik_entrypoint="http",
            dynamic_config_file=str(layout.traefik_dynamic_config),
            check_route_timeout=15,
        )
        await proxy.add_route(prefix, f"http://127.0.0.1:{backend}", {})

    asyncio.run(add())


@pytest.mark.skipif(_traefik_binary() is None, reason="no traefik binary (set TLJH_TEST_TRAEFIK)")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_routes_survive_turning_https_on_with_only_a_proxy_restart(
    tmp_path: Path, backend: int
) -> None:
    """A route the hub added over HTTP is served over HTTPS after a proxy restart alone."""
    import http.client
    import ssl

    layout = Layout(prefix=tmp_path)
    layout.traefik_rules_dir.mkdir(parents=True)
    http_port, https_port, api_port = _free_port(), _free_port(), _free_port()
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=hub.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    plain = {"http": {"address": "127.0.0.1", "port": http_port}, "traefik_api": {"port": api_port}}
    for path, text in traefik_files(with_defaults(plain), layout, "pw").items():
        path.write_text(text)
    log_path = tmp_path / "traefik.log"
    api = f"http://127.0.0.1:{api_port}"
    proc = _start_traefik(layout, log_path)
    try:
        _wait_ping(proc, api, log_path)
        _add_route(layout, api, "/user/alice/", backend)
        assert _get(f"http://127.0.0.1:{http_port}/user/alice/x")[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)

    # 'tljh-config reload proxy' with HTTPS on: new traefik files, the hub untouched.
    secure = deep_merge(
        plain,
        {"https": {"enabled": True, "address": "127.0.0.1", "port": https_port,
                   "tls": {"cert": str(cert), "key": str(key)}}},
    )  # fmt: skip
    for path, text in traefik_files(with_defaults(secure), layout, "pw").items():
        path.write_text(text)
    layout.proxy_certs_dir.mkdir()
    shutil.copy(cert, layout.proxy_certs_dir / "cert.pem")
    shutil.copy(key, layout.proxy_certs_dir / "key.pem")
    proc = _start_traefik(layout, log_path)
    try:
        _wait_ping(proc, api, log_path)
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        deadline = time.monotonic() + 15
        while True:
            conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=5)
            try:
                conn.request("GET", "/user/alice/x")
                response = conn.getresponse()
                status, body = response.status, response.read().decode()
            except OSError:
                status, body = 0, ""
            finally:
                conn.close()
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (status, body) == (200, "backend /user/alice/x"), log_path.read_text()

        # A route the hub adds now is seen by its wait (traefik names the router
        # once per entrypoint), and served.
        _add_route(layout, api, "/user/bob/", backend)
        conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=5)
        conn.request("GET", "/user/bob/y")
        assert conn.getresponse().status == 200
        conn.close()
        conn2 = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        conn2.request("GET", "/user/alice/x")
        redirect = conn2.getresponse()
        assert redirect.status in (301, 308)
        assert redirect.getheader("Location", "").startswith("https://")
        conn2.close()
    finally:
        proc.terminate()
        proc.wait(10)
