"""The agreement: the whole marketing–sales SLA as one value.

An :class:`Agreement` holds the terms, the lifecycle, the teams and their calendars, the rules,
the obligations, the volume commitments, the goal and the tracking period. It is checked when it
is made (every problem listed at once) and does no I/O; reading and writing it as a file is the
business of the shell around it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final

import attrs
from attrs import field, frozen

from leadsla._core.calendar import BusinessCalendar
from leadsla._core.conditions import (
    RESERVED_NAMES,
    Condition,
    FieldType,
    Term,
    Terms,
    TypeClue,
)
from leadsla._core.defaults import (
    PERSONAL_FIELDS,
    default_rules,
    default_teams,
    default_terms,
)
from leadsla._core.duration import Duration
from leadsla._core.errors import (
    AgreementError,
    LeadSLAError,
    Problem,
    WorkflowError,
    did_you_mean,
    unknown,
)
from leadsla._core.funnel import Commitment, Funnel, Goal, chain_problem, goal_funnel
from leadsla._core.lifecycle import Lifecycle
from leadsla._core.obligations import (
    CALENDAR_CHOICES,
    ActivityMatch,
    Attempts,
    Escalate,
    ObligationSpec,
    Warn,
    When,
)
from leadsla._core.ownership import FixedOwner, LeastLoaded, Owner, Person, RuleRouting, Team
from leadsla._core.periods import PERIODS, Period, per
from leadsla._core.rules import EVENT_KINDS, Fire, Notify, Rule, RuleSet
from leadsla._core.workflow import Workflow

__all__ = ["CONTACT_KINDS", "Agreement", "CalendarOwners", "default_obligations"]

#: Activities that count as a contact attempt in the default agreement.
CONTACT_KINDS: Final = ("call", "email", "meeting", "message")


# Business time must fit in this many weeks of the calendar's opening hours (10 years).
_MOST_WEEKS: Final = 520


def _terms(value: Terms | Iterable[Term]) -> Terms:
    return value if isinstance(value, Terms) else Terms(value)


def _rules(value: RuleSet | Iterable[Rule]) -> RuleSet:
    return value if isinstance(value, RuleSet) else RuleSet(list(value))


def _calendars(value: Mapping[str, BusinessCalendar]) -> Mapping[str, BusinessCalendar]:
    return dict(value)


def _fields(value: Mapping[str, object]) -> Mapping[str, FieldType]:
    """Each field's type from its written form (``"number"``, a :class:`FieldType`, or
    ``{"type": "choice", "values": [...]}``); every bad one is reported, with its name."""
    fields: dict[str, FieldType] = {}
    problems: list[Problem] = []
    for name, written in value.items():
        try:
            fields[name] = FieldType.of(written)
        except AgreementError as error:
            where = f"fields.{name}"
            problems.extend(
                Problem(
                    where if isinstance(written, str) else f"{where}.{problem.field}",
                    problem.value,
                    problem.message,
                    problem.fix,
                )
                for problem in error.problems
            )
    if problems:
        raise AgreementError(*problems)
    return fields


def _personal(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):  # one name, not its letters
        return (value,)
    return tuple(value)


def _team_tuple(value: Iterable[Team]) -> tuple[Team, ...]:
    return tuple(value)


def _obligation_tuple(value: Iterable[ObligationSpec]) -> tuple[ObligationSpec, ...]:
    return tuple(value)


def _commitment_tuple(value: Iterable[Commitment]) -> tuple[Commitment, ...]:
    return tuple(value)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _region(value: str | Condition | None) -> Condition | None:
    if value is None or isinstance(value, Condition):
        return value
    return Condition(value, field="region")


@frozen
class CalendarOwners:
    """Whose calendar ``calendar`` is: the ``teams`` and ``people`` who work by it, and the
    leads of the ``region`` its condition picks (``country in ('FI', 'SE')``).

    An obligation whose ``calendar`` is ``"owner"``, ``"team"`` or ``"region"`` counts its
    time on the calendar the lead's owner, owning team or region has (see
    :meth:`Agreement.clock_calendar`).
    """

    calendar: str
    teams: tuple[str, ...] = field(default=(), converter=_names)
    people: tuple[str, ...] = field(default=(), converter=_names)
    region: Condition | None = field(default=None, converter=_region)


def _owners_tuple(value: Iterable[CalendarOwners]) -> tuple[CalendarOwners, ...]:
    return tuple(value)


def _one_per_calendar(
    owners: tuple[CalendarOwners, ...], calendars: Mapping[str, BusinessCalendar]
) -> tuple[CalendarOwners, ...]:
    """The calendars' owners one entry per calendar, in the calendars' order (an unknown
    calendar's last, to be reported): regions are tried in that order, however they were
    listed, so the file and the value mean the same. Two entries of one calendar join (their
    regions: either)."""
    joined: dict[str, CalendarOwners] = {}
    given: tuple[object, ...] = owners  # as given: anything may have been passed
    if not all(isinstance(entry, CalendarOwners) for entry in given):
        return owners  # (the checks report it)
    for entry in owners:
        had = joined.get(entry.calendar)
        if had is None:
            joined[entry.calendar] = entry
            continue
        region = had.region or entry.region
        if had.region is not None and entry.region is not None:
            region = Condition(f"({had.region.source}) or ({entry.region.source})")
        joined[entry.calendar] = CalendarOwners(
            entry.calendar, (*had.teams, *entry.teams), (*had.people, *entry.people), region
        )
    order = {name: position for position, name in enumerate(calendars)}
    return tuple(sorted(joined.values(), key=lambda entry: order.get(entry.calendar, len(order))))


def _people_tuple(value: Iterable[Person]) -> tuple[Person, ...]:
    return tuple(value)


@frozen
class Agreement:
    """The SLA as a value: build it in Python, or take :meth:`default`.

    >>> agreement = Agreement.default()
    >>> [obligation.name for obligation in agreement.obligations]
    ['first-touch', 'accept-or-reject', 'attempts', 'nurture-review']
    """

    name: str
    timezone: str
    calendars: Mapping[str, BusinessCalendar] = field(converter=_calendars)
    teams: tuple[Team, ...] = field(converter=_team_tuple)
    terms: Terms = field(converter=_terms)
    lifecycle: Lifecycle = field(factory=Lifecycle.default)
    rules: RuleSet = field(factory=RuleSet, converter=_rules)
    obligations: tuple[ObligationSpec, ...] = field(default=(), converter=_obligation_tuple)
    commitments: tuple[Commitment, ...] = field(default=(), converter=_commitment_tuple)
    goal: Goal | None = None
    tracking_period: Period = "month"
    version: str = "1"
    effective: date | None = None
    review: str = ""
    #: The lead fields conditions may use, and their types (written as a type's name, a
    #: :class:`FieldType`, or ``{"type": "choice", "values": [...]}``); when given, every name a
    #: condition uses must be a field, a term or a reserved name.
    fields: Mapping[str, FieldType] = field(factory=dict, converter=_fields)
    #: Who works by which calendar: teams, people, and regions chosen by a condition.
    calendar_owners: tuple[CalendarOwners, ...] = field(default=(), converter=_owners_tuple)
    #: The people who own leads, when they are away and their capacity; each person's dates
    #: are read in the agreement's time zone unless the person names their own.
    people: tuple[Person, ...] = field(default=(), converter=_people_tuple)
    #: Whether a lead with open clocks is given to someone else when its owner's time away
    #: starts (see :meth:`Person.next_away_start`); by default it stays with them.
    reassign_when_away: bool = False
    #: The lead fields that hold personal data: what an ``erase`` event erases (their values
    #: become ``[erased]``). Conditions may ask only whether they are present (``has(email)``):
    #: a replay after an erasure must decide as the first run did.
    personal: tuple[str, ...] = field(default=PERSONAL_FIELDS, converter=_personal)
    _workflow: Workflow = field(init=False, repr=False, eq=False)
    _field_types: Mapping[str, FieldType] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "people", _in_zone(self.people, self.timezone))
        owners = _one_per_calendar(self.calendar_owners, self.calendars)
        object.__setattr__(self, "calendar_owners", owners)
        problems = self._check()
        problems.extend(_check_people(self.people, self.teams, self.reassign_when_away))
        problems.extend(_check_working_hours(self.teams, self._member_calendar))
        try:
            workflow = Workflow(
                lifecycle=self.lifecycle,
                terms=self.terms,
                teams=self.teams,
                rules=self.rules,
                field_types=getattr(self, "_field_types", None),
                people=[person for person in self.people if isinstance(person, Person)],
                calendar_of=self._member_calendar,
            )
        except WorkflowError as error:
            problems.extend(error.problems)
        if problems:
            raise AgreementError(*problems)
        object.__setattr__(self, "_workflow", workflow)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the values it is made of, and built again when unpickled (its workflow
        holds conditions compiled for this process, which are made again, not copied): what
        sends an agreement to another process, as a partitioned replay does."""
        values = {a.alias: getattr(self, a.name) for a in attrs.fields(Agreement) if a.init}
        return (_rebuilt, (values,))

    @classmethod
    def default(cls) -> Agreement:
        """The default agreement (docs/explanation/default-agreement.md)."""
        return _default()

    @property
    def field_types(self) -> Mapping[str, FieldType]:
        """Every field's type: as declared in ``fields``, else as the conditions use it
        (``score >= 50`` makes ``score`` a number). A field neither says anything of may hold
        anything, and is not listed."""
        return MappingProxyType(self._field_types)

    @property
    def workflow(self) -> Workflow:
        """The per-lead decision function built from this agreement."""
        return self._workflow

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Agreement:
        """Read an agreement file; every problem is reported at once, with its line.

        Reading files is the shell's business (``leadsla._shell.agreement_read``); this class
        method is the one convenience the value keeps. For the text of a file, use
        :meth:`from_toml_text`.
        """
        from leadsla._shell.agreement_read import agreement_from_path

        return agreement_from_path(path)

    @classmethod
    def from_toml_text(cls, text: str) -> Agreement:
        """Read an agreement from the text of its file (see :meth:`from_toml`)."""
        from leadsla._shell.agreement_read import agreement_from_text

        return agreement_from_text(text)

    def funnel(self) -> Funnel | None:
        """The volumes the goal needs at each stage and how the commitments cover them."""
        return goal_funnel(self.goal, self.commitments, self.tracking_period)

    def calendar(self, name: str | None) -> BusinessCalendar:
        """The calendar called ``name``; with None, the only calendar (or a 24/7 one)."""
        if name is None:
            if len(self.calendars) == 1:
                return next(iter(self.calendars.values()))
            return BusinessCalendar.always(self.timezone)
        return self.calendars[name]

    @property
    def default_calendar(self) -> str | None:
        """The calendar that counts when no one's applies: the only calendar, or else the only
        one no team, person or region owns (None: there is no such calendar)."""
        if len(self.calendars) == 1:
            return next(iter(self.calendars))
        owned = {owners.calendar for owners in self.calendar_owners}
        free = [name for name in self.calendars if name not in owned]
        return free[0] if len(free) == 1 else None

    def person_calendar(self, person: str | None, team: str | None = None) -> str | None:
        """The name of the calendar ``person`` works by: their own, else ``team``'s, else the
        default calendar."""
        for owners in self.calendar_owners:
            if person is not None and person in owners.people:
                return owners.calendar
        return self.team_calendar(team)

    def team_calendar(self, team: str | None) -> str | None:
        """The name of the calendar ``team`` works by, else the default calendar."""
        for owners in self.calendar_owners:
            if team is not None and team in owners.teams:
                return owners.calendar
        return self.default_calendar

    def region_calendar(self, holds: Callable[[Condition], bool]) -> str | None:
        """The first calendar whose region condition ``holds`` on the lead, else the default."""
        for owners in self.calendar_owners:
            if owners.region is not None and holds(owners.region):
                return owners.calendar
        return self.default_calendar

    def clock_calendar(
        self, spec: ObligationSpec, owner: Owner | None, holds: Callable[[Condition], bool]
    ) -> str | None:
        """The name of the calendar a clock of ``spec`` counts on, for a lead owned by
        ``owner`` on whose fields ``holds`` evaluates a condition; None for calendar time."""
        if not spec.within.business:
            return None
        choice = spec.calendar
        if choice == "owner":
            return self.person_calendar(
                owner.person if owner else None, owner.team if owner else None
            )
        if choice == "team":
            return self.team_calendar(owner.team if owner else None)
        if choice == "region":
            return self.region_calendar(holds)
        return choice if choice is not None else self.default_calendar

    def team(self, name: str) -> Team | None:
        return next((team for team in self.teams if team.name == name), None)

    def _member_calendar(self, person: str, team: str) -> BusinessCalendar | None:
        """The calendar ``person`` works by in ``team``, for assignment by working hours."""
        name = self.person_calendar(person, team)
        return self.calendars.get(name) if name is not None else None

    def person(self, name: str) -> Person | None:
        """What the agreement says of the person called ``name`` (None: nothing)."""
        return next((person for person in self.people if person.name == name), None)

    def manager_of(self, team_name: str) -> str:
        """Who hears of a team's escalations: its manager, or "manager of TEAM" when the
        agreement names none."""
        team = self.team(team_name)
        if team is not None and team.manager:
            return team.manager
        return f"manager of {team_name}"

    # -- checks -------------------------------------------------------------------------------

    def _check(self) -> list[Problem]:
        problems: list[Problem] = []
        try:
            BusinessCalendar.always(self.timezone)
        except LeadSLAError as error:
            problems.extend(
                Problem("timezone", self.timezone, p.message, p.fix) for p in error.problems
            )
        teams = {team.name for team in self.teams}
        states = set(self.lifecycle.state_names)
        triggers = set(self.lifecycle.triggers)
        people = {member for team in self.teams for member in team.members} | {
            team.manager for team in self.teams if team.manager is not None
        }
        seen_teams: set[str] = set()
        for team in self.teams:
            if team.name in seen_teams:
                problems.append(
                    Problem(
                        f"teams.{team.name}",
                        team.name,
                        "is defined twice",
                        "give each team one entry, with all its members",
                    )
                )
            seen_teams.add(team.name)
            problems.extend(_check_assignees(team))
        problems.extend(_check_members(self.teams, self.lifecycle, self.obligations))
        if self.rules.mode not in ("all", "first"):
            problems.append(
                Problem(
                    "rules.mode",
                    self.rules.mode,
                    "is not a rule mode",
                    'use "all" (every matching rule fires) or "first" (only the first)',
                )
            )
        names: set[str] = set()
        for spec in self.obligations:
            where = f"obligations.{spec.name}"
            if spec.name in names:
                problems.append(
                    Problem(
                        where, spec.name, "is defined twice", "give each obligation its own name"
                    )
                )
            names.add(spec.name)
            if spec.party not in teams:
                problems.append(unknown("team", spec.party, teams, f"{where}.party"))
            default = self.default_calendar
            if spec.calendar in CALENDAR_CHOICES:
                if spec.within.business and default is None:
                    problems.append(
                        Problem(
                            f"{where}.calendar",
                            spec.calendar,
                            f"counts the {_WHOSE[spec.calendar]} calendar, but the agreement "
                            f"has {len(self.calendars)} calendars and no default one for a "
                            f"lead {_WITHOUT[spec.calendar]}",
                            "leave one calendar without teams, people or region: it counts "
                            "for everyone else",
                        )
                    )
            elif spec.calendar is not None and spec.calendar not in self.calendars:
                problems.append(
                    unknown(
                        "calendar",
                        spec.calendar,
                        [*self.calendars, *CALENDAR_CHOICES],
                        f"{where}.calendar",
                    )
                )
            elif spec.calendar is None and spec.within.business and default is None:
                problems.append(
                    Problem(
                        f"{where}.calendar",
                        None,
                        "is needed for business time when the agreement has "
                        f"{len(self.calendars)} calendars",
                        "name one of "
                        + (
                            ", ".join([*sorted(self.calendars), *CALENDAR_CHOICES])
                            if self.calendars
                            else "(none: add a calendar)"
                        ),
                    )
                )
            for part, when in (
                ("starts", spec.starts),
                ("met", spec.met),
                ("cancelled", spec.cancelled),
            ):
                if when is None:
                    continue
                for state in (*when.states, *when.leaving):
                    if state not in states:
                        problems.append(unknown("state", state, states, f"{where}.{part}"))
                for kind in when.events:
                    if kind not in EVENT_KINDS or kind == "transitioned":
                        problems.append(
                            unknown(
                                "event kind",
                                kind,
                                [known for known in EVENT_KINDS if known != "transitioned"],
                                f"{where}.{part}.events",
                            )
                        )
            if spec.met is None and spec.attempts is None:
                problems.append(
                    Problem(
                        f"{where}.met",
                        None,
                        "is missing: the obligation could never be met",
                        "say what meets it (an activity, a state, a condition) or give attempts",
                    )
                )
            if spec.starts.only_condition and spec.starts.condition is None:
                problems.append(
                    Problem(
                        f"{where}.starts",
                        None,
                        "is empty: the clock could never start",
                        "name a state or an event",
                    )
                )
            if spec.pause is not None:
                for state in spec.pause.states:
                    if state not in states:
                        problems.append(unknown("state", state, states, f"{where}.pause"))
            actions = [("on_breach", a) for a in spec.on_breach]
            actions += [("on_met", a) for a in spec.on_met]
            if spec.attempts is not None:
                actions += [("attempts.on_exhausted", a) for a in spec.attempts.on_exhausted]
            for index, step in enumerate(spec.warnings):
                actions += [(f"warnings[{index}].actions", a) for a in step.actions]
            if spec.within.business:
                chosen = spec.calendar or default
                if spec.calendar in CALENDAR_CHOICES:
                    used = list(self.calendars)  # any of them may count
                else:
                    used = [chosen] if chosen is not None else []
                for used_name in used:
                    if used_name in self.calendars:
                        calendar = self.calendars[used_name]
                        problems.extend(_check_business_time(spec, used_name, calendar))
            for part, action in actions:
                if isinstance(action, Fire) and action.trigger not in triggers:
                    problems.append(unknown("trigger", action.trigger, triggers, f"{where}.{part}"))
                if (
                    isinstance(action, Escalate)
                    and action.to not in ("manager", "owner")
                    and action.to not in people
                ):
                    problems.append(unknown("person", action.to, people, f"{where}.{part}"))
                if isinstance(action, Notify) and action.to not in (
                    "manager",
                    "owner",
                    *people,
                    *teams,
                ):
                    known = sorted({*people, *teams, "manager", "owner"})
                    problems.append(unknown("person or team", action.to, known, f"{where}.{part}"))
        for commitment in self.commitments:
            where = f"commitments.{commitment.name}"
            if commitment.party not in teams:
                problems.append(unknown("team", commitment.party, teams, f"{where}.party"))
            for name in (commitment.state, commitment.accepted_state):
                if name is not None and name not in states:
                    problems.append(unknown("state", name, states, where))
            if commitment.per not in PERIODS:
                problems.append(unknown("period", commitment.per, PERIODS, f"{where}.per"))
        if self.tracking_period not in PERIODS:
            problems.append(unknown("period", self.tracking_period, PERIODS, "tracking_period"))
        problems.extend(self._check_calendar_owners(teams, people))
        problems.extend(self._check_names())
        problems.extend(self._check_field_types())
        problems.extend(self._check_personal())
        problems.extend(self._check_reachable_meeting())
        problems.extend(self._check_goal())
        return problems

    def _check_calendar_owners(self, teams: set[str], people: set[str]) -> list[Problem]:
        """Each owned calendar exists; its teams and people are the agreement's; no team or
        person works by two calendars; no calendar is called like a choice."""
        problems: list[Problem] = []
        for name in self.calendars:
            if name in CALENDAR_CHOICES:
                problems.append(
                    Problem(
                        f"calendars.{name}",
                        name,
                        f"is what an obligation's calendar says to count the {_WHOSE[name]} "
                        "calendar, so it cannot name a calendar",
                        "give the calendar another name",
                    )
                )
        taken: dict[tuple[str, str], str] = {}
        for owners in self.calendar_owners:
            where = f"calendars.{owners.calendar}"
            if owners.calendar not in self.calendars:
                problems.append(unknown("calendar", owners.calendar, self.calendars, where))
            for kind, names, known in (
                ("team", owners.teams, teams),
                ("person", owners.people, people),
            ):
                plural = "teams" if kind == "team" else "people"
                for name in names:
                    if name not in known:
                        problems.append(unknown(kind, name, known, f"{where}.{plural}"))
                        continue
                    other = taken.setdefault((kind, name), owners.calendar)
                    if other != owners.calendar:
                        problems.append(
                            Problem(
                                f"{where}.{plural}",
                                name,
                                f"already works by calendar {other!r}: a {kind} has one calendar",
                                f"list {name} under one calendar only",
                            )
                        )
        return problems

    def _conditions(self) -> list[tuple[str, Condition]]:
        """Every condition in the agreement, with where it is."""
        found: list[tuple[str, Condition]] = [
            (f"terms.{term.name}.condition", term.condition) for term in self.terms
        ]
        found += [
            (f"lifecycle.transitions ({t.trigger}).guard", t.guard)
            for t in self.lifecycle.transitions
            if t.guard is not None
        ]
        found += [(f"rules.{rule.name}.when", rule.when) for rule in self.rules.rules]
        for spec in self.obligations:
            for part, when in (
                ("starts", spec.starts),
                ("met", spec.met),
                ("cancelled", spec.cancelled),
            ):
                if when is not None and when.condition is not None:
                    found.append((f"obligations.{spec.name}.{part}.condition", when.condition))
            if spec.pause is not None and spec.pause.condition is not None:
                found.append((f"obligations.{spec.name}.pause.condition", spec.pause.condition))
            found += [
                (f"obligations.{spec.name}.tiers[{index}].when", tier.when)
                for index, tier in enumerate(spec.tiers)
            ]
        found += [
            (f"calendars.{owners.calendar}.region", owners.region)
            for owners in self.calendar_owners
            if owners.region is not None
        ]
        for team in self.teams:
            if isinstance(team.policy, RuleRouting):
                found += [
                    (f"teams.{team.name}.assignment.routing", condition)
                    for condition, _ in team.policy.routes
                ]
        return found

    def _check_names(self) -> list[Problem]:
        """With declared fields, every name in a condition is a field, a term or reserved."""
        if not self.fields:
            return []
        problems = []
        terms = set(self.terms.names)
        known = sorted(set(self.fields) | terms)
        for where, condition in self._conditions():
            for name in sorted(condition.names):
                if name in terms or name in self.fields or name in RESERVED_NAMES:
                    continue
                hint = did_you_mean(name, known)
                problems.append(
                    Problem(
                        where,
                        name,
                        "uses a name that is neither a declared field nor a term",
                        f"declare it under [fields], or use one of {', '.join(known)}{hint}",
                    )
                )
        return problems

    def _check_personal(self) -> list[Problem]:
        """Personal fields are named once each, are fields (not reserved names), and no
        condition reads their values: an erasure replaces them, and a replay after it must
        take the same decisions as the first run."""
        problems: list[Problem] = []
        seen: set[str] = set()
        for name in self.personal:
            if not isinstance(name, str) or not name:
                problems.append(
                    Problem("personal", name, "is not a field name", 'write e.g. "email"')
                )
            elif name in RESERVED_NAMES:
                problems.append(
                    Problem(
                        "personal",
                        name,
                        "is a reserved name (the lead's position), not a field",
                        "name lead fields only",
                    )
                )
            elif name in seen:
                problems.append(Problem("personal", name, "is named twice", "name it once"))
            seen.add(name)
        for where, condition in self._conditions():
            for name in sorted(condition.values_read & seen):
                problems.append(
                    Problem(
                        where,
                        name,
                        f"reads the value of personal field {name!r}, which an erasure replaces "
                        "with [erased]: a replay after an erasure could decide otherwise",
                        f"ask only whether it is present (has({name})), test a field of its own "
                        "that holds what you need (a domain, a segment), or take it out of "
                        "personal",
                    )
                )
        return problems

    def _check_field_types(self) -> list[Problem]:
        """Settle each field's type (declared, else inferred from the conditions) and refuse
        conditions that use a field against its type, or fields the conditions disagree on.

        Sets :attr:`field_types` as it goes.
        """
        terms = self.terms.names
        declared = dict(self.fields)
        conditions = self._conditions()
        problems: list[Problem] = []
        inferred: dict[str, TypeClue] = {}
        disputed: set[str] = set()
        for where, condition in conditions:
            clues = condition.field_types(declared, terms=terms, where=where)
            for name, clue in clues.items():
                first = inferred.get(name)
                if first is None:
                    inferred[name] = clue
                elif first.type != clue.type and name not in disputed:
                    disputed.add(name)
                    problems.append(_disagreement(first, clue))
        for name in disputed:
            del inferred[name]
        types: dict[str, FieldType | TypeClue] = {**inferred, **declared}
        # What the reserved names may hold: the lifecycle's states and the agreement's teams.
        types["state"] = FieldType.choice(*self.lifecycle.state_names)
        teams = {team.name for team in self.teams} | {s.owner for s in self.lifecycle.states}
        types["team"] = FieldType.choice(*sorted(teams))
        for where, condition in conditions:
            problems.extend(condition.type_problems(types, terms=terms, where=where))
        effective = {name: clue.type for name, clue in inferred.items()} | declared
        object.__setattr__(self, "_field_types", effective)
        return problems

    def _check_reachable_meeting(self) -> list[Problem]:
        """An obligation met only by entering states must be able to reach one of them."""
        problems = []
        lifecycle = self.lifecycle
        states = set(lifecycle.state_names)
        for spec in self.obligations:
            met = spec.met
            if (
                met is None
                or spec.attempts is not None
                or not met.states
                or met.leaving
                or met.events
                or met.activity is not None
                or met.condition is not None
                or not spec.starts.states
                or not set(met.states) <= states
                or not set(spec.starts.states) <= states
            ):
                continue
            reachable: set[str] = set()
            frontier = list(spec.starts.states)
            while frontier:
                current = frontier.pop()
                for transition in lifecycle.transitions_from(current):
                    if transition.dest not in reachable:
                        reachable.add(transition.dest)
                        frontier.append(transition.dest)
            if not reachable & set(met.states):
                problems.append(
                    Problem(
                        f"obligations.{spec.name}.met",
                        list(met.states),
                        f"can never be met: no transition leads from "
                        f"{' or '.join(spec.starts.states)} to {' or '.join(met.states)}",
                        "meet it by an activity or a state the lead can reach",
                    )
                )
        return problems

    def _check_goal(self) -> list[Problem]:
        """The goal's conversions name real states and form a chain the commitments cover."""
        goal = self.goal
        if goal is None:
            return []
        problems = []
        states = set(self.lifecycle.state_names)
        for index, (source, dest, _) in enumerate(goal.conversions):
            for name in (source, dest):
                if name not in states:
                    problems.append(unknown("state", name, states, f"goal.conversions[{index}]"))
        if problems:
            return problems
        reason = chain_problem(goal)
        if reason is not None:
            problems.append(
                Problem(
                    "goal.conversions",
                    [f"{s} -> {d}" for s, d, _ in goal.conversions],
                    reason,
                    "list one conversion per step, e.g. mql -> sql, then sql -> won",
                )
            )
            return problems
        funnel = goal_funnel(goal, self.commitments, self.tracking_period)
        if funnel is None:
            return problems
        for item in funnel.coverage:
            if not item.covered:
                stage = funnel.stage(item.state)
                assert stage is not None
                problems.append(
                    Problem(
                        f"commitments.{item.commitment}.at_least",
                        item.committed,
                        f"is short of the goal by {item.short_by} {per(item.per)}: the goal needs "
                        f"{item.needed} {item.state.upper()}s from marketing {per(item.per)} "
                        f"({stage.needed(goal.per, goal.per)} {per(goal.per)})",
                        "raise the commitment, or lower the goal or raise its conversion rates",
                    )
                )
        return problems


def _disagreement(first: TypeClue, second: TypeClue) -> Problem:
    """Two conditions use an undeclared field as two different types."""
    name = first.field
    return Problem(
        second.where,
        name,
        f"uses {name} as {second.type} ({second.expression}), but {first.where} uses it as "
        f"{first.type} ({first.expression})",
        f"declare {name} under [fields] with its type, and change the condition that disagrees",
    )


_WHOSE: Final = {"owner": "owner's", "team": "owning team's", "region": "lead's region's"}
_WITHOUT: Final = {
    "owner": "whose owner has no calendar",
    "team": "whose team has no calendar",
    "region": "in no region",
}


def _check_assignees(team: Team) -> list[Problem]:
    """The people a team's assignment policy names are its members or manager."""
    allowed = [*team.members, *([team.manager] if team.manager else [])]
    policy = team.policy
    named: list[str] = []
    if isinstance(policy, FixedOwner):
        named.append(policy.person)
    elif isinstance(policy, RuleRouting):
        named += [person for _, person in policy.routes]
        if isinstance(policy.fallback, str):
            named.append(policy.fallback)
        elif isinstance(policy.fallback, FixedOwner):
            named.append(policy.fallback.person)
    where = f"teams.{team.name}.assignment"
    return [
        unknown(f"member of team {team.name!r}", person, allowed, where)
        for person in dict.fromkeys(named)
        if person not in allowed
    ]


def _in_zone(people: tuple[Person, ...], timezone: str) -> tuple[Person, ...]:
    """The people, each reading their dates in ``timezone`` unless they name their own (a bad
    zone is the agreement's to report, and leaves them as they are)."""
    if all(not isinstance(person, Person) or person.timezone for person in people):
        return people
    try:
        BusinessCalendar.always(timezone)
    except LeadSLAError:
        return people
    return tuple(
        attrs.evolve(person, timezone=timezone)
        if isinstance(person, Person) and person.timezone is None
        else person
        for person in people
    )


def _check_people(
    people: tuple[Person, ...], teams: Iterable[Team], reassign_when_away: object
) -> list[Problem]:
    """Each person is a Person, named once, and in a team (as a member or its manager): a
    person in no team is most likely a misspelt name, whose time away would go unheeded."""
    problems: list[Problem] = []
    known = {member for team in teams for member in team.members}
    known |= {team.manager for team in teams if team.manager}
    seen: set[str] = set()
    given: tuple[object, ...] = people  # typed as people; callers may pass anything
    for index, person in enumerate(given):
        if not isinstance(person, Person):
            problems.append(
                Problem(
                    f"people[{index}]",
                    type(person).__name__,
                    "is not a Person",
                    'write e.g. Person("aino", away=[("2026-12-21", "2027-01-01")], capacity=40)',
                )
            )
            continue
        where = f"people.{person.name}"
        if person.name in seen:
            problems.append(
                Problem(where, person.name, "is described twice", "describe each person once")
            )
        seen.add(person.name)
        if person.name not in known:
            names = sorted(known)
            problems.append(
                Problem(
                    where,
                    person.name,
                    "is in no team (no team's member or manager), so what it says would never "
                    "be used",
                    f"add them to a team's members, or describe one of {', '.join(names)}"
                    f"{did_you_mean(person.name, names)}",
                )
            )
    if not isinstance(reassign_when_away, bool):
        problems.append(
            Problem(
                "ownership.reassign_when_away",
                reassign_when_away,
                "must be true or false",
                "write reassign_when_away = true to reassign the leads of someone who goes away",
            )
        )
    return problems


def _check_working_hours(
    teams: Iterable[Team], calendar_of: Callable[[str, str], BusinessCalendar | None]
) -> list[Problem]:
    """A team that assigns by working hours knows the calendar of each of its members."""
    problems: list[Problem] = []
    for team in teams:
        policy = team.policy
        if isinstance(policy, RuleRouting) and isinstance(policy.fallback, LeastLoaded):
            policy = policy.fallback
        if not isinstance(policy, LeastLoaded) or not policy.working_hours:
            continue
        missing = [member for member in team.members if calendar_of(member, team.name) is None]
        if missing:
            problems.append(
                Problem(
                    f"teams.{team.name}.assignment",
                    "least-loaded-working-hours",
                    f"assigns by working hours, but the agreement says no calendar for "
                    f"{', '.join(missing)}",
                    f"name the calendar they work by ([calendars.NAME] people = [...] or "
                    f'teams = ["{team.name}"]), or leave one calendar that no one owns',
                )
            )
    return problems


def _check_members(
    teams: Iterable[Team], lifecycle: Lifecycle, obligations: Iterable[ObligationSpec]
) -> list[Problem]:
    """A team that owns a state or makes a promise has members to assign its leads to."""
    owns: dict[str, list[str]] = {}
    for state in lifecycle.states:
        owns.setdefault(state.owner, []).append(f"state {state.name!r}")
    for spec in obligations:
        owns.setdefault(spec.party, []).append(f"obligation {spec.name!r}")
    problems = []
    for team in teams:
        if team.members or team.name not in owns:
            continue
        owned = owns[team.name]
        listed = ", ".join(owned[:3]) + (f" and {len(owned) - 3} more" if len(owned) > 3 else "")
        problems.append(
            Problem(
                f"teams.{team.name}.members",
                [],
                f"is empty, but the team owns {listed}: its leads could not be assigned to anyone",
                'name the people who work its leads, e.g. members = ["alice"] (a manager is '
                "not a member unless listed)",
            )
        )
    return problems


def _day_lengths(calendar: BusinessCalendar) -> list[int]:
    """The working seconds of each weekday that has opening hours."""
    lengths = []
    for hours in calendar.week:
        length = sum(close - open_ + (86400 if close <= open_ else 0) for open_, close in hours)
        if length:
            lengths.append(length)
    return lengths


def _business_hours(seconds: int | Fraction) -> str:
    hours = Fraction(seconds) / 3600
    text = str(hours.numerator) if hours.denominator == 1 else f"{float(hours):.2f}".rstrip("0")
    return f"{text} business hour{'' if hours == 1 else 's'}"


def _seconds(duration: Duration) -> Fraction:
    """The fixed length of a duration in seconds, exactly."""
    return Fraction(duration.to_timedelta() // timedelta(microseconds=1), 1_000_000)


def _check_business_time(
    spec: ObligationSpec, name: str, calendar: BusinessCalendar
) -> list[Problem]:
    """Business time on a calendar: at most 10 years of its weekly hours away, and warnings in
    business hours shorter than a clock in business days (and the other way round)."""
    problems: list[Problem] = []
    for index, (within, _) in enumerate(spec.targets):
        here = f"obligations.{spec.name}" + (f".tiers[{index}]" if index < len(spec.tiers) else "")
        problems += _check_target(spec, here, within, name, calendar)
    return problems


def _check_target(
    spec: ObligationSpec, where: str, within: Duration, name: str, calendar: BusinessCalendar
) -> list[Problem]:
    """One target of ``spec`` (its ``within``, or a tier's) on the calendar ``name``."""
    days = _day_lengths(calendar)
    if not days:
        return [
            Problem(
                f"{where}.within",
                str(within),
                f"is business time, but calendar {name!r} has no weekly opening hours: "
                "business time would run out after its overrides",
                "give the calendar weekly hours, or count calendar time ('30 days')",
            )
        ]
    if within.counts_business_days:
        most, limit = within.amount, Fraction(_MOST_WEEKS * len(days))
        shown = f"{limit} business days"
    else:
        most, limit = _seconds(within), Fraction(_MOST_WEEKS * sum(days))
        shown = _business_hours(limit)
    if most > limit:
        return [
            Problem(
                f"{where}.within",
                str(within),
                f"is more business time than calendar {name!r} opens in 10 years ({shown})",
                "give less time, or count calendar time ('30 days')",
            )
        ]
    problems = []
    for index, warning in enumerate(spec.warnings):
        before = warning.before
        if before is None or not before.business:
            continue
        if within.counts_business_days and not before.counts_business_days:
            # The clock holds at most its days at their longest; the warning is all of that.
            budget = within.amount * max(days)
            early = _seconds(before) >= budget
        elif before.counts_business_days and not within.counts_business_days:
            # The warning reaches back at least its days at their shortest.
            budget = _seconds(within)
            early = before.amount * min(days) >= budget
        else:
            continue  # the same kind of time: the obligation checked it itself
        if early:
            problems.append(
                Problem(
                    f"obligations.{spec.name}.warnings[{index}].before",
                    str(before),
                    f"is not shorter than the time allowed ({within}, at most "
                    f"{_business_hours(budget)} on calendar {name!r}): the warning would come "
                    "as soon as the clock starts",
                    "warn less long before the deadline, or by a share of the time "
                    "(fraction = 0.75)",
                )
            )
    return problems


def default_obligations() -> tuple[ObligationSpec, ...]:
    """The default agreement's four obligations, on the ``office`` calendar
    (docs/explanation/default-agreement.md)."""
    contact = ActivityMatch(kinds=CONTACT_KINDS, by="party")
    return (
        ObligationSpec(
            name="first-touch",
            party="sales",
            starts=When(states="mql"),
            met=When(activity=contact),
            within="4 business hours",
            calendar="office",
            warnings=(Warn(before="1 business hour"),),
            on_breach=Escalate("manager"),
            description=(
                "Sales makes a first contact attempt within 4 business hours of the lead "
                "becoming an MQL."
            ),
        ),
        ObligationSpec(
            name="accept-or-reject",
            party="sales",
            starts=When(states="mql"),
            met=When(states=("sal", "handback")),
            within="1 business day",
            calendar="office",
            on_breach=Escalate("manager"),
            description=(
                "Sales accepts or rejects each MQL within 1 business day (8 business hours)."
            ),
        ),
        ObligationSpec(
            name="attempts",
            party="sales",
            starts=When(states="mql"),
            met=When(states="sql"),
            within="10 business days",
            calendar="office",
            attempts=Attempts(
                count=6,
                counts=contact,
                reached=ActivityMatch(outcomes="connected"),
                on_exhausted=Fire("hand_back", "no-contact-after-6-attempts"),
            ),
            on_breach=Escalate("manager"),
            description=(
                "Sales makes at least 6 contact attempts within 10 business days unless the lead "
                "is reached; after 6 attempts without a connection the lead goes back to "
                "marketing."
            ),
        ),
        ObligationSpec(
            name="nurture-review",
            party="marketing",
            starts=When(states="nurture"),
            met=When(activity=ActivityMatch(by="party")),
            cancelled=When(leaving="nurture"),
            within="30 days",
            repeat=True,
            description="Marketing reviews every nurture lead at least every 30 calendar days.",
        ),
    )


def _default() -> Agreement:
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    return Agreement(
        name="Marketing–sales SLA",
        timezone="Europe/Helsinki",
        calendars={
            "office": BusinessCalendar(
                tz="Europe/Helsinki", week={day: [("09:00", "17:00")] for day in weekdays}
            )
        },
        teams=default_teams(),
        terms=default_terms(),
        lifecycle=Lifecycle.default(),
        rules=default_rules(),
        obligations=default_obligations(),
        commitments=(
            Commitment(
                "mql-volume",
                party="marketing",
                state="mql",
                at_least=150,
                per="month",
                accepted_state="sal",
                description="Marketing delivers at least 150 MQLs a month.",
            ),
        ),
        goal=Goal(
            customers=20,
            per="quarter",
            marketing_share=Fraction(3, 5),
            conversions=(("mql", "sql", Fraction(3, 10)), ("sql", "won", Fraction(1, 4))),
            description="20 new customers a quarter, 60 % of them from marketing.",
        ),
        tracking_period="month",
        review=(
            "Marketing and sales meet monthly to review the volumes, response times, "
            "handbacks and the goal."
        ),
        fields={
            "email": "text",
            "score": "number",
            "country": "text",
            "need_months": "number",
            "budget_confirmed": "boolean",
        },
    )


def _rebuilt(values: dict[str, Any]) -> Agreement:
    """An agreement unpickled (see :meth:`Agreement.__reduce__`)."""
    return Agreement(**values)
