"""The installer's options, declared once.

``bootstrap/bootstrap.py`` runs before TLJH is installed, as one file piped
into ``python3``, so it cannot import this module.  It carries a generated
copy of :data:`OPTIONS` (see :mod:`tljh.install.bootstrap_copy`), builds its
parser from it, and forwards these options to ``python -m tljh.installer``.
After changing them, regenerate the copy::

    python -m tljh.install.bootstrap_copy --write-bootstrap

A unit test fails while the copy is stale.  Standard library only (besides
tljh.errors, which is too).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tljh.errors import InstallError


@dataclass(frozen=True)
class Option:
    """One command-line option of the installer (and of the bootstrap)."""

    flag: str
    help: str
    metavar: str | None = None
    #: May be given several times; the values add up.
    repeatable: bool = False
    #: Takes one or more values after the flag.
    several: bool = False
    choices: tuple[str, ...] = ()
    #: A switch: present or not, no value.
    switch: bool = False

    @property
    def dest(self) -> str:
        """The name of the :class:`InstallOptions` field (argparse's ``dest``)."""
        return self.flag.removeprefix("--").replace("-", "_")

    def argparse_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``ArgumentParser.add_argument(self.flag, ...)``."""
        kwargs: dict[str, Any] = {}
        if self.switch:
            return {"action": "store_true", "help": self.help}
        if self.repeatable:
            kwargs.update(action="append", default=[])
        if self.several:
            kwargs["nargs"] = "+"
        if self.choices:
            kwargs["choices"] = list(self.choices)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        kwargs["help"] = self.help
        return kwargs


OPTIONS: tuple[Option, ...] = (
    Option(
        "--admin",
        "make NAME an admin of the hub (repeatable; several names per flag); without a "
        "password the first login sets it.  NAME:PASSWORD sets the first-use password, "
        "but everyone on this server can read it in the process list while the install "
        "runs: prefer --admin-password-file",
        metavar="NAME[:PASSWORD]",
        repeatable=True,
        several=True,
    ),
    Option(
        "--admin-password-file",
        "a file only root can read, with one NAME:PASSWORD line per admin: each NAME "
        "becomes an admin with that first-use password",
        metavar="PATH",
    ),
    Option(
        "--plugin",
        "install TLJH plugins from pip specs (repeatable; several specs per flag)",
        metavar="SPEC",
        repeatable=True,
        several=True,
    ),
    Option(
        "--user-requirements-txt-url",
        "a requirements.txt (URL or path) to install into the user environment",
        metavar="URL",
    ),
    Option(
        "--user-env",
        "how to build the user environment: conda (Miniforge: conda, mamba and pip) "
        "or venv (pip only); default: the kind already installed, else conda",
        choices=("conda", "venv"),
    ),
    Option(
        "--conda-installer-url",
        "where to download the Miniforge installer from (a mirror, or a local path)",
        metavar="URL",
    ),
    Option(
        "--conda-installer-sha256",
        "the installer's sha256, when --conda-installer-url serves another file",
        metavar="SHA256",
    ),
    Option(
        "--dry-run",
        "only say what the install would change, step by step; change nothing "
        "(a first install only says that it would install everything)",
        switch=True,
    ),
)


@dataclass(frozen=True)
class InstallOptions:
    """What the admin asked the installer for; one field per :data:`OPTIONS` entry."""

    admin: tuple[str, ...] = ()
    admin_password_file: str | None = None
    plugin: tuple[str, ...] = ()
    user_requirements_txt_url: str | None = None
    user_env: str | None = None
    conda_installer_url: str | None = None
    conda_installer_sha256: str | None = None
    dry_run: bool = False

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> InstallOptions:
        """From a parser :func:`add_options` set up: repeated values joined, empty ones dropped."""
        values: dict[str, Any] = {}
        for option in OPTIONS:
            value = getattr(args, option.dest)
            if option.repeatable:
                groups = value if option.several else [[v] for v in value]
                value = tuple(v for group in groups for v in group if v)
            values[option.dest] = value
        return cls(**values)


@dataclass(frozen=True)
class AdminRequest:
    """One admin the installer was asked for, and the first-use password to set, if any."""

    name: str
    password: str | None = None
    #: Where it was asked for, for messages: "--admin" or "<file>, line N".
    source: str = "--admin"

    def __repr__(self) -> str:
        # Never show the password, not even in a traceback.
        shown = "None" if self.password is None else "'***'"
        return f"AdminRequest(name={self.name!r}, password={shown}, source={self.source!r})"


def split_admin(value: str, source: str = "--admin") -> AdminRequest:
    """``NAME`` or ``NAME:PASSWORD`` (upstream TLJH's form) as a request.

    The name ends at the first ':', so a password may contain ':'.  Raises
    :class:`InstallError` for an empty name or password.
    """
    name, colon, password = value.partition(":")
    if not name.strip() or name != name.strip():
        raise InstallError(
            f"{source}: the admin name is empty or has spaces around it",
            "write the name before the ':', e.g. --admin ms.frizzle (the first login "
            "sets the password) or use --admin-password-file",
        )
    if colon and not password:
        raise InstallError(
            f"{source}: there is no password after '{name}:'",
            f"leave out the ':' (--admin {name}) to let the first login set the password",
        )
    return AdminRequest(name, password if colon else None, source)


def parse_password_lines(text: str, path: str) -> list[AdminRequest]:
    """The ``NAME:PASSWORD`` lines of an admin password file (blank lines and lines
    starting with '#' are skipped).

    Raises :class:`InstallError` naming the line (never its password) when a line
    has no ':' or an empty name or password.
    """
    requests = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        source = f"{path}, line {number}"
        if ":" not in line:
            raise InstallError(
                f"{source} has no ':' between a name and a password",
                "write one NAME:PASSWORD per line, e.g. 'ms.frizzle:a long password'",
            )
        requests.append(split_admin(line.lstrip(), source))
    if not requests:
        raise InstallError(
            f"{path} holds no NAME:PASSWORD line",
            "write one NAME:PASSWORD line per admin, or leave out --admin-password-file",
        )
    return requests


def merge_admins(requests: Sequence[AdminRequest]) -> list[AdminRequest]:
    """One request per name, in first-seen order; a password given once counts.

    Raises :class:`InstallError` when one name is given two different passwords.
    """
    merged: dict[str, AdminRequest] = {}
    for request in requests:
        seen = merged.get(request.name)
        if seen is None or seen.password is None:
            merged[request.name] = request
        elif request.password is not None and request.password != seen.password:
            raise InstallError(
                f"{request.name} is given two different passwords ({seen.source} "
                f"and {request.source})",
                "give each admin one password",
            )
    return list(merged.values())


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add every installer option to ``parser``."""
    for option in OPTIONS:
        parser.add_argument(option.flag, **option.argparse_kwargs())
