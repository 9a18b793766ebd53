"""The admins asked for on the command line, and the first-use passwords given for them.

``--admin NAME`` leaves the password to the admin's first login.  A password
comes either from ``--admin NAME:PASSWORD`` (upstream TLJH's form: every user
of the server can read it in the process list while the installer runs) or
from ``--admin-password-file``, which must be root's alone.
"""

from __future__ import annotations

import logging
import os
import stat

from tljh.errors import InstallError
from tljh.install.context import Context
from tljh.install.options import AdminRequest, merge_admins, parse_password_lines, split_admin
from tljh.render.hub import firstuse_settings
from tljh.system import firstuse

log = logging.getLogger(__name__)


def read_password_file(path: str) -> str:
    """The text of an admin password file, which must be a regular file of root's
    that nobody else may read or change.

    Raises :class:`InstallError` otherwise, with the commands that fix it.
    """
    fix = f"sudo chown root:root {path} && sudo chmod 600 {path}"
    try:
        # O_NOFOLLOW|O_NONBLOCK: neither a symlink's target nor a FIFO that blocks;
        # the checks below are on what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InstallError(
            f"--admin-password-file: {path} does not exist",
            "give the path of a file holding NAME:PASSWORD lines",
        ) from None
    except OSError as e:
        raise InstallError(
            f"--admin-password-file: cannot open {path}: {e.strerror}",
            "give a regular file (not a symlink) holding NAME:PASSWORD lines",
        ) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise InstallError(
                f"--admin-password-file: {path} is not a regular file",
                "give a file holding NAME:PASSWORD lines",
            )
        if st.st_uid != 0 or st.st_mode & 0o077:
            raise InstallError(
                f"--admin-password-file: {path} may be read or changed by users other than "
                f"root (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); its "
                "passwords may already be known",
                f"run '{fix}', consider changing the passwords in it, then run the installer again",
            )
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InstallError(
            f"--admin-password-file: {path} is not UTF-8 text",
            "save it as plain text, one NAME:PASSWORD line per admin",
        ) from None


def requested_admins(ctx: Context) -> list[AdminRequest]:
    """Every admin of ``--admin`` and ``--admin-password-file``, once each (cached in ``ctx``).

    Raises :class:`InstallError` for a bad entry or password file.
    """
    if ctx.admins is None:
        requests = [split_admin(value) for value in ctx.options.admin]
        path = ctx.options.admin_password_file
        if path:
            requests += parse_password_lines(read_password_file(path), path)
        ctx.admins = merge_admins(requests)
    return ctx.admins


def passwords_to_set(ctx: Context) -> list[AdminRequest]:
    """The admins given with a password that the database does not hold yet."""
    _, path, _ = firstuse_settings(ctx.config, ctx.layout)
    return [
        r
        for r in requested_admins(ctx)
        if r.password is not None
        and not firstuse.password_matches(path, r.name.lower(), r.password)
    ]


def step_admin_passwords(ctx: Context) -> list[str]:
    """Store the given passwords in FirstUseAuthenticator's database.

    Raises :class:`InstallError` for a password shorter than the authenticator
    accepts on a first login.
    """
    with_password = [r for r in requested_admins(ctx) if r.password is not None]
    if any(r.source == "--admin" for r in with_password):
        log.warning(
            "warning: a password given as --admin NAME:PASSWORD can be read by every user "
            "of this server in the process list while the installer runs; use "
            "--admin-password-file next time, and consider changing the password"
        )
    if not with_password:
        return []
    used, path, min_length = firstuse_settings(ctx.config, ctx.layout)
    if not used:
        log.warning(
            "warning: the hub does not log in with FirstUseAuthenticator (auth.type), so the "
            "passwords given for admins are stored for it but have no effect"
        )
    changes = []
    for request in with_password:
        assert request.password is not None
        if len(request.password) < min_length:
            raise InstallError(
                f"the password for {request.name} ({request.source}) is shorter than "
                f"{min_length} characters, which the login page would refuse",
                "give a longer password (auth.FirstUseAuthenticator.min_password_length "
                "sets the minimum)",
            )
        # The authenticator looks passwords up under the normalized (lower-case) name.
        if firstuse.set_password(path, request.name.lower(), request.password):
            changes.append(f"set the password of {request.name} in {path}")
    return changes
