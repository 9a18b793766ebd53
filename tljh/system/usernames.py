"""Turning JupyterHub user names into names the operating system accepts.

Every hub user runs as a system user ``jupyter-<name>``.  Hub names come from
authenticators and can be anything: e-mail addresses, upper case, dots, accents,
very long strings.  ``useradd`` is stricter, and Debian 13 stricter still (it
refuses ``@``), so the system name is built from a safe alphabet only:

* lower-case ASCII letters, digits, ``_`` and ``-``;
* starts with a letter;
* at most 32 characters.

The mapping stays readable (``Alice.Smith@uni.edu`` becomes
``jupyter-alice-smith-uni-edu-<hash>``) and injective: whenever the safe name
is not the requested name verbatim, 8 hex digits (32 bits) of a hash of the
requested name are appended, so two different hub users never share a system
account.  Names that are already safe and short enough (at most 25
characters, prefix included) are used verbatim, exactly as upstream TLJH does,
so upgrading an installation keeps every such user's home directory.

Earlier releases cut long safe names to 26 characters and appended only 5 hex
digits (20 bits: a colliding name is found in seconds), and used unsafe short
names verbatim.  New accounts never get such a name; existing ones are found
through :func:`legacy_system_username`, and an account is only ever handed to
the hub user recorded as its owner (see ``tljh.hub.spawner`` and
``tljh.system.users.AccountOwners``): a name is a lookup key, not a proof of
ownership.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

#: Prefix of every system user (and of every user server's systemd unit).
SYSTEM_USER_PREFIX = "jupyter-"

#: Longest name ``useradd`` accepts.
MAX_LENGTH = 32

# Names up to this length that are already safe are used verbatim, as upstream
# TLJH does.
_VERBATIM_MAX = 25
# Upstream's rule for longer names: cut to 26 characters, then '-' and 5 hex
# digits (26 + 1 + 5 = 32).  Only used to find existing accounts.
_LEGACY_KEEP = 26
_LEGACY_HASH = 5

# Every name that is not used verbatim gets 8 hex digits (32 bits).
_HASH = 8
_KEEP = MAX_LENGTH - 1 - _HASH

_SAFE = re.compile(r"[a-z][a-z0-9_-]*\Z")
_UNSAFE_RUN = re.compile(r"[^a-z0-9_-]+")
# What a name produced by the "changed" branch ends with.  A safe requested
# name that happens to end like this is hashed too, so it can never be
# mistaken for (and collide with) the result of another name.
_LOOKS_HASHED = re.compile(rf"-[0-9a-f]{{{_HASH}}}\Z")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _sanitize(name: str) -> str:
    """Fold ``name`` into the safe alphabet, keeping it readable."""
    # NFKD splits accented letters into letter + accent; dropping the non-ASCII
    # remainder turns "José" into "jose" and "ﬁle" into "file".
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = _UNSAFE_RUN.sub("-", folded.lower()).strip("-")
    if not safe:
        return "u"
    if not "a" <= safe[0] <= "z":
        safe = "u-" + safe
    return safe


def generate_system_username(username: str) -> str:
    """Return the system user name for the requested name ``username``.

    ``username`` is the full requested name, prefix included, as in earlier
    TLJH releases: ``generate_system_username("jupyter-" + hub_name)``.  Use
    :func:`system_username` to go straight from a hub user name.

    The result is a valid user name on Debian 12 and 13 for any input, is at
    most 32 characters long, and different inputs give different results.
    """
    if (
        _SAFE.match(username)
        and not _LOOKS_HASHED.search(username)
        and len(username) <= _VERBATIM_MAX
    ):
        return username
    safe = _sanitize(username)[:_KEEP].rstrip("-")
    return f"{safe}-{_digest(username)[:_HASH]}"


def system_username(hub_name: str) -> str:
    """The system user (and systemd unit name) of the hub user ``hub_name``."""
    return generate_system_username(SYSTEM_USER_PREFIX + hub_name)


def legacy_system_username(hub_name: str) -> str:
    """The system user name upstream TLJH gave ``hub_name`` (not always valid).

    Only used to find the account of an existing user after an upgrade.  Such
    an account is *not* necessarily this user's: another hub user's name can
    map to the same legacy name (``b.s`` got ``jupyter-b-s-<hash>`` from an
    earlier release of this rule, which is also the legacy name of the hub user
    ``b-s-<hash>``; and 5 hex digits collide on purpose in seconds).  Whether
    it may be used is decided from the ownership record, see
    :func:`tljh.hub.spawner.choose_account`.
    """
    name = SYSTEM_USER_PREFIX + hub_name
    if len(name) < _LEGACY_KEEP:
        return name
    return f"{name[:_LEGACY_KEEP]}-{_digest(name)[:_LEGACY_HASH]}"


def looks_hashed(system_name: str) -> bool:
    """Whether ``system_name`` ends like a name this rule hashed (``-<8 hex>``).

    Such a name can be both the current name of one hub user and the legacy
    (verbatim) name of another, so it never proves who owns the account.
    """
    return bool(_LOOKS_HASHED.search(system_name))
