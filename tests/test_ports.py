"""Who holds a port: /proc/net/tcp parsing, and a real listening socket found by pid."""

from __future__ import annotations

import os
import socket

import pytest

from tljh.errors import PortTaken
from tljh.system.ports import listening_inodes, port_holders

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1
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


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="no /proc")
def test_a_listening_socket_is_found_with_its_process() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        holders = port_holders(port)
        assert [h.pid for h in holders] == [os.getpid()]
        assert str(holders[0]) == f"{holders[0].name} (pid {os.getpid()})"
    assert port_holders(port) == []


def test_port_taken_names_holder_and_key() -> None:
    e = PortTaken("traefik.service", 80, "http.port", "nginx (pid 12)")
    assert "port 80 (http.port): nginx (pid 12) holds it" in e.message
    assert "tljh-config set http.port" in e.hint
