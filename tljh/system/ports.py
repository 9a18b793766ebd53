"""Which processes listen on a TCP port, read from /proc (no ss or lsof needed)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: The state column of /proc/net/tcp for a listening socket.
_LISTEN = "0A"


@dataclass(frozen=True)
class Holder:
    """A process holding a listening socket."""

    pid: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"


def _listening(table: str, port: int) -> list[list[str]]:
    """The rows of /proc/net/tcp or tcp6 (its text) of sockets listening on ``port``."""
    rows = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        _, _, hex_port = fields[1].rpartition(":")
        try:
            if int(hex_port, 16) == port:
                rows.append(fields)
        except ValueError:
            continue
    return rows


def listening_inodes(table: str, port: int) -> set[str]:
    """Socket inodes listening on ``port`` in the text of /proc/net/tcp or tcp6."""
    return {fields[9] for fields in _listening(table, port)}


def listening_uids(table: str, port: int) -> set[int]:
    """The uids of the sockets listening on ``port`` in the text of /proc/net/tcp or tcp6."""
    return {int(fields[7]) for fields in _listening(table, port) if fields[7].isdigit()}


def _tables(proc: Path) -> Iterable[str]:
    """The text of /proc/net/tcp and tcp6 (those that can be read)."""
    for name in ("tcp", "tcp6"):
        try:
            yield (proc / "net" / name).read_text()
        except OSError:
            continue


def port_owners(port: int, proc: Path = Path("/proc")) -> set[int]:
    """The uids of whoever listens on TCP ``port`` (IPv4 or IPv6) in this network namespace."""
    return {uid for table in _tables(proc) for uid in listening_uids(table, port)}


def _pids(proc: Path) -> Iterable[Path]:
    for entry in proc.iterdir():
        if entry.name.isdigit():
            yield entry


def port_holders(port: int, proc: Path = Path("/proc")) -> list[Holder]:
    """The processes (of this PID namespace) listening on TCP ``port``; [] if none is seen.

    A process of another namespace, or one we may not look into, is not seen.
    """
    inodes = {inode for table in _tables(proc) for inode in listening_inodes(table, port)}
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders = []
    for pid_dir in _pids(proc):
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in wanted:
                try:
                    name = (pid_dir / "comm").read_text().strip()
                except OSError:
                    name = "?"
                holders.append(Holder(int(pid_dir.name), name))
                break
    return holders
