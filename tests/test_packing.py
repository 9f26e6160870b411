"""Quiet leads held packed: the same leads, effects and answers, in less memory."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import (
    ActivityLogged,
    Effect,
    Engine,
    Event,
    LeadCreated,
    LeadUpdated,
    UsageError,
    simulate,
)
from leadsla._core.history import Entry, Packed
from leadsla._core.packing import Packer
from leadsla._shell.snapshot import dump, load
from leadsla.testing import event_streams

HELSINKI = ZoneInfo("Europe/Helsinki")
HOUR = timedelta(hours=1)
LOG = simulate(leads=40, seed=11)
FAR = datetime(2031, 1, 1, tzinfo=HELSINKI)


def entries(engine: Engine) -> dict[str, Entry]:
    return engine.state().ledger.entries


def packed(engine: Engine) -> list[str]:
    return [lead for lead, entry in entries(engine).items() if type(entry) is Packed]


def said(effects: list[Effect]) -> list[tuple[str, str, str]]:
    return [(effect.id, effect.origin, repr(effect)) for effect in effects]


def answers(engine: Engine) -> tuple[object, ...]:
    leads = {lead: engine.lead(lead) for lead in engine.leads()}
    return leads, engine.due(FAR), engine.volumes(), engine.clock


def run(events: list[Event], packed_beyond: int | None) -> tuple[Engine, list[Effect]]:
    """A short allowed lateness, so leads fall quiet (and are packed) within a stream."""
    engine = Engine(allowed_lateness=HOUR, packed_beyond=packed_beyond)
    effects: list[Effect] = []
    for index, event in enumerate(events):
        effects += engine.apply(event)
        if index % 7 == 6:
            effects += engine.advance(event.at + timedelta(days=3))
    return engine, effects


def same_lead(one: object, other: object) -> None:
    """Two records equal, with the ids, causes and wall clocks of their histories too
    (equality of effects leaves out where they came from)."""
    assert one == other
    for mine, theirs in zip(one.history, other.history, strict=True):  # type: ignore[attr-defined]
        assert (mine.id, mine.origin, mine.seq) == (theirs.id, theirs.origin, theirs.seq)
        assert mine.at.isoformat() == theirs.at.isoformat()
        assert [str(e) for e in mine.explanations] == [str(e) for e in theirs.explanations]


@settings(max_examples=60, deadline=None)
@given(events=event_streams(leads=4, max_events=40, housekeeping=True), late=st.data())
def test_packing_changes_no_effect_record_or_answer(
    events: list[Event], late: st.DataObject
) -> None:
    """An engine that packs every quiet lead at once says and answers what one that packs
    none does, late events (put in their place, or refused as too late) included."""
    order = list(events)
    for _ in range(late.draw(st.integers(0, 3))):  # a few events arrive after later ones
        if len(order) > 2:
            moved = order.pop(late.draw(st.integers(0, len(order) - 2)))
            order.insert(late.draw(st.integers(1, len(order))), moved)
    kept, kept_effects = run(order, None)
    packing, packing_effects = run(order, 0)
    assert said(packing_effects) == said(kept_effects)
    assert answers(packing) == answers(kept)
    for lead in kept.leads():
        same_lead(packing.lead(lead).lead, kept.lead(lead).lead)
    assert not packed(kept)


def test_quiet_leads_are_packed_and_read_back_when_touched() -> None:
    """Quiet leads beyond the ``packed_beyond`` most recently quiet, with no clock open, are
    held packed; an event for one reads it back, and it goes on as if it had never been
    packed."""
    later = LOG[-1].at + timedelta(days=60)
    engines = [Engine(packed_beyond=beyond) for beyond in (None, 5)]
    for engine in engines:
        for event in LOG:
            engine.apply(event)
        engine.advance(later)
    kept, packing = engines
    quiet = packed(packing)
    assert len(quiet) > 20, "most of the 40 leads are quiet two months after the log"
    last_quiet = list(packing.state().ledger.quiet)
    assert len(last_quiet) <= 5
    assert not set(last_quiet) & set(quiet)
    assert not any(
        clock.status == "open" for lead in quiet for clock in kept.lead(lead).obligations
    )
    assert answers(packing) == answers(kept)
    lead = quiet[0]
    touch = [
        LeadUpdated(id="u1", lead=lead, at=later + HOUR, fields={"score": 91}),
        ActivityLogged(id="a1", lead=lead, at=later + 2 * HOUR, kind="call", by="bob"),
    ]
    for event in touch:
        assert said(packing.apply(event)) == said(kept.apply(event))
    assert type(entries(packing)[lead]) is Entry
    assert lead not in packing.state().ledger.quiet
    same_lead(packing.lead(lead).lead, kept.lead(lead).lead)
    assert packing.lead(lead).obligations == kept.lead(lead).obligations


def test_a_packed_lead_takes_much_less_memory() -> None:
    engine = Engine(packed_beyond=None)
    for event in LOG:
        engine.apply(event)
    packer = Packer()
    for entry in list(entries(engine).values())[:10]:
        value = packer.pack(entry.lead, entry.clocks)
        assert value is not None
        assert len(value) < 1500, "about a third of the objects' 3 KB"


def test_a_round_trip_keeps_every_lead_of_a_replay_as_it_was() -> None:
    engine = Engine(packed_beyond=None)
    for event in LOG:
        engine.apply(event)
    packer = Packer()
    for entry in entries(engine).values():
        value = packer.pack(entry.lead, entry.clocks)
        assert value is not None
        lead, clocks = packer.unpack(value)
        same_lead(lead, entry.lead)
        assert clocks == entry.clocks
        assert [c.due_at.isoformat() for c in clocks] == [
            c.due_at.isoformat() for c in entry.clocks
        ]


def test_the_repeated_autumn_hour_and_date_fields_come_back_exact() -> None:
    """A datetime keeps its wall clock, zone and fold (the second 03:30 of the last Sunday
    of October is an hour after the first); date and datetime fields keep their types."""
    second = datetime(2026, 10, 25, 3, 30, fold=1, tzinfo=HELSINKI)
    engine = Engine(packed_beyond=None)
    fields = {"email": "a@b.fi", "score": 70, "met_on": date(2026, 10, 1), "seen": second}
    engine.apply(LeadCreated(id="c1", lead="L-1", at=second, fields=fields))
    entry = entries(engine)["L-1"]
    packer = Packer()
    value = packer.pack(entry.lead, entry.clocks)
    assert value is not None
    lead, clocks = packer.unpack(value)
    at = lead.history[0].at
    assert (at.fold, at.utcoffset(), at.isoformat()) == (1, timedelta(hours=2), second.isoformat())
    assert lead.fields["met_on"] == date(2026, 10, 1)
    assert type(lead.fields["seen"]) is datetime
    assert lead.fields["seen"].fold == 1
    assert clocks == entry.clocks


def test_shapes_the_packer_does_not_keep_leave_the_lead_as_it_is() -> None:
    """A field holding a list, or a history whose explanation was read already, is not
    packed: the lead stays a record of objects (packing never changes a lead)."""
    engine = Engine(allowed_lateness=HOUR, packed_beyond=0)
    start = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    listed = {"email": "a@b.fi", "score": 70, "tags": ["x", "y"]}
    engine.apply(LeadCreated(id="c1", lead="L-1", at=start, fields=listed))
    engine.apply(LeadCreated(id="c2", lead="L-2", at=start, fields={"email": "b@c.fi"}))
    entry = entries(engine)["L-2"]
    assert Packer().pack(entry.lead, entry.clocks) is not None
    for moved in entry.lead.history:
        for explanation in moved.explanations:
            str(explanation)  # read: traced
    traced = any(moved.explanations for moved in entry.lead.history)
    engine.advance(start + timedelta(days=40))
    kinds = {lead: type(entry) for lead, entry in entries(engine).items()}
    assert kinds["L-1"] is Entry
    assert kinds["L-2"] is (Entry if traced else Packed)
    assert engine.lead("L-1").lead.fields["tags"] == ["x", "y"]


def test_a_snapshot_keeps_packed_leads() -> None:
    engine = Engine(packed_beyond=0)
    for event in LOG:
        engine.apply(event)
    engine.advance(LOG[-1].at + timedelta(days=10))
    assert packed(engine)
    restored = Engine.restored(load(*dump(engine.state())), engine.agreement)
    assert packed(restored) == packed(engine)
    assert answers(restored) == answers(engine)
    for lead in engine.leads():
        same_lead(restored.lead(lead).lead, engine.lead(lead).lead)
    clock = engine.clock
    assert clock is not None
    touch = LeadUpdated(id="u1", lead=packed(engine)[0], at=clock + HOUR, fields={"score": 5})
    assert said(restored.apply(touch)) == said(engine.apply(touch))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "'packed_beyond' is not a whole number >= 0, nor None (got -1)"),
        (2.5, "'packed_beyond' is not a whole number >= 0, nor None (got 2.5)"),
        (True, "'packed_beyond' is not a whole number >= 0, nor None (got True)"),
    ],
)
def test_packed_beyond_must_be_a_count(value: object, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        Engine(packed_beyond=value)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert "packed_beyond=10000" in str(raised.value)


def test_an_unknown_time_zone_object_is_not_packed() -> None:
    """A datetime of a zone the packer has no room for (past 255 zones, the lead's own
    included) is not packed."""
    packer = Packer()
    engine = Engine(packed_beyond=None)
    start = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    engine.apply(LeadCreated(id="c1", lead="L-1", at=start, fields={"email": "a@b.fi"}))
    entry = entries(engine)["L-1"]
    for minutes in range(254):
        moved = attrs.evolve(
            entry.lead, updated_at=start.astimezone(timezone(timedelta(minutes=minutes)))
        )
        assert packer.pack(moved, entry.clocks) is not None
    full = attrs.evolve(entry.lead, updated_at=start.astimezone(timezone(timedelta(minutes=-1))))
    assert packer.pack(full, entry.clocks) is None


def test_zones_come_back_as_they_were_named_and_need_not_be_hashable() -> None:
    """``timezone(+2h, "EET")`` is equal to ``timezone(+2h)`` but named otherwise, and
    dateutil's zones cannot be hashed: each lead's datetimes come back in their own zone."""
    from dateutil import tz

    named = timezone(timedelta(hours=2), "EET")
    plain = timezone(timedelta(hours=2))
    offset = tz.tzoffset("HEL", 7200)
    packer = Packer()
    engine = Engine(packed_beyond=None)
    for number, zone in enumerate([plain, named, offset, tz.gettz("Europe/Helsinki")]):
        at = datetime(2026, 3, 2, 9, tzinfo=zone)
        lead = f"L-{number}"
        engine.apply(LeadCreated(id=f"c{number}", lead=lead, at=at, fields={"email": "a@b.fi"}))
        entry = entries(engine)[lead]
        value = packer.pack(entry.lead, entry.clocks)
        assert value is not None
        back = packer.unpack(value)[0].history[0].at
        assert (repr(back.tzinfo), back.tzname()) == (repr(zone), at.tzname())


def test_a_restored_packer_finds_the_agreements_objects_it_holds_already() -> None:
    """Conditions and terms are values: after a snapshot is restored (new objects, equal to
    the old), the packer's table does not grow, however often the engine is restored."""
    engine = Engine(packed_beyond=0)
    for event in LOG:
        engine.apply(event)
    engine.advance(LOG[-1].at + timedelta(days=10))
    held = len(engine.state().ledger.packer._refs)
    assert held
    for _ in range(3):
        engine = Engine.restored(load(*dump(engine.state())), Engine().agreement, packed_beyond=0)
        clock = engine.clock
        assert clock is not None
        for number in range(5):
            at = clock + timedelta(minutes=number + 1)
            lead = f"N-{len(engine)}-{number}"
            fields = {"email": "n@b.fi", "score": 80, "country": "FI"}
            engine.apply(LeadCreated(id=f"n-{lead}", lead=lead, at=at, fields=fields))
        engine.advance(clock + timedelta(days=10))
    assert len(engine.state().ledger.packer._refs) == held
