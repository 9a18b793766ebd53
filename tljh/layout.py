"""Where an installation lives on disk, as a value.

Everything that needs a path takes a :class:`Layout`; nothing reads the install
prefix at import time.  ``Layout.from_env()`` honours ``TLJH_INSTALL_PREFIX``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PREFIX = Path("/opt/tljh")
#: The systemd units of the hub and the proxy (upstream TLJH's names).
HUB_UNIT = "jupyterhub.service"
PROXY_UNIT = "traefik.service"
#: The system user (and group) traefik runs as: never root, and in no group a
#: student or the hub's other files are in.
PROXY_USER = "tljh-proxy"


@dataclass(frozen=True)
class Layout:
    prefix: Path = DEFAULT_PREFIX
    # Where systemd units, sudoers and the tljh-config link go.  Tests point
    # these elsewhere; a real install keeps the defaults.
    systemd_dir: Path = Path("/etc/systemd/system")
    sudoers_dir: Path = Path("/etc/sudoers.d")
    bin_dir: Path = Path("/usr/bin")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Layout:
        env = os.environ if environ is None else environ
        return cls(prefix=Path(env.get("TLJH_INSTALL_PREFIX") or DEFAULT_PREFIX))

    # environments
    @property
    def hub_env(self) -> Path:
        return self.prefix / "hub"

    @property
    def user_env(self) -> Path:
        return self.prefix / "user"

    @property
    def hub_python(self) -> Path:
        return self.hub_env / "bin" / "python3"

    @property
    def user_python(self) -> Path:
        return self.user_env / "bin" / "python3"

    @property
    def uv(self) -> Path:
        """The package installer of both environments; it lives in the hub environment."""
        return self.hub_env / "bin" / "uv"

    @property
    def traefik_bin(self) -> Path:
        return self.hub_env / "bin" / "traefik"

    # configuration, owned by the admin
    @property
    def config_dir(self) -> Path:
        return self.prefix / "config"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def jupyterhub_config_d(self) -> Path:
        return self.config_dir / "jupyterhub_config.d"

    @property
    def traefik_config_d(self) -> Path:
        return self.config_dir / "traefik_config.d"

    @property
    def config_history_dir(self) -> Path:
        return self.config_dir / "history"

    # state, root-only (0700)
    @property
    def state_dir(self) -> Path:
        return self.prefix / "state"

    @property
    def config_known_good_dir(self) -> Path:
        """The configuration files that last passed the health checks."""
        return self.state_dir / "config-known-good"

    @property
    def config_lock(self) -> Path:
        """The lock of config.yaml's writers.  In state/, which only root may enter:
        a lock file a student can open is one they can hold (earlier releases kept
        a world-readable ``config/.config.yaml.lock``)."""
        return self.state_dir / "config.lock"

    @property
    def traefik_static_config(self) -> Path:
        return self.state_dir / "traefik.toml"

    @property
    def traefik_rules_dir(self) -> Path:
        return self.state_dir / "rules"

    @property
    def traefik_dynamic_config(self) -> Path:
        return self.traefik_rules_dir / "rules.toml"

    @property
    def traefik_api_secret(self) -> Path:
        return self.state_dir / "traefik-api.secret"

    @property
    def cookie_secret(self) -> Path:
        return self.state_dir / "jupyterhub_cookie_secret"

    @property
    def hub_db(self) -> Path:
        return self.state_dir / "jupyterhub.sqlite"

    @property
    def firstuse_passwords(self) -> Path:
        """FirstUseAuthenticator's password database (bcrypt hashes; upstream's place)."""
        return self.state_dir / "passwords.dbm"

    @property
    def account_owners(self) -> Path:
        """Which hub user owns each system account (root-only, see tljh.system.users)."""
        return self.state_dir / "system-accounts.json"

    @property
    def users_api_token(self) -> Path:
        """The API token of ``tljh users`` (root-only; the hub's ``tljh-users`` service)."""
        return self.state_dir / "users-api.token"

    @property
    def removed_homes(self) -> Path:
        """Where ``tljh users remove`` archives the homes of removed users (root-only)."""
        return self.state_dir / "removed-homes"

    @property
    def acme_file(self) -> Path:
        """Traefik's ACME account and certificates (owned by :data:`PROXY_USER`, 0600)."""
        return self.state_dir / "acme.json"

    @property
    def proxy_certs_dir(self) -> Path:
        """Copies of the admin's own certificate and key, for the proxy to read."""
        return self.state_dir / "proxy-certs"

    @property
    def hub_fallback_marker(self) -> Path:
        """Written by the hub when it started on the known-good configuration instead of
        the current files (see tljh.config.fallback); absent when it runs on them."""
        return self.state_dir / "hub-fallback.json"

    @property
    def upstream_dir(self) -> Path:
        """What a migration from upstream TLJH replaced, kept to go back (root-only)."""
        return self.state_dir / "upstream"

    @property
    def migration_record(self) -> Path:
        """How the migration from upstream TLJH went (written first by bootstrap.py)."""
        return self.upstream_dir / "migration.json"

    @property
    def installer_log(self) -> Path:
        return self.prefix / "installer.log"

    @property
    def install_progress(self) -> Path:
        """Which install step runs and how the install ended (root-only 0600; read by the
        bootstrap's progress page, see tljh.render.progress_page)."""
        return self.prefix / "install-progress.json"

    @property
    def config_log(self) -> Path:
        """Unexpected errors of tljh-config, and how interrupted applies ended (root only)."""
        return self.prefix / "tljh-config.log"

    # system files
    @property
    def hub_unit_file(self) -> Path:
        return self.systemd_dir / HUB_UNIT

    @property
    def traefik_unit_file(self) -> Path:
        return self.systemd_dir / PROXY_UNIT

    @property
    def sudoers_file(self) -> Path:
        return self.sudoers_dir / "jupyterhub-admins"

    @property
    def tljh_config_link(self) -> Path:
        return self.bin_dir / "tljh-config"

    @property
    def tljh_link(self) -> Path:
        """``tljh`` (``tljh users ...``) on root's PATH."""
        return self.bin_dir / "tljh"
