"""One lead's step: an input, through the workflow, then through the lead's clocks.

Theory of operation
===================

A step is what one input does to one lead: an event (created, updated, moved, assigned, an
activity logged) or one of the lead's timers (a warning, a deadline). :class:`Stepper` works it
out as a :class:`LeadChange`: the lead's new record and clocks, the timers to queue, the
effects in order, and the assignment-book changes, for the engine to keep or drop.

1. The workflow (:mod:`leadsla._core.workflow`) applies the input to the lead record:
   lifecycle moves, owners, rules. Its moves become occurrences for the clocks: the state
   left (when some obligation listens to leaving it), the state entered.
2. Each occurrence, in order, goes to the clocks still waiting (:mod:`leadsla._core.watch`
   says which and how), then opens the clocks it starts. A reaction goes through the clocks'
   transition table (:mod:`leadsla._core.clocks`); an action it asks for (a handback, a
   reassignment) is a workflow step of its own, whose moves join the queue of occurrences.
3. When the queue is empty, obligations that watch a condition see what became true.

An input that keeps causing moves without end is a loop in the agreement: the step stops
with :class:`~leadsla.RuleLoopError`, and the engine refuses the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import BusinessCalendar, from_instant_us, instant_us
from leadsla._core.clocks import TRANSITIONS, WAITING, ObligationState, Timing, open_clock, step
from leadsla._core.conditions import Condition, Scope
from leadsla._core.effects import (
    ActionRequested,
    ActionSkipped,
    Converted,
    Effect,
    Merged,
    Migrated,
    Transitioned,
    new_obligation_opened,
)
from leadsla._core.errors import (
    InvalidTransition,
    Problem,
    RuleLoopError,
    WorkflowError,
    unknown,
)
from leadsla._core.events import (
    ActivityLogged,
    Event,
    LeadConverted,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadMigrated,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
)
from leadsla._core.housekeeping import Housekeeping
from leadsla._core.lead import Lead, Standing
from leadsla._core.obligations import (
    CALENDAR_CHOICES,
    DEFAULT_TIER,
    Escalate,
    ObligationAction,
    ObligationSpec,
)
from leadsla._core.ownership import BookDraft, Owner, Person
from leadsla._core.rules import Assign, Notify
from leadsla._core.timers import AWAY, DEADLINE, Timer
from leadsla._core.versions import Versions, effective_at
from leadsla._core.watch import Occurrence, Reaction, Watch
from leadsla._core.workflow import Step

__all__ = ["LeadChange", "Pinned", "Stepper", "live"]

#: How many occurrences one input may cause on one lead before it is called a loop.
_MAX_OCCURRENCES: Final = 200


class LeadChange:
    """One lead's step as it is worked out: the record, the clocks, what to queue and say."""

    __slots__ = (
        "at",
        "at_us",
        "before",
        "book",
        "clocks",
        "counted",
        "effects",
        "epoch",
        "event",
        "lead",
        "queue",
        "timers",
    )

    def __init__(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        at: datetime,
        at_us: int,
        book: BookDraft | None,
        epoch: int = 0,
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
        #: Whether the lead entered a state a commitment counts (its tally may change).
        self.counted = False
        #: The lead's recomputation count, stamped on the timers this step queues.
        self.epoch = epoch
        #: The event this step applied (None for a timer's step).
        self.event: Event | None = None


class Stepper:
    """Works out lead steps for one agreement (see the module's documentation)."""

    __slots__ = (
        "_agreement",
        "_apart",
        "_away",
        "_counted",
        "_on",
        "_retier",
        "_spec_index",
        "_timing",
        "_timings",
        "_watch",
        "_workflow",
        "specs",
    )

    def __init__(self, agreement: Agreement, counted: frozenset[str] = frozenset()) -> None:
        """``counted``: the states whose entry may change a lead's tally (see
        :attr:`LeadChange.counted`)."""
        self._agreement = agreement
        self._counted = counted
        self._workflow = agreement.workflow
        self._watch = Watch(agreement)
        self.specs = agreement.obligations
        self._spec_index = {spec.name: index for index, spec in enumerate(self.specs)}
        self._timing = tuple(
            Timing(spec, self._calendar_for(spec), working=self._working(spec))
            for spec in self.specs
        )
        #: The timings of tiers and chosen calendars, by (obligation, tier, calendar).
        self._timings: dict[tuple[int, str | None, str | None], Timing] = {}
        #: The obligations whose running clocks choose their tier again on an update.
        self._retier = tuple(index for index, spec in enumerate(self.specs) if spec.retier)
        #: The people whose time away takes their leads with running clocks from them (when
        #: the agreement says ``reassign_when_away``), by name.
        self._away: dict[str, Person] = (
            {person.name: person for person in agreement.people if person.away}
            if agreement.reassign_when_away
            else {}
        )
        self._on: dict[type[Event], Callable[[LeadChange, Event], bool]] = {
            LeadUpdated: self._updated,
            TransitionRequested: self._moved,
            OwnerAssigned: self._assigned,
            ActivityLogged: self._logged,
            LeadMigrated: self._not_versioned,
            LeadConverted: self._converted,
            LeadMerged: self._merged,
            LeadErased: self._erased,
        }
        self._apart = Housekeeping(agreement)  # records apart from the lifecycle

    def _calendar_for(self, spec: ObligationSpec, name: str | None = None) -> BusinessCalendar:
        """The calendar a clock of ``spec`` counts on: ``name`` (a calendar chosen when it
        opened), else the obligation's own, else the default one."""
        agreement = self._agreement
        if not spec.within.business:
            return BusinessCalendar.always(agreement.timezone)
        if name is None:
            name = spec.calendar if spec.calendar not in CALENDAR_CHOICES else None
        return agreement.calendar(name if name is not None else agreement.default_calendar)

    def _working(self, spec: ObligationSpec, name: str | None = None) -> BusinessCalendar | None:
        """The calendar the business-time steps of an obligation in calendar time count on:
        its own calendar, else the default one (None: nothing to count on one)."""
        if spec.within.business or not spec.business_steps:
            return None
        agreement = self._agreement
        if name is None:
            name = spec.calendar if spec.calendar not in CALENDAR_CHOICES else None
        name = name if name is not None else agreement.default_calendar
        return agreement.calendar(name) if name is not None else None

    def _timing_of(self, spec_index: int, tier: str | None, calendar: str | None) -> Timing:
        """The timing of a clock of tier ``tier`` counting on calendar ``calendar`` (a tier or
        calendar this version does not have: its own target or calendar)."""
        if tier is None and calendar is None:
            return self._timing[spec_index]
        key = (spec_index, tier, calendar)
        timing = self._timings.get(key)
        if timing is None:
            spec = self.specs[spec_index]
            within = next((t.within for t in spec.tiers if t.name == tier), None)
            known = calendar if calendar in self._agreement.calendars else None
            counted = self._calendar_for(spec, known)
            timing = Timing(spec, counted, within, self._working(spec, known))
            self._timings[key] = timing
        return timing

    def _clock_timing(self, spec_index: int, clock: ObligationState) -> Timing:
        if clock.tier is None and clock.calendar is None:
            return self._timing[spec_index]
        return self._timing_of(spec_index, clock.tier, clock.calendar)

    def _choose(
        self, spec: ObligationSpec, lead: Lead, at: datetime
    ) -> tuple[str | None, str | None]:
        """The tier and the chosen calendar of a clock of ``spec`` opening on ``lead`` at
        ``at``: the first tier whose condition holds (else the default), and the calendar of
        the lead's owner, owning team or region when the obligation says so."""
        if not spec.tiers and spec.calendar not in CALENDAR_CHOICES:
            return None, None
        workflow = self._workflow
        scope = workflow.scope(lead, at)
        names = frozenset(workflow.terms.names)

        def holds(condition: Condition) -> bool:
            return bool(condition.compile(names)(scope))

        tier = None
        if spec.tiers:
            tier = next((t.name for t in spec.tiers if holds(t.when)), DEFAULT_TIER)
        calendar = None
        if spec.calendar in CALENDAR_CHOICES:
            calendar = self._agreement.clock_calendar(spec, lead.owner, holds)
        return tier, calendar

    def of(self, lead: Lead | None, at_us: int | None = None) -> Stepper:
        """The stepper that judges ``lead`` (one created at ``at_us`` when it is None): this
        one, for an engine with one agreement (see :class:`Pinned`)."""
        return self

    def timing(self, clock: ObligationState) -> Timing:
        """The deadlines and the ladder of ``clock``'s obligation, tier and calendar."""
        return self._clock_timing(self._spec_index[clock.name], clock)

    def timer(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        timer: Timer,
        book: BookDraft | None,
    ) -> LeadChange:
        """A live timer of the lead fires: a warning, or the deadline and its breach."""
        clock = clocks[timer.clock]
        spec_index = self._spec_index.get(clock.name)
        if spec_index is None:  # (an older version's clock, whose timer a migration made
            return LeadChange(lead, clocks, clock.due_at, timer.at_us, book, timer.epoch)  # stale)
        spec = self.specs[spec_index]
        timing = self._clock_timing(spec_index, clock)
        deadline = timer.kind == DEADLINE
        zone = clock.due_at.tzinfo or UTC
        at = clock.due_at if deadline else from_instant_us(timer.at_us, zone)
        change = LeadChange(lead, clocks, at, timer.at_us, book, timer.epoch)
        index = timer.clock
        if timer.kind == AWAY:
            self._away_starts(change, spec, index, lead)
            what = "away"
        elif deadline:
            owner = lead.owner_at(clock.due_at) or lead.owner
            self._breach(change, index, spec, timing, clock, owner)
            what = "deadline"
        elif timer.kind < DEADLINE:  # a warning: which step of the ladder, by its time
            due_us = instant_us(clock.due_at)
            order = timing.warning_order(clock, due_us, instant_us(clock.opened_at))
            position = order[clock.warned][1]
            warned = step(clock, "warned", at, owner=lead.owner, outcome=str(position + 1))
            self._record(change, index, *warned)
            self._climb(change, spec, position, "warning")
            self._schedule(change, index)
            what = f"warning{timer.kind + 1}"
        elif not self._escalates(lead, spec) or not (
            0 <= clock.warned - timing.warnings < timing.escalations
        ):  # the lead left the party's hands (or the ladder has no such step): no more
            change.clocks[index] = clock._replace(warned=timing.warnings + timing.escalations)
            what = "escalation"
        else:  # an escalation after the deadline
            escalation = clock.warned - timing.warnings
            position = timing.escalation_order(instant_us(clock.due_at))[escalation][1]
            escalated = step(clock, "escalated", at, owner=lead.owner, outcome=str(position + 1))
            self._record(change, index, *escalated)
            self._climb(change, spec, position, "escalation")
            self._schedule(change, index)
            what = f"escalation{escalation + 1}"
        if change.queue or self._watch.watches_conditions:  # the actions moved the lead
            self._settle(change)
        if self._away:
            self._follow_owner(change)
        _stamp(change.effects, f"timer:{clock.name}#{clock.number}:{what}", False)
        return change

    def _away_starts(
        self, change: LeadChange, spec: ObligationSpec, index: int, lead: Lead
    ) -> None:
        """The owner's time away starts while the clock runs: the lead goes to someone else
        in the team (the policy, which skips whoever is away), then the clock's next timer
        is queued."""
        owner = lead.owner
        person = self._away.get(owner.person or "") if owner is not None else None
        if person is not None and person.away_at(change.at):
            cause = f"{person.name} is away"
            self._act(change, spec, Assign(None, "reassigned"), cause)
        if change.lead.owner == owner:  # (else every running clock looks again: see timer)
            self._schedule(change, index, after_now=True)

    def _breach(
        self,
        change: LeadChange,
        index: int,
        spec: ObligationSpec,
        timing: Timing,
        clock: ObligationState,
        owner: Owner | None,
    ) -> None:
        """The clock breaches (dated at its deadline): its breach actions run, and its
        escalations, if any, are queued."""
        if clock.warned < timing.warnings:  # (a migrated clock skipped the passed ones)
            clock = clock._replace(warned=timing.warnings)
        self._record(change, index, *step(clock, "due", clock.due_at, owner=owner))
        for action in spec.on_breach:
            self._act(change, spec, action, f"obligation {spec.name} breached")
        if timing.escalations:
            self._schedule(change, index)

    def _escalates(self, lead: Lead, spec: ObligationSpec) -> bool:
        """Whether a breached clock of ``spec`` still escalates: while the lead is open and in
        a state its party owns (a lead lost, or handed to another team, is no longer theirs to
        be chased about)."""
        state = self._workflow.lifecycle.state(lead.state)
        return not state.terminal and state.owner == spec.party

    def escalates(self, lead: Lead, clock: ObligationState) -> bool:
        """Whether the breached ``clock`` of ``lead`` still has escalations to give (see
        :meth:`_escalates`)."""
        spec_index = self._spec_index.get(clock.name)
        return spec_index is not None and self._escalates(lead, self.specs[spec_index])

    def _climb(self, change: LeadChange, spec: ObligationSpec, position: int, what: str) -> None:
        """Run the actions of the ladder's step at ``position``."""
        actions = spec.warnings[position].actions
        if actions:
            cause = f"obligation {spec.name} {what} (step {position + 1} of its ladder)"
            for action in actions:
                self._act(change, spec, action, cause)

    def event(
        self,
        lead: Lead | None,
        clocks: tuple[ObligationState, ...],
        event: Event,
        at_us: int,
        book: BookDraft | None,
        epoch: int = 0,
    ) -> LeadChange:
        """The event's step on its lead (None: the lead does not exist yet); raises the
        workflow's errors for an event the lead cannot take. ``epoch``: the lead's
        recomputation count (see :class:`~leadsla._core.timers.Timer`)."""
        if type(event) is LeadCreated:
            if lead is not None:
                raise WorkflowError(
                    Problem(
                        "lead",
                        event.lead,
                        "already exists",
                        "send lead_updated to change its fields",
                    )
                )
            held = self._apart.outside(event.lead, event.fields, event.at)  # not a lead?
            step_ = held or self._workflow.create(event.lead, event.fields, event.at, book=book)
            change = LeadChange(step_.lead, (), event.at, at_us, book, epoch)
            if held is None:
                self._enter(change, step_)
            else:
                change.effects.extend(held.effects)
        else:
            if lead is None:
                raise WorkflowError(
                    Problem("lead", event.lead, "is unknown", "send its lead_created event first")
                )
            change = LeadChange(lead, clocks, event.at, at_us, book, epoch)
            if lead.standing is not None:  # outside the lifecycle, or closed
                self._apart_event(change, event)
            elif self._on[type(event)](change, event):
                self._settle(change)
        if self._away:
            self._follow_owner(change)
        change.event = event
        _stamp(change.effects, event.id, True)
        return change

    def timers_of(
        self,
        clocks: Sequence[ObligationState],
        epoch: int,
        lead: Lead | None = None,
        now_us: int | None = None,
    ) -> list[Timer]:
        """The timer each running clock has queued (its next warning, or its deadline; the
        start of its owner's time away, when that comes first): what the queue holds for
        ``lead`` at ``now_us`` when its clocks are ``clocks``."""
        owner = lead.owner if lead is not None else None
        timers = (
            self._next_timer(clock, index, epoch, owner=owner, now_us=now_us)
            for index, clock in enumerate(clocks)
        )
        return [timer for timer in timers if timer is not None]

    def _follow_owner(self, change: LeadChange) -> None:
        """When the step gave the lead another owner, its running clocks look again for the
        start of the owner's time away (their queued timers are made stale by a new
        version)."""
        before = change.before.owner if change.before is not None else None
        if change.lead.owner == before:
            return
        for index, clock in enumerate(change.clocks):
            if clock.status in ("open", "paused"):
                change.clocks[index] = clock._replace(version=clock.version + 1)
                self._schedule(change, index)

    # What each kind of event does to an existing lead, through the workflow; each says
    # whether the lead's clocks may have something to hear.

    def _not_versioned(self, change: LeadChange, event: Event) -> bool:
        raise WorkflowError(
            Problem(
                "to",
                getattr(event, "to", None),
                "names a version, but the engine runs one agreement",
                "make the engine with the agreement's Versions to migrate leads between them",
            )
        )

    def migrate(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        event: LeadMigrated,
        at_us: int,
        book: BookDraft | None,
        epoch: int = 0,
        before: Stepper | None = None,
    ) -> LeadChange:
        """The lead moves from the version ``before`` judges it by to this stepper's (see
        :mod:`leadsla._core.versions`), and says so (``Migrated``). Its clocks first: one this
        version lacks is cancelled; a running one whose deadline or next warning this version
        changes is cancelled and opened again from the same start, due by this version's
        target (or now, if that has passed; warnings whose time has passed are not given); a
        running one this version leaves as it was runs on, and so does a paused one (with its
        pauses: it takes this version's timing when it resumes); a breached one stays breached
        (and may still be met late, if this version has its obligation). Then, with
        ``event.state``, the move to that state (:meth:`Workflow.place`), which the clocks hear
        of as of any move."""
        version = self._agreement.version
        state = event.state or lead.state
        if state not in self._workflow.lifecycle.state_names:
            raise WorkflowError(
                Problem(
                    "state",
                    state,
                    f"is not a state of version {version!r}",
                    "give the state the lead takes there: migrate(..., states={"
                    f"{lead.state!r}: ...}})",
                )
            )
        at = event.at
        change = LeadChange(lead, clocks, at, at_us, book, epoch)
        previous = before._agreement.version if before is not None else ""
        change.effects.append(Migrated(lead.id, at, previous, version))
        zone = at.tzinfo or UTC
        for index, clock in enumerate(tuple(change.clocks)):
            if clock.status == "breached":
                self._escalate_on(change, index, clock)
                continue
            if clock.status not in ("open", "paused"):
                continue
            spec_index = self._spec_index.get(clock.name)
            if spec_index is None:
                why = f"migrated to version {version}: not in it"
                self._record(change, index, *step(clock, "cancelled", at, outcome=why))
                continue
            if clock.status == "paused":
                continue
            opened_us = instant_us(clock.opened_at)
            tier, calendar = self._choose(self.specs[spec_index], lead, clock.opened_at)
            timing = self._timing_of(spec_index, tier, calendar)
            due_us = max(timing.due_us(opened_us), at_us)
            kept = before._next_timer(clock, index, epoch) if before is not None else None
            if (
                due_us == instant_us(clock.due_at)
                and (tier, calendar) == (clock.tier, clock.calendar)
                and kept == self._next_timer(clock, index, epoch)
            ):
                continue  # the same deadline and warnings under this version: it runs on
            why = f"migrated to version {version}: recomputed"
            self._record(change, index, *step(clock, "cancelled", at, outcome=why))
            spec = self.specs[spec_index]
            due_at = from_instant_us(due_us, zone)
            again, _ = open_clock(
                spec, lead.id, clock.number + 1, clock.opened_at, due_at, tier, calendar
            )
            if timing.warnings:  # the warnings whose time has passed are not given late
                moments = timing.warning_instants(again, due_us, opened_us)
                again = again._replace(warned=sum(1 for moment in moments if moment < at_us))
            change.clocks.append(again)
            change.effects.append(
                new_obligation_opened(
                    lead.id,
                    at,
                    spec.name,
                    again.number,
                    spec.party,
                    due_at,
                    tier,
                    calendar,
                )
            )
            self._schedule(change, len(change.clocks) - 1, due_us, opened_us)
        placed = self._workflow.place(lead, state, at, version=version, by=event.by, book=book)
        self._take(change, placed)
        if state != lead.state:
            change.counted = True  # the state it left may count too
            self._settle(change)
        change.event = event
        _stamp(change.effects, event.id, True)
        return change

    def _escalate_on(self, change: LeadChange, index: int, clock: ObligationState) -> None:
        """A breached clock the lead migrates with: it escalates by this version's ladder from
        now on (the steps whose time has passed are not given late; none if this version
        lacks the obligation). Its queued timer, from the version before, is made stale."""
        spec_index = self._spec_index.get(clock.name)
        warned = clock.warned
        if spec_index is not None:
            timing = self._clock_timing(spec_index, clock)
            due_us = instant_us(clock.due_at)
            passed = sum(1 for at_us, _ in timing.escalation_order(due_us) if at_us < change.at_us)
            warned = timing.warnings + passed
        change.clocks[index] = clock._replace(warned=warned, version=clock.version + 1)
        self._schedule(change, index)

    def _updated(self, change: LeadChange, event: Event) -> bool:
        assert isinstance(event, LeadUpdated)
        step_ = self._workflow.update(change.lead, event.fields, event.at, book=change.book)
        if not step_.effects and self._watch.quiet_updates and not _waiting(change.clocks):
            change.lead = step_.lead  # nothing moved and no clock can notice
            return False
        change.queue.append(self._watch.events["lead_updated"])
        self._take(change, step_)
        if self._retier:
            self._choose_again(change)
        return True

    def _choose_again(self, change: LeadChange) -> None:
        """Running clocks of obligations that say ``retier`` take the tier the lead's fields
        now choose: the deadline moves to what it allows from the clock's start."""
        for index, clock in enumerate(tuple(change.clocks)):
            if clock.status not in ("open", "paused"):
                continue
            spec_index = self._spec_index.get(clock.name)
            if spec_index is None or spec_index not in self._retier:
                continue
            tier, _ = self._choose(self.specs[spec_index], change.lead, change.at)
            if tier == clock.tier or tier is None:
                continue
            timing = self._timing_of(spec_index, tier, clock.calendar)
            due_at = timing.retargeted_due(clock)
            self._record(
                change, index, *step(clock, "retargeted", change.at, outcome=tier, due_at=due_at)
            )
            moved = change.clocks[index]
            if timing.warnings:  # the warnings whose time has passed are not given late, and
                due = due_at  # none twice (a paused clock: as if it resumed now)
                if moved.paused_since is not None:
                    due = timing.resumed_due(moved, change.at)
                moments = timing.warning_instants(
                    moved, instant_us(due), instant_us(moved.opened_at)
                )
                passed = sum(1 for moment in moments if moment < change.at_us)
                change.clocks[index] = moved._replace(warned=max(passed, moved.warned))
            self._schedule(change, index)

    def _moved(self, change: LeadChange, event: Event) -> bool:
        assert isinstance(event, TransitionRequested)
        step_ = self._workflow.fire(
            change.lead,
            event.trigger,
            event.at,
            by=event.by,
            reason=event.reason,
            book=change.book,
        )
        self._take(change, step_)
        return True

    def _assigned(self, change: LeadChange, event: Event) -> bool:
        assert isinstance(event, OwnerAssigned)
        step_ = self._workflow.assign(
            change.lead,
            event.owner,
            event.at,
            by=event.by,
            reason=event.reason,
            book=change.book,
        )
        change.queue.append(self._watch.events["assign"])
        self._take(change, step_)
        return True

    # Records apart from the lifecycle, and the events that close a lead (see
    # leadsla._core.housekeeping, which decides; these only carry it out).

    def _enter(self, change: LeadChange, created: Step) -> None:
        """A record enters the lifecycle (a creation's step): the clocks hear of it."""
        change.before = None  # a condition true at creation "becomes true" then
        self._take(change, created)
        change.queue.append(self._watch.events["lead_created"])
        self._settle(change)

    def _apart_event(self, change: LeadChange, event: Event) -> None:
        """An event for a record outside the lifecycle or closed: refused, unless it is an
        update (which may make the record a lead), a merge or an erasure."""
        lead = change.lead
        problem = self._apart.refusal(lead, event)
        if problem is not None:
            raise WorkflowError(problem)
        if isinstance(event, LeadUpdated):
            kept, became = self._apart.update(lead, event)
            if became is None:
                change.lead = kept
                return
            created = self._workflow.create(lead.id, kept.fields, event.at, book=change.book)
            self._enter(change, self._apart.became(created, became))
        else:
            self._on[type(event)](change, event)

    def _converted(self, change: LeadChange, event: Event) -> bool:
        """The lead converts: the obligations met or cancelled by a conversion hear of it
        first, then the clocks still open close."""
        assert isinstance(event, LeadConverted)
        change.effects.append(Converted(change.lead.id, event.at, event.to, event.by))
        change.queue.append(self._watch.events["lead_converted"])
        self._settle(change)
        standing = Standing("converted", event.at, event.to)
        self._close(change, standing, f"converted to {event.to}")
        return False

    def _merged(self, change: LeadChange, event: Event) -> bool:
        assert isinstance(event, LeadMerged)
        change.effects.append(Merged(change.lead.id, event.at, event.into, event.by))
        self._close(change, Standing("merged", event.at, event.into), f"merged into {event.into}")
        return False

    def _erased(self, change: LeadChange, event: Event) -> bool:
        """The personal fields are erased; a lead still open closes first."""
        assert isinstance(event, LeadErased)
        if change.lead.standing is None:
            self._close(change, Standing("erased", event.at, "", event.at), "erased")
        change.lead, erased = self._apart.erase(change.lead, change.clocks, event)
        change.effects.insert(0, erased)  # (before the clocks it closed)
        return False

    def _close(self, change: LeadChange, standing: Standing, outcome: str) -> None:
        change.lead, cancelled = self._apart.close(
            change.lead, change.clocks, change.at, standing, outcome, change.book
        )
        change.effects.extend(cancelled)

    def _logged(self, change: LeadChange, event: Event) -> bool:
        assert isinstance(event, ActivityLogged)
        change.queue.append(self._watch.activity(event))
        workflow = self._workflow
        if workflow.reacts("activity", change.lead.state):  # else the record stays as it is
            self._take(change, workflow.activity(change.lead, event.at, book=change.book))
        return True

    def _take(self, change: LeadChange, step_: Step) -> None:
        """A workflow step's record and effects; its moves are occurrences for the clocks."""
        change.lead = step_.lead
        if not step_.effects:
            return
        change.effects.extend(step_.effects)
        watch = self._watch
        listened = watch.left_listened
        for effect in step_.effects:
            if type(effect) is Transitioned:
                if effect.source is not None and effect.source in listened:
                    change.queue.append(watch.left[effect.source])
                change.queue.append(watch.entered[effect.dest])
                if effect.dest in self._counted:
                    change.counted = True

    # -- the clocks ---------------------------------------------------------------------------

    def _settle(self, change: LeadChange) -> None:
        """Let the lead's clocks react to every queued occurrence, then to conditions."""
        watch = self._watch
        queue = change.queue
        clocks = change.clocks
        if not watch.watches_conditions and not _anything_to_do(queue, clocks, watch):
            return
        affects = watch.affects
        spec_index_of = self._spec_index
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
            key = occurrence.key
            for index in range(len(clocks)):
                clock = clocks[index]
                if clock.status in WAITING:
                    # (None: a breached clock of an obligation an older version had.)
                    spec_index = spec_index_of.get(clock.name)
                    if spec_index is None or key not in affects[spec_index]:
                        continue
                    for reaction in watch.reactions(
                        spec_index, clock, occurrence, change.lead, change.at
                    ):
                        self._react(change, index, reaction)
            for spec_index in watch.starting(occurrence):
                spec = self.specs[spec_index]
                if watch.opens(spec, occurrence, change.lead, change.at):
                    self._open(change, spec_index)
        if watch.watches_conditions:
            self._settle_conditions(change)

    def _settle_conditions(self, change: LeadChange) -> None:
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
            spec_index = self._spec_index.get(clock.name)  # (None: an older version's)
            if clock.status in WAITING and spec_index is not None:
                spec = specs[spec_index]
                reaction = self._watch.condition_reactions(
                    spec, clock, change.lead, before, after, change.at
                )
                if reaction is not None:
                    self._react(change, index, reaction)
        for spec_index in self._watch.condition_starts(before, after):
            self._open(change, spec_index)

    def _react(self, change: LeadChange, index: int, reaction: Reaction) -> None:
        """Apply one reaction to a clock, through the clocks' table, and run its actions."""
        happening, outcome, actions = reaction
        clock = change.clocks[index]
        spec_index = self._spec_index[clock.name]
        at = change.at
        timing = self._clock_timing(spec_index, clock)
        if (
            clock.status == "open" and timing.grace_us and change.at_us > instant_us(clock.due_at)
        ):  # within the grace after the deadline: the breach happened first
            clock = self._breach_late(change, index, spec_index)
            if (clock.status, happening) not in TRANSITIONS:
                return
        if happening == "met":
            late = timing.lateness(clock, at) if clock.status == "breached" else None
            clock, effect = step(clock, "met", at, outcome=outcome, lateness=late)
        elif happening == "resumed":
            due_at = timing.resumed_due(clock, at)
            clock, effect = step(clock, "resumed", at, due_at=due_at)
        else:
            clock, effect = step(clock, happening, at, outcome=outcome)
        change.clocks[index] = clock
        if effect is not None:
            change.effects.append(effect)
        if happening == "met":
            spec = self.specs[spec_index]
            for action in (*spec.on_met, *actions):
                self._act(change, spec, action, f"obligation {spec.name} met")
            if spec.repeat and change.lead.state in spec.starts.states:
                self._open(change, spec_index)
        elif happening == "resumed" or (happening == "paused" and self._away):
            self._schedule(change, index)  # (a paused clock waits for its owner's time away)

    def _breach_late(self, change: LeadChange, index: int, spec_index: int) -> ObligationState:
        """The breach of a clock whose grace had not run out: dated at the deadline, said now,
        with its actions."""
        clock = change.clocks[index]
        owner = change.lead.owner_at(clock.due_at) or change.lead.owner
        timing = self._clock_timing(spec_index, clock)
        self._breach(change, index, self.specs[spec_index], timing, clock, owner)
        return change.clocks[index]

    def _record(self, change: LeadChange, index: int, clock: ObligationState, effect: Any) -> None:
        change.clocks[index] = clock
        if effect is not None:
            change.effects.append(effect)

    def _open(self, change: LeadChange, spec_index: int) -> None:
        """Start a clock of an obligation; one at a time: a running one keeps its deadline."""
        spec = self.specs[spec_index]
        number = 0
        for existing in change.clocks:
            if existing.name == spec.name:
                if existing.is_open:
                    return
                number = max(number, existing.number)
        tier = calendar = None
        if spec.tiers or spec.calendar in CALENDAR_CHOICES:  # (else _choose says None, None)
            tier, calendar = self._choose(spec, change.lead, change.at)
        due_us = self._timing_of(spec_index, tier, calendar).due_us(change.at_us)
        due_at = from_instant_us(due_us, change.at.tzinfo or UTC)
        clock, opened = open_clock(
            spec, change.lead.id, number + 1, change.at, due_at, tier, calendar
        )
        change.clocks.append(clock)
        change.effects.append(opened)
        index = len(change.clocks) - 1
        if spec.pause is not None:
            pause = self._watch.pause_reaction(spec, clock, change.lead, change.at)
            if pause is not None:
                self._react(change, index, pause)
        self._schedule(change, index, due_us, change.at_us)

    def _schedule(
        self,
        change: LeadChange,
        index: int,
        due_us: int | None = None,
        opened_us: int | None = None,
        *,
        after_now: bool = False,
    ) -> None:
        """Queue the clock's next timer, if it runs (see :meth:`_next_timer`); with
        ``after_now``, a time away of its owner that starts now is not looked at again (it
        has just been)."""
        if self._away:
            timer = self._next_timer(
                change.clocks[index],
                index,
                change.epoch,
                due_us,
                opened_us,
                change.lead.owner,
                change.at_us + 1 if after_now else change.at_us,
            )
        else:  # (no time away to look at: the clock's own next step, one call less)
            timer = self._next_step(change.clocks[index], index, change.epoch, due_us, opened_us)
        if timer is not None:
            change.timers.append(timer)

    def _next_timer(
        self,
        clock: ObligationState,
        index: int,
        epoch: int,
        due_us: int | None = None,
        opened_us: int | None = None,
        owner: Owner | None = None,
        now_us: int | None = None,
    ) -> Timer | None:
        """A running clock's next timer: its next warning, or else its deadline; a breached
        clock's next escalation (one timer per clock keeps the queue small; a step, when it
        fires, queues the next one). With the lead's ``owner`` at ``now_us``, when the owner's
        time away takes their leads and starts first (now, or later), the start of that
        time."""
        timer = self._next_step(clock, index, epoch, due_us, opened_us)
        if not self._away or owner is None or now_us is None or clock.status not in _RUNNING:
            return timer
        person = self._away.get(owner.person or "")
        # (A time away that starts now counts: after the instant just before.)
        start = person.next_away_start(from_instant_us(now_us - 1, UTC)) if person else None
        if start is None or (timer is not None and instant_us(start) >= timer.at_us):
            return timer
        return Timer(instant_us(start), AWAY, clock.lead, index, clock.version, epoch)

    def _next_step(
        self,
        clock: ObligationState,
        index: int,
        epoch: int,
        due_us: int | None = None,
        opened_us: int | None = None,
    ) -> Timer | None:
        """A clock's next warning, deadline or escalation (see :meth:`_next_timer`)."""
        status = clock.status
        if status != "open":
            if status != "breached":
                return None
            spec_index = self._spec_index.get(clock.name)
            if spec_index is None:
                return None  # (an older version's obligation)
            timing = self._clock_timing(spec_index, clock)
            escalation = clock.warned - timing.warnings
            if not 0 <= escalation < timing.escalations:
                return None
            at_us = timing.escalation_order(instant_us(clock.due_at))[escalation][0]
            kind = DEADLINE + 1 + clock.warned
            return Timer(at_us, kind, clock.lead, index, clock.version, epoch)
        if due_us is None:
            due_us = instant_us(clock.due_at)
        timing = self._clock_timing(self._spec_index[clock.name], clock)
        if clock.warned < timing.warnings:  # a warning still to come: which one, and when
            if opened_us is None:
                opened_us = instant_us(clock.opened_at)
            warnings = timing.warning_instants(clock, due_us, opened_us)
            if clock.warned < len(warnings):
                at_us = warnings[clock.warned]
                return Timer(at_us, clock.warned, clock.lead, index, clock.version, epoch)
        # The breach waits for the grace, if any.
        return Timer(due_us + timing.grace_us, DEADLINE, clock.lead, index, clock.version, epoch)

    def _act(
        self, change: LeadChange, spec: ObligationSpec, action: ObligationAction, cause: str
    ) -> None:
        """Run an obligation's action: ask the host (escalate, notify) or change the lead."""
        lead = change.lead
        if isinstance(action, (Escalate, Notify)):
            to = action.to
            if to == "manager":
                to = self._agreement.manager_of(spec.party)
            elif to == "owner":  # who owns the lead now: the person, else the team
                owner = lead.owner
                to = (owner.person or owner.team) if owner is not None else spec.party
            if isinstance(action, Escalate):
                message = action.message or f"lead {lead.id}: {cause}"
                change.effects.append(
                    ActionRequested(lead.id, change.at, "escalate", to, message, cause)
                )
            else:
                change.effects.append(
                    ActionRequested(lead.id, change.at, "notify", to, action.message, cause)
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


_RUNNING: Final = frozenset({"open", "paused"})


def _anything_to_do(queue: list[Occurrence], clocks: list[ObligationState], watch: Watch) -> bool:
    """Whether a queued occurrence can start a clock, or a clock still waits for one."""
    starters = watch.starters
    for occurrence in queue:
        if occurrence.key in starters:
            return True
    return _waiting(clocks)


def _waiting(clocks: Sequence[ObligationState]) -> bool:
    """Whether some clock still waits for an occurrence."""
    for clock in clocks:  # noqa: SIM110 - a loop, not any(): no generator per step
        if clock.status in WAITING:
            return True
    return False


def _stamp(effects: list[Effect], cause: str, by_event: bool) -> None:
    """Name the input that caused each effect, and its position (see Effect.id): an event's
    id (``by_event``), or a timer's whole origin."""
    origin = _SET_ORIGIN
    flag = _SET_BY_EVENT
    seq = _SET_SEQ
    for position, effect in enumerate(effects):
        origin(effect, cause)
        flag(effect, by_event)
        seq(effect, position)


_SET_ORIGIN: Final = Effect._origin.__set__  # type: ignore[attr-defined]
_SET_BY_EVENT: Final = Effect._by_event.__set__  # type: ignore[attr-defined]
_SET_SEQ: Final = Effect.seq.__set__  # type: ignore[attr-defined]


def live(timer: Timer, clocks: Sequence[ObligationState], epoch: int = 0) -> bool:
    """Whether a queued timer still counts: the lead was not recomputed since it was queued,
    and its clock runs, unchanged since."""
    if timer.epoch != epoch:
        return False
    clock = clocks[timer.clock]
    if clock.version != timer.version:
        return False
    if timer.kind == AWAY:  # the owner's time away starts: the clock still runs
        return clock.status in _RUNNING
    if timer.kind > DEADLINE:  # an escalation: the clock is still breached, and it is next
        return clock.status == "breached" and timer.kind == DEADLINE + 1 + clock.warned
    return clock.status == "open" and timer.kind in (DEADLINE, clock.warned)


class Pinned(Stepper):
    """The steppers of several agreement versions, each lead's step worked out by the version
    it is pinned to: the one in force when it was created (see
    :mod:`leadsla._core.versions`). Asked directly, it passes each step to that version's
    stepper."""

    __slots__ = ("_index", "_steppers", "versions")

    def __init__(self, versions: Versions, counted: frozenset[str] = frozenset()) -> None:
        super().__init__(versions.latest, counted)
        self.versions = versions
        self._steppers = tuple(Stepper(agreement, counted) for agreement in versions)
        self._index = {name: index for index, name in enumerate(versions.names)}

    def of(self, lead: Lead | None, at_us: int | None = None) -> Stepper:
        if lead is not None and lead.version is not None:
            return self._steppers[self._index[lead.version]]
        if lead is not None and lead.history:
            at_us = instant_us(lead.history[0].at)
        if at_us is None:
            return self._steppers[-1]
        return self._steppers[self.versions.index_at(at_us)]

    def event(
        self,
        lead: Lead | None,
        clocks: tuple[ObligationState, ...],
        event: Event,
        at_us: int,
        book: BookDraft | None,
        epoch: int = 0,
    ) -> LeadChange:
        if type(event) is LeadMigrated and lead is not None and lead.standing is None:
            return self._migrate(lead, clocks, event, at_us, book, epoch)
        return self.of(lead, at_us).event(lead, clocks, event, at_us, book, epoch)

    def _migrate(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        event: LeadMigrated,
        at_us: int,
        book: BookDraft | None,
        epoch: int,
    ) -> LeadChange:
        """A lead moves to a newer version: refused unless ``event.to`` names one newer than
        the lead's, and the lead is not closed."""
        names = self.versions.names
        if event.to not in self._index:
            raise WorkflowError(unknown("version", event.to, names, "to"))
        now = self.of(lead)
        current = self._steppers.index(now)
        if self._index[event.to] <= current:
            raise WorkflowError(
                Problem(
                    "to",
                    event.to,
                    f"is not newer than version {names[current]!r}, which judges lead {lead.id}",
                    f"migrate to a version after it ({', '.join(names[current + 1 :]) or 'none'})",
                )
            )
        start = effective_at(self.versions.named(event.to))
        if start is not None and event.at < start:
            raise WorkflowError(
                Problem(
                    "at",
                    event.at.isoformat(),
                    f"is before version {event.to!r} takes effect ({start.isoformat()})",
                    "migrate from its effective day on",
                )
            )
        if now._workflow.lifecycle.state(lead.state).terminal:
            raise WorkflowError(
                Problem(
                    "lead",
                    lead.id,
                    f"is closed ({lead.state}): its version judged it to the end",
                    "migrate open leads only",
                )
            )
        target = self._steppers[self._index[event.to]]
        return target.migrate(lead, clocks, event, at_us, book, epoch, now)

    def timer(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        timer: Timer,
        book: BookDraft | None,
    ) -> LeadChange:
        return self.of(lead).timer(lead, clocks, timer, book)
