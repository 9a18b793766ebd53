"""The command line of ``tljh-config``: its commands, options and help texts.

Only argparse: :mod:`tljh.cli.config` passes in the function of each command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

from tljh.config.secrets import MASK
from tljh.config.values import TYPE_NAMES

Command = Callable[[argparse.Namespace], int]

EPILOG = (
    "Changes take effect after 'sudo tljh-config reload' (or right away with --apply). "
    "'reload' restarts only what a change touches, waits at most --timeout seconds for "
    "the hub and the proxy, and puts the last working config back if they do not come back."
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _add_common(p: argparse.ArgumentParser, top: bool) -> None:
    """--config-path, and upstream's --validate/--no-validate (help on the commands
    that change the file, see :func:`_validate_help`)."""
    # Accepted before or after the command: 'tljh-config --config-path X set ...'
    # (as upstream) and 'tljh-config set --config-path X ...'.
    p.add_argument(
        "--config-path",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="config file to act on (default: $TLJH_INSTALL_PREFIX/config/config.yaml, "
        "i.e. /opt/tljh/config/config.yaml)",
    )
    # Upstream's flags: '--no-validate' saves a change even if validation finds
    # problems in it (they are still listed); '--validate' is the default.
    # Accepted everywhere, as upstream's were; they matter to set, unset,
    # add-item and remove-item, whose help shows them.
    shown = top
    p.add_argument(
        "--validate",
        dest="validate",
        action="store_true",
        default=True if top else argparse.SUPPRESS,
        help=_VALIDATE_HELP if shown else argparse.SUPPRESS,
    )
    p.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        default=True if top else argparse.SUPPRESS,
        help=_NO_VALIDATE_HELP if shown else argparse.SUPPRESS,
    )


_VALIDATE_HELP = "check each change before saving it (the default)"
_NO_VALIDATE_HELP = (
    "save a change even if it has problems (they are listed); the hub and 'reload' "
    "still refuse a value they cannot apply"
)


def _validate_help(p: argparse.ArgumentParser) -> None:
    """Show --validate/--no-validate in the help of a command that changes the file."""
    for action in p._actions:
        if action.option_strings == ["--validate"]:
            action.help = _VALIDATE_HELP
        elif action.option_strings == ["--no-validate"]:
            action.help = _NO_VALIDATE_HELP


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The parser of ``tljh-config``; ``commands`` maps each command name to its function."""
    parser = argparse.ArgumentParser(
        prog="tljh-config",
        description="Show and change the configuration of The Littlest JupyterHub.",
        epilog=EPILOG
        + "\n\nExamples:\n  sudo tljh-config set limits.memory 1G\n  sudo tljh-config reload\n"
        "  sudo tljh-config edit\n  sudo tljh-config history",
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

    p = add("show", "Print the config file (secrets masked).", "tljh-config show", commands["show"])
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
        commands["get"],
    )
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. limits.memory")
    secrets(p)

    def applying(p: argparse.ArgumentParser, default: bool) -> None:
        if default:
            p.add_argument(
                "--no-apply",
                dest="apply",
                action="store_false",
                help="only save the file; apply it later with 'tljh-config reload'",
            )
        else:
            p.add_argument(
                "--apply",
                action="store_true",
                help="also apply the change now: restart what it touches, wait until "
                "healthy, and roll back if the hub or proxy does not come back",
            )
        timeout(p)

    def timeout(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--timeout",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="how long to wait for the hub and the proxy to be healthy (default: 60)",
        )

    p = add(
        "set",
        "Set a key to a value.",
        "sudo tljh-config set limits.memory 1G --apply",
        commands["set"],
    )
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. limits.memory")
    p.add_argument(
        "value",
        metavar="VALUE",
        help="new value, parsed as the key's type; on users.extra_user_groups.GROUP, "
        "the one user of that group (add more with add-item)",
    )
    typed(p)
    applying(p, default=False)
    _validate_help(p)

    p = add(
        "unset",
        "Remove a key (its default applies again).",
        "sudo tljh-config unset limits.memory",
        commands["unset"],
    )
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. limits.memory")
    applying(p, default=False)
    _validate_help(p)

    for name, summary, verb in (
        ("add-item", "Add a value to a list.", "add"),
        ("remove-item", "Remove a value from a list.", "remove"),
    ):
        p = add(name, summary, f"sudo tljh-config {name} users.admin alice", commands[name])
        p.add_argument("key", metavar="KEY", help="dotted key of a list, e.g. users.admin")
        p.add_argument("value", metavar="VALUE", help=f"value to {verb}")
        typed(p)
        applying(p, default=False)
        _validate_help(p)

    p = add(
        "reload",
        "Apply the config: restart what changed, wait until healthy, roll back on failure.",
        "sudo tljh-config reload",
        commands["reload"],
    )
    p.add_argument(
        "component",
        nargs="?",
        choices=("hub", "proxy"),
        default="hub",
        help="'hub' (the default) restarts the hub, and the proxy too when its settings "
        "changed; 'proxy' restarts only the proxy",
    )
    timeout(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="only say what would restart and why, and check that the hub accepts its "
        "configuration; change and restart nothing",
    )

    p = add(
        "edit",
        "Edit the config file in a text editor; it is checked before it is saved.",
        "sudo tljh-config edit",
        commands["edit"],
    )
    applying(p, default=True)

    p = add(
        "history",
        "List the earlier versions of the config file, or print one.",
        "sudo tljh-config history",
        commands["history"],
    )
    p.add_argument(
        "number",
        metavar="N",
        type=int,
        nargs="?",
        default=None,
        help="print version N (1 is the newest) instead of the list",
    )
    secrets(p)

    p = add(
        "rollback",
        "Restore an earlier version of the config file and apply it.",
        "sudo tljh-config rollback 2",
        commands["rollback"],
    )
    p.add_argument(
        "number",
        metavar="N",
        type=int,
        nargs="?",
        default=1,
        help="the version to restore, as numbered by 'tljh-config history' (default: 1, "
        "the version before the last change)",
    )
    applying(p, default=True)

    p = add(
        "validate",
        "Check a config file and list every problem.",
        "tljh-config validate /tmp/new-config.yaml",
        commands["validate"],
    )
    p.add_argument("file", metavar="FILE", nargs="?", help="file to check (default: the config)")

    add(
        "https-status",
        "Show the certificate HTTPS serves (names, issuer, expiry) and what is wrong with it.",
        "sudo tljh-config https-status",
        commands["https-status"],
    )
    return parser
