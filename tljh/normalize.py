"""``tljh.normalize``: the upstream-compatible name of the system user name rule.

Published plugins and hand-written hub configs call
``tljh.normalize.generate_system_username("jupyter-<name>")``; the rule lives
in :mod:`tljh.system.usernames`.
"""

from __future__ import annotations

from tljh.system.usernames import generate_system_username

__all__ = ["generate_system_username"]
