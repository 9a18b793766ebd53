"""NativeAuthenticator as its how-to sets it up (docs/howto/auth-native.md): people sign up,
an admin approves them, and only then their password lets them in."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hubclient import HubClient, HubError

ADMIN_PASSWORD = "native-admin-pw-1"
STUDENT, STUDENT_PASSWORD = "native-student", "native-student-pw-1"


@pytest.fixture(scope="module")
def native(tljh_config: Callable[..., str]) -> Iterator[None]:
    tljh_config("set", "auth.type", "native")
    tljh_config("reload")
    yield
    tljh_config("unset", "auth.type")
    tljh_config("reload")


def refused(hub_url: str, name: str, password: str) -> str:
    with pytest.raises(HubError, match="login as") as e:
        HubClient(hub_url).login(name, password)
    return str(e.value)


def test_sign_up_approval_and_login(native: None, hub_url: str, admin_name: str) -> None:
    said = HubClient(hub_url).signup(admin_name, ADMIN_PASSWORD)
    assert "successful" in said, said  # admins are approved at once
    said = HubClient(hub_url).signup(STUDENT, STUDENT_PASSWORD)
    assert "sent to the admin" in said, said
    # The login page says why, instead of failing with a server error.
    assert "not been authorized" in refused(hub_url, STUDENT, STUDENT_PASSWORD)

    admin = HubClient(hub_url)
    admin.login(admin_name, ADMIN_PASSWORD)
    assert admin.user_model()["admin"] is True
    # Another page sending the admin's browser to the approval link approves nobody.
    evil = "https://evil.example/"
    for headers in (
        {"Sec-Fetch-Site": "cross-site", "Referer": evil},
        {"Sec-Fetch-Site": None, "Referer": evil},  # a browser without Sec-Fetch
        {"Sec-Fetch-Site": None},  # over HTTP, from a page that hides its address
        {"Sec-Fetch-Site": "none"},  # a link in an e-mail
        # A page on a student's server: it has the hub's address.
        {"Referer": admin.url(f"/user/{STUDENT}/files/approve-me.html")},
    ):
        r = admin.get(f"/hub/authorize/{STUDENT}", headers=headers, allow_redirects=False)
        assert r.status_code == 403, (headers, r.status_code, r.text[:300])
        assert "/hub/authorize" in r.text
        r = admin.get(f"/hub/discard/{STUDENT}", headers=headers, allow_redirects=False)
        assert r.status_code == 403, (headers, r.status_code, r.text[:300])
    assert "not been authorized" in refused(hub_url, STUDENT, STUDENT_PASSWORD)
    # The admin clicks "Authorize" on the authorize page.
    assert STUDENT in admin.get("/hub/authorize").text
    r = admin.click(f"/hub/authorize/{STUDENT}", on="/hub/authorize")
    assert r.status_code == 200, r.text

    student = HubClient(hub_url)
    student.login(STUDENT, STUDENT_PASSWORD)
    assert student.whoami()["name"] == STUDENT
    assert "Invalid username or password" in refused(hub_url, STUDENT, "not-the-password")
    # A student cannot approve anyone.
    r = student.get(f"/hub/authorize/{admin_name}")
    assert r.status_code == 403, r.status_code


def test_passwords_are_changed_by_their_owner_or_an_admin(
    native: None, hub_url: str, admin_name: str
) -> None:
    # Runs after the sign-up test: the student is approved.
    student = HubClient(hub_url)
    student.login(STUDENT, STUDENT_PASSWORD)
    new = "native-student-pw-2"
    form = {"new_password": new, "new_password_confirmation": new}
    said = student.submit_form("/hub/change-password", {**form, "old_password": "a-guess"})
    assert "incorrect" in said, said
    said = student.submit_form("/hub/change-password", {**form, "old_password": STUDENT_PASSWORD})
    assert "changed successfully" in said, said
    refused(hub_url, STUDENT, STUDENT_PASSWORD)
    HubClient(hub_url).login(STUDENT, new)

    # Not anyone else's: neither the page nor the form's target answers a student.
    assert student.get(f"/hub/change-password/{admin_name}").status_code == 403
    xsrf = student.xsrf_for(student.url("/hub/change-password"))
    r = student.post(f"/hub/change-password/{admin_name}", data={**form, "_xsrf": xsrf or ""})
    assert r.status_code == 403, r.status_code
    refused(hub_url, admin_name, new)
    HubClient(hub_url).login(admin_name, ADMIN_PASSWORD)

    admin = HubClient(hub_url)
    admin.login(admin_name, ADMIN_PASSWORD)
    said = admin.submit_form(
        f"/hub/change-password/{STUDENT}",
        {"new_password": STUDENT_PASSWORD, "new_password_confirmation": STUDENT_PASSWORD},
    )
    assert "changed successfully" in said, said
    HubClient(hub_url).login(STUDENT, STUDENT_PASSWORD)
