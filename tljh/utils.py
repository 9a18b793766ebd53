"""``tljh.utils``: upstream-compatible names that plugins and hub configs import.

``get_plugin_manager()`` is used by published plugins and by hand-written
``jupyterhub_config.d`` files to call the installed plugins' hooks; it is
:func:`tljh.hub.plugins.plugin_manager`.
"""

from __future__ import annotations

import pluggy

from tljh.hub.plugins import plugin_manager

__all__ = ["get_plugin_manager"]


def get_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with TLJH's hook specs and every installed plugin."""
    return plugin_manager()
