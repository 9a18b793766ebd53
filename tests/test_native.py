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
    sent_by_another_site,
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


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, False),  # a link on the authorize page
        ({"Sec-Fetch-Site": "none"}, False),  # typed in the address bar
        ({"Sec-Fetch-Site": "cross-site"}, True),  # a link or redirect on another site
        ({"Sec-Fetch-Site": "same-site"}, True),  # another host of the same domain
        ({"Sec-Fetch-Site": "cross-site", "Referer": f"https://{HOST}/hub/authorize"}, True),
        ({"Referer": f"https://{HOST}/hub/authorize"}, False),  # browsers without Sec-Fetch
        ({"Referer": "https://evil.example.com/"}, True),
        ({"Referer": f"https://{HOST}.evil.example.com/"}, True),
        ({}, False),  # curl, scripts
    ],
)
def test_approval_links_answer_only_the_hubs_pages(headers: dict[str, str], refused: bool) -> None:
    assert sent_by_another_site(headers, HOST) is refused


def test_login_timing_is_a_no_op() -> None:
    # What Native's login handler does with JupyterHub 5's statsd client.
    timer = NativeLoginHandler.statsd.timer("login.authenticate").start()
    assert timer.stop(send=False) is None


def test_auth_settings_keep_their_section_name() -> None:
    config = {"auth": {"type": "native", "NativeAuthenticator": {"open_signup": True}}}
    t = traitlets_from_config(with_defaults(config), Layout(prefix=Path("/opt/tljh")), "pw")
    assert t["JupyterHub"]["authenticator_class"] == "tljh.hub.native.NativeAuthenticator"
    assert t["NativeAuthenticator"]["open_signup"] is True
