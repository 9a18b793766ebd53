"""Finding and loading TLJH plugins."""

from __future__ import annotations

import importlib.metadata

import pluggy

from tljh.errors import TLJHError
from tljh.hub import hooks

#: Entry point group plugins register under (the same as earlier releases).
ENTRY_POINT_GROUP = "tljh"


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with TLJH's hook specs and every installed plugin.

    Plugins are packages with an entry point in the group ``tljh``.  A plugin
    that fails to import is reported by name instead of with a bare traceback.
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
            raise TLJHError(
                f"the TLJH plugin {ep.name!r}{where} could not be loaded: {type(e).__name__}: {e}",
                "fix or uninstall the plugin from the hub environment "
                "(e.g. /opt/tljh/hub/bin/pip uninstall <package>)",
            ) from e
        pm.register(plugin, name=ep.name)
    return pm
