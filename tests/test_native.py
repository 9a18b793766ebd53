"""tljh.hub.native: the Native authenticator as the hub runs it."""

from __future__ import annotations

from pathlib import Path

from jupyterhub import orm
from traitlets.config import Config

from tljh.config.schema import with_defaults
from tljh.hub.native import NativeAuthenticator, NativeLoginHandler
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
    assert "/signup" in handlers and "/authorize/([^/]*)" in handlers


def test_login_timing_is_a_no_op() -> None:
    # What Native's login handler does with JupyterHub 5's statsd client.
    timer = NativeLoginHandler.statsd.timer("login.authenticate").start()
    assert timer.stop(send=False) is None


def test_auth_settings_keep_their_section_name() -> None:
    config = {"auth": {"type": "native", "NativeAuthenticator": {"open_signup": True}}}
    t = traitlets_from_config(with_defaults(config), Layout(prefix=Path("/opt/tljh")), "pw")
    assert t["JupyterHub"]["authenticator_class"] == "tljh.hub.native.NativeAuthenticator"
    assert t["NativeAuthenticator"]["open_signup"] is True
