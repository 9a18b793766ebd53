"""Which components a change restarts, and in which order: pure, no files or processes."""

from __future__ import annotations

import pytest

from tljh.apply.plan import UNITS, changed_components, component_names, ordered
from tljh.apply.snapshot import Snapshot


def snap(
    config: str, hub: dict[str, bytes] | None = None, proxy: dict[str, bytes] | None = None
) -> Snapshot:
    return Snapshot(config.encode(), hub or {}, proxy or {})


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("limits:\n  memory: 1G\n", "limits:\n  memory: 2G\n", {"hub"}),
        ("limits:\n  memory: 1G\n", "# a comment only\nlimits:\n  memory: 1G\n", set()),
        ("{}", "http:\n  port: 8080\n", {"proxy", "hub"}),
        ("{}", "traefik_api:\n  port: 9000\n", {"proxy", "hub"}),
        ("auth:\n  type: dummy\n", "auth:\n  type: firstuse\n", {"hub"}),
        ("{}", "users:\n  admin: [alice]\n", {"hub"}),
        ("{}", "myplugin:\n  x: 1\n", {"hub"}),
        ("{}", "limits: [\n", {"hub", "proxy"}),
    ],
)
def test_changed_components(before: str, after: str, expected: set[str]) -> None:
    assert changed_components(snap(before), snap(after)) == expected


def test_changed_components_of_snippets_and_unknown_start() -> None:
    base = snap("{}")
    assert changed_components(base, snap("{}", hub={"a.py": b"x"})) == {"hub"}
    assert changed_components(base, snap("{}", proxy={"a.toml": b"x"})) == {"proxy"}
    assert changed_components(None, base) == {"hub", "proxy"}


def test_a_missing_config_file_is_an_empty_config() -> None:
    assert changed_components(Snapshot(None), snap("{}")) == set()
    assert changed_components(Snapshot(None), snap("limits:\n  memory: 1G\n")) == {"hub"}


def test_a_config_that_is_not_a_mapping_restarts_both() -> None:
    assert changed_components(snap("{}"), snap("- a\n- b\n")) == {"hub", "proxy"}
    assert changed_components(snap("{}"), Snapshot(b"\xff\xfe")) == {"hub", "proxy"}


def test_the_proxy_restarts_before_the_hub() -> None:
    assert ordered({"hub", "proxy"}) == ["proxy", "hub"]
    assert ordered(["hub", "hub"]) == ["hub"]
    assert ordered([]) == []


def test_component_names() -> None:
    assert component_names(["hub", "proxy"]) == "the proxy and the hub"
    assert component_names({"hub"}) == "the hub"
    assert component_names([]) == ""


def test_every_component_has_its_unit() -> None:
    assert UNITS == {"hub": "jupyterhub.service", "proxy": "traefik.service"}
