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

Policies and partitioning: the engine may replay a log partitioned by lead id, in parallel. A
policy whose choice depends only on the lead (its id, fields, state, time) keeps that possible:
it says ``partition_safe = True``. :class:`RoundRobin` is such a policy: it deals leads out by a
stable hash of the team and the lead id, so every member gets an equal share over many leads and
the same lead always gets the same person, in any process. A strict rotation
(:class:`StrictRoundRobin`) or a choice by current workload (:class:`LeastLoaded`) depends on
every other lead, and says ``partition_safe = False``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from attrs import field, frozen

from leadsla._core.conditions import Condition, Scope
from leadsla._core.errors import AgreementError, Problem
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
    "Pick",
    "RoundRobin",
    "RuleRouting",
    "StrictRoundRobin",
    "Team",
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
    them is not partition-safe. (A named tuple: one is made for every assignment.)
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

    @property
    def candidates(self) -> tuple[str, ...]:
        """The members who may get the lead: all of them, or when reassigning, all but the
        current owner (all of them if no one else is left)."""
        members = self.team.members
        previous = self.previous
        if not self.reassign or previous is None or previous.person not in members:
            return members
        others = tuple(member for member in members if member != previous.person)
        return others or members

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

    ``pins`` (kept by children) are owners given before, by team and instant, in the order
    they were given: when a lead is worked out again for a late event, an order-dependent
    policy's pick at the same instant keeps the owner it gave the first time instead of
    drawing again. ``picked`` records the picks of order-dependent policies (pinned or
    drawn), so that they can be pinned in turn.
    """

    __slots__ = ("base", "given", "load_changes", "picked", "pins")

    def __init__(
        self,
        base: AssignmentBook | BookDraft,
        pins: dict[tuple[str, datetime], list[Owner]] | None = None,
    ) -> None:
        self.base = base
        self.given: dict[str, int] = {}
        self.load_changes: dict[str, int] = {}
        self.picked: list[Pick] | None = None
        inherited = base.pins if isinstance(base, BookDraft) else None
        self.pins: dict[tuple[str, datetime], list[Owner]] | None = pins or inherited

    def pinned(self, team: str, at: datetime) -> Owner | None:
        """The next owner pinned for a pick of ``team`` at ``at`` (taken), if any."""
        owners = self.pins.get((team, at)) if self.pins is not None else None
        return owners.pop(0) if owners else None

    def pick(self, team: str, at: datetime, owner: Owner) -> None:
        """Record an order-dependent policy's pick."""
        if self.picked is None:
            self.picked = []
        self.picked.append(Pick(team, at, owner))

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
    """An owner an order-dependent policy gave a lead: the team, when, and whom."""

    team: str
    at: datetime
    owner: Owner


def pins_of(picks: Iterable[Pick]) -> dict[tuple[str, datetime], list[Owner]]:
    """The owners given, by team and instant, in the order given (a new dict and lists each
    call: a run takes them as it goes)."""
    pins: dict[tuple[str, datetime], list[Owner]] = {}
    for pick in picks:
        pins.setdefault((pick.team, pick.at), []).append(pick.owner)
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
    """

    partition_safe: ClassVar[bool] = False
    loads: Mapping[str, int] | None = field(default=None, eq=False)

    def assign(self, request: AssignmentRequest) -> str | None:
        members = request.candidates
        if not members:
            return None
        loads = self.loads if self.loads is not None else request.loads
        return min(
            members,
            key=lambda member: (
                loads.get(member, 0),
                zlib.crc32(f"{member}\x00{request.lead_id}".encode()),
            ),
        )

    def describe(self) -> str:
        return "least loaded"


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
            if person != current and request.holds(condition):
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
    """

    name: str
    members: tuple[str, ...] = field(default=(), converter=_members)
    manager: str | None = None
    policy: AssignmentPolicy = field(factory=RoundRobin)

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
