"""The installer's options and the network rule: declared once, copied into the bootstrap."""

from __future__ import annotations

import argparse
import dataclasses
import ssl
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import BOOTSTRAP_SCRIPT

from tljh.cli.installer import build_parser, parse_options
from tljh.cli.installer import run as installer_command
from tljh.errors import InstallError
from tljh.install import options
from tljh.install.bootstrap_copy import bootstrap_block, replace_block
from tljh.install.options import OPTIONS, InstallOptions
from tljh.system import network

REGENERATE = "regenerate it: python -m tljh.install.bootstrap_copy --write-bootstrap"


def test_bootstrap_carries_the_current_block() -> None:
    script = BOOTSTRAP_SCRIPT.read_text()
    assert bootstrap_block() in script, REGENERATE
    assert replace_block(script, bootstrap_block()) == script


def test_a_changed_declaration_makes_the_copy_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    script = BOOTSTRAP_SCRIPT.read_text()
    monkeypatch.setattr(network, "TOOL_DEFAULTS", (*network.TOOL_DEFAULTS, ("PIP_NO_INPUT", "1")))
    assert bootstrap_block() not in script
    monkeypatch.setattr(
        options, "OPTIONS", (*OPTIONS, options.Option("--new-option", "a new option"))
    )
    updated = replace_block(script, bootstrap_block())
    assert '"PIP_NO_INPUT"' in updated and '"--new-option"' in updated


def test_the_generated_block_is_valid_python_with_the_same_data() -> None:
    namespace: dict[str, object] = {}
    exec(bootstrap_block(), namespace)
    assert namespace["INSTALL_OPTIONS"] == tuple((o.flag, o.argparse_kwargs()) for o in OPTIONS)
    assert namespace["CA_BUNDLE_VARIABLES"] == network.CA_BUNDLE_VARIABLES
    assert namespace["MIRROR_VARIABLES"] == network.MIRROR_VARIABLES
    assert namespace["TOOL_DEFAULTS"] == network.TOOL_DEFAULTS
    assert all(len(line) <= 100 for line in bootstrap_block().splitlines())


def test_missing_markers_are_reported() -> None:
    with pytest.raises(InstallError) as e:
        replace_block("print('edited by hand')\n", bootstrap_block())
    assert "--write-bootstrap" in e.value.hint


def test_every_option_is_a_field() -> None:
    assert [f.name for f in dataclasses.fields(InstallOptions)] == [o.dest for o in OPTIONS]


def _signature(parser: argparse.ArgumentParser, flag: str) -> tuple[object, ...]:
    action = next(a for a in parser._actions if flag in a.option_strings)
    return (type(action), action.nargs, action.default, action.choices, action.help)


def test_bootstrap_and_installer_parse_the_same_options(bootstrap: ModuleType) -> None:
    ours, theirs = build_parser(), bootstrap.build_parser()
    for option in OPTIONS:
        assert _signature(ours, option.flag) == _signature(theirs, option.flag), option.flag


@pytest.mark.parametrize(
    "argv",
    [
        ["--admin", "ada", "--plugin", "p1", "p2", "--plugin", "p3", "--user-env", "venv"],
        ["--admin=ada", "--admin", "bob", "--user-req", "https://x/r.txt"],
        ["--conda-installer-url", "/srv/mf.sh", "--conda-installer-sha256", "0" * 64],
        [],
    ],
)
def test_forwarded_options_mean_the_same_to_the_installer(
    bootstrap: ModuleType, argv: list[str]
) -> None:
    bootstrap_only = ["--version", "2.0", "--show-progress-page"]
    forwarded = bootstrap.forwarded_args([*bootstrap_only, *argv])
    assert parse_options(forwarded) == parse_options(argv)


def test_abbreviated_bootstrap_flags_are_not_forwarded(bootstrap: ModuleType) -> None:
    argv = ["--vers", "1.0", "--show", "--admin", "ada"]
    assert bootstrap.forwarded_args(argv) == ["--admin", "ada"]


def test_options_from_the_command_line() -> None:
    assert parse_options([]) == InstallOptions()
    parsed = parse_options(["--plugin", "a", "b", "--plugin", "c", "--admin", "", "--admin", "x"])
    assert parsed.plugin == ("a", "b", "c")
    assert parsed.admin == ("x",)


@pytest.mark.parametrize("command", ["bootstrap", "installer"])
def test_help_lists_every_option_and_a_typo_stops_at_once(command: str) -> None:
    if command == "bootstrap":
        argv, script = [sys.executable, "-"], BOOTSTRAP_SCRIPT.read_text()
    else:
        argv, script = [sys.executable, "-m", "tljh.installer"], None
    proc = subprocess.run(
        [*argv, "--help"], input=script, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for option in OPTIONS:
        assert option.flag in proc.stdout
    proc = subprocess.run(
        [*argv, "--admin", "ada", "--plugn", "x"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unrecognized arguments: --plugn" in proc.stderr
    assert "[tljh" not in proc.stdout


ENVIRONMENTS = [
    {},
    {"PIP_CERT": "/pip.pem", "REQUESTS_CA_BUNDLE": "/requests.pem"},
    {"REQUESTS_CA_BUNDLE": "/requests.pem"},
    {"SSL_CERT_FILE": "/ssl.pem", "PIP_CERT": "/pip.pem"},
    {"PIP_INDEX_URL": "https://mirror/simple", "UV_INDEX_URL": "https://uv-mirror/simple"},
    {"PIP_EXTRA_INDEX_URL": "https://extra/simple", "UV_LINK_MODE": "hardlink"},
    {"https_proxy": "http://proxy:3128", "no_proxy": "localhost"},
]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_bootstrap_and_installer_map_the_environment_alike(
    bootstrap: ModuleType, environ: dict[str, str]
) -> None:
    assert bootstrap.package_env(environ) == network.package_env(environ)


def test_ca_bundle_order() -> None:
    both = {"PIP_CERT": "/pip.pem", "REQUESTS_CA_BUNDLE": "/requests.pem"}
    assert network.ca_bundle(both) == "/pip.pem"
    assert network.ca_bundle({**both, "SSL_CERT_FILE": "/ssl.pem"}) == "/ssl.pem"
    assert network.ca_bundle({"SSL_CERT_FILE": "", "REQUESTS_CA_BUNDLE": "/r.pem"}) == "/r.pem"
    assert network.ca_bundle({}) is None
    env = network.package_env({"REQUESTS_CA_BUNDLE": "/requests.pem"})
    assert env["SSL_CERT_FILE"] == env["PIP_CERT"] == "/requests.pem"
    # What the admin set is never overridden.
    env = network.package_env({"PIP_CERT": "/pip.pem", "SSL_CERT_FILE": "/ssl.pem"})
    assert (env["PIP_CERT"], env["SSL_CERT_FILE"]) == ("/pip.pem", "/ssl.pem")


def test_ssl_context_loads_the_configured_bundle(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        network.ssl_context({"PIP_CERT": str(bad), "REQUESTS_CA_BUNDLE": "/nonexistent.pem"})
    # A bundle that is not there is no reason to fail: the system's CAs are used.
    missing = {"SSL_CERT_FILE": str(tmp_path / "missing.pem")}
    assert isinstance(network.ssl_context(missing), ssl.SSLContext)


def test_installer_without_systemd_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl on it
    assert installer_command() == 1
    err = capsys.readouterr().err
    assert err.startswith("error: systemctl not found")
    assert "hint: install on a server or VM booted with systemd" in err
