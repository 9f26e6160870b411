"""The engine: events in, effects out. Sans-io, deterministic, idempotent.

Theory of operation
===================

The engine never reads the clock, sleeps, starts threads or does I/O. Time comes from the events
(``at``) and from :meth:`Engine.advance`. It holds, per lead, the lead record and its
obligations' states, plus one priority queue of timer instants (warnings and deadlines).

``apply(event)``:

1. acknowledges an event whose id was seen before with a ``Duplicate`` effect, and refuses one
   whose time is before the engine's clock; neither changes anything, and no time passes;
2. fires every timer due at or before ``event.at``, in time order, and moves the clock to
   ``event.at`` (so replaying a log gives what a live run gave, and calling ``advance`` between
   two events changes nothing);
3. applies the event to its lead through the workflow (lifecycle, terms, rules), then lets the
   lead's obligations react to what happened (a state entered or left, the event itself), running
   the actions they ask for (a handback, an escalation) until nothing more happens;
4. commits: the new lead record, obligation states and timers replace the old ones only when
   all of this succeeded. An event refused at step 3 (an unknown lead, an illegal transition)
   yields a ``Rejected`` effect and changes nothing of any lead; the timers of step 2 stay fired,
   because their time had come. (A host that distrusts its sources' clocks should check times
   before handing events over: a bad event's time still counts as time that passed.)

The order of effects is fixed: timers first, in the order (time, warnings before deadlines,
lead id, the order in which the lead's clocks opened); then the event's effects in the order
they were decided (a transition, the owner change it causes, the rules that fired, then
the obligations it opened, met or cancelled, then what their actions caused).

Timers are a heap with lazy deletion: every obligation state carries a version, bumped when its
deadline moves or it ends; a popped timer whose version is stale is dropped. So ``advance``
costs in proportion to the timers that are due, not to the number of live leads.

Per-lead independence: everything an event or timer does touches only its own lead. The only
state shared across leads is the set of event ids seen, the counters of policies that are not
partition-safe, and the commitment tallies (sums, which do not depend on order).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import BusinessCalendar, _from_us
from leadsla._core.conditions import Scope
from leadsla._core.effects import (
    ActionRequested,
    ActionSkipped,
    Duplicate,
    Effect,
    ObligationBreached,
    ObligationCancelled,
    ObligationPaused,
    ObligationResumed,
    ObligationWarned,
    Rejected,
    Transitioned,
    new_obligation_met,
    new_obligation_opened,
)
from leadsla._core.errors import (
    EventRejected,
    LeadSLAError,
    NaiveDatetimeError,
    Problem,
    render_problems,
)
from leadsla._core.events import (
    ActivityLogged,
    Event,
    EventError,
    LeadCreated,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
    event_from_json,
)
from leadsla._core.lead import Lead
from leadsla._core.obligations import (
    ActivityMatch,
    Ending,
    Escalate,
    ObligationAction,
    ObligationSpec,
    ObligationState,
    When,
)
from leadsla._core.ownership import Owner
from leadsla._core.rules import Notify
from leadsla._core.tally import Tally, Volume
from leadsla._core.workflow import AssignmentBook, InvalidTransition, RuleLoopError, WorkflowError

__all__ = ["Due", "Engine", "EventRejected", "LeadView", "Volume"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# A timer is (at_us, kind, lead id, position of the clock in the lead's obligations, version).
# kind is the warning's index, or _DEADLINE, so at one instant warnings sort before deadlines.
_DEADLINE: Final = 1 << 20
# The statuses of a clock that an occurrence can still change (ObligationState.waiting).
_WAITING: Final = frozenset({"open", "breached"})


@frozen
class Due:
    """An upcoming warning or deadline, as :meth:`Engine.due` lists them."""

    at: datetime
    kind: str  # "warning" or "deadline"
    lead: str
    obligation: str
    number: int
    due_at: datetime
    owner: Owner | None


@frozen
class LeadView:
    """What the engine knows of one lead: its record and its obligations' clocks."""

    lead: Lead
    obligations: tuple[ObligationState, ...]

    @property
    def state(self) -> str:
        return self.lead.state

    @property
    def owner(self) -> Owner | None:
        return self.lead.owner

    @property
    def fields(self) -> Mapping[str, Any]:
        return self.lead.fields

    def obligation(self, name: str) -> ObligationState | None:
        """The latest clock of obligation ``name``, or None."""
        return next((o for o in reversed(self.obligations) if o.name == name), None)

    @property
    def open_obligations(self) -> tuple[ObligationState, ...]:
        return tuple(o for o in self.obligations if o.is_open)


class _Slot:
    __slots__ = ("lead", "obligations")

    def __init__(self, lead: Lead, obligations: tuple[ObligationState, ...]) -> None:
        self.lead = lead
        self.obligations = obligations


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _moment(us: int, like: datetime) -> datetime:
    """The instant ``us`` microseconds after the epoch, in ``like``'s zone (exact)."""
    zone = like.tzinfo
    assert zone is not None
    return _from_us(us, zone)


class _Change:
    """One lead's pending change, committed only if everything succeeds."""

    __slots__ = (
        "at",
        "at_us",
        "before",
        "dirty",
        "effects",
        "lead",
        "moves",
        "obligations",
        "queue",
        "timers",
    )

    def __init__(
        self, lead: Lead, obligations: tuple[ObligationState, ...], at: datetime, at_us: int
    ) -> None:
        # The lead before the change; None for a new lead, which had no fields before.
        self.before: Lead | None = lead
        self.lead = lead
        self.obligations = list(obligations)
        self.at = at
        self.at_us = at_us
        self.dirty = False  # whether ``obligations`` changed
        self.effects: list[Effect] = []
        self.timers: list[tuple[Any, ...]] = []
        self.moves: list[Transitioned] = []
        self.queue: list[tuple[str, str, ActivityLogged | None]] = []


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
        "_affects",
        "_book",
        "_calendars",
        "_clock",
        "_clock_us",
        "_deadline",
        "_leads",
        "_left_listened",
        "_party_people",
        "_quiet_updates",
        "_seen",
        "_spec_index",
        "_starters",
        "_strict",
        "_tallied",
        "_tally",
        "_timers",
        "_warn_before",
        "_watch_conditions",
        "_zone",
        "agreement",
        "workflow",
    )

    def __init__(self, agreement: Agreement | None = None, *, strict: bool = False) -> None:
        self.agreement = agreement if agreement is not None else Agreement.default()
        self.workflow = self.agreement.workflow
        self._strict = strict
        self._leads: dict[str, _Slot] = {}
        self._timers: list[tuple[Any, ...]] = []
        self._seen: set[str] = set()
        self._clock: datetime | None = None
        # The clock as microseconds since the epoch: time order is the order of instants (two
        # datetimes of one zone compare by wall clock, which a DST change can turn around).
        self._clock_us = -(1 << 63)
        self._book = AssignmentBook()
        self._spec_index = {
            spec.name: index for index, spec in enumerate(self.agreement.obligations)
        }
        self._calendars = [self._calendar_for(spec) for spec in self.agreement.obligations]
        # Each deadline, and each warning as "so much before the deadline", as a shift of an
        # instant worked out once per obligation.
        self._deadline = [
            calendar.shifter(spec.within)
            for calendar, spec in zip(self._calendars, self.agreement.obligations, strict=True)
        ]
        self._warn_before = [
            tuple(
                calendar.shifter(-w.before) if w.before is not None else None for w in spec.warnings
            )
            for calendar, spec in zip(self._calendars, self.agreement.obligations, strict=True)
        ]
        # Which obligations an occurrence can start, so most occurrences touch few specs.
        self._starters: dict[tuple[str, str], tuple[int, ...]] = {}
        for index, spec in enumerate(self.agreement.obligations):
            starts = spec.starts
            keys = [
                *(("entered", state) for state in starts.states),
                *(("left", state) for state in starts.leaving),
                *(("event", kind) for kind in starts.events),
            ]
            if starts.activity is not None:
                keys.append(("event", "activity"))
            for key in dict.fromkeys(keys):
                self._starters[key] = (*self._starters.get(key, ()), index)
        # Which occurrences can change a running clock of each obligation (meet it, count an
        # attempt, cancel, pause or resume it): any other occurrence passes it by.
        lifecycle = self.workflow.lifecycle
        self._affects: list[frozenset[tuple[str, str]]] = []
        for spec in self.agreement.obligations:
            affects: set[tuple[str, str]] = set()
            for when in (spec.met, spec.cancelled):
                if when is None:
                    continue
                affects.update(("entered", state) for state in when.states)
                affects.update(("left", state) for state in when.leaving)
                affects.update(("event", kind) for kind in when.events)
                if when.activity is not None:
                    affects.add(("event", "activity"))
            if spec.attempts is not None:
                affects.add(("event", "activity"))
            for name in lifecycle.state_names:
                state = lifecycle.state(name)
                if state.terminal or state.owner != spec.party:
                    affects.add(("entered", name))
                if spec.pause is not None and spec.pause.states:
                    affects.update((("entered", name), ("left", name)))
            self._affects.append(frozenset(affects))
        # Whether any obligation watches a condition after every event (most agreements: no).
        self._watch_conditions = any(
            (spec.met is not None and spec.met.only_condition and spec.met.condition is not None)
            or (
                spec.cancelled is not None
                and spec.cancelled.only_condition
                and spec.cancelled.condition is not None
            )
            or (spec.starts.only_condition and spec.starts.condition is not None)
            or (spec.pause is not None and spec.pause.condition is not None)
            for spec in self.agreement.obligations
        )
        # Whether a field update that moves nothing can be ignored by every lead without a
        # running clock: no obligation starts on an update or watches a condition.
        self._quiet_updates = (
            not self._watch_conditions and ("event", "lead_updated") not in self._starters
        )
        self._zone = self.agreement.calendar(None).tz
        # Who counts as "the party" for activities: each team's members and manager.
        self._party_people = {
            team.name: frozenset((*team.members, *([team.manager] if team.manager else [])))
            for team in self.agreement.teams
        }
        # The states whose leaving some obligation listens to (most moves need no "left").
        self._left_listened = frozenset(
            state
            for spec in self.agreement.obligations
            for when in (spec.starts, spec.met, spec.cancelled)
            if when is not None
            for state in when.leaving
        ) | frozenset(
            state
            for spec in self.agreement.obligations
            if spec.pause is not None
            for state in spec.pause.states
        )
        self._tally = Tally(self.agreement.commitments, ZoneInfo(self.agreement.timezone))
        self._tallied = self._tally.counted

    def _calendar_for(self, spec: ObligationSpec) -> BusinessCalendar:
        if not spec.within.business:
            return BusinessCalendar.always(self.agreement.timezone)
        return self.agreement.calendar(spec.calendar)

    # -- queries ------------------------------------------------------------------------------

    @property
    def clock(self) -> datetime | None:
        """The latest time the engine has seen (an event's or an ``advance``'s)."""
        return self._clock

    def lead(self, lead_id: str) -> LeadView:
        """The record and obligations of ``lead_id``; ``KeyError`` for an unknown lead."""
        slot = self._leads[lead_id]
        return LeadView(slot.lead, slot.obligations)

    def leads(self) -> Iterator[str]:
        """The ids of the leads the engine knows, in the order they were created."""
        return iter(self._leads)

    def __len__(self) -> int:
        return len(self._leads)

    def due(self, until: datetime) -> list[Due]:
        """The warnings and deadlines still to come up to ``until``, in firing order."""
        _aware(until, "until")
        limit = _us(until)
        clocks = {(entry[2], entry[3]) for entry in self._timers if self._live(entry)}
        upcoming: list[tuple[int, int, str, int, Due]] = []
        for lead_id, index in clocks:
            slot = self._leads[lead_id]
            state = slot.obligations[index]
            spec_index = self._spec_index[state.name]
            due_us = _us(state.due_at)
            moments: list[tuple[int, int]] = []
            if self.agreement.obligations[spec_index].warnings:
                warnings = self._warning_instants(spec_index, state, due_us)
                moments.extend(
                    (at, order) for order, at in enumerate(warnings) if order >= state.warned
                )
            moments.append((due_us, _DEADLINE))
            for at_us, kind in moments:
                if at_us <= limit:
                    item = Due(
                        _moment(at_us, state.due_at),
                        "deadline" if kind == _DEADLINE else "warning",
                        lead_id,
                        state.name,
                        state.number,
                        state.due_at,
                        slot.lead.owner,
                    )
                    upcoming.append((at_us, kind, lead_id, index, item))
        upcoming.sort(key=lambda entry: entry[:4])
        return [entry[4] for entry in upcoming]

    def volumes(self) -> list[Volume]:
        """The tally of every commitment for every tracking period seen, oldest first."""
        return self._tally.volumes()

    # -- inputs -------------------------------------------------------------------------------

    def apply_json(self, data: str | bytes | Mapping[str, Any]) -> list[Effect]:
        """Read an event in its JSON form and apply it; a malformed one is ``Rejected``."""
        try:
            event = event_from_json(data)
        except EventError as error:
            parsed: object = data
            if isinstance(data, (str, bytes)):
                try:
                    parsed = json.loads(data)
                except ValueError:
                    parsed = None
            lead = parsed.get("lead") if isinstance(parsed, Mapping) else None
            event_id = parsed.get("id") if isinstance(parsed, Mapping) else None
            return self._reject(
                str(lead) if lead is not None else None,
                self._clock,
                str(event_id) if event_id is not None else None,
                [],
                *error.problems,
            )
        return self.apply(event)

    def apply(self, event: Event) -> list[Effect]:
        """Fire the timers due by ``event.at``, then apply the event (see the module's doc)."""
        candidate: object = event
        if not isinstance(candidate, Event):
            return self._reject(
                None,
                self._clock,
                None,
                [],
                Problem(
                    "event",
                    type(candidate).__name__,
                    "is not an Event",
                    "build one, e.g. LeadCreated(id=..., lead=..., at=..., fields=...), "
                    "or use apply_json",
                ),
            )
        if event.id in self._seen:
            return [Duplicate(event.lead, event.at, event.id)]
        delta = event.at - _EPOCH  # _us, inline: this runs for every event
        at_us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        if at_us < self._clock_us:
            return self._reject(
                event.lead,
                event.at,
                event.id,
                [],
                Problem(
                    "at",
                    event.at,
                    "is before the engine's clock",
                    f"events must come in time order and the clock is at "
                    f"{self._clock.isoformat() if self._clock else '?'}: send older events "
                    "before newer ones, "
                    "or replay the log into a new engine",
                ),
            )
        # Time passes whether or not the event is good: the timers due by its time fire first.
        timers = self._timers
        effects = self._run_timers(at_us) if timers and timers[0][0] <= at_us else []
        self._clock = event.at
        self._clock_us = at_us
        slot = self._leads.get(event.lead)
        if isinstance(event, LeadCreated) and slot is not None:
            return self._reject(
                event.lead,
                event.at,
                event.id,
                effects,
                Problem(
                    "lead", event.lead, "already exists", "send lead_updated to change its fields"
                ),
            )
        if slot is None and not isinstance(event, LeadCreated):
            return self._reject(
                event.lead,
                event.at,
                event.id,
                effects,
                Problem("lead", event.lead, "is unknown", "send its lead_created event first"),
            )
        try:
            effects.extend(self._apply(event, at_us, slot))
        except (InvalidTransition, WorkflowError, RuleLoopError, NaiveDatetimeError) as error:
            return self._reject(event.lead, event.at, event.id, effects, *error.problems)
        self._seen.add(event.id)
        return effects

    def advance(self, now: datetime) -> list[Effect]:
        """Fire every timer due at or before ``now``; the engine's clock moves to ``now``."""
        _aware(now, "now")
        now_us = _us(now)
        if now_us < self._clock_us:
            return []
        effects = self._run_timers(now_us)
        self._clock = now
        self._clock_us = now_us
        return effects

    def _reject(
        self,
        lead: str | None,
        at: datetime | None,
        event_id: str | None,
        before: list[Effect],
        *problems: Problem,
    ) -> list[Effect]:
        """Refuse an input: its problems are the effect's details and, rendered, its reason."""
        reason = render_problems(problems)
        rejected = Rejected(lead or "", at or _EPOCH, reason, event_id, problems)
        if self._strict:
            raise EventRejected(rejected, before)
        return [*before, rejected]

    # -- timers -------------------------------------------------------------------------------

    def _run_timers(self, until_us: int) -> list[Effect]:
        effects: list[Effect] = []
        timers = self._timers
        while timers and timers[0][0] <= until_us:
            entry = heapq.heappop(timers)
            live = self._live(entry)
            if live is None:
                continue
            state, index = live
            slot = self._leads[entry[2]]
            spec = self.agreement.obligations[self._spec_index[state.name]]
            at = state.due_at if entry[1] == _DEADLINE else _moment(entry[0], state.due_at)
            change = _Change(slot.lead, slot.obligations, at, entry[0])
            if entry[1] != _DEADLINE:
                warned = state.replace(warned=state.warned + 1)
                change.dirty = True
                change.obligations[index] = warned
                change.effects.append(
                    ObligationWarned(
                        slot.lead.id, at, state.name, state.number, state.due_at, slot.lead.owner
                    )
                )
                self._schedule(change, index, warned)
            else:
                self._breach(change, index, spec)
            self._settle(change)
            self._commit(slot, change)
            effects.extend(change.effects)
        return effects

    def _live(self, entry: tuple[Any, ...]) -> tuple[ObligationState, int] | None:
        """The obligation a timer belongs to, if the timer still counts."""
        _, kind, lead_id, index, version = entry
        slot = self._leads.get(lead_id)
        if slot is None:
            return None
        state = slot.obligations[index]  # a lead's clocks are only ever appended
        if state.version != version or state.status != "open" or state.paused_since is not None:
            return None
        if kind not in (_DEADLINE, state.warned):
            return None
        return state, index

    def _schedule(
        self,
        change: _Change,
        index: int,
        state: ObligationState,
        due_us: int | None = None,
        opened_us: int | None = None,
    ) -> None:
        """Queue the clock's next timer: its next warning, or else its deadline.

        One live timer per clock keeps the heap small; a warning, when it fires, queues the
        next one.
        """
        if state.status != "open" or state.paused_since is not None:
            return
        if due_us is None:
            due_us = _us(state.due_at)
        spec_index = self._spec_index[state.name]
        if self.agreement.obligations[spec_index].warnings:
            warnings = self._warning_instants(spec_index, state, due_us, opened_us)
            if state.warned < len(warnings):
                change.timers.append(
                    (warnings[state.warned], state.warned, state.lead, index, state.version)
                )
                return
        change.timers.append((due_us, _DEADLINE, state.lead, index, state.version))

    def _warning_instants(
        self,
        spec_index: int,
        state: ObligationState,
        due_us: int,
        opened_us: int | None = None,
    ) -> list[int]:
        """When the clock's warnings fire, earliest first (never before it opened)."""
        spec = self.agreement.obligations[spec_index]
        calendar = self._calendars[spec_index]
        if opened_us is None:
            opened_us = _us(state.opened_at)
        before = self._warn_before[spec_index]
        instants = []
        for position, warning in enumerate(spec.warnings):
            shift = before[position]
            if shift is not None:
                instants.append(max(shift(due_us), opened_us))
                continue
            assert warning.fraction is not None
            budget = self._budget(spec_index, state)
            offset = -(budget * float(1 - warning.fraction))
            instants.append(max(calendar.shift_us(due_us, offset), opened_us))
        instants.sort()
        return instants

    def _budget(self, spec_index: int, state: ObligationState) -> timedelta:
        """The time the party had, in the obligation's own kind of time."""
        spec = self.agreement.obligations[spec_index]
        calendar = self._calendars[spec_index]
        opened_due = calendar.add(state.opened_at, spec.within)
        return calendar.elapsed(state.opened_at, opened_due)

    # -- events -------------------------------------------------------------------------------

    def _apply(self, event: Event, at_us: int, slot: _Slot | None) -> list[Effect]:
        workflow = self.workflow
        book = self._book
        at = event.at
        if slot is None:
            assert isinstance(event, LeadCreated)
            effects: list[Effect] = []
            lead = workflow._create_into(event.lead, event.fields, at, None, book, effects)
            change = _Change(lead, (), at, at_us)
            # Before its creation the lead had no fields: a condition true at creation
            # "becomes true" then.
            change.before = None
            change.effects = effects
            self._queue_moves(change, effects)
            change.queue.append(("event", "lead_created", None))
            slot = _Slot(lead, ())
            self._settle(change)
            self._leads[event.lead] = slot
            self._commit(slot, change)
            return change.effects
        # The workflow's step for the event, and the occurrence the lead's clocks hear of.
        effects = []
        occurrence: tuple[str, str, ActivityLogged | None] | None = None
        lead = slot.lead
        if isinstance(event, LeadUpdated):
            lead = workflow._update_into(lead, event.fields, at, book, effects)
            if self._quiet_updates and not effects and not _any_waiting(slot.obligations):
                slot.lead = lead  # nothing moved and no clock can notice: that is the change
                return effects
            occurrence = ("event", "lead_updated", None)
        elif isinstance(event, TransitionRequested):
            lead = workflow._fire_into(
                lead, event.trigger, at, event.by, event.reason, book, effects
            )
        elif isinstance(event, OwnerAssigned):
            lead, moved = workflow.assign(
                lead, event.owner, at, by=event.by, reason=event.reason, book=book
            )
            effects.extend(moved)
            occurrence = ("event", "assign", None)
        elif isinstance(event, ActivityLogged):
            occurrence = ("event", "activity", event)
            if workflow._reacting[("activity", lead.state)]:  # else the record stays as it is
                lead, moved = workflow.activity(lead, at, book=book)
                effects.extend(moved)
        else:  # pragma: no cover - the Event types are closed
            raise WorkflowError(
                Problem("type", type(event).__name__, "is not handled", "use a known event")
            )
        change = _Change(slot.lead, slot.obligations, at, at_us)
        change.lead = lead
        change.effects = effects
        if occurrence is not None:
            change.queue.append(occurrence)
        if effects:
            self._queue_moves(change, effects)
        self._settle(change)
        self._commit(slot, change)
        return effects

    def _queue_moves(self, change: _Change, effects: Iterable[Effect]) -> None:
        listened = self._left_listened
        for effect in effects:
            if isinstance(effect, Transitioned):
                change.moves.append(effect)
                if effect.source is not None and effect.source in listened:
                    change.queue.append(("left", effect.source, None))
                change.queue.append(("entered", effect.dest, None))

    def _commit(self, slot: _Slot, change: _Change) -> None:
        slot.lead = change.lead
        if change.dirty:
            slot.obligations = tuple(change.obligations)
        if change.timers:
            timers = self._timers
            for timer in change.timers:
                heapq.heappush(timers, timer)
        if change.moves:
            tallied = self._tallied
            if any(move.dest in tallied for move in change.moves):
                tally = self._tally
                before = change.before.history if change.before is not None else ()
                tally.replace(tally.of(before), tally.of(change.lead.history))

    # -- obligations --------------------------------------------------------------------------

    def _settle(self, change: _Change) -> None:
        """Let the lead's obligations react to every queued occurrence, and to conditions."""
        queue = change.queue
        if not change.moves and not self._watch_conditions:
            starters = self._starters
            for occurrence in queue:
                if (occurrence[0], occurrence[1]) in starters:
                    break
            else:
                for state in change.obligations:
                    if state.status in _WAITING:
                        break
                else:
                    queue.clear()  # nothing is running and nothing can start: nothing to do
                    return
        rounds = 0
        position = 0
        while position < len(queue):
            rounds += 1
            if rounds > 200:
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
            self._react(change, occurrence)
        queue.clear()
        if self._watch_conditions:
            self._react_to_conditions(change)

    def _scope(self, lead: Lead, at: datetime) -> Scope:
        return self.workflow.scope(lead, at)

    def _matches(
        self,
        when: When | None,
        occurrence: tuple[str, str, ActivityLogged | None],
        change: _Change,
        party: str,
    ) -> bool:
        if when is None or when.only_condition:
            return False
        kind, value, activity = occurrence
        hit = (
            (kind == "entered" and value in when.states)
            or (kind == "left" and value in when.leaving)
            or (kind == "event" and value in when.events)
            or (
                kind == "event"
                and activity is not None
                and when.activity is not None
                and self._activity_matches(when.activity, activity, change.lead, party)
            )
        )
        if hit and when.condition is not None:
            scope = self._scope(change.lead, change.at)
            hit = when.condition.compile(self.workflow.terms.names)(scope)
        return hit

    def _activity_matches(
        self, match: ActivityMatch, activity: ActivityLogged, lead: Lead, party: str
    ) -> bool:
        if match.kinds and activity.kind not in match.kinds:
            return False
        if match.outcomes and activity.outcome not in match.outcomes:
            return False
        if match.by == "owner":
            owner = lead.owner
            return owner is not None and activity.by == owner.person
        if match.by == "party":
            people = self._party_people.get(party)
            return people is not None and activity.by in people
        return True

    def _react(self, change: _Change, occurrence: tuple[str, str, ActivityLogged | None]) -> None:
        specs = self.agreement.obligations
        kind, value, activity = occurrence
        key = (kind, value)
        affects = self._affects
        spec_index_of = self._spec_index
        # Met, counted, cancelled, paused or resumed: the clocks already running.
        for index in range(len(change.obligations)):
            state = change.obligations[index]
            if state.status not in _WAITING:
                continue
            spec_index = spec_index_of[state.name]
            if key not in affects[spec_index]:
                continue
            spec = specs[spec_index]
            if spec.attempts is not None and activity is not None and state.waiting:
                attempts = spec.attempts
                if attempts.reached is not None and self._activity_matches(
                    attempts.reached, activity, change.lead, spec.party
                ):
                    self._meet(change, index, spec, f"reached: {_describe_activity(activity)}")
                    continue
                if self._activity_matches(attempts.counts, activity, change.lead, spec.party):
                    counted = tuple.__new__(
                        ObligationState, (*state[:9], state.attempts + 1, *state[10:])
                    )
                    change.dirty = True
                    change.obligations[index] = counted
                    if counted.attempts >= attempts.count:
                        self._meet(
                            change,
                            index,
                            spec,
                            f"{counted.attempts} attempts made without reaching the lead",
                            extra=attempts.on_exhausted,
                        )
                    continue
            if self._matches(spec.met, occurrence, change, spec.party):
                self._meet(change, index, spec, _describe_occurrence(occurrence))
                continue
            state = change.obligations[index]
            if state.status != "open":
                continue
            if self._cancels(spec, occurrence, change):
                self._cancel(change, index, _describe_occurrence(occurrence))
                continue
            if spec.pause is not None and spec.pause.states and kind in ("entered", "left"):
                self._pause_or_resume(change, index, spec)
        # New clocks.
        for spec_index in self._starters.get(key, ()):
            spec = specs[spec_index]
            if self._matches(spec.starts, occurrence, change, spec.party):
                self._open(change, spec_index, spec)

    def _cancels(
        self,
        spec: ObligationSpec,
        occurrence: tuple[str, str, ActivityLogged | None],
        change: _Change,
    ) -> bool:
        if self._matches(spec.cancelled, occurrence, change, spec.party):
            return True
        kind, value, _ = occurrence
        if kind != "entered":
            return False
        # A team's obligation ends when the lead is no longer the team's: it enters a terminal
        # state, or a state another team owns.
        state = self.workflow.lifecycle.state(value)
        return state.terminal or state.owner != spec.party

    def _react_to_conditions(self, change: _Change) -> None:
        if not self._watch_conditions:
            return
        specs = self.agreement.obligations
        terms = self.workflow.terms.names
        after = self._scope(change.lead, change.at)
        before = (
            self._scope(change.before, change.at)
            if change.before is not None
            else Scope({}, change.at, None, None, None, self.workflow.terms.evaluators())
        )
        for index in range(len(change.obligations)):
            state = change.obligations[index]
            if not state.waiting:
                continue
            spec = specs[self._spec_index[state.name]]
            met = spec.met
            if (
                met is not None
                and met.only_condition
                and met.condition is not None
                and met.condition.compile(terms)(after)
            ):
                self._meet(change, index, spec, f"{met.condition} holds")
                continue
            if state.status != "open":
                continue
            cancelled = spec.cancelled
            if (
                cancelled is not None
                and cancelled.only_condition
                and cancelled.condition is not None
            ):
                condition = cancelled.condition.compile(terms)
                if condition(after) and not condition(before):
                    self._cancel(change, index, f"{cancelled.condition} holds")
                    continue
            if spec.pause is not None:
                self._pause_or_resume(change, index, spec)
        for spec_index, spec in enumerate(specs):
            starts = spec.starts
            if starts.only_condition and starts.condition is not None:
                condition = starts.condition.compile(terms)
                if condition(after) and not condition(before):
                    self._open(change, spec_index, spec)

    def _open(self, change: _Change, spec_index: int, spec: ObligationSpec) -> None:
        number = 0
        for existing in change.obligations:
            if existing.name == spec.name:
                if existing.status == "open":
                    return  # one clock at a time: a running clock keeps its earlier deadline
                number = max(number, existing.number)
        at = change.at
        due_us = self._deadline[spec_index](change.at_us)
        due_at = _moment(due_us, at)
        lead_id = change.lead.id
        state = _new_clock(spec.name, lead_id, number + 1, spec.party, at, due_at)
        change.obligations.append(state)
        change.dirty = True
        change.effects.append(
            new_obligation_opened(lead_id, at, spec.name, number + 1, spec.party, due_at)
        )
        if spec.pause is not None:
            self._pause_or_resume(change, len(change.obligations) - 1, spec)
            state = change.obligations[-1]
        self._schedule(change, len(change.obligations) - 1, state, due_us, change.at_us)

    def _meet(
        self,
        change: _Change,
        index: int,
        spec: ObligationSpec,
        outcome: str,
        extra: tuple[ObligationAction, ...] = (),
    ) -> None:
        state = change.obligations[index]
        at = change.at
        late = state.status == "breached"
        lateness = None
        if late:
            lateness = self._calendars[self._spec_index[spec.name]].elapsed(state.due_at, at)
        pauses = state.pauses
        if state.paused_since is not None:
            pauses = (*pauses, (state.paused_since, at))
        ending = state.ending
        met = tuple.__new__(
            ObligationState,
            (
                *state[:4],
                "met_late" if late else "met",
                state.opened_at,
                state.due_at,
                None,
                pauses,
                state.attempts,
                state.warned,
                outcome,
                state.version + 1,
                tuple.__new__(
                    Ending,
                    (
                        at,
                        ending.breached_at if ending else None,
                        None,
                        lateness,
                        ending.breach_owner if ending else None,
                    ),
                ),
            ),
        )
        change.dirty = True
        change.obligations[index] = met
        change.effects.append(
            new_obligation_met(change.lead.id, at, spec.name, state.number, outcome, late, lateness)
        )
        for action in (*spec.on_met, *extra):
            self._act(change, spec, action, f"obligation {spec.name} met")
        if spec.repeat and change.lead.state in spec.starts.states:
            self._open(change, self._spec_index[spec.name], spec)

    def _breach(self, change: _Change, index: int, spec: ObligationSpec) -> None:
        state = change.obligations[index]
        owner = change.lead.owner_at(state.due_at) or change.lead.owner
        change.dirty = True
        change.obligations[index] = state.replace(
            status="breached",
            breached_at=state.due_at,
            breach_owner=owner,
            version=state.version + 1,
        )
        change.effects.append(
            ObligationBreached(
                change.lead.id, state.due_at, spec.name, state.number, state.due_at, owner
            )
        )
        for action in spec.on_breach:
            self._act(change, spec, action, f"obligation {spec.name} breached")

    def _cancel(self, change: _Change, index: int, reason: str) -> None:
        state = change.obligations[index]
        pauses = state.pauses
        if state.paused_since is not None:
            pauses = (*pauses, (state.paused_since, change.at))
        change.dirty = True
        change.obligations[index] = state.replace(
            status="cancelled",
            cancelled_at=change.at,
            paused_since=None,
            pauses=pauses,
            outcome=reason,
            version=state.version + 1,
        )
        change.effects.append(
            ObligationCancelled(change.lead.id, change.at, state.name, state.number, reason)
        )

    def _pause_or_resume(self, change: _Change, index: int, spec: ObligationSpec) -> None:
        assert spec.pause is not None
        state = change.obligations[index]
        if state.status != "open":
            return
        should_pause = change.lead.state in spec.pause.states
        if not should_pause and spec.pause.condition is not None:
            scope = self._scope(change.lead, change.at)
            should_pause = spec.pause.condition.compile(self.workflow.terms.names)(scope)
        at = change.at
        if should_pause and state.paused_since is None:
            change.dirty = True
            change.obligations[index] = state.replace(paused_since=at, version=state.version + 1)
            change.effects.append(ObligationPaused(change.lead.id, at, state.name, state.number))
        elif not should_pause and state.paused_since is not None:
            calendar = self._calendars[self._spec_index[spec.name]]
            stood_still = calendar.elapsed(state.paused_since, at)
            due = calendar.add(state.due_at, stood_still) if stood_still else state.due_at
            resumed = state.replace(
                paused_since=None,
                pauses=(*state.pauses, (state.paused_since, at)),
                due_at=due,
                version=state.version + 1,
            )
            change.dirty = True
            change.obligations[index] = resumed
            change.effects.append(
                ObligationResumed(change.lead.id, at, state.name, state.number, due)
            )
            self._schedule(change, index, resumed)

    def _act(
        self, change: _Change, spec: ObligationSpec, action: ObligationAction, cause: str
    ) -> None:
        lead = change.lead
        if isinstance(action, Escalate):
            to = action.to
            if to == "manager":
                team = self.agreement.team(spec.party)
                to = (
                    team.manager
                    if team is not None and team.manager
                    else f"manager of {spec.party}"
                )
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
        try:
            step = self.workflow.perform(lead, action, change.at, cause=cause, book=self._book)
        except (InvalidTransition, RuleLoopError) as error:
            change.effects.append(
                ActionSkipped(lead.id, change.at, cause, _describe_action(action), str(error))
            )
            return
        change.lead = step.lead
        change.effects.extend(step.effects)
        self._queue_moves(change, step.effects)


def _new_clock(
    name: str, lead: str, number: int, party: str, opened_at: datetime, due_at: datetime
) -> ObligationState:
    """A running clock (what ``ObligationState(...)`` gives, without the keyword handling)."""
    return tuple.__new__(
        ObligationState,
        (name, lead, number, party, "open", opened_at, due_at, None, (), 0, 0, None, 0, None),
    )


def _any_waiting(obligations: tuple[ObligationState, ...]) -> bool:
    """Whether any clock is open or breached (an occurrence can still change it)."""
    for state in obligations:  # noqa: SIM110 - a loop, not any(): no generator per event
        if state.status in _WAITING:
            return True
    return False


def _position(history: tuple[Transitioned, ...], entry: Transitioned) -> int:
    """Where ``entry`` is in ``history``: nearly always at the end, so look from there."""
    for position in range(len(history) - 1, -1, -1):
        if history[position] is entry:
            return position
    return history.index(entry)


def _describe_action(action: ObligationAction) -> str:
    return action.describe() if hasattr(action, "describe") else type(action).__name__


def _describe_activity(activity: ActivityLogged) -> str:
    text = activity.kind
    if activity.outcome:
        text += f" ({activity.outcome})"
    if activity.by:
        text += f" by {activity.by}"
    return text


def _describe_occurrence(occurrence: tuple[str, str, ActivityLogged | None]) -> str:
    kind, value, activity = occurrence
    if kind == "entered":
        return f"entered {value}"
    if kind == "left":
        return f"left {value}"
    if activity is not None:
        return _describe_activity(activity)
    return value.replace("_", " ")


def _aware(moment: object, name: str) -> None:
    if not isinstance(moment, datetime):
        raise LeadSLAError(
            Problem(name, moment, "must be a datetime", "pass a timezone-aware datetime")
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError.for_field(name, moment)
