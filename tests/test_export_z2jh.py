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
