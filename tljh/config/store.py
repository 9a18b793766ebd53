"""Reading and writing ``config.yaml``: round-trip, atomic, locked, with history.

* Round-trip: ruamel.yaml keeps the admin's comments, key order and quoting.
* Atomic: the new text goes to a temporary file in the same directory, is
  fsynced and renamed over the old file, so a crash leaves either the old or
  the new config, never half of one.
* Locked: writers hold an exclusive lock for the whole load-change-validate-save
  cycle (:func:`config_lock`).
* History: before every change the previous file is copied into the history
  directory (:mod:`tljh.config.history`) so a bad change can be undone.
* Root's alone: the file may hold secrets (OAuth client secrets, LDAP bind
  passwords), so every write leaves it 0600, in a 0700 directory if it had to
  make one, whatever the umask and whatever mode an older file had.

Functions take anything with ``config_file``, ``config_lock`` and
``config_history_dir`` paths: a :class:`~tljh.layout.Layout`, or a
:class:`ConfigFiles` for a config file somewhere else (``--config-path``).
"""

from __future__ import annotations

import errno
import io
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tljh.config.history import discard_entry, keep_history, prune_history
from tljh.config.schema import with_defaults
from tljh.config.validate import ignored_keys_warning, runnable, validate
from tljh.errors import ConfigError, ConfigValidationError, LockedError, Problem
from tljh.layout import Layout
from tljh.system.files import (
    PRIVATE_FILE,
    atomic_write,
    exclusive_lock,
    make_private_dirs,
    read_or_none,
)


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
        """Lock and history next to ``path``; the history named like a layout's for config.yaml."""
        p = Path(os.path.abspath(path))
        history = p.parent / ("history" if p.name == "config.yaml" else f".{p.name}.history")
        return cls(
            config_file=p,
            config_lock=p.parent / f".{p.name}.lock",
            config_history_dir=history,
        )


def paths_for(config_path: str | os.PathLike[str] | None) -> ConfigPaths:
    """The paths for ``config_path``: the installation's layout for its own file
    (or for None), so its lock and history are the ones every other writer uses."""
    layout = Layout.from_env()
    if config_path is None:
        return layout
    files = ConfigFiles.for_file(config_path)
    if files.config_file == Path(layout.config_file).absolute():
        return layout
    return files


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


def read_config(layout: ConfigPaths) -> CommentedMap:
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


def load_checked_config(
    paths: ConfigPaths, warn: Callable[[str], object] | None = None
) -> dict[str, Any]:
    """The config as the hub and the proxy run with it: validated, defaults filled in.

    The one way every reader (hub, apply, upstream entry points) loads it, so
    none of them accepts a file another refuses.  Raises
    :class:`~tljh.errors.ConfigError` if the file cannot be read or is invalid.
    Keys TLJH does not know are left out (:func:`~tljh.config.validate.blocking`);
    ``warn`` is given the warning that names them.
    """
    config, ignored = runnable(read_config(paths))
    if ignored and warn is not None:
        warn(ignored_keys_warning(str(paths.config_file), ignored))
    return with_defaults(config)


def write_bytes(layout: ConfigPaths, raw: bytes, note: str = "") -> bool:
    """Replace the config file with ``raw`` exactly (atomic, previous kept in history).

    ``note`` is stored with the history entry of the version being replaced.
    False (and nothing written) if the file already holds exactly ``raw``.
    The caller should hold :func:`config_lock`.
    """
    path = layout.config_file
    try:
        old = read_or_none(path)
        if old == raw:
            # Not rewritten, but still re-asserted: an older release or an
            # admin's editor may have left it readable by all.
            if path.stat().st_mode & 0o7777 != PRIVATE_FILE:
                with suppress(PermissionError):  # another user's file: not ours to change
                    os.chmod(path, PRIVATE_FILE)
            return False
        make_private_dirs(path.parent)
        kept = keep_history(layout, old, note) if old is not None else None
        try:
            atomic_write(path, raw, mode=PRIVATE_FILE)
        except BaseException:
            # The file was not replaced: an entry for it would be a duplicate
            # of what is still live, and would push a real version out.
            if kept is not None:
                discard_entry(kept)
            raise
        prune_history(layout)
    except PermissionError as e:
        where = Path(e.filename) if e.filename else path
        raise ConfigError(f"cannot write {where}: permission denied", _sudo_hint(where)) from None
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    return True


def _write(layout: ConfigPaths, data: Mapping[str, Any]) -> bool:
    """Save ``data``; False (and nothing written) if the file already says exactly that."""
    return write_bytes(layout, dump_yaml(data).encode("utf-8"))


def save_config(layout: ConfigPaths, data: Mapping[str, Any]) -> None:
    """Write ``data`` to the config file atomically, keeping the previous version.

    The file is left readable by its owner (root) alone.  The caller should
    hold :func:`config_lock`.
    """
    _write(layout, data)


def _owner_file(layout: ConfigPaths) -> Path:
    return layout.config_lock.with_name(layout.config_lock.name + ".owner")


def _lock_owner(layout: ConfigPaths) -> str:
    """Who holds the lock, as its holder wrote it down ('' if unknown or gone)."""
    try:
        text = _owner_file(layout).read_text(encoding="utf-8").strip()
        pid_text, _, who = text.partition(" ")
        os.kill(int(pid_text), 0)
    except PermissionError:
        return who
    except (OSError, ValueError):
        return ""
    return who


@contextmanager
def config_lock(layout: ConfigPaths, timeout: float = 10, owner: str = "") -> Iterator[None]:
    """Hold the config lock; LockedError if another writer keeps it for ``timeout`` s.

    ``owner`` (e.g. "'tljh-config edit' by alice") is written down while the
    lock is held, so that others can be told who has the file.

    The lock file is root's alone (:func:`~tljh.system.files.exclusive_lock`),
    and a layout keeps it in ``state/``: a lock a student can open is a lock a
    student can hold, blocking every change and the installer.
    """
    lock_path = layout.config_lock
    with ExitStack() as held:
        try:
            make_private_dirs(lock_path.parent)
            held.enter_context(exclusive_lock(lock_path, timeout))
        except TimeoutError:
            who = _lock_owner(layout)
            if who:
                raise LockedError(
                    f"{layout.config_file} is in use: {who}",
                    "wait until that command finishes (an editor may be open in another "
                    "terminal), then try again",
                ) from None
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
        except OSError as e:
            # ELOOP: a symlink, never followed (it could point at any file of root's).
            not_a_file = e.errno in (errno.ELOOP, errno.EINVAL, errno.EISDIR)
            raise ConfigError(
                f"cannot lock {lock_path}: {e.strerror or e}",
                f"{lock_path} must be a regular file: remove whatever is there "
                "(tljh-config creates the file again), then try again"
                if not_a_file
                else "check that the disk is neither full nor read-only, then try again",
            ) from None
        try:
            if owner:
                since = time.strftime("%H:%M:%S")
                with suppress(OSError):
                    text = f"{os.getpid()} {owner} (since {since})\n"
                    atomic_write(_owner_file(layout), text, mode=PRIVATE_FILE)
            yield
        finally:
            if owner:
                with suppress(FileNotFoundError):
                    _owner_file(layout).unlink()


@dataclass
class UpdateResult:
    """What :func:`update_config` did."""

    config: CommentedMap
    changed: bool
    #: Problems the config still has; all of them were there before the change.
    remaining: list[Problem]
    #: Rules across keys the config does not meet yet (e.g. HTTPS without a
    #: domain): the change was saved, but applying it is refused until they are met.
    pending: list[Problem] = field(default_factory=list)
    #: Problems the change added, saved anyway because validation was turned
    #: off (``validate=False``, upstream's ``--no-validate``).
    unvalidated: list[Problem] = field(default_factory=list)


def update_config(
    layout: ConfigPaths,
    change: Callable[[CommentedMap], object],
    *,
    extra_schema: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 10,
    lock: bool = True,
    cross: bool = False,
    validate_change: bool = True,
) -> UpdateResult:
    """Lock, load, apply ``change`` (which edits the map in place), validate, save.

    Nothing is written if the change adds a problem: ConfigValidationError
    lists the new problems.  Problems the file already had do not block a
    change (so a broken file can be repaired one key at a time); they are
    returned in ``remaining``.  Rules across keys block the change only with
    ``cross`` (the change is applied right away); otherwise what they find is
    returned in ``pending``: applying checks them.  With ``lock=False`` the
    caller already holds :func:`config_lock`.  With ``validate_change=False``
    (upstream's ``--no-validate``) the change is saved even if it adds
    problems; they are returned in ``unvalidated`` for the caller to show.
    """
    if lock:
        with config_lock(layout, timeout):
            return _update(layout, change, extra_schema, cross, validate_change)
    return _update(layout, change, extra_schema, cross, validate_change)


def _update(
    layout: ConfigPaths,
    change: Callable[[CommentedMap], object],
    extra_schema: Mapping[str, Mapping[str, Any]] | None,
    cross: bool,
    validate_change: bool = True,
) -> UpdateResult:
    data = read_config(layout)
    before = validate(data, extra_schema, cross=cross)
    change(data)
    after = validate(data, extra_schema, cross=cross)
    # Compared as text: removing a list item renumbers the problems with later
    # items, which are not new for that.
    seen = {str(p) for p in before}
    new = [p for p in after if str(p) not in seen]
    if new and validate_change:
        raise ConfigValidationError(
            new,
            f"nothing was changed: {layout.config_file} still holds its previous "
            "content; correct the value and run the command again",
        )
    changed = _write(layout, data)
    pending: list[Problem] = []
    if not cross:
        own = {str(p) for p in after}
        pending = [p for p in validate(data, extra_schema) if str(p) not in own]
    return UpdateResult(
        config=data,
        changed=changed,
        remaining=[p for p in after if str(p) in seen],
        pending=pending,
        unvalidated=new,
    )
