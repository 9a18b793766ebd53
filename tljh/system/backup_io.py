"""What backup and restore do to files: root-only archives, consistent copies of the
hub's databases, and homes read and written by their own account.

Homes are read and written by a ``tar`` running as the student (``setpriv``),
never by root: a student who swaps a file for a symlink to ``/etc/shadow``
while the backup runs gets a tar that cannot open it, and a crafted archive
extracted into a home can reach only what that student could write anyway.
"""

from __future__ import annotations

import contextlib
import dbm
import os
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tljh.errors import BackupError
from tljh.system.files import PRIVATE_FILE

#: Environment of the tar processes that run as a student: nothing of root's.
_STUDENT_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def create_private(path: Path) -> int:
    """Open a new file at ``path`` for writing, root-only (0600) from its first byte.

    Never follows a symlink and never reuses an existing file (someone could
    have made it readable, or linked it elsewhere).  Returns the descriptor.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 PRIVATE_FILE)  # fmt: skip
    # The umask can only take bits away; a umask of 0 must not matter either.
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def publish(tmp: Path, target: Path) -> None:
    """Give the finished file ``tmp`` its name ``target``, never replacing one there.

    Raises :class:`BackupError` when ``target`` exists (made meanwhile).
    """
    exists = BackupError(
        f"{target} exists: a backup never overwrites a file",
        "choose another file name, or move the old file away first",
    )
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise exists from None
    except OSError:
        # A file system without hard links (vfat, some network shares): a rename,
        # after one more look, is the closest there is.
        if target.exists() or target.is_symlink():
            raise exists from None
        os.rename(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of the sqlite database ``source`` (sqlite's backup API: the
    hub may be writing to it meanwhile; a file copy could catch half a transaction).

    Raises :class:`BackupError` when it cannot be read.
    """
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as e:
        raise BackupError(
            f"cannot copy the hub's database {source}: {e}",
            "check 'sudo tljh status'; if the database is damaged, restore an older backup",
        ) from None
    os.chmod(target, PRIVATE_FILE)


@contextlib.contextmanager
def dbm_read_lock(path: Path) -> Iterator[None]:
    """Hold a reader's lock on the password database ``path`` (if there is one), so
    that no first login writes to it while it is copied as a file."""
    try:
        db = dbm.open(str(path), "r")  # noqa: SIM115 (held across the yield)
    except (OSError, *dbm.error):
        # Missing, or of a kind without locks: the copy is what it is.
        yield
        return
    try:
        yield
    finally:
        db.close()


def as_account(uid: int, gid: int, argv: list[str]) -> list[str]:
    """``argv`` run as the account ``uid`` (its primary group ``gid`` and its other groups)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", *argv]


class _HomeTar:
    """A tar running as the account of ``home``, the archive going through a pipe;
    what it says on stderr is kept in a temporary file until it has ended."""

    def __init__(self, uid: int, gid: int, home: Path, tar_args: list[str]) -> None:
        self.argv = as_account(uid, gid, ["tar", *tar_args])
        self.home = home
        self._errors: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self, *, extracts: bool) -> subprocess.Popen[bytes]:
        """Start the tar: ``extracts``, the archive goes to its stdin; else it comes
        from its stdout."""
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _wait)
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if extracts else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if extracts else subprocess.PIPE,
            stderr=self._errors,
            cwd="/",
            env=_STUDENT_ENV,
        )
        return self._proc

    def _wait(self) -> tuple[int, str]:
        """Wait for the tar to end: its exit code and what it said."""
        assert self._proc is not None and self._errors is not None
        rc = self._proc.wait()
        self._errors.seek(0)
        text = self._errors.read().decode(errors="replace")
        self._errors.close()
        return rc, text


class HomeReader(_HomeTar):
    """``with HomeReader(uid, gid, home) as tar:`` the home as a tar stream, read by a
    tar running as its account; ``warnings`` lists what it could not read."""

    def __init__(self, uid: int, gid: int, home: Path) -> None:
        super().__init__(
            uid, gid, home, ["--create", "--file=-", "--numeric-owner", f"--directory={home}", "."]
        )
        self.warnings: list[str] = []

    def __enter__(self) -> tarfile.TarFile:
        proc = self._start(extracts=False)
        assert proc.stdout is not None
        return tarfile.open(fileobj=proc.stdout, mode="r|")

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        if self._proc.stdout:
            self._proc.stdout.close()
        rc, text = self._wait()
        if exc[0] is not None:
            return
        lines = [line for line in text.splitlines() if line.strip()]
        if rc == 1 or (rc == 2 and lines):
            # 1: a file changed while it was read; 2: some could not be read.
            # The stream is complete either way: say what is missing, go on.
            self.warnings = [f"{self.home}: {line}" for line in lines]
        elif rc != 0:
            raise BackupError(
                f"reading {self.home} failed (tar exited {rc}): {' '.join(lines[-3:])}",
                "free some space and memory and try again; 'tljh backup' without "
                "--homes leaves homes out",
            )


class HomeWriter(_HomeTar):
    """``with HomeWriter(uid, gid, home) as tar:`` members added to ``tar`` land in the
    home, written by a tar running as its account; files already there are kept."""

    def __init__(self, uid: int, gid: int, home: Path) -> None:
        super().__init__(
            uid,
            gid,
            home,
            [
                "--extract",
                "--file=-",
                f"--directory={home}",
                # Never replace what is there: a restore must not lose files.
                "--skip-old-files",
                "--preserve-permissions",
                "--no-same-owner",
            ],
        )
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> tarfile.TarFile:
        proc = self._start(extracts=True)
        assert proc.stdin is not None
        self._tar = tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT)
        return self._tar

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None and self._tar is not None
        try:
            self._tar.close()
            if self._proc.stdin:
                self._proc.stdin.close()
        except BrokenPipeError:
            pass
        rc, text = self._wait()
        text = text.strip()
        if (exc[0] is None or issubclass(exc[0], BrokenPipeError)) and rc != 0:  # type: ignore[arg-type]
            raise BackupError(
                f"writing into {self.home} failed (tar exited {rc}): {text[-500:]}",
                "free some space in /home and run 'sudo tljh restore' again",
            )
