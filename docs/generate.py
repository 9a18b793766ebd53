"""Generate the reference pages in docs/reference/ from the code, so they cannot drift from it.

    python docs/generate.py           # rewrite the pages (what `./dev docs --regenerate` runs)
    python docs/generate.py --check   # exit 1 naming every page that is stale

Each page comes from the thing users meet: the configuration schema, the argument parsers of
`tljh-config`, `tljh` and `bootstrap.py` (the same objects that print `--help`), and the hook
specifications plugins implement. tests/test_docs_reference.py fails when a committed page
differs from what this module makes.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent

# argparse wraps usage lines at the terminal's width; a fixed width keeps the pages the same
# on every machine.
WIDTH = "88"


def _generated_note(what: str) -> str:
    return (
        f"<!-- Generated from {what} by `./dev docs --regenerate` (docs/generate.py); "
        "do not edit by hand. -->"
    )


def _md(text: str) -> str:
    """Prose for a Markdown paragraph or table cell: no raw HTML, no line breaks in cells."""
    text = " ".join(text.split())
    text = text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return text.replace("*", "\\*")  # '********' (a masked secret) is text, not emphasis


# ----------------------------------------------------------------- configuration keys

_TYPE_WORDS = {
    "object": "section",
    "array": "list",
    "string": "text",
    "integer": "integer",
    "number": "number",
    "boolean": "true/false",
    "null": "null",
    "any": "any",
}


def config_reference() -> str:
    """Every key of config.yaml, from the schema (tljh/config/schema.py)."""
    from tljh.config.schema import SCHEMA, iter_nodes, node_default, node_types

    def type_text(node: Mapping[str, Any]) -> str:
        types = node_types(node)
        text = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        items = node.get("items")
        if "array" in types and isinstance(items, Mapping):
            text = f"list of {' or '.join(_TYPE_WORDS.get(t, t) for t in node_types(items))}"
        if node.get("enum"):
            text += " (" + " \\| ".join(str(e) for e in node["enum"]) + ")"
        return text

    def default_text(node: Mapping[str, Any]) -> str:
        if "default" not in node:
            return ""
        value = node["default"] if "object" in node_types(node) else node_default(node)
        return f"`{json.dumps(value)}`"

    lines = [
        "# Configuration reference",
        "",
        _generated_note("the schema in tljh/config/schema.py"),
        "",
        "Keys of `/opt/tljh/config/config.yaml`.  Change them with "
        "`sudo tljh-config set KEY VALUE` (lists: `add-item` / `remove-item`) or "
        "`sudo tljh-config edit`, then apply them with `sudo tljh-config reload` (or add "
        "`--apply` to the command); changes to `http`, `https` and `traefik_api` restart "
        "the proxy too.  See "
        "[Changing the configuration safely](../topics/config-changes.md).  "
        "`tljh-config` refuses unknown keys; the installer and the hub name them in a "
        "warning and go on without them.  Names in angle brackets are chosen by you, e.g. "
        "`auth.<ClassName>.<option>` stands for `auth.GitHubOAuthenticator.client_id`.",
        "",
    ]
    for path, node in iter_nodes(SCHEMA):
        lines += [f"{'##' if '.' not in path else '###'} `{path}`", ""]
        lines += [node.get("description", "").strip().replace("<", "&lt;").replace(">", "&gt;")]
        lines.append("")
        facts = [f"- Type: {type_text(node)}"]
        default = default_text(node)
        if default:
            facts.append(f"- Default: {default}")
        if node.get("secret"):
            facts.append("- Secret: masked by `tljh-config show`")
        if node.get("example"):
            facts.append(f"- Example: `{node['example']}`")
        lines += [*facts, ""]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------- command lines


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, Any]]:
    """(name, one-line help, parser) of each subcommand, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        # As argparse's own help shows it: a choice is spelled {a,b} unless a metavar names it.
        choices = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else None
        metavar = action.metavar or choices
        if isinstance(metavar, tuple):
            metavar = " ".join(metavar)
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                name += f" {metavar or action.dest.upper()}"
                name += " ..." if action.nargs in ("+", "*") else ""
        else:
            name = str(metavar or action.dest)
            if action.nargs == "?":
                name = f"[{name}]"
        detail = action.help or ""
        if isinstance(action, argparse._AppendAction) and "repeatable" not in detail:
            detail += " (repeatable)"
        rows.append(f"| `{name}` | {_md(detail)} |")
    return rows


def _usage(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        usage = parser.format_usage().strip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return usage.removeprefix("usage: ")


def _epilog(parser: argparse.ArgumentParser) -> list[str]:
    """The parser's epilog: prose as a paragraph, indented example lines as a code block."""
    if not parser.epilog:
        return []
    out: list[str] = []
    prose: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if prose:
            out.extend([_md(" ".join(prose)), ""])
            prose.clear()
        if code:
            out.extend(["```bash", *code, "```", ""])
            code.clear()

    for line in parser.epilog.splitlines():
        if line.startswith("  ") and line.strip():
            if prose:
                flush()
            code.append(line.strip())
        elif line.strip():
            if code:
                flush()
            prose.append(line.strip())
        else:
            flush()
    flush()
    return out


def _command_section(
    parser: argparse.ArgumentParser, title: str, level: int, summary: str = ""
) -> list[str]:
    lines = [f"{'#' * level} `{title}`", ""]
    description = parser.description or summary
    if description:
        lines += [_md(description), ""]
    lines += ["```text", _usage(parser), "```", ""]
    rows = _option_rows(parser)
    if rows:
        lines += ["| argument | what it does |", "| --- | --- |", *rows, ""]
    lines += _epilog(parser)
    subs = list(_subcommands(parser))
    if subs and level == 1:
        lines += ["| command | what it does |", "| --- | --- |"]
        for name, helptext, _ in subs:
            anchor = re.sub(r"[^a-z0-9 -]", "", f"{title} {name}".lower()).replace(" ", "-")
            lines.append(f"| [`{name}`](#{anchor}) | {_md(helptext)} |")
        lines.append("")
    for name, helptext, sub in subs:
        lines += _command_section(sub, f"{title} {name}", min(level + 1, 3), helptext)
    return lines


def _command_page(parser: argparse.ArgumentParser, title: str, what: str, intro: str) -> str:
    lines = _command_section(parser, title, 1)
    # The page's title is the command; the generated note and the intro go under it.
    lines[1:1] = ["", _generated_note(what), "", intro]
    return "\n".join(lines).rstrip() + "\n"


def tljh_config_reference() -> str:
    """`tljh-config`, from its parser (tljh/cli/config_args.py)."""
    from tljh.cli.config import COMMANDS
    from tljh.cli.config_args import build_parser

    return _command_page(
        build_parser(COMMANDS),
        "tljh-config",
        "the parser in tljh/cli/config_args.py",
        "Shows and changes `/opt/tljh/config/config.yaml`. What each key means is in the "
        "[configuration reference](config.md); how a change is applied and rolled back is in "
        "[changing the configuration safely](../topics/config-changes.md). Commands that "
        "change the file need `sudo`.",
    )


def tljh_reference() -> str:
    """`tljh`, from its parser (tljh/cli/main.py and one module per subcommand)."""
    from tljh.cli.main import build_parser

    return _command_page(
        build_parser(),
        "tljh",
        "the parsers in tljh/cli/",
        "Runs and looks after the server: users, status, checks, logs. Most commands need "
        "`sudo`; the configuration itself is changed with [`tljh-config`](tljh-config.md).",
    )


# What each environment variable the bootstrap reads does; bootstrap_reference() refuses to
# run while bootstrap.py reads a TLJH_ variable that is not described here.
BOOTSTRAP_VARIABLES = {
    "TLJH_INSTALL_PREFIX": "where to install (default `/opt/tljh`)",
    "TLJH_BOOTSTRAP_PIP_SPEC": "what to install TLJH from, as a pip requirement: a path to a "
    "checkout, a wheel, a `git+https://` URL (default: the newest release); `--version`, if "
    "given, wins",
    "TLJH_BOOTSTRAP_DEV": "`yes` installs TLJH from `TLJH_BOOTSTRAP_PIP_SPEC` in editable mode, "
    "for working on TLJH itself",
    "SSL_CERT_FILE, PIP_CERT, REQUESTS_CA_BUNDLE": "a CA bundle to trust (behind a "
    "TLS-inspecting firewall); the first one set is handed to pip, uv, conda and the installer",
    "PIP_INDEX_URL, PIP_EXTRA_INDEX_URL": "a PyPI mirror; uv gets the same through "
    "`UV_INDEX_URL` and `UV_EXTRA_INDEX_URL`",
    "http_proxy, https_proxy, no_proxy": "an HTTP proxy, used by every download",
}


# Handed from the bootstrap to the installer it starts; not for admins to set.
INTERNAL_VARIABLES = {"TLJH_PROGRESS_PAGE_PID", "TLJH_PROGRESS_RUN"}


def _load_bootstrap() -> ModuleType:
    path = REPO / "bootstrap" / "bootstrap.py"
    spec = importlib.util.spec_from_file_location("tljh_bootstrap_for_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bootstrap_reference() -> str:
    """`bootstrap.py`'s flags, from its parser, and the environment variables it reads."""
    module = _load_bootstrap()
    source = (REPO / "bootstrap" / "bootstrap.py").read_text()
    described = ", ".join(BOOTSTRAP_VARIABLES)
    missing = sorted(
        set(re.findall(r"\bTLJH_[A-Z_]+\b", source))
        - set(re.findall(r"\bTLJH_[A-Z_]+\b", described))
        - INTERNAL_VARIABLES
    )
    if missing:
        raise SystemExit(f"docs/generate.py: describe {', '.join(missing)} in BOOTSTRAP_VARIABLES")
    parser = module.build_parser()
    lines = [
        "# `bootstrap.py`: the installer's flags",
        "",
        _generated_note("the parser in bootstrap/bootstrap.py"),
        "",
        "The one-line install downloads `bootstrap.py` and runs it as root; every flag below "
        "goes after `python3 -`. Running it again on an installed server upgrades and repairs "
        "it with the flags given (see [upgrading](../howto/upgrade.md)).",
        "",
        "```bash",
        "curl -L https://tljh.jupyter.org/bootstrap.py | sudo python3 - --admin NAME",
        "```",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        "| flag | what it does |",
        "| --- | --- |",
        *_option_rows(parser),
        "",
        "## Environment variables",
        "",
        "Set them for the `python3` that runs the bootstrap, e.g. "
        "`curl -L https://tljh.jupyter.org/bootstrap.py | sudo TLJH_INSTALL_PREFIX=/srv/tljh "
        "python3 - --admin NAME`.",
        "",
        "| variable | what it does |",
        "| --- | --- |",
        *(f"| `{name}` | {text} |" for name, text in BOOTSTRAP_VARIABLES.items()),
    ]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------- plugin hooks


def hooks_reference() -> str:
    """The hooks a plugin can implement, from their specifications (tljh/hub/hooks.py)."""
    from tljh.hub import hooks

    lines = [
        "# Plugin hooks",
        "",
        _generated_note("the hook specifications in tljh/hub/hooks.py"),
        "",
        "A plugin is a Python package with an entry point in the group `tljh` that implements "
        "any of these functions, each marked with `@hookimpl` "
        "(`from tljh.hooks import hookimpl`). Names and arguments are upstream TLJH's, so "
        "existing plugins keep working. How to install and write one, and in which order the "
        "hooks run, is in [plugins](../howto/plugins.md).",
        "",
    ]
    for name, func in vars(hooks).items():
        if not callable(func) or not hasattr(func, f"{hooks.PROJECT_NAME}_spec"):
            continue
        signature = str(inspect.signature(func)).replace("'", "")
        lines += [f"## `{name}`", "", "```python", f"def {name}{signature}", "```", ""]
        doc = inspect.getdoc(func)
        if doc:
            lines += [doc, ""]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------- the pages

PAGES: dict[str, Callable[[], str]] = {
    "reference/config.md": config_reference,
    "reference/tljh-config.md": tljh_config_reference,
    "reference/tljh.md": tljh_reference,
    "reference/bootstrap.md": bootstrap_reference,
    "reference/hooks.md": hooks_reference,
}


def stale_pages() -> list[str]:
    """The pages whose committed text differs from what the code makes now."""
    stale = []
    for rel, render in PAGES.items():
        path = DOCS / rel
        if not path.exists() or path.read_text() != render():
            stale.append(rel)
    return stale


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        stale = stale_pages()
        for rel in stale:
            print(f"docs/{rel} is stale", file=sys.stderr)
        if stale:
            print("hint: run ./dev docs --regenerate and commit the pages", file=sys.stderr)
        return 1 if stale else 0
    if argv:
        print("usage: python docs/generate.py [--check]", file=sys.stderr)
        return 2
    for rel, render in PAGES.items():
        path = DOCS / rel
        text = render()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote docs/{rel}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main(sys.argv[1:]))
