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


def listening_inodes(table: str, port: int) -> set[str]:
    """Socket inodes listening on ``port`` in the text of /proc/net/tcp or tcp6."""
    inodes = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        _, _, hex_port = fields[1].rpartition(":")
        try:
            if int(hex_port, 16) == port:
                inodes.add(fields[9])
        except ValueError:
            continue
    return inodes


def _pids(proc: Path) -> Iterable[Path]:
    for entry in proc.iterdir():
        if entry.name.isdigit():
            yield entry


def port_holders(port: int, proc: Path = Path("/proc")) -> list[Holder]:
    """The processes (of this PID namespace) listening on TCP ``port``; [] if none is seen.

    A process of another namespace, or one we may not look into, is not seen.
    """
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / table).read_text(), port)
        except OSError:
            continue
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
