"""What happened to a lead, and what it does to the lead's obligation clocks.

Theory of operation
===================

An *occurrence* is one thing that happened to a lead, as obligations see it: the lead entered
a state, left a state, or an event of some kind reached it (created, fields updated, an
activity, an assignment). The engine turns every input into occurrences, in order: the event
itself, then each move it caused (leaving the old state, entering the new one).

:class:`Watch` answers, for one agreement, which occurrence does what to which clock:

* :meth:`Watch.starting` and :meth:`Watch.opens`: which obligations an occurrence starts;
* :meth:`Watch.reactions`: what it does to a clock already running: meet it, count an attempt
  (and meet it when the attempts are used up), cancel it, pause or resume it;
* :meth:`Watch.condition_reactions` and :meth:`Watch.condition_starts`: what conditions that
  *became* true after an input do (obligations that watch a condition rather than an
  occurrence).

The answers are :class:`Reaction` values; the engine applies them to the clocks through the
transition table of :mod:`leadsla._core.clocks`, in order. Nothing here changes anything.

How an occurrence matches a ``When`` (an obligation's ``starts``, ``met`` or ``cancelled``):
one of its ``states`` is entered, one of its ``leaving`` states is left, or one of its
``events`` happens (an activity filtered by its ``activity`` match); if it has a
``condition``, the condition must hold too, on the lead as it is after the input. A clock of a
team's obligation is also cancelled when the lead enters a terminal state or a state another
team owns: the lead is no longer the team's to serve.

Most occurrences concern few obligations, so :class:`Watch` indexes, once per agreement, which
occurrences can start each obligation and which can change a running clock of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Final, Literal, NamedTuple

from leadsla._core.agreement import Agreement
from leadsla._core.clocks import Happening, ObligationState
from leadsla._core.conditions import Scope
from leadsla._core.events import ActivityLogged
from leadsla._core.lead import Lead
from leadsla._core.obligations import ActivityMatch, ObligationAction, ObligationSpec, When
from leadsla._core.rules import EVENT_KINDS
from leadsla._core.workflow import Workflow

__all__ = ["Occurrence", "Reaction", "Watch"]

_NO_ACTIONS: Final[tuple[ObligationAction, ...]] = ()


class Occurrence(NamedTuple):
    """One thing that happened to a lead: ``("entered", state)``, ``("left", state)`` or
    ``("event", kind)``, with the activity for an activity event. ``key`` is
    ``(kind, value)``, made once: what the indexes below are keyed by."""

    kind: Literal["entered", "left", "event"]
    value: str
    activity: ActivityLogged | None
    key: tuple[str, str]

    def describe(self) -> str:
        """In words, for a clock's outcome: ``entered sal``, ``call (connected) by bob``."""
        if self.kind == "entered":
            return f"entered {self.value}"
        if self.kind == "left":
            return f"left {self.value}"
        if self.activity is not None:
            return describe_activity(self.activity)
        return self.value.replace("_", " ")


#: What an occurrence does to a clock: ``(happening, outcome, actions)``: a happening of the
#: clocks' table, why (for ``met`` and ``cancelled``), and the actions it adds to the spec's
#: own (attempts used up). A plain tuple: several are made for nearly every input.
Reaction = tuple[Happening, str, tuple[ObligationAction, ...]]


_COUNTED: Final[Reaction] = ("counted", "", _NO_ACTIONS)
_PAUSED: Final[Reaction] = ("paused", "", _NO_ACTIONS)
_RESUMED: Final[Reaction] = ("resumed", "", _NO_ACTIONS)
_ACTIVITY: Final = ("event", "activity")
#: How many activities' descriptions a watch keeps to share (kind, outcome and person).
_MAX_TEXTS: Final = 1 << 12


def _occurrence(kind: Literal["entered", "left", "event"], value: str) -> Occurrence:
    return Occurrence(kind, value, None, (kind, value))


def describe_activity(activity: ActivityLogged) -> str:
    """``call (connected) by bob``."""
    text = activity.kind
    if activity.outcome:
        text += f" ({activity.outcome})"
    if activity.by:
        text += f" by {activity.by}"
    return text


class Watch:
    """The occurrences each obligation of an agreement listens to (see the module's doc)."""

    __slots__ = (
        "_activity_texts",
        "_party_people",
        "_texts",
        "_workflow",
        "affects",
        "entered",
        "events",
        "left",
        "left_listened",
        "quiet_updates",
        "specs",
        "starters",
        "watches_conditions",
    )

    def __init__(self, agreement: Agreement) -> None:
        self.specs = agreement.obligations
        self._workflow: Workflow = agreement.workflow
        lifecycle = agreement.lifecycle
        # Every occurrence but an activity, made once.
        #: The occurrence of entering each state, and of leaving it.
        self.entered = {name: _occurrence("entered", name) for name in lifecycle.state_names}
        self.left = {name: _occurrence("left", name) for name in lifecycle.state_names}
        #: The occurrence of each kind of event (an activity's carries the activity instead).
        self.events = {kind: _occurrence("event", kind) for kind in EVENT_KINDS}
        #: Which obligations (by position) each occurrence key can start.
        self.starters: dict[tuple[str, str], tuple[int, ...]] = {}
        for index, spec in enumerate(self.specs):
            for key in dict.fromkeys(_keys(spec.starts)):
                self.starters[key] = (*self.starters.get(key, ()), index)
        # Which occurrences can change a running clock of each obligation: any other passes it.
        #: For each obligation (by position), the occurrence keys that can change a running
        #: clock of it: any other occurrence passes it by.
        self.affects: list[frozenset[tuple[str, str]]] = []
        for spec in self.specs:
            affects = {key for when in (spec.met, spec.cancelled) for key in _keys(when)}
            if spec.attempts is not None:
                affects.add(("event", "activity"))
            for name in lifecycle.state_names:
                state = lifecycle.state(name)
                if state.terminal or state.owner != spec.party:
                    affects.add(("entered", name))
                if spec.pause is not None and spec.pause.states:
                    affects.update((("entered", name), ("left", name)))
            self.affects.append(frozenset(affects))
        # One tuple object per key, the occurrences' own: a set lookup then finds its key by
        # identity, without comparing two equal tuples item by item (several per event).
        canonical: dict[tuple[str, str], tuple[str, str]] = {_ACTIVITY: _ACTIVITY}
        for made in (self.entered, self.left, self.events):
            for occurrence in made.values():
                canonical.setdefault(occurrence.key, occurrence.key)
        self.starters = {canonical.setdefault(k, k): v for k, v in self.starters.items()}
        self.affects = [frozenset(canonical.setdefault(k, k) for k in a) for a in self.affects]
        #: Whether any obligation watches a condition after every input (most agreements: no).
        self.watches_conditions = any(
            (when is not None and when.only_condition and when.condition is not None)
            for spec in self.specs
            for when in (spec.met, spec.cancelled, spec.starts)
        ) or any(spec.pause is not None and spec.pause.condition is not None for spec in self.specs)
        #: Whether a field update that moves nothing can pass by every lead without a waiting
        #: clock: no obligation starts on an update or watches a condition.
        self.quiet_updates = (
            not self.watches_conditions and ("event", "lead_updated") not in self.starters
        )
        #: The states whose leaving some obligation listens to (most moves need no "left").
        self.left_listened = frozenset(
            state
            for spec in self.specs
            for when in (spec.starts, spec.met, spec.cancelled)
            if when is not None
            for state in when.leaving
        ) | frozenset(
            state for spec in self.specs if spec.pause is not None for state in spec.pause.states
        )
        # Their descriptions, made once: a clock met or cancelled by one keeps a shared string.
        self._texts = {
            occurrence.key: occurrence.describe()
            for made in (self.entered, self.left, self.events)
            for occurrence in made.values()
        }
        self._activity_texts: dict[tuple[str, str | None, str | None], str] = {}
        # Who counts as "the party" for activities: each team's members and manager.
        self._party_people = {
            team.name: frozenset((*team.members, *([team.manager] if team.manager else [])))
            for team in agreement.teams
        }

    # -- occurrences ----------------------------------------------------------------------------

    def activity(self, activity: ActivityLogged) -> Occurrence:
        """The occurrence of an activity logged."""
        return Occurrence("event", "activity", activity, _ACTIVITY)

    def starting(self, occurrence: Occurrence) -> tuple[int, ...]:
        """The obligations (by position) that ``occurrence`` may start; :meth:`opens` decides."""
        return self.starters.get(occurrence.key, ())

    def can_start(self, occurrence: Occurrence) -> bool:
        return occurrence.key in self.starters

    def opens(self, spec: ObligationSpec, occurrence: Occurrence, lead: Lead, at: datetime) -> bool:
        """Whether ``occurrence`` starts a clock of ``spec`` on ``lead``."""
        return self._matches(spec.starts, occurrence, lead, at, spec.party)

    def reactions(
        self,
        index: int,
        clock: ObligationState,
        occurrence: Occurrence,
        lead: Lead,
        at: datetime,
    ) -> tuple[Reaction, ...]:
        """What ``occurrence`` does to ``clock`` (of the obligation at position ``index``):
        nothing, one reaction, or an attempt counted then the clock met (attempts used up).
        (Callers may skip the call when ``occurrence.key`` is not in ``affects[index]``.)"""
        if occurrence.key not in self.affects[index]:
            return ()
        spec = self.specs[index]
        activity = occurrence.activity
        attempts = spec.attempts
        if attempts is not None and activity is not None:
            if attempts.reached is not None and self._activity_matches(
                attempts.reached, activity, lead, spec.party
            ):
                return (("met", f"reached: {describe_activity(activity)}", _NO_ACTIONS),)
            if self._activity_matches(attempts.counts, activity, lead, spec.party):
                made = clock.attempts + 1
                if made < attempts.count:
                    return (_COUNTED,)
                outcome = f"{made} attempts made without reaching the lead"
                return (_COUNTED, ("met", outcome, attempts.on_exhausted))
        if self._matches(spec.met, occurrence, lead, at, spec.party):
            return (("met", self._describe(occurrence), _NO_ACTIONS),)
        if not clock.is_open:
            return ()  # a breached clock waits to be met; nothing else changes it
        if self._cancels(spec, occurrence, lead, at):
            return (("cancelled", self._describe(occurrence), _NO_ACTIONS),)
        if spec.pause is not None and spec.pause.states and occurrence.kind != "event":
            pause = self.pause_reaction(spec, clock, lead, at)
            if pause is not None:
                return (pause,)
        return ()

    def _describe(self, occurrence: Occurrence) -> str:
        """``occurrence.describe()``, one shared string per distinct description (for
        activities, up to ``_MAX_TEXTS`` of them): each clock met keeps its outcome."""
        activity = occurrence.activity
        if activity is None:
            text = self._texts.get(occurrence.key)
            return text if text is not None else occurrence.describe()
        key = (activity.kind, activity.outcome, activity.by)
        text = self._activity_texts.get(key)
        if text is None:
            text = describe_activity(activity)
            if len(self._activity_texts) < _MAX_TEXTS:
                self._activity_texts[key] = text
        return text

    def pause_reaction(
        self, spec: ObligationSpec, clock: ObligationState, lead: Lead, at: datetime
    ) -> Reaction | None:
        """Pause a running clock whose pause holds now, resume a paused one whose pause ended."""
        pause = spec.pause
        if pause is None or not clock.is_open:
            return None
        should_pause = lead.state in pause.states
        if not should_pause and pause.condition is not None:
            scope = self._workflow.scope(lead, at)
            should_pause = pause.condition.compile(self._workflow.terms.names)(scope)
        if should_pause and not clock.is_paused:
            return _PAUSED
        if not should_pause and clock.is_paused:
            return _RESUMED
        return None

    # -- conditions that became true ----------------------------------------------------------

    def condition_reactions(
        self,
        spec: ObligationSpec,
        clock: ObligationState,
        lead: Lead,
        before: Scope,
        after: Scope,
        at: datetime,
    ) -> Reaction | None:
        """What conditions do to a waiting clock once an input has been applied: a ``met``
        condition that holds meets it; a ``cancelled`` condition that became true cancels it;
        a pause condition pauses or resumes it."""
        terms = self._workflow.terms.names
        met = spec.met
        if (
            met is not None
            and met.only_condition
            and met.condition is not None
            and met.condition.compile(terms)(after)
        ):
            return ("met", f"{met.condition} holds", _NO_ACTIONS)
        if not clock.is_open:
            return None
        cancelled = spec.cancelled
        if cancelled is not None and cancelled.only_condition and cancelled.condition is not None:
            holds = cancelled.condition.compile(terms)
            if holds(after) and not holds(before):
                return ("cancelled", f"{cancelled.condition} holds", _NO_ACTIONS)
        return self.pause_reaction(spec, clock, lead, at)

    def condition_starts(self, before: Scope, after: Scope) -> Iterator[int]:
        """The obligations (by position) whose starting condition became true."""
        terms = self._workflow.terms.names
        for index, spec in enumerate(self.specs):
            starts = spec.starts
            if starts.only_condition and starts.condition is not None:
                holds = starts.condition.compile(terms)
                if holds(after) and not holds(before):
                    yield index

    # -- matching -------------------------------------------------------------------------------

    def _matches(
        self,
        when: When | None,
        occurrence: Occurrence,
        lead: Lead,
        at: datetime,
        party: str,
    ) -> bool:
        if when is None or when.only_condition:
            return False
        kind, value, activity, _ = occurrence
        hit = (
            (kind == "entered" and value in when.states)
            or (kind == "left" and value in when.leaving)
            or (kind == "event" and value in when.events)
            or (
                kind == "event"
                and activity is not None
                and when.activity is not None
                and self._activity_matches(when.activity, activity, lead, party)
            )
        )
        if hit and when.condition is not None:
            scope = self._workflow.scope(lead, at)
            hit = when.condition.compile(self._workflow.terms.names)(scope)
        return hit

    def _cancels(
        self, spec: ObligationSpec, occurrence: Occurrence, lead: Lead, at: datetime
    ) -> bool:
        if self._matches(spec.cancelled, occurrence, lead, at, spec.party):
            return True
        if occurrence.kind != "entered":
            return False
        state = self._workflow.lifecycle.state(occurrence.value)
        return state.terminal or state.owner != spec.party

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


def _keys(when: When | None) -> Sequence[tuple[str, str]]:
    """The occurrences a ``When`` names (its condition aside)."""
    if when is None:
        return ()
    keys = [
        *(("entered", state) for state in when.states),
        *(("left", state) for state in when.leaving),
        *(("event", kind) for kind in when.events),
    ]
    if when.activity is not None:
        keys.append(("event", "activity"))
    return keys
