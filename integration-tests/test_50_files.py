"""Who may open the files under /opt/tljh: config, history, snapshots and locks are root's.

A student with a shell (a terminal in JupyterLab) tries what an attacker would:
hold a lock on every file of config/ and state/ it can open (a read-only
descriptor is enough for ``flock``, and earlier releases kept a world-readable
lock file in config/), and read config.yaml, its history and the known-good
snapshot.  Every way tljh-config writes runs under ``umask 000``, so the modes
checked here come from TLJH itself, not from a kind umask.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

PREFIX = Path("/opt/tljh")
CONFIG_DIR = PREFIX / "config"
CONFIG = CONFIG_DIR / "config.yaml"
CONFIG_D = CONFIG_DIR / "jupyterhub_config.d"
HISTORY = CONFIG_DIR / "history"
STATE = PREFIX / "state"
LOCK = STATE / "config.lock"
LEGACY_LOCK = CONFIG_DIR / ".config.yaml.lock"
KNOWN_GOOD = STATE / "config-known-good"
TLJH_CONFIG = "/usr/bin/tljh-config"
STUDENT = "tljh-test-student"

# Run as the student by the system's python3 (the hub environment is root's).
# Opens and locks (shared, non-blocking) every file and directory of config/
# and state/ it can reach, plus the paths given, prints what it holds, and
# keeps holding until its standard input closes.
HOLD_EVERYTHING = """\
import fcntl, json, os, sys
held = []
def grab(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    held.append(path)
paths = list(sys.argv[1:])
for top in ("/opt/tljh/config", "/opt/tljh/state"):
    for root, dirs, files in os.walk(top):
        paths += [root] + [os.path.join(root, f) for f in files]
for path in dict.fromkeys(paths):
    grab(path)
print(json.dumps(held), flush=True)
sys.stdin.read()
"""

# Run as the student: try to read each path given (a directory is listed);
# prints {path: "ok" or the error}.
READ_EACH = """\
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        out[path] = "ok"
    except OSError as e:
        out[path] = e.strerror
print(json.dumps(out))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _student_argv(code: str, *args: str) -> list[str]:
    return ["runuser", "-u", STUDENT, "--", "/usr/bin/python3", "-c", code, *args]


def as_student(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the system's python3 as the student."""
    return subprocess.run(
        _student_argv(code, *args), capture_output=True, text=True, cwd="/", timeout=60
    )


def tljh_open_umask(*args: str) -> subprocess.CompletedProcess[str]:
    """tljh-config under umask 000: any mode it leaves is its own doing."""
    return subprocess.run(
        ["bash", "-c", 'umask 000; exec "$0" "$@"', TLJH_CONFIG, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def student() -> Iterator[str]:
    """A system account like a student's: in jupyterhub-users, no privileges."""
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", STUDENT],
        check=True,
    )
    subprocess.run(["usermod", "-a", "-G", "jupyterhub-users", STUDENT], check=True)
    yield STUDENT
    subprocess.run(["userdel", STUDENT], check=False)


class Holder:
    """A student process holding every lock it could take, until stopped."""

    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen(
            _student_argv(HOLD_EVERYTHING, *extra),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise AssertionError("the student's process ended without saying what it holds")
        self.held: list[str] = json.loads(line)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def timed_set(key: str, value: str) -> float:
    started = time.monotonic()
    proc = tljh_open_umask("--lock-timeout", "5", "set", key, value)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return took


def test_a_student_cannot_hold_the_config_lock(
    student: str, timings: Callable[[str, float], None]
) -> None:
    holder = Holder(str(LOCK), str(LEGACY_LOCK))
    try:
        # What a held lock would do: every change waits, then fails as "in use".
        took = timed_set("limits.cpu", "1")
        took += timed_set("limits.cpu", "2")
    finally:
        holder.stop()
    assert tljh_open_umask("unset", "limits.cpu").returncode == 0
    timings("config_set_with_student_trying_to_lock_seconds", round(took / 2, 2))
    assert took < 4, f"two 'tljh-config set' took {took:.1f} s"
    assert holder.held == [], f"a student holds locks on {holder.held}"
    st = LOCK.stat()
    assert (st.st_uid, st.st_gid, mode(LOCK)) == (0, 0, 0o600)


def test_a_lock_held_on_the_old_lock_file_blocks_nothing(student: str) -> None:
    # As an earlier release left things: config/ open to all and a 0644 lock
    # file in it, which a student opened before the upgrade and keeps holding.
    config_dir_mode = mode(CONFIG_DIR)
    os.chmod(CONFIG_DIR, 0o755)
    try:
        LEGACY_LOCK.touch()
        os.chmod(LEGACY_LOCK, 0o644)
        holder = Holder(str(LEGACY_LOCK))
    finally:
        os.chmod(CONFIG_DIR, config_dir_mode)
    try:
        assert str(LEGACY_LOCK) in holder.held, holder.held
        assert timed_set("limits.cpu", "1") < 2
    finally:
        holder.stop()
        LEGACY_LOCK.unlink(missing_ok=True)
    assert tljh_open_umask("unset", "limits.cpu").returncode == 0


def test_set_on_a_fresh_prefix_leaves_nothing_open(tmp_path: Path) -> None:
    # 'tljh-config set' before the installer ever ran: it creates what it needs.
    prefix = tmp_path / "fresh"
    proc = subprocess.run(
        ["bash", "-c", 'umask 000; exec "$0" "$@"', TLJH_CONFIG, "set", "limits.cpu", "1"],
        capture_output=True,
        text=True,
        env={**os.environ, "TLJH_INSTALL_PREFIX": str(prefix)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = {str(p.relative_to(prefix)): mode(p) for p in _tree(prefix)}
    assert found == {
        ".": 0o700,
        "config": 0o700,
        "config/config.yaml": 0o600,
        "state": 0o700,
        "state/config.lock": 0o600,
    }


def test_every_write_path_leaves_config_and_history_root_only(tmp_path: Path) -> None:
    before = CONFIG.read_bytes()
    # As an earlier release (or an admin's chmod) may have left them.
    os.chmod(CONFIG, 0o644)
    os.chmod(HISTORY, 0o755)
    editor = tmp_path / "editor"
    editor.write_text("#!/bin/sh\necho '# checked by test_50_files' >> \"$1\"\n")
    editor.chmod(0o755)
    steps: list[tuple[str, ...]] = [
        ("set", "limits.cpu", "1"),
        ("add-item", "users.banned", "tljh-test-nobody"),
        ("remove-item", "users.banned", "tljh-test-nobody"),
        ("unset", "limits.cpu"),
        ("edit", "--no-apply"),
        ("rollback", "--no-apply"),
    ]
    for args in steps:
        env_editor = {"EDITOR": str(editor), "VISUAL": ""} if args[0] == "edit" else {}
        proc = subprocess.run(
            ["bash", "-c", 'umask 000; exec "$0" "$@"', TLJH_CONFIG, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **env_editor},
            timeout=600,
        )
        assert proc.returncode == 0, f"{args}: {proc.stdout}{proc.stderr}"
        assert mode(CONFIG) == 0o600, args
        assert mode(HISTORY) == 0o700, args
    assert b"checked by test_50_files" not in CONFIG.read_bytes()  # rolled back
    entries = sorted(p for p in HISTORY.iterdir() if p.is_file())
    assert any(p.name.endswith(".note") for p in entries)  # the rollback's note
    for path in entries:
        assert mode(path) == 0o600, path
    # Back to exactly the file the hub runs with, so later tests see no pending change.
    if CONFIG.read_bytes() != before:
        versions = sorted(HISTORY.glob("config-*.yaml"))  # oldest first, as tljh-config lists
        newest_first = [p.read_bytes() for p in reversed(versions)]
        number = newest_first.index(before) + 1
        proc = tljh_open_umask("rollback", str(number), "--no-apply")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert CONFIG.read_bytes() == before
    assert mode(CONFIG) == 0o600


def test_a_rolled_back_snippet_is_put_back_root_only(hub_url: str) -> None:
    snippet = CONFIG_D / "50-tljh-test-files.py"
    good = "# tljh-test: a harmless snippet\n"
    snippet.write_text(good)
    os.chmod(snippet, 0o644)  # as 'sudo nano' makes it
    try:
        proc = tljh_open_umask("reload")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (KNOWN_GOOD / "jupyterhub_config.d" / snippet.name).read_text() == good
        snippet.write_text('raise RuntimeError("tljh-test: broken on purpose")\n')
        proc = tljh_open_umask("reload")
        assert proc.returncode != 0, proc.stdout
        assert "tljh-test: broken on purpose" in proc.stderr
        assert snippet.read_text() == good
        assert mode(snippet) == 0o600
        assert mode(CONFIG_D) == 0o700
        (rejected,) = HISTORY.glob(f"rejected-*/jupyterhub_config.d/{snippet.name}")
        assert mode(rejected) == 0o600
        assert mode(rejected.parent) == 0o700
        assert mode(rejected.parent.parent) == 0o700
        assert requests.get(f"{hub_url}/hub/api", timeout=10).status_code == 200
    finally:
        snippet.unlink(missing_ok=True)
        for path in HISTORY.glob(f"rejected-*/jupyterhub_config.d/{snippet.name}"):
            path.unlink()
        proc = tljh_open_umask("reload")
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _tree(top: Path) -> list[Path]:
    return [top, *sorted(top.rglob("*"))]


def test_config_and_state_are_root_only() -> None:
    found = []
    # config/: root's, directories 0700.  Files TLJH writes are 0600; the
    # admin's own snippets keep the mode their editor gave them, behind 0700.
    for path in _tree(CONFIG_DIR):
        st = path.lstat()
        found.append(f"{stat.filemode(st.st_mode)} {st.st_uid}:{st.st_gid} {path}")
        assert st.st_uid == 0, path
        if stat.S_ISDIR(st.st_mode):
            assert mode(path) == 0o700, path
    for path in [CONFIG, *(p for p in _tree(HISTORY) if p.is_file())]:
        assert mode(path) == 0o600, path
    # state/: others get nothing anywhere; what holds config or secrets is root's alone.
    for path in _tree(STATE):
        st = path.lstat()
        found.append(f"{stat.filemode(st.st_mode)} {st.st_uid}:{st.st_gid} {path}")
        assert st.st_mode & 0o007 == 0, path
    assert mode(STATE) == 0o700
    secrets = [LOCK, STATE / "traefik-api.secret", STATE / "jupyterhub_cookie_secret"]
    secrets += [p for p in _tree(KNOWN_GOOD) if p.is_file()]
    for path in secrets:
        assert path.is_file(), path
        assert (path.stat().st_uid, mode(path)) == (0, 0o600), path
    for path in (p for p in _tree(KNOWN_GOOD) if p.is_dir()):
        assert mode(path) == 0o700, path
    print("\n".join(found))


def test_a_student_cannot_read_config_history_or_snapshots(student: str) -> None:
    history = sorted(HISTORY.glob("config-*.yaml"))
    assert history, "the tests above left versions in the history"
    paths = [
        CONFIG,
        CONFIG_DIR,
        HISTORY,
        history[-1],
        CONFIG_D,
        KNOWN_GOOD / "config.yaml",
        LOCK,
    ]
    proc = as_student(READ_EACH, *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results == {str(p): "Permission denied" for p in paths}
