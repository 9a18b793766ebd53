"""The login as shipped: FirstUseAuthenticator, the default, before any test changes it.

The first login with a name sets that name's password; afterwards only that
password works. ``users.allowed``, ``users.banned`` and
``auth.FirstUseAuthenticator.create_users`` are enforced after a reload.
Later test modules switch to the dummy authenticator; this one must run first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hubclient import HubClient, HubError

# FirstUse refuses passwords shorter than 7 characters by default.
ADMIN_PASSWORD = "chalk-and-talk-1"
STUDENT = "firstuse-student"
STUDENT_PASSWORD = "student-password-1"

DEFAULT_AUTH = "firstuseauthenticator.FirstUseAuthenticator"


def logged_in(hub_url: str, name: str, password: str) -> HubClient:
    client = HubClient(hub_url)
    client.login(name, password)
    return client


def refused(hub_url: str, name: str, password: str) -> str:
    """Log in and expect the hub to refuse; returns what it said."""
    with pytest.raises(HubError) as e:
        logged_in(hub_url, name, password)
    assert "login as" in str(e.value), e.value
    return str(e.value)


@pytest.fixture
def reloaded(tljh_config: Callable[..., str]) -> Iterator[Callable[..., None]]:
    """change(*tljh-config args): apply config changes; all undone (and reloaded) after."""
    undo: list[tuple[str, ...]] = []

    def change(*args: str) -> None:
        command, key = args[0], args[1]
        if command == "add-item":
            undo.append(("remove-item", key, args[2]))
        elif command == "set":
            undo.append(("unset", key))
        tljh_config(*args)
        tljh_config("reload")

    yield change
    for args in reversed(undo):
        tljh_config(*args)
    if undo:
        tljh_config("reload")


def test_the_default_authenticator_is_firstuse(tljh_config: Callable[..., str]) -> None:
    # Nothing set: the effective value is the shipped default.
    assert "auth:" not in tljh_config("show")
    assert tljh_config("get", "auth.type").strip() == DEFAULT_AUTH


def test_the_admins_first_login_sets_the_password(hub_url: str, admin_name: str) -> None:
    admin = logged_in(hub_url, admin_name, ADMIN_PASSWORD)
    assert admin.name == admin_name
    assert admin.user_model()["admin"] is True
    refused(hub_url, admin_name, "somebody-guessing")
    # The password chosen at the first login still works.
    logged_in(hub_url, admin_name, ADMIN_PASSWORD)


def test_a_student_signs_up_by_logging_in(hub_url: str) -> None:
    student = logged_in(hub_url, STUDENT, STUDENT_PASSWORD)
    assert student.user_model()["admin"] is False
    refused(hub_url, STUDENT, ADMIN_PASSWORD)


def test_banned_users_are_refused_after_reload(hub_url: str, reloaded: Callable[..., None]) -> None:
    logged_in(hub_url, "firstuse-banned", STUDENT_PASSWORD)
    reloaded("add-item", "users.banned", "firstuse-banned")
    refused(hub_url, "firstuse-banned", STUDENT_PASSWORD)
    # Banning one name touches nobody else.
    logged_in(hub_url, STUDENT, STUDENT_PASSWORD)


def test_only_allowed_users_and_admins_get_in_once_a_list_is_set(
    hub_url: str, admin_name: str, reloaded: Callable[..., None]
) -> None:
    reloaded("add-item", "users.allowed", "firstuse-allowed")
    logged_in(hub_url, "firstuse-allowed", STUDENT_PASSWORD)
    logged_in(hub_url, admin_name, ADMIN_PASSWORD)
    refused(hub_url, "firstuse-outsider", STUDENT_PASSWORD)


def test_create_users_false_lets_only_known_names_in(
    hub_url: str, reloaded: Callable[..., None]
) -> None:
    reloaded("set", "auth.FirstUseAuthenticator.create_users", "false")
    refused(hub_url, "firstuse-newcomer", STUDENT_PASSWORD)
    logged_in(hub_url, STUDENT, STUDENT_PASSWORD)
