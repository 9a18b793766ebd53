"""The configuration file the hub runs with: ``jupyterhub -f <this file>``.

In order:

1. read ``config.yaml`` of the installation (``TLJH_INSTALL_PREFIX``) and
   validate it -- if it is invalid, the hub starts on the last known-good
   configuration (``state/config-known-good``) and says so in the journal
   (``journalctl -u jupyterhub``); with no usable known-good copy it stops with
   the problems, one per line, and what to do;
2. apply it to ``c`` (:func:`tljh.render.hub.traitlets_from_config`);
3. let plugins change ``c`` (hook ``tljh_custom_jupyterhub_config``);
4. run every ``jupyterhub_config.d/*.py`` in name order, with the same ``c``:
   the admin has the last word.  If one raises, ``c`` is put back as it was
   before the snippets and the known-good snippets run instead, loudly; with
   none known to work, the hub stops with the snippet's traceback.

When the hub starts on a known-good copy it leaves a note saying so
(:mod:`tljh.config.fallback`), which ``tljh status`` and ``tljh-config`` show;
starting on the current files removes the note.  The check run before a
restart (:mod:`tljh.hub.config_check`, which sets :data:`STRICT_ENV`) never
falls back and never touches the note: it judges the current files.

JupyterHub executes this file with ``c`` and ``get_config`` defined; imported as
a module it does nothing.
"""

from __future__ import annotations

import copy
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from tljh.config.fallback import CONFIG, SNIPPETS, Fallback, clear_fallback, write_fallback
from tljh.config.secrets import read_api_password, read_users_api_token
from tljh.config.store import ConfigFiles, load_checked_config
from tljh.errors import ConfigError, TLJHError
from tljh.hub import plugins
from tljh.layout import Layout
from tljh.render.hub import apply_traitlets, traitlets_from_config
from tljh.system import users
from tljh.system.machine import total_memory

SPAWNER_CLASS = "tljh.hub.spawner.UserCreatingSpawner"
#: Set (to "1") by the pre-restart check: judge the current files, never fall back.
STRICT_ENV = "TLJH_HUB_CONFIG_STRICT"


def _fail(message: str) -> NoReturn:
    # stderr ends up in the journal; SystemExit is not caught by traitlets'
    # config loader, so the hub stops here instead of starting half-configured.
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SnippetFailed(Exception):
    """A ``jupyterhub_config.d`` file raised; ``text`` is its traceback for the admin."""

    def __init__(self, path: Path, text: str) -> None:
        super().__init__(text)
        self.path = path
        self.text = text


def _run_snippets(c: Any, directory: Path) -> list[Path]:
    ran: list[Path] = []
    if not directory.is_dir():
        return ran
    for path in sorted(directory.glob("*.py")):
        namespace: dict[str, Any] = {
            "c": c,
            "get_config": lambda: c,
            "__file__": str(path),
            "__name__": f"jupyterhub_config_d.{path.stem}",
        }
        try:
            code = compile(path.read_bytes(), str(path), "exec")
            exec(code, namespace)
        except SystemExit:
            raise
        except BaseException as e:
            # Show the admin's own file, not our frames.
            tb = traceback.extract_tb(e.__traceback__)
            own = [frame for frame in tb if frame.filename != __file__]
            lines = traceback.format_list(own) + traceback.format_exception_only(type(e), e)
            raise SnippetFailed(path, f"error: {path} failed:\n" + "".join(lines)) from None
        ran.append(path)
    return ran


def run_config_d(c: Any, directory: Path) -> list[Path]:
    """Execute ``directory/*.py`` in name order; each sees the same ``c``.

    Every file runs in a fresh namespace holding ``c``, ``get_config`` and
    ``__file__``, like a ``jupyterhub_config.py`` of its own.  Returns the
    files run.  A failing file stops the hub with its traceback.
    """
    try:
        return _run_snippets(c, directory)
    except SnippetFailed as e:
        _fail(e.text + f"hint: fix or remove {e.path}, then 'tljh-config reload hub'")


def run_config_d_or_known_good(
    c: Any, layout: Layout, allow_fallback: bool = True
) -> SnippetFailed | None:
    """Run the snippets; if one raises, run the known-good ones on ``c`` as it was before.

    Returns the failure that was replaced (None when the current snippets ran).
    Stops the hub with the traceback when there is no known-good set, it fails
    too, or ``allow_fallback`` is false.
    """
    before = copy.deepcopy(c)
    try:
        _run_snippets(c, layout.jupyterhub_config_d)
        return None
    except SnippetFailed as e:
        failed = e
    hint = f"hint: fix or remove {failed.path}, then 'tljh-config reload hub'"
    good_dir = layout.config_known_good_dir / "jupyterhub_config.d"
    if not allow_fallback or not good_dir.is_dir():
        _fail(failed.text + hint)
    # A snippet may have changed c before it raised: start again from before the snippets.
    for key in list(c.keys()):
        del c[key]
    c.merge(before)
    try:
        _run_snippets(c, good_dir)
    except SnippetFailed:
        _fail(failed.text + hint)
    print(
        f"WARNING: {failed.path} raises, so the hub starts with the last known-good "
        f"jupyterhub_config.d files ({good_dir}) instead.\n"
        + failed.text
        + f"hint: fix or remove {failed.path}, check it with 'sudo tljh doctor', "
        "then run: sudo tljh-config reload hub",
        file=sys.stderr,
        flush=True,
    )
    return failed


def keep_services_running(traits: dict[str, dict[str, Any]]) -> None:
    """Run a service whose system user is missing as root, saying so, rather
    than keeping the hub from starting (JupyterHub stops when a service
    cannot start).  The installer creates those users; only an install whose
    installer has not run since, or a deleted user, gets here."""
    for service in traits.get("JupyterHub", {}).get("services", []):
        user = service.get("user")
        if user and not users.user_exists(user):
            print(
                f"warning: the system user {user} is missing, so the service "
                f"{service['name']} runs as root; re-run the installer to create it",
                file=sys.stderr,
                flush=True,
            )
            del service["user"]


def load_config_or_known_good(
    layout: Layout, allow_fallback: bool = True
) -> tuple[dict[str, Any], ConfigError | None]:
    """The checked config; the last known-good one if the current file is invalid.

    A reboot or restart must never make things worse: a hand edit or a
    half-restored backup would otherwise keep every student out until someone
    fixes the file.  The fallback is loud in the journal; ``tljh-config``
    still reports the current file's problems.  Returns the config and, when
    it is the known-good one, the error of the current file.
    """
    try:
        # A key this release does not know is no reason to keep students out:
        # the hub starts without it and names it in the journal.
        warn = _warn if allow_fallback else None
        return load_checked_config(layout, warn=warn), None
    except ConfigError as current_error:
        good_dir = layout.config_known_good_dir
        good = ConfigFiles(
            config_file=good_dir / "config.yaml",
            config_lock=good_dir / ".config.yaml.lock",
            config_history_dir=layout.config_history_dir,
        )
        if not allow_fallback or not good.config_file.is_file():
            raise
        try:
            config = load_checked_config(good)
        except ConfigError:
            raise current_error from None
        print(
            f"WARNING: {layout.config_file} is invalid; the hub starts on the last "
            f"known-good configuration ({good.config_file}) instead.\n"
            f"{current_error.render()}\n"
            "hint: fix the file (tljh-config validate shows the problems), "
            "then run: sudo tljh-config reload hub",
            file=sys.stderr,
            flush=True,
        )
        return config, current_error


def note_fallback(
    layout: Layout, config_error: ConfigError | None, snippet_error: SnippetFailed | None
) -> None:
    """Leave the note of a fallback, or remove an old one when there was none.

    Only a note: failing to write it never keeps the hub from starting.
    """
    replaced: list[str] = []
    reasons: list[str] = []
    if config_error is not None:
        replaced.append(CONFIG)
        problems = getattr(config_error, "problems", None)
        reasons += [str(p) for p in problems] if problems else [config_error.message]
    if snippet_error is not None:
        replaced.append(SNIPPETS)
        last = snippet_error.text.strip().splitlines()[-1]
        reasons.append(f"{snippet_error.path} raises: {last}")
    try:
        if replaced:
            fallback = Fallback(tuple(replaced), tuple(reasons), os.getpid(), time.time())
            write_fallback(layout, fallback)
        else:
            clear_fallback(layout)
    except OSError as e:
        print(f"warning: cannot update {layout.hub_fallback_marker}: {e}", file=sys.stderr)


def configure(c: Any, layout: Layout | None = None, strict: bool | None = None) -> None:
    """Apply the whole TLJH configuration to the traitlets config ``c``.

    ``strict`` (default: :data:`STRICT_ENV` set): never fall back to known-good
    files and leave the fallback note alone, as the pre-restart check needs.
    """
    layout = layout or Layout.from_env()
    if strict is None:
        strict = os.environ.get(STRICT_ENV) == "1"
    try:
        config, config_error = load_config_or_known_good(layout, allow_fallback=not strict)
        api_password = read_api_password(config, layout)
        if not api_password:
            raise TLJHError(
                f"the traefik API password is missing ({layout.traefik_api_secret})",
                "re-run the installer: it creates the password and traefik's configuration",
            )
        traits = traitlets_from_config(
            config,
            layout,
            api_password=api_password,
            users_api_token=read_users_api_token(layout),
            machine_memory=total_memory(),
        )
        pm = plugins.plugin_manager()
    except ConfigError as e:
        _fail(f"{e.render()}\n(in {layout.config_file})")
    except TLJHError as e:
        _fail(e.render())

    keep_services_running(traits)
    apply_traitlets(c, traits)
    c.JupyterHub.spawner_class = SPAWNER_CLASS

    try:
        pm.hook.tljh_custom_jupyterhub_config(c=c)
    except Exception:
        _fail(
            "error: a TLJH plugin failed in tljh_custom_jupyterhub_config:\n"
            + traceback.format_exc()
            + "hint: fix or uninstall the plugin named in the traceback"
        )

    snippet_error = run_config_d_or_known_good(c, layout, allow_fallback=not strict)
    if not strict:
        note_fallback(layout, config_error, snippet_error)


if "get_config" in globals():
    # Executed by JupyterHub as its config file.
    configure(get_config())  # type: ignore[name-defined]  # noqa: F821
