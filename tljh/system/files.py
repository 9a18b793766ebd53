"""Files: written so that a crash never leaves half a file behind; owned so that
students can read what they share but never change it."""

from __future__ import annotations

import contextlib
import os
import stat
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


def fix_permissions(path: Path, readable: bool = True) -> int:
    """Make ``path`` root-owned and writable by root alone; with ``readable``, readable by all.

    Students must never be able to change what everyone's kernels import.
    The hub environment passes ``readable=False``: nobody but root needs to
    read it, and the hub (UMask=0077) writes private bytecode caches there.
    Returns how many entries had to be fixed.
    """
    fixed = _fix_one(str(path), readable)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            fixed += _fix_one(os.path.join(root, name), readable)
    return fixed


def _fix_one(p: str, readable: bool = True) -> int:
    st = os.lstat(p)
    fixed = 0
    if st.st_uid != 0 or st.st_gid != 0:
        os.lchown(p, 0, 0)
        fixed = 1
    if stat.S_ISLNK(st.st_mode):
        return fixed
    mode = stat.S_IMODE(st.st_mode)
    wanted = mode & ~0o022
    if readable:
        wanted |= 0o444
        if stat.S_ISDIR(st.st_mode) or mode & 0o100:
            wanted |= 0o111
    if wanted != mode:
        os.chmod(p, wanted)
        fixed = 1
    return fixed


def read_or_none(path: Path) -> bytes | None:
    """The bytes of ``path``; None if it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
