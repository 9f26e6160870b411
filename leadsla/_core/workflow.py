"""Per-lead decisions: one lead record and one input in, a new record and its effects out.

Theory of operation
===================

A :class:`Workflow` puts the lifecycle, the terms, the rules and the teams together and answers,
for one lead at a time, what happens when the lead is created, its fields change, a trigger is
requested, it is assigned, or an activity is logged. Each call is a pure function of the lead
record, the input and the workflow: it returns a :class:`Step` (the new record and the effects,
in order) or raises a typed error and leaves the record as it was. Timers, obligations,
idempotency and storage belong to the engine around it.

One call goes like this:

1. the input is checked (a trigger must exist, leave the lead's state, carry a reason when the
   transition requires one, and pass its guard);
2. the change is applied: a move appends a history entry, updates the highest stage reached and,
   when the new state belongs to another team, closes the ownership interval and opens one for
   the person the team gives it (a sticky team's earlier owner, else the policy's pick among
   those available: see :func:`leadsla._core.ownership.choose`);
3. the rules run for the input's kind (see :mod:`leadsla._core.rules` for the conflict policy), and
   again for ``transitioned`` after each pass that moved the lead.

Effects come out in the order they were decided: ``Transitioned`` before the ``OwnerChanged``
it causes, a rule's ``RuleFired`` before the effects of its actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from leadsla._core.calendar import BusinessCalendar
from leadsla._core.conditions import (
    RESERVED_NAMES,
    Condition,
    Explanation,
    FieldType,
    Scope,
    Terms,
    field_checker,
)
from leadsla._core.effects import (
    ActionRequested,
    ActionSkipped,
    Effect,
    RuleFired,
    Tagged,
    new_owner_changed,
    new_rule_fired,
    new_transitioned,
)
from leadsla._core.errors import (
    InvalidTransition,
    NaiveDatetimeError,
    Problem,
    RuleLoopError,
    WorkflowError,
    unknown,
)
from leadsla._core.lead import Lead, frozen_fields, new_lead
from leadsla._core.lifecycle import Lifecycle, State, Transition
from leadsla._core.machine import LifecycleMachine
from leadsla._core.ownership import (
    AssignmentRequest,
    BookDraft,
    Owner,
    OwnershipInterval,
    Person,
    Team,
    choose,
    new_interval,
)
from leadsla._core.rules import (
    EVENT_KINDS,
    MAX_CASCADE,
    AddTag,
    Assign,
    Fire,
    Notify,
    RemoveTag,
    Rule,
    RuleSet,
)

__all__ = ["Step", "Workflow"]


_NO_TAGS: frozenset[str] = frozenset()
_NO_CALENDARS: Final[Mapping[str, BusinessCalendar]] = MappingProxyType({})
new_scope: Final = Scope.of
_NO_FACTS: Final[dict[str, tuple[Transition, State, str | None]]] = {}


class Step(NamedTuple):
    """The outcome of one input: the lead's new record and the effects, in order.

    It unpacks: ``lead, effects = workflow.fire(...)``.
    """

    lead: Lead
    effects: tuple[Effect, ...]


# One is made for nearly every input: built by position straight through ``tuple.__new__``
# (a C call), not through the named tuple's generated ``__new__`` (a Python frame).
_new_step: Callable[[tuple[Lead, tuple[Effect, ...]]], Step] = partial(tuple.__new__, Step)
_new_request: Callable[[tuple[Any, ...]], AssignmentRequest] = partial(
    tuple.__new__, AssignmentRequest
)
assert AssignmentRequest._fields == (
    "lead_id",
    "team",
    "fields",
    "state",
    "at",
    "previous",
    "sequence",
    "loads",
    "terms",
    "reassign",
    "people",
    "calendars",
), "Workflow._pick builds requests by position"


def _check_instant(at: object) -> None:
    if type(at) is datetime and at.tzinfo is not None:
        return
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        if isinstance(at, datetime):
            raise NaiveDatetimeError.for_field("at", at)
        raise WorkflowError(
            Problem("at", at, "must be a datetime", "pass a timezone-aware datetime")
        )


class Workflow:
    """The per-lead decision function of an agreement (see the module's documentation)."""

    __slots__ = (
        "_allowed",
        "_calendars",
        "_entered",
        "_evaluators",
        "_facts",
        "_field_check",
        "_guards",
        "_machine",
        "_owners",
        "_people",
        "_phrases",
        "_reacting",
        "_rules",
        "_stages",
        "_team_of_person",
        "_teams",
        "field_types",
        "lifecycle",
        "order_dependent",
        "rules",
        "teams",
        "terms",
    )

    def __init__(
        self,
        *,
        lifecycle: Lifecycle | None = None,
        terms: Terms | Iterable[Any] = (),
        teams: Iterable[Team] = (),
        rules: RuleSet | Iterable[Rule] = (),
        field_types: Mapping[str, FieldType] | None = None,
        people: Iterable[Person] = (),
        calendar_of: Callable[[str, str], BusinessCalendar | None] | None = None,
    ) -> None:
        """``people`` say when each person is away and their capacity; ``calendar_of(person,
        team)`` gives the calendar a person works by in a team (None: not known), for
        policies that assign by working hours."""
        self.lifecycle = lifecycle if lifecycle is not None else Lifecycle.default()
        #: The type of each lead field an event may set; fields not named take any value.
        self.field_types: Mapping[str, FieldType] = dict(field_types or {})
        self._field_check = field_checker(self.field_types)
        self.terms = terms if isinstance(terms, Terms) else Terms(terms)
        self.teams = tuple(teams)
        self.rules = rules if isinstance(rules, RuleSet) else RuleSet(list(rules))
        self._teams = {team.name: team for team in self.teams}
        # Who may own a team's leads: its members and its manager.
        self._allowed = {
            team.name: frozenset((*team.members, *([team.manager] if team.manager else [])))
            for team in self.teams
        }
        self._team_of_person: dict[str, str] = {}
        for team in self.teams:
            for member in team.members:
                self._team_of_person.setdefault(member, team.name)
            if team.manager:
                self._team_of_person.setdefault(team.manager, team.name)
        # (Plain dicts, not read-only proxies: an agreement, and so its workflow, can be
        # deep-copied.)
        self._people: dict[str, Person] = {person.name: person for person in people}
        self._calendars: dict[str, dict[str, BusinessCalendar]] = {}
        if calendar_of is not None:
            for team in self.teams:
                found = {member: calendar_of(member, team.name) for member in team.members}
                self._calendars[team.name] = {
                    member: calendar for member, calendar in found.items() if calendar
                }
        capped = {name for name, person in self._people.items() if person.capacity is not None}
        #: The teams whose picks depend on other leads, with why: the engine keeps its
        #: assignment book for them, and a log using them replays in one ordered stream.
        self.order_dependent: Mapping[str, str] = {
            team.name: why
            for team in self.teams
            if (why := _order_dependence(team, capped)) is not None
        }
        problems = self._check()
        if problems:
            raise WorkflowError(*problems)
        names = self.terms.names
        self._guards = {
            id(transition): transition.guard.compile(names)
            for transition in self.lifecycle.transitions
            if transition.guard is not None
        }
        self._evaluators = self.terms.evaluators()
        # Texts repeated on every lead, made once: each lead's history points at the same
        # string instead of a fresh copy ("rule auto-qualify", "qualify: entered mql").
        self._entered = {
            (transition.trigger, dest): f"{transition.trigger}: entered {dest}"
            for transition in self.lifecycle.transitions
            for dest in (transition.dest,)
        }
        self._phrases: dict[str, str] = {}
        self._owners: dict[str, dict[str | None, Owner]] = {}  # by team, then person
        self._rules = tuple(
            (rule, rule.when.compile(names), _reads_position(rule.when, self.terms))
            for rule in self.rules.ordered
        )
        self._stages = {state.name: state.stage for state in self.lifecycle.states}
        # For each (event kind, state), the rules that may react, in order: most events meet
        # none, and then no scope is even built.
        # (Nested by kind, then state: two lookups by string cost less than making, hashing and
        # comparing a key tuple, several times per event.)
        self._reacting = {
            kind: {
                state: tuple(pair for pair in self._rules if pair[0].reacts_to(kind, state))
                for state in self.lifecycle.state_names
            }
            for kind in EVENT_KINDS
        }
        self._machine = LifecycleMachine(self.lifecycle, self._check_guard)
        # For each (state, trigger): the transition, its destination state and its guard's
        # label, looked up once per fire instead of computed.
        # (Nested by state, then trigger.)
        self._facts: dict[str, dict[str, tuple[Transition, State, str | None]]] = {}
        for transition in self.lifecycle.transitions:
            facts = (
                transition,
                self.lifecycle.state(transition.dest),
                self._guard_label(transition) if transition.guard is not None else None,
            )
            for source in transition.sources:
                self._facts.setdefault(source, {})[transition.trigger] = facts

    @classmethod
    def default(cls) -> Workflow:
        """The default agreement's lifecycle, terms, teams and rules (see the docs' page *The
        default agreement*)."""
        from leadsla._core.defaults import default_rules, default_teams, default_terms

        return cls(
            lifecycle=Lifecycle.default(),
            terms=default_terms(),
            teams=default_teams(),
            rules=default_rules(),
        )

    def _check(self) -> list[Problem]:
        problems: list[Problem] = []
        lifecycle = self.lifecycle
        for state in lifecycle.states:
            if self.teams and state.owner not in self._teams:
                problems.append(
                    unknown("team", state.owner, self._teams, f"states.{state.name}.owner")
                )
        triggers = set(lifecycle.triggers)
        state_names = set(lifecycle.state_names)
        for rule in self.rules.rules:
            where = f"rules.{rule.name}"
            for kind in rule.on:
                if kind not in (
                    "lead_created",
                    "lead_updated",
                    "activity",
                    "assign",
                    "transitioned",
                ):
                    problems.append(
                        unknown(
                            "event kind",
                            kind,
                            ("lead_created", "lead_updated", "activity", "assign", "transitioned"),
                            f"{where}.on",
                        )
                    )
            for name in rule.states:
                if name not in state_names:
                    problems.append(unknown("state", name, state_names, f"{where}.states"))
            for action in rule.then:
                if isinstance(action, Fire) and action.trigger not in triggers:
                    problems.append(unknown("trigger", action.trigger, triggers, f"{where}.then"))
                if (
                    isinstance(action, Assign)
                    and action.person is not None
                    and self.teams
                    and action.person not in self._team_of_person
                ):
                    problems.append(
                        unknown("person", action.person, self._team_of_person, f"{where}.then")
                    )
        return problems

    # -- helpers ------------------------------------------------------------------------------

    def scope(self, lead: Lead, at: datetime | None) -> Scope:
        """What conditions see for ``lead`` at ``at``."""
        if lead.ownership:
            owner = lead.ownership[-1].owner
            return new_scope(
                lead.fields, at, lead.state, owner.person, owner.team, self._evaluators
            )
        return new_scope(lead.fields, at, lead.state, None, None, self._evaluators)

    def explain(
        self, lead: Lead, condition: str | Condition, at: datetime | None = None
    ) -> Explanation:
        """Why a term (by name) or a condition holds for ``lead`` or not.

        >>> workflow = Workflow.default()
        >>> from datetime import datetime, timezone
        >>> lead = workflow.create("L-1", {"email": "a@b.fi", "score": 42},
        ...                        datetime(2026, 3, 2, tzinfo=timezone.utc)).lead
        >>> print(workflow.explain(lead, "mql"))
        mql: score >= 50 -> False (score = 42)
        """
        scope = self.scope(lead, at if at is not None else lead.updated_at)
        if isinstance(condition, str) and condition in self.terms:
            return self.terms.explain(condition, scope)
        parsed = condition if isinstance(condition, Condition) else Condition(condition)
        return parsed.explain_in(scope, self.terms)

    def _phrase(self, head: str, tail: str) -> str:
        """``head + tail``, one shared string per distinct value."""
        key = head + tail
        return self._phrases.setdefault(key, key)

    def _check_guard(self, transition: Transition, scope: Scope) -> bool:
        return self._guards[id(transition)](scope)

    def _guard_label(self, transition: Transition) -> str | None:
        assert transition.guard is not None
        return None if transition.guard.source in self.terms else f"{transition.trigger} guard"

    def _pick(
        self,
        team_name: str,
        lead_id: str,
        fields: Mapping[str, Any],
        state: str,
        at: datetime,
        previous: Owner | None,
        book: BookDraft | None,
        ownership: tuple[OwnershipInterval, ...] = (),
        *,
        reassign: bool = False,
    ) -> tuple[Owner, str | None]:
        """The owner the team gives the lead (the team itself without a policy), and a note
        for the ownership's reason, if any (see :func:`leadsla._core.ownership.choose`)."""
        team = self._teams.get(team_name)
        if team is None:
            return self._owner(team_name, None), None
        ordered = book is not None and team_name in self.order_dependent
        if ordered and book is not None and (pinned := book.pinned(team_name, at)) is not None:
            # Worked out again: the owner it gave, and why.
            book.pick(team_name, at, pinned.owner, pinned.note)
            return pinned.owner, pinned.note
        request = _new_request(  # AssignmentRequest's fields, in order
            (
                lead_id,
                team,
                fields,
                state,
                at,
                previous,
                book.sequence(team_name) if book else 0,
                book.loads if book else {},
                self._evaluators,
                reassign,
                self._people,
                self._calendars.get(team_name, _NO_CALENDARS),
            )
        )
        person, note = choose(request, ownership)
        if person is not None and person not in self._allowed[team_name]:
            shown = person if isinstance(person, str) else type(person).__name__
            raise WorkflowError(
                Problem(
                    f"teams.{team_name}.assignment",
                    shown,
                    f"is not a member of team {team_name!r}, so it cannot own the lead: "
                    f"the team's policy ({type(team.policy).__name__}) named it",
                    "make the policy return one of request.candidates, or None for the team",
                )
            )
        owner = self._owner(team_name, person if isinstance(person, str) else None)
        if book is not None:
            book.gave(team_name)
            if ordered:
                book.pick(team_name, at, owner, note)
        return owner, note

    def _owner(self, team: str, person: str | None) -> Owner:
        """One shared Owner value per (team, person): leads point at it rather than copy it."""
        people = self._owners.get(team)
        if people is None:
            people = self._owners[team] = {}
        owner = people.get(person)
        if owner is None:
            owner = people[person] = Owner(team, person)
        return owner

    def _hand_over(
        self,
        ownership: tuple[OwnershipInterval, ...],
        lead_id: str,
        owner: Owner,
        at: datetime,
        reason: str,
        effects: list[Effect],
        book: BookDraft | None,
    ) -> tuple[OwnershipInterval, ...]:
        """The ownership intervals once ``owner`` has the lead from ``at`` (unchanged when
        they already have it); the ``OwnerChanged`` effect goes to ``effects``."""
        previous = ownership[-1].owner if ownership else None
        if previous is owner or previous == owner:
            return ownership
        if ownership:
            last = ownership[-1]
            closed = new_interval(last.owner, last.start, at, last.reason)
            ownership = (*ownership[:-1], closed)
            # An interval that would be empty (two hand-overs at one instant) is replaced.
            if _same_instant(closed.start, at):
                ownership = ownership[:-1]
        ownership = (*ownership, new_interval(owner, at, None, reason))
        if book is not None:
            if previous is not None and previous.person is not None:
                book.load(previous.person, -1)
            if owner.person is not None:
                book.load(owner.person, +1)
        effects.append(new_owner_changed(lead_id, at, previous, owner, reason))
        return ownership

    # -- the steps ------------------------------------------------------------------------------

    def create(
        self,
        lead_id: str,
        fields: Mapping[str, Any],
        at: datetime,
        *,
        by: str | None = None,
        book: BookDraft | None = None,
    ) -> Step:
        """A new lead in the initial state, owned by the initial state's team; then the rules
        for ``lead_created`` run."""
        if type(at) is not datetime or at.tzinfo is None:  # the engine's are checked
            _check_instant(at)
        if not isinstance(lead_id, str) or not lead_id:
            raise WorkflowError(
                Problem("lead", lead_id, "must be a non-empty string", "give the lead an id")
            )
        self._check_values(fields)
        fields = frozen_fields(fields)
        effects: list[Effect] = []
        initial = self.lifecycle.initial
        state = self.lifecycle.state(initial)
        cause = self._phrase("created by ", by) if by else "created"
        created = new_transitioned(lead_id, at, None, initial, None, by, None, cause, ())
        effects.append(created)
        owner, note = self._pick(state.owner, lead_id, fields, initial, at, None, book)
        why = "created" if note is None else f"created ({note})"
        ownership = self._hand_over((), lead_id, owner, at, why, effects, book)
        lead = new_lead(
            lead_id,
            fields,
            initial,
            initial if state.stage is not None else None,
            (created,),
            ownership,
            _NO_TAGS,
            at,
            (),
        )
        lead = self._run_rules(lead, "lead_created", at, effects, book)
        return _new_step((lead, tuple(effects)))

    def update(
        self,
        lead: Lead,
        changes: Mapping[str, Any],
        at: datetime,
        *,
        by: str | None = None,
        book: BookDraft | None = None,
    ) -> Step:
        """New field values (``None`` makes a field missing); then the rules for
        ``lead_updated`` run."""
        if type(at) is not datetime or at.tzinfo is None:  # the engine's are checked
            _check_instant(at)
        problems = self._field_check(changes)
        if problems:
            raise WorkflowError(*problems)
        current = lead.fields
        # A read-only proxy copies as its underlying dict (several times faster than dict()).
        try:
            fields = current.copy() if isinstance(current, MappingProxyType) else dict(current)
        except AttributeError:  # a proxy over a mapping without copy()
            fields = dict(current)
        if type(fields) is not dict:  # a proxy over another kind of mapping
            fields = dict(current)
        # An event's fields are a read-only proxy: dict.update reads a proxy key by key through
        # the mapping protocol, its copy (a dict) in one merge, about twice as fast in all.
        merged: Mapping[str, Any] = changes
        if type(changes) is MappingProxyType:
            try:  # noqa: SIM105 - contextlib.suppress costs more than the merge saves
                merged = changes.copy()
            except AttributeError:  # a proxy over a mapping without copy() is merged as is
                pass
        fields.update(merged)
        updated = new_lead(
            lead.id,
            MappingProxyType(fields),
            lead.state,
            lead.highest_stage,
            lead.history,
            lead.ownership,
            lead.tags,
            at,
            lead.migrations,
        )
        if not self._reacting["lead_updated"][lead.state]:
            return _new_step((updated, ()))
        effects: list[Effect] = []
        updated = self._run_rules(updated, "lead_updated", at, effects, book)
        return _new_step((updated, tuple(effects)))

    def fire(
        self,
        lead: Lead,
        trigger: str,
        at: datetime,
        *,
        by: str | None = None,
        reason: str | None = None,
        book: BookDraft | None = None,
        rules: bool = True,
    ) -> Step:
        """Move the lead with ``trigger``; raises :class:`InvalidTransition` if it cannot move.

        With ``rules=False`` the move is applied exactly as requested and no rule reacts to it
        (for backfilling history from a CRM, say).
        """
        if type(at) is not datetime or at.tzinfo is None:  # the engine's are checked
            _check_instant(at)
        effects: list[Effect] = []
        cause = self._phrase("requested by ", by) if by else "requested"
        moved, scope = self._fire(lead, trigger, at, by, reason, cause, (), effects, book)
        if rules and self._reacting["transitioned"][moved.state]:
            moved = self._run_rules(moved, "transitioned", at, effects, book, scope=scope)
        return _new_step((moved, tuple(effects)))

    def place(
        self,
        lead: Lead,
        state: str,
        at: datetime,
        *,
        version: str,
        by: str | None = None,
        book: BookDraft | None = None,
    ) -> Step:
        """The lead judged by this workflow's agreement ``version`` from ``at`` on, in
        ``state``: a migration's move, which no transition makes. When the state changes, it
        is a move like any other (the highest stage reached, in this lifecycle; the owning
        team's policy picks an owner when the state belongs to another team); no rule runs."""
        dest = self.lifecycle.state(state)
        effects: list[Effect] = []
        cause = f"migrated to version {version}"
        highest = lead.highest_stage if self._stages.get(lead.highest_stage or "") else None
        history, ownership = lead.history, lead.ownership
        if state != lead.state:
            if dest.stage is not None and (
                highest is None or dest.stage > (self._stages[highest] or 0)
            ):
                highest = state
            entry = new_transitioned(lead.id, at, lead.state, state, None, by, None, cause, ())
            effects.append(entry)
            history = (*history, entry)
            current = ownership[-1].owner if ownership else None
            if current is None or current.team != dest.owner:
                owner, note = self._pick(
                    dest.owner, lead.id, lead.fields, state, at, current, book, ownership
                )
                why = cause if note is None else f"{cause} ({note})"
                ownership = self._hand_over(ownership, lead.id, owner, at, why, effects, book)
        migrations = (*lead.migrations, (at, version))
        placed = new_lead(
            lead.id, lead.fields, state, highest, history, ownership, lead.tags, at, migrations
        )
        return _new_step((placed, tuple(effects)))

    def assign(
        self,
        lead: Lead,
        person: str | None,
        at: datetime,
        *,
        by: str | None = None,
        reason: str | None = None,
        book: BookDraft | None = None,
    ) -> Step:
        """Give the lead to ``person``; with None, reassign it: the owning team's policy picks
        someone other than the current owner. Then the rules for ``assign`` run."""
        if type(at) is not datetime or at.tzinfo is None:  # the engine's are checked
            _check_instant(at)
        effects: list[Effect] = []
        why = reason or (f"assigned by {by}" if by else "assigned")
        updated = self._assign(lead, person, at, why, effects, book)
        updated = self._run_rules(updated, "assign", at, effects, book)
        return _new_step((updated, tuple(effects)))

    def activity(self, lead: Lead, at: datetime, *, book: BookDraft | None = None) -> Step:
        """An activity was logged on the lead: the rules for ``activity`` run.

        The lead record changes only if a rule changes it: an activity is not a change to the
        lead (``updated_at`` is the time of the last change to its fields, state, owner or tags).
        """
        if type(at) is not datetime or at.tzinfo is None:  # the engine's are checked
            _check_instant(at)
        if not self._reacting["activity"][lead.state]:
            return _new_step((lead, ()))
        effects: list[Effect] = []
        updated = self._run_rules(lead, "activity", at, effects, book)
        return _new_step((updated, tuple(effects)))

    def perform(
        self,
        lead: Lead,
        action: Fire | Assign | AddTag | RemoveTag | Notify,
        at: datetime,
        *,
        cause: str,
        explanations: tuple[Explanation, ...] = (),
        book: BookDraft | None = None,
    ) -> Step:
        """Apply one action as the agreement asks it (a rule, an obligation's breach), then the
        rules for ``transitioned`` if it moved the lead. An action the lead's state does not
        allow is reported as :class:`~leadsla.ActionSkipped`, not raised."""
        if type(at) is not datetime or at.tzinfo is None:  # the engine's are checked
            _check_instant(at)
        effects: list[Effect] = []
        updated, moved = self._do(lead, action, at, cause, explanations, effects, book)
        if moved and self._reacting["transitioned"][updated.state]:
            updated = self._run_rules(updated, "transitioned", at, effects, book)
        return _new_step((updated, tuple(effects)))

    def reacts(self, kind: str, state: str) -> bool:
        """Whether any rule reacts to ``kind`` (an event kind) for a lead in ``state``."""
        return bool(self._reacting[kind][state])

    def check_fire(self, lead: Lead, trigger: str, reason: str | None) -> Transition:
        """The transition ``trigger`` would take, or :class:`InvalidTransition` saying why not
        (the guard is checked when firing)."""
        return self._checked(lead, trigger, reason)[0]

    # -- building blocks ------------------------------------------------------------------------

    def _check_values(self, fields: Mapping[str, Any]) -> None:
        """Refuse field values of the wrong type (``"score": "70"`` where a number is meant):
        silently kept, they would never satisfy a condition."""
        problems = self._field_check(fields)
        if problems:
            raise WorkflowError(*problems)

    def _refuse(
        self, lead: Lead, trigger: str, problem: Problem, explanation: Explanation | None = None
    ) -> InvalidTransition:
        return InvalidTransition(
            problem, lead=lead.id, state=lead.state, trigger=trigger, explanation=explanation
        )

    def _checked(
        self, lead: Lead, trigger: str, reason: str | None
    ) -> tuple[Transition, State, str | None]:
        facts = self._facts.get(lead.state, _NO_FACTS).get(trigger)
        if facts is None:
            lifecycle = self.lifecycle
            if trigger not in lifecycle.triggers:
                problem = unknown("trigger", trigger, lifecycle.triggers, "trigger")
            else:
                allowed = ", ".join(t.trigger for t in lifecycle.transitions_from(lead.state))
                problem = Problem(
                    "trigger",
                    trigger,
                    f"cannot move lead {lead.id} from {lead.state!r}",
                    f"from {lead.state!r} the triggers are: {allowed or 'none'}",
                )
            raise self._refuse(lead, trigger, problem)
        if not reason and facts[0].requires_reason:
            raise self._refuse(
                lead,
                trigger,
                Problem(
                    "reason",
                    reason,
                    f"is required to fire {trigger!r}",
                    "pass reason='...' saying why: backward moves carry their reason",
                ),
            )
        return facts

    def _fire(
        self,
        lead: Lead,
        trigger: str,
        at: datetime,
        by: str | None,
        reason: str | None,
        cause: str,
        explanations: tuple[Explanation, ...],
        effects: list[Effect],
        book: BookDraft | None,
        scope: Scope | None = None,
    ) -> tuple[Lead, Scope]:
        """Move the lead; also returns the scope the guard saw (the fields are unchanged).

        ``scope``, when given, must describe ``lead`` at ``at`` (a rule's, say); sharing it lets
        the rule's and the guard's explanations share what they keep.
        """
        transition, dest_state, guard_label = self._checked(lead, trigger, reason)
        if scope is None:
            scope = self.scope(lead, at)
        dest = self._machine.fire(lead.state, trigger, scope)
        if dest is None:
            assert transition.guard is not None
            explanation = transition.guard.explain_in(scope, self.terms, label=guard_label)
            failing = "; ".join(check.render() for check in explanation.failing())
            raise self._refuse(
                lead,
                trigger,
                Problem(
                    "trigger",
                    trigger,
                    f"was refused by its guard {transition.guard.source!r}",
                    f"it holds only when the guard does: {failing}",
                ),
                explanation,
            )
        if transition.guard is not None:
            guard = transition.guard.defer(scope, self.terms, label=guard_label)
            explanations = (*explanations, guard)
        moved = self._move(
            lead, transition, dest_state, at, by, reason, cause, explanations, effects, book
        )
        return moved, scope

    def _move(
        self,
        lead: Lead,
        transition: Transition,
        dest: State,
        at: datetime,
        by: str | None,
        reason: str | None,
        cause: str,
        explanations: tuple[Explanation, ...],
        effects: list[Effect],
        book: BookDraft | None,
    ) -> Lead:
        highest = lead.highest_stage
        if dest.stage is not None and (
            highest is None or dest.stage > (self._stages.get(highest) or 0)
        ):
            highest = dest.name
        entry = new_transitioned(
            lead.id, at, lead.state, dest.name, transition.trigger, by, reason, cause, explanations
        )
        effects.append(entry)
        ownership = lead.ownership
        current = ownership[-1].owner if ownership else None
        if current is None or current.team != dest.owner:
            owner, note = self._pick(
                dest.owner, lead.id, lead.fields, dest.name, at, current, book, ownership
            )
            reason = self._entered[(transition.trigger, dest.name)]
            if note is not None:
                reason = f"{reason} ({note})"
            ownership = self._hand_over(ownership, lead.id, owner, at, reason, effects, book)
        moved = new_lead(
            lead.id,
            lead.fields,
            dest.name,
            highest,
            (*lead.history, entry),
            ownership,
            lead.tags,
            at,
            lead.migrations,
        )
        if dest.terminal and book is not None:
            # A closed lead no longer weighs on whoever owns it now.
            closer = ownership[-1].owner if ownership else None
            if closer is not None and closer.person:
                book.load(closer.person, -1)
        return moved

    def _assign(
        self,
        lead: Lead,
        person: str | None,
        at: datetime,
        reason: str,
        effects: list[Effect],
        book: BookDraft | None,
    ) -> Lead:
        current = lead.owner
        team = self.lifecycle.owner_of(lead.state)
        if person is None:
            owner, note = self._pick(
                team, lead.id, lead.fields, lead.state, at, current, book, reassign=True
            )
            if note is not None:
                reason = f"{reason} ({note})"
        else:
            self._check_member(person, team, lead.state)
            owner = self._owner(team, person)
        # A closed lead weighs on no one's open leads any more (its close took it off).
        counted = None if self.lifecycle.state(lead.state).terminal else book
        ownership = self._hand_over(lead.ownership, lead.id, owner, at, reason, effects, counted)
        if ownership is lead.ownership:
            return lead
        return _replace(lead, ownership=ownership, updated_at=at)

    def _check_member(self, person: str, team_name: str, state: str) -> None:
        """A lead goes to someone of the team that owns its state (members or manager)."""
        team = self._teams.get(team_name)
        if team is None:
            return  # no teams declared: anyone may own a lead
        allowed = [*team.members, *([team.manager] if team.manager else [])]
        if person not in allowed:
            raise WorkflowError(
                unknown(
                    f"member of team {team_name!r}, which owns leads in {state!r}",
                    person,
                    allowed,
                    "owner",
                )
            )

    def _run_rules(
        self,
        lead: Lead,
        kind: str,
        at: datetime,
        effects: list[Effect],
        book: BookDraft | None,
        depth: int = 0,
        scope: Scope | None = None,
    ) -> Lead:
        """Run the rules for ``kind``. ``scope``, when given, saw the same fields at ``at``; it
        serves the rules that do not read ``state``, ``owner`` or ``team``."""
        moved = False
        first_only = self.rules.mode == "first"
        scope_for: Lead | None = None  # the record ``scope`` was built for, if built here
        state = lead.state
        for rule, holds, positional in self._reacting[kind][state]:
            if lead.state is not state and not rule.reacts_to(kind, lead.state):
                continue  # an earlier rule moved the lead out of the rule's states
            if scope is None or positional or scope.fields is not lead.fields:
                scope = self.scope(lead, at)
                scope_for = lead
            if not holds(scope):
                continue
            cause = self._phrase("rule ", rule.name)
            explanation = rule.when.defer(scope, self.terms, label=cause)
            effects.append(new_rule_fired(lead.id, at, rule.name, explanation))
            for action in rule.then:
                # A move may reuse the rule's scope only while it still describes the lead.
                exact = scope if lead is scope_for else None
                lead, did_move = self._do(
                    lead, action, at, cause, (explanation,), effects, book, exact
                )
                moved = moved or did_move
            if first_only:
                break
        if moved:
            if depth + 1 >= MAX_CASCADE:
                raise RuleLoopError(
                    Problem(
                        "rules",
                        [e.rule for e in effects if isinstance(e, RuleFired)][-MAX_CASCADE:],
                        f"moved lead {lead.id} more than {MAX_CASCADE} times for one event",
                        "make the rules' states or conditions exclude each other",
                    )
                )
            if self._reacting["transitioned"][lead.state]:
                lead = self._run_rules(lead, "transitioned", at, effects, book, depth + 1)
        return lead

    def _do(
        self,
        lead: Lead,
        action: Fire | Assign | AddTag | RemoveTag | Notify,
        at: datetime,
        cause: str,
        explanations: tuple[Explanation, ...],
        effects: list[Effect],
        book: BookDraft | None,
        scope: Scope | None = None,
    ) -> tuple[Lead, bool]:
        if isinstance(action, Fire):
            try:
                moved, _ = self._fire(
                    lead,
                    action.trigger,
                    at,
                    None,
                    action.reason,
                    cause,
                    explanations,
                    effects,
                    book,
                    scope,
                )
            except InvalidTransition as refused:
                effects.append(ActionSkipped(lead.id, at, cause, action.describe(), str(refused)))
                return lead, False
            return moved, True
        if isinstance(action, Assign):
            reason = f"{cause}: {action.reason}"
            try:
                assigned = self._assign(lead, action.person, at, reason, effects, book)
            except WorkflowError as refused:
                effects.append(ActionSkipped(lead.id, at, cause, action.describe(), str(refused)))
                return lead, False
            if assigned is lead and action.person is None:
                team = self.lifecycle.owner_of(lead.state)
                why = f"team {team!r} has no one else to give the lead to"
                effects.append(ActionSkipped(lead.id, at, cause, action.describe(), why))
            return assigned, False
        if isinstance(action, AddTag):
            if action.tag in lead.tags:
                return lead, False
            effects.append(Tagged(lead.id, at, action.tag))
            return _replace(lead, tags=lead.tags | {action.tag}), False
        if isinstance(action, RemoveTag):
            if action.tag not in lead.tags:
                return lead, False
            effects.append(Tagged(lead.id, at, action.tag, removed=True))
            return _replace(lead, tags=lead.tags - {action.tag}), False
        effects.append(ActionRequested(lead.id, at, "notify", action.to, action.message, cause))
        return lead, False


def _order_dependence(team: Team, capped: set[str]) -> str | None:
    """Why the owners ``team`` gives depend on other leads (None: they do not)."""
    if not team.policy.partition_safe:
        return "deals leads in the order they arrive (its choice depends on other leads)"
    limited = [member for member in team.members if member in capped]
    if limited:
        return (
            f"counts its members' open leads ({', '.join(limited)} "
            f"{'has a capacity' if len(limited) == 1 else 'have capacities'})"
        )
    return None


def _reads_position(condition: Condition, terms: Terms) -> bool:
    """Whether a condition reads ``state``, ``owner`` or ``team``, itself or through terms."""
    names = set(condition.names)
    pending = [name for name in names if name in terms]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        used = terms[name].condition.names
        names |= used
        pending.extend(n for n in used if n in terms)
    return bool(names & RESERVED_NAMES)


def _replace(lead: Lead, **changes: Any) -> Lead:
    """A copy of ``lead`` with some attributes changed (faster than attrs.evolve)."""
    return Lead(
        changes.get("id", lead.id),
        changes.get("fields", lead.fields),
        changes.get("state", lead.state),
        changes.get("highest_stage", lead.highest_stage),
        changes.get("history", lead.history),
        changes.get("ownership", lead.ownership),
        changes.get("tags", lead.tags),
        changes.get("updated_at", lead.updated_at),
        changes.get("migrations", lead.migrations),
    )


def _same_instant(first: datetime, second: datetime) -> bool:
    """Whether two aware datetimes are one instant. ``==`` will not do: two of one zone compare
    by wall clock (the two passes through the hour repeated in autumn are equal), and two of
    different zones are never equal inside that hour (PEP 495)."""
    if first is second:
        return True
    if first.tzinfo is second.tzinfo and first != second:
        return False  # different wall clocks in one zone (only a time in the spring gap, which
        # does not exist, could still be the same instant: then an empty interval stays)
    return first.timestamp() == second.timestamp()
