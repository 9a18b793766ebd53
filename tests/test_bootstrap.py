"""The bootstrap script's own logic (it runs piped into python3, so it is loaded by path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import BOOTSTRAP_SCRIPT as SCRIPT


def test_truncated_download_does_nothing() -> None:
    """A download cut at any line boundary must neither run nor half-run."""
    lines = SCRIPT.read_text().splitlines(keepends=True)
    # Cutting before the final call leaves a script that defines things only.
    for cut in (len(lines) // 3, len(lines) // 2, len(lines) - 1):
        text = "".join(lines[:cut])
        proc = subprocess.run(
            [sys.executable, "-", "--admin", "x"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "[tljh-bootstrap]" not in proc.stdout
        assert "error:" not in proc.stderr or "SyntaxError" in proc.stderr


def test_help_runs_without_root() -> None:
    proc = subprocess.run(
        [sys.executable, "-", "--help"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0
    for flag in (
        "--admin",
        "--plugin",
        "--version",
        "--user-requirements-txt-url",
        "--user-env",
        "--conda-installer-url",
        "--conda-installer-sha256",
    ):
        assert flag in proc.stdout


def test_version_tuple(bootstrap: ModuleType) -> None:
    assert bootstrap.version_tuple("22.04") == (22, 4)
    assert bootstrap.version_tuple("12") == (12,)
    assert bootstrap.version_tuple("") == ()
    assert bootstrap.version_tuple("13") >= bootstrap.SUPPORTED_OS["debian"][0]
    assert bootstrap.version_tuple("20.04") < bootstrap.SUPPORTED_OS["ubuntu"][0]


def test_forwarded_args_drop_bootstrap_only_flags(bootstrap: ModuleType) -> None:
    argv = ["--admin", "a", "--version", "2.0", "--show-progress-page", "--plugin", "p1", "p2"]
    assert bootstrap.forwarded_args(argv) == ["--admin", "a", "--plugin", "p1", "p2"]
    assert bootstrap.forwarded_args(["--version=1.0", "--admin", "b"]) == ["--admin", "b"]


REPO = "https://github.com/jupyterhub/the-littlest-jupyterhub.git"
NAME = "the-littlest-jupyterhub"


@pytest.mark.parametrize(
    ("version", "kind", "spec"),
    [
        # upstream's upgrade how-to: --version=latest
        ("latest", "release", NAME),
        ("", "release", NAME),
        # partial versions: the newest release with that prefix (upstream's meaning)
        ("2", "release", f"{NAME}==2.*"),
        ("2.0", "release", f"{NAME}==2.0.*"),
        ("v2.0", "release", f"{NAME}==2.0.*"),
        ("2.0.1", "release", f"{NAME}==2.0.1"),
        ("2.1.0b1", "release", f"{NAME}==2.1.0b1"),
        ("2.1.0rc2", "release", f"{NAME}==2.1.0rc2"),
        ("3.0.0.dev4", "release", f"{NAME}==3.0.0.dev4"),
        ("2.0.post1", "release", f"{NAME}==2.0.post1"),
        # git refs of the project's repository, as upstream
        ("main", "git", f"{NAME} @ git+{REPO}@main"),
        ("84ed38f", "git", f"{NAME} @ git+{REPO}@84ed38f"),
        ("release/2.x", "git", f"{NAME} @ git+{REPO}@release/2.x"),
        # URLs
        (
            "git+https://example.org/me/tljh.git@fix-1",
            "git",
            f"{NAME} @ git+https://example.org/me/tljh.git@fix-1",
        ),
        ("https://example.org/me/tljh.git", "git", f"{NAME} @ git+https://example.org/me/tljh.git"),
        (
            "https://example.org/dl/tljh-2.0.0.tar.gz",
            "url",
            f"{NAME} @ https://example.org/dl/tljh-2.0.0.tar.gz",
        ),
        ("file:///srv/tljh", "local", "/srv/tljh"),
    ],
)
def test_version_resolution(bootstrap: ModuleType, version: str, kind: str, spec: str) -> None:
    source = bootstrap.resolve_version(version)
    assert (source["kind"], source["spec"]) == (kind, spec)


def test_a_git_url_names_its_repository_and_ref(bootstrap: ModuleType) -> None:
    source = bootstrap.resolve_version("git+ssh://git@example.org/me/tljh.git@v2")
    assert (source["url"], source["ref"]) == ("ssh://git@example.org/me/tljh.git", "v2")
    source = bootstrap.resolve_version("main")
    assert (source["url"], source["ref"]) == (REPO, "main")


@pytest.mark.parametrize("version", ["2.0; rm -rf /", "a b", "../x", "-rf", "x.lock", "$(id)"])
def test_what_is_no_version_is_refused_with_the_forms_that_work(
    bootstrap: ModuleType, version: str
) -> None:
    with pytest.raises(bootstrap.VersionProblem) as e:
        bootstrap.resolve_version(version)
    assert "neither a release" in e.value.message
    assert "latest" in e.value.hint and "main" in e.value.hint


def test_version_wins_over_the_pip_spec_as_upstream(bootstrap: ModuleType) -> None:
    env = {"TLJH_BOOTSTRAP_PIP_SPEC": "/src"}
    assert bootstrap.tljh_source(env, "2.1.0")["spec"] == f"{NAME}==2.1.0"
    assert bootstrap.tljh_source(env, None) == {
        "kind": "local",
        "spec": "/src",
        "what": "TLJH from /src",
    }
    assert bootstrap.tljh_source({}, None)["spec"] == NAME


def test_a_package_index_without_tljh_is_named_with_what_to_do(bootstrap: ModuleType) -> None:
    source = bootstrap.resolve_version("2.0")
    message, hint = bootstrap.release_problem(source, "2.0", False, {})
    assert "(PyPI) has no package named the-littlest-jupyterhub" in message
    assert "--version main" in hint and "TLJH_BOOTSTRAP_PIP_SPEC" in hint
    mirror = {"UV_INDEX_URL": "https://mirror.example/simple"}
    message, _ = bootstrap.release_problem(source, "2.0", False, mirror)
    assert "(https://mirror.example/simple)" in message


def test_a_release_the_index_lacks_is_named(bootstrap: ModuleType) -> None:
    message, hint = bootstrap.release_problem(bootstrap.resolve_version("9.9"), "9.9", True, {})
    assert message == "there is no release matching --version 9.9 on the package index (PyPI)"
    assert "pypi.org/project/the-littlest-jupyterhub" in hint


def test_git_sources_that_cannot_be_used_say_why(bootstrap: ModuleType) -> None:
    main = bootstrap.resolve_version("main")
    assert bootstrap.git_problem(main, 0, "") is None
    message, hint = bootstrap.git_problem(
        main, 128, "fatal: unable to access '...': Could not resolve host: github.com\n"
    )
    assert message == (
        f"cannot reach {REPO} to install TLJH from main of {REPO} "
        "(fatal: unable to access '...': Could not resolve host: github.com)"
    )
    assert "--version latest" in hint and "TLJH_BOOTSTRAP_PIP_SPEC" in hint
    message, _ = bootstrap.git_problem(main, None, "")
    assert "no answer within a minute" in message
    message, hint = bootstrap.git_problem(bootstrap.resolve_version("no-such-branch"), 2, "")
    assert message == f"{REPO} has no branch or tag named no-such-branch"
    # ls-remote lists no commits: a commit is left to the fetch.
    assert bootstrap.git_problem(bootstrap.resolve_version("84ed38f"), 2, "") is None


def test_a_bad_version_stops_before_anything_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-", "--version", "2.0 && reboot"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: --version '2.0 && reboot' is neither a release")
    assert "[tljh-bootstrap]" not in proc.stdout


def test_package_env_maps_pip_settings_for_uv(bootstrap: ModuleType) -> None:
    env = bootstrap.package_env(
        {"PIP_CERT": "/ca.pem", "PIP_INDEX_URL": "https://mirror.example/simple"}
    )
    assert env["SSL_CERT_FILE"] == "/ca.pem"
    assert env["UV_INDEX_URL"] == "https://mirror.example/simple"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"


def test_os_release_parsing(bootstrap: ModuleType, tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    info = bootstrap.read_os_release(str(f))
    assert info["ID"] == "debian" and info["VERSION_ID"] == "12"


def test_host_check_refuses_non_root(bootstrap: ModuleType, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    with pytest.raises(bootstrap.HostProblem) as e:
        bootstrap.check_host(str(tmp_path), {})
    assert "root" in e.value.message and "sudo" in e.value.hint


def _refusal_as_root(
    bootstrap: ModuleType, monkeypatch, tmp_path, os_release: dict[str, str]
) -> Any:
    """The HostProblem check_host raises, run as root on a host with ``os_release``."""
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    monkeypatch.setattr(bootstrap, "read_os_release", lambda: os_release)
    with pytest.raises(bootstrap.HostProblem) as e:
        bootstrap.check_host(str(tmp_path), {})
    return e.value


def test_host_check_refuses_old_os(bootstrap: ModuleType, monkeypatch, tmp_path) -> None:
    ubuntu_20 = {"ID": "ubuntu", "VERSION_ID": "20.04", "PRETTY_NAME": "Ubuntu 20.04"}
    problem = _refusal_as_root(bootstrap, monkeypatch, tmp_path, ubuntu_20)
    assert problem.message == "Ubuntu 20.04 is not supported"


def test_host_check_refuses_os_whose_python_is_too_old(
    bootstrap: ModuleType, monkeypatch, tmp_path
) -> None:
    """Debian 11's python3 is 3.9: refused by name, with the releases that work."""
    debian_11 = {"ID": "debian", "VERSION_ID": "11", "PRETTY_NAME": "Debian GNU/Linux 11"}
    problem = _refusal_as_root(bootstrap, monkeypatch, tmp_path, debian_11)
    assert problem.message == "Debian GNU/Linux 11 is not supported"
    assert "Debian 12 or newer" in problem.hint and "Ubuntu 22.04 or newer" in problem.hint


def test_host_check_refuses_without_systemd(bootstrap: ModuleType, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bootstrap, "_pid1_name", lambda: "bash")
    debian_12 = {"ID": "debian", "VERSION_ID": "12"}
    assert "systemd" in _refusal_as_root(bootstrap, monkeypatch, tmp_path, debian_12).message


def test_non_root_run_exits_1_with_reason() -> None:
    """As a user would see it: one line of reason, one of hint, exit 1, no traceback."""
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: this installer must run as root")
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr


def test_the_pinned_version_is_read_from_uvs_output(bootstrap: ModuleType) -> None:
    assert bootstrap.pinned_version("the-littlest-jupyterhub==2.0.3\n") == "2.0.3"
    assert (
        bootstrap.pinned_version("The_Littlest.JupyterHub==2.1.0b1 ; python_version >= '3.10'\n")
        == "2.1.0b1"
    )
    assert bootstrap.pinned_version("jupyterhub==6.1.1\n") is None
    assert bootstrap.pinned_version("") is None


FAKE_UV = """#!/bin/sh
# A package index that has pip and, if INDEX_HAS_TLJH is set, TLJH 2.0.0 and 2.0.3.
[ -n "$INDEX_DOWN" ] && exit 2
if [ "$1 $2" = "pip compile" ]; then
    read spec
    case "$spec" in
        pip) echo "pip==25.0" ;;
        "the-littlest-jupyterhub"|"the-littlest-jupyterhub==2.*"|"the-littlest-jupyterhub==2.0.*")
            [ -n "$INDEX_HAS_TLJH" ] && echo "the-littlest-jupyterhub==2.0.3" || exit 1 ;;
        *) exit 1 ;;
    esac
    exit 0
fi
echo "$@" >> "$UV_CALLS"
exit 1
"""


@pytest.fixture
def fake_uv(tmp_path: Path) -> tuple[str, dict[str, str]]:
    uv = tmp_path / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
    return str(uv), {"PATH": os.environ["PATH"], "UV_CALLS": str(tmp_path / "calls")}


def test_a_release_is_looked_up_on_the_index_not_among_installed_copies(
    bootstrap: ModuleType, fake_uv: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    uv, env = fake_uv
    hub = tmp_path / "hub"
    source = bootstrap.resolve_version("2.0")
    has_tljh = {**env, "INDEX_HAS_TLJH": "1"}
    assert bootstrap.release_to_install(uv, str(hub), source, "2.0", has_tljh) == "2.0.3"
    # Installed already: nothing is installed (the fake uv fails every install).
    info = hub / "lib" / "python3.11" / "site-packages" / "the_littlest_jupyterhub-2.0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Name: the-littlest-jupyterhub\nVersion: 2.0.3\n\n")
    bootstrap.install_tljh(str(hub), uv, source, False, has_tljh, "2.0")
    assert not Path(env["UV_CALLS"]).exists()


def test_a_release_that_cannot_be_found_says_why(
    bootstrap: ModuleType,
    fake_uv: tuple[str, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uv, env = fake_uv
    cases = [
        ("latest", env, "the package index this server uses (PyPI) has no package named"),
        ("9.9", {**env, "INDEX_HAS_TLJH": "1"}, "there is no release matching --version 9.9"),
        ("2.0", {**env, "INDEX_DOWN": "1"}, "cannot reach the package index (PyPI)"),
    ]
    for version, case_env, expected in cases:
        with pytest.raises(SystemExit):
            bootstrap.release_to_install(
                uv, str(tmp_path), bootstrap.resolve_version(version), version, case_env
            )
        assert expected in capsys.readouterr().err, version


def test_a_release_that_cannot_be_found_keeps_the_installed_checkouts_record(
    bootstrap: ModuleType, fake_uv: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """A failed --version changes nothing: the next run from the same checkout is a no-op."""
    uv, env = fake_uv
    hub = tmp_path / "hub"
    info = hub / "lib" / "python3.11" / "site-packages" / "the_littlest_jupyterhub-2.0.0.dist-info"
    info.mkdir(parents=True)
    stamp = hub / bootstrap.SOURCE_STAMP
    stamp.write_text('{"spec": "/srv/src"}')
    with pytest.raises(SystemExit):
        bootstrap.install_tljh(str(hub), uv, bootstrap.resolve_version("2.0"), False, env, "2.0")
    assert stamp.read_text() == '{"spec": "/srv/src"}'
    assert not Path(env["UV_CALLS"]).exists()
