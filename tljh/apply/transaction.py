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
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, NoReturn

from tljh.apply.health import check_proxy_ports, hub_problem, proxy_problem, restart_and_wait
from tljh.apply.interrupts import InterruptGuard
from tljh.apply.plan import (
    COMPONENTS,
    UNITS,
    change_reasons,
    changed_components,
    component_names,
    ordered,
)
from tljh.apply.precheck import check_hub_config
from tljh.apply.proxy_files import proxy_files_stale, write_proxy_files
from tljh.apply.snapshot import (
    Snapshot,
    mentioned_snippets,
    read_known_good,
    record_known_good,
    restore_snapshot,
    take_snapshot,
)
from tljh.config.fallback import read_fallback
from tljh.config.store import load_checked_config
from tljh.errors import (
    ApplyFailed,
    ConfigError,
    ConfigRefused,
    Interrupted,
    PortTaken,
    StartFailed,
    TLJHError,
    journal_hint,
)
from tljh.layout import HUB_UNIT, PROXY_UNIT, Layout
from tljh.system import systemd

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
        refuse_fallback(layout)


def refuse_fallback(layout: Layout) -> None:
    """Fail when the hub just started answers on the known-good files, not the new ones.

    It stays up that way (:mod:`tljh.hub.jupyterhub_config`), but the change did
    not take effect, and the files must not be recorded as known to work.
    """
    note = read_fallback(layout)
    if note is None or note.pid != systemd.status(HUB_UNIT).main_pid:
        return
    raise StartFailed(
        HUB_UNIT,
        "started, but on the last known-good files, not the new ones: " + "; ".join(note.reasons),
        "",
    )


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
    #: Refuses a hub configuration the hub would not start with (before any restart).
    check_hub: Callable[[Layout], None] = check_hub_config
    #: The components whose restart began, in order.
    started: list[str] = field(default_factory=list)

    def apply(self) -> list[str]:
        """Restart what is planned; on failure or interrupt, roll back (raises ApplyFailed).

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
        with InterruptGuard() as guard:
            failure = self._restart_all(guard)
            if failure is not None:
                self.roll_back(failure)
            if self.needed <= set(self.components):
                record_known_good(self.layout, self.current)
        return self.components

    def _restart_all(self, guard: InterruptGuard) -> TLJHError | None:
        """Restart each planned component; the failure or interrupt that stopped it, if any.

        Interrupts are held from the moment one is received or a restart fails.
        """
        try:
            try:
                if "hub" in self.components:
                    self.check_hub(self.layout)
                self._say(
                    f"Restarting {component_names(self.components)} "
                    f"(waiting up to {self.timeout:g} s for each)..."
                )
                for component in self.components:
                    self.started.append(component)
                    restart(self.layout, [component], self.config, self.timeout)
            except TLJHError as failure:
                guard.hold()
                return failure
        except Interrupted as late:
            # Received while the failure above was being caught.
            return late
        guard.hold()
        return None

    def _say(self, text: str) -> None:
        # After SIGHUP the terminal is gone and writing to it fails; the
        # rollback must go on regardless.
        with suppress(OSError):
            self.say(text)

    def _fallback_hint(self, components: Iterable[str]) -> str:
        # For failures that carry no hint of their own (e.g. systemctl itself failed).
        last = ordered(components)[-1:]
        return journal_hint(UNITS[last[0]] if last else HUB_UNIT)

    def roll_back(self, failure: TLJHError) -> NoReturn:
        """Put the known-good files back and restart; always raises ApplyFailed.

        ``rolled_back`` on the error says whether the hub and the proxy run
        again with the earlier configuration.
        """
        interrupted = isinstance(failure, Interrupted)
        failed = [
            c
            for c in self.components
            if isinstance(failure, StartFailed) and UNITS[c] == failure.unit
        ]
        what = component_names(failed or self.components)
        if interrupted:
            restarting = component_names(self.started or self.components)
            head = f"{failure.message} while restarting {restarting}"
            hint = "run the command again when it can finish (it takes at most a minute or two)"
        elif isinstance(failure, ConfigRefused):
            head, hint = failure.message, failure.hint
        else:
            head = f"{what} did not work with the new configuration:\n{failure.message}"
            hint = failure.hint or self._fallback_hint(failed or self.components)
        target = self.known_good
        if target is None and self.previous is not None:
            target = Snapshot(self.previous, self.current.hub_snippets, self.current.proxy_snippets)
        if target is None:
            raise self._failed(
                failure,
                head + "\nNo earlier configuration is known to have worked, so nothing was "
                "rolled back.",
                "'sudo tljh-config history' lists earlier versions and 'sudo tljh-config "
                "rollback N' restores one; " + hint,
                rolled_back=False,
            )
        same = target.same_files(self.current)
        if same and not interrupted:
            snippets = mentioned_snippets(self.layout, failure.message)
            raise ApplyFailed(
                head + "\nThe files are the same as the last configuration that worked, so the "
                "cause is elsewhere (an installed package, the disk, another program on a port"
                + (f"; the log mentions {', '.join(snippets)}" if snippets else "")
                + "). Nothing was rolled back.",
                hint,
                rolled_back=False,
            )
        if interrupted or not self.started:
            # What was not restarted yet still runs with what it started with.
            again = ordered(self.started)
            self._say(f"{head.splitlines()[0]}; restoring the last configuration that worked...")
        else:
            again = ordered(set(self.components) | changed_components(self.current, target))
            self._say(f"{what} did not come back; restoring the last configuration that worked...")
        actions = [] if same else restore_snapshot(self.layout, target, self.current)
        rolled_back = (
            "\nRolled back:\n" + "".join(f"  - {a}\n" for a in actions) if actions else "\n"
        )
        try:
            restart(self.layout, again, load_checked_config(self.layout), self.timeout)
        except TLJHError as second:
            snippets = mentioned_snippets(self.layout, second.message)
            raise self._failed(
                failure,
                head
                + rolled_back
                + f"but {component_names(again)} still did not come back:\n{second.message}"
                + (f"\nThe log mentions {', '.join(snippets)}." if snippets else ""),
                second.hint or self._fallback_hint(again),
                rolled_back=False,
            ) from None
        if self.known_good is None:
            record_known_good(self.layout, target)
        if again:
            verb = "are" if len(again) > 1 else "is"
            state = (
                f"{component_names(again).capitalize()} {verb} running again with the previous "
                "configuration."
            )
        else:
            state = (
                "Nothing was restarted: the hub and the proxy kept running with the previous "
                "configuration."
            )
        raise self._failed(
            failure,
            head + rolled_back + state,
            hint
            if interrupted or isinstance(failure, ConfigRefused)
            # A taken port's own hint says what to do; others: the cause shown above.
            else (
                f"{failure.hint}; then"
                if isinstance(failure, PortTaken)
                else "fix the cause shown above and"
            )
            + " try again; 'sudo tljh-config history' shows the version that failed",
            rolled_back=True,
        )

    @staticmethod
    def _failed(failure: TLJHError, message: str, hint: str, rolled_back: bool) -> ApplyFailed:
        error = ApplyFailed(message, hint, rolled_back=rolled_back)
        # An interrupted command exits as the shell expects for that signal.
        error.exit_code = failure.exit_code if isinstance(failure, Interrupted) else 1
        return error


@dataclass(frozen=True)
class ApplyPlan:
    """What an apply would restart and why, worked out without changing anything."""

    #: The config as it will run (validated, with defaults).
    config: Mapping[str, Any]
    #: The last configuration that passed the health checks, if one was recorded.
    known_good: Snapshot | None
    #: The files to apply.
    current: Snapshot
    #: What the change since the known-good snapshot touches.
    needed: set[str]
    #: What to restart, in restart order.
    components: list[str]
    #: Why each of ``components`` restarts, in words.
    reasons: dict[str, list[str]]


def plan_apply(
    layout: Layout,
    always: Sequence[str] = (),
    *,
    only: Sequence[str] | None = None,
    known_good: Snapshot | None = None,
) -> ApplyPlan:
    """What :func:`apply_changes` would restart, and why; reads only.

    ``known_good`` stands in for the recorded snapshot (a dry run's "what
    would be recorded first").  Raises :class:`~tljh.errors.ConfigError` for
    an invalid config.
    """
    config = load_checked_config(layout)  # invalid: refuse before touching anything
    good = known_good or read_known_good(layout)
    current = take_snapshot(layout)
    needed = changed_components(good, current)
    if only is not None:
        reasons = {c: [f"'tljh-config reload {c}' restarts only the {c}"] for c in only}
    else:
        reasons = change_reasons(good, current)
        for component in always:
            reasons.setdefault(component, []).insert(
                0, f"'tljh-config reload' always restarts the {component}"
            )
        # Only read traefik's files when the proxy would not restart anyway.
        if "proxy" not in reasons and proxy_files_stale(layout, config):
            reasons["proxy"] = [f"its generated files in {layout.state_dir} are out of date"]
    return ApplyPlan(config, good, current, needed, ordered(reasons), reasons)


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
    plus ``always``; the proxy also when its generated files are out of date
    (:func:`plan_apply`).  ``only`` restarts exactly those components
    (``reload proxy``).  The hub's configuration is loaded as the hub will
    load it before anything restarts (:mod:`tljh.apply.precheck`).  Each
    restart waits at most ``timeout`` s for health.  On failure or an
    interrupt (:mod:`tljh.apply.interrupts`), restores the known-good
    snapshot (or, without one, ``previous``: the config.yaml bytes before the
    change), restarts again what had been restarted, and raises
    :class:`~tljh.errors.ApplyFailed`.  An invalid config raises
    :class:`~tljh.errors.ConfigError` before anything is touched.

    The caller holds the config lock.  Returns the components restarted.
    """
    plan = plan_apply(layout, always, only=only)
    transaction = ApplyTransaction(
        layout,
        plan.config,
        plan.components,
        plan.needed,
        plan.known_good,
        plan.current,
        previous,
        timeout,
        say,
    )
    return transaction.apply()
