"""Obligation clocks: the transition table, the clock value, and its deadlines.

Theory of operation
===================

An obligation spec (:mod:`leadsla._core.obligations`) says what a party owes a lead; a *clock*
is one instance of it on one lead: opened at an instant, due at an instant, and ended in one
way. A clock is an immutable :class:`ObligationState`, replaced by a new value at every change.

What can happen to a clock, and what that makes of it, is this one table
(:data:`TRANSITIONS`); a pair that is not in it cannot happen, and asking for it is a bug in
the engine, not a silent fall-through::

    status      what happened   becomes     effect
    (none)      opened          open        ObligationOpened
    open        warned          open        ObligationWarned    (a ladder step before it)
    open        due             breached    ObligationBreached  (dated at the deadline)
    open        met             met         ObligationMet
    open        counted         open        (an attempt counted; no effect)
    open        cancelled       cancelled   ObligationCancelled
    open        paused          paused      ObligationPaused
    paused      resumed         open        ObligationResumed   (the deadline moves later)
    paused      met             met         ObligationMet
    paused      counted         paused
    paused      cancelled       cancelled   ObligationCancelled
    breached    met             met_late    ObligationMet       (late, with its lateness)
    breached    counted         breached
    breached    escalated       breached    ObligationEscalated (a ladder step after it)
    open        retargeted      open        ObligationRetargeted (its tier chosen again)
    paused      retargeted      paused      ObligationRetargeted

``met``, ``met_late`` and ``cancelled`` are final. A breached clock is not cancelled when the
lead moves on: the breach happened. ``warned`` and ``due`` come from timers (the engine's
queue, :mod:`leadsla._core.timers`); the others from what happens to the lead (the engine
asks :mod:`leadsla._core.watch` which occurrence does what to which clock).

Time: a deadline is a frozen instant (``due_at``), worked out when the clock opens by adding
the target of the clock's tier (the spec's ``within``, or a tier's) on its calendar
(:class:`Timing`, one per obligation, tier and calendar; the clock keeps its tier and, when
the obligation chooses one by owner, team or region, its calendar). The ladder's steps are
instants derived from the deadline: warnings before it, escalations after it. A pause moves
the deadline later by the working time that passed while paused, so a clock paused for two
business hours is due two business hours later. Lateness is the working
time between the deadline and a late meeting. Nothing here is a timer: "what is due by T" is a
question the engine asks of these values.

Every change that makes a queued timer of the clock obsolete (an ending, a pause, a resume, a
breach) raises the clock's ``version``; the timer queue drops a timer whose version is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, NamedTuple

from leadsla._core.calendar import (
    BusinessCalendar,
    from_instant_us,
    instant_us,
    shifter,
    span_us,
)
from leadsla._core.duration import Duration
from leadsla._core.effects import (
    Effect,
    ObligationPaused,
    ObligationResumed,
    ObligationRetargeted,
    new_obligation_breached,
    new_obligation_cancelled,
    new_obligation_escalated,
    new_obligation_met,
    new_obligation_opened,
    new_obligation_warned,
)
from leadsla._core.fast import evolver
from leadsla._core.obligations import ObligationSpec
from leadsla._core.ownership import Owner

__all__ = [
    "ENDED",
    "TRANSITIONS",
    "WAITING",
    "Ending",
    "Happening",
    "ObligationState",
    "Status",
    "Timing",
    "open_clock",
    "step",
]

Status = Literal["open", "paused", "met", "breached", "met_late", "cancelled"]
Happening = Literal[
    "warned", "due", "met", "counted", "cancelled", "paused", "resumed", "escalated", "retargeted"
]

#: (status, what happened) -> the status it makes. The whole life of a clock.
TRANSITIONS: Final[dict[tuple[Status, Happening], Status]] = {
    ("open", "warned"): "open",
    ("open", "due"): "breached",
    ("open", "met"): "met",
    ("open", "counted"): "open",
    ("open", "cancelled"): "cancelled",
    ("open", "paused"): "paused",
    ("paused", "resumed"): "open",
    ("paused", "met"): "met",
    ("paused", "counted"): "paused",
    ("paused", "cancelled"): "cancelled",
    ("breached", "met"): "met_late",
    ("breached", "counted"): "breached",
    ("breached", "escalated"): "breached",
    ("open", "retargeted"): "open",
    ("paused", "retargeted"): "paused",
}
#: The statuses something can still happen to (a matching occurrence still changes the clock).
WAITING: Final = frozenset(status for status, _ in TRANSITIONS)
#: The statuses nothing happens to any more.
ENDED: Final = frozenset({"met", "met_late", "cancelled"})


class Ending(NamedTuple):
    """How a clock ended: the facts an open clock does not carry yet."""

    met_at: datetime | None = None
    breached_at: datetime | None = None
    cancelled_at: datetime | None = None
    lateness: timedelta | None = None
    breach_owner: Owner | None = None


_NO_ENDING: Final = Ending()


class ObligationState(NamedTuple):
    """One clock of one obligation on one lead, as an immutable value.

    ``number`` counts the clocks of the same obligation on the lead (a periodic obligation has
    several). ``due_at`` already includes the pauses so far; ``paused_since`` is set while
    paused. ``met_at``, ``breached_at``, ``cancelled_at``, ``lateness`` (the business time, or
    calendar time for calendar durations, between the deadline and a late meeting) and
    ``breach_owner`` (who owned the lead when it breached) say how it ended; they live in
    ``ending``, which an open clock does not need.

    A named tuple: a live engine keeps millions of clocks, and a tuple is the smallest record
    Python has. Changes go through :meth:`replace`, by name.
    """

    name: str
    lead: str
    number: int
    party: str
    status: Status
    opened_at: datetime
    due_at: datetime
    paused_since: datetime | None = None
    pauses: tuple[tuple[datetime, datetime], ...] = ()
    attempts: int = 0
    warned: int = 0
    outcome: str | None = None
    version: int = 0
    ending: Ending | None = None
    #: The tier whose target set the deadline (None: the obligation has no tiers).
    tier: str | None = None
    #: The calendar the clock counts on, when the obligation chooses it by owner, team or
    #: region (None: the obligation's own).
    calendar: str | None = None

    def replace(self, **changes: Any) -> ObligationState:
        """A copy with some attributes changed; the ending's facts too, by their names."""
        ending = {name: changes.pop(name) for name in _ENDING_NAMES & changes.keys()}
        if ending:
            changes["ending"] = (self.ending or _NO_ENDING)._replace(**ending)
        return self._replace(**changes)

    @property
    def met_at(self) -> datetime | None:
        return self.ending.met_at if self.ending else None

    @property
    def breached_at(self) -> datetime | None:
        return self.ending.breached_at if self.ending else None

    @property
    def cancelled_at(self) -> datetime | None:
        return self.ending.cancelled_at if self.ending else None

    @property
    def lateness(self) -> timedelta | None:
        return self.ending.lateness if self.ending else None

    @property
    def breach_owner(self) -> Owner | None:
        return self.ending.breach_owner if self.ending else None

    @property
    def is_open(self) -> bool:
        """Still running or paused: neither met, breached, nor cancelled."""
        return self.status in _OPEN

    @property
    def is_paused(self) -> bool:
        return self.status == "paused"

    @property
    def waiting(self) -> bool:
        """Open, paused, or breached and not yet met: a matching occurrence still changes it."""
        return self.status in WAITING


_ENDING_NAMES: Final = frozenset(Ending._fields)
_OPEN: Final = frozenset({"open", "paused"})


class Timing:
    """When clocks of one obligation, tier and calendar come due, warn and escalate.

    The deadline's shift and each step's are worked out once: a clock's deadline is then one
    call, whatever the span. The ladder's steps before the deadline are its *warnings*, the
    ones after it its *escalations*; a clock's ``warned`` counts the steps given, warnings
    then escalations.
    """

    __slots__ = (
        "_after",
        "_after_steps",
        "_budget",
        "_deadline",
        "_warn_before",
        "_warning_steps",
        "_warnings",
        "calendar",
        "grace_us",
    )

    def __init__(
        self,
        spec: ObligationSpec,
        calendar: BusinessCalendar,
        within: Duration | None = None,
        working: BusinessCalendar | None = None,
    ) -> None:
        """``working``: the calendar a ladder's steps in business time count on, when the
        obligation's own time is calendar time (``calendar`` is then round the clock)."""
        self.calendar = calendar
        self._budget = spec.within if within is None else within
        self._deadline = shifter(calendar, self._budget)
        ladder = spec.warnings

        def shift(duration: Duration) -> Callable[[int], int]:
            on = working if working is not None and duration.business else calendar
            return shifter(on, duration)

        self._warning_steps = tuple(i for i, step in enumerate(ladder) if step.after is None)
        self._warnings = tuple(ladder[i] for i in self._warning_steps)
        self._warn_before: tuple[Callable[[int], int] | None, ...] = tuple(
            shift(-warning.before) if warning.before is not None else None
            for warning in self._warnings
        )
        self._after_steps = tuple(i for i, step in enumerate(ladder) if step.after is not None)
        self._after = tuple(
            shift(after)
            for after in (ladder[i].after for i in self._after_steps)
            if after is not None
        )
        #: How long after its deadline a clock's breach waits (microseconds; 0: none).
        self.grace_us = span_us(spec.grace.to_timedelta()) if spec.grace is not None else 0

    def due_us(self, opened_us: int) -> int:
        """The deadline of a clock opened at ``opened_us`` (microseconds since the epoch)."""
        return self._deadline(opened_us)

    def warning_order(
        self, clock: ObligationState, due_us: int, opened_us: int
    ) -> list[tuple[int, int]]:
        """When the clock's warnings fire, earliest first (never before it opened), each with
        its step's position in the obligation's ladder (from 0); at one instant, in the order
        listed."""
        instants = []
        for warning, before, step in zip(
            self._warnings, self._warn_before, self._warning_steps, strict=True
        ):
            if before is not None:
                instants.append((max(before(due_us), opened_us), step))
                continue
            assert warning.fraction is not None
            calendar = self.calendar
            allowed = calendar.elapsed(clock.opened_at, calendar.add(clock.opened_at, self._budget))
            offset = -(allowed * float(1 - warning.fraction))
            instants.append((max(shifter(calendar, offset)(due_us), opened_us), step))
        instants.sort()
        return instants

    def warning_instants(self, clock: ObligationState, due_us: int, opened_us: int) -> list[int]:
        """When the clock's warnings fire, earliest first (never before it opened)."""
        return [at for at, _ in self.warning_order(clock, due_us, opened_us)]

    def escalation_order(self, due_us: int) -> list[tuple[int, int]]:
        """When a breached clock due at ``due_us`` escalates, earliest first (never before its
        breach is said, after the grace), each with its step's position in the ladder; at one
        instant, in the order listed."""
        breach_us = due_us + self.grace_us
        return sorted(
            (max(shift(due_us), breach_us), step)
            for shift, step in zip(self._after, self._after_steps, strict=True)
        )

    @property
    def warnings(self) -> int:
        """How many warnings a clock of this obligation gives before its deadline."""
        return len(self._warnings)

    @property
    def escalations(self) -> int:
        """How many escalations a breached clock of this obligation gives after its deadline."""
        return len(self._after)

    def lateness(self, clock: ObligationState, at: datetime) -> timedelta:
        """The working time from the clock's deadline to ``at``."""
        return self.calendar.elapsed(clock.due_at, at)

    def resumed_due(self, clock: ObligationState, at: datetime) -> datetime:
        """The deadline once a clock paused since ``clock.paused_since`` resumes at ``at``."""
        assert clock.paused_since is not None
        stood_still = self.calendar.elapsed(clock.paused_since, at)
        return self.calendar.add(clock.due_at, stood_still) if stood_still else clock.due_at

    def retargeted_due(self, clock: ObligationState) -> datetime:
        """The deadline ``clock`` would have with this timing's target: from its start, plus
        the working time it stood still in its closed pauses."""
        zone = clock.due_at.tzinfo or UTC
        due = from_instant_us(self.due_us(instant_us(clock.opened_at)), zone)
        for start, end in clock.pauses:
            stood_still = self.calendar.elapsed(start, end)
            if stood_still:
                due = self.calendar.add(due, stood_still)
        return due


def open_clock(
    spec: ObligationSpec,
    lead: str,
    number: int,
    at: datetime,
    due_at: datetime,
    tier: str | None = None,
    calendar: str | None = None,
) -> tuple[ObligationState, Effect]:
    """A new running clock of ``spec`` on ``lead``, and the effect that says so."""
    clock = ObligationState(
        spec.name, lead, number, spec.party, "open", at, due_at, tier=tier, calendar=calendar
    )
    opened = new_obligation_opened(lead, at, spec.name, number, spec.party, due_at, tier, calendar)
    return clock, opened


def step(
    clock: ObligationState,
    happening: Happening,
    at: datetime,
    *,
    owner: Owner | None = None,
    outcome: str = "",
    lateness: timedelta | None = None,
    due_at: datetime | None = None,
) -> tuple[ObligationState, Effect | None]:
    """What ``happening`` at ``at`` makes of ``clock``: the new clock and its effect.

    The facts a happening needs come as keywords: ``owner`` for ``warned`` and ``due`` (who
    owns the lead now, or owned it at the deadline), ``outcome`` for ``met`` and ``cancelled``
    (why), ``lateness`` for a late ``met``, ``due_at`` for ``resumed`` and ``retargeted``
    (the moved deadline). ``outcome`` is also the new tier for ``retargeted``, and the ladder
    step's position (from 1, as text) for ``escalated``.
    """
    status = TRANSITIONS.get((clock.status, happening))
    if status is None:
        raise AssertionError(f"a clock that is {clock.status} cannot be {happening}")
    return _APPLY[happening](clock, status, at, owner, outcome, lateness, due_at)


_Apply = Callable[
    [ObligationState, Status, datetime, "Owner | None", str, "timedelta | None", "datetime | None"],
    tuple[ObligationState, "Effect | None"],
]


# Each step names the fields it changes; every other field of the clock is kept.
_warn: Final = evolver(ObligationState, "warned")
_breach: Final = evolver(ObligationState, "status", "version", "ending")
_end: Final = evolver(
    ObligationState, "status", "paused_since", "pauses", "outcome", "version", "ending"
)
_count: Final = evolver(ObligationState, "attempts")
_pause: Final = evolver(ObligationState, "status", "paused_since", "version")
_resume: Final = evolver(ObligationState, "status", "paused_since", "pauses", "due_at", "version")
_retarget: Final = evolver(ObligationState, "due_at", "version", "tier")


def _warned(
    clock: ObligationState, status: Status, at: datetime, owner: Owner | None, outcome: str, *_: Any
) -> tuple[ObligationState, Effect | None]:
    effect = new_obligation_warned(clock.lead, at, clock.name, clock.number, clock.due_at, owner)
    return _warn(clock, clock.warned + 1), effect


def _escalated(
    clock: ObligationState, status: Status, at: datetime, owner: Owner | None, outcome: str, *_: Any
) -> tuple[ObligationState, Effect | None]:
    effect = new_obligation_escalated(
        clock.lead, at, clock.name, clock.number, clock.due_at, owner, int(outcome)
    )
    return _warn(clock, clock.warned + 1), effect


def _retargeted(
    clock: ObligationState,
    status: Status,
    at: datetime,
    owner: Owner | None,
    outcome: str,
    lateness: timedelta | None,
    due_at: datetime | None,
) -> tuple[ObligationState, Effect | None]:
    assert due_at is not None
    changed = _retarget(clock, due_at, clock.version + 1, outcome)
    effect = ObligationRetargeted(
        clock.lead, at, clock.name, clock.number, outcome, clock.tier or "", due_at
    )
    return changed, effect


def _due(
    clock: ObligationState, status: Status, at: datetime, owner: Owner | None, *_: Any
) -> tuple[ObligationState, Effect | None]:
    due_at = clock.due_at
    ending = Ending(breached_at=due_at, breach_owner=owner)
    breached = _breach(clock, status, clock.version + 1, ending)
    effect = new_obligation_breached(clock.lead, due_at, clock.name, clock.number, due_at, owner)
    return breached, effect


def _met(
    clock: ObligationState,
    status: Status,
    at: datetime,
    owner: Owner | None,
    outcome: str,
    lateness: timedelta | None,
    *_: Any,
) -> tuple[ObligationState, Effect | None]:
    was = clock.ending or _NO_ENDING  # a late meeting keeps the breach's facts
    ending = Ending(
        met_at=at, breached_at=was.breached_at, lateness=lateness, breach_owner=was.breach_owner
    )
    pauses = _closed_pauses(clock, at)
    met = _end(clock, status, None, pauses, outcome, clock.version + 1, ending)
    late = status == "met_late"
    effect = new_obligation_met(clock.lead, at, clock.name, clock.number, outcome, late, lateness)
    return met, effect


def _counted(
    clock: ObligationState, status: Status, *_: Any
) -> tuple[ObligationState, Effect | None]:
    return _count(clock, clock.attempts + 1), None


def _cancelled(
    clock: ObligationState,
    status: Status,
    at: datetime,
    owner: Owner | None,
    outcome: str,
    *_: Any,
) -> tuple[ObligationState, Effect | None]:
    ending = Ending(cancelled_at=at)
    pauses = _closed_pauses(clock, at)
    cancelled = _end(clock, status, None, pauses, outcome, clock.version + 1, ending)
    effect = new_obligation_cancelled(clock.lead, at, clock.name, clock.number, outcome)
    return cancelled, effect


def _paused(
    clock: ObligationState, status: Status, at: datetime, *_: Any
) -> tuple[ObligationState, Effect | None]:
    paused = _pause(clock, status, at, clock.version + 1)
    return paused, ObligationPaused(clock.lead, at, clock.name, clock.number)


def _resumed(
    clock: ObligationState,
    status: Status,
    at: datetime,
    owner: Owner | None,
    outcome: str,
    lateness: timedelta | None,
    due_at: datetime | None,
) -> tuple[ObligationState, Effect | None]:
    assert due_at is not None
    pauses = _closed_pauses(clock, at)
    resumed = _resume(clock, status, None, pauses, due_at, clock.version + 1)
    return resumed, ObligationResumed(clock.lead, at, clock.name, clock.number, due_at)


def _closed_pauses(clock: ObligationState, at: datetime) -> tuple[tuple[datetime, datetime], ...]:
    if clock.paused_since is None:
        return clock.pauses
    return (*clock.pauses, (clock.paused_since, at))


_APPLY: Final[dict[Happening, _Apply]] = {
    "warned": _warned,
    "due": _due,
    "met": _met,
    "counted": _counted,
    "cancelled": _cancelled,
    "paused": _paused,
    "resumed": _resumed,
    "escalated": _escalated,
    "retargeted": _retargeted,
}
