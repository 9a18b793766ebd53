"""``tljh doctor`` and ``tljh status``: the judgements, the findings, the command lines."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pytest

from tljh.apply import doctor, status
from tljh.apply.doctor import (
    DiskFacts,
    judge_clock,
    judge_disk,
    judge_dns,
    judge_fallback,
    judge_hub_config,
    judge_hub_env,
    judge_port,
    judge_sudoers,
    judge_unit,
    judge_user_env,
)
from tljh.apply.findings import (
    FAIL,
    OK,
    WARN,
    Finding,
    config_finding,
    exit_status,
    judged_config,
    render,
)
from tljh.apply.status import UnitFacts, judge_memory, judge_routes, routed_users
from tljh.apply.users import UserRow
from tljh.cli import logs
from tljh.cli.main import build_parser, main
from tljh.config.fallback import Fallback
from tljh.errors import UserError
from tljh.layout import Layout
from tljh.render.limits import Effective
from tljh.system.addresses import ipv4_local, ipv6_local
from tljh.system.ports import Holder

G = 1024**3


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(prefix=tmp_path)


# --- findings -------------------------------------------------------------------------


def test_exit_status_fails_only_on_fail() -> None:
    assert exit_status([Finding("a", OK, ""), Finding("b", WARN, "")]) == 0
    assert exit_status([Finding("a", OK, ""), Finding("b", FAIL, "")]) == 1
    assert exit_status([]) == 0


def test_render_shows_the_fix_of_what_is_wrong_only() -> None:
    lines = render([Finding("a", OK, "fine", "never shown"), Finding("bb", FAIL, "bad", "do x")])
    assert lines == ["OK    a   fine", "FAIL  bb  bad", "          fix: do x"]


def test_judged_config_falls_back_to_known_good_then_defaults(layout: Layout) -> None:
    layout.config_dir.mkdir()
    layout.config_file.write_text("http:\n  port: 8080\n")
    judged = judged_config(layout)
    assert (judged.source, judged.problems, judged.config["http"]["port"]) == ("current", [], 8080)

    layout.config_file.write_text("limits:\n  memory: lots\n")
    judged = judged_config(layout)
    assert judged.source == "defaults"
    assert [p.path for p in judged.problems] == ["limits.memory"]

    layout.config_known_good_dir.mkdir(parents=True)
    (layout.config_known_good_dir / "config.yaml").write_text("http:\n  port: 81\n")
    judged = judged_config(layout)
    assert (judged.source, judged.config["http"]["port"]) == ("known-good", 81)

    layout.config_file.write_text("http: [unclosed\n")
    assert judged_config(layout).problems  # a file that does not parse is a problem too


def test_unknown_keys_are_a_warning_and_the_current_file_is_used(layout: Layout) -> None:
    layout.config_dir.mkdir()
    layout.config_file.write_text("http:\n  port: 8080\n  prot: 81\n")
    judged = judged_config(layout)
    assert (judged.source, judged.problems, judged.config["http"]) == (
        "current",
        [],
        {"address": judged.config["http"]["address"], "port": 8080},
    )
    assert [p.path for p in judged.ignored] == ["http.prot"]
    finding = config_finding(judged, layout)
    assert finding.level == WARN
    assert "http.prot: unknown key; did you mean http.port?" in finding.detail
    assert "tljh-config edit" in finding.fix


# --- doctor's judgements ----------------------------------------------------------------


def test_port_held_by_another_program_names_it() -> None:
    f = judge_port("http.port", 80, [Holder(42, "nginx")])
    assert f.level == FAIL and "nginx (pid 42)" in f.detail
    assert "tljh-config set http.port" in f.fix
    assert judge_port("http.port", 80, [Holder(7, "traefik")]).level == OK
    nobody = judge_port("https.port", 443, [])
    assert nobody.level == FAIL and "nothing listens" in nobody.detail


def test_dns() -> None:
    local = {"127.0.0.1", "203.0.113.5"}
    assert judge_dns("hub.example.org", ["203.0.113.5"], local).level == OK
    elsewhere = judge_dns("hub.example.org", ["198.51.100.1"], local)
    assert elsewhere.level == WARN and "198.51.100.1" in elsewhere.detail
    missing = judge_dns("hub.example.org", "Name or service not known", local)
    assert missing.level == FAIL and "A (and AAAA" in missing.fix


def test_clock() -> None:
    assert judge_clock(True, True).level == OK
    off = judge_clock(False, True)
    assert off.level == WARN and "Let's Encrypt" in off.detail and "set-ntp" in off.fix
    assert "Let's Encrypt" not in judge_clock(False, False).detail
    assert judge_clock(None, False).level == WARN


def test_disk_space_and_inodes() -> None:
    def facts(free: int, inodes_free: int, total: int = 100 * G) -> DiskFacts:
        return DiskFacts("/home", total, free, 1000, inodes_free)

    assert judge_disk(facts(50 * G, 500)).level == OK
    assert judge_disk(facts(8 * G, 500)).level == WARN
    full = judge_disk(facts(2 * G, 500))
    assert full.level == FAIL and "du -xsh /home" in full.fix
    inodes = judge_disk(facts(50 * G, 10))
    assert inodes.level == FAIL and "--inodes" in inodes.fix
    # A small filesystem is judged by its fraction, not by the absolute floor.
    assert judge_disk(facts(50 * 1024**2, 500, total=100 * 1024**2)).level == OK
    # A big one with little left fails even above the fraction.
    assert judge_disk(facts(400 * 1024**2, 500, total=5 * G)).level == FAIL


def test_user_env(layout: Layout) -> None:
    assert judge_user_env(layout, True, None).level == OK
    missing = judge_user_env(layout, False, None)
    assert missing.level == FAIL and "jupyterhub-singleuser is missing" in missing.detail
    broken = judge_user_env(layout, True, "ModuleNotFoundError: No module named 'jupyterhub'")
    assert broken.level == FAIL and "ModuleNotFoundError" in broken.detail
    assert "--force-reinstall jupyterhub" in broken.fix


def test_hub_env(layout: Layout) -> None:
    assert judge_hub_env(layout, Path("/usr/bin/python3.11"), True).level == OK
    gone = judge_hub_env(layout, None, False)
    assert gone.level == FAIL and "re-run the installer" in gone.fix


def test_sudoers_names_the_broken_file() -> None:
    assert judge_sudoers(0, "/etc/sudoers: parsed OK").level == OK
    out = (
        "/etc/sudoers.d/zz-broken:1:6: syntax error\nthis is not\n     ^\n/etc/sudoers: parsed OK\n"
    )
    f = judge_sudoers(1, out)
    assert f.level == FAIL and "/etc/sudoers.d/zz-broken:1:6: syntax error" in f.detail
    assert "root shell" in f.fix


def test_units(tmp_path: Path) -> None:
    path = tmp_path / "jupyterhub.service"
    assert judge_unit("jupyterhub.service", path, "A", "A", False).level == OK
    changed = judge_unit("jupyterhub.service", path, "A", "B", False)
    assert changed.level == WARN and "systemctl edit jupyterhub.service" in changed.fix
    assert judge_unit("jupyterhub.service", path, "A", None, False).level == FAIL
    assert "daemon-reload" in judge_unit("x", path, "A", "A", True).fix


def test_hub_config_names_the_snippet(layout: Layout) -> None:
    assert judge_hub_config(layout, None, []).level == OK
    refusal = "the hub would not start:\n  | error: /x/50-bad.py failed:\n  | NameError: boom"
    f = judge_hub_config(layout, refusal, ["/x/50-bad.py"])
    assert f.level == FAIL and "(/x/50-bad.py)" in f.detail and "NameError: boom" in f.detail


def test_fallback_counts_only_for_the_running_hub() -> None:
    note = Fallback(("config.yaml",), ("limits.memory: bad",), pid=123, since=time.time())
    f = judge_fallback(note, 123)
    assert f.level == FAIL and "known-good config.yaml" in f.detail
    assert "limits.memory: bad" in f.detail and "reload hub" in f.fix
    assert judge_fallback(note, 456).level == OK  # left by a hub that is gone
    assert judge_fallback(note, 0).level == OK
    assert judge_fallback(None, 123).level == OK


def test_a_probe_that_breaks_is_a_finding(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> list[Finding]:
        raise RuntimeError("no /proc")

    monkeypatch.setitem(doctor.CHECKS, "ports", broken)
    findings = doctor.run_checks(layout, judged_config(layout), Path("x"), ["ports"])
    assert [(f.name, f.level) for f in findings] == [("ports", WARN)]
    assert "RuntimeError: no /proc" in findings[0].detail


def test_disk_probe_reads_this_machine(layout: Layout) -> None:
    layout.prefix.mkdir(exist_ok=True)
    found = doctor.probe_disk(layout)
    assert found and found[0].name == f"disk {layout.prefix}"


# --- status's judgements ----------------------------------------------------------------


def row(name: str, server: str = "running", memory: int | None = 2 * G) -> UserRow:
    return UserRow(
        name, f"jupyter-{name}", True, False, False, server, (),
        Effective(memory, None, "general", "general"),
    )  # fmt: skip


def test_routes_against_running_servers() -> None:
    users = [row("ada"), row("bob", "stopped")]
    assert judge_routes(users, {"ada"}).level == OK
    missing = judge_routes(users, set())
    assert missing.level == FAIL and "ada" in missing.detail and "reload hub" in missing.fix
    stale = judge_routes(users, {"ada", "bob"})
    assert stale.level == WARN and "bob" in stale.detail
    assert judge_routes(None, {"ada"}).level == WARN


def test_routes_file() -> None:
    text = b"""
[jupyterhub.routes.router__2F]
routespec = "/"
data = { hub = true }
[jupyterhub.routes.router__2Fuser_2Fada_2F]
routespec = "/user/ada/"
data = { user = "ada", server_name = "" }
"""
    assert routed_users(text) == {"ada"}


def test_memory_headroom() -> None:
    users = [row("a"), row("b"), row("c", "stopped"), row("d", memory=None)]
    ok = judge_memory(users, 8 * G)
    assert ok.level == OK and "3 running server(s) may use up to 4.0G of 8.0G" in ok.detail
    # d has no limit of its own: the hub gives it the default for 8G
    assert "1 of them up to 6.4G each (the default limit)" in ok.detail
    only_default = judge_memory([row("d", memory=None), row("e", memory=None)], 8 * G)
    assert only_default.level == OK
    expected = "2 running server(s), up to 6.4G each (the default limit), of 8.0G"
    assert only_default.detail == expected
    over = judge_memory(users, 3 * G)
    assert over.level == WARN and "limits.memory" in over.fix


def test_unit_state() -> None:
    now = time.time()
    up = status.judge_unit(
        UnitFacts("jupyterhub.service", "active", "running", now - 90, 1), now, "hub"
    )
    assert up.level == OK and "90 s ago" in up.detail
    down = status.judge_unit(
        UnitFacts("traefik.service", "failed", "failed", now - 600, 0), now, "proxy"
    )
    assert down.level == FAIL and "tljh logs proxy" in down.fix


def test_local_addresses() -> None:
    trie = (
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n"
        "           |-- 127.0.0.1\n              /32 host LOCAL\n"
        "           |-- 192.0.2.2\n              /32 host LOCAL\n"
        "        |-- 192.0.2.255\n           /32 link BROADCAST\n"
    )
    assert ipv4_local(trie) == {"127.0.0.1", "192.0.2.2"}
    inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n"
    assert ipv6_local(inet6) == {"::1"}


# --- the command lines ------------------------------------------------------------------


def _logs_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["logs", *argv])


def test_logs_finds_the_unit(layout: Layout) -> None:
    assert logs.logs_argv(_logs_args(), layout) == [
        "journalctl", "-u", "jupyterhub.service", "-n", "100",
    ]  # fmt: skip
    assert logs.logs_argv(_logs_args("proxy", "-f", "--since", "1 h ago"), layout) == [
        "journalctl", "-u", "traefik.service", "-n", "100", "--since", "1 h ago", "--follow",
    ]  # fmt: skip
    layout.state_dir.mkdir()
    layout.account_owners.write_text(json.dumps({"jupyter-ada-1": "ada"}))
    assert logs.logs_argv(_logs_args("ada"), layout)[2] == "jupyter-ada-1.service"
    assert logs.logs_argv(_logs_args("bob"), layout)[2] == "jupyter-bob.service"


def test_logs_install(layout: Layout) -> None:
    with pytest.raises(UserError, match="does not exist"):
        logs.logs_argv(_logs_args("install"), layout)
    layout.prefix.mkdir(exist_ok=True)
    layout.installer_log.write_text("x\n")
    assert logs.logs_argv(_logs_args("install", "-n", "5"), layout) == [
        "tail", "-n", "5", "--", str(layout.installer_log),
    ]  # fmt: skip
    with pytest.raises(UserError, match="journals only"):
        logs.logs_argv(_logs_args("install", "--since", "today"), layout)


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the refusal to non-root users")
@pytest.mark.parametrize("command", ["status", "doctor", "logs"])
def test_commands_need_root(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command]) == 1
    assert f"sudo tljh {command}" in capsys.readouterr().err


def test_doctor_help_lists_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--help"]) == 0
    out = capsys.readouterr().out
    for name in doctor.CHECKS:
        assert name in out


def test_troubleshooting_page_lists_every_check() -> None:
    page = (Path(__file__).parent.parent / "docs" / "howto" / "troubleshooting.md").read_text()
    for name in doctor.CHECKS:
        assert f"`{name}`" in page, f"docs/howto/troubleshooting.md does not list {name}"


def test_render_indents_a_detail_of_several_lines() -> None:
    lines = render([Finding("ab", WARN, "first\nsecond", "do x")])
    assert lines == ["WARN  ab  first", "          second", "          fix: do x"]


def test_hub_config_refusal_shows_the_cause_not_the_hint(layout: Layout) -> None:
    refusal = "error: the traefik API password is missing\nhint: re-run the installer\n"
    f = judge_hub_config(layout, refusal, [])
    assert f.detail.endswith("the traefik API password is missing")
    assert "reload --dry-run" in f.fix
