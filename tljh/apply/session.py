"""A change to the installed config under its lock, applied before the lock is let go.

``tljh-config set --apply``, ``edit``, ``rollback`` and ``reload`` hold the
config lock from before they read the file until the hub and the proxy run
with the result (or the old configuration is back), so two admins never
apply each other's half-finished changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tljh.apply.snapshot import note_running_config, running_config
from tljh.apply.transaction import DEFAULT_TIMEOUT, ApplyPlan, apply_changes, plan_apply
from tljh.config.store import ConfigPaths, config_lock, read_config
from tljh.config.validate import ignored_keys_warning, split_problems, validate
from tljh.errors import ConfigError, ConfigValidationError
from tljh.layout import Layout
from tljh.system.files import read_or_none


@dataclass
class ChangeSession:
    """A change in progress, under the config lock."""

    paths: ConfigPaths
    #: Apply when the change is done; a command clears it when there is nothing to apply.
    apply: bool
    #: config.yaml before the change: what to go back to if nothing is known to work.
    previous: bytes | None = None
    #: The components restarted when it was applied.
    restarted: list[str] = field(default_factory=list)


def installed_layout(paths: ConfigPaths) -> Layout:
    """``paths`` if it is the installed config, the only one that runs the hub.

    Raises :class:`~tljh.errors.ConfigError` for any other file.
    """
    if isinstance(paths, Layout):
        return paths
    raise ConfigError(
        f"cannot apply {paths.config_file}: only the installed config "
        "($TLJH_INSTALL_PREFIX/config/config.yaml) runs the hub",
        "only save the change (without --apply, or with --no-apply), or leave out "
        "--config-path to change the installed config",
    )


@contextmanager
def change_session(
    paths: ConfigPaths,
    *,
    apply: bool,
    lock_timeout: float,
    owner: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    say: Callable[[str], None],
) -> Iterator[ChangeSession]:
    """Hold the config lock while the caller changes the file; apply it on a clean exit.

    Before the change, the running configuration is noted as known to work if
    it is (:func:`~tljh.apply.snapshot.note_running_config`), so a failed
    apply has something to roll back to.  Raises
    :class:`~tljh.errors.LockedError` if the lock is not free within
    ``lock_timeout`` s, and what :func:`~tljh.apply.transaction.apply_changes`
    raises.
    """
    with config_lock(paths, lock_timeout, owner=owner):
        if apply:
            note_running_config(installed_layout(paths))
        session = ChangeSession(paths, apply, read_or_none(paths.config_file))
        yield session
        if session.apply:
            session.restarted = apply_changes(
                installed_layout(paths), timeout=timeout, previous=session.previous, say=say
            )


_UNTOUCHED = (
    "nothing was restarted: the hub and the proxy keep running with the "
    "configuration they started with.  Fix the file with 'sudo tljh-config edit', "
    "or go back to an earlier version with 'sudo tljh-config history' and "
    "'sudo tljh-config rollback N'"
)


def _refuse_invalid(layout: Layout, say: Callable[[str], None] | None = None) -> None:
    # A hub started on an invalid config would not come back: refuse early,
    # and leave the running hub alone.  Keys it does not know do not stop it
    # (tljh.config.validate.blocking): they are named, and the hub goes on.
    try:
        config = read_config(layout)
    except ConfigError as e:
        raise ConfigError(e.message, _UNTOUCHED) from None
    stop, ignored = split_problems(validate(config), "run")
    if stop:
        raise ConfigValidationError(stop, _UNTOUCHED)
    if ignored and say is not None:
        say(ignored_keys_warning(str(layout.config_file), ignored))


def reload_plan(
    layout: Layout, component: str = "hub", say: Callable[[str], None] | None = None
) -> ApplyPlan:
    """What ``tljh-config reload [component]`` would restart and why; changes nothing.

    Takes no lock and writes nothing (not even the known-good record a real
    reload may write first).  Raises :class:`~tljh.errors.ConfigError` for an
    invalid config, as the reload would; ``say`` is told of unknown keys.
    """
    _refuse_invalid(layout, say)
    if component == "proxy":
        return plan_apply(layout, only=["proxy"])
    return plan_apply(layout, always=["hub"], known_good=running_config(layout))


def reload_config(
    layout: Layout,
    component: str = "hub",
    *,
    lock_timeout: float,
    timeout: float = DEFAULT_TIMEOUT,
    say: Callable[[str], None],
) -> list[str]:
    """``tljh-config reload [hub|proxy]``: apply the config file as it is now.

    ``"hub"`` restarts the hub, and the proxy too when its settings changed;
    ``"proxy"`` restarts only the proxy.  An invalid config is refused
    (:class:`~tljh.errors.ConfigError`) and the running hub left alone.
    Returns the components restarted.
    """
    with config_lock(layout, lock_timeout):
        _refuse_invalid(layout, say)
        note_running_config(layout)
        if component == "proxy":
            return apply_changes(layout, only=["proxy"], timeout=timeout, say=say)
        return apply_changes(layout, always=["hub"], timeout=timeout, say=say)
