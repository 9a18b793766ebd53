"""Finding and loading TLJH plugins."""

from __future__ import annotations

import importlib.metadata

import pluggy

from tljh.errors import PluginError
from tljh.hub import hooks
from tljh.layout import Layout

#: Entry point group plugins register under (the same as earlier releases).
ENTRY_POINT_GROUP = "tljh"


def plugin_manager(layout: Layout | None = None) -> pluggy.PluginManager:
    """A plugin manager with TLJH's hook specs and every installed plugin.

    Plugins are packages with an entry point in the group ``tljh``.  A plugin
    that fails to import raises :class:`PluginError` naming it, instead of a
    bare traceback; ``layout`` (default: from the environment) says where the
    hub environment to remove it from is.
    """
    pm = pluggy.PluginManager(hooks.PROJECT_NAME)
    pm.add_hookspecs(hooks)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        where = f" (from {dist.name} {dist.version})" if dist is not None else ""
        try:
            plugin = ep.load()
        except Exception as e:
            pip = (layout or Layout.from_env()).hub_env / "bin" / "pip"
            package = dist.name if dist is not None else "PACKAGE"
            raise PluginError(
                f"the TLJH plugin {ep.name!r}{where} could not be loaded: {type(e).__name__}: {e}",
                "install a fixed release of the plugin, or remove it from the hub "
                f"environment: sudo {pip} uninstall {package}",
            ) from e
        pm.register(plugin, name=ep.name)
    return pm
