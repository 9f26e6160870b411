"""A user's own assignment policies, written as docs/how-to/assignment-policy.md shows, are
accepted wherever a policy is, and type-check there under ``mypy --strict`` (CI runs it over
this file): a subclass of :class:`leadsla.AssignmentPolicy`, and plain classes that only have
``assign``, ``partition_safe`` and ``describe``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from leadsla import (
    Agreement,
    AssignmentPolicy,
    AssignmentRequest,
    Condition,
    Engine,
    LeadCreated,
    Owner,
    OwnerAssigned,
    Rejected,
    RuleRouting,
    Team,
    Workflow,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=HELSINKI)
SALES = ("alice", "bob", "carol", "dan")
DEFAULT = Agreement.default()


class BigDealsToSeniors(AssignmentPolicy):
    """Large companies go to the seniors; the others are shared by lead id."""

    partition_safe = True

    def __init__(self, seniors: Sequence[str]) -> None:
        self.seniors = tuple(seniors)
        self.big = Condition("employees >= 1000")

    def assign(self, request: AssignmentRequest) -> str | None:
        if request.holds(self.big):
            pool: Sequence[str] = self.seniors
        else:
            pool = [m for m in request.team.members if m not in self.seniors]
        if not pool:
            return None
        # crc32, not hash(): hash() of text changes from process to process.
        return pool[zlib.crc32(request.lead_id.encode()) % len(pool)]

    def describe(self) -> str:
        return f"companies of 1 000+ to {', '.join(self.seniors)}; others by lead id"


class ByCountry:
    """Not a subclass: a plain class with the three members, ``partition_safe`` an attribute."""

    partition_safe = True

    def __init__(self, people: Mapping[str, str], otherwise: str) -> None:
        self.people = dict(people)
        self.otherwise = otherwise

    def assign(self, request: AssignmentRequest) -> str | None:
        country = request.fields.get("country")
        return self.people.get(country, self.otherwise) if isinstance(country, str) else None

    def describe(self) -> str:
        return f"by country, otherwise {self.otherwise}"


class TakeTurns:
    """Not a subclass either: a strict rotation by the engine's count, ``partition_safe`` a
    property saying it depends on other leads."""

    @property
    def partition_safe(self) -> bool:
        return False

    def assign(self, request: AssignmentRequest) -> str | None:
        members = request.candidates
        return members[request.sequence % len(members)] if members else None

    def describe(self) -> str:
        return "in turns"


def agreement_with(policy: AssignmentPolicy) -> Agreement:
    """The default agreement, built again with a sales team that assigns by ``policy``."""
    return Agreement(
        name="Our SLA",
        timezone=DEFAULT.timezone,
        calendars=DEFAULT.calendars,
        teams=[
            Team("marketing", ("mia",)),
            Team("sales", SALES, manager="sam", policy=policy),
        ],
        terms=DEFAULT.terms,
        lifecycle=DEFAULT.lifecycle,
        rules=DEFAULT.rules,
        obligations=DEFAULT.obligations,
        commitments=DEFAULT.commitments,
        fields={**DEFAULT.fields, "employees": "number"},
    )


def created(number: int, **fields: object) -> LeadCreated:
    """A lead that becomes an MQL (score 70), and so goes to sales, ``number`` minutes in."""
    return LeadCreated(
        id=f"e{number}",
        lead=f"L-{number}",
        at=T0 + timedelta(minutes=number),
        fields={"email": f"lead{number}@acme.fi", "score": 70, **fields},
    )


def owner_in(engine: Engine, lead: str) -> str | None:
    owner = engine.lead(lead).owner
    assert owner is not None
    assert owner.team == "sales"
    return owner.person


def request(lead_id: str, **fields: object) -> AssignmentRequest:
    team = Team("sales", SALES)
    return AssignmentRequest(lead_id=lead_id, team=team, fields=fields, state="mql", at=T0)


def test_a_subclassed_policy_assigns_through_an_engine() -> None:
    """An agreement whose team subclasses AssignmentPolicy gives big companies to the senior."""
    engine = Engine(agreement_with(BigDealsToSeniors(["alice"])))
    engine.apply(created(1, employees=5000))
    engine.apply(created(2, employees=20))
    engine.apply(created(3))
    assert owner_in(engine, "L-1") == "alice"
    assert owner_in(engine, "L-2") in {"bob", "carol", "dan"}
    assert owner_in(engine, "L-3") in {"bob", "carol", "dan"}  # no head count: not big


def test_a_plain_class_policy_assigns_through_an_engine() -> None:
    """A class that only has the three members is a policy a team and an engine accept."""
    policy = ByCountry({"DE": "bob", "SE": "carol"}, otherwise="dan")
    engine = Engine(agreement_with(policy))
    for number, country in enumerate(("DE", "SE", "US"), start=1):
        engine.apply(created(number, country=country))
    engine.apply(created(4))
    people = [owner_in(engine, f"L-{number}") for number in range(1, 5)]
    assert people == ["bob", "carol", "dan", None]  # no country: the team as a whole


def test_a_plain_order_dependent_policy_reads_the_engines_book() -> None:
    """A plain class saying partition_safe is False gets the engine's count of leads dealt,
    and a reassignment asks it for someone other than the owner."""
    policy = TakeTurns()
    assert isinstance(policy, AssignmentPolicy)  # the protocol is checked at run time too
    engine = Engine(agreement_with(policy))
    for number in range(1, 6):
        engine.apply(created(number))
    assert [owner_in(engine, f"L-{number}") for number in range(1, 6)] == [
        "alice",
        "bob",
        "carol",
        "dan",
        "alice",
    ]
    engine.apply(OwnerAssigned(id="a1", lead="L-1", at=T0 + timedelta(hours=1), owner=None))
    # The team's sixth lead (five dealt before) among the others, bob, carol and dan.
    assert owner_in(engine, "L-1") == "dan"


def test_rule_routing_calls_a_plain_fallback_and_returns_its_pick() -> None:
    """With a plain class as fallback, RuleRouting returns the person it picks, never the
    policy object itself."""
    routing = RuleRouting(
        [("country == 'FI'", "alice")], fallback=ByCountry({"DE": "bob"}, otherwise="dan")
    )
    picks = [routing.assign(request("L-1", country=c)) for c in ("FI", "DE", "US")]
    assert picks == ["alice", "bob", "dan"]
    assert all(isinstance(pick, str) for pick in picks)
    assert routing.partition_safe
    assert routing.describe() == (
        "routing: alice when country == 'FI'; otherwise by country, otherwise dan"
    )


def test_rule_routing_with_a_subclassed_fallback_routes_through_an_engine() -> None:
    """A routing team whose fallback subclasses AssignmentPolicy: routes first, then the
    fallback's choice, as the engine's owners."""
    fallback = BigDealsToSeniors(["carol"])
    engine = Engine(agreement_with(RuleRouting([("country == 'FI'", "alice")], fallback=fallback)))
    engine.apply(created(1, country="FI", employees=5000))
    engine.apply(created(2, country="DE", employees=5000))
    engine.apply(created(3, country="DE", employees=10))
    assert owner_in(engine, "L-1") == "alice"
    assert owner_in(engine, "L-2") == "carol"
    assert owner_in(engine, "L-3") in {"alice", "bob", "dan"}


def test_rule_routing_with_an_order_dependent_plain_fallback_is_not_partition_safe() -> None:
    """A routing policy is as safe as its fallback, a plain class's property included; the
    engine then deals the fallback's turns."""
    routing = RuleRouting([("country == 'FI'", "alice")], fallback=TakeTurns())
    assert routing.partition_safe is False
    engine = Engine(agreement_with(routing))
    for number, country in enumerate(("DE", "FI", "DE", "DE"), start=1):
        engine.apply(created(number, country=country))
    people = [owner_in(engine, f"L-{number}") for number in range(1, 5)]
    # Every lead given to the team counts as a turn, the routed one too.
    assert people == ["alice", "alice", "carol", "dan"]


def test_a_workflow_takes_teams_with_user_policies() -> None:
    """The workflow on its own (no engine) asks each team's own policy as the lead moves."""
    workflow = Workflow(
        lifecycle=DEFAULT.lifecycle,
        terms=DEFAULT.terms,
        teams=[
            Team("marketing", ("mia", "max"), policy=BigDealsToSeniors(["mia"])),
            Team("sales", SALES, policy=ByCountry({}, otherwise="carol")),
        ],
        rules=DEFAULT.rules,
    )
    lead = workflow.create("L-1", {"score": 10, "country": "NO", "employees": 5000}, T0).lead
    lead = workflow.update(lead, {"score": 70}, T0 + timedelta(hours=1)).lead
    assert lead.state == "mql"
    assert [interval.owner for interval in lead.ownership] == [
        Owner("marketing", "mia"),
        Owner("sales", "carol"),
    ]


def test_a_policy_cannot_give_a_lead_to_a_stranger() -> None:
    """A name a policy makes up never owns a lead: the event is refused, naming the person,
    the team and the fix, and no lead is made."""
    engine = Engine(agreement_with(ByCountry({}, otherwise="zed")))
    refused = engine.apply(created(1, country="FI"))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason.startswith("'teams.sales.assignment' is not a member of team 'sales'")
    assert "(got 'zed')" in refused.reason
    assert "return one of request.candidates" in refused.reason
    assert list(engine.leads()) == []
