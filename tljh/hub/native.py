"""The Native authenticator (jupyterhub-nativeauthenticator), made to run on JupyterHub 6.

Its newest release (1.3.0) was written for JupyterHub 5. Its login form handler
times each login with ``self.statsd``, which JupyterHub 6 no longer has: every
login answered "500 Internal Server Error". And when anything on that page
fails, JupyterHub asks the login handler to show the error in the login form
with arguments Native's form does not take, so the error page itself failed.

Approving a sign-up (``/hub/authorize/NAME``) and discarding one
(``/hub/discard/NAME``) are plain links: any web page could send an admin's
browser there and approve its author. Here they answer only to clicks on the
hub's own pages.

``auth.type: native`` (or ``nativeauthenticator.NativeAuthenticator``) runs this
subclass (:data:`tljh.render.hub.HUB_AUTHENTICATOR_CLASSES`); it keeps the class
name, so ``auth.NativeAuthenticator.*`` settings still apply to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jupyterhub.handlers import BaseHandler
from nativeauthenticator import NativeAuthenticator as _Native
from nativeauthenticator.handlers import DiscardHandler as _NativeDiscardHandler
from nativeauthenticator.handlers import LoginHandler as _NativeLoginHandler
from nativeauthenticator.handlers import (
    ToggleAuthorizationHandler as _NativeToggleAuthorizationHandler,
)
from tornado import web


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


def sent_from_a_hub_page(headers: Mapping[str, str], host: str, hub_prefix: str) -> bool:
    """Whether a browser request comes from a link on one of the hub's own pages.

    Browsers send a page's full address as ``Referer`` to its own site, so a
    click on the authorize page says where it came from. Students' servers
    share the hub's address, so a same-site page is not enough: the page must
    be under the hub's prefix (``/hub/``), not ``/user/NAME/``. (A script on
    such a page may still name a hub page as its referrer: the same site may.
    docs/topics/security.md lists that limit of sharing the hub's address.) Requests that
    do not say where they come from (typed in, a link in an e-mail, a page that
    hides its address, a script) are refused as well: nobody needs them to
    approve, and an attacker can send any of them. ``Sec-Fetch-Site``, which
    browsers send to HTTPS sites only and a page cannot change, must agree.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    referer = urlsplit(headers.get("Referer", ""))
    return referer.netloc == host and referer.path.startswith(hub_prefix)


class _HubPagesOnly(BaseHandler):
    async def prepare(self) -> None:
        if not sent_from_a_hub_page(self.request.headers, self.request.host, self.hub.base_url):
            raise web.HTTPError(
                403,
                "Approve or discard sign-ups with the buttons of the hub's authorize page "
                f"({self.hub.base_url}authorize). If you did, your browser did not say that "
                "the click came from there: allow it to send the Referer header to this site.",
            )
        await super().prepare()


class NativeToggleAuthorizationHandler(_HubPagesOnly, _NativeToggleAuthorizationHandler):
    pass


class NativeDiscardHandler(_HubPagesOnly, _NativeDiscardHandler):
    pass


#: Native's handlers and the ones this module runs in their place.
OURS = {
    _NativeLoginHandler: NativeLoginHandler,
    _NativeToggleAuthorizationHandler: NativeToggleAuthorizationHandler,
    _NativeDiscardHandler: NativeDiscardHandler,
}


class NativeAuthenticator(_Native):
    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = super().get_handlers(app)
        return [(path, OURS.get(handler, handler)) for path, handler in handlers]
