"""The hub's config file under its upstream path: ``jupyterhub -f .../tljh/jupyterhub_config.py``.

Units written by earlier releases (and by upstream TLJH) point here until the
installer rewrites them; the configuration itself is
:mod:`tljh.hub.jupyterhub_config`.
"""

from __future__ import annotations

from tljh.hub.jupyterhub_config import configure

if "get_config" in globals():
    # Executed by JupyterHub as its config file.
    configure(get_config())  # type: ignore[name-defined]  # noqa: F821
