"""Admins at install time: --admin NAME[:PASSWORD] (several per flag) and --admin-password-file."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from types import ModuleType

import pytest
from firstuseauthenticator import FirstUseAuthenticator

from tljh.cli.installer import parse_options
from tljh.config.schema import with_defaults
from tljh.errors import InstallError
from tljh.install.admins import read_password_file, requested_admins, step_admin_passwords
from tljh.install.context import Context
from tljh.install.files import step_config, step_directories
from tljh.install.options import (
    AdminRequest,
    InstallOptions,
    merge_admins,
    parse_password_lines,
    split_admin,
)
from tljh.layout import Layout
from tljh.system import firstuse

ROOT = os.geteuid() == 0


def context(tmp_path: Path, *argv: str) -> Context:
    return Context(layout=Layout(prefix=tmp_path / "tljh"), options=parse_options(list(argv)))


def login(path: Path, name: str, password: str) -> str | None:
    """What FirstUseAuthenticator itself answers to this login."""
    auth = FirstUseAuthenticator(dbm_path=str(path), create_users=True)
    result = asyncio.run(auth.authenticate(None, {"username": name, "password": password}))
    return result if result is None else str(result)


def password_file(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "admins.txt"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_several_names_after_one_flag_and_repeated_flags() -> None:
    options = parse_options(["--admin", "ada", "bob:pw with: colon", "--admin", "cy"])
    assert options.admin == ("ada", "bob:pw with: colon", "cy")


def test_bootstrap_forwards_several_names(bootstrap: ModuleType) -> None:
    argv = ["--admin", "a", "b:secret1", "--admin", "c"]
    assert bootstrap.forwarded_args(argv) == ["--admin", "a", "b:secret1", "--admin", "c"]


def test_name_and_password_split_at_the_first_colon() -> None:
    assert split_admin("ada") == AdminRequest("ada")
    assert split_admin("ada:a:b c") == AdminRequest("ada", "a:b c")
    for bad in (":pw", " ada:pw", "ada:"):
        with pytest.raises(InstallError):
            split_admin(bad)


def test_a_request_never_shows_its_password() -> None:
    assert "hunter22" not in repr(AdminRequest("ada", "hunter22"))


def test_password_file_lines() -> None:
    text = "# admins\n\nada:first pw\n  bob:second:pw\n"
    assert parse_password_lines(text, "f") == [
        AdminRequest("ada", "first pw", "f, line 3"),
        AdminRequest("bob", "second:pw", "f, line 4"),
    ]
    with pytest.raises(InstallError) as e:
        parse_password_lines("ada:ok-password\njust-a-password\n", "f")
    assert "f, line 2" in e.value.message and "just-a-password" not in e.value.render()
    with pytest.raises(InstallError):
        parse_password_lines("# nothing\n", "f")


def test_one_name_one_password() -> None:
    merged = merge_admins([AdminRequest("ada"), AdminRequest("ada", "pw", "f"), AdminRequest("b")])
    assert merged == [AdminRequest("ada", "pw", "f"), AdminRequest("b")]
    with pytest.raises(InstallError) as e:
        merge_admins([AdminRequest("ada", "pw-xyz"), AdminRequest("ada", "pw-abc", "f, line 1")])
    assert "pw-" not in e.value.render()


@pytest.mark.skipif(not ROOT, reason="needs root to make a root-owned file")
def test_password_file_must_be_root_only(tmp_path: Path) -> None:
    assert read_password_file(password_file(tmp_path, "ada:secret-pw\n")) == "ada:secret-pw\n"
    loose = password_file(tmp_path, "ada:secret-pw\n", 0o640)
    with pytest.raises(InstallError) as e:
        read_password_file(loose)
    assert f"chmod 600 {loose}" in e.value.hint
    os.chmod(loose, 0o600)
    os.chown(loose, 65534, 0)
    with pytest.raises(InstallError):
        read_password_file(loose)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "admins.txt")
    with pytest.raises(InstallError):
        read_password_file(str(link))
    with pytest.raises(InstallError):
        read_password_file(str(tmp_path / "missing"))


def prepared(ctx: Context) -> Context:
    step_directories(ctx)
    step_config(ctx)
    return ctx


@pytest.mark.skipif(not ROOT, reason="needs root to make a root-owned file")
def test_passwords_land_in_the_first_use_database(tmp_path: Path) -> None:
    path = password_file(tmp_path, "bob:from-the-file\n")
    ctx = prepared(
        context(tmp_path, "--admin", "Ada:from-argv-1", "cy", "--admin-password-file", path)
    )
    assert with_defaults(ctx.config)["users"]["admin"] == ["Ada", "cy", "bob"]
    changes = step_admin_passwords(ctx)
    assert len(changes) == 2
    db = ctx.layout.firstuse_passwords
    # The authenticator's own login check, on the names JupyterHub logs in with.
    assert login(db, "ada", "from-argv-1") == "ada"
    assert login(db, "bob", "from-the-file") == "bob"
    assert login(db, "ada", "wrong-password") is None
    assert login(db, "bob", "from-argv-1") is None
    # cy was given no password: the first login sets it.
    assert login(db, "cy", "cys-own-choice") == "cy"
    assert login(db, "cy", "another-one") is None
    # Re-running with the same passwords changes nothing.
    assert step_admin_passwords(ctx) == []


def test_a_password_in_argv_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = prepared(context(tmp_path, "--admin", "ada:long-enough"))
    with caplog.at_level(logging.WARNING):
        step_admin_passwords(ctx)
    assert "process list" in caplog.text
    assert "long-enough" not in caplog.text


def test_a_password_the_login_page_would_refuse_is_refused(tmp_path: Path) -> None:
    ctx = prepared(context(tmp_path, "--admin", "ada:short"))
    with pytest.raises(InstallError) as e:
        step_admin_passwords(ctx)
    assert "7 characters" in e.value.message
    assert not ctx.layout.firstuse_passwords.exists()


def test_admins_without_passwords_touch_no_database(tmp_path: Path) -> None:
    ctx = prepared(context(tmp_path, "--admin", "ada", "bob"))
    assert step_admin_passwords(ctx) == []
    assert [r.name for r in requested_admins(ctx)] == ["ada", "bob"]
    assert not list(ctx.layout.state_dir.glob("passwords*"))


def test_the_options_default_to_no_admins() -> None:
    assert InstallOptions().admin == () and InstallOptions().admin_password_file is None


def test_asking_about_a_password_creates_no_database(tmp_path: Path) -> None:
    # --dry-run asks whether a password is stored: that must not create the file.
    db = tmp_path / "passwords.dbm"
    assert not firstuse.password_matches(db, "ada", "a long password")
    assert list(tmp_path.iterdir()) == []
    assert firstuse.set_password(db, "ada", "a long password")
    assert firstuse.password_matches(db, "ada", "a long password")
    assert not firstuse.set_password(db, "ada", "a long password")
