"""Who owns a lead: teams, the person a policy picks, and ownership kept as intervals.

Each lifecycle state names the team that owns leads in it. When a lead enters a state owned by
another team, that team's :class:`AssignmentPolicy` picks the person. A lead keeps its ownership as
contiguous intervals (team, person, from, to, why), so "who owned it when?" is always answerable,
and breaches can be attributed to whoever owned the lead at that moment.

Policies are one extension point, :class:`AssignmentPolicy`: a typing ``Protocol`` that a
policy may subclass (to inherit :meth:`~AssignmentPolicy.describe`) or simply match (any object
with ``assign``, ``partition_safe`` and ``describe``). Both pass ``mypy --strict`` wherever the
agreement takes a policy.

Reassigning (a rule's or an obligation's ``Assign()`` without a person, or an ``assign`` event
without an owner) asks the policy for someone *other than* the current owner: the request's
``reassign`` is true and ``previous`` names who has the lead. The built-in policies choose among
the other members; a policy that can only give the same person back leaves the lead where it is,
and the engine says why.

Order-dependent policies read the engine's :class:`AssignmentBook` (how many leads each team
was given, how many open leads each person has). The workflow never writes the book: it records
what a step would change in a :class:`BookDraft`, which the engine commits only when the input
is accepted, so a refused event changes no one's count.

People and their availability: the agreement may describe the people who own leads
(:class:`Person`: when they are away, how many open leads they take at most). Assignment by a
policy skips whoever is away at the instant or at their capacity: the request's
:attr:`~AssignmentRequest.candidates` leave them out, so every policy that chooses among the
candidates honours it, and :func:`choose` refuses a pick of someone unavailable whatever the
policy, leaving the lead with the team as a whole (the ownership's reason says why). A
*sticky* team gives a lead that comes back the member who had it last, if still a member and
available, before asking its policy. An explicit assignment (an ``assign`` event or an
``Assign(person)`` action) is taken as given: the host knows best.

Policies and partitioning: the engine may replay a log partitioned by lead id, in parallel. A
policy whose choice depends only on the lead (its id, fields, state, time) keeps that possible:
it says ``partition_safe = True``. :class:`RoundRobin` is such a policy: it deals leads out by a
stable hash of the team and the lead id, so every member gets an equal share over many leads and
the same lead always gets the same person, in any process. A strict rotation
(:class:`StrictRoundRobin`) or a choice by current workload (:class:`LeastLoaded`) depends on
every other lead, and says ``partition_safe = False``. Stickiness and time away depend only on
the lead and the time, so they keep a team partition-safe; a capacity counts the members'
open leads, so a team whose members have one is order-dependent whatever its policy.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import Any, ClassVar, Final, NamedTuple, Protocol, runtime_checkable

from attrs import field, frozen

from leadsla._core.calendar import BusinessCalendar, from_instant_us, instant_us
from leadsla._core.conditions import Condition, Scope
from leadsla._core.errors import AgreementError, CalendarError, LeadSLAError, Problem
from leadsla._core.fast import builder

__all__ = [
    "AssignmentBook",
    "AssignmentPolicy",
    "AssignmentRequest",
    "BookDraft",
    "FixedOwner",
    "LeastLoaded",
    "Owner",
    "OwnershipInterval",
    "Person",
    "Pick",
    "RoundRobin",
    "RuleRouting",
    "StrictRoundRobin",
    "Team",
    "choose",
    "pins_of",
]


@frozen
class Owner:
    """The team responsible for a lead, and the person in it (None: the team as a whole)."""

    team: str
    person: str | None = None

    def __str__(self) -> str:
        return f"{self.person} ({self.team})" if self.person else self.team


@frozen(weakref_slot=False)
class OwnershipInterval:
    """Who owned a lead from ``start`` until ``end`` (None while it still does), and why.

    (No ``__weakref__`` slot: every lead keeps one or more, 8 bytes smaller each, and
    :func:`new_interval` builds them quickly.)
    """

    owner: Owner
    start: datetime
    end: datetime | None
    reason: str

    @property
    def team(self) -> str:
        return self.owner.team

    @property
    def person(self) -> str | None:
        return self.owner.person

    def covers(self, at: datetime) -> bool:
        """Whether ``at`` falls in ``[start, end)``, comparing instants (two datetimes of one
        zone compare by wall clock, which the hour repeated in autumn makes ambiguous)."""
        instant = at.timestamp()
        return self.start.timestamp() <= instant and (
            self.end is None or instant < self.end.timestamp()
        )


#: ``OwnershipInterval`` from its four fields, positionally (see leadsla._core.fast).
new_interval = builder(OwnershipInterval)

_NOTHING: Mapping[str, Any] = MappingProxyType({})


class AssignmentRequest(NamedTuple):
    """What a policy may look at to pick a person for a lead.

    ``sequence`` (how many leads this team was given before, in this engine) and ``loads``
    (open leads per member now) are kept by the engine across all leads: a policy that reads
    them is not partition-safe. ``people`` are the agreement's :class:`Person` values by name
    (when each is away, their capacity) and ``calendars`` the calendar each member works by
    (see :meth:`calendar_of`). (A named tuple: one is made for every assignment.)
    """

    lead_id: str
    team: Team
    fields: Mapping[str, Any]
    state: str
    at: datetime
    previous: Owner | None = None
    sequence: int = 0
    loads: Mapping[str, int] = _NOTHING
    terms: Mapping[str, Callable[[Scope], bool]] = _NOTHING
    reassign: bool = False
    people: Mapping[str, Person] = _NOTHING
    calendars: Mapping[str, BusinessCalendar] = _NOTHING

    @property
    def candidates(self) -> tuple[str, ...]:
        """The members who may get the lead: those available (not away at ``at``, not at
        their capacity), or when reassigning, those but the current owner (the current owner
        alone if no one else is left, and available)."""
        members = self.team.members
        if self.people:
            members = tuple(member for member in members if self.why_unavailable(member) is None)
        previous = self.previous
        if not self.reassign or previous is None or previous.person not in members:
            return members
        others = tuple(member for member in members if member != previous.person)
        return others or members

    def why_unavailable(self, person: str) -> str | None:
        """Why ``person`` cannot be given the lead now (``"away"``, ``"at capacity (40 open
        leads)"``), or None when they can. Open leads are counted in ``loads``: without an
        engine's count, no one is at capacity."""
        who = self.people.get(person)
        if who is None:
            return None
        if who.away and who.away_at(self.at):
            return "away"
        capacity = who.capacity
        if capacity is not None:
            load = self.loads.get(person, 0)
            if load >= capacity:
                return f"at capacity ({load} open lead{'' if load == 1 else 's'})"
        return None

    def available(self, person: str) -> bool:
        """Whether ``person`` may be given the lead now (see :meth:`why_unavailable`)."""
        return self.why_unavailable(person) is None

    def calendar_of(self, person: str) -> BusinessCalendar | None:
        """The calendar ``person`` works by in this team (their own, else the team's, else
        the agreement's default), or None when the agreement does not say."""
        return self.calendars.get(person)

    def holds(self, condition: Condition) -> bool:
        """Evaluate a condition on the lead; the agreement's terms can be used by name."""
        previous = self.previous
        scope = Scope(
            self.fields,
            self.at,
            self.state,
            previous.person if previous else None,
            previous.team if previous else None,
            self.terms,
        )
        return condition.compile(frozenset(self.terms))(scope)


@runtime_checkable
class AssignmentPolicy(Protocol):
    """Picks the person in a team who gets a lead: the extension point for assignment.

    Subclass it and implement :meth:`assign` (``describe`` then comes for free), or give any
    object the three members. Set ``partition_safe`` to False when the choice depends on
    other leads (a rotation, a workload count): such a policy cannot be replayed in parallel.
    """

    @property
    def partition_safe(self) -> bool:
        """Whether the choice depends only on the lead (its id, fields, state, time); a
        subclass that does not say is taken to be."""
        return True

    def assign(self, request: AssignmentRequest) -> str | None:
        """The person who gets the lead: a member of ``request.team`` (one of
        ``request.candidates``), or None to leave the lead with the team as a whole."""
        ...

    def describe(self) -> str:
        """A phrase for the one-page summary."""
        return type(self).__name__


class AssignmentBook:
    """Counters kept across all leads for policies that are not partition-safe.

    ``sequence`` counts the leads given to each team; ``loads`` the open leads of each person.
    Only :meth:`commit` changes them.
    """

    __slots__ = ("loads", "sequence")

    def __init__(self) -> None:
        self.sequence: dict[str, int] = {}
        self.loads: dict[str, int] = {}

    def draft(self) -> BookDraft:
        """An empty record of changes on top of this book."""
        return BookDraft(self)

    def commit(self, draft: BookDraft) -> None:
        """Apply what ``draft`` recorded."""
        for team, count in draft.given.items():
            self.sequence[team] = self.sequence.get(team, 0) + count
        for person, delta in draft.load_changes.items():
            self.loads[person] = self.loads.get(person, 0) + delta

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """Copies of the counters, for comparing two books."""
        return dict(self.sequence), {k: v for k, v in self.loads.items() if v}


class BookDraft:
    r"""What one step would change in an :class:`AssignmentBook`; reads see the changes.

    A draft may sit on another draft (:meth:`child`): an action that fails leaves its parent
    as it was, and one that succeeds is :meth:`merge`\ d into it.

    ``pins`` (kept by children) are picks made before, by team and instant, in the order
    they were made: when a lead is worked out again for a late event, an order-dependent
    team's pick at the same instant keeps the owner (and the note on its reason) it gave the
    first time instead of drawing again. ``picked`` records the picks of order-dependent
    teams (pinned or drawn), so that they can be pinned in turn.
    """

    __slots__ = ("base", "given", "load_changes", "picked", "pins")

    def __init__(
        self,
        base: AssignmentBook | BookDraft,
        pins: dict[tuple[str, datetime], list[Pick]] | None = None,
    ) -> None:
        self.base = base
        self.given: dict[str, int] = {}
        self.load_changes: dict[str, int] = {}
        self.picked: list[Pick] | None = None
        inherited = base.pins if isinstance(base, BookDraft) else None
        self.pins: dict[tuple[str, datetime], list[Pick]] | None = pins or inherited

    def pinned(self, team: str, at: datetime) -> Pick | None:
        """The next pick pinned for ``team`` at ``at`` (taken), if any."""
        picks = self.pins.get((team, at)) if self.pins is not None else None
        return picks.pop(0) if picks else None

    def pick(self, team: str, at: datetime, owner: Owner, note: str | None = None) -> None:
        """Record an order-dependent team's pick."""
        if self.picked is None:
            self.picked = []
        self.picked.append(Pick(team, at, owner, note))

    def sequence(self, team: str) -> int:
        """How many leads ``team`` was given before, counting this draft's."""
        base = self.base
        before = (
            base.sequence.get(team, 0) if isinstance(base, AssignmentBook) else base.sequence(team)
        )
        return before + self.given.get(team, 0)

    def gave(self, team: str) -> None:
        self.given[team] = self.given.get(team, 0) + 1

    def load(self, person: str, delta: int) -> None:
        self.load_changes[person] = self.load_changes.get(person, 0) + delta

    @property
    def loads(self) -> Mapping[str, int]:
        """Open leads per person, counting this draft's changes."""
        return _Loads(self.base.loads, self.load_changes)

    def child(self) -> BookDraft:
        """A draft on top of this one."""
        return BookDraft(self)

    def merge(self, child: BookDraft, sign: int = 1) -> None:
        """Take over what a child draft recorded (``sign=-1``: take it back)."""
        if child.picked and sign > 0:
            if self.picked is None:
                self.picked = []
            self.picked.extend(child.picked)
        for team, count in child.given.items():
            self.given[team] = self.given.get(team, 0) + sign * count
        for person, delta in child.load_changes.items():
            self.load_changes[person] = self.load_changes.get(person, 0) + sign * delta


class Pick(NamedTuple):
    """An owner an order-dependent team gave a lead: the team, when, whom, and the note on
    the ownership's reason (sticky, or why no one could take it), if any."""

    team: str
    at: datetime
    owner: Owner
    note: str | None = None


def pins_of(picks: Iterable[Pick]) -> dict[tuple[str, datetime], list[Pick]]:
    """The picks made, by team and instant, in the order made (a new dict and lists each
    call: a run takes them as it goes)."""
    pins: dict[tuple[str, datetime], list[Pick]] = {}
    for pick in picks:
        pins.setdefault((pick.team, pick.at), []).append(pick)
    return pins


class _Loads(Mapping[str, int]):
    """A read-only view of a book's loads plus a draft's changes."""

    __slots__ = ("_base", "_changes")

    def __init__(self, base: Mapping[str, int], changes: Mapping[str, int]) -> None:
        self._base = base
        self._changes = changes

    def __getitem__(self, person: str) -> int:
        if person not in self._base and person not in self._changes:
            raise KeyError(person)
        return self._base.get(person, 0) + self._changes.get(person, 0)

    def __iter__(self) -> Iterator[str]:
        return iter({**self._base, **self._changes})

    def __len__(self) -> int:
        return len({**self._base, **self._changes})


def stable_index(key: str, size: int) -> int:
    """A position in ``range(size)`` that depends only on ``key``, in every process."""
    return zlib.crc32(key.encode("utf-8")) % size


@frozen
class RoundRobin(AssignmentPolicy):
    """Deal leads out evenly by a stable hash of team and lead id; partition-safe.

    Over many leads each member gets an equal share, and a lead always gets the same person in
    any process, so a log split by lead id replays to the same owners. Consecutive leads are not
    strictly alternated: for that, use :class:`StrictRoundRobin`.
    """

    partition_safe: ClassVar[bool] = True

    def assign(self, request: AssignmentRequest) -> str | None:
        members = request.candidates
        if not members:
            return None
        return members[stable_index(f"{request.team.name}\x00{request.lead_id}", len(members))]

    def describe(self) -> str:
        return "round robin (by lead id)"


@frozen
class StrictRoundRobin(AssignmentPolicy):
    """Strict rotation through the members in the order leads arrive; not partition-safe."""

    partition_safe: ClassVar[bool] = False

    def assign(self, request: AssignmentRequest) -> str | None:
        members = request.candidates
        return members[request.sequence % len(members)] if members else None

    def describe(self) -> str:
        return "strict round robin"


@frozen
class LeastLoaded(AssignmentPolicy):
    """The member with the fewest open leads; ties go by a stable hash. Not partition-safe.

    ``loads`` gives the counts; when None, the engine's current open-lead counts are used.

    With ``working_hours=True``, the members at work come first: those whose calendar (see
    :meth:`AssignmentRequest.calendar_of`) is open at the instant of the assignment, or, when
    no one's is, those whose calendar opens soonest; among them, the fewest open leads. A
    member whose calendar the agreement does not know counts as at work.
    """

    partition_safe: ClassVar[bool] = False
    loads: Mapping[str, int] | None = field(default=None, eq=False)
    working_hours: bool = field(default=False, kw_only=True)

    def assign(self, request: AssignmentRequest) -> str | None:
        members = request.candidates
        if not members:
            return None
        loads = self.loads if self.loads is not None else request.loads
        lead_id = request.lead_id
        if not self.working_hours:
            return min(
                members,
                key=lambda member: (
                    loads.get(member, 0),
                    zlib.crc32(f"{member}\x00{lead_id}".encode()),
                ),
            )
        at = request.at
        now_us = instant_us(at)
        return min(
            members,
            key=lambda member: (
                _opening_us(request.calendar_of(member), at, now_us),
                loads.get(member, 0),
                zlib.crc32(f"{member}\x00{lead_id}".encode()),
            ),
        )

    def describe(self) -> str:
        if self.working_hours:
            return "least loaded among those at work (else those whose hours begin soonest)"
        return "least loaded"


#: Later than any instant a calendar gives: where a calendar that never opens again sorts.
_NEVER: Final = 2**63


def _opening_us(calendar: BusinessCalendar | None, at: datetime, at_us: int) -> int:
    """When ``calendar`` is next open, at or after ``at`` (``at_us``, in microseconds since the
    epoch): ``at_us`` itself when it is open now, or has no calendar."""
    if calendar is None:
        return at_us
    try:
        return instant_us(calendar.next_open(at))
    except CalendarError:  # no working time ahead at all: after everyone else
        return _NEVER


@frozen
class FixedOwner(AssignmentPolicy):
    """Always the same person."""

    person: str

    def assign(self, request: AssignmentRequest) -> str | None:
        return self.person

    def describe(self) -> str:
        return f"always {self.person}"


def _routes(value: Iterable[tuple[str | Condition, str]]) -> tuple[tuple[Condition, str], ...]:
    return tuple(
        (
            condition
            if isinstance(condition, Condition)
            else Condition(condition, field="routing"),
            person,
        )
        for condition, person in value
    )


@frozen
class RuleRouting(AssignmentPolicy):
    """Ordered routing rules: the first whose condition holds picks the person; else fallback.

    >>> policy = RuleRouting([("country in ['FI', 'SE']", "alice")], fallback=RoundRobin())
    """

    routes: tuple[tuple[Condition, str], ...] = field(converter=_routes)
    fallback: AssignmentPolicy | str | None = field(factory=RoundRobin)

    @property
    def partition_safe(self) -> bool:
        fallback = self.fallback
        return fallback is None or isinstance(fallback, str) or fallback.partition_safe

    def assign(self, request: AssignmentRequest) -> str | None:
        previous = request.previous
        current = previous.person if request.reassign and previous is not None else None
        for condition, person in self.routes:
            # A route to someone away or at capacity gives way to the next, then the fallback.
            if person != current and request.holds(condition) and request.available(person):
                return person
        fallback = self.fallback
        if fallback is None or isinstance(fallback, str):
            return fallback
        return fallback.assign(request)

    def describe(self) -> str:
        routes = "; ".join(f"{person} when {condition}" for condition, person in self.routes)
        fallback = self.fallback
        if fallback is None or isinstance(fallback, str):
            otherwise = fallback or "the team"
        else:
            otherwise = fallback.describe()
        return f"routing: {routes}; otherwise {otherwise}"


def _members(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@frozen
class Team:
    """A team: its members, its manager (who hears about breaches) and how it assigns leads.

    A team that owns a state or makes a promise needs members (the agreement checks that);
    the manager is not one of them unless listed.

    A ``sticky`` team gives a lead that comes back to it (from nurture, say) to the member who
    owned it last for this team, if they are still a member and available, without asking
    the policy; a reassignment is never sticky.
    """

    name: str
    members: tuple[str, ...] = field(default=(), converter=_members)
    manager: str | None = None
    policy: AssignmentPolicy = field(factory=RoundRobin)
    sticky: bool = False

    def __attrs_post_init__(self) -> None:
        problems = []
        where = f"teams.{self.name}"
        if not isinstance(self.name, str) or not self.name:
            problems.append(
                Problem("teams", self.name, "has a team without a name", "name every team")
            )
        bad = [m for m in self.members if not isinstance(m, str) or not m]
        if bad:
            problems.append(
                Problem(
                    f"{where}.members",
                    list(self.members),
                    "must be names (non-empty text)",
                    'write e.g. members = ["alice", "bob"]',
                )
            )
        else:
            twice = sorted({m for m in self.members if self.members.count(m) > 1})
            if twice:
                problems.append(
                    Problem(
                        f"{where}.members",
                        twice,
                        "names a person twice",
                        "list each member once",
                    )
                )
        if self.manager is not None and (not isinstance(self.manager, str) or not self.manager):
            problems.append(
                Problem(
                    f"{where}.manager",
                    self.manager,
                    "must be a person's name",
                    'write e.g. manager = "sam", or leave it out',
                )
            )
        sticky: object = self.sticky  # typed as a flag; callers may pass anything
        if not isinstance(sticky, bool):
            problems.append(
                Problem(
                    f"{where}.sticky",
                    sticky,
                    "must be true or false",
                    "write sticky = true to give returning leads to the member who had them",
                )
            )
        policy: object = self.policy  # typed as a policy; callers may pass anything
        if not isinstance(policy, AssignmentPolicy):
            problems.append(
                Problem(
                    f"{where}.assignment",
                    type(policy).__name__,
                    "is not an assignment policy",
                    "pass RoundRobin(), StrictRoundRobin(), LeastLoaded(), FixedOwner(person), "
                    "RuleRouting(...) or an AssignmentPolicy of your own",
                )
            )
        if problems:
            raise AgreementError(*problems)


def teams_by_name(teams: Sequence[Team]) -> dict[str, Team]:
    return {team.name: team for team in teams}


#: The note on the reason of an ownership a sticky team gave back.
STICKY: Final = "sticky: owned it before"


def choose(
    request: AssignmentRequest, ownership: Sequence[OwnershipInterval] = ()
) -> tuple[object, str | None]:
    """The person ``request.team`` gives the lead (None: the team as a whole; anything else a
    policy returned is passed on, for the workflow to refuse), and a note for the reason of
    the ownership, if any.

    The one place where ownership people expect is decided: a sticky team first looks in the
    lead's ``ownership`` for the latest member of the team who owned it and is still a member
    and available; otherwise the policy picks among the candidates; a pick of someone away
    or at capacity is not taken, and when no one is available the note says why.
    """
    team = request.team
    if team.sticky and not request.reassign:
        members = team.members
        for interval in reversed(ownership):
            owner = interval.owner
            person = owner.person
            if (
                person is not None
                and owner.team == team.name
                and person in members
                and request.available(person)
            ):
                return person, STICKY
    picked: object = team.policy.assign(request)
    if not request.people:
        return picked, None
    if isinstance(picked, str):
        why = request.why_unavailable(picked)
        if why is None:
            return picked, None
        return None, f"the policy named {picked}, who is {why}"
    if picked is None and team.members and not request.candidates:
        reasons = [
            f"{member} {why}"
            for member in team.members
            if (why := request.why_unavailable(member)) is not None
        ]
        if reasons:
            return None, "no one available: " + ", ".join(reasons)
    return picked, None


def _pairs(value: Iterable[Sequence[date | str]]) -> tuple[Any, ...]:
    """The away windows as given, as a tuple of pairs (a single pair is one window); checked
    and read by :class:`Person` itself, so that every problem is reported with its place."""
    if isinstance(value, (str, bytes, date)) or not isinstance(value, Iterable):
        return (value,)
    items = tuple(value)
    if len(items) == 2 and all(isinstance(item, (str, date)) for item in items):
        return (items,)  # ("2026-12-21", "2027-01-01"): one window
    return tuple(tuple(item) if isinstance(item, list) else item for item in items)


def _moment(value: object) -> date | datetime | str:
    """A window's start or end as a date or an aware datetime, or the reason it is neither."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text)
        except ValueError:
            return "is not a date (YYYY-MM-DD) or a date and time with its UTC offset"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return "has no UTC offset, so it is no single instant"
        return value
    if isinstance(value, date):
        return value
    return "is not a date (YYYY-MM-DD) or a date and time with its UTC offset"


def _day_start_us(day: date, zone: tzinfo) -> int:
    """The first instant of ``day`` on ``zone``'s wall clock (after 9999-12-31: never)."""
    if day == date.max:
        return _NEVER
    return instant_us(datetime.combine(day, time(), zone))


@frozen
class Person:
    """Someone who may own leads: when they are away, and how many open leads they take.

    ``away`` lists windows of time away, each a pair ``(start, end)``. Dates are whole days,
    both included, on the wall clock of ``timezone``: ``("2026-12-21", "2027-01-01")`` is from
    the first minute of 21 December to the end of New Year's Day. Aware datetimes are
    instants, the end excluded. Text in ISO form is read as a date or a datetime.
    ``capacity`` is the most open leads the person takes (None: no limit). ``timezone`` is
    the zone of the dates; None takes the agreement's (UTC for a person on their own).

    Assignment by a team's policy skips a person who is away or at capacity (see
    :attr:`AssignmentRequest.candidates`); an explicit assignment to them is still taken.

    >>> aino = Person("aino", away=[("2026-12-21", "2027-01-01")], timezone="Europe/Helsinki")
    >>> from datetime import datetime, timezone
    >>> aino.away_at(datetime(2027, 1, 1, 21, 59, tzinfo=timezone.utc))
    True
    >>> aino.away_at(datetime(2027, 1, 1, 22, 0, tzinfo=timezone.utc))  # midnight in Helsinki
    False
    """

    name: str
    away: tuple[tuple[date, date], ...] = field(default=(), converter=_pairs)
    capacity: int | None = None
    timezone: str | None = None
    _spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, eq=False)
    _zone: tzinfo = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        name = self.name
        if not isinstance(name, str) or not name:
            problems.append(
                Problem("people", name, "has a person without a name", "name every person")
            )
        where = f"people.{name}"
        zone: tzinfo = UTC
        if self.timezone is not None:
            try:
                zone = BusinessCalendar.always(self.timezone).tz
            except LeadSLAError as error:
                problems.extend(
                    Problem(f"{where}.timezone", self.timezone, p.message, p.fix)
                    for p in error.problems
                )
        capacity: object = self.capacity
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        ):
            problems.append(
                Problem(
                    f"{where}.capacity",
                    capacity,
                    "must be a whole number of at least 1",
                    "write e.g. capacity = 40 (the most open leads they take), or leave it "
                    "out for no limit",
                )
            )
        windows, spans = self._read_windows(where, zone, problems)
        if problems:
            raise AgreementError(*problems)
        object.__setattr__(self, "away", windows)
        object.__setattr__(self, "_spans", spans)
        object.__setattr__(self, "_zone", zone)

    def _read_windows(
        self, where: str, zone: tzinfo, problems: list[Problem]
    ) -> tuple[tuple[tuple[date, date], ...], tuple[tuple[int, int], ...]]:
        windows: list[tuple[date, date]] = []
        spans: list[tuple[int, int]] = []
        example = 'write e.g. away = [["2026-12-21", "2027-01-01"]] (both days included)'
        given: tuple[object, ...] = self.away  # as given: checked here
        for index, window in enumerate(given):
            place = f"{where}.away[{index}]"
            if not isinstance(window, tuple) or len(window) != 2:
                problems.append(
                    Problem(place, window, "must be a pair: the first and the last day", example)
                )
                continue
            start, end = (_moment(part) for part in window)
            for part, read in zip(window, (start, end), strict=True):
                if isinstance(read, str):  # the reason it could not be read
                    problems.append(
                        Problem(place, part, read, f"{example}, or ISO datetimes with offsets")
                    )
            if isinstance(start, str) or isinstance(end, str):
                continue
            start_us = (
                instant_us(start) if isinstance(start, datetime) else _day_start_us(start, zone)
            )
            if isinstance(end, datetime):
                last_us = end_us = instant_us(end)
            else:  # the whole last day
                last_us = _day_start_us(end, zone)
                end_us = _day_start_us(end + timedelta(days=1), zone) if end < date.max else _NEVER
            if end_us <= start_us:
                problems.append(
                    Problem(
                        place,
                        [str(start), str(end)],
                        "ends before it starts" if last_us < start_us else "is empty",
                        "give the start first and the end after it: " + example,
                    )
                )
                continue
            windows.append((start, end))
            spans.append((start_us, end_us))
        return tuple(windows), tuple(spans)

    def away_at(self, at: datetime) -> bool:
        """Whether ``at`` (timezone-aware) falls in one of the person's windows away."""
        moment = instant_us(at, "at")
        return any(start <= moment < end for start, end in self._spans)

    def next_away_start(self, after: datetime) -> datetime | None:
        """The first instant after ``after`` at which a window away starts (on the person's
        zone), or None when no window starts later."""
        moment = instant_us(after, "after")
        later = [start for start, _ in self._spans if start > moment]
        return from_instant_us(min(later), self._zone) if later else None

    def describe(self) -> str:
        """The person's availability in words, for the one-page summary: ``aino is away
        2026-12-21 to 2027-01-01 and takes at most 40 open leads``."""
        parts = []
        if self.away:
            shown = [
                f"{_shown(start)} to {_shown(end)}" if start != end else _shown(start)
                for start, end in self.away
            ]
            parts.append("is away " + (", ".join(shown[:-1]) + " and " if shown[1:] else ""))
            parts[-1] += shown[-1]
        if self.capacity is not None:
            lead = "lead" if self.capacity == 1 else "leads"
            parts.append(f"takes at most {self.capacity} open {lead}")
        return f"{self.name} " + (" and ".join(parts) or "is always available")


def _shown(moment: date) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat(sep=" ", timespec="minutes")
    return moment.isoformat()
