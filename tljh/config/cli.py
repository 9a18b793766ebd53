"""``tljh-config``: look at and change the TLJH configuration.

Commands compatible with upstream TLJH: ``show``, ``set``, ``unset``,
``add-item``, ``remove-item``, ``reload [hub|proxy]``; additions: ``get`` and
``validate``.  Every change is made under the config lock, validated before it
is written, and written atomically; an invalid change writes nothing.

This module is on the path of every ``tljh-config`` call, so it imports only
what the command needs (ruamel.yaml and filelock lazily; never jupyterhub,
traitlets, tornado or pluggy).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tljh.config.schema import SCHEMA, is_secret
from tljh.config.values import TYPE_NAMES, split_key
from tljh.errors import ConfigError, TLJHError

if TYPE_CHECKING:
    from tljh.config.store import ConfigPaths

MASK = "********"

EPILOG = "Changes take effect after 'sudo tljh-config reload' (or 'reload proxy' for http/https)."


def _describe(value: Any) -> str:
    from tljh.config.validate import describe

    return describe(value)


def _paths(args: argparse.Namespace) -> ConfigPaths:
    from tljh.layout import Layout

    layout = Layout.from_env()
    if args.config_path is None:
        return layout
    from tljh.config.store import ConfigFiles

    files = ConfigFiles.for_file(args.config_path)
    if files.config_file == Path(layout.config_file).absolute():
        return layout
    return files


def _reload_hint(key: str) -> str:
    top = key.split(".", 1)[0]
    node = SCHEMA["properties"].get(top, {})
    components = node.get("reload", ["hub"])
    if "proxy" in components:
        return (
            "Run 'sudo tljh-config reload proxy' and then 'sudo tljh-config reload hub' "
            "to apply it."
        )
    return "Run 'sudo tljh-config reload' to apply it."


def _masked(value: Any, parts: list[str]) -> Any:
    """A copy of ``value`` with secret values replaced (keeps ruamel comments)."""
    if isinstance(value, Mapping):
        import copy

        out = copy.deepcopy(value)
        _mask_in_place(out, parts)
        return out
    if is_secret(parts) and value not in (None, ""):
        return MASK
    return value


def _mask_in_place(node: Any, parts: list[str]) -> None:
    if isinstance(node, dict):
        for k in list(node):
            child = node[k]
            sub = [*parts, str(k)]
            if isinstance(child, dict):
                _mask_in_place(child, sub)
            elif isinstance(child, list):
                if is_secret(sub) and child:
                    node[k] = [MASK for _ in child]
            elif is_secret(sub) and child not in (None, ""):
                node[k] = MASK


def _print_value(value: Any, out: TextIO) -> None:
    if isinstance(value, (Mapping, list)):
        from tljh.config.store import dump_yaml

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
    return MASK if is_secret(split_key(key)) and value not in (None, "") else _describe(value)


def _warn_remaining(remaining: list[str]) -> None:
    if remaining:
        print(
            f"warning: the config still has {len(remaining)} problem(s) it already had:",
            file=sys.stderr,
        )
        for p in remaining:
            print(f"  {p}", file=sys.stderr)


# --- commands ---------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    from tljh.config.store import dump_yaml, load_config

    data: Any = load_config(_paths(args))
    if args.defaults:
        from tljh.config.schema import with_defaults

        data = with_defaults(data)
    if not args.show_secrets:
        data = _masked(data, [])
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
    from tljh.config.validate import key_problem

    problem = key_problem(key)
    if problem:
        raise ConfigError(problem, "'tljh-config show --defaults' lists the keys and their values")


def cmd_get(args: argparse.Namespace) -> int:
    from tljh.config.schema import with_defaults
    from tljh.config.store import load_config
    from tljh.config.values import get_value

    parts = split_key(args.key)
    data = load_config(_paths(args))
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
        value = _masked(value, parts)
    _print_value(value, sys.stdout)
    return 0


def _change(args: argparse.Namespace, change: Callable[[Any], object]) -> Any:
    from tljh.config.store import update_config

    result = update_config(_paths(args), change, timeout=args.lock_timeout)
    _warn_remaining(result.remaining)
    return result


def cmd_set(args: argparse.Namespace) -> int:
    from tljh.config.values import parse_value, set_value

    value = parse_value(args.key, args.value, args.type)
    result = _change(args, lambda data: set_value(data, args.key, value))
    shown = _shown(args.key, value)
    if not result.changed:
        print(f"{args.key} is already {shown}; nothing changed.")
        return 0
    print(f"Set {args.key} = {shown}. {_reload_hint(args.key)}")
    return 0


def cmd_unset(args: argparse.Namespace) -> int:
    from tljh.config.schema import node_at, node_default
    from tljh.config.values import unset_value

    try:
        _change(args, lambda data: unset_value(data, args.key))
    except ConfigError as e:
        if "is not set" in e.message:
            _raise_if_unknown(args.key)
        raise
    node = node_at(args.key)
    default = node_default(node) if node is not None else None
    if node is not None and not isinstance(default, (dict, list)) and "default" in node:
        print(
            f"Unset {args.key} (it is now the default, {_describe(default)}). "
            f"{_reload_hint(args.key)}"
        )
    else:
        print(f"Unset {args.key}. {_reload_hint(args.key)}")
    return 0


def cmd_add_item(args: argparse.Namespace) -> int:
    from tljh.config.values import add_item, contains_item, parse_value

    value = parse_value(args.key, args.value, args.type)
    present: list[bool] = []

    def change(data: Any) -> None:
        present.append(contains_item(data, args.key, value))
        add_item(data, args.key, value)

    _change(args, change)
    if present and present[0]:
        print(f"{_shown(args.key, value)} is already in {args.key}; nothing changed.")
    else:
        print(f"Added {_shown(args.key, value)} to {args.key}. {_reload_hint(args.key)}")
    return 0


def cmd_remove_item(args: argparse.Namespace) -> int:
    from tljh.config.values import parse_value, remove_item

    value = parse_value(args.key, args.value, args.type)
    _change(args, lambda data: remove_item(data, args.key, value))
    print(f"Removed {_shown(args.key, value)} from {args.key}. {_reload_hint(args.key)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from tljh.config.store import ConfigFiles, load_config
    from tljh.config.validate import validate

    paths = ConfigFiles.for_file(args.file) if args.file else _paths(args)
    if not paths.config_file.exists():
        raise ConfigError(
            f"{paths.config_file} does not exist",
            "give the path of a config file, e.g. 'tljh-config validate ./config.yaml'",
        )
    problems = validate(load_config(paths))
    if problems:
        print(f"{paths.config_file} has {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{paths.config_file} is valid.")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    from tljh.config.store import load_config
    from tljh.config.validate import check
    from tljh.layout import Layout

    layout = Layout.from_env()
    # A hub started on an invalid config would not come back: refuse early.
    check(load_config(layout))
    from tljh.system import services

    name = "hub" if args.component == "hub" else "proxy"
    print(f"Reloading the {name} (waiting up to {args.timeout:g} s for it to be ready)...")
    services.reload(layout, [args.component], timeout=args.timeout)
    print(f"The {name} is running with the new configuration.")
    return 0


# --- argument parsing -------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _add_common(p: argparse.ArgumentParser, top: bool) -> None:
    # Accepted before or after the command: 'tljh-config --config-path X set ...'
    # (as upstream) and 'tljh-config set --config-path X ...'.
    p.add_argument(
        "--config-path",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="config file to act on (default: $TLJH_INSTALL_PREFIX/config/config.yaml, "
        "i.e. /opt/tljh/config/config.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tljh-config",
        description="Show and change the configuration of The Littlest JupyterHub.",
        epilog=EPILOG
        + "\n\nExamples:\n  sudo tljh-config set limits.memory 1G\n  sudo tljh-config reload",
        formatter_class=_Formatter,
    )
    _add_common(parser, top=True)
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for another tljh-config to finish a change (default: 10)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, summary: str, example: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=f"Example:\n  {example}",
            formatter_class=_Formatter,
        )
        _add_common(p, top=False)
        p.set_defaults(func=func)
        return p

    def secrets(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--show-secrets",
            action="store_true",
            help=f"print passwords, tokens and keys instead of {MASK}",
        )

    def typed(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--type",
            choices=TYPE_NAMES,
            default=None,
            help="store VALUE as this type instead of the type the key expects",
        )

    p = add("show", "Print the config file (secrets masked).", "tljh-config show", cmd_show)
    secrets(p)
    p.add_argument(
        "--defaults",
        action="store_true",
        help="print the effective config: the file merged with all defaults",
    )

    p = add(
        "get",
        "Print the value of one key (default if unset).",
        "tljh-config get limits.memory",
        cmd_get,
    )
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. limits.memory")
    secrets(p)

    p = add("set", "Set a key to a value.", "sudo tljh-config set limits.memory 1G", cmd_set)
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. limits.memory")
    p.add_argument("value", metavar="VALUE", help="new value, parsed as the key's type")
    typed(p)

    p = add(
        "unset",
        "Remove a key (its default applies again).",
        "sudo tljh-config unset limits.memory",
        cmd_unset,
    )
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. limits.memory")

    p = add(
        "add-item",
        "Add a value to a list.",
        "sudo tljh-config add-item users.admin alice",
        cmd_add_item,
    )
    p.add_argument("key", metavar="KEY", help="dotted key of a list, e.g. users.admin")
    p.add_argument("value", metavar="VALUE", help="value to add")
    typed(p)

    p = add(
        "remove-item",
        "Remove a value from a list.",
        "sudo tljh-config remove-item users.admin alice",
        cmd_remove_item,
    )
    p.add_argument("key", metavar="KEY", help="dotted key of a list, e.g. users.admin")
    p.add_argument("value", metavar="VALUE", help="value to remove")
    typed(p)

    p = add(
        "reload",
        "Restart the hub or the proxy so that config changes take effect.",
        "sudo tljh-config reload proxy",
        cmd_reload,
    )
    p.add_argument(
        "component",
        nargs="?",
        choices=("hub", "proxy"),
        default="hub",
        help="what to restart (default: hub)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for it to be ready again (default: 60)",
    )

    p = add(
        "validate",
        "Check a config file and list every problem.",
        "tljh-config validate /tmp/new-config.yaml",
        cmd_validate,
    )
    p.add_argument("file", metavar="FILE", nargs="?", help="file to check (default: the config)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # --help, or a usage error already printed by argparse
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except TLJHError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
