"""Installing Python packages into an environment with uv, retrying what the network breaks."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tljh.errors import CommandFailed
from tljh.system import network
from tljh.system.files import fix_permissions
from tljh.system.network import package_env
from tljh.system.run import run

log = logging.getLogger(__name__)


def with_retries(argv: Sequence[str], what: str, hint: str, retries: int = network.RETRIES) -> str:
    """Run a networked command, retrying a bounded number of times; return its output.

    Raises :class:`CommandFailed` (its message saying ``what`` failed) after the last attempt.
    """
    last: CommandFailed | None = None
    for attempt in range(1, retries + 1):
        try:
            return run(argv, env=package_env(), hint=hint).stdout
        except CommandFailed as e:
            last = e
            if attempt < retries:
                time.sleep(network.RETRY_DELAY * attempt)
    assert last is not None
    last.message = f"{what} failed after {retries} attempts: {last.message}"
    raise last


def uv_pip_install(
    uv: Path,
    python: Path,
    requirements: Sequence[str],
    extra_args: Sequence[str] = (),
    what: str = "installing Python packages",
) -> bool:
    """Install ``requirements`` into the environment of ``python``.

    Returns True when anything was installed or removed, False when all was
    already satisfied (uv then only says it audited the packages).  Raises
    :class:`CommandFailed` when uv still fails after its retries.
    """
    half = drop_half_installed(python)
    argv = [str(uv), "pip", "install", "--python", str(python), *extra_args, *requirements]
    out = with_retries(
        argv,
        what,
        hint="check the server's network connection (and proxy settings), then re-run "
        "the installer: it is safe to run again",
    )
    changed = any(
        line.strip().startswith(("Installed ", "Uninstalled ")) for line in out.splitlines()
    )
    return changed or bool(half)


def drop_half_installed(python: Path) -> list[Path]:
    """Remove the records of packages whose install was cut short; returns them.

    An install killed part-way (Ctrl-C, a dropped SSH session, a reboot) can
    leave a ``*.dist-info`` without its ``METADATA``: uv then refuses the whole
    environment ("Failed to read metadata").  Without the record the package
    counts as missing, and the next install puts it in again, whole.
    """
    env = python.parent.parent
    broken = sorted(
        d
        for d in env.glob("lib/python3*/site-packages/*.dist-info")
        if not (d / "METADATA").is_file()
    )
    for record in broken:
        log.warning("removing %s: its install was cut short; it is installed again", record)
        shutil.rmtree(record, ignore_errors=True)
    return broken


#: Packages kept out of the user environment, with the reason.
USER_ENV_EXCLUDED = {
    # jsonschema's optional checker of the "iri" formats builds dozens of Earley
    # parsers when it is imported: about 0.9 s of CPU at every single-user server
    # start (jupyter_server imports jsonschema through jupyter_events).  No Jupyter
    # schema uses those formats, and jsonschema simply skips them without it.
    "rfc3987-syntax": "rfc3987_syntax",
}

#: A marker no Python satisfies: an override with it removes the requirement.
NEVER = 'python_version < "0"'


def exclusion_overrides(excluded: Sequence[str]) -> str:
    """uv override lines that drop ``excluded`` from every resolution.

    ``--override`` (rather than uv's newer ``--excludes``) works with every uv
    the bootstrap accepts.
    """
    return "".join(f"{name}; {NEVER}\n" for name in excluded)


def _installed(python: Path, module: str) -> list[Path]:
    env = python.parent.parent
    return sorted(env.glob(f"lib/python3*/site-packages/{module}-*.dist-info"))


def uv_pip_plan(
    uv: Path,
    python: Path,
    requirements: Sequence[str],
    extra_args: Sequence[str] = (),
    what: str = "checking Python packages",
) -> list[str]:
    """What :func:`uv_pip_install` with the same arguments would change, changing nothing.

    uv's ``--dry-run`` resolves as the install would and lists each package it
    would add (``+ name==version``) or remove (``- name==version``).
    """
    argv = [str(uv), "pip", "install", "--dry-run", "--python", str(python)]
    out = with_retries(
        [*argv, *extra_args, *requirements],
        what,
        hint="check the server's network connection (and proxy settings)",
    )
    return [line.strip() for line in out.splitlines() if line.startswith((" + ", " - "))]


@contextlib.contextmanager
def _user_env_overrides() -> Iterator[list[str]]:
    """uv's arguments that keep :data:`USER_ENV_EXCLUDED` out of the user environment."""
    with tempfile.NamedTemporaryFile("w", prefix="tljh-overrides-", suffix=".txt") as overrides:
        overrides.write(exclusion_overrides(list(USER_ENV_EXCLUDED)))
        overrides.flush()
        yield ["--override", overrides.name]


def user_env_plan(uv: Path, python: Path, requirements: Sequence[str]) -> list[str]:
    """What :func:`pip_install_user_packages` would change (see :func:`uv_pip_plan`)."""
    with _user_env_overrides() as override_args:
        return uv_pip_plan(uv, python, requirements, override_args)


def pip_install_user_packages(
    uv: Path, python: Path, requirements: Sequence[str], extra_args: Sequence[str] = ()
) -> bool:
    """Install pip packages into the user environment of ``python``; True if changed.

    Bytecode is compiled at install time: students cannot write ``__pycache__``
    into the shared environment, so without it every server and kernel start
    would compile jupyter_server, JupyterLab & co. from source again.
    """
    if not requirements:
        return False
    with _user_env_overrides() as override_args:
        changed = uv_pip_install(
            uv,
            python,
            requirements,
            ["--compile-bytecode", *override_args, *extra_args],
            what="installing user packages",
        )
    changed = remove_excluded(uv, python) or changed
    if changed:
        fix_permissions(python.parent.parent)
    return changed


def remove_excluded(uv: Path, python: Path) -> bool:
    """Uninstall :data:`USER_ENV_EXCLUDED` packages (from older installs, or an admin's
    pip install); True if any was there."""
    present = [name for name, module in USER_ENV_EXCLUDED.items() if _installed(python, module)]
    if not present:
        return False
    run(
        [str(uv), "pip", "uninstall", "--python", str(python), *present],
        env=package_env(),
        hint="re-run the installer: it is safe to run again",
    )
    return True
