"""The agreement: the whole marketing–sales SLA as one value.

An :class:`Agreement` holds the terms, the lifecycle, the teams and their calendars, the rules,
the obligations, the volume commitments, the goal and the tracking period. It is checked when it
is made (every problem listed at once) and does no I/O; reading and writing it as a file is the
business of the shell around it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from fractions import Fraction
from types import MappingProxyType
from typing import Final

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
from leadsla._core.defaults import default_rules, default_teams, default_terms
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
    ActivityMatch,
    Attempts,
    Escalate,
    ObligationSpec,
    Warn,
    When,
)
from leadsla._core.ownership import FixedOwner, RuleRouting, Team
from leadsla._core.periods import PERIODS, Period, per
from leadsla._core.rules import EVENT_KINDS, Fire, Rule, RuleSet
from leadsla._core.workflow import Workflow

__all__ = ["CONTACT_KINDS", "Agreement", "default_obligations"]

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


def _team_tuple(value: Iterable[Team]) -> tuple[Team, ...]:
    return tuple(value)


def _obligation_tuple(value: Iterable[ObligationSpec]) -> tuple[ObligationSpec, ...]:
    return tuple(value)


def _commitment_tuple(value: Iterable[Commitment]) -> tuple[Commitment, ...]:
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
    _workflow: Workflow = field(init=False, repr=False, eq=False)
    _field_types: Mapping[str, FieldType] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems = self._check()
        try:
            workflow = Workflow(
                lifecycle=self.lifecycle,
                terms=self.terms,
                teams=self.teams,
                rules=self.rules,
                field_types=getattr(self, "_field_types", None),
            )
        except WorkflowError as error:
            problems.extend(error.problems)
        if problems:
            raise AgreementError(*problems)
        object.__setattr__(self, "_workflow", workflow)

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

    def team(self, name: str) -> Team | None:
        return next((team for team in self.teams if team.name == name), None)

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
            if spec.calendar is not None and spec.calendar not in self.calendars:
                problems.append(
                    unknown("calendar", spec.calendar, self.calendars, f"{where}.calendar")
                )
            if spec.calendar is None and spec.within.business and len(self.calendars) != 1:
                problems.append(
                    Problem(
                        f"{where}.calendar",
                        None,
                        "is needed for business time when the agreement has "
                        f"{len(self.calendars)} calendars",
                        "name one of "
                        + (", ".join(sorted(self.calendars)) or "(none: add a calendar)"),
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
                            unknown("event kind", kind, EVENT_KINDS[:4], f"{where}.{part}.events")
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
            if spec.within.business and (spec.calendar is not None or len(self.calendars) == 1):
                used = spec.calendar or next(iter(self.calendars))
                if used in self.calendars:
                    problems.extend(_check_business_time(spec, used, self.calendars[used]))
            for part, action in actions:
                if isinstance(action, Fire) and action.trigger not in triggers:
                    problems.append(unknown("trigger", action.trigger, triggers, f"{where}.{part}"))
                if (
                    isinstance(action, Escalate)
                    and action.to != "manager"
                    and action.to not in people
                ):
                    problems.append(unknown("person", action.to, people, f"{where}.{part}"))
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
        problems.extend(self._check_names())
        problems.extend(self._check_field_types())
        problems.extend(self._check_reachable_meeting())
        problems.extend(self._check_goal())
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
    where = f"obligations.{spec.name}"
    within = spec.within
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
                    f"{where}.warnings[{index}].before",
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
