"""tljh.hub.native: the Native authenticator as the hub runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyterhub import orm
from traitlets.config import Config

from tljh.config.schema import with_defaults
from tljh.hub.native import (
    NativeAuthenticator,
    NativeDiscardHandler,
    NativeLoginHandler,
    NativeToggleAuthorizationHandler,
    sent_from_a_hub_page,
)
from tljh.layout import Layout
from tljh.render.hub import traitlets_from_config


def native(config: Config | None = None) -> NativeAuthenticator:
    # It makes its table in the hub's database when it is made.
    return NativeAuthenticator(config=config or Config(), db=orm.new_session_factory("sqlite://")())


def test_settings_written_for_native_apply_to_ours() -> None:
    config = Config()
    config.NativeAuthenticator.open_signup = True
    config.NativeAuthenticator.minimum_password_length = 12
    auth = native(config)
    assert auth.open_signup is True
    assert auth.minimum_password_length == 12


def test_the_login_page_is_ours_and_the_others_native() -> None:
    handlers = dict(native().get_handlers(app=None))
    assert handlers["/login"] is NativeLoginHandler
    assert handlers["/authorize/([^/]*)"] is NativeToggleAuthorizationHandler
    assert handlers["/discard/([^/]*)"] is NativeDiscardHandler
    assert handlers["/signup"].__module__.startswith("nativeauthenticator")


HOST = "hub.example.org"
PAGE = f"https://{HOST}/hub/authorize"


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"Sec-Fetch-Site": "same-origin", "Referer": PAGE}, True),  # a click on the page
        ({"Referer": PAGE}, True),  # browsers without Sec-Fetch, or over plain HTTP
        ({"Referer": f"https://{HOST}/hub/authorize?page=2"}, True),
        ({"Sec-Fetch-Site": "same-origin"}, False),  # a page that hides its address
        ({"Sec-Fetch-Site": "none"}, False),  # typed in, or a link in an e-mail
        ({"Sec-Fetch-Site": "none", "Referer": PAGE}, False),
        ({"Sec-Fetch-Site": "cross-site", "Referer": PAGE}, False),  # another site
        ({"Sec-Fetch-Site": "same-site", "Referer": PAGE}, False),  # another host of the domain
        ({"Referer": "https://evil.example.com/hub/authorize"}, False),
        ({"Referer": f"https://{HOST}.evil.example.com/hub/authorize"}, False),
        ({"Referer": f"https://{HOST}:8443/hub/authorize"}, False),
        # A student's server has the hub's address: its pages are not the hub's.
        ({"Sec-Fetch-Site": "same-origin", "Referer": f"https://{HOST}/user/eve/x.html"}, False),
        ({"Referer": f"https://{HOST}/hubby/"}, False),
        ({}, False),  # curl, scripts, pages that hide their address over plain HTTP
    ],
)
def test_approval_links_answer_only_clicks_on_the_hubs_pages(
    headers: dict[str, str], accepted: bool
) -> None:
    assert sent_from_a_hub_page(headers, HOST, "/hub/") is accepted


def test_the_hubs_pages_are_under_its_base_url() -> None:
    page = {"Referer": f"https://{HOST}/course/hub/authorize"}
    assert sent_from_a_hub_page(page, HOST, "/course/hub/")
    assert not sent_from_a_hub_page({"Referer": PAGE}, HOST, "/course/hub/")


def test_login_timing_is_a_no_op() -> None:
    # What Native's login handler does with JupyterHub 5's statsd client.
    timer = NativeLoginHandler.statsd.timer("login.authenticate").start()
    assert timer.stop(send=False) is None


def test_auth_settings_keep_their_section_name() -> None:
    config = {"auth": {"type": "native", "NativeAuthenticator": {"open_signup": True}}}
    t = traitlets_from_config(with_defaults(config), Layout(prefix=Path("/opt/tljh")), "pw")
    assert t["JupyterHub"]["authenticator_class"] == "tljh.hub.native.NativeAuthenticator"
    assert t["NativeAuthenticator"]["open_signup"] is True
