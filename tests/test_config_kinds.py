"""The parsers of tljh.config.kinds, which validation and rendering share."""

from __future__ import annotations

from typing import Any

import pytest

from tljh.config.kinds import (
    KindError,
    certificate_domains,
    domain_problem,
    email_or_empty_problem,
    host_port,
    ip_or_empty_problem,
    ip_problem,
    memory_problem,
    parse_memory,
    parse_port,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("512M", 512 * 1024**2),
        ("1.5G", int(1.5 * 1024**3)),
        ("100K", 100 * 1024),
        ("2T", 2 * 1024**4),
        (1024**2, 1024**2),
    ],
)
def test_parse_memory(value: Any, expected: int) -> None:
    assert parse_memory(value) == expected
    assert memory_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2g", "'2g' is not a memory size; write it as 2G"),
        ("2 G", "'2 G' is not a memory size; write it as 2G"),
        ("2", "'2' has no unit; use K, M, G or T, e.g. 2G"),
        ("2GiB", "'2GiB' is not a memory size; use a number with K, M, G or T, e.g. 2G"),
        ("0G", "'0G' must be more than 0; use null (or unset it) for no limit"),
        (0, "0 must be more than 0 bytes; use null (or unset it) for no limit"),
        (512, "512 bytes is less than 1M; did you mean 512M?"),
        (1.5, "1.5 is not a memory size; use a number with K, M, G or T, e.g. 2G"),
        (True, "true is not a memory size; use a number with K, M, G or T, e.g. 2G"),
    ],
)
def test_parse_memory_refuses(value: Any, problem: str) -> None:
    with pytest.raises(KindError) as e:
        parse_memory(value)
    assert str(e.value) == problem
    assert memory_problem(value) == problem


def test_parse_port() -> None:
    assert parse_port(1) == 1
    assert parse_port(65535) == 65535
    for bad, text in ((0, "too small"), (65536, "too large"), (True, "is not"), ("80", "is not")):
        with pytest.raises(KindError, match=text):
            parse_port(bad)


def test_ip_addresses() -> None:
    assert ip_problem("127.0.0.1") is None
    assert ip_problem("::1") is None
    assert ip_problem("localhost") == "'localhost' is not an IP address; use 127.0.0.1"
    assert ip_problem("1.2.3") is not None
    assert ip_or_empty_problem("") is None
    assert ip_or_empty_problem("x") is not None


@pytest.mark.parametrize(
    ("ip", "port", "expected"),
    [("", 80, ":80"), ("10.0.0.5", 8000, "10.0.0.5:8000"), ("::1", 9000, "[::1]:9000")],
)
def test_host_port(ip: str, port: int, expected: str) -> None:
    assert host_port(ip, port) == expected


def test_email() -> None:
    assert email_or_empty_problem("") is None
    assert email_or_empty_problem("you@example.org") is None
    assert email_or_empty_problem("you@localhost") == "'you@localhost' is not an email address"


def test_domains() -> None:
    assert domain_problem("hub.example.org") is None
    assert domain_problem("hub.example.org.") is None
    assert "wildcard" in (domain_problem("*.example.org") or "")
    assert "IP address" in (domain_problem("10.0.0.1") or "")
    assert domain_problem("hub") is not None
    assert certificate_domains(["a.example.org"]) == {"main": "a.example.org"}
    assert certificate_domains(["a.example.org", "b.example.org"]) == {
        "main": "a.example.org",
        "sans": ["b.example.org"],
    }
    with pytest.raises(KindError):
        certificate_domains([])
