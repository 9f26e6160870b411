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
outbox) writes the decision's effects first and commits only if the write succeeded. (For the
usual event, in time order with no timer due by its time, ``apply`` works out the lead's one
step and commits it at once, without the :class:`Decision` around it: the same outcome.)

``decide(event)``:

1. an event whose id was seen before is acknowledged (``Duplicate``), or refused as a conflict
   if its content differs; one dated further ahead of the clock than the horizon, or further
   behind it than the allowed lateness, is refused; none of these changes anything, and no
   time passes. One dated before the clock but within the allowed lateness goes to its lead's
   history, which puts it in its place and works the lead out again, with corrections
   (:mod:`leadsla._core.history`); no timer fires for it, and the clock stays;
2. every timer due at or before ``event.at`` fires, in time order (warnings before deadlines
   at one instant, then by lead id): so replaying a log gives what a live run gave, and
   calling ``advance`` between two events changes nothing;
3. the event goes to its lead through the workflow (lifecycle, terms, rules); then the lead's
   clocks hear of what happened (the event, each state left and entered) and react through
   the clocks' transition table, running the actions they ask for (a handback, an escalation)
   until nothing more happens (one *step* of the lead, :mod:`leadsla._core.steps`);
4. an event refused at step 3 (an unknown lead, an illegal transition) yields a ``Rejected``
   effect and its lead keeps its record; the timers of step 2 still fired, because their time
   had come. Within the allowed lateness the refused event is kept in its lead's history (or
   parked, for a lead not created yet): a late event may make it good.

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
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import instant_us, span_us
from leadsla._core.clocks import ObligationState
from leadsla._core.effects import (
    Duplicate,
    Effect,
    Rejected,
)
from leadsla._core.errors import (
    EventError,
    EventRejected,
    LeadSLAError,
    Problem,
    UsageError,
)
from leadsla._core.events import Event
from leadsla._core.history import (
    EPOCH,
    NEVER,
    REFUSED,
    EngineState,
    Entry,
    Journal,
    Ledger,
    Rerun,
    Seen,
    redo,
    refusal,
    repeated,
    too_far,
)
from leadsla._core.lead import Lead
from leadsla._core.ownership import AssignmentBook, BookDraft
from leadsla._core.steps import LeadChange, Pinned, Stepper, live
from leadsla._core.tally import Eras, Tally, Volume
from leadsla._core.timers import TimerQueue
from leadsla._core.versions import Versions
from leadsla._core.views import Due, LeadView
from leadsla._core.workflow import Workflow

__all__ = ["Decision", "Engine", "tally_of"]

#: The defaults of the engine's feed settings (see Engine).
DEFAULT_LATENESS: Final = timedelta(days=1)
DEFAULT_HORIZON: Final = timedelta(days=366)
DEFAULT_PACKED_BEYOND: Final = 10_000


class _Redo:
    """A lead worked out again for a late event: where the event went in its journal, and
    what the new run gave."""

    __slots__ = ("epoch", "index", "journal", "lead", "run")

    def __init__(self, lead: str, journal: Journal, index: int, run: Rerun, epoch: int) -> None:
        self.lead = lead
        self.journal = journal
        self.index = index
        self.run = run
        self.epoch = epoch


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
        "_redo",
        "_refused",
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
        self._latest: dict[str, LeadChange] | None = (
            None  # each lead's latest step, if timers fired
        )
        self._event_id: tuple[str, str, int] | None = None  # the event taken: lead, time
        self._redo: _Redo | None = None
        self._refused: tuple[Event, int] | None = None  # an event refused, to keep
        self.effects: list[Effect] = []
        self.rejected: Rejected | None = None

    def _keep(self, change: LeadChange) -> None:
        """Take one successful step of a lead into the decision."""
        self._steps.append(change)
        if self.effects:
            self.effects.extend(change.effects)
        else:  # the first step's list serves (no copy)
            self.effects = change.effects
        if self._book is not None and change.book is not None:
            self._book.merge(change.book)

    def _current(
        self, leads: Mapping[str, Entry], lead_id: str
    ) -> tuple[Lead | None, tuple[ObligationState, ...], int]:
        """A lead's record, clocks and epoch as the decision has them (after its timers), of
        the engine's ``leads``."""
        if self._latest is not None and (pending := self._latest.get(lead_id)) is not None:
            return pending.lead, tuple(pending.clocks), pending.epoch
        if (entry := leads.get(lead_id)) is not None:
            return entry.lead, entry.clocks, entry.epoch
        return None, (), 0

    def _fire_timers(
        self, queue: TimerQueue, leads: Mapping[str, Entry], stepper: Stepper, until_us: int
    ) -> None:
        """Fire the timers of ``queue`` due at or before ``until_us``, each a step of its lead
        (of the engine's ``leads``), in order."""
        if (next_at := queue.next_at) is None or next_at > until_us:
            return
        self._until_us = until_us
        due = queue.due(until_us)  # sorted: a heap already
        latest = self._latest = self._latest or {}
        book = self._book
        while due:
            timer = heapq.heappop(due)
            lead, clocks, epoch = self._current(leads, timer.lead)
            if lead is None or not live(timer, clocks, epoch):
                continue
            child = book.child() if book is not None else None
            change = stepper.timer(lead, clocks, timer, child)
            # A timer this step queued that is already due fires in this decision, in order.
            for new in change.timers:
                if new.at_us <= until_us:
                    heapq.heappush(due, new)
            change.timers = [new for new in change.timers if new.at_us > until_us]
            self._keep(change)
            latest[timer.lead] = change


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
        "_book",
        "_clock",
        "_clock_us",
        "_generation",
        "_horizon",
        "_lateness",
        "_leads",
        "_ledger",
        "_seen",
        "_stepper",
        "_strict",
        "_timers",
        "_versions",
    )

    def __init__(
        self,
        agreement: Agreement | Versions | None = None,
        *,
        strict: bool = False,
        allowed_lateness: timedelta = DEFAULT_LATENESS,
        horizon: timedelta | None = DEFAULT_HORIZON,
        packed_beyond: int | None = DEFAULT_PACKED_BEYOND,
    ) -> None:
        """``agreement``: the agreement, or its :class:`~leadsla.Versions` (a lead is judged by
        the version in force when it was created). ``allowed_lateness``: how far behind the
        clock an event may arrive and still be put in its place, with corrections (zero:
        strict order). ``horizon``: how far ahead of the clock an event may be dated (None:
        any); one further ahead is refused. ``packed_beyond``: how many quiet leads are kept as
        objects; beyond them, those quiet the longest are held packed (None: none is)."""
        self._versions = versions = Versions(agreement or Agreement.default())
        self._strict = strict
        self._lateness = _microseconds(allowed_lateness, "allowed_lateness", zero=True)
        self._horizon = None if horizon is None else _microseconds(horizon, "horizon")
        self._timers = TimerQueue()
        self._seen = Seen()  # the ids of the events of the window, with their leads
        self._clock: datetime | None = None
        self._clock_us = NEVER  # instants in µs since the epoch: wall clocks turn around (DST)
        self._book, self._ledger, self._stepper = _parts(versions, self._lateness, packed_beyond)
        self._leads = self._ledger.entries
        self._generation = 0

    # -- queries ------------------------------------------------------------------------------

    @property
    def agreement(self) -> Agreement:
        """The agreement the engine runs (fixed when it is made): its newest version."""
        return self._versions.latest

    @property
    def versions(self) -> Versions:
        """The agreement's versions, oldest first (one, unless made with several)."""
        return self._versions

    def version_of(self, lead_id: str) -> Agreement:
        """The version judging ``lead_id`` (see :meth:`Versions.of <leadsla.Versions.of>`)."""
        return self._versions.of(self._leads[lead_id].lead)

    @property
    def workflow(self) -> Workflow:
        """The agreement's per-lead decision function."""
        return self._versions.latest.workflow

    @property
    def allowed_lateness(self) -> timedelta:
        """How far behind the clock an event may arrive and still be put in its place."""
        return timedelta(microseconds=self._lateness)

    @property
    def clock(self) -> datetime | None:
        """The latest time the engine has seen (an event's or an ``advance``'s)."""
        return self._clock

    def lead(self, lead_id: str, *, as_of: datetime | None = None) -> LeadView:
        """The record and clocks of ``lead_id`` (``KeyError`` for an unknown lead); with
        ``as_of``, as they stood at that time (:meth:`~leadsla._core.history.Ledger.view`)."""
        return self._ledger.view(lead_id, as_of, self._stepper)

    def leads(self) -> Iterator[str]:
        """The ids of the leads the engine knows, in the order they were created."""
        return iter(self._leads)

    def __len__(self) -> int:
        return len(self._leads)

    def due(self, until: datetime) -> list[Due]:
        """The warnings and deadlines still to come up to ``until``, in firing order."""
        return self._ledger.upcoming(self._timers, instant_us(until, "until"), self._stepper)

    def volumes(self) -> list[Volume]:
        """The tally of every commitment for every tracking period seen, oldest first."""
        return self._ledger.tally.volumes()

    def state(self) -> EngineState:
        """Everything the engine holds but its agreement and settings: for a snapshot."""
        e = self
        return EngineState(e._clock, e._clock_us, e._ledger, e._timers, e._seen, e._book)

    @classmethod
    def restored(
        cls, state: EngineState, agreement: Agreement | Versions, **settings: Any
    ) -> Engine:
        """An engine holding a :meth:`state` made under the same agreement and settings."""
        engine = cls(agreement, **settings)
        state.ledger.packed_beyond = engine._ledger.packed_beyond  # (the setting is the engine's)
        engine._clock, engine._clock_us, engine._ledger, engine._timers, engine._seen = state[:5]
        engine._leads, engine._book = engine._ledger.entries, state.book
        return engine

    # -- inputs -------------------------------------------------------------------------------

    def apply(self, event: Event) -> list[Effect]:
        """Decide what ``event`` does and commit it (see the module's documentation).

        A strict engine raises :class:`~leadsla.EventRejected` for a refused event, after
        committing the timers that fired before it.
        """
        done = self._in_order(event)
        if isinstance(done, list):
            return done
        decision = done or self.decide(event)
        effects = self.commit(decision)
        if decision.rejected is not None and self._strict:
            raise EventRejected(decision.rejected, effects[:-1])
        return effects

    def _in_order(self, event: Event) -> list[Effect] | Decision | None:
        """An event in time order, not seen nor too far ahead, no timer due by its time: taken,
        its one step committed without a :class:`Decision` (its effects); refused, the decision
        (not committed); else None (:meth:`decide` has it). Nothing is worked out twice."""
        candidate: object = event  # typed as an Event, but callers may hand over anything
        if not isinstance(candidate, Event):
            return None
        delta = event.at - EPOCH  # instant_us, inline: an event's time is checked aware
        at_us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        if at_us < self._clock_us or event.id in self._seen:
            return None
        next_at = self._timers.next_at
        if next_at is not None and next_at <= at_us:
            return None
        horizon = self._horizon
        if horizon is not None and self._clock is not None and at_us > self._clock_us + horizon:
            return None
        entry = self._leads.get(event.lead)
        lead, clocks, epoch = (entry.lead, entry.clocks, entry.epoch) if entry else (None, (), 0)
        book = self._book.draft() if self._book is not None else None
        try:
            change = self._stepper.event(lead, clocks, event, at_us, book, epoch)
        except REFUSED as error:  # what decide would make of it
            refused = Decision(self._generation, None)
            refused._clock = (event.at, at_us)
            return _refused_by_lead(refused, event, at_us, error)
        self._generation += 1  # what commit does with a decision of this one step
        self._take(change)
        if book is not None and self._book is not None:
            self._book.commit(book)
        self._seen.add(event.id, change.lead.id, at_us)
        self._tick(event.at, at_us)
        return change.effects

    def apply_json(self, data: str | bytes | Mapping[str, Any]) -> list[Effect]:
        """Read an event in its JSON form and apply it; a malformed one is ``Rejected``."""
        try:
            event = Event.from_json(data)
        except EventError as error:
            lead, event_id = _identity(data)
            rejected = refusal(lead, self._clock, event_id, error.problems)
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
            return _reject(decision, None, self._clock, None, _not_an_event(candidate))
        if event.id in self._seen:
            answer = repeated(self._leads, self._seen.lead(event.id), event)
            return _seen_before(decision, event, answer)
        delta = event.at - EPOCH  # instant_us, inline: an event's time is checked aware
        at_us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        if at_us < self._clock_us:
            return self._decide_late(decision, event, at_us)
        horizon = self._horizon
        if horizon is not None and self._clock is not None and at_us > self._clock_us + horizon:
            problem = too_far(event, self._clock, horizon)
            return _reject(decision, event.lead, event.at, event.id, problem)
        # Time passes whether or not the event is good: the timers due by its time fire first.
        next_at = self._timers.next_at
        if next_at is not None and next_at <= at_us:
            decision._fire_timers(self._timers, self._leads, self._stepper, at_us)
        decision._clock = (event.at, at_us)
        lead, clocks, epoch = decision._current(self._leads, event.lead)
        book = decision._book.child() if decision._book is not None else None
        try:
            change = self._stepper.event(lead, clocks, event, at_us, book, epoch)
        except REFUSED as error:
            return _refused_by_lead(decision, event, at_us, error)
        decision._keep(change)
        decision._event_id = (event.id, change.lead.id, at_us)
        return decision

    def _decide_late(self, decision: Decision, event: Event, at_us: int) -> Decision:
        """An event older than the clock, put in its place (see :mod:`~leadsla._core.history`)."""
        limit = self._clock_us - self._lateness
        entry = self._leads.get(event.lead)
        journal = self._ledger.journal_for(event.lead, at_us)
        if at_us < limit or journal is None:
            problem = self._ledger.late(event, self._clock, limit, self._lateness)
            return _reject(decision, event.lead, event.at, event.id, problem)
        book = decision._book.child() if decision._book is not None else None
        epoch, picks = entry.epoch + 1 if entry else 0, self._ledger.picks.get(event.lead, ())
        journal, index, run, effects = redo(
            self._stepper, journal, event, at_us, self._clock_us, epoch, book, picks
        )
        if run.lead is None and run.refused is not None:  # no such lead then, nor after
            decision._refused = (event, at_us)  # parked
            return _reject(decision, event.lead, event.at, event.id, *run.refused.details)
        if book is not None and decision._book is not None:
            decision._book.merge(book)
        decision.effects.extend(effects)
        lead = run.lead.id if run.lead is not None else event.lead
        decision._redo = _Redo(lead, journal, index, run, epoch)
        decision.rejected = run.refused
        return decision

    def decide_advance(self, now: datetime) -> Decision:
        """What advancing to ``now`` would do; nothing changes yet."""
        now_us = instant_us(now, "now")
        decision = Decision(self._generation, self._book.draft() if self._book else None)
        if now_us >= self._clock_us:
            decision._fire_timers(self._timers, self._leads, self._stepper, now_us)
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
        ledger, queue = self._ledger, self._timers
        for change in decision._steps:
            self._take(change)
        if (redo := decision._redo) is not None:
            queue.push_all(ledger.redone(redo.lead, redo.journal, redo.index, redo.run, redo.epoch))
            self._seen.took(redo.run.entries, redo.lead)
        if decision._refused is not None:
            ledger.refused(*decision._refused)
        if self._book is not None and decision._book is not None:
            self._book.commit(decision._book)
        if decision._event_id is not None:
            self._seen.add(*decision._event_id)
        if decision._clock is not None:
            self._tick(*decision._clock)
        return decision.effects

    def _take(self, change: LeadChange) -> None:
        """Keep one lead step: its record, clocks and journal entry, and the timers it queued."""
        self._ledger.take(change)
        self._timers.push_all(change.timers)

    def _tick(self, at: datetime, at_us: int) -> None:
        """The clock moves to ``at``: what no late event can reach any more is forgotten."""
        self._clock, self._clock_us = at, at_us
        if self._seen.next_us < (limit := at_us - self._lateness):
            self._seen.forget(limit)  # (checked here, as below: a call per input costs)
        if (fold_at := self._ledger.fold_at) and fold_at[0] < limit:
            self._ledger.fold(at_us)


def tally_of(versions: Versions) -> Tally:
    """An empty tally of the versions' commitments, as an engine of them keeps it: each move
    and period judged by the version in force then."""
    commitments = {c.name: c for version in versions for c in version.commitments}
    eras = None
    if len(versions) > 1:
        eras = Eras(
            tuple(versions.start_us(index) for index in range(len(versions))),
            tuple({c.name: c for c in version.commitments} for version in versions),
        )
    return Tally(tuple(commitments.values()), ZoneInfo(versions.latest.timezone), eras)


def _parts(
    versions: Versions, lateness: int, packed_beyond: int | None
) -> tuple[AssignmentBook | None, Ledger, Stepper]:
    """An engine's assignment book (only policies that are not partition-safe read it: without
    them none is kept), its ledger with the commitments' tally (each move and period by the
    version in force then; quiet leads packed beyond ``packed_beyond``), and the stepper of its
    versions."""
    order_dependent = any(version.workflow.order_dependent for version in versions)
    tally = tally_of(versions)
    stepper = (
        Stepper(versions.latest, tally.counted)
        if len(versions) == 1
        else Pinned(versions, tally.counted)
    )
    if packed_beyond is not None and (type(packed_beyond) is not int or packed_beyond < 0):
        raise UsageError(
            Problem(
                "packed_beyond",
                packed_beyond,
                "is not a whole number >= 0, nor None",
                "give a count of leads, e.g. packed_beyond=10000 (None: never pack)",
            )
        )
    return (
        AssignmentBook() if order_dependent else None,
        Ledger(tally, lateness, packed_beyond),
        stepper,
    )


def _seen_before(decision: Decision, event: Event, answer: Duplicate | Problem) -> Decision:
    """An event id seen before: a duplicate, or a conflict when its content differs."""
    if isinstance(answer, Duplicate):
        decision.effects.append(answer)
        return decision
    return _reject(decision, event.lead, event.at, event.id, answer)


def _refused_by_lead(decision: Decision, event: Event, at_us: int, error: LeadSLAError) -> Decision:
    """Refuse an event its lead cannot take; the event is kept (a late event may make it
    good)."""
    decision._refused = (event, at_us)
    return _reject(decision, event.lead, event.at, event.id, *error.problems)


def _reject(
    decision: Decision,
    lead: str | None,
    at: datetime | None,
    event_id: str | None,
    *problems: Problem,
) -> Decision:
    """Refuse the input of a decision (its timers, if any fired, stay fired)."""
    decision.rejected = refusal(lead, at, event_id, problems)
    decision.effects.append(decision.rejected)
    return decision


def _not_an_event(candidate: object) -> Problem:
    return Problem(
        "event",
        type(candidate).__name__,
        "is not an Event",
        "build one, e.g. LeadCreated(id=..., lead=..., at=...), or use apply_json",
    )


def _microseconds(value: timedelta, name: str, *, zero: bool = False) -> int:
    """A setting's span in whole microseconds; refused unless a positive timedelta (or zero
    where ``zero``)."""
    if not isinstance(value, timedelta) or value < timedelta(0) or (not zero and not value):
        raise UsageError(
            Problem(
                name,
                value,
                "is not a positive span of time" if not zero else "is not a span of time >= 0",
                f"give a timedelta, e.g. {name}=timedelta(hours=6)",
            )
        )
    return span_us(value)


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
