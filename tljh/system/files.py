"""Files: written so that a crash never leaves half a file behind; owned so that
students can read what they share but never change it, and never open what is
root's alone (config, history, secrets, locks)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Modes of what only root may open: files that may hold secrets, and their directories.
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644, gid: int = -1) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename.

    ``gid`` (not -1): the file's group, set before it appears under its name.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if gid != -1:
            os.fchown(fd, -1, gid)
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


def ensure_file(path: Path, data: str | bytes, mode: int = 0o644, gid: int = -1) -> bool:
    """Write ``path`` only when its content, mode or group (``gid``, unless -1) differs.

    Returns True if changed.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    try:
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and path.read_bytes() == raw:
            if gid != -1 and st.st_gid != gid:
                # Mode first: the group is not given more than ``mode`` allows.
                os.chmod(path, mode & st.st_mode)
                os.chown(path, -1, gid)
            elif (st.st_mode & 0o7777) == mode:
                return False
            os.chmod(path, mode)
            return True
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, raw, mode, gid)
    return True


def ensure_dir(path: Path, mode: int = 0o755, gid: int = -1) -> bool:
    """Create ``path`` (and parents) and set its mode (and group, unless ``gid`` is -1).

    Returns True if changed.
    """
    path = Path(path)
    changed = False
    if not path.is_dir():
        path.mkdir(mode=mode & 0o700, parents=True, exist_ok=True)
        changed = True
    if gid != -1 and path.stat().st_gid != gid:
        os.chmod(path, mode & path.stat().st_mode & 0o7777)
        os.chown(path, -1, gid)
        changed = True
    if (path.stat().st_mode & 0o7777) != mode:
        os.chmod(path, mode)
        changed = True
    return changed


def fix_permissions(path: Path, readable: bool = True, dry_run: bool = False) -> int:
    """Make ``path`` root-owned and writable by root alone; with ``readable``, readable by all.

    Students must never be able to change what everyone's kernels import.
    The hub environment passes ``readable=False``: nobody but root needs to
    read it, and the hub (UMask=0077) writes private bytecode caches there.
    Returns how many entries had to be fixed (with ``dry_run``: would be; none is).
    """
    fixed = _fix_one(str(path), readable, dry_run)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            fixed += _fix_one(os.path.join(root, name), readable, dry_run)
    return fixed


def _fix_one(p: str, readable: bool = True, dry_run: bool = False) -> int:
    st = os.lstat(p)
    fixed = 0
    if st.st_uid != 0 or st.st_gid != 0:
        if not dry_run:
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
        if not dry_run:
            os.chmod(p, wanted)
        fixed = 1
    return fixed


def read_or_none(path: Path) -> bytes | None:
    """The bytes of ``path``; None if it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def make_private_dirs(path: Path) -> bool:
    """Create ``path`` and its missing parents as 0700 directories, whatever the umask.

    Directories that exist are left as they are: the caller decides whether a
    directory is its own to tighten (``--config-path`` may name a file in
    /tmp).  Created parents are private too; the installer opens up the ones
    students must reach.  Returns True if it created any.
    """
    missing: list[Path] = []
    p = Path(path)
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for directory in reversed(missing):
        try:
            # 0700 minus the umask: never more open than 0700, not even for a moment.
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made by someone else meanwhile: theirs to decide
        # A umask such as 0o277 would have taken root's own bits away.
        os.chmod(directory, PRIVATE_DIR)
    return bool(missing)


def tighten_files(
    directory: Path, dry_run: bool = False, shared: Collection[Path] = ()
) -> list[Path]:
    """Take group and other bits off the regular files in ``directory``; returns those changed.

    Symlinks are left alone: chmod would follow them to whatever they point at.
    Files in ``shared`` are another service's to read through its group, and left alone.
    With ``dry_run``, returns those it would change and changes none.
    """
    changed: list[Path] = []
    if dry_run and not Path(directory).is_dir():
        return changed
    for path in sorted(Path(directory).iterdir()):
        if path in shared:
            continue
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
            if not dry_run:
                os.chmod(path, path.stat().st_mode & 0o700)
            changed.append(path)
    return changed


def ensure_private_dir(path: Path) -> bool:
    """``path`` as a directory only its owner may enter (0700), created or tightened.

    Returns True if it changed anything.
    """
    path = Path(path)
    changed = make_private_dirs(path)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
        changed = True
    return changed


@contextmanager
def exclusive_lock(path: Path, timeout: float, poll: float = 0.05) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) while in the block.

    Raises TimeoutError if another process holds it for ``timeout`` seconds,
    OSError if the lock file cannot be opened (e.g. it is a symlink).

    A lock file others can open is a lock they can hold: ``flock`` needs only
    a read-only descriptor, and a student holding it forever would block every
    'tljh-config' and the installer.  So the file is the holder's alone:
    created 0600 whatever the umask, an existing one tightened to 0600 and,
    when we are root, given to root; a symlink is never followed (it could
    point at a file of root's).  The file is never truncated or removed: a
    lock file removed while another process waits on it splits the lock in two.

    Not ``filelock``: the releases we could allow create the file 0666 minus
    the umask and differ in how they treat an existing one; the rules above
    are the point of this lock, and they take a dozen lines of ``flock``.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
            os.fchown(fd, 0, 0)
        if stat.S_IMODE(st.st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path} is locked by another process") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
