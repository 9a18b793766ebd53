"""The admin's CA, mirror and proxy settings, handed on to package tools and downloads.

An admin behind a proxy, a mirror or a TLS-inspecting firewall has most
likely set pip's or requests' variables already; uv, OpenSSL and pip each
read other names.  The rule for which variable wins is the data below, and
it is the same everywhere: ``bootstrap/bootstrap.py`` (which runs before TLJH
is installed and may import nothing of ours) carries a generated copy of it
(``python -m tljh.install.bootstrap_copy --write-bootstrap``).  Proxy variables
(``http_proxy``, ``https_proxy``, ``no_proxy``) are read under the same
names by every tool and are passed on as they are.

Standard library only, like the bootstrap.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

#: Where a CA bundle may be configured, in the order they are looked at: the
#: first one set is the CA bundle.
CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE")
#: The CA bundle is copied into these when they are unset: OpenSSL and uv
#: read SSL_CERT_FILE, pip reads PIP_CERT.
CA_BUNDLE_EXPORTS = ("SSL_CERT_FILE", "PIP_CERT")
#: pip's mirror settings, copied into uv's names when those are unset.
MIRROR_VARIABLES = (
    ("PIP_INDEX_URL", "UV_INDEX_URL"),
    ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
)
#: Set unless the admin set them: uv uses the system's Python and copies
#: files (the caches may be on another file system); apt asks nothing.
TOOL_DEFAULTS = (
    ("UV_PYTHON_DOWNLOADS", "never"),
    ("UV_LINK_MODE", "copy"),
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
)

#: Attempts of a networked command or download in all.
RETRIES = 3
#: Seconds to wait before the second attempt; the wait grows with each attempt.
RETRY_DELAY = 2.0


def ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle the admin configured (first of :data:`CA_BUNDLE_VARIABLES`), if any."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in CA_BUNDLE_VARIABLES if env.get(name)), None)


def package_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for uv, pip, conda and apt: ``environ`` (default: ours), mapped."""
    env = dict(os.environ if environ is None else environ)
    ca = ca_bundle(env)
    if ca:
        for name in CA_BUNDLE_EXPORTS:
            env.setdefault(name, ca)
    for pip_name, uv_name in MIRROR_VARIABLES:
        if env.get(pip_name):
            env.setdefault(uv_name, env[pip_name])
    for name, value in TOOL_DEFAULTS:
        env.setdefault(name, value)
    return env


def ssl_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """Verify TLS with the CA bundle the admin configured, if it exists."""
    cafile = ca_bundle(environ)
    if cafile and os.path.isfile(cafile):
        return ssl.create_default_context(cafile=cafile)
    return ssl.create_default_context()
