"""This machine's own IP addresses, read from /proc (no ``ip`` command needed)."""

from __future__ import annotations

import ipaddress
from pathlib import Path


def ipv4_local(fib_trie: str) -> set[str]:
    """The addresses of /proc/net/fib_trie marked ``/32 host LOCAL``: this machine's own."""
    found: set[str] = set()
    last = ""
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text == "/32 host LOCAL" and last:
            found.add(last)
    return found


def ipv6_local(if_inet6: str) -> set[str]:
    """The addresses listed in /proc/net/if_inet6 (32 hex digits first on each line)."""
    found: set[str] = set()
    for line in if_inet6.splitlines():
        fields = line.split()
        if not fields or len(fields[0]) != 32:
            continue
        try:
            found.add(str(ipaddress.IPv6Address(int(fields[0], 16))))
        except ValueError:
            continue
    return found


def local_addresses(proc: Path = Path("/proc")) -> set[str]:
    """Every IPv4 and IPv6 address of this machine (loopback included)."""
    out: set[str] = set()
    for name, parse in (("fib_trie", ipv4_local), ("if_inet6", ipv6_local)):
        try:
            out |= parse((proc / "net" / name).read_text())
        except OSError:
            continue
    return out
