"""Writing files so that a crash never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ensure_file(path: Path, data: str | bytes, mode: int = 0o644) -> bool:
    """Write ``path`` only when its content or mode differs.  Returns True if changed."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    try:
        st = path.stat()
        if path.read_bytes() == raw:
            if (st.st_mode & 0o7777) == mode:
                return False
            os.chmod(path, mode)
            return True
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, raw, mode)
    return True


def ensure_dir(path: Path, mode: int = 0o755) -> bool:
    """Create ``path`` (and parents) and set its mode.  Returns True if changed."""
    path = Path(path)
    changed = False
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        changed = True
    if (path.stat().st_mode & 0o7777) != mode:
        os.chmod(path, mode)
        changed = True
    return changed
