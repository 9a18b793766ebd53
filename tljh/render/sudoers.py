"""The sudo rules for hub admins, as text (``/etc/sudoers.d/jupyterhub-admins``)."""

from __future__ import annotations

from tljh.errors import InstallError
from tljh.layout import Layout
from tljh.system.paths import SYSTEM_PATH
from tljh.system.users import ADMINS_GROUP

# What sudoers cannot hold in a secure_path, even quoted.
_UNSAFE = ('"', "\\", ",", ":", "=", "\n", " ")


def sudoers_text(layout: Layout) -> str:
    """The content of ``layout.sudoers_file``.

    Members of ``jupyterhub-admins`` (the system accounts of hub admins) may run
    any command as any user without a password.  Their ``secure_path`` starts
    with the user environment, so that ``sudo pip install X`` and
    ``sudo -E pip install X`` typed in a hub terminal install into the user
    environment everybody's kernels use, as TLJH documents.

    Write it with mode 0440 and check it with ``visudo -cf`` before moving it
    into place: a broken sudoers file locks everyone out of sudo.

    Raises :class:`InstallError` when the user environment's path cannot be
    written into a sudoers file.
    """
    user_bin = layout.user_env / "bin"
    for ch in _UNSAFE:
        if ch in str(user_bin):
            raise InstallError(
                f"unsupported character {ch!r} in the user environment path {user_bin}",
                "install TLJH into a directory whose path has no spaces, quotes, commas, "
                "colons, '=' or backslashes (set TLJH_INSTALL_PREFIX, default /opt/tljh)",
            )
    return (
        "# Managed by The Littlest JupyterHub; changes are overwritten on upgrade.\n"
        "# Hub admins have full, passwordless sudo.\n"
        f"%{ADMINS_GROUP} ALL = (ALL:ALL) NOPASSWD: ALL\n"
        "# Commands run with sudo find the user environment first, so\n"
        "# 'sudo -E pip install X' installs into it.\n"
        f'Defaults:%{ADMINS_GROUP} secure_path = "{user_bin}:{SYSTEM_PATH}"\n'
    )
