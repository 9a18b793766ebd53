"""Downloading a file and checking its sha256 before anything uses it.

A URL may also be a local path (or ``file://``), for air-gapped sites.
Transient failures are retried a bounded number of times; nothing here
waits forever.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tljh.errors import InstallError
from tljh.system import network
from tljh.system.network import ssl_context

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60.0
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Unreachable(Exception):
    """A download that cannot succeed however often it is retried."""


def _fetch_once(url: str, dest: Path, timeout: float) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("", "file"):
        source = parsed.path if parsed.scheme == "file" else url
        try:
            shutil.copyfile(source, dest)
        except OSError as e:
            # A missing local file does not appear by retrying.
            raise _Unreachable(str(e)) from e
        return
    request = urllib.request.Request(url, headers={"User-Agent": "tljh-installer"})
    context = ssl_context() if parsed.scheme == "https" else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
        expected = resp.headers.get("Content-Length")
        size = 0
        with open(dest, "wb") as out:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                size += len(chunk)
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise http.client.IncompleteRead(b"", int(expected) - size)


def download(
    url: str,
    dest: Path,
    sha256: str,
    *,
    what: str,
    unreachable_hint: str,
    mismatch_hint: str,
    retries: int = network.RETRIES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> None:
    """Download ``what`` from ``url`` to ``dest`` and check its sha256.

    Connection errors, timeouts, cut-off transfers and HTTP 5xx/408/429 are
    retried up to ``retries`` attempts in all; other HTTP errors (404...) are
    not.  Raises :class:`InstallError` with ``unreachable_hint`` when the file
    could not be had, and with ``mismatch_hint`` when its checksum differs
    (``dest`` is then removed: nothing unverified is left to run).
    """

    def unreachable(reason: str, attempts: int) -> InstallError:
        return InstallError(
            f"could not download {what} from {url} ({attempts} attempt(s)): {reason}",
            unreachable_hint,
        )

    sha256 = sha256.strip().lower()
    for attempt in range(1, retries + 1):
        try:
            _fetch_once(url, dest, timeout)
            break
        except _Unreachable as e:
            raise unreachable(str(e), attempt) from e
        except urllib.error.HTTPError as e:
            reason = f"HTTP {e.code} {e.reason}"
            if e.code < 500 and e.code not in (408, 429):
                raise unreachable(reason, attempt) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = str(getattr(e, "reason", None) or e) or type(e).__name__
        dest.unlink(missing_ok=True)
        if attempt == retries:
            raise unreachable(reason, attempt)
        log.info(
            "downloading %s failed (%s); trying again (%d/%d)", url, reason, attempt + 1, retries
        )
        time.sleep(network.RETRY_DELAY * attempt)
    actual = sha256_file(dest)
    if actual != sha256:
        dest.unlink(missing_ok=True)
        raise InstallError(
            f"the file downloaded from {url} has sha256 {actual}, expected {sha256}; "
            "it was deleted unused",
            mismatch_hint,
        )
