"""Traefik's files: written from what :mod:`tljh.render.proxy` makes of the config.

Traefik runs as its own user (:data:`~tljh.layout.PROXY_USER`), which reads
them through its group: files 0640 and directories 0750, owned by root, so
that the proxy can read its configuration but change none of it.  Only the
ACME store (certificates traefik gets itself) is the proxy user's own.  The
admin's own certificate is copied next to them at every write: the proxy's
sandbox hides home directories, and a renewed certificate at the same path
is taken by the next 'tljh-config reload proxy'.

Traefik reads them when it starts, so they are brought up to date just before
the proxy restarts; :func:`proxy_files_stale` tells whether it must restart
for them although no proxy setting changed (e.g. after an upgrade of TLJH, or
a renewed certificate).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tljh.config.secrets import read_api_password
from tljh.config.snippets import load_extra_static_config
from tljh.errors import ConfigError, InstallError
from tljh.layout import PROXY_USER, Layout
from tljh.render.proxy import certificate_copies, own_certificate, traefik_files, uses_acme
from tljh.system.files import ensure_dir, ensure_file
from tljh.system.users import account_ids

#: Read by the proxy through its group, written by root only.
SHARED_FILE = 0o640
SHARED_DIR = 0o750


def _read_admin_file(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(
            f"{key}: cannot read {path!r}: {e.strerror}",
            f"put the PEM file there (readable by root), or point {key} at it with "
            f"'sudo tljh-config set {key} /path/to/file'",
        ) from None


def _proxy_files(layout: Layout, config: Mapping[str, Any]) -> dict[Path, bytes]:
    password = read_api_password(config, layout)
    if not password:
        raise InstallError(
            f"the proxy's API secret {layout.traefik_api_secret} is missing",
            "re-run the installer (bootstrap.py): it recreates missing secrets",
        )
    files: dict[Path, bytes] = {
        path: text.encode()
        for path, text in traefik_files(
            config, layout, password, load_extra_static_config(layout)
        ).items()
    }
    own = own_certificate(config)
    if own:
        cert_copy, key_copy = certificate_copies(layout)
        files[cert_copy] = _read_admin_file(own[0], "https.tls.cert")
        files[key_copy] = _read_admin_file(own[1], "https.tls.key")
    return files


def shared_with_proxy(layout: Layout) -> list[Path]:
    """The files directly in state/ that the proxy reads through its group (0640):
    anything tightening state/ for root must leave them be."""
    return [layout.traefik_static_config]


def _proxy_gid() -> int:
    ids = account_ids(PROXY_USER)
    return ids[1] if ids else -1


def write_proxy_files(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Bring traefik's files in line with ``config``; True if any changed.

    Raises :class:`~tljh.errors.InstallError` if the proxy's API secret is missing,
    :class:`~tljh.errors.ConfigError` if a ``traefik_config.d`` snippet is not TOML
    or the admin's certificate cannot be read.
    """
    gid = _proxy_gid()
    files = _proxy_files(layout, config)
    changed = ensure_dir(layout.traefik_rules_dir, SHARED_DIR, gid)
    if own_certificate(config):
        changed |= ensure_dir(layout.proxy_certs_dir, SHARED_DIR, gid)
    for path, data in files.items():
        changed |= ensure_file(path, data, mode=SHARED_FILE, gid=gid)
    changed |= _remove_stale_copies(layout, files)
    changed |= _share_routes_file(layout.traefik_dynamic_config, gid)
    if uses_acme(config):
        changed |= _ensure_acme_store(layout.acme_file)
    return changed


def _share_routes_file(routes: Path, gid: int) -> bool:
    """The hub's routes, written by an earlier release as root's alone, made readable.

    Changed in place, never rewritten: the hub may be writing a new version.
    """
    try:
        st = routes.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or (
        stat.S_IMODE(st.st_mode) == SHARED_FILE and gid in (-1, st.st_gid)
    ):
        return False
    os.chmod(routes, SHARED_FILE & st.st_mode)
    if gid != -1:
        os.chown(routes, -1, gid)
    os.chmod(routes, SHARED_FILE)
    return True


def _remove_stale_copies(layout: Layout, files: Mapping[Path, bytes]) -> bool:
    """A certificate no longer configured is no longer left for the proxy to read."""
    changed = False
    for path in certificate_copies(layout):
        if path not in files and path.exists():
            path.unlink()
            changed = True
    return changed


def _ensure_acme_store(path: Path) -> bool:
    """The ACME store, the proxy user's own (0600, as traefik insists), created empty.

    The unit binds it into the proxy's sandbox, so it must exist before traefik starts.
    """
    ids = account_ids(PROXY_USER)
    if ids is None:
        return False
    uid, gid = ids
    changed = False
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        changed = True
    st = path.lstat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)
        changed = True
    if st.st_mode & 0o7777 != 0o600:
        os.chmod(path, 0o600)
        changed = True
    return changed


def proxy_files_stale(layout: Layout, config: Mapping[str, Any]) -> bool:
    """Whether traefik's files on disk differ from what ``config`` makes of them.

    Raises :class:`~tljh.errors.InstallError` if the proxy's API secret is missing,
    :class:`~tljh.errors.ConfigError` if a ``traefik_config.d`` snippet is not TOML
    or the admin's certificate cannot be read.
    """
    files = _proxy_files(layout, config)
    for path, data in files.items():
        try:
            if path.read_bytes() != data:
                return True
        except FileNotFoundError:
            return True
    return any(p not in files and p.exists() for p in certificate_copies(layout))
