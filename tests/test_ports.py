"""Who holds a port: /proc/net/tcp parsing, and a real listening socket found by pid."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tljh.errors import PortTaken
from tljh.system.ports import listening_inodes, listening_uids, port_holders, port_owners

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 2222 1
   2: 0100007F:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1
"""  # noqa: E501


def test_listening_inodes() -> None:
    # Port 80 listens once; the established connection from it does not count.
    assert listening_inodes(TCP, 80) == {"1111"}
    assert listening_inodes(TCP, 8080) == {"2222"}
    assert listening_inodes(TCP6, 443) == {"4444"}
    assert listening_inodes(TCP, 443) == set()


def test_listening_uids() -> None:
    assert listening_uids(TCP, 8080) == {1001}
    assert listening_uids(TCP, 80) == {0}
    assert listening_uids(TCP, 443) == set()


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="no /proc")
def test_a_listening_socket_is_found_with_its_process_and_owner() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        holders = port_holders(port)
        assert [h.pid for h in holders] == [os.getpid()]
        assert str(holders[0]) == f"{holders[0].name} (pid {os.getpid()})"
        assert port_owners(port) == {os.getuid()}
    assert port_holders(port) == []
    assert port_owners(port) == set()


def test_port_taken_names_holder_and_key() -> None:
    e = PortTaken("traefik.service", 80, "http.port", "nginx (pid 12)")
    assert "port 80 (http.port): nginx (pid 12) holds it" in e.message
    assert "tljh-config set http.port" in e.hint


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's group needs root")
def test_proxy_files_are_root_owned_and_group_readable(tmp_path: Path) -> None:
    """What the proxy reads: 0640 with its group, set before the file has its name."""
    from tljh.system.files import ensure_dir, ensure_file

    gid = 1  # any group but root's
    directory = tmp_path / "rules"
    assert ensure_dir(directory, 0o750, gid)
    assert ensure_file(directory / "a.toml", "x = 1\n", mode=0o640, gid=gid)
    st = (directory / "a.toml").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, gid, 0o640)
    assert (directory.stat().st_gid, directory.stat().st_mode & 0o777) == (gid, 0o750)
    assert not ensure_file(directory / "a.toml", "x = 1\n", mode=0o640, gid=gid)
    # An older root-only file with the same text gets the group (and keeps its text).
    (directory / "b.toml").write_text("y = 2\n")
    os.chmod(directory / "b.toml", 0o600)
    assert ensure_file(directory / "b.toml", "y = 2\n", mode=0o640, gid=gid)
    assert (directory / "b.toml").stat().st_gid == gid
    assert not ensure_dir(directory, 0o750, gid)
