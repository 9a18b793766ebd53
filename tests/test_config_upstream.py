"""Config files written for earlier TLJH releases stay valid."""

from __future__ import annotations

from tljh.config.store import parse_yaml
from tljh.config.validate import validate

UPSTREAM_STYLE = """\
users:
  admin:
  - teacher
  allowed: []
limits:
  memory: 2G
  cpu: 1
auth:
  type: firstuseauthenticator.FirstUseAuthenticator
  FirstUseAuthenticator:
    create_users: true
http:
  port: 80
https:
  enabled: false
services:
  cull:
    timeout: 3600
  configurator:
    enabled: false
user_environment:
  default_app: classic
"""


def test_upstream_style_config_is_valid() -> None:
    assert validate(parse_yaml(UPSTREAM_STYLE, "config.yaml")) == []


def test_configurator_section_is_still_strict() -> None:
    text = UPSTREAM_STYLE.replace("    enabled: false", "    enabeld: false")
    problems = validate(parse_yaml(text, "config.yaml"))
    assert len(problems) == 1 and "services.configurator.enabeld" in str(problems[0])
