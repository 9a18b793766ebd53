"""LDAP logins as docs/howto/auth-ldap.md sets them up, against a real directory.

Debian's OpenLDAP server (slapd) runs in the container with one person in it; the hub
checks names and passwords against it with LDAPAuthenticator, as a school's directory
would be asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import run
from hubclient import HubClient, HubError

BASE = "dc=example,dc=org"
DIRECTORY_ADMIN_PASSWORD = "directory-admin-pw-1"
PERSON, PERSON_PASSWORD = "curie", "curie-ldap-pw-1"
PEOPLE = f"""\
dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: uid={PERSON},ou=people,{BASE}
objectClass: inetOrgPerson
uid: {PERSON}
cn: Marie Curie
sn: Curie
userPassword: {PERSON_PASSWORD}
"""


def start_directory() -> None:
    answers = "".join(
        f"slapd {question}\n"
        for question in (
            "slapd/domain string example.org",
            "shared/organization string Example School",
            f"slapd/password1 password {DIRECTORY_ADMIN_PASSWORD}",
            f"slapd/password2 password {DIRECTORY_ADMIN_PASSWORD}",
        )
    )
    run(["debconf-set-selections"], input=answers)
    install = "apt-get install -y -q --no-install-recommends slapd ldap-utils"
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if run(install, check=False, env=env).returncode != 0:
        run("apt-get update -q", env=env)
        run(install, env=env)
    run("systemctl restart slapd")
    run(
        ["ldapadd", "-x", "-H", "ldap://127.0.0.1", "-D", f"cn=admin,{BASE}",
         "-w", DIRECTORY_ADMIN_PASSWORD],
        input=PEOPLE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def ldap(tljh_config: Callable[..., str]) -> Iterator[None]:
    start_directory()
    prefix = "auth.LDAPAuthenticator"
    tljh_config("set", f"{prefix}.server_address", "127.0.0.1")
    tljh_config("add-item", f"{prefix}.bind_dn_template", f"uid={{username}},ou=people,{BASE}")
    # The test directory has no certificate; a real one is asked over TLS (the default).
    tljh_config("set", f"{prefix}.tls_strategy", "insecure")
    # Everyone the directory knows may log in (or list them in users.allowed).
    tljh_config("set", f"{prefix}.allow_all", "true")
    tljh_config("set", "auth.type", "ldap")
    tljh_config("reload")
    yield
    tljh_config("unset", "auth.type")
    tljh_config("unset", prefix)
    tljh_config("reload")
    run("systemctl stop slapd", check=False)


def test_a_person_in_the_directory_logs_in_with_their_password(ldap: None, hub_url: str) -> None:
    person = HubClient(hub_url)
    person.login(PERSON, PERSON_PASSWORD)
    assert person.whoami()["name"] == PERSON
    person.start_server()
    assert person.execute("import getpass; getpass.getuser()") == f"'jupyter-{PERSON}'"
    person.stop_server()


@pytest.mark.parametrize(
    ("name", "password"),
    [(PERSON, "not-the-password"), ("nobody-here", PERSON_PASSWORD), (PERSON, "")],
)
def test_others_are_refused(ldap: None, hub_url: str, name: str, password: str) -> None:
    with pytest.raises(HubError, match="login as"):
        HubClient(hub_url).login(name, password)


def test_passwords_are_not_sent_to_a_directory_without_tls(
    ldap: None, hub_url: str, tljh_config: Callable[..., str]
) -> None:
    """LDAPAuthenticator's default: StartTLS before the password, or no login at all."""
    tljh_config("unset", "auth.LDAPAuthenticator.tls_strategy")
    tljh_config("reload", "hub")
    with pytest.raises(HubError, match="login as"):
        HubClient(hub_url).login(PERSON, PERSON_PASSWORD)
