"""A small client of the hub's REST API, for root's own tools on this machine.

It talks to the hub directly on its internal address (not through the proxy,
so neither HTTPS nor the proxy being down gets in the way) with a token that
only root can read.  Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from tljh.errors import HubAPIError

_PAGINATION = "application/jupyterhub-pagination+json"
_PAGE = 200


def user_path(name: str) -> str:
    """``/users/<name>`` with the name quoted as JupyterHub expects (``@`` and ``~`` kept)."""
    return "/users/" + quote(name, safe="@~")


class HubAPI:
    """``GET``/``DELETE`` on ``<url>/hub/api`` with a token."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        #: ``http://127.0.0.1:1001/<base_url>hub/api``
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HubAPI({self.url!r})"

    def request(self, method: str, path: str, accept: str = "application/json") -> Any:
        """The decoded JSON answer (None for an empty one).

        Raises :class:`HubAPIError` when the hub does not answer or answers with an
        error; ``status`` tells which.
        """
        req = urllib.request.Request(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {self._token}", "Accept": accept},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message") or detail
            raise HubAPIError(
                f"the hub answered {e.code} to {method} {path}: {detail}".rstrip(": "),
                status=e.code,
            ) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise HubAPIError(
                f"the hub does not answer at {self.url} ({reason})",
                "is it running? 'sudo systemctl status jupyterhub' and "
                "'sudo journalctl -u jupyterhub -n 50' say; start it with "
                "'sudo systemctl start jupyterhub'",
            ) from None
        return json.loads(body) if body.strip() else None

    def users(self) -> Iterator[dict[str, Any]]:
        """Every hub user's model, page by page."""
        offset = 0
        while True:
            page = self.request("GET", f"/users?offset={offset}&limit={_PAGE}", _PAGINATION)
            items = page.get("items", []) if isinstance(page, dict) else page
            yield from items
            following = page.get("_pagination", {}).get("next") if isinstance(page, dict) else None
            if not following or not items:
                return
            offset = int(following.get("offset", offset + len(items)))

    def user(self, name: str) -> dict[str, Any] | None:
        """The model of the hub user ``name``; None if there is no such user."""
        try:
            model = self.request("GET", user_path(name))
        except HubAPIError as e:
            if e.status == 404:
                return None
            raise
        return dict(model)

    def stop_servers(
        self,
        name: str,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[str]:
        """Stop every server of ``name`` and wait until they are stopped; their names.

        Raises :class:`HubAPIError` when they are still running after ``timeout`` s.
        """
        model = self.user(name) or {}
        running = [s for s, server in (model.get("servers") or {}).items() if server]
        for server in running:
            path = user_path(name) + ("/server" if not server else "/servers/" + quote(server))
            try:
                self.request("DELETE", path)
            except HubAPIError as e:
                # 400: it is stopping already.
                if e.status not in (400, 404):
                    raise
        deadline = time.monotonic() + timeout
        while True:
            model = self.user(name) or {}
            left = [s for s, server in (model.get("servers") or {}).items() if server]
            if not left:
                return running
            if time.monotonic() > deadline:
                raise HubAPIError(
                    f"the servers of {name} did not stop within {timeout:.0f} s",
                    "see 'sudo journalctl -u jupyterhub -n 50', then try again",
                )
            sleep(0.5)

    def delete_user(self, name: str) -> None:
        self.request("DELETE", user_path(name))
