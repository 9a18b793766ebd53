"""What HTTPS looks like from outside: the certificate served, its expiry, ACME's last word.

``tljh-config https-status`` prints it.  The most common HTTPS failure is
silent: traefik serves its own placeholder certificate ("TRAEFIK DEFAULT
CERT") when it has no other, and browsers only say "not secure".  This
module looks at what is really served, compares it with what the config asks
for, and says why and what to do when they differ.

Certificates are read with the ``openssl`` command (Debian installs it with
ca-certificates); :func:`parse_openssl_x509` is the pure part.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tljh.apply.health import local_address
from tljh.config.kinds import host_port
from tljh.errors import CommandFailed
from tljh.layout import PROXY_UNIT, Layout
from tljh.render.proxy import own_certificate, uses_acme
from tljh.system import systemd
from tljh.system.run import run

#: The subject traefik gives the certificate it makes up when it has none.
TRAEFIK_DEFAULT = "TRAEFIK DEFAULT CERT"
#: Warn when the served certificate ends sooner than this.
RENEW_WARNING_DAYS = 14
_ACME_ERROR = re.compile(r"(acme|certificate|challenge|lego)", re.IGNORECASE)


@dataclass
class CertInfo:
    """The parts of a certificate an admin checks."""

    subject: str = ""
    issuer: str = ""
    names: list[str] = field(default_factory=list)
    not_after: float | None = None
    sha256: str = ""

    @property
    def is_traefik_default(self) -> bool:
        return TRAEFIK_DEFAULT in self.subject


def parse_openssl_x509(text: str) -> CertInfo:
    """What ``openssl x509 -noout -subject -issuer -enddate -fingerprint -sha256
    -ext subjectAltName -nameopt RFC2253`` printed, as a :class:`CertInfo`."""
    info = CertInfo()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if line.startswith("subject="):
            info.subject = value.strip()
        elif line.startswith("issuer="):
            info.issuer = value.strip()
        elif line.startswith("notAfter="):
            try:
                info.not_after = ssl.cert_time_to_seconds(value.strip())
            except ValueError:
                info.not_after = None
        elif sep and "Fingerprint" in key:
            info.sha256 = value.strip()
        elif "Subject Alternative Name" in line and i + 1 < len(lines):
            for item in lines[i + 1].split(","):
                kind, _, name = item.strip().partition(":")
                if kind in ("DNS", "IP Address") and name:
                    info.names.append(name.strip())
    if not info.names:
        cn = re.search(r"(?:^|,)CN=([^,]+)", info.subject)
        if cn:
            info.names.append(cn.group(1))
    return info


def describe_pem(pem: str) -> CertInfo:
    """Parse one PEM certificate with openssl.  Raises CommandFailed if it is not one."""
    out = run(
        [
            "openssl", "x509", "-noout", "-subject", "-issuer", "-enddate",
            "-fingerprint", "-sha256", "-ext", "subjectAltName", "-nameopt", "RFC2253",
        ],
        input=pem,
        timeout=10,
        hint="is the file a PEM certificate (-----BEGIN CERTIFICATE-----)?",
    )  # fmt: skip
    return parse_openssl_x509(out.stdout)


def served_certificate(host: str, port: int, server_name: str | None) -> str:
    """The PEM certificate the proxy serves on ``host:port`` for ``server_name`` (SNI).

    Raises OSError when nothing answers with TLS there.
    """
    context = ssl.create_default_context()
    # We read the certificate to judge it ourselves: it may well not verify.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection((host, port), timeout=10)
    with context.wrap_socket(sock, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError("no certificate")
    return ssl.DER_cert_to_PEM_cert(der)


def acme_domains(acme_file: Path) -> list[str]:
    """The domains traefik holds ACME certificates for in its store."""
    try:
        data = json.loads(acme_file.read_text() or "{}")
    except (OSError, ValueError):
        return []
    names = []
    for resolver in data.values() if isinstance(data, dict) else []:
        for cert in (resolver or {}).get("Certificates") or []:
            domain = cert.get("domain") or {}
            names += [domain.get("main", ""), *(domain.get("sans") or [])]
    return [n for n in names if n]


def last_acme_error(journal: str) -> str:
    """The last error traefik logged about certificates (ACME), or ''."""
    last = ""
    for line in journal.splitlines():
        if (" ERR " in line or "level=error" in line) and _ACME_ERROR.search(line):
            last = line.strip()
    return last


def _when(t: float) -> str:
    days = (t - time.time()) / 86400
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))
    if days < 0:
        return f"{stamp} (EXPIRED {-days:.0f} days ago)"
    return f"{stamp} ({days:.0f} days left)"


def _cert_lines(info: CertInfo) -> list[str]:
    lines = [
        f"  subject:     {info.subject or '?'}",
        f"  names:       {', '.join(info.names) or '?'}",
        f"  issuer:      {info.issuer or '?'}",
    ]
    if info.not_after is not None:
        lines.append(f"  valid until: {_when(info.not_after)}")
    lines.append(f"  sha256:      {info.sha256 or '?'}")
    return lines


def https_status(layout: Layout, config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Lines describing HTTPS as configured and as served, and the problems found.

    Each problem is a sentence that says what to do.
    """
    https = config["https"]
    le = https["letsencrypt"]
    lines: list[str] = []
    problems: list[str] = []
    if not https["enabled"]:
        lines.append(
            "HTTPS is off: the hub is served over plain HTTP on port "
            f"{config['http']['port']} (see docs/howto/https.md to turn it on)."
        )
        return lines, problems

    own = own_certificate(config)
    wanted: CertInfo | None = None
    server_name: str | None = None
    if own:
        lines.append(f"HTTPS with your own certificate: {own[0]} (key {own[1]}).")
        try:
            wanted = describe_pem(Path(own[0]).read_text())
        except (OSError, CommandFailed) as e:
            problems.append(f"{own[0]} cannot be read as a certificate ({e}); fix the file")
        if wanted and wanted.names:
            # A wildcard's own name is not one a client would ask for.
            server_name = wanted.names[0].removeprefix("*.")
    elif uses_acme(config):
        ca = le["ca_server"] or ("Let's Encrypt staging" if le["staging"] else "Let's Encrypt")
        port = config["http"]["port"] if le["challenge"] == "http-01" else https["port"]
        lines.append(
            f"HTTPS with certificates over ACME from {ca}, for {', '.join(le['domains'])}; "
            f"challenge {le['challenge']} (the ACME server connects to port "
            f"{80 if le['challenge'] == 'http-01' else 443}, served here on {port})."
        )
        server_name = le["domains"][0]
        stored = acme_domains(layout.acme_file)
        lines.append(
            f"ACME store {layout.acme_file}: "
            + (f"certificates for {', '.join(stored)}" if stored else "no certificate yet")
        )
    host = local_address(str(https["address"]))
    where = f"{host_port(host, int(https['port']))}" + (
        f" (name {server_name})" if server_name else ""
    )
    try:
        served = describe_pem(served_certificate(host, int(https["port"]), server_name))
    except (OSError, CommandFailed) as e:
        problems.append(
            f"nothing serves HTTPS on {where} ({e}); check 'sudo systemctl status traefik' "
            "and 'sudo journalctl -u traefik'"
        )
        return lines, problems
    lines.append(f"Served on {where}:")
    lines += _cert_lines(served)

    if served.is_traefik_default:
        why = ""
        if uses_acme(config):
            error = last_acme_error(systemd.journal_tail(PROXY_UNIT, 400))
            why = f" traefik's last ACME error: {error}" if error else ""
            problems.append(
                f"the proxy serves its placeholder certificate ({TRAEFIK_DEFAULT}): it has no "
                f"certificate for {server_name} yet.{why} Check that the domains point to this "
                "server, that the challenge port is open to the internet, then run "
                "'sudo tljh-config reload proxy' and look again in a minute"
            )
        else:
            problems.append(
                f"the proxy serves its placeholder certificate ({TRAEFIK_DEFAULT}): it could "
                "not use your certificate; see 'sudo journalctl -u traefik' and run "
                "'sudo tljh-config reload proxy' after fixing the files"
            )
    elif wanted and wanted.sha256 and wanted.sha256 != served.sha256:
        problems.append(
            f"{own[0] if own else 'your certificate'} is not the one served (renewed since "
            "the proxy last read it?); run 'sudo tljh-config reload proxy'"
        )
    if served.not_after is not None and not served.is_traefik_default:
        days = (served.not_after - time.time()) / 86400
        if days < RENEW_WARNING_DAYS:
            renew = (
                "traefik renews ACME certificates 30 days before they end: check its log"
                if uses_acme(config)
                else "put a renewed certificate at the same path and run "
                "'sudo tljh-config reload proxy'"
            )
            problems.append(f"the served certificate ends in {days:.0f} days; {renew}")
    return lines, problems
