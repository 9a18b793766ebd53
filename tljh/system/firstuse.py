"""The password database of FirstUseAuthenticator, the default login.

It is a ``dbm`` file of login name -> bcrypt hash, which the authenticator
opens for every login.  The installer runs on the hub environment's Python,
as the hub does, so ``dbm`` picks the same backend for a new file, and
``dbm.open`` recognises the backend of an existing one.
"""

from __future__ import annotations

import dbm
import time
from pathlib import Path

import bcrypt

from tljh.system.files import PRIVATE_FILE

# The hub opens the file for a moment at each login; gdbm refuses a second
# writer meanwhile.
_BUSY_RETRIES = 40
_BUSY_DELAY = 0.05


def _open(path: Path) -> dbm._Database:
    for attempt in range(_BUSY_RETRIES):
        try:
            return dbm.open(str(path), "c", PRIVATE_FILE)
        except dbm.error:
            if attempt == _BUSY_RETRIES - 1:
                raise
            time.sleep(_BUSY_DELAY)
    raise AssertionError("unreachable")


def password_matches(path: Path, name: str, password: str) -> bool:
    """Whether ``name`` has a password in the database and it is ``password``.

    Opens the database read-only: asking never creates it (``--dry-run`` asks).
    """
    try:
        with dbm.open(str(path), "r") as db:
            stored = db.get(name.encode("utf-8"))
    except dbm.error:
        # Missing, or busy with a writer: "no" only costs a rewrite of the same password.
        return False
    if stored is None:
        return False
    return bcrypt.checkpw(password.encode("utf-8"), bytes(stored))


def set_password(path: Path, name: str, password: str) -> bool:
    """Store ``password`` for the login ``name``, the way the authenticator does on a
    first login.  Returns False when it is already the stored password."""
    if password_matches(path, name, password):
        return False
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt())
    with _open(path) as db:
        db[name.encode("utf-8")] = hashed
    return True
