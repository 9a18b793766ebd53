"""The login as shipped: FirstUseAuthenticator, the default, before any test changes it.

As upstream TLJH ships it, nobody can sign up on their own
(``auth.FirstUseAuthenticator.create_users`` is false): the admin named at
install time, names in ``users.allowed`` and users an admin adds on the admin
page get in, and each one's first login sets that name's password; afterwards
only that password works. ``users.banned`` is enforced after a reload. Later
test modules switch to the dummy authenticator; this one must run first.
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


def admin(hub_url: str, admin_name: str) -> HubClient:
    return logged_in(hub_url, admin_name, ADMIN_PASSWORD)


def add_user(hub_url: str, admin_name: str, name: str) -> None:
    """What an admin does on the admin page: add a user by name."""
    r = admin(hub_url, admin_name).post(f"/hub/api/users/{name}")
    assert r.status_code == 201, r.text


def test_nobody_signs_up_until_an_admin_adds_them(hub_url: str, admin_name: str) -> None:
    refused(hub_url, STUDENT, STUDENT_PASSWORD)
    add_user(hub_url, admin_name, STUDENT)
    student = logged_in(hub_url, STUDENT, STUDENT_PASSWORD)
    assert student.user_model()["admin"] is False
    refused(hub_url, STUDENT, ADMIN_PASSWORD)


def test_banned_users_are_refused_after_reload(
    hub_url: str, admin_name: str, reloaded: Callable[..., None]
) -> None:
    add_user(hub_url, admin_name, "firstuse-banned")
    logged_in(hub_url, "firstuse-banned", STUDENT_PASSWORD)
    reloaded("add-item", "users.banned", "firstuse-banned")
    refused(hub_url, "firstuse-banned", STUDENT_PASSWORD)
    # Banning one name touches nobody else.
    logged_in(hub_url, STUDENT, STUDENT_PASSWORD)


def test_allowed_names_and_admins_get_in(
    hub_url: str, admin_name: str, reloaded: Callable[..., None]
) -> None:
    refused(hub_url, "firstuse-allowed", STUDENT_PASSWORD)
    reloaded("add-item", "users.allowed", "firstuse-allowed")
    logged_in(hub_url, "firstuse-allowed", STUDENT_PASSWORD)
    logged_in(hub_url, admin_name, ADMIN_PASSWORD)
    refused(hub_url, "firstuse-outsider", STUDENT_PASSWORD)


def test_create_users_lets_anyone_sign_up_by_logging_in(
    hub_url: str, reloaded: Callable[..., None]
) -> None:
    refused(hub_url, "firstuse-newcomer", STUDENT_PASSWORD)
    reloaded("set", "auth.FirstUseAuthenticator.create_users", "true")
    logged_in(hub_url, "firstuse-newcomer", STUDENT_PASSWORD)
    refused(hub_url, "firstuse-newcomer", ADMIN_PASSWORD)
