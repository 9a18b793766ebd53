"""The conda user environment's download, verification and install logic.

Miniforge and conda-forge cannot be reached from the machines these tests run
on, so a real Miniforge install is NOT exercised here: the tests serve a
stand-in installer (a small shell script that lays out what Miniforge would:
``bin/python3``, ``bin/conda``, ``conda-meta/history``) from a local HTTP
server, and check download, retries, checksum verification, refusal to run
an unverified file, the install into the prefix and what happens on re-runs.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tljh import conda as published
from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system import network
from tljh.system import userenv_conda as conda
from tljh.system.userenv import detect_kind, user_environment

# Lays out a conda-like prefix; bin/python3 is a real interpreter (a venv),
# so that pip packages can be installed into it afterwards.  bin/conda
# records its arguments, as a stand-in for the real conda.
STAND_IN = f"""#!/bin/bash
set -e
[ "$1" = "-b" ] && [ "$2" = "-p" ] || {{ echo "unexpected arguments: $*"; exit 2; }}
prefix="$3"
[ -e "$prefix" ] && {{ echo "ERROR: $prefix already exists"; exit 1; }}
{sys.executable} -m venv --without-pip "$prefix"
mkdir -p "$prefix/conda-meta"
echo "==> cmd: constructor" > "$prefix/conda-meta/history"
touch "$prefix/conda-meta/python-3.12.0-h1234_0.json"
cat > "$prefix/bin/conda" <<'EOS'
#!/bin/bash
echo "$@" >> "$(dirname "$0")/../conda-calls"
EOS
chmod 0777 "$prefix/bin/conda"
"""


class Server:
    """A local HTTP server whose answers the test scripts: status codes, then the file."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.failures: list[int] = []  # status codes to answer first, in order
        self.truncate = 0  # answers that announce the full length but stop half-way
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.failures:
                    self.send_error(server.failures.pop(0))
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if server.truncate:
                    server.truncate -= 1
                    self.wfile.write(server.body[: len(server.body) // 2])
                    return
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Miniforge3-Linux.sh"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "RETRY_DELAY", 0.01)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(STAND_IN.encode())
    yield s
    s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pinned_installers_are_well_formed() -> None:
    assert set(conda.MINIFORGE_SHA256) == {"x86_64", "aarch64"}
    for arch, digest in conda.MINIFORGE_SHA256.items():
        assert len(digest) == 64 and int(digest, 16) >= 0, arch
        url = conda.miniforge_url(arch)
        assert url.startswith("https://github.com/conda-forge/miniforge/releases/download/")
        assert url.endswith(f"/Miniforge3-{conda.MINIFORGE_VERSION}-Linux-{arch}.sh")


def test_download_verifies(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "installer.sh"
    conda.download_installer(server.url, dest, sha(server.body))
    assert dest.read_bytes() == server.body


def test_download_retries_transient_errors(server: Server, tmp_path: Path) -> None:
    server.failures = [503, 502]
    dest = tmp_path / "installer.sh"
    conda.download_installer(server.url, dest, sha(server.body), retries=3)
    assert server.requests == 3
    assert dest.read_bytes() == server.body


def test_download_retries_a_cut_transfer(server: Server, tmp_path: Path) -> None:
    server.truncate = 1
    dest = tmp_path / "installer.sh"
    conda.download_installer(server.url, dest, sha(server.body), retries=2)
    assert server.requests == 2
    assert dest.read_bytes() == server.body


def test_download_gives_up_after_bounded_retries(server: Server, tmp_path: Path) -> None:
    server.failures = [503] * 10
    dest = tmp_path / "installer.sh"
    with pytest.raises(InstallError) as e:
        conda.download_installer(server.url, dest, sha(server.body), retries=3)
    assert server.requests == 3
    assert server.url in e.value.message
    assert "--user-env venv" in e.value.hint
    assert not dest.exists()


def test_download_does_not_retry_not_found(server: Server, tmp_path: Path) -> None:
    server.failures = [404]
    with pytest.raises(InstallError) as e:
        conda.download_installer(server.url, tmp_path / "x", sha(server.body), retries=3)
    assert server.requests == 1
    assert "404" in e.value.message


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_download_unreachable_host(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/Miniforge3.sh"
    with pytest.raises(InstallError) as e:
        conda.download_installer(url, tmp_path / "x", "0" * 64, retries=2, timeout=5)
    assert url in e.value.message and "2 attempt" in e.value.message
    assert "--user-env venv" in e.value.hint and "--conda-installer-url" in e.value.hint


def test_checksum_mismatch_removes_the_file(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "installer.sh"
    with pytest.raises(InstallError) as e:
        conda.download_installer(server.url, dest, sha(b"something else"))
    assert "expected" in e.value.message and sha(server.body) in e.value.message
    assert "--conda-installer-sha256" in e.value.hint
    assert not dest.exists()


def test_checksum_must_look_like_one(server: Server, tmp_path: Path) -> None:
    with pytest.raises(InstallError):
        conda.download_installer(server.url, tmp_path / "x", "abc")
    assert server.requests == 0


def test_local_path_as_url(tmp_path: Path) -> None:
    source = tmp_path / "Miniforge3.sh"
    source.write_bytes(b"#!/bin/sh\n")
    dest = tmp_path / "copy.sh"
    conda.download_installer(str(source), dest, sha(b"#!/bin/sh\n"))
    conda.download_installer(f"file://{source}", dest, sha(b"#!/bin/sh\n"))
    with pytest.raises(InstallError) as e:
        conda.download_installer(str(tmp_path / "missing.sh"), dest, "0" * 64)
    assert "missing.sh" in e.value.message


# ------------------------------------------------------------------ the backend

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="fix_permissions chowns to root")


def env_for(
    tmp_path: Path, server: Server, sha256: str | None = None
) -> conda.CondaUserEnvironment:
    layout = Layout(prefix=tmp_path / "tljh")
    layout.prefix.mkdir(exist_ok=True)
    return conda.CondaUserEnvironment(
        layout, installer_url=server.url, installer_sha256=sha256 or sha(server.body)
    )


@needs_root
def test_ensure_installs_the_verified_installer(server: Server, tmp_path: Path) -> None:
    env = env_for(tmp_path, server)
    changes = env.ensure([])
    assert changes == [f"installed Miniforge into {env.path} from {server.url}"]
    assert conda.is_conda_env(env.path)
    assert env.python.exists()
    assert not env.marker.exists()
    # Root-owned, nothing writable by others (the stand-in made bin/conda 0777).
    assert (os.stat(env.path / "bin" / "conda").st_mode & 0o777) == 0o755
    # Re-run: nothing downloaded, nothing changed.
    before = server.requests
    assert env.ensure([]) == []
    assert server.requests == before
    assert detect_kind(env.layout) == "conda"


@needs_root
def test_unverified_installer_never_runs(server: Server, tmp_path: Path) -> None:
    env = env_for(tmp_path, server, sha256=sha(b"another file"))
    with pytest.raises(InstallError):
        env.ensure([])
    assert not env.path.exists()


@needs_root
def test_interrupted_install_is_started_over(server: Server, tmp_path: Path) -> None:
    env = env_for(tmp_path, server)
    # What a kill half-way leaves: the marker and a partial prefix.
    env.marker.touch()
    (env.path / "pkgs").mkdir(parents=True)
    (env.path / "pkgs" / "half.tar.bz2").write_bytes(b"x")
    env.ensure([])
    assert not (env.path / "pkgs" / "half.tar.bz2").exists()
    assert conda.is_conda_env(env.path)


def test_foreign_directory_is_not_clobbered(server: Server, tmp_path: Path) -> None:
    env = env_for(tmp_path, server)
    env.path.mkdir(parents=True)
    (env.path / "data.csv").write_text("precious")
    with pytest.raises(InstallError) as e:
        env.ensure([])
    assert "left as it is" in e.value.message
    assert (env.path / "data.csv").read_text() == "precious"
    assert server.requests == 0


def test_venv_is_not_clobbered(server: Server, tmp_path: Path) -> None:
    env = env_for(tmp_path, server)
    env.path.mkdir(parents=True)
    (env.path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(InstallError) as e:
        env.ensure([])
    assert "--user-env venv" in e.value.hint
    assert server.requests == 0


@needs_root
def test_upstream_conda_env_is_adopted_as_is(server: Server, tmp_path: Path) -> None:
    """A /opt/tljh/user made by an earlier TLJH (Miniforge/Mambaforge) is kept."""
    env = env_for(tmp_path, server)
    bin_dir = env.path / "bin"
    bin_dir.mkdir(parents=True)
    os.symlink(sys.executable, bin_dir / "python3")
    (env.path / "conda-meta").mkdir()
    (env.path / "conda-meta" / "history").write_text("==> 2021-01-01 <==\n")
    (env.path / "lib").mkdir()
    (env.path / "lib" / "admins-package.py").write_text("x = 1\n")
    assert detect_kind(env.layout) == "conda"
    assert env.ensure([]) == []
    assert (env.path / "lib" / "admins-package.py").exists()
    assert server.requests == 0


@needs_root
def test_conda_install_only_what_is_missing(server: Server, tmp_path: Path) -> None:
    env = env_for(tmp_path, server)
    env.ensure([])
    calls = env.path / "conda-calls"
    assert env.conda_install(["python>=3.10"], ["bioconda"]) is False
    assert not calls.exists()
    assert env.conda_install(["numpy=1.26", "python"], ["bioconda", "conda-forge"]) is True
    args = calls.read_text().split()
    assert args[:4] == ["install", "--yes", "--prefix", str(env.path)]
    assert args[4:8] == ["--channel", "bioconda", "--channel", "conda-forge"]
    assert args[8:] == ["numpy=1.26"]


def test_conda_package_names() -> None:
    assert conda.conda_package_name("numpy") == "numpy"
    assert conda.conda_package_name("NumPy>=1.26") == "numpy"
    assert conda.conda_package_name("conda-forge::r-base=4.3") == "r-base"
    assert conda.conda_package_name("scikit-learn 1.4.*") == "scikit-learn"


def test_installed_conda_packages(tmp_path: Path) -> None:
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    for name in ("python-3.12.1-hab00c5b_0_cpython", "r-base-4.3.2-h1234_1", "history"):
        (meta / f"{name}.json").write_text("{}")
    assert conda.installed_conda_packages(tmp_path) == {"python", "r-base"}


def test_user_environment_kind(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    assert user_environment(layout, None).name == "conda"
    assert user_environment(layout, "venv").name == "venv"
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "pyvenv.cfg").write_text("")
    assert user_environment(layout, None).name == "venv"


@needs_root
def test_published_fix_permissions(tmp_path: Path) -> None:
    target = tmp_path / "env"
    (target / "lib").mkdir(parents=True)
    (target / "lib" / "mod.py").write_text("")
    os.chmod(target / "lib" / "mod.py", 0o666)
    published.fix_permissions(str(target))
    assert (os.stat(target / "lib" / "mod.py").st_mode & 0o777) == 0o644


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_stand_in_is_a_real_shell_script(tmp_path: Path) -> None:
    """The stand-in refuses an existing prefix, as Miniforge's installer does."""
    script = tmp_path / "i.sh"
    script.write_text(STAND_IN)
    (tmp_path / "p").mkdir()
    proc = subprocess.run(["bash", str(script), "-b", "-p", str(tmp_path / "p")])
    assert proc.returncode == 1
