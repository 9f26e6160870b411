"""The agreement's ``lead`` term: a record it does not hold for is kept outside the lifecycle
until an update makes it hold; reports count such records apart."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    ActivityLogged,
    Agreement,
    Engine,
    HeldOutside,
    LeadConverted,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadMigrated,
    LeadUpdated,
    LeadView,
    ObligationOpened,
    OwnerAssigned,
    OwnerChanged,
    Rejected,
    Retracted,
    Term,
    Transitioned,
    TransitionRequested,
    Versions,
    render_scorecard,
    scorecard,
    scorecard_data,
)
from leadsla._core.housekeeping import OUTSIDE

HELSINKI = ZoneInfo("Europe/Helsinki")
DEFAULT = Agreement.default()
NO_EMAIL: dict[str, Any] = {"score": 62, "country": "FI"}  # an MQL's score, no email
MQL: dict[str, Any] = {"email": "ann@acme.fi", "score": 62}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=HELSINKI)


def created(lead: str = "L-1", when: datetime | None = None, **fields: object) -> LeadCreated:
    return LeadCreated(id=f"c-{lead}", lead=lead, at=when or at(2, 9), fields=fields)


def kinds(effects: Sequence[object]) -> list[str]:
    return [type(effect).__name__ for effect in effects]


def same_state(first: LeadView, second: LeadView) -> bool:
    """Two views of one lead hold the same state, clocks and owners (the moves' causes and
    explanations aside)."""
    return (
        first.state == second.state
        and first.obligations == second.obligations
        and first.lead.ownership == second.lead.ownership
        and [(m.source, m.dest, m.at) for m in first.lead.history]
        == [(m.source, m.dest, m.at) for m in second.lead.history]
    )


# -- kept outside -----------------------------------------------------------------------------


def test_a_record_without_the_lead_term_is_kept_outside_the_lifecycle() -> None:
    """No email: the record is known, fields and all, with no state, owner, clocks or moves;
    the one effect says why."""
    engine = Engine()
    [held] = engine.apply(created(**NO_EMAIL))
    assert isinstance(held, HeldOutside)
    assert held.term == "lead"
    assert str(held.explanation) == "lead: has(email) -> False (email is missing)"
    view = engine.lead("L-1")
    assert view.fields == NO_EMAIL
    assert (view.state, view.owner, view.obligations, view.lead.history) == (
        OUTSIDE,
        None,
        (),
        (),
    )
    assert view.lead.standing is not None
    assert (view.lead.standing.kind, view.lead.standing.at) == ("outside", at(2, 9))
    assert not view.lead.is_lead


def test_no_rule_runs_for_a_record_outside() -> None:
    """Its score would make an MQL at once (the auto-qualify rule): outside, no rule fires."""
    engine = Engine()
    effects = engine.apply(created(**NO_EMAIL))
    assert kinds(effects) == ["HeldOutside"]


def test_an_update_that_keeps_it_outside_changes_its_fields_only() -> None:
    engine = Engine()
    engine.apply(created(**NO_EMAIL))
    effects = engine.apply(
        LeadUpdated(id="u1", lead="L-1", at=at(2, 10), fields={"need_months": 3})
    )
    assert effects == []
    view = engine.lead("L-1")
    assert view.fields == {**NO_EMAIL, "need_months": 3}
    assert view.state == OUTSIDE
    assert view.lead.updated_at == at(2, 10)


def test_an_update_that_makes_the_term_hold_brings_it_in_as_a_creation_would() -> None:
    """The email arrives at 10:00: the record enters the lifecycle then, with the owner,
    rules and clocks a lead created at 10:00 with those fields gets."""
    engine = Engine()
    engine.apply(created(**NO_EMAIL))
    effects = engine.apply(
        LeadUpdated(id="u1", lead="L-1", at=at(2, 10), fields={"email": "ann@acme.fi"})
    )
    fresh = Engine()
    said = fresh.apply(created(when=at(2, 10), **NO_EMAIL, email="ann@acme.fi"))
    assert kinds(effects) == kinds(said)
    assert same_state(engine.lead("L-1"), fresh.lead("L-1"))
    assert engine.lead("L-1").state == "mql"
    first = effects[0]
    assert isinstance(first, Transitioned)
    assert (first.source, first.dest, first.cause) == (None, "lead", "became a lead")
    assert [str(e) for e in first.explanations] == [
        "lead: has(email) -> True (email = 'ann@acme.fi')"
    ]
    opened = [e for e in effects if isinstance(e, ObligationOpened)]
    assert {e.at for e in opened} == {at(2, 10)}
    assert engine.lead("L-1").lead.standing is None


@pytest.mark.parametrize(
    "event",
    [
        ActivityLogged(id="x", lead="L-1", at=at(2, 10), kind="call", by="bob"),
        TransitionRequested(id="x", lead="L-1", at=at(2, 10), trigger="qualify"),
        OwnerAssigned(id="x", lead="L-1", at=at(2, 10), owner="mia"),
        LeadConverted(id="x", lead="L-1", at=at(2, 10)),
    ],
    ids=lambda event: event.type,
)
def test_other_events_on_a_record_outside_are_refused_clearly(event: object) -> None:
    """The refusal names the record, the term and its condition, and the fix; the record is
    unchanged."""
    engine = Engine()
    engine.apply(created(**NO_EMAIL))
    before = engine.lead("L-1")
    [refused] = engine.apply(event)  # type: ignore[arg-type]
    assert isinstance(refused, Rejected)
    assert "names a record that is not a lead" in refused.reason
    assert "'lead' term (has(email)) does not hold" in refused.reason
    assert "(got 'L-1')" in refused.reason
    assert "send lead_updated with the fields that make the term hold" in refused.reason
    assert engine.lead("L-1") == before


def test_a_record_outside_may_be_merged_or_erased() -> None:
    """A duplicate record without an email is merged into the real lead; one outside may be
    erased (its name is personal)."""
    engine = Engine()
    engine.apply(created("L-1", **MQL))
    engine.apply(created("L-2", **NO_EMAIL, name="Ann"))
    engine.apply(created("L-3", **NO_EMAIL, name="Bo"))
    assert kinds(engine.apply(LeadMerged(id="m", lead="L-2", at=at(2, 10), into="L-1"))) == [
        "Merged"
    ]
    assert engine.lead("L-2").lead.merged_into == "L-1"
    assert [view.lead.id for view in engine.lead("L-1").merged] == ["L-2"]
    assert kinds(engine.apply(LeadErased(id="e", lead="L-3", at=at(2, 10)))) == ["Erased"]
    assert engine.lead("L-3").fields == {**NO_EMAIL, "name": "[erased]"}


def test_field_values_of_the_wrong_type_are_refused_outside_too() -> None:
    engine = Engine()
    [refused] = engine.apply(created(score="high"))
    assert isinstance(refused, Rejected)
    assert "'fields.score'" in refused.reason
    with pytest.raises(KeyError):
        engine.lead("L-1")


def test_an_agreement_without_a_lead_term_takes_every_record_as_a_lead() -> None:
    """As before the term was applied: no email, still a lead."""
    terms = [term for term in DEFAULT.terms if term.name != "lead"]
    engine = Engine(attrs.evolve(DEFAULT, terms=terms))
    effects = engine.apply(created(**NO_EMAIL))
    assert "HeldOutside" not in kinds(effects)
    assert engine.lead("L-1").state == "mql"


def test_the_agreements_own_lead_term_is_the_one_applied() -> None:
    """A lead is what the agreement says: here, an email or a phone number."""
    terms = [
        Term("lead", "has(email) or has(phone)") if term.name == "lead" else term
        for term in DEFAULT.terms
    ]
    fields = {**DEFAULT.fields, "phone": "text"}
    engine = Engine(attrs.evolve(DEFAULT, terms=terms, fields=fields))
    engine.apply(created("L-1", **NO_EMAIL, phone="+358 40 123"))
    engine.apply(created("L-2", **NO_EMAIL))
    assert engine.lead("L-1").state == "mql"
    assert engine.lead("L-2").state == OUTSIDE


def test_a_migration_of_a_record_outside_is_refused() -> None:
    later = attrs.evolve(DEFAULT, version="2", effective=at(1, 0).date())
    engine = Engine(Versions([attrs.evolve(DEFAULT, version="1"), later]))
    engine.apply(created(when=datetime(2026, 2, 27, 9, tzinfo=HELSINKI), **NO_EMAIL))
    [refused] = engine.apply(LeadMigrated(id="m", lead="L-1", at=at(2, 9), to="2"))
    assert isinstance(refused, Rejected)
    assert "not a lead" in refused.reason


# -- late events ------------------------------------------------------------------------------


def test_a_late_update_that_makes_the_term_hold_makes_the_refused_call_good() -> None:
    """The call at 11:00 was refused (not a lead); the email, dated 10:00, arrives after it:
    the refusal is withdrawn, the record entered at 10:00, and the call counts, as in time
    order."""
    call = ActivityLogged(id="a1", lead="L-1", at=at(2, 11), kind="call", by="bob")
    email = LeadUpdated(id="u1", lead="L-1", at=at(2, 10), fields={"email": "ann@acme.fi"})
    engine = Engine()
    engine.apply(created(**NO_EMAIL))
    [refused] = engine.apply(call)
    assert isinstance(refused, Rejected)
    effects = engine.apply(email)
    assert isinstance(effects[0], Retracted)
    assert effects[0].retracts == refused.id
    in_order = Engine()
    for event in (created(**NO_EMAIL), email, call):
        in_order.apply(event)
    assert engine.lead("L-1") == in_order.lead("L-1")
    touch = engine.lead("L-1").obligation("first-touch")
    assert touch is not None
    assert (touch.status, touch.opened_at) == ("met", at(2, 10))


def test_a_late_creation_takes_the_events_parked_for_it() -> None:
    """An update and a call for a record not created yet are refused and parked; the creation
    (no email), dated before them, arrives late: the update brings it in, the call counts."""
    engine = Engine()
    engine.apply(LeadUpdated(id="u1", lead="L-1", at=at(2, 10), fields={"email": "a@b.fi"}))
    engine.apply(ActivityLogged(id="a1", lead="L-1", at=at(2, 11), kind="call", by="bob"))
    engine.apply(created(**NO_EMAIL))
    in_order = Engine()
    for event in (
        created(**NO_EMAIL),
        LeadUpdated(id="u1", lead="L-1", at=at(2, 10), fields={"email": "a@b.fi"}),
        ActivityLogged(id="a1", lead="L-1", at=at(2, 11), kind="call", by="bob"),
    ):
        in_order.apply(event)
    assert engine.lead("L-1") == in_order.lead("L-1")
    assert engine.lead("L-1").state == "mql"


def test_a_late_update_that_takes_the_email_away_changes_nothing_of_a_lead() -> None:
    """The term decides when a record is created or outside: a lead that loses its email
    stays a lead."""
    engine = Engine()
    engine.apply(created(**MQL))
    engine.apply(LeadUpdated(id="u1", lead="L-1", at=at(2, 10), fields={"email": None}))
    assert engine.lead("L-1").state == "mql"


# -- reports ----------------------------------------------------------------------------------


def outside_and_in() -> Engine:
    engine = Engine()
    engine.apply(created("L-1", **MQL))
    engine.apply(created("L-2", when=at(2, 10), **NO_EMAIL))
    engine.apply(created("L-3", when=at(2, 11), **NO_EMAIL))
    engine.apply(LeadUpdated(id="u", lead="L-3", at=at(2, 12), fields={"email": "c@d.fi"}))
    engine.apply(created("L-4", when=datetime(2026, 4, 2, 9, tzinfo=HELSINKI), **NO_EMAIL))
    return engine


def test_the_scorecard_counts_records_not_leads_apart() -> None:
    """L-2 (March) and L-4 (April) stay outside; L-3 became a lead: it counts as one."""
    cards = scorecard(outside_and_in())
    assert [(card.period, card.not_leads) for card in cards] == [("2026-03", 1), ("2026-04", 1)]
    march = cards[0]
    assert dict(march.entered)["lead"] == 2  # L-1 and L-3: the records outside entered nothing
    assert {score.opened for score in march.obligations} == {2}


def test_every_format_says_how_many_records_are_not_leads() -> None:
    cards = scorecard(outside_and_in())
    text = render_scorecard(cards)
    assert "Records not leads (the lead term did not hold)" in text
    assert "1 record created in the period, kept outside the lifecycle" in text
    data = json.loads(render_scorecard(cards, "json"))
    assert [period["not_leads"] for period in data["periods"]] == [1, 1]
    assert scorecard_data(cards)["periods"][0]["not_leads"] == 1
    rows = list(csv.DictReader(io.StringIO(render_scorecard(cards, "csv"))))
    assert {row["not_leads"] for row in rows if row["period"] == "2026-03"} == {"1"}
    assert [row for row in rows if row["period"] == "2026-04"] == [
        {**dict.fromkeys(rows[0], ""), "period": "2026-04", "not_leads": "1"}
    ]
    assert "Records not leads" in render_scorecard(cards, "md")


def test_a_scorecard_without_records_outside_says_nothing_of_them() -> None:
    engine = Engine()
    engine.apply(created(**MQL))
    engine.advance(at(2, 12))
    [card] = scorecard(engine)
    assert card.not_leads == 0
    assert "not leads" not in render_scorecard([card])


def test_the_owner_of_a_record_brought_in_is_picked_then() -> None:
    engine = Engine()
    engine.apply(created(**NO_EMAIL))
    effects = engine.apply(
        LeadUpdated(id="u1", lead="L-1", at=at(2, 10) + timedelta(minutes=5), fields=MQL)
    )
    owners = [e for e in effects if isinstance(e, OwnerChanged)]
    assert [o.at for o in owners] == [at(2, 10, 5)] * 2
