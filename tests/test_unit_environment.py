"""What a running unit was started with: a variable from ``systemctl show`` output."""

from __future__ import annotations

from collections.abc import Callable

from tljh.system.systemd import environment_value

FILE = "/run/jupyter-ada/jupyter-ada.env"
API = "JUPYTERHUB_API_URL"


def files(env: str) -> Callable[[str], str]:
    """Reads FILE (with ``env`` in it); no other file exists."""

    def read(path: str) -> str:
        if path != FILE:
            raise FileNotFoundError(path)
        return env

    return read


def test_the_spawners_environment_file_is_read() -> None:
    show = f"Environment=LANG=C.UTF-8\nEnvironmentFiles={FILE} (ignore_errors=no)\n"
    env = "JUPYTERHUB_USER=ada\nJUPYTERHUB_API_URL=http://127.0.0.1:15001/hub/api\n"
    assert environment_value(show, API, files(env=env)) == "http://127.0.0.1:15001/hub/api"


def test_quoted_values_and_the_environment_property() -> None:
    env = "JUPYTERHUB_API_URL='http://127.0.0.1:1001/a b/hub/api'\n"
    show = f"EnvironmentFiles={FILE} (ignore_errors=no)\n"
    assert environment_value(show, API, files(env=env)) == "http://127.0.0.1:1001/a b/hub/api"
    show = 'Environment="JUPYTERHUB_API_URL=http://x/hub/api" LANG=C\n'
    assert environment_value(show, API, files(env="")) == "http://x/hub/api"


def test_unknown_when_nothing_sets_it_or_the_file_is_gone() -> None:
    assert environment_value("Environment=\nEnvironmentFiles=\n", API, files(env="")) is None
    show = "EnvironmentFiles=/run/gone.env (ignore_errors=no)\n"
    assert environment_value(show, API, files(env="x")) is None
    # A name that only starts like it is another variable.
    show = f"EnvironmentFiles={FILE} (ignore_errors=no)\n"
    assert environment_value(show, API, files(env="JUPYTERHUB_API_URL_X=1\n")) is None
