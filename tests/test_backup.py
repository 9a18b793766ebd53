"""``tljh backup`` and the archive checks of ``tljh restore``: the manifest, version
refusals, account records, and crafted archives that try to write where they must not."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import make_install

from tljh.errors import ArchiveRefused, BackupError
from tljh.install import backup
from tljh.install.backup_format import (
    Accounts,
    Manifest,
    check_compatible,
    member_for_home,
    member_problems,
    refuse_members,
    release,
    state_file_skipped,
)
from tljh.layout import Layout

# -- manifest and versions -----------------------------------------------------


def manifest(version: str = "2.0.0", fmt: int = 1) -> Manifest:
    return Manifest(
        version, "2026-12-01T08:55:00+00:00", "hub", "/opt/tljh", True, ("jupyter-a",), fmt
    )


def test_manifest_round_trips() -> None:
    m = manifest()
    assert Manifest.from_json(m.to_json()) == m


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": 1}',
        '{"format": "1", "tljh_version": "2"}',
        '{"format": 1, "tljh_version": "2", "accounts": "jupyter-a"}',
    ],
)
def test_a_manifest_that_is_not_ours_is_refused(text: str) -> None:
    with pytest.raises(ArchiveRefused, match="not a TLJH backup"):
        Manifest.from_json(text)


def test_release_numbers() -> None:
    assert release("2.0.0.dev0") == (2, 0, 0)
    assert release("2.1") == (2, 1, 0)
    assert release("v3.0.1rc1") == (3, 0, 1)
    assert release("nonsense") == (0, 0, 0)


def test_same_and_older_releases_are_accepted() -> None:
    check_compatible(manifest("2.0.0"), "2.0.0.dev0")
    check_compatible(manifest("1.9.3"), "2.0.0")


@pytest.mark.parametrize("m", [manifest("2.1.0"), manifest("99.0"), manifest("2.0.0", fmt=2)])
def test_a_newer_release_or_format_is_refused_with_the_version_to_install(m: Manifest) -> None:
    with pytest.raises(ArchiveRefused) as e:
        check_compatible(m, "2.0.0")
    assert m.tljh_version in e.value.message and "2.0.0" in e.value.message
    assert f"--version {m.tljh_version}" in e.value.hint


# -- accounts ------------------------------------------------------------------


def test_accounts_round_trip() -> None:
    text = json.dumps(
        {
            "accounts": [
                {"name": "jupyter-ada", "uid": 1001, "gid": 1001, "groups": ["jupyterhub-users"]}
            ],
            "groups": [{"name": "jupyterhub-users", "gid": 1000}],
        }
    )
    accounts = Accounts.from_json(text)
    assert accounts.names() == {"jupyter-ada"}
    assert Accounts.from_json(accounts.to_json()) == accounts


@pytest.mark.parametrize(
    "account",
    [
        {"name": "root", "uid": 1001, "gid": 1001},  # not an account of ours
        {"name": "jupyter-ada", "uid": 0, "gid": 1001},  # root's uid
        {"name": "jupyter-ada", "uid": 1001, "gid": 27},  # the sudo group
        {"name": "jupyter-ada", "uid": True, "gid": 1001},
        {"name": "jupyter-ada", "uid": 1001, "gid": 1001, "groups": ["bad name!"]},
        {"name": "jupyter-../etc", "uid": 1001, "gid": 1001},
    ],
)
def test_accounts_only_as_tljh_makes_them(account: dict[str, object]) -> None:
    with pytest.raises(ArchiveRefused):
        Accounts.from_json(json.dumps({"accounts": [account]}))


# -- members -------------------------------------------------------------------


def member(
    name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    return info


GOOD = [
    member("manifest.json"),
    member("accounts.json"),
    member("config", tarfile.DIRTYPE, 0o700),
    member("config/config.yaml", mode=0o600),
    member("state", tarfile.DIRTYPE, 0o700),
    member("state/jupyterhub.sqlite", mode=0o600),
    member("homes", tarfile.DIRTYPE, 0o700),
    member("homes/jupyter-ada", tarfile.DIRTYPE, 0o700),
    member("homes/jupyter-ada/a.ipynb"),
    member("homes/jupyter-ada/b.ipynb", tarfile.LNKTYPE, link="homes/jupyter-ada/a.ipynb"),
    # A student's link to a shared folder: kept, nothing is written through it.
    member("homes/jupyter-ada/shared", tarfile.SYMTYPE, link="/srv/shared"),
    member("homes/jupyter-ada/tool", mode=0o4755),  # set-uid: taken off when written
]


def problems(extra: Iterable[tarfile.TarInfo], accounts: set[str] | None = None) -> list[str]:
    return member_problems([*GOOD, *extra], accounts)


def test_an_archive_as_backup_writes_it_passes() -> None:
    assert member_problems(GOOD, {"jupyter-ada"}) == []


@pytest.mark.parametrize(
    ("evil", "why"),
    [
        (member("/etc/cron.d/evil"), "not a plain relative path"),
        (member("config/../../etc/passwd"), "not a plain relative path"),
        (member("homes/jupyter-ada/../jupyter-bob/.bashrc"), "not a plain relative path"),
        (member("config//x"), "not a plain relative path"),
        (member("./config/x"), "not a plain relative path"),
        (member("etc/passwd"), "not part of a TLJH backup"),
        (member("config/config.yaml"), "appears twice"),
        (member("config/link", tarfile.SYMTYPE, link="/etc/shadow"), "a symlink"),
        (member("state/hard", tarfile.LNKTYPE, link="config/config.yaml"), "a hardlink"),
        (member("state/tty", tarfile.CHRTYPE), "a device file"),
        (member("homes/jupyter-ada/sda", tarfile.BLKTYPE), "a device file"),
        (member("homes/jupyter-ada/pipe", tarfile.FIFOTYPE), "a fifo"),
        (member("config/sudo-me", mode=0o4755), "set-uid"),
        (member("state/dir", tarfile.DIRTYPE, 0o2755), "set-uid"),
        (member("homes/root/.ssh/authorized_keys"), "not the name of an account"),
        (member("homes/jupyter-eve/x"), "not in accounts.json"),
        (member("homes/jupyter-ada/etc", tarfile.SYMTYPE, link="/etc"), None),
        (member("homes/jupyter-ada/shared/evil.py"), "below the symlink"),
        (member("homes/jupyter-ada/h", tarfile.LNKTYPE, link="/etc/shadow"), "outside the home"),
        (
            member("homes/jupyter-ada/h", tarfile.LNKTYPE, link="homes/jupyter-bob/x"),
            "outside the home",
        ),
        (
            member("homes/jupyter-ada/h", tarfile.LNKTYPE, link="homes/jupyter-ada/later"),
            "not a file before it",
        ),
        (
            member("homes/jupyter-ada/h", tarfile.LNKTYPE, link="homes/jupyter-ada/../../etc/x"),
            "outside the home",
        ),
        (member("manifest.json/x"), "not the file"),
        (member("homes/jupyter-ada/config"), None),
        (member("homes/jupyter-bob"), "not the directory of a home"),
    ],
)
def test_crafted_members_are_refused(evil: tarfile.TarInfo, why: str | None) -> None:
    found = problems([evil], {"jupyter-ada", "jupyter-bob"})
    if why is None:  # allowed on its own (see the next case)
        assert found == []
        return
    assert len(found) == 1 and why in found[0], found


def test_config_and_state_are_directories() -> None:
    found = member_problems([member("config"), member("state", tarfile.SYMTYPE, link="/etc")])
    assert len(found) == 2 and all("not the directory" in p for p in found), found


def test_a_symlinked_directory_then_a_file_through_it_is_refused() -> None:
    found = problems(
        [
            member("homes/jupyter-ada/d", tarfile.SYMTYPE, link="../../../../etc"),
            member("homes/jupyter-ada/d/cron.d", tarfile.DIRTYPE, 0o755),
            member("homes/jupyter-ada/d/cron.d/evil"),
        ]
    )
    assert len(found) == 2 and all("below the symlink" in p for p in found), found


def test_a_refusal_lists_the_problems_and_changes_nothing() -> None:
    found = problems([member(f"/evil{i}") for i in range(15)])
    with pytest.raises(ArchiveRefused) as e:
        refuse_members(found)
    assert "15 member(s)" in e.value.message and "nothing was changed" in e.value.message
    assert "and 5 more" in e.value.message
    refuse_members([])


def test_a_home_member_is_written_as_the_account_without_setuid() -> None:
    tool = member("homes/jupyter-ada/tool", mode=0o6755)
    tool.uid = tool.gid = 0
    tool.uname = "root"
    placed = member_for_home(tool, 1005, 1006)
    assert (placed.name, placed.uid, placed.gid, placed.mode) == ("tool", 1005, 1006, 0o755)
    assert placed.uname == ""
    link = member_for_home(GOOD[9], 1005, 1005)
    assert (link.name, link.linkname) == ("b.ipynb", "a.ipynb")


def test_what_state_leaves_out() -> None:
    assert state_file_skipped("config.lock", homes=True)
    assert state_file_skipped("system-accounts.json.lock", homes=True)
    assert state_file_skipped("jupyterhub.sqlite", homes=True)  # copied on its own
    assert state_file_skipped("jupyterhub.sqlite-journal", homes=True)
    assert state_file_skipped("hub-env.fingerprint", homes=True)
    assert state_file_skipped("removed-homes/jupyter-x.tar.gz", homes=False)
    assert not state_file_skipped("removed-homes/jupyter-x.tar.gz", homes=True)
    for kept in (
        "passwords.dbm",
        "jupyterhub_cookie_secret",
        "acme.json",
        "rules/rules.toml",
        "system-accounts.json",
        "config-known-good/config.yaml",
    ):
        assert not state_file_skipped(kept, homes=False), kept


# -- writing a backup (no homes: those need real accounts) ---------------------


def install(tmp_path: Path) -> Layout:
    lay = make_install(tmp_path / "opt")
    with sqlite3.connect(lay.hub_db) as db:
        db.execute("create table users (name text)")
        db.execute("insert into users values ('ada')")
    lay.cookie_secret.write_text("secret\n")
    lay.config_lock.write_text("")
    (lay.state_dir / "hub-env.fingerprint").write_text("x\n")
    return lay


def read(path: Path) -> dict[str, bytes | None]:
    with tarfile.open(path) as tar:
        return {
            m.name: (tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_a_backup_is_root_only_whatever_the_umask(tmp_path: Path) -> None:
    lay = install(tmp_path)
    target = tmp_path / "out" / "b.tar.gz"
    target.parent.mkdir()
    old = os.umask(0)
    try:
        summary = backup.write_backup(lay, target, homes=False, say=lambda _: None)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert summary.size == target.stat().st_size
    assert os.listdir(target.parent) == ["b.tar.gz"]  # no partial file left


def test_a_backup_holds_config_state_and_a_consistent_database(tmp_path: Path) -> None:
    lay = install(tmp_path)
    target = tmp_path / "b.tar.gz"
    backup.write_backup(lay, target, homes=False, say=lambda _: None)
    members = read(target)
    assert next(iter(members)) == "manifest.json"
    m = Manifest.from_json(members["manifest.json"] or b"")
    assert m.format == 1 and m.homes is False and m.prefix == str(lay.prefix)
    assert members["config/config.yaml"] == lay.config_file.read_bytes()
    assert members["config/jupyterhub_config.d/10-ok.py"] is not None
    assert members["state/jupyterhub_cookie_secret"] == b"secret\n"
    assert "state/config.lock" not in members and "state/hub-env.fingerprint" not in members
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(members["state/jupyterhub.sqlite"] or b"")
    with sqlite3.connect(copy) as db:
        assert db.execute("select name from users").fetchall() == [("ada",)]
    with tarfile.open(target) as tar:
        assert member_problems(tar.getmembers()) == []


def test_a_backup_never_overwrites(tmp_path: Path) -> None:
    lay = install(tmp_path)
    target = tmp_path / "b.tar.gz"
    target.write_text("precious")
    with pytest.raises(BackupError, match="never overwrites"):
        backup.write_backup(lay, target, homes=False, say=lambda _: None)
    assert target.read_text() == "precious"
    evil = tmp_path / "link.tar.gz"
    evil.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BackupError, match="never overwrites"):
        backup.write_backup(lay, evil, homes=False, say=lambda _: None)
    assert not (tmp_path / "elsewhere").exists()


def test_a_backup_is_not_written_inside_the_install(tmp_path: Path) -> None:
    lay = install(tmp_path)
    with pytest.raises(BackupError, match="inside"):
        backup.write_backup(lay, lay.state_dir / "b.tar.gz", homes=False, say=lambda _: None)
    assert not (lay.state_dir / "b.tar.gz").exists()


def test_no_backup_without_an_install(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no TLJH installation"):
        backup.write_backup(Layout(prefix=tmp_path / "none"), tmp_path / "b.tgz", False)


def test_a_failed_backup_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay = install(tmp_path)

    def broken(*args: object) -> None:
        raise BackupError("disk full")

    monkeypatch.setattr(backup, "sqlite_copy", broken)
    with pytest.raises(BackupError, match="disk full"):
        backup.write_backup(lay, tmp_path / "b.tar.gz", homes=False, say=lambda _: None)
    assert sorted(os.listdir(tmp_path)) == ["opt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv needs root")
def test_a_home_goes_through_tar_and_back_without_setuid(tmp_path: Path) -> None:
    from tljh.install.backup_format import member_for_home
    from tljh.system.backup_io import HomeReader, HomeWriter

    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / "sub" / "a.ipynb").write_text("{}")
    (home / "tool").write_text("#!/bin/sh\n")
    os.chmod(home / "tool", 0o4755)
    reader = HomeReader(0, 0, home)
    with reader as source:
        members = []
        for m in source:
            rel = m.name.removeprefix("./").rstrip("/")
            if rel in ("", "."):
                continue
            m.name = f"homes/jupyter-ada/{rel}"
            data = source.extractfile(m).read() if m.isreg() else None  # type: ignore[union-attr]
            members.append((m, data))
    assert reader.warnings == []
    assert {m.name for m, _ in members} == {
        "homes/jupyter-ada/sub",
        "homes/jupyter-ada/sub/a.ipynb",
        "homes/jupyter-ada/tool",
    }
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "tool").write_text("kept")  # a file already there is never replaced
    with HomeWriter(0, 0, restored) as out:
        for m, data in members:
            out.addfile(member_for_home(m, 0, 0), io.BytesIO(data) if data is not None else None)
    assert (restored / "sub" / "a.ipynb").read_text() == "{}"
    assert (restored / "tool").read_text() == "kept"
    assert not stat.S_IMODE((restored / "sub" / "a.ipynb").stat().st_mode) & 0o6000
