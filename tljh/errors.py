"""The one exception hierarchy of TLJH.

Every error carries a one-line reason and, where we know one, a hint that tells
the admin what to do next.  Command-line entry points print both and exit
non-zero instead of showing a traceback.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field


class TLJHError(Exception):
    """Base class for every error TLJH raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """The text shown to an admin: reason, then the hint on its own line."""
        if self.hint:
            return f"error: {self.message}\nhint: {self.hint}"
        return f"error: {self.message}"


class ConfigError(TLJHError):
    """The configuration file is missing, unreadable or invalid."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration, as found by validation.

    It lives here, at the bottom, so that :class:`ConfigValidationError` can
    carry problems without this module importing :mod:`tljh.config`.
    """

    #: The dotted key the problem is about; "" for the whole file.
    path: str
    #: What is wrong (and, where we can tell, what to write instead).
    message: str
    hint: str = ""
    #: For a problem with one item of the list at ``path``: its index.
    item: int | None = None
    #: What kind of problem it is, so callers decide without reading the
    #: message: ``"value"`` (a value that cannot be applied), ``"unknown-key"``
    #: (a key TLJH does not know), ``"renamed-key"`` (a key of an older
    #: release, now called something else) or ``"key-name"`` (a name that
    #: cannot be used as a key here, e.g. an invalid group name).
    #: :func:`tljh.config.validate.blocking` is the rule that reads it.
    kind: str = "value"
    #: The key path as its parts, for names that hold dots (not compared).
    parts: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigValidationError(ConfigError):
    """The configuration does not match the schema; ``problems`` lists each one."""

    def __init__(self, problems: Iterable[Problem], hint: str = "") -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            message = f"{len(lines)} problems in the config:\n  " + "\n  ".join(lines)
        super().__init__(
            message,
            hint
            or "fix the value(s) named above, e.g. with 'tljh-config set KEY VALUE' "
            "or 'tljh-config unset KEY'",
        )


class KeyNotSetError(ConfigError):
    """A dotted key an edit or a lookup needs is not in the config file."""

    def __init__(self, key: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.key = key


class LockedError(TLJHError):
    """Another process holds a lock we need (e.g. another tljh-config edit)."""


class CommandFailed(TLJHError):
    """An external command (apt, pip, useradd, systemctl, ...) failed."""

    def __init__(self, argv: list[str], returncode: int, output: str = "", hint: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-15:])
        message = f"command failed (exit {returncode}): {' '.join(argv)}"
        if tail:
            message += "\n" + tail
        super().__init__(message, hint)


class HostError(TLJHError):
    """The machine cannot run TLJH (wrong OS, not root, no systemd, ...)."""


class PluginError(TLJHError):
    """An installed TLJH plugin cannot be loaded."""


class InstallError(TLJHError):
    """An install step could not complete."""


class UnhealthyError(TLJHError):
    """The hub or proxy did not become healthy within the allowed time."""


def journal_hint(unit: str) -> str:
    """The hint for a unit that did not come back: where its whole log is, then what to run."""
    return (
        f"see 'sudo journalctl -u {unit} -n 100' for the whole story; "
        "fix the cause and run 'sudo tljh-config reload'"
    )


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _indent(text: str) -> str:
    # Traefik colours its log lines; the escapes are noise in a message.
    plain = _ANSI.sub("", text)
    return "\n".join(f"  | {line}" for line in plain.rstrip().splitlines())


class StartFailed(UnhealthyError):
    """A unit did not come back healthy after a restart."""

    def __init__(self, unit: str, reason: str, journal: str) -> None:
        self.unit = unit
        self.reason = reason
        self.journal = journal
        text = f"{unit} {reason}"
        if journal.strip():
            text += f"\nwhat it logged since the restart:\n{_indent(journal)}"
        super().__init__(text, journal_hint(unit))


class ApplyFailed(UnhealthyError):
    """Applying a configuration failed; ``rolled_back`` tells if the old one runs again."""

    def __init__(self, message: str, hint: str, rolled_back: bool) -> None:
        super().__init__(message, hint)
        self.rolled_back = rolled_back


class ConfigRefused(ConfigError):
    """The hub would not start with a configuration: found before anything was restarted."""


class Interrupted(TLJHError):
    """A signal (Ctrl-C, a dropped SSH session, ``kill``) stopped a change half-way.

    Raised where the command was, so the change can be undone like any other
    failure; the exit code is the shell's for that signal (130 for Ctrl-C).
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal_name(signum)}")


def signal_name(signum: int) -> str:
    """``SIGINT (Ctrl-C)``, ``SIGHUP (the terminal closed)``, ... for messages."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
    why = {"SIGINT": "Ctrl-C", "SIGHUP": "the terminal or SSH session closed"}.get(name)
    return f"{name} ({why})" if why else name


class HubAPIError(TLJHError):
    """The hub's REST API did not answer as expected; ``status`` is the HTTP status
    (0: no answer at all)."""

    def __init__(self, message: str, hint: str = "", status: int = 0) -> None:
        super().__init__(message, hint)
        self.status = status


class UserError(TLJHError):
    """A user cannot be listed, removed or given an account as asked."""


class SpawnError(TLJHError):
    """A user's server cannot start; JupyterHub shows why on the spawn page."""

    @property
    def jupyterhub_message(self) -> str:
        """What JupyterHub shows on the spawn page and in its API's error (the hint too)."""
        return f"{self.message}. {self.hint}" if self.hint else self.message


class AccountConflict(SpawnError):
    """A hub user's system account is, or may be, another hub user's."""


class ServerStartFailed(SpawnError):
    """A user's server unit ended, or never answered, while it was starting.

    ``journal`` holds what that run of the unit logged (its last lines): the
    reason, in the words of whatever failed.
    """

    def __init__(self, unit: str, reason: str, journal: str) -> None:
        self.unit = unit
        self.reason = reason
        self.journal = journal
        text = f"the server {reason}"
        if journal.strip():
            text += f"; its last log lines:\n{_indent(journal)}"
        super().__init__(
            text,
            "tell an admin of this hub; they can read the whole log with "
            f"'sudo journalctl -u {unit}'",
        )

    @property
    def jupyterhub_message(self) -> str:
        return f"{self.message}\n{self.hint}"


class PortTaken(StartFailed):
    """A port the proxy must listen on is held by another program."""

    def __init__(self, unit: str, port: int, key: str, holders: str) -> None:
        super().__init__(unit, f"cannot listen on port {port} ({key}): {holders} holds it", "")
        self.port = port
        self.hint = (
            f"stop that program (or keep it off port {port}), or give the hub another port "
            f"with 'sudo tljh-config set {key} <port>'; 'sudo ss -ltnp' lists what listens where"
        )


class ExportError(TLJHError):
    """An export for another deployment (``tljh export``) cannot be written as asked."""


class BackupError(TLJHError):
    """A backup could not be written, or a restore could not be done."""


class ArchiveRefused(BackupError):
    """A backup archive that ``tljh restore`` will not use: damaged, from a newer
    release, or holding members that could write outside the places it restores."""


class RestoreFailed(BackupError):
    """A restore failed half-way; ``rolled_back`` tells whether what it replaced is back."""

    def __init__(self, message: str, hint: str, rolled_back: bool) -> None:
        super().__init__(message, hint)
        self.rolled_back = rolled_back


class UninstallError(TLJHError):
    """``tljh uninstall`` could not remove something (what was removed before stays removed)."""
