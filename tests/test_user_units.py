"""The sandbox of users' server units: who gets which systemd property, on which systemd."""

from __future__ import annotations

from tljh.render.user_units import DEFAULT_TASKS_MAX, server_properties

DEBIAN_12 = 252

# Properties that rely on seccomp: systemd turns NoNewPrivileges on for a
# non-root unit with any of them, which would take sudo away from admins.
SECCOMP_BASED = {
    "RestrictSUIDSGID",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictAddressFamilies",
    "SystemCallArchitectures",
    "LockPersonality",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectHostname",
}


def test_students_get_limits_and_the_sandbox() -> None:
    props = server_properties(may_sudo=False, systemd_version=DEBIAN_12)
    assert props["TasksMax"] == str(DEFAULT_TASKS_MAX)
    assert props["MemorySwapMax"] == "0"
    assert props["TemporaryFileSystem"].startswith("/dev/shm:")
    assert "mode=1777" in props["TemporaryFileSystem"]
    for key in [
        "RestrictSUIDSGID",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
    ]:
        assert props[key] == "yes", key
    assert props["ProtectProc"] == "invisible"
    assert props["CapabilityBoundingSet"] == ""


def test_admins_get_the_limits_but_nothing_that_takes_sudo_away() -> None:
    props = server_properties(may_sudo=True, systemd_version=DEBIAN_12)
    assert props["TasksMax"] == str(DEFAULT_TASKS_MAX)
    assert props["MemorySwapMax"] == "0"
    assert "TemporaryFileSystem" in props
    assert not SECCOMP_BASED & set(props)
    # sudo apt install writes /usr, /etc and set-uid files; sudo needs capabilities.
    assert "ProtectSystem" not in props
    assert "CapabilityBoundingSet" not in props


def test_tasks_max_is_configurable() -> None:
    assert (
        server_properties(may_sudo=False, systemd_version=DEBIAN_12, tasks_max=64)["TasksMax"]
        == "64"
    )


def test_properties_an_older_systemd_does_not_know_are_left_out() -> None:
    # systemd-run refuses the whole unit on an unknown property.
    props = server_properties(may_sudo=False, systemd_version=243)
    assert "ProtectKernelLogs" not in props
    assert "ProtectProc" not in props
    assert "PrivateIPC" not in props
    assert props["RestrictSUIDSGID"] == "yes"
    props = server_properties(may_sudo=False, systemd_version=247)
    assert props["ProtectProc"] == "invisible"
    assert "PrivateIPC" not in props
    # Unknown version: only what every supported systemd knows.
    assert "ProtectKernelLogs" not in server_properties(may_sudo=False, systemd_version=None)
