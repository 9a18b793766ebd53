"""The user environment: admins install for everyone, students for themselves,
requirements files at install time."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from bootstrapping import assert_ok, run_bootstrap
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient

USER_PYTHON = "/opt/tljh/user/bin/python3"

RUN = (
    "import subprocess, sys\n"
    "p = subprocess.run({argv!r}, capture_output=True, text=True)\n"
    "print(p.returncode); print(p.stdout[-2000:]); print(p.stderr[-2000:])"
)


def run_in_kernel(client: HubClient, argv: list[str]) -> tuple[int, str]:
    out = client.execute(RUN.format(argv=argv), timeout=300)
    code, _, rest = out.partition("\n")
    return int(code), rest


def importable(client: HubClient, module: str) -> str:
    """Where module would be imported from in the kernel, or 'None'."""
    code = f"import importlib.util; s = importlib.util.find_spec({module!r}); s and s.origin"
    return client.execute(code)


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> None:
    use_dummy_auth()


@pytest.fixture(scope="module")
def admin(hub_url: str, admin_name: str) -> Iterator[HubClient]:
    client = HubClient(hub_url)
    client.login(admin_name, PASSWORD)
    client.start_server()
    yield client
    client.stop_server()


@pytest.fixture(scope="module")
def pupil(hub_url: str) -> Iterator[HubClient]:
    client = HubClient(hub_url)
    client.login("pupil", PASSWORD)
    client.start_server()
    yield client
    client.stop_server()


def restart(client: HubClient) -> None:
    """A new server, so a new kernel that reads sys.path afresh."""
    client.stop_server()
    client.start_server()


def test_admin_installs_for_everyone_with_sudo_pip(admin: HubClient, pupil: HubClient) -> None:
    assert importable(pupil, "cowsay") in ("None", "")
    # Exactly what the docs tell admins to type in a terminal.
    code, out = run_in_kernel(admin, ["sudo", "-E", "pip", "install", "cowsay"])
    assert code == 0, out
    restart(pupil)
    origin = importable(pupil, "cowsay")
    assert origin.startswith("'/opt/tljh/user/"), origin
    moo = "import cowsay; cowsay.get_output_string('cow', 'moo').count('moo')"
    assert pupil.execute(moo) == "1"


def test_student_cannot_change_the_user_env(admin: HubClient, pupil: HubClient) -> None:
    code, out = run_in_kernel(pupil, ["pip", "uninstall", "-y", "cowsay"])
    assert code != 0, out
    assert "ermission" in out, out
    code, out = run_in_kernel(pupil, ["sudo", "-E", "pip", "install", "pyjokes"])
    assert code != 0, out
    assert (
        pupil.execute(
            "import os, site; os.access(os.path.dirname(os.__file__), os.W_OK) or "
            "any(os.access(p, os.W_OK) for p in site.getsitepackages())"
        )
        == "False"
    )


def test_student_pip_install_user(pupil: HubClient) -> None:
    code, out = run_in_kernel(pupil, ["pip", "install", "--user", "pyjokes"])
    assert code == 0, out
    restart(pupil)
    origin = importable(pupil, "pyjokes")
    assert origin.startswith("'/home/jupyter-pupil/.local/"), origin
    assert not Path("/opt/tljh/user/bin/pyjokes").exists()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Quiet, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def user_env_has(module: str) -> bool:
    import subprocess

    proc = subprocess.run([USER_PYTHON, "-c", f"import {module}"], capture_output=True)
    return proc.returncode == 0


def test_requirements_txt_from_a_local_path(tmp_path: Path) -> None:
    assert not user_env_has("inflection")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# what the course needs\ninflection\n")
    proc, _ = run_bootstrap("--user-requirements-txt-url", str(reqs))
    assert_ok(proc)
    assert user_env_has("inflection")
    assert f"installed the packages listed in {reqs}" in proc.stdout


def test_requirements_txt_from_a_url(tmp_path: Path, served: str) -> None:
    assert not user_env_has("humanize")
    (tmp_path / "requirements.txt").write_text("humanize\n")
    proc, _ = run_bootstrap("--user-requirements-txt-url", f"{served}/requirements.txt")
    assert_ok(proc)
    assert user_env_has("humanize")


def test_requirements_txt_missing_is_a_clear_error(served: str) -> None:
    url = f"{served}/no-such-requirements.txt"
    proc, _ = run_bootstrap("--user-requirements-txt-url", url)
    assert proc.returncode != 0
    assert f"could not install the requirements file {url}" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout


def test_the_server_starts_without_the_slow_iri_checker(run) -> None:
    # rfc3987-syntax builds its parsers on import: ~0.9 s of every server start
    # (tljh.system.packages.USER_ENV_EXCLUDED). The server's imports must not need it.
    assert (
        "None"
        in run(
            [USER_PYTHON, "-c", "import importlib.util as u; print(u.find_spec('rfc3987_syntax'))"]
        ).stdout
    )
    out = run(
        [
            USER_PYTHON,
            "-c",
            "import sys, jupyter_server.serverapp, jupyterhub.singleuser; "
            "print('rfc3987_syntax' in sys.modules)",
        ]
    ).stdout
    assert out.strip() == "False"
