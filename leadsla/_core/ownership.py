"""Who owns a lead: teams, the person a policy picks, and ownership kept as intervals.

Each lifecycle state names the team that owns leads in it. When a lead enters a state owned by
another team, that team's :class:`AssignmentPolicy` picks the person. A lead keeps its ownership as
contiguous intervals (team, person, from, to, why), so "who owned it when?" is always answerable,
and breaches can be attributed to whoever owned the lead at that moment.

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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from attrs import field, frozen

from leadsla._core.conditions import Condition, Scope
from leadsla._core.errors import AgreementError, Problem

__all__ = [
    "AssignmentPolicy",
    "AssignmentPolicyLike",
    "AssignmentRequest",
    "FixedOwner",
    "LeastLoaded",
    "Owner",
    "OwnershipInterval",
    "RoundRobin",
    "RuleRouting",
    "StrictRoundRobin",
    "Team",
]


@frozen
class Owner:
    """The team responsible for a lead, and the person in it (None: the team as a whole)."""

    team: str
    person: str | None = None

    def __str__(self) -> str:
        return f"{self.person} ({self.team})" if self.person else self.team


@frozen
class OwnershipInterval:
    """Who owned a lead from ``start`` until ``end`` (None while it still does), and why."""

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
class AssignmentPolicyLike(Protocol):
    """Anything with ``assign(request) -> person | None`` and ``partition_safe`` works."""

    partition_safe: bool

    def assign(self, request: AssignmentRequest) -> str | None: ...


class AssignmentPolicy(ABC):
    """Base class for assignment policies: subclass it and implement :meth:`assign`.

    Return a member of ``request.team`` (or None to leave the lead with the team as a whole).
    Set ``partition_safe = False`` when the choice depends on other leads.
    """

    partition_safe: ClassVar[bool] = True

    @abstractmethod
    def assign(self, request: AssignmentRequest) -> str | None:
        """The person who gets the lead."""

    def describe(self) -> str:
        """A phrase for the one-page summary."""
        return type(self).__name__


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
        members = request.team.members
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
        members = request.team.members
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
        members = request.team.members
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
    def partition_safe(self) -> bool:  # type: ignore[override]
        fallback = self.fallback
        return not isinstance(fallback, AssignmentPolicy) or fallback.partition_safe

    def assign(self, request: AssignmentRequest) -> str | None:
        for condition, person in self.routes:
            if request.holds(condition):
                return person
        if isinstance(self.fallback, AssignmentPolicy):
            return self.fallback.assign(request)
        return self.fallback

    def describe(self) -> str:
        routes = "; ".join(f"{person} when {condition}" for condition, person in self.routes)
        fallback = (
            self.fallback.describe()
            if isinstance(self.fallback, AssignmentPolicy)
            else (self.fallback or "the team")
        )
        return f"routing: {routes}; otherwise {fallback}"


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
        if not isinstance(self.policy, AssignmentPolicyLike):
            problems.append(
                Problem(
                    f"{where}.assignment",
                    type(self.policy).__name__,
                    "is not an assignment policy",
                    "pass RoundRobin(), StrictRoundRobin(), LeastLoaded(), FixedOwner(person), "
                    "RuleRouting(...) or an AssignmentPolicy of your own",
                )
            )
        if problems:
            raise AgreementError(*problems)


def teams_by_name(teams: Sequence[Team]) -> dict[str, Team]:
    return {team.name: team for team in teams}
