"""Per-group and per-user limits: the schema, the resolution, and what the spawner gets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tljh.config.schema import with_defaults
from tljh.config.validate import check
from tljh.config.values import get_value, parse_value, set_value, split_key, unset_value
from tljh.errors import ConfigValidationError
from tljh.hub.spawner import UserCreatingSpawner
from tljh.layout import Layout
from tljh.render.hub import traitlets_from_config
from tljh.render.limits import Limits, effective_limits, limits_by_name

G = 1024**3
GENERAL = Limits(memory=1 * G, cpu=1.0)
BY_GROUP = {
    "instructors": Limits(memory=4 * G, cpu=2.0),
    "assistants": Limits(memory=2 * G, cpu=4.0),
    "gpu": Limits(cpu=8.0),
}
BY_USER = {"ms.frizzle": Limits(memory=8 * G)}


def test_without_groups_or_user_entries_the_general_limit_applies() -> None:
    limits = effective_limits("arnold", [], GENERAL, BY_GROUP, BY_USER)
    assert (limits.memory, limits.cpu) == (1 * G, 1.0)
    assert limits.memory_from == limits.cpu_from == "general"
    # Groups without an entry change nothing.
    assert effective_limits("arnold", ["class-a"], GENERAL, BY_GROUP, BY_USER).memory == 1 * G


def test_a_group_entry_wins_over_the_general_limit() -> None:
    limits = effective_limits("carlos", ["instructors"], GENERAL, BY_GROUP, {})
    assert (limits.memory, limits.cpu) == (4 * G, 2.0)
    assert limits.memory_from == "group instructors"


def test_in_several_groups_the_largest_value_of_each() -> None:
    limits = effective_limits("carlos", ["assistants", "instructors"], GENERAL, BY_GROUP, {})
    assert (limits.memory, limits.cpu) == (4 * G, 4.0)
    assert (limits.memory_from, limits.cpu_from) == ("group instructors", "group assistants")
    # A group that sets only cpu leaves memory to the others.
    limits = effective_limits("carlos", ["gpu"], GENERAL, BY_GROUP, {})
    assert (limits.memory, limits.cpu) == (1 * G, 8.0)


def test_a_user_entry_wins_over_groups_key_by_key() -> None:
    limits = effective_limits("ms.frizzle", ["instructors"], GENERAL, BY_GROUP, BY_USER)
    assert (limits.memory, limits.cpu) == (8 * G, 2.0)
    assert (limits.memory_from, limits.cpu_from) == ("user ms.frizzle", "group instructors")
    # More specific wins even when it is smaller.
    small = effective_limits(
        "ms.frizzle", ["instructors"], GENERAL, BY_GROUP, {"ms.frizzle": Limits(memory=G // 2)}
    )
    assert small.memory == G // 2


def test_no_general_limit_stays_none() -> None:
    limits = effective_limits("arnold", [], Limits(), BY_GROUP, BY_USER)
    assert (limits.memory, limits.cpu) == (None, None)


def set_key(config: dict[str, Any], key: str, text: str) -> None:
    set_value(config, key, parse_value(key, text))


def test_names_with_dots_are_one_key() -> None:
    assert split_key("limits.users.ms.frizzle.memory") == [
        "limits",
        "users",
        "ms.frizzle",
        "memory",
    ]
    assert split_key("limits.users.ada@example.org") == ["limits", "users", "ada@example.org"]
    assert split_key("limits.groups.year.2.cpu") == ["limits", "groups", "year.2", "cpu"]
    assert split_key("limits.memory") == ["limits", "memory"]
    config: dict[str, Any] = {}
    set_key(config, "limits.users.ms.frizzle.memory", "4G")
    set_key(config, "limits.groups.instructors.cpu", "2")
    assert config == {
        "limits": {"users": {"ms.frizzle": {"memory": "4G"}}, "groups": {"instructors": {"cpu": 2}}}
    }
    check(config)
    assert get_value(config, "limits.users.ms.frizzle.memory") == "4G"
    unset_value(config, "limits.users.ms.frizzle")
    assert "users" not in config["limits"]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"limits": {"users": {"ada": {"memory": "4g"}}}}, "limits.users.ada.memory"),
        ({"limits": {"users": {"ada": {"memory": 100}}}}, "limits.users.ada.memory"),
        ({"limits": {"groups": {"x": {"cpu": 0}}}}, "limits.groups.x.cpu"),
        ({"limits": {"groups": {"x": {"mem": "1G"}}}}, "limits.groups.x.mem"),
        ({"limits": {"groups": {"x": "4G"}}}, "limits.groups.x"),
        ({"limits": {"groups": {" x": {"cpu": 1}}}}, "limits.groups. x"),
    ],
)
def test_entries_use_the_grammar_of_the_general_limits(config: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigValidationError) as e:
        check(config)
    assert [p.path for p in e.value.problems] == [path]


def test_config_to_spawner_traits() -> None:
    config = with_defaults(
        {
            "limits": {
                "memory": "1G",
                "groups": {"instructors": {"memory": "4G", "cpu": 2}, "empty": None},
                "users": {"Ms.Frizzle": {"cpu": 0.5}},
            }
        }
    )
    traits = traitlets_from_config(config, Layout())
    assert traits["Spawner"]["mem_limit"] == G
    spawner = traits["UserCreatingSpawner"]
    assert spawner["limits_by_group"] == {
        "instructors": {"memory": 4 * G, "cpu": 2.0},
        "empty": {"memory": None, "cpu": None},
    }
    assert spawner["limits_by_user"] == {"ms.frizzle": {"memory": None, "cpu": 0.5}}
    assert limits_by_name(None) == {}


def make_spawner(name: str, groups: list[str], **kw: Any) -> Any:
    user = SimpleNamespace(
        name=name,
        id=7,
        admin=False,
        url=f"/user/{name}/",
        groups=[SimpleNamespace(name=g) for g in groups],
    )
    orm_spawner = SimpleNamespace(name="", server=None, display_name="")
    return UserCreatingSpawner(user=user, orm_spawner=orm_spawner, **kw)


def test_the_spawner_falls_back_to_its_configured_limits() -> None:
    kw = {
        "mem_limit": 3 * G,
        "cpu_limit": 1.5,
        "limits_by_group": {"instructors": {"memory": 4 * G, "cpu": None}},
        "limits_by_user": {"bob": {"cpu": 3.0}},
    }
    member = make_spawner("ada", ["instructors"], **kw).effective_limits()
    assert (member.memory, member.cpu) == (4 * G, 1.5)
    other = make_spawner("cy", ["class-a"], **kw).effective_limits()
    assert (other.memory, other.cpu) == (3 * G, 1.5)
    bob = make_spawner("bob", ["instructors"], **kw).effective_limits()
    assert (bob.memory, bob.cpu) == (4 * G, 3.0)


def test_each_start_decides_anew_from_the_general_limits() -> None:
    spawner = make_spawner(
        "ada", ["instructors"], mem_limit=G, limits_by_group={"instructors": {"memory": 4 * G}}
    )
    spawner.apply_limits()
    assert spawner.mem_limit == 4 * G
    # Taken out of the group: the next start is back to the general limit, not
    # to what the previous start set.
    spawner.user.groups = []
    spawner.apply_limits()
    assert spawner.mem_limit == G
