"""User and group management under the names earlier TLJH releases exported.

Published plugins call ``tljh.user.ensure_group`` and
``tljh.user.ensure_user_group``; the implementation lives in
:mod:`tljh.system.users`.
"""

from __future__ import annotations

from tljh.system.users import (
    ensure_group,
    ensure_user,
    ensure_user_group,
    remove_user_group,
)

__all__ = ["ensure_group", "ensure_user", "ensure_user_group", "remove_user_group"]
