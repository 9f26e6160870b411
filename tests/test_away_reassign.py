"""When an owner's time away starts, their leads with running clocks go to someone else (when
the agreement says ``reassign_when_away``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    Engine,
    LeadCreated,
    LeadUpdated,
    OwnerAssigned,
    OwnerChanged,
    PauseWhile,
    Person,
    effect_to_dict,
)
from leadsla._shell import snapshot

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY_9 = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
TUESDAY = datetime(2026, 3, 3, tzinfo=HELSINKI)


def agreement(*, reassign: bool = True) -> Agreement:
    bob = Person("bob", away=((date(2026, 3, 3), date(2026, 3, 5)),))
    return attrs.evolve(Agreement.default(), people=(bob,), reassign_when_away=reassign)


def bobs_lead(engine: Engine, lead: str = "L-2") -> None:
    """A lead the policy gives carol (its clocks open with her), then given to bob."""
    engine.apply(
        LeadCreated(id=f"c-{lead}", lead=lead, at=MONDAY_9, fields={"email": "a@b", "score": 80})
    )
    assert engine.lead(lead).owner.person == "carol"  # type: ignore[union-attr]
    later = MONDAY_9 + timedelta(hours=1)
    engine.apply(OwnerAssigned(id=f"a-{lead}", lead=lead, at=later, owner="bob"))


def test_a_lead_with_running_clocks_leaves_its_owner_when_their_time_away_starts() -> None:
    engine = Engine(agreement())
    bobs_lead(engine)
    assert engine.lead("L-2").owner.person == "bob"  # type: ignore[union-attr]
    effects = engine.advance(TUESDAY + timedelta(hours=1))
    [moved] = [e for e in effects if isinstance(e, OwnerChanged)]
    assert moved.at == TUESDAY
    assert moved.previous is not None
    assert moved.previous.person == "bob"
    assert moved.owner.person in ("alice", "carol")
    assert moved.reason == "bob is away: reassigned"
    assert effect_to_dict(moved)["origin"].endswith(":away")
    assert not [
        e for e in engine.advance(TUESDAY + timedelta(days=3)) if isinstance(e, OwnerChanged)
    ]


def test_without_the_setting_the_lead_stays_with_its_owner() -> None:
    engine = Engine(agreement(reassign=False))
    bobs_lead(engine)
    effects = engine.advance(TUESDAY + timedelta(days=1))
    assert not [e for e in effects if isinstance(e, OwnerChanged)]
    assert engine.lead("L-2").owner.person == "bob"  # type: ignore[union-attr]


def test_an_assignment_during_the_time_away_is_taken_as_given() -> None:
    engine = Engine(agreement())
    bobs_lead(engine)
    engine.advance(TUESDAY + timedelta(hours=1))
    engine.apply(OwnerAssigned(id="back", lead="L-2", at=TUESDAY + timedelta(hours=2), owner="bob"))
    effects = engine.advance(TUESDAY + timedelta(days=1))
    assert not [e for e in effects if isinstance(e, OwnerChanged)]
    assert engine.lead("L-2").owner.person == "bob"  # type: ignore[union-attr]


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, 3 * 24 * 60), max_size=8), restore=st.booleans())
def test_the_same_effects_however_time_is_advanced(cuts: list[int], restore: bool) -> None:
    made = agreement()
    whole = Engine(made)
    bobs_lead(whole)
    bobs_lead(whole, "L-4")
    end = datetime(2026, 3, 9, tzinfo=HELSINKI)
    expected = [effect_to_dict(e) for e in whole.advance(end)]
    assert any(e["type"] == "owner_changed" for e in expected)

    pieces = Engine(made)
    bobs_lead(pieces)
    bobs_lead(pieces, "L-4")
    said: list[dict[str, object]] = []
    for minutes in sorted(cuts):
        said += [effect_to_dict(e) for e in pieces.advance(MONDAY_9 + timedelta(minutes=minutes))]
        if restore:
            pieces = Engine.restored(snapshot.load(*snapshot.dump(pieces.state())), made)
    said += [effect_to_dict(e) for e in pieces.advance(end)]
    assert said == expected


def test_a_late_event_worked_in_again_gives_the_same_reassignment() -> None:
    """The lead is worked out again from its own events when one arrives late: the timer of
    the owner's time away is found again."""
    on_time = Engine(agreement(), allowed_lateness=timedelta(days=2))
    late = Engine(agreement(), allowed_lateness=timedelta(days=2))
    bobs_lead(on_time)
    late.apply(
        LeadCreated(id="c-L-2", lead="L-2", at=MONDAY_9, fields={"email": "a@b", "score": 80})
    )
    late.advance(MONDAY_9 + timedelta(hours=3))
    late.apply(OwnerAssigned(id="a-L-2", lead="L-2", at=MONDAY_9 + timedelta(hours=1), owner="bob"))
    end = TUESDAY + timedelta(hours=1)
    on_time.advance(end)
    late.advance(end)
    assert on_time.lead("L-2").lead.ownership == late.lead("L-2").lead.ownership
    assert on_time.lead("L-2").owner.person != "bob"  # type: ignore[union-attr]


def _paused_accept(agreement_: Agreement) -> Agreement:
    accept = attrs.evolve(
        agreement_.obligations[1], pause=PauseWhile(condition="budget_confirmed == true")
    )
    return attrs.evolve(agreement_, obligations=(accept,))


def test_a_paused_clock_leaves_its_owner_too_whatever_the_order_of_events() -> None:
    owners = []
    for pause_first in (True, False):
        engine = Engine(_paused_accept(agreement()))
        engine.apply(
            LeadCreated(id="c", lead="L-2", at=MONDAY_9, fields={"email": "a@b", "score": 80})
        )
        at = MONDAY_9 + timedelta(hours=2)
        steps: list[LeadUpdated | OwnerAssigned] = [
            LeadUpdated(id="u", lead="L-2", at=at, fields={"budget_confirmed": True}),
            OwnerAssigned(id="a", lead="L-2", at=at, owner="bob"),
        ]
        for event in steps if pause_first else reversed(steps):
            engine.apply(event)
        assert engine.lead("L-2").obligation("accept-or-reject").status == "paused"  # type: ignore[union-attr]
        engine.advance(TUESDAY + timedelta(hours=12))
        owners.append(engine.lead("L-2").owner.person)  # type: ignore[union-attr]
    assert owners[0] == owners[1]
    assert owners[0] != "bob"


def test_a_time_away_starting_with_a_warning_is_acted_on() -> None:
    """Bob is away from Tuesday 11:00, the instant first-touch warns: he still loses the lead."""
    bob = Person(
        "bob", away=((datetime(2026, 3, 3, 11, tzinfo=HELSINKI), TUESDAY + timedelta(days=3)),)
    )
    made = attrs.evolve(
        Agreement.default(),
        obligations=Agreement.default().obligations[:1],
        people=(bob,),
        reassign_when_away=True,
    )
    engine = Engine(made)
    monday_16 = MONDAY_9 + timedelta(hours=7)
    engine.apply(
        LeadCreated(id="c", lead="L-2", at=monday_16, fields={"email": "a@b", "score": 80})
    )
    engine.apply(OwnerAssigned(id="a", lead="L-2", at=monday_16, owner="bob"))
    effects = engine.advance(datetime(2026, 3, 3, 11, 30, tzinfo=HELSINKI))
    assert [type(e).__name__ for e in effects] == ["ObligationWarned", "OwnerChanged"]
    assert engine.lead("L-2").owner.person != "bob"  # type: ignore[union-attr]
