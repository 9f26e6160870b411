"""Calendars where people work: owned by a team, a person or a region; an obligation says
whose calendar counts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    Agreement,
    AgreementError,
    BusinessCalendar,
    CalendarOwners,
    Engine,
    LeadCreated,
    ObligationOpened,
    OwnerAssigned,
    Team,
)
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla._shell.summary import calendar_sentence, obligation_sentence

UTC_ZONE = ZoneInfo("UTC")
WEEKDAYS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def office(zone: str) -> BusinessCalendar:
    return BusinessCalendar.from_dict({"tz": zone, "week": WEEKDAYS})


def agreement(whose: str, owners: tuple[CalendarOwners, ...]) -> Agreement:
    """The default agreement with three offices; first-touch counts ``whose`` calendar."""
    default = Agreement.default()
    first, *others = default.obligations
    sales = Team("sales", members=("aino", "bob", "carol"), manager="sam")
    teams = (default.teams[0], sales, Team("sales-us", members=("dan",)))
    return attrs.evolve(
        default,
        calendars={
            "office": office("Europe/Helsinki"),
            "new-york": office("America/New_York"),
            "tokyo": office("Asia/Tokyo"),
        },
        calendar_owners=owners,
        teams=teams,
        obligations=(
            attrs.evolve(first, calendar=whose),
            *[attrs.evolve(o, calendar="office") if o.within.business else o for o in others],
        ),
        fields={**default.fields, "country": "text"},
    )


def first_touch(engine: Engine, lead: str, at: datetime, **fields: object) -> ObligationOpened:
    effects = engine.apply(
        LeadCreated(id=lead, lead=lead, at=at, fields={"email": "a@b", "score": 80, **fields})
    )
    [opened] = [
        e for e in effects if isinstance(e, ObligationOpened) and e.obligation == "first-touch"
    ]
    return opened


# Monday 2 March 2026, 14:00 UTC: 16:00 in Helsinki (one office hour left), 09:00 in New York.
AT = datetime(2026, 3, 2, 14, tzinfo=UTC_ZONE)


def test_a_region_chosen_by_a_condition_sets_the_calendar() -> None:
    owners = (
        CalendarOwners("new-york", region="country in ('US', 'CA')"),
        CalendarOwners("tokyo", teams=("sales-us",)),
    )
    engine = Engine(agreement("region", owners))
    us = first_touch(engine, "L-1", AT, country="US")
    fi = first_touch(engine, "L-2", AT, country="FI")
    # 4 business hours from 09:00 New York time is 13:00 there; from 16:00 in Helsinki, the
    # next morning at 12:00 (the default calendar counts for every other lead).
    assert us.due_at.astimezone(ZoneInfo("America/New_York")).hour == 13
    assert us.calendar == "new-york"
    assert fi.due_at.astimezone(ZoneInfo("Europe/Helsinki")) == datetime(
        2026, 3, 3, 12, tzinfo=ZoneInfo("Europe/Helsinki")
    )
    assert fi.calendar == "office"
    assert engine.lead("L-1").obligation("first-touch").calendar == "new-york"  # type: ignore[union-attr]


def test_the_owners_calendar_a_person_before_their_team() -> None:
    owners = (
        CalendarOwners("tokyo", people=("carol",)),
        CalendarOwners("new-york", teams=("sales",)),
    )
    rules = Agreement.default().rules
    engine = Engine(attrs.evolve(agreement("owner", owners), rules=rules))
    opened = first_touch(engine, "L-1", AT)
    owner = engine.lead("L-1").owner
    assert owner is not None
    assert owner.person is not None
    expected = "tokyo" if owner.person == "carol" else "new-york"
    assert opened.calendar == expected


def test_a_clock_keeps_the_calendar_it_opened_with() -> None:
    owners = (
        CalendarOwners("tokyo", people=("carol",)),
        CalendarOwners("new-york", people=("bob",)),
    )
    engine = Engine(agreement("owner", owners))
    opened = first_touch(engine, "L-1", AT)
    person = engine.lead("L-1").owner.person  # type: ignore[union-attr]
    other = "bob" if person != "bob" else "carol"
    engine.apply(OwnerAssigned(id="a", lead="L-1", at=AT.replace(minute=5), owner=other))
    clock = engine.lead("L-1").obligation("first-touch")
    assert clock is not None
    assert (clock.calendar, clock.due_at) == (opened.calendar, opened.due_at)


def test_owned_calendars_round_trip_through_the_file_and_the_one_pager_says_whose() -> None:
    owners = (
        CalendarOwners("new-york", teams=("sales-us",), region="country in ('US', 'CA')"),
        CalendarOwners("tokyo", people=("carol",)),
    )
    made = agreement("region", owners)
    assert Agreement.from_toml_text(agreement_to_toml(made)) == made
    said = calendar_sentence(made, "new-york")
    assert said.startswith("new-york, for team sales-us and leads with country in")
    assert calendar_sentence(made, "office").startswith("office, for everyone without")
    assert "(on the working hours of the lead's region)" in obligation_sentence(
        made, made.obligations[0]
    )


@pytest.mark.parametrize(
    ("owners", "field", "words"),
    [
        (
            (CalendarOwners("tokyo", teams=("sales-jp",)),),
            "calendars.tokyo.teams",
            "is not a known team",
        ),
        (
            (CalendarOwners("tokyo", people=("zoe",)),),
            "calendars.tokyo.people",
            "is not a known person",
        ),
        (
            (CalendarOwners("osaka", teams=("sales",)),),
            "calendars.osaka",
            "is not a known calendar",
        ),
        (
            (
                CalendarOwners("tokyo", teams=("sales",)),
                CalendarOwners("new-york", teams=("sales",)),
            ),
            "calendars.tokyo.teams",
            "already works by calendar 'new-york'",  # (checked in the calendars' order)
        ),
    ],
)
def test_bad_calendar_owners_are_refused_with_the_place_and_the_fix(
    owners: tuple[CalendarOwners, ...], field: str, words: str
) -> None:
    with pytest.raises(AgreementError) as caught:
        agreement("owner", owners)
    [problem] = [p for p in caught.value.problems if p.field == field]
    assert words in problem.message
    assert problem.fix


def test_whose_calendar_needs_a_calendar_for_everyone_else() -> None:
    owners = (
        CalendarOwners("office", teams=("marketing",)),
        CalendarOwners("new-york", teams=("sales",)),
        CalendarOwners("tokyo", teams=("sales-us",)),
    )
    with pytest.raises(AgreementError) as caught:
        agreement("owner", owners)
    [problem] = [p for p in caught.value.problems if p.field == "obligations.first-touch.calendar"]
    assert "counts the owner's calendar" in problem.message
    assert "leave one calendar without teams, people or region" in problem.fix


def test_a_calendar_cannot_be_called_like_a_choice() -> None:
    default = Agreement.default()
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(default, calendars={**default.calendars, "owner": office("UTC")})
    assert any(p.field == "calendars.owner" for p in caught.value.problems)


def test_owners_are_kept_in_the_calendars_order_so_the_file_means_the_same() -> None:
    """Regions are tried in the calendars' order however the owners were listed; two entries
    of one calendar join."""
    listed = (
        CalendarOwners("tokyo", region="country == 'JP'"),
        CalendarOwners("new-york", region="country in ('US', 'FI')"),
        CalendarOwners("tokyo", people=("carol",), region="country == 'FI'"),
    )
    made = agreement("region", listed)
    assert [owners.calendar for owners in made.calendar_owners] == ["new-york", "tokyo"]
    [tokyo] = [owners for owners in made.calendar_owners if owners.calendar == "tokyo"]
    assert tokyo.people == ("carol",)
    assert tokyo.region is not None
    assert str(tokyo.region) == "(country == 'JP') or (country == 'FI')"
    assert Agreement.from_toml_text(agreement_to_toml(made)) == made
    engine = Engine(made)
    assert first_touch(engine, "L-1", AT, country="FI").calendar == "new-york"


def test_the_diff_says_who_works_by_a_calendar() -> None:
    from leadsla._shell.diff import agreement_diff

    tokyo = CalendarOwners("tokyo", teams=("sales-us",))
    before = agreement("owner", (CalendarOwners("new-york", people=("bob",)), tokyo))
    after = agreement("owner", (CalendarOwners("new-york", people=("bob", "carol")), tokyo))
    [change] = agreement_diff(before, after)
    assert change.before is not None
    assert change.before.endswith("for bob")
    assert change.after is not None
    assert change.after.endswith("for bob, carol")


def test_a_ladder_notifies_only_people_and_teams_the_agreement_has() -> None:
    from leadsla import Notify, Warn

    default = Agreement.default()
    first, *others = default.obligations
    bad = attrs.evolve(first, warnings=(Warn(fraction=0.5, actions=Notify("dan")),))
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(default, obligations=(bad, *others))
    [problem] = caught.value.problems
    assert problem.field == "obligations.first-touch.warnings[0].actions"
    assert "is not a known person or team" in problem.message
