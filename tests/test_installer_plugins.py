"""The installer's plugin hooks: what they may change, and in which order they run."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import install_plugin

from tljh.cli.installer import build_parser, parse_options
from tljh.config.store import read_config
from tljh.errors import ConfigError, InstallError
from tljh.hub.plugins import plugin_manager
from tljh.install.context import Context, hook_list
from tljh.install.files import step_config
from tljh.install.options import InstallOptions
from tljh.install.packages import hub_requirements, requirement_name, step_post_install
from tljh.install.services import hub_env_fingerprint
from tljh.install.steps import STEPS
from tljh.layout import Layout
from tljh.system import apt


def context(tmp_path: Path, admins: list[str] | None = None) -> Context:
    layout = Layout(prefix=tmp_path / "tljh")
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(layout=layout, options=InstallOptions(admin=tuple(admins or [])))
    ctx.plugins = plugin_manager(layout)
    return ctx


CONFIG_PLUGIN = """
from tljh.hooks import hookimpl

@hookimpl
def tljh_config_post_install(config):
    config.setdefault("services", {}).setdefault("cull", {}).setdefault("timeout", 5400)
"""


def test_config_post_install_changes_are_validated_and_saved(site: Path, tmp_path: Path) -> None:
    install_plugin(site, "tljhinst-config", "tljhinst_config", CONFIG_PLUGIN)
    ctx = context(tmp_path, ["ada"])
    changes = step_config(ctx)
    assert "plugins changed the config (tljh_config_post_install)" in changes
    saved = read_config(ctx.layout)
    assert saved["services"]["cull"]["timeout"] == 5400
    assert saved["users"]["admin"] == ["ada"]
    assert ctx.config["services"]["cull"]["timeout"] == 5400
    # Idempotent: the next run changes nothing.
    assert step_config(context(tmp_path, ["ada"])) == []
    # The admin's own value wins over the plugin's default.
    text = ctx.layout.config_file.read_text().replace("5400", "1200")
    ctx.layout.config_file.write_text(text)
    assert step_config(context(tmp_path)) == []
    assert read_config(ctx.layout)["services"]["cull"]["timeout"] == 1200


BAD_PLUGIN = """
from tljh.hooks import hookimpl

@hookimpl
def tljh_config_post_install(config):
    config["limits"] = {"memory": "lots"}
"""


def test_invalid_change_by_a_plugin_is_refused_and_not_saved(site: Path, tmp_path: Path) -> None:
    install_plugin(site, "tljhinst-bad", "tljhinst_bad", BAD_PLUGIN)
    ctx = context(tmp_path)
    with pytest.raises(ConfigError) as e:
        step_config(ctx)
    assert "tljh_config_post_install" in e.value.message
    assert "limits" not in ctx.layout.config_file.read_text()


def test_hook_lists_are_joined_without_duplicates(site: Path, tmp_path: Path) -> None:
    install_plugin(
        site,
        "tljhinst-a",
        "tljhinst_a",
        "from tljh.hooks import hookimpl\n"
        "@hookimpl\ndef tljh_extra_user_pip_packages():\n    return ['x', 'y']\n",
    )
    install_plugin(
        site,
        "tljhinst-b",
        "tljhinst_b",
        "from tljh.hooks import hookimpl\n"
        "@hookimpl\ndef tljh_extra_user_pip_packages():\n    return ['y', 'z']\n"
        "@hookimpl\ndef tljh_extra_apt_packages():\n    return None\n",
    )
    ctx = context(tmp_path)
    assert sorted(hook_list(ctx, "tljh_extra_user_pip_packages")) == ["x", "y", "z"]
    assert hook_list(ctx, "tljh_extra_apt_packages") == []
    ctx.plugins = None
    assert hook_list(ctx, "tljh_extra_user_pip_packages") == []


def test_post_install_hook_runs_and_is_not_a_change(site: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    install_plugin(
        site,
        "tljhinst-post",
        "tljhinst_post",
        "from tljh.hooks import hookimpl\n"
        f"@hookimpl\ndef tljh_post_install():\n    open({str(marker)!r}, 'a').write('x')\n",
    )
    ctx = context(tmp_path)
    assert step_post_install(ctx) == []
    assert step_post_install(ctx) == []
    assert marker.read_text() == "xx"


def test_plugin_packages_follow_upstream_order() -> None:
    steps = [name for name, _ in STEPS]
    # Plugins are installed and loaded before the config is written, their
    # packages installed after the user env exists and before the services
    # (re)start, and tljh_post_install runs last.
    assert steps.index("hub packages") < steps.index("config")
    assert steps.index("user environment") < steps.index("plugin packages")
    assert steps.index("plugin packages") < steps.index("services")
    assert steps[-1] == "post-install hooks"


def test_requirement_names() -> None:
    assert requirement_name("jupyterhub<7,>=6.1.1") == "jupyterhub"
    assert requirement_name("oauthenticator[azuread]>=17") == "oauthenticator"
    assert requirement_name("/srv/plugins/mine") is None
    assert requirement_name("git+https://github.com/x/y") is None
    assert requirement_name("./mine") is None


def test_hub_requirements_are_tljh_ranges() -> None:
    reqs = hub_requirements()
    assert any(r.startswith("jupyterhub") and "<" in r for r in reqs)
    assert not any("extra ==" in r for r in reqs)


def test_hub_env_fingerprint_is_stable() -> None:
    assert hub_env_fingerprint() == hub_env_fingerprint()


def test_apt_names_are_checked_before_apt_runs() -> None:
    with pytest.raises(InstallError):
        apt.missing_packages(["ok-name", "--allow-downgrades"])
    with pytest.raises(InstallError):
        apt.install_packages(["sl; rm -rf /"])


@pytest.mark.skipif(not Path("/usr/bin/dpkg-query").exists(), reason="needs dpkg")
def test_apt_only_missing_packages_are_installed() -> None:
    assert apt.missing_packages(["dpkg", "dpkg"]) == []
    assert apt.install_packages(["dpkg"]) == []
    assert apt.missing_packages(["dpkg", "tljh-no-such-package"]) == ["tljh-no-such-package"]


def test_installer_help_lists_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--plugin", "--conda-installer-url", "--conda-installer-sha256"):
        assert flag in out
    args = build_parser().parse_args(["--plugin", "a", "b", "--plugin", "c"])
    assert args.plugin == [["a", "b"], ["c"]]
    assert args.user_env is None
    options = parse_options(["--plugin", "a", "b", "--plugin", "c", "--admin", "", "--admin", "x"])
    assert options.plugin == ("a", "b", "c")
    assert options.admin == ("x",)
    assert options.user_env is None


UPSTREAM_CONFIG = """\
# Set up by the admin with an earlier TLJH release
users:
  admin:
  - teacher
  allowed:
  - student1
  extra_user_groups:
    course-staff:
    - teacher
limits:
  memory: 2G   # per student
  cpu: 1
auth:
  type: firstuseauthenticator.FirstUseAuthenticator
  FirstUseAuthenticator:
    create_users: false
user_environment:
  default_app: jupyterlab
services:
  cull:
    enabled: true
    timeout: 3600
http:
  port: 80
https:
  enabled: false
"""


def test_upstream_config_is_kept_byte_for_byte(tmp_path: Path) -> None:
    """Installing over an earlier release: its config.yaml is used as it is."""
    ctx = context(tmp_path, ["teacher"])
    ctx.plugins = None
    ctx.layout.config_file.write_text(UPSTREAM_CONFIG)
    ctx.layout.config_file.chmod(0o600)
    assert step_config(ctx) == []
    assert ctx.layout.config_file.read_text() == UPSTREAM_CONFIG
    assert ctx.config["limits"]["memory"] == "2G"
    # A new admin is added without losing the comments.
    ctx = context(tmp_path, ["another"])
    assert step_config(ctx) == ["made admin: another"]
    text = ctx.layout.config_file.read_text()
    assert "# per student" in text and "# Set up by the admin" in text
    assert "- another" in text
