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


def test_compatible_with_upstream_for_names_that_need_no_hash() -> None:
    # What upstream plugins get from tljh.normalize for short safe names.
    import tljh.normalize

    for name in ("jupyter-alice", "jupyter-a-b", "jupyter-bob_2", "jupyter-" + "z" * 17):
        assert tljh.normalize.generate_system_username(name) == name


def test_legacy_rule_is_upstreams() -> None:
    # Upstream TLJH: names under 26 characters kept as they are, longer ones cut
    # to 26 characters plus '-' and 5 hex digits of sha256 of the full name.
    long = "jupyter-" + "abcdefghij" * 4
    digest = hashlib.sha256(long.encode()).hexdigest()[:5]
    assert legacy_system_username("abcdefghij" * 4) == f"jupyter-abcdefghijabcdefgh-{digest}"
    assert legacy_system_username("a.b") == "jupyter-a.b"
    assert legacy_system_username("alice") == system_username("alice")


@pytest.mark.parametrize("name", ["x" * 18, "x" * 40, "abcdefghij" * 4, "y" * 200, "A.b" * 20])
def test_every_hash_has_at_least_32_bits(name: str) -> None:
    # 5 hex digits (20 bits) collide in about a million tries: seconds of Python.
    result = system_username(name)
    assert re.search(r"-[0-9a-f]{8}\Z", result), result
    assert len(result) <= MAX_LENGTH
    assert result != legacy_system_username(name)


def test_the_short_hash_collides() -> None:
    # Why new names never get the 5-digit hash: this pair was found in a
    # fraction of a second and shares an upstream account name.
    a, b = "collision-victim-name-394", "collision-victim-name-825"
    assert legacy_system_username(a) == legacy_system_username(b)
    assert system_username(a) != system_username(b)


def test_prefix_is_part_of_the_input() -> None:
    # generate_system_username takes the full requested name, as plugins call it.
    assert generate_system_username("jupyter-alice") == system_username("alice")
