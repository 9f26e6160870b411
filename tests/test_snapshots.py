"""Snapshots: a store reopens from its newest snapshot and the inputs after it, never wrong."""

from __future__ import annotations

import os
import pathlib
import pickle
import sqlite3
from datetime import timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    AssignmentPolicy,
    AssignmentRequest,
    Engine,
    Event,
    SqliteStore,
    StoreError,
    simulate,
)
from leadsla._shell.snapshot import SnapshotError, dump, load
from leadsla.testing import event_streams

LOG = simulate(leads=30, seed=3)


def views(engine: Engine) -> dict[str, object]:
    return {lead: engine.lead(lead) for lead in engine.leads()}


def fill(path: pathlib.Path, events: list[Event], **options: object) -> SqliteStore:
    store = SqliteStore(path, **options)  # type: ignore[arg-type]
    for index, event in enumerate(events):
        store.apply(event)
        if index % 20 == 19:
            store.advance(event.at + timedelta(minutes=5))
    return store


def snapshots(path: pathlib.Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        rows = [n for (n,) in connection.execute("select input from snapshots order by input")]
    connection.close()
    return rows


def test_a_store_reopens_from_its_snapshot(tmp_path: pathlib.Path) -> None:
    """Closing writes a snapshot; reopening replays nothing more and is the same engine, and
    what follows gives the effects a store replayed in full gives."""
    half = len(LOG) // 2
    path = tmp_path / "snap.db"
    fill(path, LOG[:half]).close()
    assert snapshots(path)
    full = fill(tmp_path / "full.db", LOG[:half], snapshot_every=None)
    with SqliteStore(path) as reopened:
        assert reopened._since == 0  # nothing replayed after the snapshot
        assert views(reopened.engine) == views(full.engine)
        assert reopened.engine.clock == full.engine.clock
        for event in LOG[half:]:
            assert reopened.apply(event) == full.apply(event)
        end = LOG[-1].at + timedelta(days=30)
        assert reopened.advance(end) == full.advance(end)
        assert [i.id for i in reopened.pending()] == [i.id for i in full.pending()]
        assert reopened.refused() == full.refused()
    full.close()


def test_snapshots_are_written_every_so_many_inputs(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "snap.db"
    store = fill(path, LOG[:100], snapshot_every=40)
    rows = store._connection.execute("select input from snapshots").fetchall()
    assert rows == [(store.inputs - store._since,)]  # only the newest is kept
    assert store._since < 40
    store._connection.close()  # a crash: no snapshot on close
    with SqliteStore(path) as reopened:
        assert 0 < reopened._since < 40  # only the inputs after the snapshot were replayed
        assert views(reopened.engine) == views(fill(tmp_path / "f.db", LOG[:100]).engine)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("update snapshots set body = substr(body, 1, 100)", "its checksum does not match"),
        (
            "update snapshots set stamp = '0:0:0'",
            "it was made by another leadsla, agreement or settings",
        ),
    ],
)
def test_a_snapshot_that_cannot_be_trusted_is_ignored_with_a_warning(
    tmp_path: pathlib.Path, spoil: str, reason: str
) -> None:
    path = tmp_path / "snap.db"
    fill(path, LOG[:80]).close()
    with sqlite3.connect(path) as connection:
        connection.execute(spoil)
    connection.close()
    with pytest.warns(UserWarning, match=f"the snapshot of input #[0-9]+ is ignored \\({reason}"):
        reopened = SqliteStore(path)
    with reopened:
        assert reopened._since == reopened.inputs  # every input replayed
        assert views(reopened.engine) == views(fill(tmp_path / "f.db", LOG[:80]).engine)


def test_a_snapshot_cannot_run_code(tmp_path: pathlib.Path) -> None:
    """A tampered snapshot whose checksum was made to match still cannot name a function
    outside what a snapshot holds: it is refused, and nothing runs."""
    marker = tmp_path / "ran"
    evil = pickle.dumps(_Evil(str(marker)))
    body, checksum = evil, dump(None)[1]
    from leadsla._shell import snapshot

    with pytest.raises(SnapshotError, match="its checksum"):
        load(body, checksum)
    with pytest.raises(SnapshotError, match=r"it names (posix|os|nt)\.system"):
        load(body, snapshot._checksum(body))
    assert not marker.exists()


def test_a_snapshot_cannot_reach_a_function_through_a_leadsla_module(
    tmp_path: pathlib.Path,
) -> None:
    """A forged snapshot naming ``os.system`` through a leadsla module that imports ``os`` (a
    dotted name, which pickle resolves) is refused with a warning; the store replays."""
    path = tmp_path / "snap.db"
    fill(path, LOG[:5]).close()
    marker = tmp_path / "ran"
    command = f"touch {marker}".encode()
    body = (
        b"\x80\x04\x8c\x16leadsla._shell.service\x8c\x09os.system\x93"
        + b"\x8c"
        + bytes([len(command)])
        + command
        + b"\x85R."
    )
    from leadsla._shell import snapshot

    with sqlite3.connect(path) as connection:
        connection.execute(
            "update snapshots set body = ?, checksum = ?", (body, snapshot._checksum(body))
        )
    connection.close()
    with pytest.warns(UserWarning, match=r"it names leadsla._shell.service.os.system"):
        store = SqliteStore(path)
    store.close()
    assert not marker.exists()


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.path}",))


class _Mine(AssignmentPolicy):
    partition_safe = True

    def assign(self, request: AssignmentRequest) -> str | None:
        return request.candidates[0]


def test_no_snapshots_for_an_agreement_only_python_holds(tmp_path: pathlib.Path) -> None:
    """The file cannot check such an agreement, so it never trusts a snapshot of it."""
    default = Agreement.default()
    mine = attrs.evolve(
        default,
        teams=tuple(attrs.evolve(t, policy=_Mine()) for t in default.teams),
    )
    path = tmp_path / "mine.db"
    with SqliteStore(path, mine) as store:
        store.apply(LOG[0])
        assert store.snapshot() is False
    assert snapshots(path) == []


def test_bad_settings_are_named(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoreError, match=r"'snapshot_every' is not a positive whole number"):
        SqliteStore(tmp_path / "x.db", snapshot_every=0)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_restored_from_a_snapshot_anywhere_the_engine_goes_on_the_same(
    data: st.DataObject,
) -> None:
    """Property: for any log and any point in it, an engine restored from a snapshot taken
    there gives the effects, ids included, and the state of one that never stopped."""
    events = data.draw(event_streams(Agreement.default(), leads=3, max_events=30))
    cut = data.draw(st.integers(0, len(events)))
    whole, first = Engine(), Engine()
    for event in events[:cut]:
        whole.apply(event)
        first.apply(event)
    body, checksum = dump(first.state())
    restored = Engine.restored(load(body, checksum), first.agreement)
    for event in events[cut:]:
        assert [e.id for e in restored.apply(event)] == [e.id for e in whole.apply(event)]
    if events:
        later = events[-1].at + timedelta(days=20)
        assert restored.advance(later) == whole.advance(later)
    assert views(restored) == views(whole)
    assert restored.volumes() == whole.volumes()
