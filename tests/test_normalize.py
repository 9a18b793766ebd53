"""System user names: valid for useradd on Debian 12 and 13, readable, injective."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest

from tljh.system.usernames import (
    MAX_LENGTH,
    generate_system_username,
    legacy_system_username,
    system_username,
)

# What useradd on Debian 13 accepts, restricted to the portable subset we promise.
VALID = re.compile(r"[a-z][a-z0-9_-]*\Z")

NAMES = [
    "alice",
    "Alice",
    "ALICE",
    "a.b",
    "a-b",
    "a_b",
    "a b",
    "a@b",
    "alice@example.com",
    "Alice@Example.com",
    "alice.smith@example.com",
    "alice-example-com",
    "josé",
    "jose",
    "名前",
    "名字",
    "Ωmega",
    "1234",
    "0",
    "-",
    "--",
    "",
    "x" * 17,
    "x" * 18,
    "x" * 40,
    "x" * 41,
    "y" * 200,
    "a" * 17 + "-12345678",
    "user/../root",
    "tab\tname",
    "emoji😀",
    "$dollar",
    "trailing-",
]


@pytest.mark.parametrize("name", NAMES)
def test_valid_for_useradd(name: str) -> None:
    result = system_username(name)
    assert VALID.match(result), result
    assert len(result) <= MAX_LENGTH
    assert result.startswith("jupyter-")


def test_injective_over_sample() -> None:
    results = {name: system_username(name) for name in NAMES}
    for (a, ra), (b, rb) in itertools.combinations(results.items(), 2):
        assert ra != rb, f"{a!r} and {b!r} both map to {ra}"


@pytest.mark.parametrize(
    "a,b",
    [
        ("a.b", "a-b"),
        ("Alice", "alice"),
        ("a@b", "a-b"),
        ("a b", "a_b"),
        ("josé", "jose"),
        ("x" * 40, "x" * 41),
        ("x" * 40 + "1", "x" * 40 + "2"),
        ("long.name.with.dots.beyond.limit1", "long.name.with.dots.beyond.limit2"),
    ],
)
def test_collisions(a: str, b: str) -> None:
    assert system_username(a) != system_username(b)


def test_safe_short_names_unchanged() -> None:
    assert system_username("alice") == "jupyter-alice"
    assert system_username("a-b") == "jupyter-a-b"
    assert system_username("bob_2") == "jupyter-bob_2"


def test_readable_when_sanitized() -> None:
    result = system_username("Alice.Smith@uni.edu")
    assert result.startswith("jupyter-alice-smith-uni")
    assert re.search(r"-[0-9a-f]{8}\Z", result)
    assert system_username("josé").startswith("jupyter-jose-")


def test_deterministic() -> None:
    assert system_username("Alice@x.org") == system_username("Alice@x.org")


def test_lengths() -> None:
    for n in range(1, 80):
        result = system_username("z" * n)
        assert len(result) <= MAX_LENGTH
        if len("jupyter-" + "z" * n) <= 25:
            assert result == "jupyter-" + "z" * n


def test_compatible_with_earlier_releases() -> None:
    # Earlier releases: names under 26 characters kept, longer ones cut to 26
    # characters plus '-' and 5 hex digits of sha256 of the full name.
    long = "jupyter-" + "abcdefghij" * 4
    digest = hashlib.sha256(long.encode()).hexdigest()[:5]
    assert generate_system_username(long) == f"jupyter-abcdefghijabcdefgh-{digest}"
    assert generate_system_username("jupyter-alice") == "jupyter-alice"
    assert legacy_system_username("a.b") == "jupyter-a.b"
    assert legacy_system_username("x" * 40) == system_username("x" * 40)


def test_prefix_is_part_of_the_input() -> None:
    # generate_system_username takes the full requested name, as plugins call it.
    assert generate_system_username("jupyter-alice") == system_username("alice")
