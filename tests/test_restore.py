"""``tljh restore``'s checks before it changes anything, and how it extracts config and state.

The restore itself (accounts, homes, the hub restarted) runs in the container:
integration-tests/test_85_backup.py.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
from conftest import make_install

from tljh.errors import ArchiveRefused, BackupError
from tljh.install import backup, restore
from tljh.install.backup_format import Manifest


def manifest(version: str = "2.0.0") -> bytes:
    return (
        Manifest(version, "2026-12-01T08:55:00+00:00", "hub", "/opt/tljh", False).to_json().encode()
    )


def write_tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz"
) -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def f(name: str, data: bytes = b"x", mode: int = 0o600) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def d(name: str, mode: int = 0o700) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def base(version: str = "2.0.0") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [
        f("manifest.json", manifest(version)),
        f(
            "accounts.json",
            json.dumps(
                {"accounts": [{"name": "jupyter-ada", "uid": 1001, "gid": 1001, "groups": []}]}
            ).encode(),
        ),
        d("config"),
        f("config/config.yaml", b"limits:\n  memory: 1G\n"),
        d("config/jupyterhub_config.d"),
        d("state"),
        f("state/jupyterhub_cookie_secret", b"s\n"),
    ]


def test_an_archive_of_ours_is_read(tmp_path: Path) -> None:
    archive = restore.read_archive(write_tar(tmp_path / "a.tgz", base()), "2.0.0")
    assert archive.manifest.tljh_version == "2.0.0"
    assert archive.accounts.names() == {"jupyter-ada"}


def test_an_archive_tljh_backup_wrote_is_read(tmp_path: Path) -> None:
    lay = make_install(tmp_path / "opt")
    target = tmp_path / "b.tar.gz"
    backup.write_backup(lay, target, homes=False, say=lambda _: None)
    archive = restore.read_archive(target)
    assert archive.manifest.prefix == str(lay.prefix)


@pytest.mark.parametrize(
    ("evil", "why"),
    [
        ([f("../../etc/cron.d/evil")], "not a plain relative path"),
        ([f("/etc/cron.d/evil")], "not a plain relative path"),
        ([link("config/x", "/etc")], "a symlink"),
        ([link("state/h", "/etc/shadow", tarfile.LNKTYPE)], "a hardlink"),
        ([f("config/suid", mode=0o4755)], "set-uid"),
        (
            [
                d("homes"),
                d("homes/jupyter-ada"),
                link("homes/jupyter-ada/x", "/etc"),
                f("homes/jupyter-ada/x/passwd"),
            ],
            "below the symlink",
        ),
        ([d("homes"), d("homes/jupyter-root"), f("homes/jupyter-root/x")], "not in accounts.json"),
    ],
)
def test_crafted_archives_are_refused_before_anything_changes(
    tmp_path: Path, evil: list[tuple[tarfile.TarInfo, bytes | None]], why: str
) -> None:
    path = write_tar(tmp_path / "evil.tgz", [*base(), *evil])
    with pytest.raises(ArchiveRefused, match=why):
        restore.read_archive(path, "2.0.0")


def test_a_newer_release_is_refused_first(tmp_path: Path) -> None:
    # Even with members this release would not accept: a newer format may have them.
    path = write_tar(tmp_path / "new.tgz", [*base("9.0.0"), f("newthing/x")])
    with pytest.raises(ArchiveRefused, match=r"made by TLJH 9\.0\.0") as e:
        restore.read_archive(path, "2.0.0")
    assert "--version 9.0.0" in e.value.hint


@pytest.mark.parametrize("content", [b"", b"not a tar at all", b"\x1f\x8b\x08\x00garbage"])
def test_a_damaged_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tgz"
    path.write_bytes(content)
    with pytest.raises(ArchiveRefused):
        restore.read_archive(path, "2.0.0")


def test_an_archive_without_a_manifest_is_refused(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tgz", base()[1:])
    with pytest.raises(ArchiveRefused, match=r"no manifest\.json"):
        restore.read_archive(path, "2.0.0")


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        restore.read_archive(tmp_path / "nope.tgz", "2.0.0")


def test_config_and_state_are_extracted_with_their_modes_and_nothing_else(tmp_path: Path) -> None:
    members = [
        *base(),
        d("state/rules", 0o750),
        f("state/rules/rules.toml", b"r", 0o640),
        d("homes"),
        d("homes/jupyter-ada"),
        f("homes/jupyter-ada/a.ipynb"),
    ]
    path = write_tar(tmp_path / "a.tgz", members)
    archive = restore.read_archive(path, "2.0.0")
    into = tmp_path / "new"
    into.mkdir(mode=0o700)
    with tarfile.open(path) as tar:
        restore._extract_files(tar, archive.members, into)
    assert (into / "config" / "config.yaml").read_bytes() == b"limits:\n  memory: 1G\n"
    assert stat.S_IMODE((into / "state" / "rules").stat().st_mode) == 0o750
    assert stat.S_IMODE((into / "state" / "rules" / "rules.toml").stat().st_mode) == 0o640
    assert stat.S_IMODE((into / "config" / "config.yaml").stat().st_mode) == 0o600
    assert not (into / "homes").exists()


def test_undo_runs_newest_first_and_goes_on_after_a_failure() -> None:
    done: list[str] = []
    undo = restore._Undo()
    undo.add("first", lambda: done.append("first"))

    def broken() -> None:
        raise OSError("disk gone")

    undo.add("second", broken)
    undo.add("third", lambda: done.append("third"))
    failed = undo.run(lambda _: None)
    assert done == ["third", "first"]
    assert failed == ["second: disk gone"]


def test_a_restore_needs_an_install(tmp_path: Path) -> None:
    from tljh.layout import Layout

    with pytest.raises(BackupError, match="not installed"):
        restore.restore(Layout(prefix=tmp_path), tmp_path / "a.tgz")


def test_the_swap_keeps_what_it_replaces_and_moves_it_back(tmp_path: Path) -> None:
    lay = make_install(tmp_path / "opt")
    work = tmp_path / "opt" / "replaced"
    for name in ("config", "state"):
        (work / "new" / name).mkdir(parents=True)
        (work / "new" / name / "restored").write_text(name)
    undo = restore._Undo()
    restore._swap_in(lay, work, undo, lambda _: None)
    assert (lay.config_dir / "restored").read_text() == "config"
    assert (work / "old" / "config" / "config.yaml").exists()
    undo.run(lambda _: None)
    assert lay.config_file.exists() and not (lay.config_dir / "restored").exists()
    assert os.listdir(work / "old") == []


def test_an_archive_never_puts_an_account_into_a_system_group() -> None:
    from tljh.install.backup_format import AccountRecord, Accounts

    restore.refuse_system_groups(Accounts((AccountRecord("jupyter-ada", 1001, 1001, ()),)))
    # "root" exists with gid 0 on every machine.
    evil = Accounts((AccountRecord("jupyter-ada", 1001, 1001, ("root",)),))
    with pytest.raises(ArchiveRefused, match="a system group here"):
        restore.refuse_system_groups(evil)
