"""Which system account and which names a hub user's servers get: pure rules.

Invariant: a system account is only ever used for the hub user recorded as its
owner (:class:`tljh.system.users.AccountOwners`).  Names are how accounts are
found, never proof of whose they are: see :func:`choose_account`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, MutableMapping
from urllib.parse import quote

from tljh.errors import AccountConflict
from tljh.layout import Layout
from tljh.system.usernames import legacy_system_username, looks_hashed, system_username
from tljh.system.users import recorded_account

# A named server's unit is "<system name>:<server>".  systemd allows ':' in
# unit names, and useradd never allows it in a user name (it separates the
# fields of /etc/passwd), so the first ':' splits every unit name in exactly
# one way: "alice" + server "bob" (jupyter-alice:bob) can never be the default
# server of the user "alice-bob" (jupyter-alice-bob).  The default server
# keeps the plain "jupyter-<name>" that upstream TLJH and its docs use.
_SERVER_SEPARATOR = ":"
_SERVER_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_SERVER_HASH = 8
_SERVER_LOOKS_HASHED = re.compile(rf"-[0-9a-f]{{{_SERVER_HASH}}}\Z")


def server_suffix(server_name: str) -> str:
    """What a named server adds to its unit name, so units never clash.

    Different server names always give different suffixes: a name is used
    verbatim only when it is short, in systemd's alphabet and does not end
    like a hashed name; every other name is folded and gets a hash.
    """
    if not server_name:
        return ""
    if _SERVER_SAFE.match(server_name) and not _SERVER_LOOKS_HASHED.search(server_name):
        return _SERVER_SEPARATOR + server_name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", server_name)[:55]
    digest = hashlib.sha256(server_name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_SERVER_SEPARATOR}{safe}-{digest[:_SERVER_HASH]}"


def oauth_client_id(hub_name: str, server_name: str) -> str:
    """The OAuth client of a user's server, unambiguous also for named servers.

    JupyterHub names it ``jupyterhub-user-<quoted user>[-<quoted server>]``, so
    alice's server "bob" and the default server of the user "alice-bob" get the
    same client, and whichever starts second fails ("OAuthClient ... is only
    allowed a single parent").  ``quote()`` always escapes '!' (as %21), so
    "<user>!<server>" splits in one way only; '!' is allowed in the cookie
    names the client id becomes (it is quoted for that reason, JupyterHub
    #1333).  The default server keeps JupyterHub's own id.
    """
    client_id = f"jupyterhub-user-{quote(hub_name)}"
    if server_name:
        client_id += "!" + quote(server_name)
    return client_id


def _refuse(hub_name: str, system_name: str, why: str, what_to_do: str) -> AccountConflict:
    return AccountConflict(
        f"cannot start a server for {hub_name!r}: the system account {system_name} {why}",
        hint=f"ask an admin of this hub; an admin can {what_to_do}, then start the server again",
    )


def choose_account(
    hub_name: str,
    owners: MutableMapping[str, str],
    exists: Callable[[str], bool],
    hub_users: Callable[[], Iterable[str]],
    record: str = str(Layout().account_owners),
) -> str:
    """The system account of ``hub_name``; records a new or adopted one in ``owners``.

    ``owners`` maps system account -> hub user (the ownership record), ``exists``
    says whether a system account exists, ``hub_users`` lists the hub's users
    (only called when an unrecorded account is found); ``record`` is where the
    record lives, for the messages that tell an admin what to change.

    1. An account recorded for ``hub_name`` is its account.
    2. An existing account under the user's upstream (legacy) name is adopted if
       nobody else is recorded for it and nobody else can claim it (below); if it
       is recorded for someone else, it is simply not this user's.
    3. Otherwise the user gets (or adopts) the account under the current rule,
       unless that name is recorded for another hub user.

    Adopting an account that has no record (made by an earlier release or by
    upstream TLJH) is refused when another hub user's current or legacy name is
    the same account name, and when a legacy name ends like a hashed name
    (``-<8 hex>``): such a name is presumed to belong to the user whose
    *current* name it is (``b.s`` -> ``jupyter-b-s-<hash>``), not to the hub user
    ``b-s-<hash>`` whose legacy name it also is.

    Residual risk, by design: an unrecorded account whose rightful owner is not
    (or no longer) a user of this hub can be adopted by the first user whose
    name maps to it, e.g. after the hub database was reset while the accounts
    were kept, or for an upstream 5-hex-digit name someone found a collision
    for.  Every account created or adopted from now on is recorded, so this
    only concerns accounts older than the record.

    Raises :class:`AccountConflict` (shown on the spawn page) when the account
    is, or may be, another hub user's.
    """
    mine = recorded_account(owners, hub_name)
    if mine is not None:
        return mine
    current = system_username(hub_name)
    legacy = legacy_system_username(hub_name)
    if legacy != current and exists(legacy) and legacy not in owners:
        if looks_hashed(legacy):
            raise _refuse(
                hub_name,
                legacy,
                "exists without an owner record, and its name is also one TLJH gives "
                "to another user name",
                f'record it as this user\'s account if it is (add "{legacy}": '
                f'"{hub_name}" to the JSON object in {record} '
                f"as root), or rename it ('usermod -l NEW {legacy}') if it is not",
            )
        _refuse_if_claimed(hub_name, legacy, hub_users, record, by_legacy_name=True)
        owners[legacy] = hub_name
        return legacy
    if current in owners:
        raise _refuse(
            hub_name,
            current,
            "belongs to another hub user",
            "rename this hub user, or give the account to this user by changing its "
            f"entry in {record} (as root) if it really is theirs",
        )
    if exists(current):
        _refuse_if_claimed(
            hub_name, current, hub_users, record, by_legacy_name=not looks_hashed(current)
        )
    owners[current] = hub_name
    return current


def _refuse_if_claimed(
    hub_name: str,
    system_name: str,
    hub_users: Callable[[], Iterable[str]],
    record: str,
    by_legacy_name: bool,
) -> None:
    """Raise if another hub user's name also maps to the unrecorded ``system_name``."""
    for other in hub_users():
        if other == hub_name:
            continue
        if system_username(other) == system_name or (
            by_legacy_name and legacy_system_username(other) == system_name
        ):
            raise _refuse(
                hub_name,
                system_name,
                "exists without an owner record, and another hub user's name maps to it too",
                f'record the account for its owner (add "{system_name}": "<hub user>" to '
                f"the JSON object in {record} as root); the other "
                "user then gets an account of their own",
            )
