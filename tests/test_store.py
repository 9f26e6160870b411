"""Stores: the engine's inputs kept (SQLite, PostgreSQL), the state rebuilt by replaying them.

Tests taking ``open_store`` run on both stores (see tests/conftest.py)."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    AssignmentPolicy,
    AssignmentRequest,
    Duplicate,
    Effect,
    Engine,
    Event,
    LeadCreated,
    LeadUpdated,
    PostgresStore,
    SqliteStore,
    Store,
    StoreError,
    effect_to_dict,
)
from leadsla.testing import event_streams

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
FIELDS = {"email": "ann@acme.fi", "score": 62}


OpenStore = Any  # conftest.StoreOpener: open_store(agreement, **settings), .kind, .location


def engine_of(store: Store) -> Engine:
    """The engine of a store of one partition."""
    assert isinstance(store, SqliteStore | PostgresStore)
    return store.engine


def rendered(effects: list[Effect]) -> list[str]:
    return [json.dumps(effect_to_dict(effect), sort_keys=True) for effect in effects]


def views(engine: Engine) -> dict[str, object]:
    """What a host can see of each lead, as data (explanations rendered)."""
    return {
        lead: (
            engine.lead(lead).state,
            engine.lead(lead).owner,
            dict(engine.lead(lead).fields),
            engine.lead(lead).obligations,
            rendered(list(engine.lead(lead).lead.history)),
        )
        for lead in engine.leads()
    }


@settings(max_examples=30, deadline=None)
@given(
    events=event_streams(leads=2, max_events=25),
    cut=st.integers(0, 25),
    advance_minutes=st.integers(0, 5000),
)
def test_a_reopened_store_is_the_engine_it_was(
    events: list[Event], cut: int, advance_minutes: int
) -> None:
    """Apply some events, close, reopen (as after a restart), apply the rest: the leads and
    the effects are those of one engine that saw everything."""
    whole = Engine()
    expected: list[Effect] = []
    for event in events:
        expected += whole.apply(event)
    later = events[-1].at + timedelta(minutes=advance_minutes)
    expected += whole.advance(later)
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "store.db"
        effects: list[Effect] = []
        with SqliteStore(path) as store:
            effects += store.apply_many(events[:cut])
        with SqliteStore(path) as store:
            for event in events[cut:]:
                effects += store.apply(event)
            effects += store.advance(later)
        with SqliteStore(path) as store:
            assert views(store.engine) == views(whole)
            assert store.engine.clock == whole.clock
    assert rendered(effects) == rendered(expected)


def test_duplicates_are_not_kept_refusals_are(open_store: OpenStore) -> None:
    """A refused event moved the clock, so it is kept (and refused again on reopening); a
    duplicate changed nothing, so it is not."""
    with open_store(partitions=1) as store:  # one clock for L-1 and L-9
        store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
        assert [
            type(e) for e in store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
        ] == [Duplicate]
        store.apply(LeadUpdated(id="e2", lead="L-9", at=FRIDAY + timedelta(days=4), fields={}))
        assert store.inputs == 2
    with open_store() as store:
        assert engine_of(store).clock == FRIDAY + timedelta(days=4)
        breached = [o.name for o in store.lead("L-1").obligations if o.status == "breached"]
        assert breached == ["first-touch", "accept-or-reject"]


def test_the_store_keeps_its_agreement(open_store: OpenStore) -> None:
    faster = attrs.evolve(
        Agreement.default(),
        obligations=[
            attrs.evolve(spec, within="2 business hours") if spec.name == "first-touch" else spec
            for spec in Agreement.default().obligations
        ],
    )
    with open_store(faster) as store:
        store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
        where = store.where
    with open_store() as store:  # no agreement given: the store's own
        touch = store.lead("L-1").obligation("first-touch")
        assert touch is not None
        assert touch.due_at == datetime(2026, 3, 9, 10, tzinfo=HELSINKI)
    with pytest.raises(StoreError) as raised:
        open_store(Agreement.default())
    assert f"is not the agreement {where} was made with (it has the same name, other terms)" in (
        str(raised.value)
    )
    assert "open the store without an agreement to use its own" in str(raised.value)
    with pytest.raises(StoreError, match=r"made with \('Marketing–sales SLA'\) \(got 'other'\)"):
        open_store(attrs.evolve(Agreement.default(), name="other"))


class Nobody(AssignmentPolicy):
    def assign(self, request: AssignmentRequest) -> str | None:
        return None


def test_an_agreement_only_python_holds_must_be_given_again(open_store: OpenStore) -> None:
    default = Agreement.default()
    custom = attrs.evolve(
        default, teams=(default.teams[0], attrs.evolve(default.teams[1], policy=Nobody()))
    )
    with open_store(custom) as store:
        store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
    with pytest.raises(StoreError, match="pass the same agreement as when the store was made"):
        open_store()
    with open_store(custom) as store:
        assert store.lead("L-1").owner is not None
        assert store.lead("L-1").owner.person is None


def test_values_json_cannot_hold_are_refused_before_anything_changes(
    open_store: OpenStore,
) -> None:
    with open_store() as store:
        event = LeadCreated(
            id="e1", lead="L-1", at=FRIDAY, fields={**FIELDS, "since": date(2026, 1, 1)}
        )
        with pytest.raises(StoreError) as raised:
            store.apply(event)
        assert str(raised.value) == (
            "'fields.since' is not a JSON value, so the store cannot keep it exactly "
            "(got 2026-01-01); send text (a date as 2026-03-02), a number, "
            "a boolean, a list or an object"
        )
        assert len(store) == 0
        assert store.inputs == 0


def test_a_file_that_is_not_a_store_is_named(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are notes, not a database\n" * 100, encoding="utf-8")
    with pytest.raises(StoreError) as raised:
        SqliteStore(path)
    assert "'path' cannot be opened as a leadsla store" in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_store_from_another_version_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "store.db"
    with SqliteStore(path):
        pass
    with sqlite3.connect(path) as connection:
        connection.execute("update meta set value = '99' where key = 'schema'")
    with pytest.raises(StoreError, match=r"'schema' is not a store version this leadsla reads"):
        SqliteStore(path)


def refuse_writes_about(store: Store, text: str) -> None:
    """Make the database itself refuse to keep any input mentioning ``text``: a real failed
    write."""
    assert "'" not in text
    if isinstance(store, SqliteStore):
        store._connection.execute(
            f"create trigger refuse before insert on inputs when instr(new.body, '{text}') > 0 "
            "begin select raise(abort, 'disk says no'); end"
        )
        return
    assert isinstance(store, PostgresStore)
    store._connection.execute(
        "create function refuse() returns trigger language plpgsql as $$ begin "
        f"if position('{text}' in new.body) > 0 then raise exception 'disk says no'; end if; "
        "return new; end $$; "
        "create trigger refuse before insert on inputs for each row execute function refuse()"
    )


def allow_writes(store: Store) -> None:
    assert isinstance(store, SqliteStore | PostgresStore)
    store._connection.execute(
        "drop trigger refuse" + ("" if isinstance(store, SqliteStore) else " on inputs")
    )


def test_a_failed_write_leaves_the_engine_unchanged(open_store: OpenStore) -> None:
    """The engine and the file commit together: a refused write changes neither, and the
    input can be sent again once the store can keep it."""
    store = open_store(partitions=1)
    try:
        store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
        before = views(engine_of(store))
        refuse_writes_about(store, "L-2")
        second = LeadCreated(id="e2", lead="L-2", at=FRIDAY + timedelta(days=3), fields=FIELDS)
        with pytest.raises(StoreError, match=r"could not keep the input \(disk says no\)"):
            store.apply(second)
        assert views(engine_of(store)) == before
        assert engine_of(store).clock == FRIDAY
        assert store.inputs == 1
        allow_writes(store)
        assert not isinstance(store.apply(second)[-1], Duplicate)
        assert list(store.leads()) == ["L-1", "L-2"]
    finally:
        store.close()


def test_a_batch_whose_write_fails_keeps_none_of_it(open_store: OpenStore) -> None:
    """A batch is one transaction: when its last write fails, the engine is back where the
    file is, before the batch."""
    store = open_store(partitions=1)
    try:
        store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
        before = views(engine_of(store))
        refuse_writes_about(store, "L-4")
        batch = [
            LeadCreated(id=f"e{n}", lead=f"L-{n}", at=FRIDAY + timedelta(hours=n), fields=FIELDS)
            for n in (2, 3, 4)
        ]
        with pytest.raises(StoreError, match="disk says no"):
            store.apply_many(batch)
        assert views(engine_of(store)) == before
        assert store.inputs == 1
    finally:
        store.close()


def test_a_lone_surrogate_is_refused_and_nothing_is_lost(open_store: OpenStore) -> None:
    """Valid JSON the file cannot hold as UTF-8 is refused before anything changes; a retry
    is refused again (not taken for a duplicate), and reopening loses nothing."""
    bad = LeadCreated(id="e2", lead="L-2", at=FRIDAY, fields={**FIELDS, "name": "\ud800"})
    with open_store(partitions=1) as store:
        store.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
        before = views(engine_of(store))
        for _ in range(2):
            with pytest.raises(StoreError) as raised:
                store.apply(bad)
            assert raised.value.field == "event"
            assert "lone surrogate" in str(raised.value)
            assert views(engine_of(store)) == before
    with open_store() as reopened:
        assert views(engine_of(reopened)) == before


def test_a_second_store_on_the_same_file_is_refused(tmp_path: pathlib.Path) -> None:
    """Two writers would keep inputs each other never applied."""
    path = tmp_path / "store.db"
    with SqliteStore(path) as first:
        with pytest.raises(StoreError) as raised:
            SqliteStore(path)
        assert "is open in another store" in str(raised.value)
        assert "close the other one first" in str(raised.value)
        first.apply(LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS))
    with SqliteStore(path) as again:  # closed: free again
        assert len(again) == 1


def test_a_batch_that_fails_while_read_applies_nothing(open_store: OpenStore) -> None:
    def batch() -> Iterator[Event]:
        yield LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS)
        raise OSError("the export was cut off")

    with open_store() as store:
        with pytest.raises(OSError, match="cut off"):
            store.apply_many(batch())
        assert len(store) == 0
        assert store.inputs == 0
        bad = LeadCreated(id="e2", lead="L-2", at=FRIDAY, fields={"since": date(2026, 1, 1)})
        with pytest.raises(StoreError):
            store.apply_many([LeadCreated(id="e1", lead="L-1", at=FRIDAY, fields=FIELDS), bad])
        assert len(store) == 0
        assert store.inputs == 0


def test_an_event_in_the_repeated_autumn_hour_is_kept(open_store: OpenStore) -> None:
    """Its zoned time and the offset its JSON form keeps are one instant, though Python's ==
    says otherwise inside that hour (PEP 495)."""
    at = datetime(2026, 10, 25, 3, 30, tzinfo=ZoneInfo("Europe/Helsinki"))
    with open_store() as store:
        store.apply(LeadCreated(id="e1", lead="L-1", at=at, fields=FIELDS))
    with open_store() as store:
        created = store.lead("L-1").lead.created_at
        assert created is not None
        assert created.timestamp() == at.timestamp()
