"""The hub's proxy class: traefik's file provider, with routes for any entrypoint.

Two differences from :class:`TraefikFileProviderProxy`, both so that the proxy
can change without the hub:

* A route names no entrypoint, so traefik serves it on each default one
  (:mod:`tljh.render.proxy` marks the public http and https entrypoints so).
  Turning HTTPS on or off, or moving a port, then needs only
  'tljh-config reload proxy': routes the hub wrote before keep working, and
  plain HTTP still redirects to HTTPS ahead of them.  Traefik then splits
  such a router in one per entrypoint (``https-<name>``, ``http-<name>``),
  so the hub's wait for a new route looks for those names too.
* The routes file is written for traefik's user to read (root-owned, group
  :data:`~tljh.layout.PROXY_USER`, 0640) before it appears under its name:
  traefik never runs as root, and never sees a file it cannot read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

from jupyterhub_traefik_proxy.fileprovider import TraefikFileProviderProxy
from jupyterhub_traefik_proxy.traefik_utils import TraefikConfigFileHandler, generate_alias
from tornado.httpclient import HTTPClientError
from traitlets import default, observe

from tljh.layout import PROXY_USER
from tljh.render.proxy import HTTP_ENTRYPOINT, HTTPS_ENTRYPOINT
from tljh.system.users import account_ids

#: Mode of the routes file: root writes, the proxy's group reads.
ROUTES_MODE = 0o640


def without_entrypoints(dynamic_config: dict[str, Any]) -> dict[str, Any]:
    """``dynamic_config`` with no router bound to a named entrypoint (changed in place).

    Routes written by earlier releases named the entrypoint of the day.
    """
    routers = (dynamic_config.get("http") or {}).get("routers") or {}
    for router in routers.values():
        if isinstance(router, dict):
            router.pop("entryPoints", None)
    return dynamic_config


class SharedRoutesFile(TraefikConfigFileHandler):
    """The routes file, replaced atomically, readable by the proxy's group."""

    def atomic_dump(self, data: dict[str, Any]) -> None:
        ids = account_ids(PROXY_USER)
        directory = os.path.dirname(os.path.abspath(self.file_path))
        fd, tmp = tempfile.mkstemp(prefix=".routes-", suffix=".tmp", dir=directory)
        try:
            if ids is not None:
                os.fchown(fd, 0, ids[1])
            os.fchmod(fd, ROUTES_MODE)
            with os.fdopen(fd, "w") as f:
                self._dump(data, f)
            os.replace(tmp, self.file_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


class TLJHTraefikProxy(TraefikFileProviderProxy):
    """Traefik's file provider as TLJH runs it (see the module docstring)."""

    @default("dynamic_config_handler")
    def _default_handler(self) -> SharedRoutesFile:
        return SharedRoutesFile(self.dynamic_config_file)

    @observe("dynamic_config_file")
    def _set_dynamic_config_file(self, change: Any) -> None:
        self.dynamic_config_handler = SharedRoutesFile(self.dynamic_config_file)

    @default("dynamic_config")
    def _load_dynamic_config(self) -> dict[str, Any]:
        return without_entrypoints(super()._load_dynamic_config())

    def _dynamic_config_for_route(
        self, routespec: str, target: str, data: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        traefik_config, jupyterhub_config = super()._dynamic_config_for_route(
            routespec, target, data
        )
        return without_entrypoints(traefik_config), jupyterhub_config

    async def _check_for_traefik_service(self, routespec: str, kind: str) -> bool:
        if await super()._check_for_traefik_service(routespec, kind):
            return True
        if kind != "router":
            return False
        alias = generate_alias(self.validate_routespec(routespec), "router")
        for entrypoint in (HTTPS_ENTRYPOINT, HTTP_ENTRYPOINT):
            try:
                await self._traefik_api_request(
                    f"/api/http/routers/{entrypoint}-{alias}@{self.provider_name}"
                )
            except HTTPClientError:
                continue
            return True
        return False
