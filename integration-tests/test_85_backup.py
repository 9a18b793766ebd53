"""Backup, uninstall, reinstall, restore: a student's password and notebook survive.

The "fresh server" is this container after ``tljh uninstall --remove-accounts
--remove-homes``: no units, no sudo rule, no /opt/tljh, no jupyter-* account
and no home left, so the reinstall that follows is a fresh install (the
bootstrap, as a user runs it) and only the archive can bring the student
back.  A second container would prove the same at twice the time: nothing of
the first install is left here to help the restore.

The test ends on a healthy, restored install for the tests after it.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import re
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from bootstrapping import assert_ok, run_bootstrap
from conftest import run, tljh_config
from hubclient import HubClient, HubError
from machine import system_name

TLJH = "/usr/bin/tljh"
PREFIX = Path("/opt/tljh")
STUDENT = "backup-student"
PASSWORD = "backup-password-1"
ARCHIVE = Path("/root/tljh-backup.tar.gz")
NEWER = Path("/root/tljh-backup-newer.tar.gz")
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "print('kept across a reinstall')",
        }
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
SYSTEM_FILES = [
    Path("/etc/systemd/system/jupyterhub.service"),
    Path("/etc/systemd/system/traefik.service"),
    Path("/etc/sudoers.d/jupyterhub-admins"),
    Path("/usr/bin/tljh-config"),
    Path("/usr/bin/tljh"),
]


def tljh(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run([TLJH, *args], check=False, timeout=timeout)


def login(hub_url: str, password: str = PASSWORD) -> HubClient:
    client = HubClient(hub_url)
    client.login(STUDENT, password)
    return client


def contents_url(client: HubClient) -> str:
    return f"{client.server_url}api/contents/kept.ipynb"


def newer_copy(source: Path, target: Path) -> None:
    """The archive as a later release would have written it: its manifest says 99.0.0."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for m in old.getmembers():
            data = old.extractfile(m).read() if m.isreg() else None  # type: ignore[union-attr]
            if m.name == "manifest.json":
                manifest = json.loads(data or b"{}")
                manifest["tljh_version"] = "99.0.0"
                data = json.dumps(manifest).encode()
                m.size = len(data)
            new.addfile(m, io.BytesIO(data) if data is not None else None)
    os.chmod(target, 0o600)


@pytest.fixture(scope="module")
def account() -> str:
    return system_name(STUDENT)


def test_backup_uninstall_reinstall_restore(hub_url: str, account: str, timings) -> None:
    # A student of a FirstUse hub sets a password at the first login and saves a notebook.
    tljh_config("set", "auth.type", "firstuseauthenticator.FirstUseAuthenticator")
    tljh_config("set", "auth.FirstUseAuthenticator.create_users", "true")
    tljh_config("reload")
    student = login(hub_url)
    student.start_server()
    r = student.request(
        "PUT",
        contents_url(student),
        json={"type": "notebook", "format": "json", "content": NOTEBOOK},
    )
    assert r.status_code in (200, 201), r.text
    student.stop_server()
    uid = pwd.getpwnam(account).pw_uid

    started = time.monotonic()
    ARCHIVE.unlink(missing_ok=True)
    proc = tljh("backup", str(ARCHIVE), "--homes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "holds the hub's secrets" in proc.stdout
    timings("backup_seconds", round(time.monotonic() - started, 2))
    st = ARCHIVE.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    again = tljh("backup", str(ARCHIVE))
    assert again.returncode == 1 and "never overwrites" in again.stderr
    newer_copy(ARCHIVE, NEWER)

    started = time.monotonic()
    proc = tljh("uninstall", "--remove-accounts", "--remove-homes", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    timings("uninstall_seconds", round(time.monotonic() - started, 2))
    for line in proc.stdout.splitlines():
        slow = re.search(r"^done: (.*) \(.*took ([0-9.]+) s\)$", line)
        if slow:  # which part of an uninstall takes its time
            timings(f"uninstall: {slow.group(1)}", float(slow.group(2)))
    assert [p for p in SYSTEM_FILES if p.exists() or p.is_symlink()] == []
    for unit in ("jupyterhub", "traefik"):
        assert run(["systemctl", "is-active", unit], check=False).stdout.strip() != "active"
        loaded = run(["systemctl", "show", "-p", "LoadState", "--value", unit]).stdout.strip()
        assert loaded == "not-found", unit
    assert run("systemctl list-units --all --plain --no-legend 'jupyter-*'").stdout.strip() == ""
    assert [p.name for p in PREFIX.glob("*") if p.name in ("hub", "user", "config", "state")] == []
    assert [e.pw_name for e in pwd.getpwall() if e.pw_name.startswith("jupyter-")] == []
    assert not Path("/home", account).exists()
    assert run("getent group jupyterhub-admins", check=False).returncode != 0

    # Installing again works, and is a fresh install: the student is unknown.
    proc, took = run_bootstrap()
    assert_ok(proc)
    timings("reinstall_seconds", round(took, 2))
    with pytest.raises(HubError):
        login(hub_url)

    # A backup from a newer release is refused, and nothing changes.
    refused = tljh("restore", str(NEWER))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "made by TLJH 99.0.0" in refused.stderr and "--version 99.0.0" in refused.stderr
    assert run(["systemctl", "is-active", "jupyterhub"], check=False).stdout.strip() == "active"

    started = time.monotonic()
    proc = tljh("restore", str(ARCHIVE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    timings("restore_seconds", round(time.monotonic() - started, 2))
    assert f"{account}: created with uid {uid}, as in the backup" in proc.stdout, proc.stdout
    assert pwd.getpwnam(account).pw_uid == uid

    # The same student logs in with the same password and opens the notebook.
    with pytest.raises(HubError):
        login(hub_url, "somebody-guessing")
    student = login(hub_url)
    student.start_server()
    r = student.get(contents_url(student))
    assert r.status_code == 200, r.text
    assert r.json()["content"]["cells"][0]["source"] == NOTEBOOK["cells"][0]["source"]
    home = Path("/home", account)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "kept.ipynb").stat().st_uid == uid
    student.stop_server()
