"""The Native authenticator (jupyterhub-nativeauthenticator), made to run on JupyterHub 6.

Its newest release (1.3.0) was written for JupyterHub 5. Its login form handler
times each login with ``self.statsd``, which JupyterHub 6 no longer has: every
login answered "500 Internal Server Error". And when anything on that page
fails, JupyterHub asks the login handler to show the error in the login form
with arguments Native's form does not take, so the error page itself failed.

``auth.type: native`` (or ``nativeauthenticator.NativeAuthenticator``) runs this
subclass (:data:`tljh.render.hub.HUB_AUTHENTICATOR_CLASSES`); it keeps the class
name, so ``auth.NativeAuthenticator.*`` settings still apply to it.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.handlers import BaseHandler
from nativeauthenticator import NativeAuthenticator as _Native
from nativeauthenticator.handlers import LoginHandler as _NativeLoginHandler


class _NoTimer:
    """What the handler needs of a statsd client: timers that measure nothing."""

    def timer(self, name: str) -> _NoTimer:
        return self

    def start(self) -> _NoTimer:
        return self

    def stop(self, send: bool = True) -> None:
        return None


class NativeLoginHandler(_NativeLoginHandler):
    statsd = _NoTimer()

    def render_template(self, name: str, **ns: Any) -> Any:
        if name == "error.html":
            # JupyterHub's own error page: Native's form cannot show errors for it.
            return BaseHandler.render_template(self, name, **ns)
        return super().render_template(name, **ns)


class NativeAuthenticator(_Native):
    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = super().get_handlers(app)
        return [
            (path, NativeLoginHandler if handler is _NativeLoginHandler else handler)
            for path, handler in handlers
        ]
