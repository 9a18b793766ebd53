"""What ``tljh uninstall`` plans to remove, and what it keeps (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tljh.errors import UninstallError
from tljh.install.uninstall import check_prefix
from tljh.install.uninstall_plan import Choices, Facts, plan
from tljh.layout import Layout

PREFIX = Path("/opt/tljh")

FACTS = Facts(
    prefix=PREFIX,
    unit_files=(
        Path("/etc/systemd/system/jupyterhub.service"),
        Path("/etc/systemd/system/traefik.service"),
    ),
    units=("jupyterhub.service", "traefik.service"),
    user_units=("jupyter-ada.service",),
    sudoers=Path("/etc/sudoers.d/jupyterhub-admins"),
    links=(Path("/usr/bin/tljh-config"), Path("/usr/bin/tljh")),
    prefix_entries=("config", "hub", "installer.log", "state", "user"),
    state_entries=("jupyterhub.sqlite", "passwords.dbm"),
    accounts=("jupyter-ada", "jupyter-bob"),
    groups=("jupyterhub-users", "jupyterhub-admins"),
    service_users=("tljh-idle-culler", "tljh-proxy"),
)


def described(facts: Facts = FACTS, **choices: bool) -> list[str]:
    return [a.describe() for a in plan(facts, Choices(**choices))]


def test_by_default_everything_of_tljh_goes_but_accounts_and_homes() -> None:
    steps = described()
    assert steps[:3] == [
        "stop jupyter-ada.service",
        "stop jupyterhub.service",
        "disable jupyterhub.service",
    ]
    for gone in (
        "remove /etc/systemd/system/jupyterhub.service",
        "reload systemd",
        "remove /etc/sudoers.d/jupyterhub-admins",
        "remove /usr/bin/tljh-config",
        "remove /opt/tljh/hub",
        "remove /opt/tljh/config",
        "remove /opt/tljh/state",
        "remove the system user tljh-proxy",
    ):
        assert gone in steps
    assert not [s for s in steps if "jupyter-ada" in s and "stop" not in s]
    assert not [s for s in steps if "group" in s]
    # The prefix goes last: the command runs from it.
    assert steps[-1] == "remove /opt/tljh (empty by then)"


def test_units_are_stopped_before_their_files_go() -> None:
    steps = described()
    assert steps.index("stop jupyterhub.service") < steps.index(
        "remove /etc/systemd/system/jupyterhub.service"
    )


def test_keep_user_data_keeps_config_and_state_and_the_prefix() -> None:
    steps = described(keep_user_data=True)
    assert "keep /opt/tljh/config" in steps and "keep /opt/tljh/state" in steps
    assert "remove /opt/tljh/hub" in steps
    assert not [s for s in steps if s.startswith("remove /opt/tljh/state")]
    assert "remove /opt/tljh (empty by then)" not in steps


def test_removed_accounts_homes_are_set_aside_unless_asked() -> None:
    steps = described(remove_accounts=True)
    assert "set the home of jupyter-ada aside (root only)" in steps
    assert "remove the account jupyter-ada" in steps
    assert "remove the group jupyterhub-users" in steps
    assert not [s for s in steps if s.startswith("delete the home")]
    steps = described(remove_accounts=True, remove_homes=True)
    assert "delete the home of jupyter-bob" in steps
    # Home first, then the account (its uid decides whose home it is).
    assert steps.index("delete the home of jupyter-bob") < steps.index(
        "remove the account jupyter-bob"
    )


def test_homes_of_removed_users_are_kept_unless_asked() -> None:
    facts = Facts(
        prefix=PREFIX,
        prefix_entries=("hub", "state"),
        state_entries=("jupyterhub.sqlite", "removed-homes"),
        removed_homes=True,
    )
    steps = described(facts)
    assert "keep /opt/tljh/state/removed-homes" in steps
    assert "remove /opt/tljh/state/jupyterhub.sqlite" in steps
    assert "remove /opt/tljh/state" not in steps
    assert "remove /opt/tljh (empty by then)" not in steps
    steps = described(facts, remove_accounts=True, remove_homes=True)
    assert "remove /opt/tljh/state" in steps


def test_what_is_not_tljhs_in_the_prefix_is_kept() -> None:
    facts = Facts(
        prefix=PREFIX,
        prefix_entries=("hub", "my-notes.txt", "replaced-by-restore-20261201T085500Z"),
    )
    steps = described(facts)
    assert "keep /opt/tljh/my-notes.txt" in steps
    assert "remove /opt/tljh/replaced-by-restore-20261201T085500Z" in steps
    assert "remove /opt/tljh (empty by then)" not in steps
    assert "keep /opt/tljh/replaced-by-restore-20261201T085500Z" in described(
        facts, keep_user_data=True
    )


def test_nothing_there_nothing_planned() -> None:
    assert plan(Facts(prefix=PREFIX), Choices()) == []


@pytest.mark.parametrize("prefix", ["/", "/usr", "/home"])
def test_a_prefix_that_is_no_install_is_refused(prefix: str) -> None:
    with pytest.raises(UninstallError, match="does not look like a TLJH install"):
        check_prefix(Layout(prefix=Path(prefix)))


def test_a_directory_without_tljh_in_it_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(UninstallError):
        check_prefix(Layout(prefix=tmp_path))
    (tmp_path / "state").mkdir()
    check_prefix(Layout(prefix=tmp_path))
