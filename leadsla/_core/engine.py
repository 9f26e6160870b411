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
   until nothing more happens (:meth:`_settle`);
4. an event refused at step 3 (an unknown lead, an illegal transition) yields a ``Rejected``
   effect and its lead keeps its record; the timers of step 2 still fired, because their time
   had come.

Who does what: :mod:`~leadsla._core.workflow` decides what an input does to a lead record;
:mod:`~leadsla._core.watch` which clocks an occurrence touches and how;
:mod:`~leadsla._core.clocks` the transition table and the deadlines; :mod:`~leadsla._core.timers`
when to look; :mod:`~leadsla._core.tally` the commitments. This module only coordinates them.

Per-lead independence: an input touches only its own lead. What is shared across leads is the
set of event ids seen, the assignment book (read only by policies that are not partition-safe)
and the tally (sums of per-lead contributions, which do not depend on order).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import BusinessCalendar, from_instant_us, instant_us
from leadsla._core.clocks import WAITING, ObligationState, Timing, open_clock, step
from leadsla._core.conditions import Scope
from leadsla._core.effects import (
    ActionRequested,
    ActionSkipped,
    Duplicate,
    Effect,
    Rejected,
    Transitioned,
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
    ActivityLogged,
    Event,
    LeadCreated,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
)
from leadsla._core.lead import Lead
from leadsla._core.obligations import Escalate, ObligationAction, ObligationSpec
from leadsla._core.ownership import AssignmentBook, BookDraft
from leadsla._core.rules import Notify
from leadsla._core.tally import Tally, Volume
from leadsla._core.timers import DEADLINE, Timer, TimerQueue
from leadsla._core.views import Due, LeadView
from leadsla._core.watch import Occurrence, Reaction, Watch
from leadsla._core.workflow import Step, Workflow

__all__ = ["Decision", "Engine"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: How many occurrences one input may cause on one lead before it is called a loop.
_MAX_OCCURRENCES: Final = 200
_REFUSED: Final = (InvalidTransition, WorkflowError, RuleLoopError, NaiveDatetimeError)


class _Entry:
    """One lead as the engine keeps it: the record and its clocks."""

    __slots__ = ("clocks", "lead")

    def __init__(self, lead: Lead, clocks: tuple[ObligationState, ...]) -> None:
        self.lead = lead
        self.clocks = clocks


class _Change:
    """One lead's change within one step of a decision (an event, or one timer)."""

    __slots__ = ("at", "at_us", "before", "book", "clocks", "effects", "lead", "queue", "timers")

    def __init__(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        at: datetime,
        at_us: int,
        book: BookDraft | None,
    ) -> None:
        self.before: Lead | None = lead  # None for a lead that had no fields before
        self.lead = lead
        self.clocks = list(clocks)
        self.at = at
        self.at_us = at_us
        self.book = book
        self.effects: list[Effect] = []
        self.queue: list[Occurrence] = []
        self.timers: list[Timer] = []


class Decision:
    """What an input would do, worked out but not yet committed (see the module's doc).

    ``effects`` are the effects, in order; ``rejected`` is the refusal of the event, if it was
    refused. Commit a decision with :meth:`Engine.commit` before deciding anything else on the
    same engine.
    """

    __slots__ = (
        "_book",
        "_clock",
        "_entries",
        "_event_id",
        "_generation",
        "_timers",
        "_until_us",
        "effects",
        "rejected",
    )

    def __init__(self, generation: int, book: BookDraft | None) -> None:
        self._generation = generation
        self._book = book
        self._clock: tuple[datetime, int] | None = None
        self._until_us: int | None = None  # timers at or before it fired
        self._entries: dict[str, _Entry] = {}
        self._timers: list[Timer] = []
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
        "_spec_index",
        "_strict",
        "_tally",
        "_timers",
        "_timing",
        "_watch",
        "_workflow",
    )

    def __init__(self, agreement: Agreement | None = None, *, strict: bool = False) -> None:
        self._agreement = agreement if agreement is not None else Agreement.default()
        self._workflow = self._agreement.workflow
        self._watch = Watch(self._agreement)
        self._timing = tuple(
            Timing(spec, self._calendar_for(spec)) for spec in self._agreement.obligations
        )
        self._spec_index = {spec.name: i for i, spec in enumerate(self._agreement.obligations)}
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
        self._generation = 0

    def _calendar_for(self, spec: ObligationSpec) -> BusinessCalendar:
        if not spec.within.business:
            return BusinessCalendar.always(self._agreement.timezone)
        return self._agreement.calendar(spec.calendar)

    # -- queries ------------------------------------------------------------------------------

    @property
    def agreement(self) -> Agreement:
        """The agreement the engine runs (fixed when it is made)."""
        return self._agreement

    @property
    def workflow(self) -> Workflow:
        return self._workflow

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
            if not _live(timer, clock):
                continue
            timing = self._timing[self._spec_index[clock.name]]
            due_us = instant_us(clock.due_at)
            moments = [(due_us, DEADLINE)]
            if timing.warns:
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
        return self._commit_strictly(self.decide(event))

    def apply_json(self, data: str | bytes | Mapping[str, Any]) -> list[Effect]:
        """Read an event in its JSON form and apply it; a malformed one is ``Rejected``."""
        try:
            event = Event.from_json(data)
        except EventError as error:
            decision = Decision(self._generation, None)
            lead, event_id = _identity(data)
            self._reject(decision, lead, self._clock, event_id, *error.problems)
            return self._commit_strictly(decision)
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
        at_us = instant_us(event.at)
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
        self._fire_timers(decision, at_us)
        decision._clock = (event.at, at_us)
        try:
            change = self._decide_event(decision, event, at_us)
        except _REFUSED as error:
            return self._reject(decision, event.lead, event.at, event.id, *error.problems)
        self._keep(decision, event.lead, change)
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
        for lead_id, entry in decision._entries.items():
            old = self._leads.get(lead_id)
            if old is None:
                self._leads[lead_id] = entry
                if tally.commitments:
                    tally.replace(frozenset(), tally.of(entry.lead.history))
                continue
            if tally.commitments and old.lead.history is not entry.lead.history:
                tally.replace(tally.of(old.lead.history), tally.of(entry.lead.history))
            old.lead, old.clocks = entry.lead, entry.clocks
        for timer in decision._timers:
            self._timers.push(timer)
        if self._book is not None and decision._book is not None:
            self._book.commit(decision._book)
        if decision._event_id is not None:
            self._seen.add(decision._event_id)
        if decision._clock is not None:
            self._clock, self._clock_us = decision._clock
        return decision.effects

    def _commit_strictly(self, decision: Decision) -> list[Effect]:
        effects = self.commit(decision)
        if self._strict and decision.rejected is not None:
            raise EventRejected(decision.rejected, effects[:-1])
        return effects

    def _reject(
        self,
        decision: Decision,
        lead: str | None,
        at: datetime | None,
        event_id: str | None,
        *problems: Problem,
    ) -> Decision:
        """Refuse an input: its problems are the effect's details and, rendered, its reason."""
        reason = render_problems(problems)
        rejected = Rejected(lead or "", at or _EPOCH, reason, event_id, problems)
        decision.rejected = rejected
        decision.effects.append(rejected)
        return decision

    # -- one step per lead ----------------------------------------------------------------------

    def _entry(self, decision: Decision, lead_id: str) -> _Entry | None:
        """The lead as the decision has it so far."""
        return decision._entries.get(lead_id) or self._leads.get(lead_id)

    def _child(self, decision: Decision) -> BookDraft | None:
        return decision._book.child() if decision._book is not None else None

    def _keep(self, decision: Decision, lead_id: str, change: _Change) -> None:
        """Take one successful step of a lead into the decision."""
        decision._entries[lead_id] = _Entry(change.lead, tuple(change.clocks))
        decision.effects.extend(change.effects)
        decision._timers.extend(change.timers)
        if decision._book is not None and change.book is not None:
            decision._book.merge(change.book)

    def _fire_timers(self, decision: Decision, until_us: int) -> None:
        """Fire the timers due at or before ``until_us``, each a step of its lead, in order."""
        next_at = self._timers.next_at()
        if next_at is None or next_at > until_us:
            return
        decision._until_us = until_us
        due = self._timers.due(until_us)  # sorted: a heap already
        while due:
            timer = heapq.heappop(due)
            entry = self._entry(decision, timer.lead)
            if entry is None or not _live(timer, clock := entry.clocks[timer.clock]):
                continue
            spec_index = self._spec_index[clock.name]
            spec = self._agreement.obligations[spec_index]
            deadline = timer.kind == DEADLINE
            at = (
                clock.due_at
                if deadline
                else from_instant_us(timer.at_us, clock.due_at.tzinfo or UTC)
            )
            change = _Change(entry.lead, entry.clocks, at, timer.at_us, self._child(decision))
            if deadline:
                owner = entry.lead.owner_at(clock.due_at) or entry.lead.owner
                self._record(change, timer.clock, *step(clock, "due", at, owner=owner))
                for action in spec.on_breach:
                    self._act(change, spec, action, f"obligation {spec.name} breached")
            else:
                self._record(
                    change, timer.clock, *step(clock, "warned", at, owner=entry.lead.owner)
                )
                self._schedule(change, timer.clock)
            self._settle(change)
            # A timer this step queued that is already due fires in this decision, in order.
            for new in change.timers:
                if new.at_us <= until_us:
                    heapq.heappush(due, new)
            change.timers = [new for new in change.timers if new.at_us > until_us]
            self._keep(decision, timer.lead, change)

    def _decide_event(self, decision: Decision, event: Event, at_us: int) -> _Change:
        """The event's step on its lead: the workflow's, then the clocks' reactions."""
        workflow = self._workflow
        entry = self._entry(decision, event.lead)
        at = event.at
        if isinstance(event, LeadCreated):
            if entry is not None:
                raise WorkflowError(
                    Problem(
                        "lead",
                        event.lead,
                        "already exists",
                        "send lead_updated to change its fields",
                    )
                )
            book = self._child(decision)
            step_ = workflow.create(event.lead, event.fields, at, book=book)
            change = _Change(step_.lead, (), at, at_us, book)
            change.before = None  # a condition true at creation "becomes true" then
            self._take(change, step_)
            change.queue.append(Occurrence("event", "lead_created"))
            self._settle(change)
            return change
        if entry is None:
            raise WorkflowError(
                Problem("lead", event.lead, "is unknown", "send its lead_created event first")
            )
        change = _Change(entry.lead, entry.clocks, at, at_us, self._child(decision))
        lead = entry.lead
        if isinstance(event, LeadUpdated):
            step_ = workflow.update(lead, event.fields, at, book=change.book)
            quiet = self._watch.quiet_updates and not step_.effects
            if quiet and not any(clock.status in WAITING for clock in entry.clocks):
                change.lead = step_.lead  # nothing moved and no clock can notice
                return change
            change.queue.append(Occurrence("event", "lead_updated"))
        elif isinstance(event, TransitionRequested):
            step_ = workflow.fire(
                lead, event.trigger, at, by=event.by, reason=event.reason, book=change.book
            )
        elif isinstance(event, OwnerAssigned):
            step_ = workflow.assign(
                lead, event.owner, at, by=event.by, reason=event.reason, book=change.book
            )
            change.queue.append(Occurrence("event", "assign"))
        elif isinstance(event, ActivityLogged):
            change.queue.append(Occurrence("event", "activity", event))
            step_ = workflow.activity(lead, at, book=change.book)
        else:  # pragma: no cover - the Event types are closed
            raise WorkflowError(
                Problem("type", type(event).__name__, "is not handled", "use a known event")
            )
        self._take(change, step_)
        self._settle(change)
        return change

    def _take(self, change: _Change, step_: Step) -> None:
        """A workflow step's record and effects; its moves are occurrences for the clocks."""
        change.lead = step_.lead
        change.effects.extend(step_.effects)
        left = self._watch.left_listened
        for effect in step_.effects:
            if type(effect) is Transitioned:
                if effect.source is not None and effect.source in left:
                    change.queue.append(Occurrence("left", effect.source))
                change.queue.append(Occurrence("entered", effect.dest))

    # -- the clocks ---------------------------------------------------------------------------

    def _settle(self, change: _Change) -> None:
        """Let the lead's clocks react to every queued occurrence, then to conditions."""
        watch = self._watch
        queue = change.queue
        if (
            not watch.watches_conditions
            and not any(map(watch.can_start, queue))
            and not any(clock.status in WAITING for clock in change.clocks)
        ):
            return  # nothing runs and nothing can start
        position = 0
        while position < len(queue):
            if position >= _MAX_OCCURRENCES:
                raise RuleLoopError(
                    Problem(
                        "obligations",
                        change.lead.id,
                        "kept causing moves without end",
                        "check the obligations' actions and the rules for a loop",
                    )
                )
            occurrence = queue[position]
            position += 1
            for index in range(len(change.clocks)):
                clock = change.clocks[index]
                if clock.status in WAITING:
                    spec_index = self._spec_index[clock.name]
                    for reaction in watch.reactions(
                        spec_index, clock, occurrence, change.lead, change.at
                    ):
                        self._react(change, index, reaction)
            for spec_index in watch.starting(occurrence):
                spec = self._agreement.obligations[spec_index]
                if watch.opens(spec, occurrence, change.lead, change.at):
                    self._open(change, spec_index)
        if watch.watches_conditions:
            self._settle_conditions(change)

    def _settle_conditions(self, change: _Change) -> None:
        """Clocks that watch a condition: what became true with this input."""
        workflow = self._workflow
        after = workflow.scope(change.lead, change.at)
        before = (
            workflow.scope(change.before, change.at)
            if change.before is not None
            else Scope({}, change.at, None, None, None, workflow.terms.evaluators())
        )
        specs = self._agreement.obligations
        for index in range(len(change.clocks)):
            clock = change.clocks[index]
            if clock.status in WAITING:
                spec = specs[self._spec_index[clock.name]]
                reaction = self._watch.condition_reactions(
                    spec, clock, change.lead, before, after, change.at
                )
                if reaction is not None:
                    self._react(change, index, reaction)
        for spec_index in self._watch.condition_starts(before, after):
            self._open(change, spec_index)

    def _react(self, change: _Change, index: int, reaction: Reaction) -> None:
        """Apply one reaction to a clock, through the clocks' table, and run its actions."""
        clock = change.clocks[index]
        spec_index = self._spec_index[clock.name]
        spec = self._agreement.obligations[spec_index]
        timing = self._timing[spec_index]
        happening = reaction.happening
        if happening == "met":
            late = timing.lateness(clock, change.at) if clock.status == "breached" else None
            met = step(clock, "met", change.at, outcome=reaction.outcome, lateness=late)
            self._record(change, index, *met)
            for action in (*spec.on_met, *reaction.actions):
                self._act(change, spec, action, f"obligation {spec.name} met")
            if spec.repeat and change.lead.state in spec.starts.states:
                self._open(change, spec_index)
        elif happening == "resumed":
            due_at = timing.resumed_due(clock, change.at)
            self._record(change, index, *step(clock, "resumed", change.at, due_at=due_at))
            self._schedule(change, index)
        else:
            self._record(
                change, index, *step(clock, happening, change.at, outcome=reaction.outcome)
            )

    def _record(self, change: _Change, index: int, clock: ObligationState, effect: Any) -> None:
        change.clocks[index] = clock
        if effect is not None:
            change.effects.append(effect)

    def _open(self, change: _Change, spec_index: int) -> None:
        """Start a clock of an obligation; one at a time: a running one keeps its deadline."""
        spec = self._agreement.obligations[spec_index]
        number = 0
        for existing in change.clocks:
            if existing.name == spec.name:
                if existing.is_open:
                    return
                number = max(number, existing.number)
        due_us = self._timing[spec_index].due_us(change.at_us)
        due_at = from_instant_us(due_us, change.at.tzinfo or UTC)
        clock, opened = open_clock(spec, change.lead.id, number + 1, change.at, due_at)
        change.clocks.append(clock)
        change.effects.append(opened)
        index = len(change.clocks) - 1
        pause = self._watch.pause_reaction(spec, clock, change.lead, change.at)
        if pause is not None:
            self._react(change, index, pause)
        self._schedule(change, index, due_us)

    def _schedule(self, change: _Change, index: int, due_us: int | None = None) -> None:
        """Queue the clock's next timer: its next warning, or else its deadline. (One timer per
        clock keeps the queue small; a warning, when it fires, queues the next one.)"""
        clock = change.clocks[index]
        if clock.status != "open":
            return
        if due_us is None:
            due_us = instant_us(clock.due_at)
        timing = self._timing[self._spec_index[clock.name]]
        if timing.warns:
            opened_us = instant_us(clock.opened_at)
            warnings = timing.warning_instants(clock, due_us, opened_us)
            if clock.warned < len(warnings):
                at_us = warnings[clock.warned]
                change.timers.append(Timer(at_us, clock.warned, clock.lead, index, clock.version))
                return
        change.timers.append(Timer(due_us, DEADLINE, clock.lead, index, clock.version))

    def _act(
        self, change: _Change, spec: ObligationSpec, action: ObligationAction, cause: str
    ) -> None:
        """Run an obligation's action: ask the host (escalate, notify) or change the lead."""
        lead = change.lead
        if isinstance(action, Escalate):
            to = action.to
            if to == "manager":
                to = self._agreement.manager_of(spec.party)
            message = action.message or f"lead {lead.id}: {cause}"
            change.effects.append(
                ActionRequested(lead.id, change.at, "escalate", to, message, cause)
            )
            return
        if isinstance(action, Notify):
            change.effects.append(
                ActionRequested(lead.id, change.at, "notify", action.to, action.message, cause)
            )
            return
        book = change.book.child() if change.book is not None else None
        try:
            done = self._workflow.perform(lead, action, change.at, cause=cause, book=book)
        except (InvalidTransition, RuleLoopError) as error:
            change.effects.append(
                ActionSkipped(lead.id, change.at, cause, action.describe(), str(error))
            )
            return
        if change.book is not None and book is not None:
            change.book.merge(book)
        self._take(change, done)


def _live(timer: Timer, clock: ObligationState) -> bool:
    """Whether a queued timer still counts: its clock runs, unchanged since it was queued."""
    return (
        clock.version == timer.version
        and clock.status == "open"
        and timer.kind in (DEADLINE, clock.warned)
    )


def _identity(data: object) -> tuple[str | None, str | None]:
    """The lead and event id of an unreadable event, where they can be found."""
    parsed: object = data
    if isinstance(data, (str, bytes)):
        try:
            import json

            parsed = json.loads(data)
        except (ValueError, RecursionError):
            parsed = None
    if not isinstance(parsed, Mapping):
        return None, None
    lead, event_id = parsed.get("lead"), parsed.get("id")
    return (
        str(lead) if lead is not None else None,
        str(event_id) if event_id is not None else None,
    )
