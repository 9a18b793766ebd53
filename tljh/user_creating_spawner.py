"""The spawner under the name earlier TLJH releases exported.

Deployments and plugins import ``tljh.user_creating_spawner.UserCreatingSpawner``;
the implementation lives in :mod:`tljh.hub.spawner`.
"""

from __future__ import annotations

from tljh.hub.spawner import UserCreatingSpawner

__all__ = ["UserCreatingSpawner"]
