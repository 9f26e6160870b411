"""Deliver a store's pending effects to the host's handlers: at least once, retried, never lost.

The engine decides; the host acts. A store (:class:`~leadsla.SqliteStore`,
:class:`~leadsla.PostgresStore`) keeps every effect in its outbox until it is acknowledged.
A :class:`Dispatcher` reads the outbox and calls the handler
the host registered for each effect: by action name for an ``ActionRequested`` (``"escalate"``,
``"notify"``), else by effect type (``"obligation_breached"``, or the class itself), else the
default handler. An effect is acknowledged once its handler returned; a handler that raises
(or, with a ``timeout``, takes too long) leaves it in the outbox, to be tried again after a
backoff that doubles each time, and after ``attempts`` failures it becomes a dead letter,
kept until requeued (``leadsla outbox DB --requeue ...``). An effect nobody handles is acknowledged:
there is nothing to do for it.

Order: effects are delivered in the order they were decided, and an effect waiting for a retry
holds back the later effects of its lead (a lead's escalation is not sent before the breach it
follows). Dead letters hold back nothing.

Several dispatchers can share a :class:`~leadsla.PostgresStore`: each pass *claims* the
effects it takes on for a ``lease`` (another dispatcher skips them, and the later effects of
their leads, meanwhile), and gives back what it did not get to. A pass that outlives its
lease may see another dispatcher take its effects: make the lease longer than a pass takes.

Handlers are keyed by names that exist: an unknown action name or effect type is refused
when the dispatcher is made, with the known ones (a typo would otherwise leave effects
"unhandled", acknowledged without anyone acting on them).

A handler receives the :class:`~leadsla.OutboxItem`; its ``id`` is the effect's deterministic
id, the key a receiver uses to drop a delivery it has already acted on (a host that crashes
after the handler ran and before the acknowledgement delivers it again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from attrs import field, frozen

from leadsla._core.effects import Effect, kind_of_type
from leadsla._core.errors import NaiveDatetimeError, Problem, UsageError, did_you_mean
from leadsla._shell.keeping import OutboxItem, Store

__all__ = ["ACTIONS", "Delivered", "Dispatcher", "EffectHandler", "effect_kinds"]


class EffectHandler(Protocol):
    """Acts on one effect of the outbox (sends the email, updates the CRM). Returning means
    done; raising means "try again later". Must be idempotent by ``item.id``."""

    def __call__(self, item: OutboxItem, /) -> object: ...


@frozen
class Delivered:
    """What one :meth:`Dispatcher.deliver` pass did: effects handled and acknowledged, ones
    nobody handles (acknowledged too), failures to be retried, new dead letters, and effects
    left for later (waiting for a retry, or behind one of their lead's)."""

    handled: int = 0
    unhandled: int = 0
    failed: int = 0
    dead: int = 0
    waiting: int = 0
    #: One line per failed delivery of the pass: outbox place, type, lead, attempt, error
    #: (not compared: two passes with the same counts are equal).
    problems: tuple[str, ...] = field(default=(), eq=False, repr=False)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Delivers a store's pending effects to handlers (see the module's documentation).

    ``actions`` maps action names of ``ActionRequested`` effects to handlers; ``effects`` maps
    effect types (their names as :func:`~leadsla.effect_to_dict` gives them, or the classes)
    to handlers; ``default`` takes the rest (None: acknowledged unhandled). ``attempts``:
    failures before an effect becomes a dead letter; ``backoff``: the wait after the first
    failure, doubled after each one up to ``max_backoff``; ``timeout``: how long a handler may
    take (None: as long as it takes; a handler that overruns is counted as failed and left
    running in a daemon thread); ``lease``: how long a pass holds the effects it claimed
    from a shared store; ``now``: the wall clock.
    """

    def __init__(
        self,
        store: Store,
        *,
        actions: Mapping[str, EffectHandler] | None = None,
        effects: Mapping[Any, EffectHandler] | None = None,  # keys: str | type[Effect]
        default: EffectHandler | None = None,
        attempts: int = 5,
        backoff: timedelta = timedelta(seconds=1),
        max_backoff: timedelta = timedelta(hours=1),
        timeout: timedelta | None = None,
        lease: timedelta = timedelta(minutes=10),
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if type(attempts) is not int or attempts < 1:
            raise UsageError(
                Problem("attempts", attempts, "is not a positive whole number", "give e.g. 5")
            )
        for name, span in (
            ("backoff", backoff),
            ("max_backoff", max_backoff),
            ("timeout", timeout),
            ("lease", lease),
        ):
            if span is not None and (not isinstance(span, timedelta) or span <= timedelta(0)):
                raise UsageError(
                    Problem(name, span, "is not a positive span of time", "give a timedelta")
                )
        self.store = store
        self._actions = dict(actions or {})
        for key in self._actions:
            _check_key(key, ACTIONS, "actions", "an action name")
        self._effects: dict[str, EffectHandler] = {}
        kinds = effect_kinds() if effects else frozenset()
        for key, handler in (effects or {}).items():
            name = key if isinstance(key, str) else _kind_of_class(key)
            _check_key(name, kinds, "effects", "an effect type")
            self._effects[name] = handler
        self._default = default
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._timeout = timeout
        self._lease = lease
        self._now = now if now is not None else _utc_now
        #: Calls that overran their timeout and still run, by outbox place: the effect is not
        #: handed over again until they end (their answer counts then).
        self._overran: dict[int, tuple[threading.Thread, list[str | None]]] = {}

    def handler_for(self, item: OutboxItem) -> EffectHandler | None:
        """The handler that takes ``item``: by action, then by type, then the default."""
        if item.type == "action_requested":
            handler = self._actions.get(str(item.data.get("action")))
            if handler is not None:
                return handler
        return self._effects.get(item.type, self._default)

    def deliver(
        self, limit: int | None = None, *, stop: Callable[[], bool] | None = None
    ) -> Delivered:
        """One pass over the outbox (its first ``limit`` pending effects): call each one's
        handler, acknowledge what was done, schedule what failed. ``stop`` is asked before
        each effect: once it says yes, the pass ends there (what was done is acknowledged).
        Acknowledgements are written every ``_ACK_EVERY`` effects, so that a crash repeats
        at most so many deliveries."""
        now = self._now()
        if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
            raise NaiveDatetimeError.for_field("now", now)
        done: list[str] = []
        problems: list[str] = []
        self.store.renew(self._running(), self._lease)  # their effects stay this pass's
        items = self.store.claim(limit, lease=self._lease)
        # The pass ends well before its claims run out (and another dispatcher may take them).
        deadline = time.monotonic() + self._lease.total_seconds() * 0.8

        def ask() -> bool:
            return (stop is not None and stop()) or time.monotonic() > deadline

        settled: set[str] = set()  # acknowledged, or failed (which gives the claim back)
        try:
            return self._pass(items, ask, now, done, problems, settled)
        finally:
            if done:  # whatever ended the pass, what was handled is acknowledged
                self.store.ack(done)
            settled.update(done)
            running = set(self._running())
            rest = [i.id for i in items if i.id not in settled and i.seq not in running]
            if rest:  # waiting, or not reached: another pass (or dispatcher) takes them
                self.store.release(rest)

    def _running(self) -> list[int]:
        """The outbox places of effects whose handler overran its timeout and still runs:
        their claims are held, so that no other dispatcher calls it at the same time."""
        return [seq for seq, (thread, _) in self._overran.items() if thread.is_alive()]

    def _pass(
        self,
        items: list[OutboxItem],
        stop: Callable[[], bool] | None,
        now: datetime,
        done: list[str],
        problems: list[str],
        settled: set[str],
    ) -> Delivered:
        """The pass itself: ``done`` is the caller's list of the handled effects not yet
        acknowledged (acknowledged in groups here, the rest by the caller)."""
        # Leads with an effect waiting: their later ones wait too. (Effects of no lead, the
        # refusals of unreadable events, are not in order with each other: none waits.)
        held: set[str] = set()
        handled = unhandled = failed = dead = waiting = 0
        for item in items:
            if stop is not None and stop():
                break
            if len(done) >= _ACK_EVERY:
                self.store.ack(done)
                settled.update(done)
                done.clear()
            if (item.lead and item.lead in held) or (
                item.retry_at is not None and item.retry_at > now
            ):
                held.add(item.lead)
                waiting += 1
                continue
            handler = self.handler_for(item)
            if handler is None:
                done.append(item.id)
                unhandled += 1
                continue
            error = self._call(handler, item)
            if error is _RUNNING:  # an earlier call that overran has not finished yet
                held.add(item.lead)
                waiting += 1
                continue
            if error is None:
                done.append(item.id)
                handled += 1
                continue
            if done:  # acknowledge what went before, so a crash now repeats less
                self.store.ack(done)
                settled.update(done)
                done.clear()
            settled.add(item.id)
            problems.append(
                f"#{item.seq} {item.type} of {item.lead or '(no lead)'}, attempt "
                f"{item.attempts + 1} of {self._attempts}: {error}"
            )
            release = item.seq not in self._running()  # an overrun keeps its claim
            if item.attempts + 1 >= self._attempts:
                self.store.failed(item.seq, error, None, release=release)
                dead += 1
            else:
                seconds = self._backoff.total_seconds() * 2.0 ** min(item.attempts, 60)
                wait = timedelta(seconds=min(seconds, self._max_backoff.total_seconds()))
                self.store.failed(item.seq, error, self._now() + wait, release=release)
                held.add(item.lead)
                failed += 1
        return Delivered(handled, unhandled, failed, dead, waiting, tuple(problems))

    def _call(self, handler: EffectHandler, item: OutboxItem) -> str | None:
        """Run a handler; None when it returned, else what went wrong, in one line
        (``_RUNNING``: a call of it that overran earlier is still running)."""
        if self._timeout is None:
            try:
                handler(item)
            except Exception as error:
                return _said(error)
            return None
        earlier = self._overran.get(item.seq)
        if earlier is not None:  # never two calls at once for one effect
            if earlier[0].is_alive():
                return _RUNNING
            del self._overran[item.seq]
            if earlier[1] and earlier[1][0] is None:
                return None  # it did the work after all: acknowledged
            # it failed too: counted once already (the overrun), so it is called afresh
        outcome: list[str | None] = []

        def run() -> None:
            try:
                handler(item)
            except Exception as error:
                outcome.append(_said(error))
            else:
                outcome.append(None)

        worker = threading.Thread(target=run, name=f"leadsla handler {item.id}", daemon=True)
        worker.start()
        worker.join(self._timeout.total_seconds())
        if worker.is_alive():
            self._overran[item.seq] = (worker, outcome)
            return f"the handler took longer than {self._timeout}"
        return outcome[0] if outcome else "the handler ended without an answer"


#: What ``_call`` answers while an earlier call for the effect still runs.
_RUNNING: Final = "running"
#: How many handled effects a pass acknowledges at a time.
_ACK_EVERY: Final = 20
#: The actions an agreement asks for (``ActionRequested.action``).
ACTIONS: Final = frozenset({"escalate", "notify"})


def effect_kinds() -> frozenset[str]:
    """The names of every effect type (the subclasses of Effect, however deep)."""
    kinds: set[str] = set()
    stack: list[type[Effect]] = [Effect]
    while stack:
        kind = stack.pop()
        stack.extend(kind.__subclasses__())
        if kind is not Effect:
            kinds.add(kind_of_type(kind))
    return frozenset(kinds)


def _check_key(key: str, known: frozenset[str], field: str, what: str) -> None:
    if key not in known:
        raise UsageError(
            Problem(
                field,
                key,
                f"is not {what}",
                f"use one of {', '.join(sorted(known))}{did_you_mean(key, known)}",
            )
        )


def _kind_of_class(kind: type[Effect]) -> str:
    if not (isinstance(kind, type) and issubclass(kind, Effect)):
        raise UsageError(
            Problem(
                "effects",
                kind,
                "is not an effect type",
                "key handlers by an effect class (ObligationBreached) or its name "
                "('obligation_breached')",
            )
        )
    return kind_of_type(kind)


def _said(error: Exception) -> str:
    text = str(error).replace("\n", " ")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
