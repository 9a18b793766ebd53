"""Facts about the machine the hub runs on."""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")


def total_memory(meminfo: Path = MEMINFO) -> int | None:
    """The machine's memory in bytes (``MemTotal``), None if it cannot be read."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "MemTotal":
            number, _, unit = value.strip().partition(" ")
            try:
                kib = int(number)
            except ValueError:
                return None
            # The kernel writes "kB" and means KiB.
            return kib * 1024 if unit.strip() == "kB" else None
    return None
