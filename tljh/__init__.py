"""The Littlest JupyterHub: JupyterHub for a class on one server."""

__version__ = "2.0.0.dev0"
