"""Ownership people expect: sticky teams, people away or at capacity, working-hours assignment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    AgreementError,
    AssignmentRequest,
    BusinessCalendar,
    CalendarOwners,
    Duplicate,
    Effect,
    Engine,
    Event,
    FixedOwner,
    LeadCreated,
    LeastLoaded,
    OwnerAssigned,
    OwnerChanged,
    Person,
    Retracted,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
    Team,
    TransitionRequested,
    Workflow,
    agreement_to_toml,
    render_summary,
)
from leadsla.testing import event_streams

HELSINKI = ZoneInfo("Europe/Helsinki")
NEW_YORK = ZoneInfo("America/New_York")
DEFAULT = Agreement.default()
SALES = ("alice", "bob", "carol")
MQL = {"email": "a@acme.com", "score": 80}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=HELSINKI)


def agreement(
    *,
    sticky: bool = False,
    policy: Any = None,
    people: Iterable[Person] = (),
    members: Sequence[str] = SALES,
    **changes: Any,
) -> Agreement:
    """The default agreement with a sales team of ``members`` as asked."""
    sales = Team(
        "sales", tuple(members), manager="sam", policy=policy or RoundRobin(), sticky=sticky
    )
    return attrs.evolve(
        DEFAULT, teams=(Team("marketing", ("mia",)), sales), people=tuple(people), **changes
    )


def away(*names: str, first: str = "2026-03-01", last: str = "2026-03-08") -> list[Person]:
    return [Person(name, away=[(first, last)]) for name in names]


def owner_of(engine: Engine, lead: str) -> str | None:
    owner = engine.lead(lead).lead.owner
    assert owner is not None
    return owner.person


def reason_of(engine: Engine, lead: str) -> str:
    return engine.lead(lead).lead.ownership[-1].reason


def round_robin_pick(lead: str, members: Sequence[str] = SALES) -> str | None:
    """Whom plain round robin gives ``lead`` among ``members``."""
    request = AssignmentRequest(
        lead_id=lead, team=Team("sales", tuple(members)), fields={}, state="mql", at=at(2, 9)
    )
    return RoundRobin().assign(request)


def lead_dealt_to(person: str, *, skip: int = 0) -> str:
    """A lead id that round robin deals to ``person`` (the ``skip``-th such id)."""
    found = [f"L-{n}" for n in range(200) if round_robin_pick(f"L-{n}") == person]
    return found[skip]


def through_nurture(engine: Engine, lead: str, *, rep: str) -> None:
    """``lead`` becomes an MQL, is given to ``rep``, goes to nurture and is requalified."""
    engine.apply(LeadCreated(id=f"{lead}-1", lead=lead, at=at(2, 9), fields=MQL))
    engine.apply(OwnerAssigned(id=f"{lead}-2", lead=lead, at=at(2, 10), owner=rep))
    engine.apply(
        TransitionRequested(
            id=f"{lead}-3", lead=lead, at=at(2, 11), trigger="nurture", reason="next year"
        )
    )
    assert owner_of(engine, lead) == "mia"
    engine.apply(
        TransitionRequested(
            id=f"{lead}-4", lead=lead, at=at(9, 11), trigger="requalify", reason="back"
        )
    )


# -- sticky ownership ---------------------------------------------------------------------------


def test_a_lead_back_from_nurture_goes_to_its_old_rep() -> None:
    """Sticky sales: the requalified lead goes to the rep who had it, not the policy's pick."""
    lead = lead_dealt_to("alice")
    engine = Engine(agreement(sticky=True))
    through_nurture(engine, lead, rep="bob")
    assert owner_of(engine, lead) == "bob"
    assert reason_of(engine, lead) == "requalify: entered mql (sticky: owned it before)"


def test_without_sticky_the_policy_picks_again() -> None:
    """The same story on a team that is not sticky: round robin deals the lead anew."""
    lead = lead_dealt_to("alice")
    engine = Engine(agreement(sticky=False))
    through_nurture(engine, lead, rep="bob")
    assert owner_of(engine, lead) == "alice"
    assert reason_of(engine, lead) == "requalify: entered mql"


def test_not_to_the_old_rep_if_they_left_the_team() -> None:
    """Bob had the lead, then left sales: the lead goes to the latest owner still in the team
    (alice, who had it before bob), or to the policy when there is none."""
    before = agreement(sticky=True).workflow
    after = agreement(sticky=True, members=("alice", "carol", "dan")).workflow
    lead = before.create("L-1", MQL, at(2, 9)).lead
    lead = before.assign(lead, "alice", at(2, 10)).lead
    lead = before.assign(lead, "bob", at(2, 11)).lead
    lead = before.fire(lead, "nurture", at(2, 12), reason="next year").lead
    back = after.fire(lead, "requalify", at(9, 9), reason="back").lead
    assert back.owner is not None
    assert back.owner.person == "alice"
    assert back.ownership[-1].reason.endswith("(sticky: owned it before)")

    bobs = lead_dealt_to("bob")  # sales has only ever given it to bob
    only_bob = before.create(bobs, MQL, at(2, 9)).lead
    only_bob = before.fire(only_bob, "nurture", at(2, 12), reason="next year").lead
    back = after.fire(only_bob, "requalify", at(9, 9), reason="back").lead
    assert back.owner is not None
    assert back.owner.person == round_robin_pick(bobs, ("alice", "carol", "dan"))
    assert back.ownership[-1].reason == "requalify: entered mql"


def test_sticky_skips_an_old_rep_who_is_away() -> None:
    """The only rep who had the lead is on holiday when it comes back: the policy picks among
    the others."""
    lead = lead_dealt_to("bob")
    engine = Engine(
        agreement(sticky=True, people=away("bob", first="2026-03-09", last="2026-03-13"))
    )
    through_nurture(engine, lead, rep="bob")
    assert owner_of(engine, lead) == round_robin_pick(lead, ("alice", "carol"))
    assert reason_of(engine, lead) == "requalify: entered mql"


def test_a_reassignment_is_not_sticky() -> None:
    """Reassigning (an assign without an owner) asks the policy for someone else."""
    workflow = agreement(sticky=True).workflow
    lead = workflow.create("L-1", MQL, at(2, 9)).lead
    lead = workflow.assign(lead, "bob", at(2, 10)).lead
    lead = workflow.assign(lead, "carol", at(2, 11)).lead
    lead = workflow.assign(lead, None, at(2, 12)).lead
    assert lead.owner is not None
    assert lead.owner.person in ("alice", "bob")
    assert "sticky" not in lead.ownership[-1].reason


# -- people away --------------------------------------------------------------------------------


def test_an_away_person_is_skipped() -> None:
    """Round robin would give the lead to alice, who is away: someone else gets it."""
    lead = lead_dealt_to("alice")
    engine = Engine(agreement(people=away("alice")))
    engine.apply(LeadCreated(id="e1", lead=lead, at=at(2, 9), fields=MQL))
    assert owner_of(engine, lead) in ("bob", "carol")
    assert reason_of(engine, lead) == "qualify: entered mql"
    back = Engine(agreement(people=away("alice", first="2026-03-03")))  # not away yet
    back.apply(LeadCreated(id="e1", lead=lead, at=at(2, 9), fields=MQL))
    assert owner_of(back, lead) == "alice"


def test_with_no_one_available_the_team_keeps_the_lead_and_says_why() -> None:
    """Everyone away: the lead stays with the team as a whole; the reason names each."""
    engine = Engine(agreement(people=away(*SALES)))
    engine.apply(LeadCreated(id="e1", lead="L-1", at=at(2, 9), fields=MQL))
    assert owner_of(engine, "L-1") is None
    assert reason_of(engine, "L-1") == (
        "qualify: entered mql (no one available: alice away, bob away, carol away)"
    )


def test_an_explicit_assignment_to_an_away_person_is_taken() -> None:
    """The host knows best: an assign event naming someone away is accepted."""
    engine = Engine(agreement(people=away("alice")))
    engine.apply(LeadCreated(id="e1", lead="L-1", at=at(2, 9), fields=MQL))
    engine.apply(OwnerAssigned(id="e2", lead="L-1", at=at(2, 10), owner="alice"))
    assert owner_of(engine, "L-1") == "alice"


def test_every_built_in_policy_skips_an_away_person() -> None:
    """Fixed owner, routing, strict rotation and least loaded all leave alice out."""
    routing = RuleRouting([("score >= 0", "alice")], fallback="bob")
    for policy in (FixedOwner("alice"), routing, StrictRoundRobin(), LeastLoaded()):
        engine = Engine(agreement(policy=policy, people=away("alice")))
        for number in range(3):
            engine.apply(
                LeadCreated(id=f"e{number}", lead=f"L-{number}", at=at(2, 9, number), fields=MQL)
            )
            assert owner_of(engine, f"L-{number}") != "alice", policy


def test_a_policy_that_names_an_away_person_leaves_the_lead_with_the_team() -> None:
    """A fixed owner who is away: the workflow does not take the pick, and says so."""
    engine = Engine(agreement(policy=FixedOwner("alice"), people=away("alice")))
    engine.apply(LeadCreated(id="e1", lead="L-1", at=at(2, 9), fields=MQL))
    assert owner_of(engine, "L-1") is None
    assert reason_of(engine, "L-1") == "qualify: entered mql (the policy named alice, who is away)"


def test_reassigning_the_lead_of_someone_away() -> None:
    """Alice is away; reassigning her lead gives it to someone available, never back to her."""
    workflow = agreement(people=away("alice", "bob")).workflow
    lead = workflow.create("L-1", MQL, at(2, 9)).lead
    lead = workflow.assign(lead, "alice", at(2, 10)).lead
    lead = workflow.assign(lead, None, at(2, 11)).lead
    assert lead.owner is not None
    assert lead.owner.person == "carol"


def test_dates_are_whole_days_in_the_agreements_zone() -> None:
    """``["2026-03-02", "2026-03-03"]`` is away from Monday 00:00 to Wednesday 00:00 Helsinki."""
    person = agreement(people=away("alice", first="2026-03-02", last="2026-03-03")).people[0]
    assert person.timezone == "Europe/Helsinki"
    assert not person.away_at(at(1, 23, 59))
    assert person.away_at(at(2, 0))
    assert person.away_at(at(3, 23, 59))
    assert not person.away_at(at(4, 0))
    assert person.next_away_start(at(1, 12)) == at(2, 0)
    assert person.next_away_start(at(2, 0)) is None  # strictly after
    assert str(person.next_away_start(at(1, 12)).tzinfo) == "Europe/Helsinki"  # type: ignore[union-attr]


def test_datetimes_are_instants_with_the_end_excluded() -> None:
    """A window of aware datetimes is [start, end), whatever the agreement's zone."""
    start = datetime(2026, 3, 2, 12, tzinfo=UTC)
    person = Person("alice", away=[(start, "2026-03-02T16:00+02:00")])
    assert not person.away_at(start - timedelta(microseconds=1))
    assert person.away_at(start)
    assert person.away_at(datetime(2026, 3, 2, 13, 59, tzinfo=UTC))
    assert not person.away_at(datetime(2026, 3, 2, 14, tzinfo=UTC))


def test_next_away_start_takes_the_earliest_window_to_come() -> None:
    """Windows in any order: the first start after the instant, or None."""
    person = Person(
        "alice",
        away=[("2026-12-21", "2027-01-01"), ("2026-07-01", "2026-07-31")],
        timezone="Europe/Helsinki",
    )
    assert person.next_away_start(at(2, 9)) == datetime(2026, 7, 1, tzinfo=HELSINKI)
    assert person.next_away_start(datetime(2026, 8, 1, tzinfo=HELSINKI)) == datetime(
        2026, 12, 21, tzinfo=HELSINKI
    )
    assert person.next_away_start(datetime(2027, 1, 1, tzinfo=HELSINKI)) is None


# -- capacity -----------------------------------------------------------------------------------


def test_a_person_at_capacity_is_skipped() -> None:
    """Alice takes one open lead: the second lead round robin deals her goes to someone else,
    and once her first lead is closed, she takes new ones again."""
    first, second, third = (lead_dealt_to("alice", skip=n) for n in range(3))
    engine = Engine(agreement(people=[Person("alice", capacity=1)]))
    engine.apply(LeadCreated(id="e1", lead=first, at=at(2, 9), fields=MQL))
    engine.apply(LeadCreated(id="e2", lead=second, at=at(2, 10), fields=MQL))
    assert owner_of(engine, first) == "alice"
    assert owner_of(engine, second) in ("bob", "carol")
    engine.apply(
        TransitionRequested(id="e3", lead=first, at=at(2, 11), trigger="disqualify", reason="spam")
    )
    assert engine.lead(first).lead.state == "disqualified"
    engine.apply(LeadCreated(id="e4", lead=third, at=at(2, 12), fields=MQL))
    assert owner_of(engine, third) == "alice"


def test_capacity_makes_a_team_order_dependent() -> None:
    """A capacity counts open leads, so the team's picks depend on other leads: the engine
    keeps its book, and says why the team cannot be replayed in parts."""
    capped = agreement(
        people=[Person("alice", capacity=40), Person("bob", away=[("2026-03-02",) * 2])]
    )
    assert dict(capped.workflow.order_dependent) == {
        "sales": "counts its members' open leads (alice has a capacity)"
    }
    assert Engine(capped)._book is not None
    time_only = agreement(people=away("alice"), sticky=True)
    assert dict(time_only.workflow.order_dependent) == {}
    assert Engine(time_only)._book is None


# -- working hours ------------------------------------------------------------------------------

OFFICE_HOURS = {day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")}
CALENDARS = {
    "helsinki": BusinessCalendar(tz="Europe/Helsinki", week=OFFICE_HOURS),
    "new-york": BusinessCalendar(tz="America/New_York", week=OFFICE_HOURS),
}


def working_hours_request(moment: datetime, loads: dict[str, int]) -> AssignmentRequest:
    return AssignmentRequest(
        lead_id="L-1",
        team=Team("sales", ("alice", "bob")),
        fields={},
        state="mql",
        at=moment,
        loads=loads,
        calendars={"alice": CALENDARS["helsinki"], "bob": CALENDARS["new-york"]},
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(at(3, 10), "alice", id="helsinki-open"),
        pytest.param(at(3, 18), "bob", id="new-york-open"),
        pytest.param(at(3, 16, 30), "bob", id="both-open-fewest-leads"),
        pytest.param(datetime(2026, 3, 3, 19, tzinfo=NEW_YORK), "alice", id="helsinki-opens-first"),
        pytest.param(datetime(2026, 3, 3, 5, tzinfo=NEW_YORK), "alice", id="helsinki-opens-soon"),
        pytest.param(at(4, 1), "alice", id="both-closed-helsinki-first"),
    ],
)
def test_working_hours_picks_the_person_whose_office_is_open(
    moment: datetime, expected: str
) -> None:
    """Alice (Helsinki) has five open leads, bob (New York) one: the one at work gets the
    lead; both at work, the fewer leads; neither, the one whose office opens first."""
    policy = LeastLoaded(working_hours=True)
    assert policy.assign(working_hours_request(moment, {"alice": 5, "bob": 1})) == expected
    assert LeastLoaded().assign(working_hours_request(moment, {"alice": 5, "bob": 1})) == "bob"


def test_working_hours_through_the_agreements_calendars() -> None:
    """Calendars owned by people reach the policy through the workflow."""
    owners = (
        CalendarOwners("helsinki", people=("alice",)),
        CalendarOwners("new-york", people=("bob", "carol")),
    )
    hours = agreement(
        policy=LeastLoaded(working_hours=True),
        calendars={**DEFAULT.calendars, **CALENDARS},  # the default's obligations use "office"
        calendar_owners=owners,
    )
    engine = Engine(hours)
    engine.apply(LeadCreated(id="e1", lead="L-1", at=at(3, 10), fields=MQL))
    assert owner_of(engine, "L-1") == "alice"
    engine.apply(LeadCreated(id="e2", lead="L-2", at=at(3, 10, 1), fields=MQL))
    assert owner_of(engine, "L-2") == "alice"  # still the only one at work
    engine.apply(LeadCreated(id="e3", lead="L-3", at=at(3, 18), fields=MQL))
    engine.apply(LeadCreated(id="e4", lead="L-4", at=at(3, 18, 1), fields=MQL))
    assert {owner_of(engine, "L-3"), owner_of(engine, "L-4")} == {"bob", "carol"}


def test_a_member_without_a_calendar_counts_as_at_work() -> None:
    """A workflow told no calendar for someone treats them as always at work."""
    workflow = Workflow(
        terms=DEFAULT.terms,
        teams=[
            Team("marketing", ("mia",)),
            Team("sales", ("alice", "bob"), policy=LeastLoaded(working_hours=True)),
        ],
        calendar_of=lambda person, team: CALENDARS["helsinki"] if person == "alice" else None,
    )
    lead = workflow.create("L-1", MQL, at(3, 20)).lead
    lead = workflow.fire(lead, "qualify", at(3, 20)).lead
    assert lead.owner is not None
    assert lead.owner.person == "bob"


def test_working_hours_is_described_and_not_partition_safe() -> None:
    """The one-pager's phrase, and the same partition rule as least loaded."""
    policy = LeastLoaded(working_hours=True)
    assert policy.describe() == (
        "least loaded among those at work (else those whose hours begin soonest)"
    )
    assert policy.partition_safe is False
    assert policy != LeastLoaded()


# -- bad input ----------------------------------------------------------------------------------


def problems(build: Any) -> list[tuple[str, Any, str, str]]:
    with pytest.raises(AgreementError) as raised:
        build()
    return [(p.field, p.value, p.message, p.fix) for p in raised.value.problems]


def test_a_capacity_below_one_is_refused() -> None:
    """Zero, negative, fractional, text and flag capacities are refused alike."""
    for bad in (0, -3, 2.5, "40", True):
        [(field, value, message, fix)] = problems(lambda bad=bad: Person("alice", capacity=bad))
        assert (field, value, message) == (
            "people.alice.capacity",
            bad,
            "must be a whole number of at least 1",
        )
        assert fix.startswith("write e.g. capacity = 40")


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    """Last day before the first, or an instant window ending where it starts."""
    [(field, value, message, fix)] = problems(
        lambda: Person("alice", away=[("2026-12-21", "2026-12-20")])
    )
    assert (field, value, message) == (
        "people.alice.away[0]",
        ["2026-12-21", "2026-12-20"],
        "ends before it starts",
    )
    assert "give the start first" in fix
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    [(_, _, message, _)] = problems(lambda: Person("alice", away=[(moment, moment)]))
    assert message == "is empty"


def test_bad_dates_are_refused_each_with_its_place() -> None:
    """An impossible date, a naive datetime, text that is no date, a window that is no pair."""
    found = problems(
        lambda: Person(
            "alice",
            away=[
                ("2026-02-30", "2026-03-01"),
                ("2026-03-01", datetime(2026, 3, 2, 9)),
                ("soon", "later"),
                ("2026-03-01",),
            ],
        )
    )
    assert [(field, value, message) for field, value, message, _ in found] == [
        (
            "people.alice.away[0]",
            "2026-02-30",
            "is not a date (YYYY-MM-DD) or a date and time with its UTC offset",
        ),
        (
            "people.alice.away[1]",
            datetime(2026, 3, 2, 9),
            "has no UTC offset, so it is no single instant",
        ),
        (
            "people.alice.away[2]",
            "soon",
            "is not a date (YYYY-MM-DD) or a date and time with its UTC offset",
        ),
        (
            "people.alice.away[2]",
            "later",
            "is not a date (YYYY-MM-DD) or a date and time with its UTC offset",
        ),
        ("people.alice.away[3]", ("2026-03-01",), "must be a pair: the first and the last day"),
    ]


def test_a_bad_timezone_is_refused() -> None:
    [(field, value, _, fix)] = problems(lambda: Person("alice", timezone="Europe/Helsinky"))
    assert (field, value) == ("people.alice.timezone", "Europe/Helsinky")
    assert "Europe/Helsinki" in fix


def test_a_person_in_no_team_is_refused() -> None:
    """Most likely a misspelt name, whose time away would go unheeded: an error, with the
    closest name."""
    [(field, value, message, fix)] = problems(lambda: agreement(people=away("alcie")))
    assert (field, value) == ("people.alcie", "alcie")
    assert message.startswith("is in no team")
    assert fix.endswith("(did you mean 'alice'?)")


def test_a_manager_may_be_described() -> None:
    """Managers can own leads too: they may have time away."""
    assert agreement(people=away("sam")).people[0].name == "sam"


def test_a_person_described_twice_is_refused() -> None:
    [(field, _, message, _)] = problems(lambda: agreement(people=away("alice", "alice")))
    assert (field, message) == ("people.alice", "is described twice")


def test_working_hours_without_calendars_is_refused() -> None:
    """Two calendars, both owned, and carol has none: the policy could not place her."""
    owners = (
        CalendarOwners("helsinki", people=("alice",)),
        CalendarOwners("new-york", people=("bob",)),
    )
    found = problems(
        lambda: agreement(
            policy=LeastLoaded(working_hours=True), calendars=CALENDARS, calendar_owners=owners
        )
    )
    assert ("teams.sales.assignment", "least-loaded-working-hours") in [f[:2] for f in found]
    [(_, _, message, fix)] = [f for f in found if f[0] == "teams.sales.assignment"]
    assert message == "assigns by working hours, but the agreement says no calendar for carol"
    assert "[calendars.NAME] people = [...]" in fix


def test_sticky_must_be_a_flag() -> None:
    [(field, value, message, _)] = problems(lambda: Team("sales", ("alice",), sticky="yes"))  # type: ignore[arg-type]
    assert (field, value, message) == ("teams.sales.sticky", "yes", "must be true or false")


PEOPLE_FILE = """
[people.alice]
away = [["2026-12-21", "2027-01-01"], [2026-07-01, 2026-07-31]]
capacity = 40

[people.bob]
away = [["2026-03-02T09:00:00+02:00", 2026-03-02T17:00:00+02:00]]
timezone = "America/New_York"

[ownership]
reassign_when_away = true
"""


def with_people(text: str) -> str:
    """The default file with ``text`` after its teams."""
    written = agreement_to_toml(agreement(sticky=True))
    return written.replace("\n[terms.", f"\n{text}\n[terms.", 1)


def test_the_file_reads_people_and_ownership() -> None:
    """Dates as TOML dates or text, datetimes with offsets, capacity, zone, the flag."""
    read = Agreement.from_toml_text(with_people(PEOPLE_FILE))
    alice, bob = read.people
    assert alice == Person(
        "alice",
        away=[(date(2026, 12, 21), date(2027, 1, 1)), (date(2026, 7, 1), date(2026, 7, 31))],
        capacity=40,
        timezone="Europe/Helsinki",
    )
    assert bob.timezone == "America/New_York"
    assert bob.away_at(at(2, 16, 59))
    assert not bob.away_at(at(2, 17))
    assert read.reassign_when_away is True
    team = read.team("sales")
    assert team is not None
    assert team.sticky


def test_the_file_round_trips_people_and_ownership() -> None:
    """What the writer writes, the reader reads back as the same agreement."""
    read = Agreement.from_toml_text(with_people(PEOPLE_FILE))
    hours = attrs.evolve(
        read,
        teams=(
            *read.teams[:1],
            attrs.evolve(read.teams[1], policy=LeastLoaded(working_hours=True)),
        ),
    )
    for value in (read, hours):
        assert Agreement.from_toml_text(agreement_to_toml(value)) == value


@pytest.mark.parametrize(
    ("text", "field", "message", "on_line"),
    [
        pytest.param(
            "[people.alice]\ncapacity = 0\n",
            "people.alice.capacity",
            "must be a whole number of at least 1",
            "capacity = 0",
            id="capacity",
        ),
        pytest.param(
            '[people.alice]\naway = [["2026-12-21", "2026-12-01"]]\n',
            "people.alice.away[0]",
            "ends before it starts",
            "away = ",
            id="backwards",
        ),
        pytest.param(
            "[people.alice]\naway = [[2026-03-01, 2026-03-02T09:00:00]]\n",
            "people.alice.away[0]",
            "has no UTC offset, so it is no single instant",
            "away = ",
            id="local-datetime",
        ),
        pytest.param(
            '[people.alice]\naway = "2026-12-21"\n',
            "people.alice.away",
            "must be an array of [first, last] pairs",
            "away = ",
            id="not-an-array",
        ),
        pytest.param(
            "[people.alice]\ncapcity = 4\n",
            "people.alice.capcity",
            "is not a known key here",
            "capcity = 4",
            id="unknown-key",
        ),
        pytest.param(
            "[people.alcie]\ncapacity = 4\n",
            "people.alcie",
            "is in no team (no team's member or manager), so what it says would never be used",
            "[people.alcie]",
            id="no-team",
        ),
        pytest.param(
            '[ownership]\nreassign_when_away = "yes"\n',
            "ownership.reassign_when_away",
            "must be true or false",
            "reassign_when_away = ",
            id="flag",
        ),
    ],
)
def test_the_file_places_each_problem_on_its_line(
    text: str, field: str, message: str, on_line: str
) -> None:
    """Each problem names its key in the file and the line it is on."""
    whole = with_people(text)
    with pytest.raises(AgreementError) as raised:
        Agreement.from_toml_text(whole)
    [problem] = raised.value.problems
    assert (problem.field, problem.message) == (field, message)
    assert problem.line is not None
    assert on_line in whole.splitlines()[problem.line - 1]


# -- the one-pager ------------------------------------------------------------------------------


def test_the_one_pager_says_it_in_plain_words() -> None:
    """Sticky teams, people away, capacities, the working-hours policy, the reassign rule."""
    read = Agreement.from_toml_text(with_people(PEOPLE_FILE))
    hours = attrs.evolve(
        read,
        teams=(
            *read.teams[:1],
            attrs.evolve(read.teams[1], policy=LeastLoaded(working_hours=True)),
        ),
    )
    page = " ".join(render_summary(hours).split())
    assert (
        "Sales: alice, bob, carol, manager sam, leads assigned to the least loaded of those at "
        "work (else of those whose hours begin soonest), and a lead that comes back goes to the "
        "member who had it, if still in the team and available" in page
    )
    assert (
        "People: alice is away 2026-12-21 to 2027-01-01 and 2026-07-01 to 2026-07-31 and takes "
        "at most 40 open leads; bob is away 2026-03-02 09:00+02:00 to 2026-03-02 17:00+02:00."
        in page
    )
    assert "New leads skip whoever is away or at their capacity" in page
    assert "their leads with running clocks go to someone else in the team." in page
    stays = attrs.evolve(hours, reassign_when_away=False)
    assert "Leads an owner already has stay with them while they are away." in " ".join(
        render_summary(stays).split()
    )
    assert "People:" not in render_summary(DEFAULT)


# -- properties ---------------------------------------------------------------------------------

START = datetime(2026, 3, 2, 8, 0, tzinfo=HELSINKI)


@st.composite
def people_away(draw: st.DrawFn, names: Sequence[str] = (*SALES, "mia")) -> list[Person]:
    """Each person away for a few windows near the streams' days (dates or instants)."""
    people = []
    for name in names:
        windows: list[tuple[Any, Any]] = []
        for _ in range(draw(st.integers(0, 2))):
            start = START + timedelta(minutes=draw(st.integers(-2000, 20000)))
            if draw(st.booleans()):
                first = start.date()
                windows.append((first, first + timedelta(days=draw(st.integers(0, 3)))))
            else:
                windows.append((start, start + timedelta(minutes=draw(st.integers(1, 6000)))))
        people.append(Person(name, away=windows))
    return people


TRIGGERS = ("accept", "nurture", "requalify", "hand_back", "reject", "disqualify")


@st.composite
def moves(draw: st.DrawFn, leads: int = 8) -> list[Event]:
    """Time-ordered events that move up to ``leads`` MQLs between sales and marketing: most
    reach sales, come back from nurture or a handback, are closed or reassigned (so loads,
    returns and windows away all meet)."""
    created: list[str] = []
    events: list[Event] = []
    moment = START
    for number in range(draw(st.integers(1, 40))):
        moment += timedelta(minutes=draw(st.sampled_from([0, 30, 240, 1440, 3000])))
        identity = f"m{number}"
        if not created or (len(created) < leads and draw(st.integers(0, 3)) == 0):
            created.append(f"L-{len(created) + 1}")
            events.append(LeadCreated(id=identity, lead=created[-1], at=moment, fields=MQL))
            continue
        lead = draw(st.sampled_from(created))
        if draw(st.integers(0, 5)) == 0:
            events.append(OwnerAssigned(id=identity, lead=lead, at=moment, owner=None))
            continue
        trigger = draw(st.sampled_from(TRIGGERS))
        events.append(
            TransitionRequested(id=identity, lead=lead, at=moment, trigger=trigger, reason="r")
        )
    return events


def streams(agreement: Agreement) -> st.SearchStrategy[list[Event]]:
    """The moves above, or any stream in the agreement's words."""
    return st.one_of(moves(), event_streams(agreement, leads=4, max_events=30))


def no_explicit_owners(events: Iterable[Event]) -> list[Event]:
    """The events, with each assign to a person made a reassignment (the policy's choice)."""
    return [
        attrs.evolve(event, owner=None) if isinstance(event, OwnerAssigned) else event
        for event in events
    ]


def people_at(effects: Iterable[Effect]) -> list[tuple[str, datetime]]:
    return [
        (effect.owner.person, effect.at)
        for effect in effects
        if isinstance(effect, OwnerChanged) and effect.owner.person is not None
    ]


@given(data=st.data(), sticky=st.booleans())
def test_availability_never_gives_a_lead_to_someone_away(data: st.DataObject, sticky: bool) -> None:
    """Whatever happens, no one is given a lead at an instant they are away, unless an
    event names them (those are made reassignments here), with any policy."""
    people = data.draw(people_away())
    policy = data.draw(
        st.sampled_from(
            [
                RoundRobin(),
                StrictRoundRobin(),
                LeastLoaded(),
                FixedOwner("alice"),
                RuleRouting([("score >= 70", "bob")], fallback="carol"),
            ]
        )
    )
    chosen = agreement(sticky=sticky, policy=policy, people=people)
    events = no_explicit_owners(data.draw(streams(chosen)))
    engine = Engine(chosen)
    by_name = {person.name: person for person in chosen.people}
    for event in events:
        for person, moment in people_at(engine.apply(event)):
            assert not by_name[person].away_at(moment), (person, moment)


@given(data=st.data())
def test_capacity_is_never_exceeded_by_assignment(data: st.DataObject) -> None:
    """No one's open leads pass their capacity, unless an event names them."""
    capacities = {name: data.draw(st.integers(1, 2)) for name in SALES}
    people = [Person(name, capacity=capacity) for name, capacity in capacities.items()]
    chosen = agreement(sticky=data.draw(st.booleans()), people=people)
    events = no_explicit_owners(data.draw(streams(chosen)))
    engine = Engine(chosen)
    for event in events:
        engine.apply(event)
        assert engine._book is not None
        for name, capacity in capacities.items():
            assert engine._book.loads.get(name, 0) <= capacity


def owners(engine: Engine) -> dict[str, tuple[tuple[str | None, str], ...]]:
    """Each lead's owners over time, and why."""
    return {
        lead: tuple(
            (interval.person, interval.reason) for interval in engine.lead(lead).lead.ownership
        )
        for lead in engine.leads()
    }


@given(data=st.data())
def test_sticky_and_away_picks_do_not_depend_on_other_leads(data: st.DataObject) -> None:
    """On a partition-safe team (round robin, sticky, people away), the leads split into any
    groups, each replayed alone, get the owners they get in the whole log."""
    chosen = agreement(sticky=True, people=data.draw(people_away()))
    assert not chosen.workflow.order_dependent
    events = data.draw(streams(chosen))
    whole = Engine(chosen)
    for event in events:
        whole.apply(event)
    leads = sorted({event.lead for event in events})
    groups = data.draw(st.lists(st.integers(0, 2), min_size=len(leads), max_size=len(leads)))
    parts: dict[int, Engine] = {}
    for event in events:
        group = groups[leads.index(event.lead)]
        parts.setdefault(group, Engine(chosen)).apply(event)
    split: dict[str, Any] = {}
    for engine in parts.values():
        split |= owners(engine)
    assert split == owners(whole)
    reasons = " ".join(reason for lead in split.values() for _, reason in lead)
    hypothesis.event(f"sticky pick: {'sticky' in reasons}")
    hypothesis.event(f"no one available: {'no one available' in reasons}")


def standing(effects: Iterable[Effect]) -> Counter[str]:
    """The ids of the effects that stand, checking that each retraction withdraws one."""
    ids: Counter[str] = Counter()
    for effect in effects:
        if isinstance(effect, Retracted):
            assert ids[effect.retracts] > 0, f"{effect!r} withdraws nothing standing"
            ids[effect.retracts] -= 1
        elif not isinstance(effect, Duplicate):
            ids[effect.id] += 1
    return +ids


@given(data=st.data(), capped=st.booleans())
def test_late_events_keep_the_owners_and_reasons_given(data: st.DataObject, capped: bool) -> None:
    """Events arriving up to a day late: a lead worked out again keeps the owners it was given
    and the notes on their reasons (sticky, no one available), so corrections only withdraw
    what was said; on a partition-safe team the owners are those of the log in time order."""
    people = data.draw(people_away())
    if capped:
        people = [attrs.evolve(person, capacity=data.draw(st.integers(1, 2))) for person in people]
    chosen = agreement(sticky=True, people=people)
    drawn = data.draw(moves())
    events = [
        attrs.evolve(event, at=event.at + timedelta(microseconds=index))
        for index, event in enumerate(drawn)
    ]
    delays = [data.draw(st.sampled_from([0, 0, 5, 300, 1440])) for _ in events]
    arrivals = sorted(
        range(len(events)),
        key=lambda index: (events[index].at + timedelta(minutes=delays[index]), index),
    )
    late = Engine(chosen)
    said = [effect for index in arrivals for effect in late.apply(events[index])]
    standing(said)
    if not capped:
        in_order = Engine(chosen)
        for event in events:
            in_order.apply(event)
        assert owners(late) == owners(in_order)


def test_a_diff_of_two_versions_says_what_changed_for_people() -> None:
    """Stickiness, people and the reassign setting show in ``leadsla diff``'s words."""
    from leadsla._shell.diff import agreement_diff

    old = agreement()
    new = agreement(sticky=True, people=[Person("alice", capacity=40)], reassign_when_away=True)
    changes = {change.part: change for change in agreement_diff(old, new)}
    assert changes["team sales"].after is not None
    assert changes["team sales"].after.endswith("if still in the team and available")
    assert (changes["person alice"].kind, changes["person alice"].after) == (
        "added",
        "alice takes at most 40 open leads",
    )
    assert (changes["reassign when away"].before, changes["reassign when away"].after) == (
        "no",
        "yes",
    )


def test_a_partitioned_store_refuses_a_team_with_capacities(postgres_db: str) -> None:
    """A store split by lead cannot count a person's open leads across partitions: it says
    which team and why."""
    from leadsla import PostgresStore, StoreError

    capped = agreement(people=[Person("bob", capacity=40)])
    with pytest.raises(StoreError) as raised:
        PostgresStore(postgres_db, capped, partitions=2)
    assert raised.value.problems[0].message == (
        "needs partition-safe assignment, but team 'sales' counts its members' open leads "
        "(bob has a capacity)"
    )


def test_giving_a_closed_lead_to_someone_does_not_count_it_as_open() -> None:
    """A lead won and then handed to carol for the account: no one's open leads change."""
    from leadsla import TransitionRequested as _Move

    made = attrs.evolve(
        Agreement.default(), people=[Person(name, capacity=1) for name in ("alice", "bob", "carol")]
    )
    engine = Engine(made)
    at = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Europe/Helsinki"))
    fields = {"email": "x@y", "score": 80, "budget_confirmed": True, "need_months": 3}
    engine.apply(LeadCreated(id="c0", lead="L0", at=at, fields=fields))
    for number, trigger in enumerate(("accept", "qualify_sales", "win")):
        engine.apply(
            _Move(
                id=f"m{number}", lead="L0", at=at + timedelta(minutes=1 + number), trigger=trigger
            )
        )
    book = engine.state().book
    assert book is not None
    before = {k: v for k, v in book.loads.items() if v}
    engine.apply(OwnerAssigned(id="a0", lead="L0", at=at + timedelta(minutes=10), owner="carol"))
    assert {k: v for k, v in book.loads.items() if v} == before
    for number in range(1, 4):  # three open leads, one each
        engine.apply(
            LeadCreated(
                id=f"c{number}",
                lead=f"L{number}",
                at=at + timedelta(minutes=20 + number),
                fields={"email": "x@y", "score": 80},
            )
        )
    owners = sorted(engine.lead(f"L{number}").owner.person or "" for number in range(1, 4))  # type: ignore[union-attr]
    assert owners == ["alice", "bob", "carol"]
