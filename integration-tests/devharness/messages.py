"""How the harness talks to the user, and how it stops on a problem it can explain."""

from __future__ import annotations

from typing import NoReturn


class HarnessError(Exception):
    """A problem the harness explains to the user and stops on."""


def say(msg: str) -> None:
    print(f"[harness] {msg}", flush=True)


def die(msg: str) -> NoReturn:
    raise HarnessError(msg)
