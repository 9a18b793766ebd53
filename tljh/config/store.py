"""Reading and writing ``config.yaml``: round-trip, atomic, locked, with history.

* Round-trip: ruamel.yaml keeps the admin's comments, key order and quoting.
* Atomic: the new text goes to a temporary file in the same directory, is
  fsynced and renamed over the old file, so a crash leaves either the old or
  the new config, never half of one.
* Locked: writers hold a ``filelock`` on the lock file next to the config for
  the whole load-change-validate-save cycle.
* History: before every change the previous file is copied into the history
  directory (newest :data:`HISTORY_KEEP` kept) so a bad change can be undone.

Functions take anything with ``config_file``, ``config_lock`` and
``config_history_dir`` paths: a :class:`~tljh.layout.Layout`, or a
:class:`ConfigFiles` for a config file somewhere else (``--config-path``).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tljh.config.validate import validate
from tljh.errors import ConfigError, ConfigValidationError, LockedError
from tljh.system.files import atomic_write

HISTORY_KEEP = 20
_HISTORY_PREFIX = "config-"
_HISTORY_SUFFIX = ".yaml"


class ConfigPaths(Protocol):
    """Where a config file, its lock and its history live (a Layout fits)."""

    @property
    def config_file(self) -> Path: ...

    @property
    def config_lock(self) -> Path: ...

    @property
    def config_history_dir(self) -> Path: ...


@dataclass(frozen=True)
class ConfigFiles:
    """The paths for a config file that is not the layout's (``--config-path``)."""

    config_file: Path
    config_lock: Path
    config_history_dir: Path

    @classmethod
    def for_file(cls, path: str | os.PathLike[str]) -> ConfigFiles:
        """Lock and history next to ``path``, named like a layout's for config.yaml."""
        p = Path(os.path.abspath(path))
        history = p.parent / ("history" if p.name == "config.yaml" else f".{p.name}.history")
        return cls(
            config_file=p,
            config_lock=p.parent / f".{p.name}.lock",
            config_history_dir=history,
        )


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold long values (URLs, secrets) over lines
    return y


def _block_style_empties(node: Any) -> None:
    """Make empty ``[]``/``{}`` block style, so items added later print one per line."""
    if isinstance(node, CommentedMap):
        if not node:
            node.fa.set_block_style()
        for value in node.values():
            _block_style_empties(value)
    elif isinstance(node, CommentedSeq):
        if not node:
            node.fa.set_block_style()
        for value in node:
            _block_style_empties(value)


def parse_yaml(text: str, source: str, hint: str = "") -> CommentedMap:
    """Parse config text (round-trip); ConfigError naming line and column on bad YAML."""
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = e.problem or e.context or "syntax error"
        raise ConfigError(
            f"{source} is not valid YAML{where}: {problem}",
            hint
            or "fix that line in a text editor (indent with spaces, not tabs, and put a "
            "space after each ':')",
        ) from None
    except YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {e}", hint) from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise ConfigError(
            f"{source} must hold a mapping of keys to values, but holds {kind}",
            hint or "the file should look like 'limits:' / '  memory: 1G' (see 'tljh-config show')",
        )
    _block_style_empties(data)
    return data


def dump_yaml(data: Mapping[str, Any]) -> str:
    """The YAML text for ``data`` (round-trip types keep their comments)."""
    if not data:
        return ""
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def _sudo_hint(path: Path) -> str:
    return f"{path} belongs to root: run the command with sudo, e.g. 'sudo tljh-config ...'"


def _history_hint(paths: ConfigPaths) -> str:
    return (
        "fix that line in a text editor (indent with spaces, not tabs, and put a space "
        f"after each ':'); earlier versions of the file are kept in {paths.config_history_dir}"
    )


def load_config(layout: ConfigPaths) -> CommentedMap:
    """The config file as a round-trip map (empty if the file does not exist)."""
    path = layout.config_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CommentedMap()
    except PermissionError:
        raise ConfigError(f"cannot read {path}: permission denied", _sudo_hint(path)) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {e.start})",
            "save the file as UTF-8 in your editor",
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    return parse_yaml(text, str(path), _history_hint(layout))


def list_history(layout: ConfigPaths) -> list[Path]:
    """Saved earlier versions of the config, oldest first."""
    try:
        names = os.listdir(layout.config_history_dir)
    except FileNotFoundError:
        return []
    return [
        layout.config_history_dir / n
        for n in sorted(names)
        if n.startswith(_HISTORY_PREFIX) and n.endswith(_HISTORY_SUFFIX)
    ]


def _keep_history(layout: ConfigPaths, old: bytes) -> None:
    hist = layout.config_history_dir
    hist.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    target = hist / f"{_HISTORY_PREFIX}{stamp}{_HISTORY_SUFFIX}"
    n = 1
    while target.exists():
        target = hist / f"{_HISTORY_PREFIX}{stamp}-{n}{_HISTORY_SUFFIX}"
        n += 1
    # Earlier versions may hold secrets; only root needs to read them.
    atomic_write(target, old, mode=0o600)
    for stale in list_history(layout)[:-HISTORY_KEEP]:
        with suppress(FileNotFoundError):
            stale.unlink()


def _write(layout: ConfigPaths, data: Mapping[str, Any]) -> bool:
    """Save ``data``; False (and nothing written) if the file already says exactly that."""
    path = layout.config_file
    text = dump_yaml(data)
    try:
        try:
            old: bytes | None = path.read_bytes()
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            old, mode = None, 0o644
        if old == text.encode("utf-8"):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        if old is not None:
            _keep_history(layout, old)
        atomic_write(path, text, mode=mode)
    except PermissionError as e:
        where = Path(e.filename) if e.filename else path
        raise ConfigError(f"cannot write {where}: permission denied", _sudo_hint(where)) from None
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    return True


def save_config(layout: ConfigPaths, data: Mapping[str, Any]) -> None:
    """Write ``data`` to the config file atomically, keeping the previous version.

    An existing file keeps its permissions; a new one is created 0644.  The
    caller should hold :func:`config_lock`.
    """
    _write(layout, data)


@contextmanager
def config_lock(layout: ConfigPaths, timeout: float = 10) -> Iterator[None]:
    """Hold the config lock; LockedError if another writer keeps it for ``timeout`` s."""
    from filelock import FileLock, Timeout

    lock_path = layout.config_lock
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path), timeout=timeout)
        lock.acquire()
    except Timeout:
        raise LockedError(
            f"{layout.config_file} is being changed by another tljh-config "
            f"(waited {timeout:g} s for {lock_path})",
            "wait until the other command (for example an open 'tljh-config edit') "
            "finishes, then try again",
        ) from None
    except PermissionError:
        raise ConfigError(
            f"cannot lock {lock_path}: permission denied", _sudo_hint(lock_path)
        ) from None
    try:
        yield
    finally:
        lock.release()


@dataclass
class UpdateResult:
    """What :func:`update_config` did."""

    config: CommentedMap
    changed: bool
    #: Problems the config still has; all of them were there before the change.
    remaining: list[str]


def update_config(
    layout: ConfigPaths,
    change: Callable[[CommentedMap], object],
    *,
    extra_schema: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 10,
) -> UpdateResult:
    """Lock, load, apply ``change`` (which edits the map in place), validate, save.

    Nothing is written if the change adds a problem: ConfigValidationError
    lists the new problems.  Problems the file already had do not block a
    change (so a broken file can be repaired one key at a time); they are
    returned in ``remaining``.
    """
    with config_lock(layout, timeout):
        data = load_config(layout)
        before = validate(data, extra_schema)
        change(data)
        after = validate(data, extra_schema)
        new = [p for p in after if p not in before]
        if new:
            raise ConfigValidationError(
                new,
                f"nothing was changed: {layout.config_file} still holds its previous "
                "content; correct the value and run the command again",
            )
        changed = _write(layout, data)
    return UpdateResult(config=data, changed=changed, remaining=after)
