"""The engine: events in, effects out. Sans-io, deterministic, idempotent.

Theory of operation
===================

The engine never reads the clock, sleeps, starts threads or does I/O. Time comes from the
events (``at``) and from :meth:`Engine.advance`. It holds each lead's record and clocks, the
timer queue, the assignment book of order-dependent policies, and the commitments' tally.

Every input is decided first and committed after (:meth:`Engine.decide`, then
:meth:`Engine.commit`; :meth:`Engine.apply` does both). Deciding changes nothing: it works out
a :class:`Decision`, the new records of the leads it touches, the timers to queue and the
effects, in order. Committing makes it so. A host that keeps its own records (a database, an
outbox) writes the decision's effects first and commits only if the write succeeded.

``decide(event)``:

1. an event whose id was seen before is acknowledged (``Duplicate``); one whose time is before
   the engine's clock is refused; neither changes anything, and no time passes;
2. every timer due at or before ``event.at`` fires, in time order (warnings before deadlines
   at one instant, then by lead id): so replaying a log gives what a live run gave, and
   calling ``advance`` between two events changes nothing;
3. the event goes to its lead through the workflow (lifecycle, terms, rules); then the lead's
   clocks hear of what happened (the event, each state left and entered) and react through
   the clocks' transition table, running the actions they ask for (a handback, an escalation)
   until nothing more happens (one *step* of the lead, :mod:`leadsla._core.steps`);
4. an event refused at step 3 (an unknown lead, an illegal transition) yields a ``Rejected``
   effect and its lead keeps its record; the timers of step 2 still fired, because their time
   had come.

Who does what: :mod:`~leadsla._core.steps` works out one lead's step, with
:mod:`~leadsla._core.workflow` (what an input does to the lead record),
:mod:`~leadsla._core.watch` (which clocks an occurrence touches, and how) and
:mod:`~leadsla._core.clocks` (the transition table, the deadlines);
:mod:`~leadsla._core.timers` says when to look, :mod:`~leadsla._core.tally` counts the
commitments. This module only coordinates them: it keeps the state, decides and commits.

Per-lead independence: an input touches only its own lead. What is shared across leads is the
set of event ids seen, the assignment book (read only by policies that are not partition-safe)
and the tally (sums of per-lead contributions, which do not depend on order).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import from_instant_us, instant_us
from leadsla._core.clocks import ObligationState
from leadsla._core.effects import (
    Duplicate,
    Effect,
    Rejected,
)
from leadsla._core.errors import (
    EventError,
    EventRejected,
    InvalidTransition,
    NaiveDatetimeError,
    Problem,
    RuleLoopError,
    UsageError,
    WorkflowError,
    render_problems,
)
from leadsla._core.events import (
    Event,
)
from leadsla._core.lead import Lead
from leadsla._core.ownership import AssignmentBook, BookDraft
from leadsla._core.steps import LeadChange, Stepper, live
from leadsla._core.tally import Contribution, Tally, Volume
from leadsla._core.timers import DEADLINE, TimerQueue
from leadsla._core.views import Due, LeadView
from leadsla._core.workflow import Workflow

__all__ = ["Decision", "Engine"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: How many occurrences one input may cause on one lead before it is called a loop.
_MAX_OCCURRENCES: Final = 200
_NO_CONTRIBUTION: Contribution = frozenset()
_REFUSED: Final = (InvalidTransition, WorkflowError, RuleLoopError, NaiveDatetimeError)


class _Entry:
    """One lead as the engine keeps it: the record, its clocks, and what it adds to the
    commitments' tallies (kept, so a change only works out the new contribution)."""

    __slots__ = ("clocks", "lead", "tally")

    def __init__(
        self, lead: Lead, clocks: tuple[ObligationState, ...], tally: Contribution
    ) -> None:
        self.lead = lead
        self.clocks = clocks
        self.tally = tally


class Decision:
    """What an input would do, worked out but not yet committed (see the module's doc).

    ``effects`` are the effects, in order; ``rejected`` is the refusal of the event, if it was
    refused. Commit a decision with :meth:`Engine.commit` before deciding anything else on the
    same engine.
    """

    __slots__ = (
        "_book",
        "_clock",
        "_event_id",
        "_generation",
        "_latest",
        "_steps",
        "_until_us",
        "effects",
        "rejected",
    )

    def __init__(self, generation: int, book: BookDraft | None) -> None:
        self._generation = generation
        self._book = book
        self._clock: tuple[datetime, int] | None = None
        self._until_us: int | None = None  # timers at or before it fired
        self._steps: list[LeadChange] = []  # in order; a lead's later step builds on its earlier
        self._latest: dict[str, LeadChange] = {}  # each lead's latest step, when timers fired
        self._event_id: str | None = None
        self.effects: list[Effect] = []
        self.rejected: Rejected | None = None


class Engine:
    """Apply events, advance time, ask what is due (see the module's documentation).

    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> from leadsla import LeadCreated
    >>> engine = Engine()
    >>> at = datetime(2026, 3, 6, 16, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
    >>> effects = engine.apply(LeadCreated(id="e1", lead="L-1", at=at,
    ...                                    fields={"email": "ann@acme.com", "score": 62}))
    >>> engine.lead("L-1").state
    'mql'
    >>> print(engine.lead("L-1").obligation("first-touch").due_at)
    2026-03-09 12:00:00+02:00
    """

    __slots__ = (
        "_agreement",
        "_book",
        "_clock",
        "_clock_us",
        "_generation",
        "_leads",
        "_seen",
        "_stepper",
        "_strict",
        "_tally",
        "_timers",
    )

    def __init__(self, agreement: Agreement | None = None, *, strict: bool = False) -> None:
        self._agreement = agreement if agreement is not None else Agreement.default()
        self._strict = strict
        self._leads: dict[str, _Entry] = {}
        self._timers = TimerQueue()
        self._seen: set[str] = set()
        self._clock: datetime | None = None
        # Time order is the order of instants: the clock is kept in microseconds since the
        # epoch (two datetimes of one zone compare by wall clock, which DST can turn around).
        self._clock_us = -(1 << 63)
        # Only policies that are not partition-safe read the book; without them none is kept.
        order_dependent = any(not t.policy.partition_safe for t in self._agreement.teams)
        self._book = AssignmentBook() if order_dependent else None
        self._tally = Tally(self._agreement.commitments, ZoneInfo(self._agreement.timezone))
        self._stepper = Stepper(self._agreement, self._tally.counted)
        self._generation = 0

    # -- queries ------------------------------------------------------------------------------

    @property
    def agreement(self) -> Agreement:
        """The agreement the engine runs (fixed when it is made)."""
        return self._agreement

    @property
    def workflow(self) -> Workflow:
        """The agreement's per-lead decision function."""
        return self._agreement.workflow

    @property
    def clock(self) -> datetime | None:
        """The latest time the engine has seen (an event's or an ``advance``'s)."""
        return self._clock

    def lead(self, lead_id: str) -> LeadView:
        """The record and clocks of ``lead_id``; ``KeyError`` for an unknown lead."""
        entry = self._leads[lead_id]
        return LeadView(entry.lead, entry.clocks)

    def leads(self) -> Iterator[str]:
        """The ids of the leads the engine knows, in the order they were created."""
        return iter(self._leads)

    def __len__(self) -> int:
        return len(self._leads)

    def due(self, until: datetime) -> list[Due]:
        """The warnings and deadlines still to come up to ``until``, in firing order."""
        limit = instant_us(until, "until")
        upcoming: list[tuple[int, int, str, int, Due]] = []
        for timer in self._timers.due(limit):
            entry = self._leads[timer.lead]
            clock = entry.clocks[timer.clock]
            if not live(timer, clock):
                continue
            timing = self._stepper.timing(clock)
            due_us = instant_us(clock.due_at)
            moments = [(due_us, DEADLINE)]
            if timing.warnings:
                warnings = timing.warning_instants(clock, due_us, instant_us(clock.opened_at))
                moments += [(at, kind) for kind, at in enumerate(warnings) if kind >= clock.warned]
            for at_us, kind in moments:
                if at_us <= limit:
                    what: Literal["warning", "deadline"] = (
                        "deadline" if kind == DEADLINE else "warning"
                    )
                    at = from_instant_us(at_us, clock.due_at.tzinfo or UTC)
                    item = Due(
                        at,
                        what,
                        timer.lead,
                        clock.name,
                        clock.number,
                        clock.due_at,
                        entry.lead.owner,
                    )
                    upcoming.append((at_us, kind, timer.lead, timer.clock, item))
        upcoming.sort(key=lambda item: item[:4])
        return [item[4] for item in upcoming]

    def volumes(self) -> list[Volume]:
        """The tally of every commitment for every tracking period seen, oldest first."""
        return self._tally.volumes()

    # -- inputs -------------------------------------------------------------------------------

    def apply(self, event: Event) -> list[Effect]:
        """Decide what ``event`` does and commit it (see the module's documentation).

        A strict engine raises :class:`~leadsla.EventRejected` for a refused event, after
        committing the timers that fired before it.
        """
        decision = self.decide(event)
        effects = self.commit(decision)
        if decision.rejected is not None and self._strict:
            raise EventRejected(decision.rejected, effects[:-1])
        return effects

    def apply_json(self, data: str | bytes | Mapping[str, Any]) -> list[Effect]:
        """Read an event in its JSON form and apply it; a malformed one is ``Rejected``."""
        try:
            event = Event.from_json(data)
        except EventError as error:
            lead, event_id = _identity(data)
            rejected = _refusal(lead, self._clock, event_id, error.problems)
            if self._strict:
                raise EventRejected(rejected, []) from None
            return [rejected]
        return self.apply(event)

    def advance(self, now: datetime) -> list[Effect]:
        """Fire every timer due at or before ``now``; the engine's clock moves to ``now``."""
        return self.commit(self.decide_advance(now))

    def decide(self, event: Event) -> Decision:
        """What ``event`` would do, with the timers due before it; nothing changes yet."""
        decision = Decision(self._generation, self._book.draft() if self._book else None)
        candidate: object = event  # typed as an Event, but callers may hand over anything
        if not isinstance(candidate, Event):
            problem = Problem(
                "event",
                type(candidate).__name__,
                "is not an Event",
                "build one, e.g. LeadCreated(id=..., lead=..., at=...), or use apply_json",
            )
            return self._reject(decision, None, self._clock, None, problem)
        if event.id in self._seen:
            decision.effects.append(Duplicate(event.lead, event.at, event.id))
            return decision
        delta = event.at - _EPOCH  # instant_us, inline: an event's time is checked aware
        at_us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        if at_us < self._clock_us:
            clock = self._clock.isoformat() if self._clock else "?"
            problem = Problem(
                "at",
                event.at,
                "is before the engine's clock",
                f"events must come in time order and the clock is at {clock}: "
                "send older events before newer ones, or replay the log into a "
                "new engine",
            )
            return self._reject(decision, event.lead, event.at, event.id, problem)
        # Time passes whether or not the event is good: the timers due by its time fire first.
        next_at = self._timers.next_at
        if next_at is not None and next_at <= at_us:
            self._fire_timers(decision, at_us)
        decision._clock = (event.at, at_us)
        pending = decision._latest.get(event.lead)  # timers that fired may have changed it
        if pending is not None:
            lead, clocks = pending.lead, tuple(pending.clocks)
        elif (entry := self._leads.get(event.lead)) is not None:
            lead, clocks = entry.lead, entry.clocks
        else:
            lead, clocks = None, ()
        book = decision._book.child() if decision._book is not None else None
        try:
            change = self._stepper.event(lead, clocks, event, at_us, book)
        except _REFUSED as error:
            return self._reject(decision, event.lead, event.at, event.id, *error.problems)
        self._keep(decision, change)
        decision._event_id = event.id
        return decision

    def decide_advance(self, now: datetime) -> Decision:
        """What advancing to ``now`` would do; nothing changes yet."""
        now_us = instant_us(now, "now")
        decision = Decision(self._generation, self._book.draft() if self._book else None)
        if now_us >= self._clock_us:
            self._fire_timers(decision, now_us)
            decision._clock = (now, now_us)
        return decision

    def commit(self, decision: Decision) -> list[Effect]:
        """Make a decision so; its effects, in order."""
        if decision._generation != self._generation:
            raise UsageError(
                Problem(
                    "decision",
                    "stale",
                    "was made before the engine last changed",
                    "decide again, then commit at once",
                )
            )
        self._generation += 1
        if decision._until_us is not None:
            self._timers.drop_due(decision._until_us)
        tally = self._tally
        leads = self._leads
        queue = self._timers
        for change in decision._steps:
            lead = change.lead
            clocks = tuple(change.clocks)
            entry = leads.get(lead.id)
            if entry is None:
                contribution = tally.of(lead.history) if change.counted else _NO_CONTRIBUTION
                tally.replace(_NO_CONTRIBUTION, contribution)
                leads[lead.id] = _Entry(lead, clocks, contribution)
            else:
                entry.lead, entry.clocks = lead, clocks
                if change.counted:
                    contribution = tally.of(lead.history)
                    tally.replace(entry.tally, contribution)
                    entry.tally = contribution
            for timer in change.timers:
                queue.push(timer)
        if self._book is not None and decision._book is not None:
            self._book.commit(decision._book)
        if decision._event_id is not None:
            self._seen.add(decision._event_id)
        if decision._clock is not None:
            self._clock, self._clock_us = decision._clock
        return decision.effects

    def _reject(
        self,
        decision: Decision,
        lead: str | None,
        at: datetime | None,
        event_id: str | None,
        *problems: Problem,
    ) -> Decision:
        """Refuse the input of a decision (its timers, if any fired, stay fired)."""
        decision.rejected = _refusal(lead, at, event_id, problems)
        decision.effects.append(decision.rejected)
        return decision

    # -- one step per lead ----------------------------------------------------------------------

    def _keep(self, decision: Decision, change: LeadChange) -> None:
        """Take one successful step of a lead into the decision."""
        decision._steps.append(change)
        decision.effects.extend(change.effects)
        if decision._book is not None and change.book is not None:
            decision._book.merge(change.book)

    def _fire_timers(self, decision: Decision, until_us: int) -> None:
        """Fire the timers due at or before ``until_us``, each a step of its lead, in order."""
        next_at = self._timers.next_at
        if next_at is None or next_at > until_us:
            return
        decision._until_us = until_us
        due = self._timers.due(until_us)  # sorted: a heap already
        latest = decision._latest
        book = decision._book
        while due:
            timer = heapq.heappop(due)
            pending = latest.get(timer.lead)
            if pending is not None:
                lead, clocks = pending.lead, tuple(pending.clocks)
            elif (entry := self._leads.get(timer.lead)) is not None:
                lead, clocks = entry.lead, entry.clocks
            else:
                continue
            if not live(timer, clocks[timer.clock]):
                continue
            child = book.child() if book is not None else None
            change = self._stepper.timer(lead, clocks, timer, child)
            # A timer this step queued that is already due fires in this decision, in order.
            for new in change.timers:
                if new.at_us <= until_us:
                    heapq.heappush(due, new)
            change.timers = [new for new in change.timers if new.at_us > until_us]
            self._keep(decision, change)
            latest[timer.lead] = change


def _refusal(
    lead: str | None, at: datetime | None, event_id: str | None, problems: Sequence[Problem]
) -> Rejected:
    """A refused input: its problems are the effect's details and, rendered, its reason."""
    return Rejected(lead or "", at or _EPOCH, render_problems(problems), event_id, problems)


def _identity(data: object) -> tuple[str | None, str | None]:
    """The lead and event id of an unreadable event, where they can be found."""
    parsed: object = data
    if isinstance(data, (str, bytes)):
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read
            parsed = None
    if not isinstance(parsed, Mapping):
        return None, None
    lead, event_id = parsed.get("lead"), parsed.get("id")
    return (
        str(lead) if lead is not None else None,
        str(event_id) if event_id is not None else None,
    )
