"""``tljh users``: rows of the list, the hub API client, and the guards of remove/owner."""

from __future__ import annotations

import json
import os
import pwd
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tljh.apply.users import hub_api, rows, server_state, set_owner
from tljh.cli.main import main
from tljh.cli.users import format_memory, table
from tljh.config.schema import with_defaults
from tljh.errors import HubAPIError, UserError
from tljh.layout import Layout
from tljh.render.hub import HUB_PORT
from tljh.system import removal
from tljh.system.hubapi import HubAPI, user_path

ROOT = os.geteuid() == 0
G = 1024**3


def test_server_states() -> None:
    assert server_state({"servers": {}}) == "stopped"
    assert server_state({"servers": {"": {"ready": True, "pending": None}}}) == "running"
    assert server_state({"servers": {"": {"ready": False, "pending": "spawn"}}}) == "starting"
    assert server_state({"servers": {"": {"ready": True, "pending": "stop"}}}) == "stopping"
    named = {"": {"ready": True}, "gpu": {"ready": True}}
    assert server_state({"servers": named}) == "running (+1 named)"
    assert server_state({"servers": {"gpu": {"ready": True}}}) == "stopped (+1 named)"


def test_rows_join_hub_record_config_and_limits(tmp_path: Path) -> None:
    config = with_defaults(
        {
            "users": {"admin": ["ms.frizzle"]},
            "limits": {
                "memory": "1G",
                "groups": {"instructors": {"memory": "4G"}},
                "users": {"arnold": {"cpu": 0.5}},
            },
        }
    )
    models = [
        {"name": "ms.frizzle", "admin": True, "groups": ["instructors"], "servers": {}},
        {"name": "arnold", "admin": False, "groups": [], "servers": {"": {"ready": True}}},
        {"name": "helper", "admin": True, "groups": [], "servers": {}},
    ]
    owners = {"jupyter-arnold": "arnold", "jupyter-ms-frizzle-0a1b2c3d": "ms.frizzle"}
    out = rows(models, owners, config, Layout(prefix=tmp_path), exists=lambda n: n != "x")
    by_name = {row.name: row for row in out}
    assert [row.name for row in out] == ["arnold", "helper", "ms.frizzle"]
    frizzle = by_name["ms.frizzle"]
    assert (frizzle.account, frizzle.admin, frizzle.sudo) == (
        "jupyter-ms-frizzle-0a1b2c3d",
        True,
        True,
    )
    assert frizzle.limits.memory == 4 * G and frizzle.limits.memory_from == "group instructors"
    arnold = by_name["arnold"]
    assert (arnold.limits.memory, arnold.limits.cpu, arnold.server) == (G, 0.5, "running")
    helper = by_name["helper"]
    assert helper.account is None and helper.admin and not helper.sudo
    text = table(out)
    assert "4G (instructors)" in text and "0.5 (own)" in text and "hub only" in text
    assert json.dumps([row.as_json() for row in out])


def test_memory_is_shown_in_the_config_grammar() -> None:
    assert [format_memory(v) for v in (None, 4 * G, 3 * G // 2, 512 * 1024**2)] == [
        "none",
        "4G",
        "1.5G",
        "512M",
    ]


def test_the_api_is_the_hubs_own_address_under_base_url(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    config = with_defaults({"base_url": "/jupyter/"})
    with pytest.raises(UserError) as e:
        hub_api(config, layout)
    assert "re-run the installer" in e.value.hint
    layout.state_dir.mkdir(parents=True)
    layout.users_api_token.write_text("abc\n")
    assert hub_api(config, layout).url == f"http://127.0.0.1:{HUB_PORT}/jupyter/hub/api"
    assert "abc" not in repr(hub_api(config, layout))


def test_user_paths_keep_what_jupyterhub_keeps() -> None:
    assert user_path("ada@example.org") == "/users/ada@example.org"
    assert user_path("a b/c") == "/users/a%20b%2Fc"


class FakeHub(BaseHTTPRequestHandler):
    """A stand-in for JupyterHub's users API: pages of users, a token check."""

    users: ClassVar[dict[str, dict[str, Any]]] = {}
    seen: ClassVar[list[tuple[str, str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path))
        if self.headers["Authorization"] != "token right":
            return self._send(403, {"message": "Action is not authorized"})
        if self.path.startswith("/hub/api/users?"):
            query = dict(p.split("=") for p in self.path.split("?")[1].split("&"))
            offset, limit = int(query["offset"]), min(int(query["limit"]), 2)
            names = sorted(self.users)
            items = [self.users[n] for n in names[offset : offset + limit]]
            more = offset + limit < len(names)
            following = {"offset": offset + limit} if more else None
            return self._send(200, {"items": items, "_pagination": {"next": following}})
        name = self.path.removeprefix("/hub/api/users/")
        if name in self.users:
            return self._send(200, self.users[name])
        return self._send(404, {"message": "Not Found"})

    def do_DELETE(self) -> None:
        self.seen.append(("DELETE", self.path))
        name = self.path.removeprefix("/hub/api/users/").split("/")[0]
        if self.path.endswith("/server"):
            self.users[name]["servers"] = {}
            return self._send(204)
        self.users.pop(name, None)
        return self._send(204)


@pytest.fixture
def fake_hub() -> Iterator[str]:
    FakeHub.users = {n: {"name": n, "servers": {}} for n in ("a", "b", "c", "d", "e")}
    FakeHub.users["c"]["servers"] = {"": {"ready": True}}
    FakeHub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    finally:
        server.shutdown()
        server.server_close()


def test_every_page_of_users_is_read(fake_hub: str) -> None:
    assert [u["name"] for u in HubAPI(fake_hub, "right").users()] == ["a", "b", "c", "d", "e"]


def test_a_refused_token_and_a_missing_hub_are_told_apart(fake_hub: str) -> None:
    with pytest.raises(HubAPIError) as e:
        list(HubAPI(fake_hub, "wrong").users())
    assert e.value.status == 403 and "not authorized" in e.value.message
    with pytest.raises(HubAPIError) as e:
        HubAPI("http://127.0.0.1:9/hub/api", "right", timeout=2).user("a")
    assert e.value.status == 0 and "systemctl start jupyterhub" in e.value.hint


def test_servers_stop_before_the_user_goes(fake_hub: str) -> None:
    api = HubAPI(fake_hub, "right")
    assert api.user("nobody") is None
    assert api.stop_servers("c", sleep=lambda s: None) == [""]
    api.delete_user("c")
    assert FakeHub.seen[-2:] == [("GET", "/hub/api/users/c"), ("DELETE", "/hub/api/users/c")]
    assert ("DELETE", "/hub/api/users/c/server") in FakeHub.seen
    assert api.user("c") is None


def test_only_accounts_tljh_makes_can_be_given_or_removed(tmp_path: Path) -> None:
    layout = Layout(prefix=tmp_path)
    with pytest.raises(UserError) as e:
        set_owner(layout, "root", "mallory")
    assert "not an account TLJH makes" in e.value.message
    with pytest.raises(UserError):
        set_owner(layout, "jupyter-nobody-here", "mallory")
    assert not layout.account_owners.exists()
    root = pwd.getpwnam("root")
    assert not removal.is_hub_account(root)


def fake_proc(tmp_path: Path, uids: dict[int, int]) -> Path:
    proc = tmp_path / "proc"
    for pid, uid in uids.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "status").write_text(f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    (proc / "self").mkdir()
    return proc


def test_processes_of_an_account(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: 1001, 11: 1002, 12: 1001})
    assert sorted(removal.processes_of(1001, proc)) == [10, 12]
    assert removal.processes_of(1003, proc) == []


def entry(name: str, home: Path, uid: int) -> pwd.struct_passwd:
    return pwd.struct_passwd((name, "x", uid, uid, "", str(home), "/bin/bash"))


@pytest.mark.skipif(not ROOT, reason="needs root to own files as another uid")
def test_homes_are_archived_root_only_set_aside_or_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home" / "jupyter-ada"
    (home / "work").mkdir(parents=True)
    (home / "work" / "nb.ipynb").write_text("{}")
    (home / "link").symlink_to("/etc")
    os.chown(home, 4242, 4242)
    ada = entry("jupyter-ada", home, 4242)
    archive = removal.archive_home(ada, tmp_path / "removed")
    assert archive is not None and (archive.stat().st_mode & 0o777) == 0o600
    with tarfile.open(archive) as tar:
        assert "jupyter-ada/work/nb.ipynb" in tar.getnames()
    aside = removal.set_home_aside(ada)
    assert aside is not None and not home.exists()
    st = aside.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o700)
    # A home that is not the account's own directory is never touched.
    other = tmp_path / "home" / "shared"
    other.mkdir()
    assert removal.delete_home(entry("jupyter-ada", other, 4242)) is None
    assert removal.delete_home(entry("jupyter-ada", Path("/"), 4242)) is None
    assert other.exists()


def test_the_command_needs_root(capsys: pytest.CaptureFixture[str]) -> None:
    if ROOT:
        pytest.skip("runs as root here")
    assert main(["users", "list"]) == 1
    assert "sudo tljh users" in capsys.readouterr().err


def test_remove_without_a_terminal_needs_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with open(os.devnull) as devnull:
        monkeypatch.setattr("sys.stdin", devnull)
        assert main(["users", "remove", "ada"]) == 1
    assert "--yes" in capsys.readouterr().err
