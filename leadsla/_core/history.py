"""A lead's recent history, and how a late event rewrites it.

Theory of operation
===================

Each lead is applied in its own event-time order. An event that arrives after newer inputs of
its lead (a call logged this morning for yesterday, a webhook retried out of order) is put in
its place, and the lead is worked out again from there: the events after it, and the timers
(warnings, deadlines) that come due between them, are applied again to the state just before
it. What comes out is compared with what came out the first time, effect by effect, by their
ids (:attr:`~leadsla._core.effects.Effect.id`: lead, origin, position, content): an effect
that no longer holds is withdrawn with a :class:`~leadsla._core.effects.Retracted`, and an
effect that is new is emitted. Everything that did not change is said once, the first time.

To do that, the engine keeps for each lead a :class:`Journal`: the events of the last
``allowed_lateness`` in time order, each with the lead's record and clocks just after it, and
the state before the first of them (the *base*). Nothing older is kept: an event older than
the engine's clock minus the allowed lateness is refused, so the base never needs to move
back. As the clock moves on, older entries are folded into the base, and a lead that has been
quiet for longer than the allowed lateness keeps no journal at all: its current state is its
base.

The first run is not stored: it is worked out again from the same state with the same
inputs, which gives the same effects (the engine is deterministic), so memory holds records,
not effect lists.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, NamedTuple

from leadsla._core.calendar import from_instant_us, instant_us
from leadsla._core.clocks import ObligationState
from leadsla._core.effects import Effect, Rejected, Retracted, kind_of
from leadsla._core.errors import (
    InvalidTransition,
    NaiveDatetimeError,
    Problem,
    RuleLoopError,
    WorkflowError,
    render_problems,
)
from leadsla._core.events import Event
from leadsla._core.lead import Lead
from leadsla._core.ownership import BookDraft
from leadsla._core.steps import LeadChange, Stepper, live
from leadsla._core.tally import Contribution, Tally
from leadsla._core.timers import DEADLINE, Timer, TimerQueue
from leadsla._core.views import Due

__all__ = [
    "EPOCH",
    "NEVER",
    "REFUSED",
    "Entry",
    "Journal",
    "Ledger",
    "Logged",
    "Rerun",
    "conflict",
    "corrections",
    "journal_for",
    "redo",
    "refusal",
    "rerun",
    "too_far",
    "too_late",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Before any instant (a lead's base before its creation).
NEVER: Final = -(1 << 63)
_NO_CONTRIBUTION: Contribution = frozenset()

#: The errors that make the workflow refuse an event (the lead keeps its record).
REFUSED: Final = (InvalidTransition, WorkflowError, RuleLoopError, NaiveDatetimeError)


class Logged(NamedTuple):
    """One event in a lead's journal, with the lead's record and clocks just after it."""

    at_us: int
    event: Event
    lead: Lead | None
    clocks: tuple[ObligationState, ...]


class Journal:
    """A lead's events of the last allowed lateness, after its base state."""

    __slots__ = ("base_clocks", "base_lead", "base_us", "entries")

    def __init__(
        self, lead: Lead | None, clocks: tuple[ObligationState, ...], base_us: int
    ) -> None:
        self.base_lead = lead
        self.base_clocks = clocks
        self.base_us = base_us
        self.entries: list[Logged] = []

    def position(self, at_us: int) -> int:
        """Where an event at ``at_us`` goes: after every entry at or before it."""
        entries = self.entries
        index = len(entries)
        while index and entries[index - 1].at_us > at_us:
            index -= 1
        return index

    def state_before(self, index: int) -> tuple[Lead | None, tuple[ObligationState, ...], int]:
        """The lead's record, clocks and time just after the entry before ``index``."""
        if index == 0:
            return self.base_lead, self.base_clocks, self.base_us
        entry = self.entries[index - 1]
        return entry.lead, entry.clocks, entry.at_us

    def fold(self, limit_us: int) -> None:
        """Fold every entry older than ``limit_us`` into the base."""
        entries = self.entries
        count = 0
        while count < len(entries) and entries[count].at_us < limit_us:
            count += 1
        if count:
            last = entries[count - 1]
            self.base_lead, self.base_clocks, self.base_us = last.lead, last.clocks, last.at_us
            del entries[:count]

    def find(self, event_id: str) -> Event | None:
        """The journal's event of that id, if it holds one."""
        for entry in self.entries:
            if entry.event.id == event_id:
                return entry.event
        return None


class Entry:
    """One lead as the engine keeps it: the record, its clocks, what it adds to the
    commitments' tallies (kept, so a change only works out the new contribution), the time of
    its latest step, its journal of recent events (None when it has been quiet for longer than
    the allowed lateness) and how often it was recomputed (its timers' epoch)."""

    __slots__ = ("clocks", "epoch", "journal", "last_us", "lead", "tally")

    def __init__(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        tally: Contribution,
        last_us: int,
        journal: Journal | None = None,
        epoch: int = 0,
    ) -> None:
        self.lead = lead
        self.clocks = clocks
        self.tally = tally
        self.last_us = last_us
        self.journal = journal
        self.epoch = epoch


class Ledger:
    """Every lead as the engine keeps it (:class:`Entry`), the commitments' tally of them,
    and their journals, folded as the clock moves on."""

    __slots__ = ("entries", "folds", "lateness", "tally")

    def __init__(self, tally: Tally, lateness_us: int) -> None:
        self.entries: dict[str, Entry] = {}
        self.tally = tally
        self.lateness = lateness_us
        #: (time, lead) of each journal entry, oldest first (nearly: late events join last).
        self.folds: deque[tuple[int, str]] = deque()

    def take(self, change: LeadChange) -> None:
        """Keep a committed step of a lead: record, clocks, tally, journal."""
        lead = change.lead
        clocks = tuple(change.clocks)
        tally = self.tally
        entry = self.entries.get(lead.id)
        keep = self.lateness > 0
        if entry is None:
            contribution = tally.of(lead.history) if change.counted else _NO_CONTRIBUTION
            tally.replace(_NO_CONTRIBUTION, contribution)
            entry = self.entries[lead.id] = Entry(lead, clocks, contribution, change.at_us)
            if keep:
                entry.journal = Journal(None, (), NEVER)
        else:
            if keep and change.event is not None and entry.journal is None:
                entry.journal = Journal(entry.lead, entry.clocks, entry.last_us)
            entry.lead, entry.clocks, entry.last_us = lead, clocks, change.at_us
            if change.counted:
                contribution = tally.of(lead.history)
                tally.replace(entry.tally, contribution)
                entry.tally = contribution
        if keep and change.event is not None and entry.journal is not None:
            entry.journal.entries.append(Logged(change.at_us, change.event, lead, clocks))
            self.folds.append((change.at_us, lead.id))

    def redone(
        self, lead_id: str, journal: Journal, index: int, run: Rerun, epoch: int
    ) -> list[Timer]:
        """Keep a lead worked out again from entry ``index`` of ``journal``; the timers to
        queue."""
        kept = Journal(journal.base_lead, journal.base_clocks, journal.base_us)
        kept.entries = [*journal.entries[:index], *run.entries]
        assert run.lead is not None
        contribution = self.tally.of(run.lead.history)
        entry = self.entries.get(lead_id)
        if entry is None:
            self.tally.replace(_NO_CONTRIBUTION, contribution)
            self.entries[lead_id] = Entry(
                run.lead, run.clocks, contribution, run.last_us, kept, epoch
            )
        else:
            self.tally.replace(entry.tally, contribution)
            entry.lead, entry.clocks, entry.tally = run.lead, run.clocks, contribution
            entry.last_us, entry.journal, entry.epoch = run.last_us, kept, epoch
        if kept.entries:
            self.folds.append((kept.entries[-1].at_us, lead_id))
        return run.timers

    def fold(self, clock_us: int) -> None:
        """Forget the history no event can reach any more: events older than the clock minus
        the allowed lateness join their lead's base, and a lead quiet since before then keeps
        no journal."""
        folds, leads = self.folds, self.entries
        limit_us = clock_us - self.lateness
        while folds and folds[0][0] < limit_us:
            _, lead_id = folds.popleft()
            entry = leads.get(lead_id)
            if entry is None or entry.journal is None:
                continue
            if entry.last_us < limit_us:
                entry.journal = None
                continue
            entry.journal.fold(limit_us)
            if not entry.journal.entries:
                folds.append((entry.last_us, lead_id))

    def upcoming(self, queue: TimerQueue, limit: int, stepper: Stepper) -> list[Due]:
        """The warnings and deadlines still to come up to ``limit``, in firing order."""
        upcoming: list[tuple[int, int, str, int, Due]] = []
        for timer in queue.due(limit):
            entry = self.entries[timer.lead]
            clock = entry.clocks[timer.clock]
            if not live(timer, clock, entry.epoch):
                continue
            timing = stepper.timing(clock)
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
                    owner = entry.lead.owner
                    item = Due(at, what, timer.lead, clock.name, clock.number, clock.due_at, owner)
                    upcoming.append((at_us, kind, timer.lead, timer.clock, item))
        upcoming.sort(key=lambda item: item[:4])
        return [item[4] for item in upcoming]


class Rerun:
    """What applying a lead's inputs again gave: its record, clocks, effects, journal entries,
    the timers still to come, and the time of its last step."""

    __slots__ = ("clocks", "counted", "effects", "entries", "last_us", "lead", "timers")

    def __init__(
        self, lead: Lead | None, clocks: tuple[ObligationState, ...], last_us: int
    ) -> None:
        self.lead = lead
        self.clocks = clocks
        self.last_us = last_us
        self.effects: list[Effect] = []
        self.entries: list[Logged] = []
        self.timers: list[Timer] = []
        self.counted = False


def rerun(
    stepper: Stepper,
    lead: Lead | None,
    clocks: tuple[ObligationState, ...],
    start_us: int,
    events: Sequence[tuple[int, Event]],
    until_us: int,
    epoch: int,
    book: BookDraft | None,
    first: Event | None = None,
) -> Rerun:
    """Apply ``events`` (in time order) to a lead whose record and clocks are ``lead`` and
    ``clocks`` at ``start_us``, with the lead's timers in between, then its timers up to
    ``until_us``. An event its lead cannot take is refused (a ``Rejected`` effect) and kept;
    when that event is ``first``, the error is raised instead."""
    done = Rerun(lead, clocks, start_us)
    due = stepper.timers_of(clocks, epoch)
    heapq.heapify(due)
    for at_us, event in events:
        _fire(stepper, done, due, at_us, book)
        child = book.child() if book is not None else None
        try:
            change = stepper.event(done.lead, done.clocks, event, at_us, child, epoch)
        except REFUSED as error:
            if event is first:
                raise
            rejected = refusal(event.lead, event.at, event.id, error.problems)
            done.effects.append(rejected)
            done.entries.append(Logged(at_us, event, done.lead, done.clocks))
            continue
        if book is not None and child is not None:
            book.merge(child)
        done.lead, done.clocks, done.last_us = change.lead, tuple(change.clocks), at_us
        done.effects.extend(change.effects)
        done.counted = done.counted or change.counted
        done.entries.append(Logged(at_us, event, done.lead, done.clocks))
        for timer in change.timers:
            heapq.heappush(due, timer)
    _fire(stepper, done, due, until_us, book)
    done.timers = due
    return done


def _fire(
    stepper: Stepper, done: Rerun, due: list[Timer], until_us: int, book: BookDraft | None
) -> None:
    """Fire the lead's timers due at or before ``until_us``, in order."""
    while due and due[0].at_us <= until_us:
        timer = heapq.heappop(due)
        if done.lead is None or not live(timer, done.clocks[timer.clock], timer.epoch):
            continue
        child = book.child() if book is not None else None
        change = stepper.timer(done.lead, done.clocks, timer, child)
        if book is not None and child is not None:
            book.merge(child)
        done.lead, done.clocks, done.last_us = change.lead, tuple(change.clocks), timer.at_us
        done.effects.extend(change.effects)
        done.counted = done.counted or change.counted
        for new in change.timers:
            heapq.heappush(due, new)


def corrections(
    before: Sequence[Effect], after: Sequence[Effect], event: Event, at: datetime
) -> list[Effect]:
    """What to say when a lead's effects were ``before`` and now are ``after``: a
    ``Retracted`` for each effect of ``before`` that ``after`` lacks (in order), then each
    effect of ``after`` that ``before`` lacks (in order). Effects are matched by id."""
    kept = Counter(effect.id for effect in after)
    said = Counter(effect.id for effect in before)
    reason = f"event {event.id} at {at.isoformat()} arrived late"
    out: list[Effect] = []
    origin = "event:" + event.id
    for effect in before:
        if kept[effect.id] > 0:
            kept[effect.id] -= 1
            continue
        retracted = Retracted(effect.lead, effect.at, effect.id, kind_of(effect), reason)
        out.append(retracted)
    for effect in after:
        if said[effect.id] > 0:
            said[effect.id] -= 1
            continue
        out.append(effect)
    for position, effect in enumerate(out):
        if type(effect) is Retracted:
            effect.stamped(origin, position)
    return out


def refusal(
    lead: str | None, at: datetime | None, event_id: str | None, problems: Sequence[Problem]
) -> Rejected:
    """A refused input: its problems are the effect's details and, rendered, its reason."""
    rejected = Rejected(lead or "", at or EPOCH, render_problems(problems), event_id, problems)
    if event_id is not None:
        rejected.stamped("event:" + event_id, 0)
    return rejected


def journal_for(entry: Entry | None, event: Event, at_us: int) -> Journal | None:
    """The journal a late event goes into: the lead's own; a new one on the lead's current
    state when it has been quiet since before the event; an empty one for a lead the event
    creates or does not know (the workflow then says so). None: the history it needs is gone."""
    if entry is None:
        return Journal(None, (), NEVER)
    if entry.journal is not None:
        return entry.journal if entry.journal.base_us <= at_us else None
    return Journal(entry.lead, entry.clocks, entry.last_us) if at_us >= entry.last_us else None


def redo(
    stepper: Stepper,
    journal: Journal,
    event: Event,
    at_us: int,
    until_us: int,
    epoch: int,
    book: BookDraft | None,
) -> tuple[int, Rerun, list[Effect]]:
    """Put a late event in its place in ``journal`` and work the lead out again up to
    ``until_us``: where it went, the new run, and the corrections to emit. Raises the
    workflow's error when the lead cannot take the event where it goes."""
    index = journal.position(at_us)
    lead, clocks, start_us = journal.state_before(index)
    later = [(logged.at_us, logged.event) for logged in journal.entries[index:]]
    events = [(at_us, event), *later]
    run = rerun(stepper, lead, clocks, start_us, events, until_us, epoch, book, first=event)
    old = rerun(stepper, lead, clocks, start_us, later, until_us, epoch, None)
    return index, run, corrections(old.effects, run.effects, event, event.at)


def too_late(event: Event, clock: datetime | None, limit_us: int, lateness_us: int) -> Problem:
    """Why an event older than the allowed lateness is refused."""
    shown = clock.isoformat() if clock else "?"
    oldest = from_instant_us(limit_us, (clock.tzinfo if clock else None) or UTC)
    return Problem(
        "at",
        event.at,
        "is older than the allowed lateness",
        f"the engine's clock is at {shown} and the allowed lateness is "
        f"{timedelta(microseconds=lateness_us)}, so the oldest event it takes is at "
        f"{oldest.isoformat()}: send events sooner, give the engine a longer "
        "allowed_lateness, or replay the log into a new engine",
    )


def too_far(event: Event, clock: datetime, horizon_us: int) -> Problem:
    """Why an event dated too far ahead of the clock is refused."""
    return Problem(
        "at",
        event.at,
        "is too far ahead of the engine's clock",
        f"the clock is at {clock.isoformat()} and the horizon is "
        f"{timedelta(microseconds=horizon_us)}: check the event's date (a wrong year?), "
        "or give the engine a longer horizon",
    )


def conflict(event: Event, first: Event | None, lead: str) -> Problem:
    """Why an event reusing the id of a different event is refused."""
    earlier = repr(first) if first is not None else f"an event of lead {lead}"
    return Problem(
        "id",
        event.id,
        "was seen before with different content",
        f"the first was {earlier}; give a correction its own id",
    )
