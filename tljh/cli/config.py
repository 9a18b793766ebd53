"""``tljh-config``: look at and change the TLJH configuration.

Commands compatible with upstream TLJH: ``show``, ``set``, ``unset``,
``add-item``, ``remove-item``, ``reload [hub|proxy]``; additions: ``get``,
``validate``, ``edit``, ``history``, ``rollback`` and ``https-status``.  Every change is made
under the config lock, validated before it is written, and written
atomically; an invalid change writes nothing.  Applying a change
(``reload``, ``--apply``, ``edit``, ``rollback``) restarts what it touches,
waits a bounded time for health and rolls back if the hub or the proxy does
not come back (:mod:`tljh.apply.session`).

This module is on the path of every ``tljh-config`` call: it never imports
jupyterhub, traitlets, tornado or pluggy, and :mod:`tljh.apply` is imported
only inside the commands that apply a change or show the version known to
work: it adds ssl, http.client and the traefik renderer (55 modules, 60-80 ms
measured) that ``tljh-config set`` without ``--apply`` does not need.

It is longer than our other modules on purpose: eleven commands, each a short
function that reads its arguments, calls the config or apply layer and prints;
splitting them would only spread the shared printing helpers.  The options
and help texts are in :mod:`tljh.cli.config_args`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TextIO

from tljh.cli.config_args import build_parser
from tljh.cli.report import append_log, unexpected_error
from tljh.config.edit import choose_editor, edit_session
from tljh.config.fallback import running_fallback
from tljh.config.history import describe_changes, history_entries, history_entry
from tljh.config.kinds import describe
from tljh.config.schema import (
    node_at,
    node_default,
    reload_components,
    to_plain,
    with_defaults,
)
from tljh.config.secrets import MASK, masked
from tljh.config.store import (
    ConfigFiles,
    ConfigPaths,
    dump_yaml,
    parse_yaml,
    paths_for,
    read_config,
    update_config,
    write_bytes,
)
from tljh.config.validate import blocking, key_problem, validate
from tljh.config.values import (
    add_item,
    contains_item,
    get_value,
    parse_value,
    remove_item,
    set_value,
    split_key,
    unset_value,
    value_for_set,
)
from tljh.errors import (
    ApplyFailed,
    ConfigError,
    ConfigValidationError,
    KeyNotSetError,
    Problem,
    TLJHError,
)
from tljh.layout import Layout
from tljh.system.files import read_or_none

if TYPE_CHECKING:
    from tljh.apply.session import ChangeSession


def _paths(args: argparse.Namespace) -> ConfigPaths:
    return paths_for(args.config_path)


def _reload_hint(key: str) -> str:
    top = key.split(".", 1)[0]
    if "proxy" in reload_components(top):
        return "Run 'sudo tljh-config reload' to apply it (it restarts the proxy too)."
    return "Run 'sudo tljh-config reload' to apply it."


def _print_value(value: Any, out: TextIO) -> None:
    if isinstance(value, (Mapping, list)):
        if isinstance(value, list):
            text = dump_yaml({"_": value}).split("\n", 1)[1] if value else "[]\n"
        else:
            text = dump_yaml(value) or "{}\n"
        out.write(text)
    elif value is None:
        out.write("null\n")
    elif isinstance(value, bool):
        out.write("true\n" if value else "false\n")
    else:
        out.write(f"{value}\n")


def _shown(key: str, value: Any) -> str:
    shown = masked(value, split_key(key))
    if isinstance(shown, list):
        return "[" + ", ".join(describe(item) for item in shown) + "]"
    return MASK if shown == MASK else describe(shown)


def _warn_unvalidated(unvalidated: Sequence[Problem]) -> None:
    if unvalidated:
        print(
            f"warning: saved WITHOUT validation, as asked (--no-validate); the change added "
            f"{len(unvalidated)} problem(s):",
            file=sys.stderr,
        )
        for p in unvalidated:
            print(f"  {p}", file=sys.stderr)
        print(
            "hint: the hub and the installer ignore keys they do not know, but refuse a "
            "value they cannot apply: check with 'sudo tljh-config validate' before "
            "'sudo tljh-config reload'",
            file=sys.stderr,
        )


def _warn_remaining(remaining: Sequence[Problem]) -> None:
    if remaining:
        print(
            f"warning: the config still has {len(remaining)} problem(s) it already had:",
            file=sys.stderr,
        )
        for p in remaining:
            print(f"  {p}", file=sys.stderr)


def _note_pending(pending: Sequence[Problem]) -> None:
    if pending:
        print(
            "note: saved, but 'tljh-config reload' will refuse the config until this "
            f"is settled too ({len(pending)}):",
            file=sys.stderr,
        )
        for p in pending:
            print(f"  {p}", file=sys.stderr)


# --- commands ---------------------------------------------------------------------


def _note_hub_fallback(args: argparse.Namespace) -> None:
    """Say so when the hub runs on the known-good files rather than the current ones."""
    paths = _paths(args)
    if getattr(args, "file", None) or not isinstance(paths, Layout):
        return  # about another file than the installation's
    note = running_fallback(paths)
    if note is None:
        return
    print(f"note: {note.summary()}:", file=sys.stderr)
    for reason in note.reasons:
        print(f"  {reason}", file=sys.stderr)
    print(f"hint: {note.hint()}", file=sys.stderr)


def cmd_show(args: argparse.Namespace) -> int:
    _note_hub_fallback(args)
    data: Any = read_config(_paths(args))
    if args.defaults:
        data = with_defaults(data)
    if not args.show_secrets:
        data = masked(data, [])
    text = dump_yaml(data)
    if not text:
        print(
            "# the config file sets nothing: every key has its default "
            "(see 'tljh-config show --defaults')",
            file=sys.stderr,
        )
    sys.stdout.write(text)
    return 0


def _raise_if_unknown(key: str) -> None:
    problem = key_problem(key)
    if problem:
        raise ConfigError(
            str(problem), "'tljh-config show --defaults' lists the keys and their values"
        )


def cmd_get(args: argparse.Namespace) -> int:
    parts = split_key(args.key)
    data = read_config(_paths(args))
    try:
        value = get_value(data, args.key)
    except ConfigError:
        try:
            value = get_value(with_defaults(data), args.key)
        except ConfigError:
            _raise_if_unknown(args.key)
            raise ConfigError(
                f"{args.key} is not set and has no default",
                "'tljh-config show' lists what is set in the config file",
            ) from None
    if not args.show_secrets:
        value = masked(value, parts)
    _print_value(value, sys.stdout)
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def _report(restarted: Sequence[str]) -> None:
    if restarted:
        # lazy: keeps 'tljh-config set' fast (measured, see the module docstring)
        from tljh.apply.plan import component_names

        print(
            f"Done: {component_names(restarted)} "
            f"{'are' if len(restarted) > 1 else 'is'} running with the new configuration."
        )


@contextmanager
def _locked(
    args: argparse.Namespace, owner: str = "", lock_timeout: float | None = None
) -> Iterator[ChangeSession]:
    """Hold the lock while changing; with --apply, apply before letting go of it."""
    # lazy: keeps 'tljh-config set' fast (measured, see the module docstring)
    from tljh.apply.session import change_session

    with change_session(
        _paths(args),
        apply=bool(getattr(args, "apply", False)),
        lock_timeout=args.lock_timeout if lock_timeout is None else lock_timeout,
        owner=owner,
        timeout=args.timeout,
        say=_say,
    ) as session:
        yield session
    _report(session.restarted)


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[ChangeSession | None]:
    """Like :func:`_locked` with --apply; without, None: ``update_config`` locks by itself."""
    if not getattr(args, "apply", False):
        yield None
        return
    with _locked(args) as session:
        yield session


def _change(
    session: ChangeSession | None, args: argparse.Namespace, change: Callable[[Any], object]
) -> Any:
    paths = _paths(args) if session is None else session.paths
    # Saved without applying, a change may be one step of several (HTTPS on
    # first, its domain next): rules across keys wait for the apply.
    result = update_config(
        paths,
        change,
        timeout=args.lock_timeout,
        lock=session is None,
        cross=session is not None,
        validate_change=args.validate,
    )
    _warn_remaining(result.remaining)
    _warn_unvalidated(result.unvalidated)
    return result


def _hint(args: argparse.Namespace, key: str) -> str:
    return "" if getattr(args, "apply", False) else f" {_reload_hint(key)}"


def cmd_set(args: argparse.Namespace) -> int:
    value = value_for_set(args.key, parse_value(args.key, args.value, args.type))
    with _session(args) as session:
        result = _change(session, args, lambda data: set_value(data, args.key, value))
        shown = _shown(args.key, value)
        if not result.changed:
            print(f"{args.key} is already {shown}; nothing changed.")
        else:
            print(f"Set {args.key} = {shown}.{_hint(args, args.key)}", flush=True)
        _note_pending(result.pending)
    return 0


def cmd_unset(args: argparse.Namespace) -> int:
    with _session(args) as session:
        try:
            result = _change(session, args, lambda data: unset_value(data, args.key))
        except KeyNotSetError:
            _raise_if_unknown(args.key)
            raise
        node = node_at(args.key)
        default = node_default(node) if node is not None else None
        if node is not None and not isinstance(default, (dict, list)) and "default" in node:
            print(
                f"Unset {args.key} (it is now the default, {describe(default)})."
                f"{_hint(args, args.key)}",
                flush=True,
            )
        else:
            print(f"Unset {args.key}.{_hint(args, args.key)}", flush=True)
        _note_pending(result.pending)
    return 0


def cmd_add_item(args: argparse.Namespace) -> int:
    value = parse_value(args.key, args.value, args.type)
    present: list[bool] = []

    def change(data: Any) -> None:
        present.append(contains_item(data, args.key, value))
        add_item(data, args.key, value)

    with _session(args) as session:
        result = _change(session, args, change)
        if present and present[0]:
            print(f"{_shown(args.key, value)} is already in {args.key}; nothing changed.")
        else:
            print(
                f"Added {_shown(args.key, value)} to {args.key}.{_hint(args, args.key)}",
                flush=True,
            )
        _note_pending(result.pending)
    return 0


def cmd_remove_item(args: argparse.Namespace) -> int:
    value = parse_value(args.key, args.value, args.type)
    with _session(args) as session:
        result = _change(session, args, lambda data: remove_item(data, args.key, value))
        print(
            f"Removed {_shown(args.key, value)} from {args.key}.{_hint(args, args.key)}",
            flush=True,
        )
        _note_pending(result.pending)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    paths = ConfigFiles.for_file(args.file) if args.file else _paths(args)
    if not paths.config_file.exists():
        raise ConfigError(
            f"{paths.config_file} does not exist",
            "give the path of a config file, e.g. 'tljh-config validate ./config.yaml'",
        )
    _note_hub_fallback(args)
    problems = validate(read_config(paths))
    if problems:
        print(f"{paths.config_file} has {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        if all(not blocking(p, "run") for p in problems):
            print(
                "note: the hub and the installer go on without keys they do not know "
                "(with a warning); 'tljh-config set' and 'edit' refuse them",
                file=sys.stderr,
            )
        return 1
    print(f"{paths.config_file} is valid.")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run_reload(args)
    # lazy: keeps 'tljh-config set' fast (measured, see the module docstring)
    from tljh.apply.session import reload_config

    restarted = reload_config(
        Layout.from_env(),
        args.component,
        lock_timeout=args.lock_timeout,
        timeout=args.timeout,
        say=_say,
    )
    _report(restarted)
    return 0


def _dry_run_reload(args: argparse.Namespace) -> int:
    # lazy: keeps 'tljh-config set' fast (measured, see the module docstring)
    from tljh.apply.plan import component_names
    from tljh.apply.precheck import check_hub_config
    from tljh.apply.session import reload_plan

    layout = Layout.from_env()
    plan = reload_plan(layout, args.component, say=_say)
    print("Dry run: nothing is changed or restarted.")
    if not plan.components:
        print("Nothing would restart: the hub and the proxy already run with this configuration.")
        return 0
    for component in plan.components:
        print(f"Would restart {component_names([component])}:")
        for reason in plan.reasons[component]:
            print(f"  - {reason}")
    if "hub" in plan.components:
        check_hub_config(layout)  # raises ConfigRefused with what the hub would refuse
        print("The hub's configuration loads as the hub will load it.")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    editor = choose_editor()
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    # Never wait for another edit: say at once that the file is in use.
    owner = f"'tljh-config edit' run by {user}"
    with _locked(args, owner=owner, lock_timeout=0) as session:
        original = session.previous or b""
        result = edit_session(
            original,
            editor,
            lambda raw: write_bytes(session.paths, raw),
        )
        where = session.paths.config_file
        if result.outcome == "unchanged":
            session.apply = False
            print(f"No changes; {where} was not touched.")
            return 0
        if result.outcome == "aborted":
            session.apply = False
            print(f"Exited without saving; {where} is unchanged.")
            return 1
        if result.outcome == "saved-invalid":
            session.apply = False
            if _only_unknown_keys(session.paths):
                print(
                    f"Saved {where} WITH PROBLEMS, as asked: keys TLJH does not know, which "
                    "the hub and the installer ignore with a warning.  It was not applied: "
                    "run 'sudo tljh-config reload' to apply it, or correct it with "
                    "'sudo tljh-config edit'.",
                    file=sys.stderr,
                )
                return 1
            print(
                f"Saved {where} WITH PROBLEMS, as asked.  It was not applied: the hub keeps "
                "running, but will refuse to start with this file.  Fix it with "
                "'sudo tljh-config edit' (or 'sudo tljh-config rollback').",
                file=sys.stderr,
            )
            return 1
        if session.apply:
            print(f"Saved {where}; applying it.", flush=True)
        else:
            print(f"Saved {where}. Run 'sudo tljh-config reload' to apply it.")
    return 0


def _only_unknown_keys(paths: ConfigPaths) -> bool:
    """Whether every problem of the file is one the hub goes on without."""
    try:
        problems = validate(read_config(paths))
    except ConfigError:
        return False
    return bool(problems) and not any(blocking(p, "run") for p in problems)


def _plain_or_none(raw: bytes) -> Any:
    """An earlier version as plain data, or None if it is not a readable config."""

    try:
        return to_plain(parse_yaml(raw.decode("utf-8"), "history"))
    except (ConfigError, UnicodeDecodeError):
        return None


def cmd_history(args: argparse.Namespace) -> int:
    paths = _paths(args)
    if args.number is not None:
        entry = history_entry(paths, args.number)
        raw = entry.read_bytes()
        if args.show_secrets:
            sys.stdout.write(raw.decode("utf-8", errors="replace"))
            return 0
        try:
            data = parse_yaml(raw.decode("utf-8"), str(entry.path))
        except (ConfigError, UnicodeDecodeError):
            print(
                f"# version {args.number} is not valid YAML; --show-secrets prints it as it is",
                file=sys.stderr,
            )
            return 1
        sys.stdout.write(dump_yaml(masked(data, [])))
        return 0
    entries = history_entries(paths)
    if not entries:
        print(f"No earlier versions of {paths.config_file} yet.")
        return 0
    current_raw = read_or_none(paths.config_file)
    try:
        current: Any = to_plain(read_config(paths))
    except ConfigError:
        current = None
    good = _known_good_config(paths)
    print(f"Earlier versions of {paths.config_file}, newest first.")
    print("'tljh-config rollback N' restores one; 'tljh-config history N' prints it.")
    print()
    print(f"{'N':>3}  {'replaced at':<19}  differences from the current file")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.replaced_at))
        raw = e.read_bytes()
        same = raw == current_raw
        changes = (
            "same as the current file" if same else describe_changes(_plain_or_none(raw), current)
        )
        line = f"{e.number:>3}  {when:<19}  {changes}"
        notes = []
        if good is not None and raw == good:
            notes.append("last known to work")
        if e.note:
            notes.append(e.note)
        if notes:
            line += f"  [{'; '.join(notes)}]"
        print(line)
    return 0


def _known_good_config(paths: ConfigPaths) -> bytes | None:
    if not isinstance(paths, Layout):
        return None
    # lazy: keeps 'tljh-config set' fast (measured, see the module docstring)
    from tljh.apply.snapshot import known_good_config

    return known_good_config(paths)


def cmd_rollback(args: argparse.Namespace) -> int:
    with _locked(args, owner="'tljh-config rollback'") as session:
        entry = history_entry(session.paths, args.number)
        raw = entry.read_bytes()
        try:
            data = parse_yaml(raw.decode("utf-8"), f"version {args.number}")
        except UnicodeDecodeError:
            raise ConfigError(f"version {args.number} is not UTF-8 text") from None
        problems = validate(data)
        if problems:
            raise ConfigValidationError(
                problems,
                f"version {args.number} is not a valid config, so it was not restored; "
                "choose another one ('tljh-config history')",
            )
        changed = write_bytes(session.paths, raw, note="replaced by 'tljh-config rollback'")
        if not changed:
            print(f"The config file already is version {args.number}; nothing changed.")
        else:
            print(
                f"Restored version {args.number}; the version it replaced is now number 1 "
                "in 'tljh-config history'."
                + ("" if session.apply else " Run 'sudo tljh-config reload' to apply it."),
                flush=True,
            )
    return 0


def cmd_https_status(args: argparse.Namespace) -> int:
    # lazy: keeps 'tljh-config set' fast (measured, see the module docstring)
    from tljh.apply.https_status import https_status
    from tljh.apply.session import installed_layout
    from tljh.config.store import load_checked_config

    layout = installed_layout(_paths(args))
    lines, problems = https_status(layout, load_checked_config(layout))
    for line in lines:
        print(line)
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add-item": cmd_add_item,
    "edit": cmd_edit,
    "get": cmd_get,
    "history": cmd_history,
    "https-status": cmd_https_status,
    "reload": cmd_reload,
    "remove-item": cmd_remove_item,
    "rollback": cmd_rollback,
    "set": cmd_set,
    "show": cmd_show,
    "unset": cmd_unset,
    "validate": cmd_validate,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(COMMANDS)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # --help, or a usage error already printed by argparse
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return _run(args)
    finally:
        _forget_a_gone_terminal()


def _run(args: argparse.Namespace) -> int:
    log = Layout.from_env().config_log
    try:
        return int(args.func(args))
    except TLJHError as e:
        if isinstance(e, ApplyFailed):
            # The running hub changed: keep how it ended where a closed
            # terminal (SIGHUP) cannot lose it.
            append_log(log, e.render())
        _print_error(e.render())
        return e.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    except OSError as e:
        _print_error(f"error: {e}")
        return 1
    except Exception as e:
        _print_error(
            unexpected_error(
                "tljh-config",
                log,
                e,
                "the config file is either as it was or completely changed, never half "
                "written: check it with 'sudo tljh-config show'",
            )
        )
        return 1


def _forget_a_gone_terminal() -> None:
    """After SIGHUP the terminal is gone: send what is left to /dev/null.

    Python would otherwise fail to flush it at exit and change the exit
    status to 120, hiding the one that says what happened.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def _print_error(text: str) -> None:
    with suppress(OSError):  # the terminal is gone (SIGHUP): the log has it
        print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
