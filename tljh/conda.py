"""Names earlier TLJH releases exported from ``tljh.conda``, for published plugins.

Plugins call ``tljh.conda.fix_permissions(prefix)`` after changing the user
environment themselves, so that students can read but not change it.  The
implementation lives in :mod:`tljh.system.files` (both user environments use it).
"""

from __future__ import annotations

import os
from pathlib import Path

from tljh.system.files import fix_permissions as _fix_permissions

__all__ = ["fix_permissions"]


def fix_permissions(prefix: str | os.PathLike[str]) -> None:
    """Make ``prefix`` root-owned, readable by everyone and writable by root alone."""
    _fix_permissions(Path(prefix))
