"""The one exception hierarchy of TLJH.

Every error carries a one-line reason and, where we know one, a hint that tells
the admin what to do next.  Command-line entry points print both and exit
non-zero instead of showing a traceback.
"""

from __future__ import annotations


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


class ConfigValidationError(ConfigError):
    """The configuration does not match the schema; ``problems`` lists each one."""

    def __init__(self, problems: list[str], hint: str = "") -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems in the config:\n  " + "\n  ".join(
                self.problems
            )
        super().__init__(
            message,
            hint
            or "fix the value(s) named above, e.g. with 'tljh-config set KEY VALUE' "
            "or 'tljh-config unset KEY'",
        )


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
