"""One parser per kind of value: memory sizes, ports, IP addresses, e-mail, domains.

Validation and rendering use the same functions, so the language a value is
checked in is the language it is converted from.  Each ``parse_*`` returns
the value in the form the rest of TLJH uses, or raises :class:`KindError`
whose text is the problem shown to the admin (without the key path, which
the caller knows).  The ``*_problem`` helpers return that text, or None.

Standard library only: ``tljh-config set`` imports this module.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any


class KindError(ValueError):
    """A value is not of its kind; ``str()`` is the problem, without the key path."""


def describe(value: Any) -> str:
    """A short rendering of a value for messages: '2 GB', 1234, true, null, a list."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a section"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    return str(value)


def _problem(parse: Callable[[Any], object], value: Any) -> str | None:
    try:
        parse(value)
    except KindError as e:
        return str(e)
    return None


# --- memory sizes ----------------------------------------------------------------

_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT])$")
_MEMORY_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_MEMORY_EXAMPLE = "use a number with K, M, G or T, e.g. 2G"


def parse_memory(value: Any) -> int:
    """A memory size in bytes: ``"512M"``, ``"1.5G"`` (K, M, G, T are powers of
    1024), or a whole number of bytes of at least 1M."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise KindError(f"{describe(value)} is not a memory size; {_MEMORY_EXAMPLE}")
    if isinstance(value, int):
        if value <= 0:
            raise KindError(
                f"{value} must be more than 0 bytes; use null (or unset it) for no limit"
            )
        if value < 1024 * 1024:
            raise KindError(f"{value} bytes is less than 1M; did you mean {value}M?")
        return value
    m = _MEMORY_RE.match(value)
    if m is None:
        upper = value.strip().upper().replace(" ", "")
        if _MEMORY_RE.match(upper):
            raise KindError(f"{describe(value)} is not a memory size; write it as {upper}")
        if re.match(r"^\d+(\.\d+)?$", value.strip()):
            raise KindError(
                f"{describe(value)} has no unit; use K, M, G or T, e.g. {value.strip()}G"
            )
        raise KindError(f"{describe(value)} is not a memory size; {_MEMORY_EXAMPLE}")
    number, unit = float(m.group(1)), m.group(2)
    if number <= 0:
        raise KindError(
            f"{describe(value)} must be more than 0; use null (or unset it) for no limit"
        )
    return int(number * _MEMORY_UNITS[unit])


def memory_problem(value: Any) -> str | None:
    """Why ``value`` is not a memory size, or None."""
    return _problem(parse_memory, value)


# --- ports ---------------------------------------------------------------------------

PORT_MIN = 1
PORT_MAX = 65535
PORT_EXPECT = f"a port number from {PORT_MIN} to {PORT_MAX}"


def parse_port(value: Any) -> int:
    """A TCP port: a whole number from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise KindError(f"{describe(value)} is not {PORT_EXPECT}")
    if value < PORT_MIN:
        raise KindError(f"{value} is too small; expected {PORT_EXPECT}")
    if value > PORT_MAX:
        raise KindError(f"{value} is too large; expected {PORT_EXPECT}")
    return value


def port_problem(value: Any) -> str | None:
    """Why ``value`` is not a port number, or None."""
    return _problem(parse_port, value)


# --- IP addresses --------------------------------------------------------------------


def parse_ip(value: Any) -> str:
    """An IP address (v4 or v6), as written."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if value == "localhost":
            raise KindError("'localhost' is not an IP address; use 127.0.0.1") from None
        raise KindError(f"{describe(value)} is not an IP address (like 127.0.0.1 or ::1)") from None
    return str(value)


def ip_problem(value: Any) -> str | None:
    """Why ``value`` is not an IP address, or None."""
    return _problem(parse_ip, value)


def ip_or_empty_problem(value: Any) -> str | None:
    """Like :func:`ip_problem`, but "" (all addresses) is fine too."""
    return None if value == "" else ip_problem(value)


def host_port(ip: str, port: int) -> str:
    """``ip:port`` as URLs and listen addresses write it (``[::1]:80``; ``:80`` for all)."""
    host = ip if ":" not in ip or ip.startswith("[") else f"[{ip}]"
    return f"{host}:{port}"


# --- e-mail addresses ----------------------------------------------------------------

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_email(value: Any) -> str:
    """An e-mail address (a plausible one: name, '@', a dotted domain)."""
    if not isinstance(value, str) or not _EMAIL_RE.match(value):
        raise KindError(f"{describe(value)} is not an email address")
    return value


def email_or_empty_problem(value: Any) -> str | None:
    """Why ``value`` is neither "" nor an e-mail address, or None."""
    return None if value == "" else _problem(parse_email, value)


# --- domain names --------------------------------------------------------------------

_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_domain(value: Any) -> str:
    """A fully qualified domain name Let's Encrypt can issue a certificate for."""
    if not isinstance(value, str):
        raise KindError(f"{describe(value)} is not a domain name (like hub.example.org)")
    if value.startswith("*."):
        raise KindError(
            f"{describe(value)}: wildcard names need a DNS challenge, which is not supported"
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise KindError(f"{describe(value)} is an IP address; Let's Encrypt needs a domain name")
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL_RE.match(x) for x in labels):
        raise KindError(f"{describe(value)} is not a domain name (like hub.example.org)")
    return value


def domain_problem(value: Any) -> str | None:
    """Why ``value`` is not a domain name, or None."""
    return _problem(parse_domain, value)


def certificate_domains(domains: list[str]) -> dict[str, Any]:
    """A list of domain names as a certificate names them: ``{"main": first, "sans": rest}``.

    Raises :class:`KindError` for an empty list or an item that is not a domain name.
    """
    names = [parse_domain(d) for d in domains]
    if not names:
        raise KindError("empty; a certificate needs at least one domain")
    out: dict[str, Any] = {"main": names[0]}
    if names[1:]:
        out["sans"] = names[1:]
    return out
