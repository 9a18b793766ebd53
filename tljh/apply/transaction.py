"""Applying the config to the running hub and proxy, and rolling back if they fail.

Applying a change (:func:`apply_changes`) never leaves the hub down because of
that change: if the hub or the proxy does not come back healthy, the last
configuration known to work (:mod:`tljh.apply.snapshot`) is put back, they are
restarted again and their health confirmed, and
:class:`~tljh.errors.ApplyFailed` explains what happened.  Every restart waits
a bounded time (:mod:`tljh.apply.health`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from tljh.apply.health import check_proxy_ports, hub_problem, proxy_problem, restart_and_wait
from tljh.apply.plan import COMPONENTS, UNITS, changed_components, component_names, ordered
from tljh.apply.proxy_files import proxy_files_stale, write_proxy_files
from tljh.apply.snapshot import (
    Snapshot,
    mentioned_snippets,
    read_known_good,
    record_known_good,
    restore_snapshot,
    take_snapshot,
)
from tljh.config.store import load_checked_config
from tljh.errors import (
    ApplyFailed,
    ConfigError,
    PortTaken,
    StartFailed,
    TLJHError,
    journal_hint,
)
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout

DEFAULT_TIMEOUT = 60.0


def restart(
    layout: Layout, components: Iterable[str], config: Mapping[str, Any], timeout: float
) -> None:
    """Restart ``components`` with ``config``, the proxy first, each until healthy.

    The proxy's generated files are rewritten first: traefik reads them at start.
    Raises a :class:`~tljh.errors.TLJHError` (mostly
    :class:`~tljh.errors.StartFailed`) at the first that does not come back.
    """
    wanted = set(components)
    if "proxy" in wanted:
        write_proxy_files(layout, config)
        check_proxy_ports(config)
        restart_and_wait(PROXY_UNIT, lambda: proxy_problem(config), timeout)
    if "hub" in wanted:
        restart_and_wait(HUB_UNIT, lambda: hub_problem(config), timeout)


def reload(layout: Layout, components: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Restart the named components with the current config and wait until healthy.

    No rollback: see :func:`apply_changes` for that.  Raises
    :class:`~tljh.errors.ConfigError` for an unknown component or an invalid
    config, :class:`~tljh.errors.StartFailed` if one does not come back.
    """
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise ConfigError(
            f"unknown component {unknown[0]!r}", "choose 'hub' or 'proxy' (or nothing: the hub)"
        )
    restart(layout, components, load_checked_config(layout), timeout)


def _say_nothing(text: str) -> None:
    pass


@dataclass
class ApplyTransaction:
    """One apply: what to restart, what runs now, and what to go back to if it fails."""

    layout: Layout
    #: The config as it will run (validated, with defaults).
    config: Mapping[str, Any]
    #: What to restart, in restart order.
    components: list[str]
    #: What the change since the known-good snapshot touches.
    needed: set[str]
    #: The last configuration that passed the health checks, if one was recorded.
    known_good: Snapshot | None
    #: The files being applied.
    current: Snapshot
    #: config.yaml before the change: the fallback when nothing is known to work.
    previous: bytes | None = None
    timeout: float = DEFAULT_TIMEOUT
    say: Callable[[str], None] = _say_nothing

    def apply(self) -> list[str]:
        """Restart what is planned; on failure, roll back (raises ApplyFailed).

        Returns the components restarted.
        """
        if not self.components:
            if self.known_good is not None and not self.needed:
                # Only comments or layout changed: what runs is equivalent.
                record_known_good(self.layout, self.current)
            self.say(
                "Nothing to restart: the hub and the proxy already run with this configuration."
            )
            return []
        self.say(
            f"Restarting {component_names(self.components)} "
            f"(waiting up to {self.timeout:g} s for each)..."
        )
        try:
            restart(self.layout, self.components, self.config, self.timeout)
        except TLJHError as failure:
            self.roll_back(failure)
        if self.needed <= set(self.components):
            record_known_good(self.layout, self.current)
        return self.components

    def _fallback_hint(self, components: Iterable[str]) -> str:
        # For failures that carry no hint of their own (e.g. systemctl itself failed).
        last = ordered(components)[-1:]
        return journal_hint(UNITS[last[0]] if last else HUB_UNIT)

    def roll_back(self, failure: TLJHError) -> NoReturn:
        """Put the known-good files back and restart; always raises ApplyFailed.

        ``rolled_back`` on the error says whether the hub and the proxy run
        again with the earlier configuration.
        """
        failed = [
            c
            for c in self.components
            if isinstance(failure, StartFailed) and UNITS[c] == failure.unit
        ]
        what = component_names(failed or self.components)
        head = f"{what} did not work with the new configuration:\n{failure.message}"
        hint = failure.hint or self._fallback_hint(failed or self.components)
        target = self.known_good
        if target is None and self.previous is not None:
            target = Snapshot(self.previous, self.current.hub_snippets, self.current.proxy_snippets)
        if target is None:
            raise ApplyFailed(
                head + "\nNo earlier configuration is known to have worked, so nothing was "
                "rolled back.",
                "'sudo tljh-config history' lists earlier versions and 'sudo tljh-config "
                "rollback N' restores one; " + hint,
                rolled_back=False,
            )
        if target.same_files(self.current):
            snippets = mentioned_snippets(self.layout, failure.message)
            raise ApplyFailed(
                head + "\nThe files are the same as the last configuration that worked, so the "
                "cause is elsewhere (an installed package, the disk, another program on a port"
                + (f"; the log mentions {', '.join(snippets)}" if snippets else "")
                + "). Nothing was rolled back.",
                hint,
                rolled_back=False,
            )
        self.say(f"{what} did not come back; restoring the last configuration that worked...")
        actions = restore_snapshot(self.layout, target, self.current)
        again = ordered(set(self.components) | changed_components(self.current, target))
        rolled_back = "\nRolled back:\n" + "".join(f"  - {a}\n" for a in actions)
        try:
            restart(self.layout, again, load_checked_config(self.layout), self.timeout)
        except TLJHError as second:
            snippets = mentioned_snippets(self.layout, second.message)
            raise ApplyFailed(
                head
                + rolled_back
                + f"but {component_names(again)} still did not come back:\n{second.message}"
                + (f"\nThe log mentions {', '.join(snippets)}." if snippets else ""),
                second.hint or self._fallback_hint(again),
                rolled_back=False,
            ) from None
        if self.known_good is None:
            record_known_good(self.layout, target)
        verb = "are" if len(again) > 1 else "is"
        raise ApplyFailed(
            head
            + rolled_back
            + f"{component_names(again).capitalize()} {verb} running again with the previous "
            "configuration.",
            # A taken port's own hint says what to do; others: the cause shown above.
            (
                f"{failure.hint}; then"
                if isinstance(failure, PortTaken)
                else "fix the cause shown above and"
            )
            + " try again; 'sudo tljh-config history' shows the version that failed",
            rolled_back=True,
        )


def apply_changes(
    layout: Layout,
    always: Sequence[str] = (),
    *,
    only: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    previous: bytes | None = None,
    say: Callable[[str], None] = _say_nothing,
) -> list[str]:
    """Make the hub and proxy run with the current files; roll back if they fail.

    Restarts what the change since the last known-good configuration touches,
    plus ``always``; the proxy also when its generated files are out of date.
    ``only`` restarts exactly those components (``reload proxy``).  Each
    restart waits at most ``timeout`` s for health.  On failure, restores the
    known-good snapshot (or, without one, ``previous``: the config.yaml bytes
    before the change), restarts again, and raises
    :class:`~tljh.errors.ApplyFailed`.  An invalid config raises
    :class:`~tljh.errors.ConfigError` before anything is touched.

    The caller holds the config lock.  Returns the components restarted.
    """
    config = load_checked_config(layout)  # invalid: refuse before touching anything
    good = read_known_good(layout)
    current = take_snapshot(layout)
    needed = changed_components(good, current)
    if only is not None:
        components = ordered(only)
    else:
        wanted = set(always) | needed
        # Only read traefik's files when the proxy would not restart anyway.
        if "proxy" not in wanted and proxy_files_stale(layout, config):
            wanted.add("proxy")
        components = ordered(wanted)
    transaction = ApplyTransaction(
        layout, config, components, needed, good, current, previous, timeout, say
    )
    return transaction.apply()
