from tljh.render.z2jh import SECRET_PLACEHOLDER, to_z2jh


def test_github_users_limits_cull() -> None:
    config = {
        "auth": {
            "type": "github",
            "GitHubOAuthenticator": {"client_id": "abc", "client_secret": "s3cret"},
        },
        "users": {"allowed": ["b", "a"], "admin": ["ms.frizzle"]},
        "limits": {"memory": "1G", "cpu": 1},
        "services": {"cull": {"enabled": True, "timeout": 600, "max_age": 0}},
        "user_environment": {"default_app": "jupyterlab"},
        "base_url": "/class/",
    }
    export = to_z2jh(config)
    hub = export.values["hub"]
    assert (
        hub["config"]["JupyterHub"]["authenticator_class"]
        == "oauthenticator.github.GitHubOAuthenticator"
    )
    assert hub["config"]["GitHubOAuthenticator"]["client_secret"] == SECRET_PLACEHOLDER
    assert hub["config"]["GitHubOAuthenticator"]["client_id"] == "abc"
    assert hub["config"]["Authenticator"]["allowed_users"] == ["a", "b"]
    assert hub["baseUrl"] == "/class/"
    assert export.values["singleuser"] == {
        "memory": {"limit": "1G"},
        "cpu": {"limit": 1.0},
        "defaultUrl": "/lab",
    }
    assert export.values["cull"] == {"enabled": True, "timeout": 600, "maxAge": 0}
    included = to_z2jh(config, include_secrets=True)
    assert included.values["hub"]["config"]["GitHubOAuthenticator"]["client_secret"] == "s3cret"


def test_firstuse_is_a_warning() -> None:
    export = to_z2jh({})
    assert "firstuse" in export.values["hub"]["config"]["JupyterHub"]["authenticator_class"].lower()
    assert any(w.key == "auth.type" for w in export.warnings)


def test_values_validate_against_the_chart_schema() -> None:
    from pathlib import Path

    import pytest

    schema_path = (
        Path(__file__).resolve().parents[1] / ".." / "shared" / "z2jh" / "values.schema.yaml"
    )
    if not schema_path.exists():
        pytest.skip(f"chart schema not present at {schema_path} (outside this repository)")
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = yaml.safe_load(schema_path.read_text())
    config = {
        "auth": {
            "type": "github",
            "GitHubOAuthenticator": {"client_id": "a", "client_secret": "b"},
        },
        "users": {"allowed": ["a"], "admin": ["ms.frizzle"]},
        "limits": {"memory": "1G", "cpu": 1},
        "services": {"cull": {"enabled": True, "timeout": 600}},
        "user_environment": {"default_app": "jupyterlab"},
        "base_url": "/class/",
    }
    # Helm validates the chart's defaults merged with the user's values.
    merged = yaml.safe_load((schema_path.parent / "values.yaml").read_text())
    _merge(merged, to_z2jh(config).values)
    jsonschema.validate(merged, schema)


def _merge(base: dict, extra: dict) -> None:  # type: ignore[type-arg]
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
