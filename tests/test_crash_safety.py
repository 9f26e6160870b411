"""kill -9 at random points: a store never loses what it returned, nor changes an effect's id.

A writer process applies events (with an advance every so often, and acknowledgements of part
of the outbox) and reports each call that returned; the test kills it with SIGKILL at a random
moment, opens the store and checks: it opens; its inputs are a prefix of what was sent that
holds every input whose call returned; its outbox holds exactly the effects a fresh engine
gives for those inputs, ids included, in order; every acknowledgement that returned holds; and
its engine (rebuilt from its newest snapshot and the inputs after it) is the fresh engine's.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import sqlite3
import time
from datetime import timedelta

import pytest

from leadsla import (
    Duplicate,
    Effect,
    Engine,
    Event,
    LeadCreated,
    PostgresStore,
    SqliteStore,
    Store,
    simulate,
)
from leadsla._shell.postgres import partition_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to kill a real writer"),
]

KILLS = int(os.environ.get("LEADSLA_KILLS", "300"))
#: The partitions of the PostgreSQL stores killed (several: the writer locks and catches up).
PARTS = 4


class Stores:
    """Where the killed writers write: a SQLite file per kill, or a PostgreSQL schema per
    kill in one database. ``rows`` reads what a store keeps straight from its tables, in
    the order it was written: the kinds of its inputs (an advance once) and its outbox."""

    def __init__(self, kind: str, folder: pathlib.Path, database: str | None) -> None:
        self.kind, self.folder, self.database = kind, folder, database

    def open(self, n: int, **settings: object) -> Store:
        if self.database is None:
            return SqliteStore(self.folder / f"killed-{n}.db", **settings)  # type: ignore[arg-type]
        return PostgresStore(self.database, schema=f"killed_{n}", partitions=PARTS, **settings)  # type: ignore[arg-type]

    def rows(self, n: int) -> tuple[list[str], list[tuple[str, str | None]]]:
        if self.database is None:
            with sqlite3.connect(self.folder / f"killed-{n}.db") as connection:
                kinds = [k for (k,) in connection.execute("select kind from inputs order by seq")]
                rows = connection.execute("select id, acked from outbox order by seq").fetchall()
            connection.close()
            return kinds, rows
        import psycopg

        with psycopg.connect(self.database) as server:
            server.execute(f"set search_path to killed_{n}")
            kinds = [
                k
                for (k,) in server.execute(
                    "select kind from inputs where kind = 'event' or part = 0 order by seq"
                )
            ]
            rows = server.execute("select id, acked from outbox order by seq").fetchall()
        return kinds, rows

    def drop(self, n: int) -> None:
        if self.database is None:
            (self.folder / f"killed-{n}.db").unlink()
            return
        import psycopg

        with psycopg.connect(self.database, autocommit=True) as connection:
            connection.execute(f"drop schema killed_{n} cascade")


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Stores:
    if request.param == "sqlite":
        return Stores("sqlite", tmp_path, None)
    return Stores("postgres", tmp_path, request.getfixturevalue("postgres_db"))


def _inputs() -> list[Event | object]:
    """What the writer sends: a simulated log, with an advance after every 15 events."""
    events = simulate(leads=40, seed=5)
    sent: list[Event | object] = []
    for index, event in enumerate(events):
        sent.append(event)
        if index % 15 == 14:
            sent.append(("advance", event.at + timedelta(minutes=30)))
    return sent


SENT = _inputs()


def _write(stores: Stores, n: int, report: int, seed: int) -> None:
    """The writer (a forked child): send everything, report each call that returned."""
    chooser = random.Random(seed)
    with stores.open(n, snapshot_every=25) as store:  # kills land in snapshots too
        for index, item in enumerate(SENT):
            if isinstance(item, tuple):
                store.advance(item[1])
            else:
                assert isinstance(item, Event)
                store.apply(item)
            os.write(report, f"input {index}\n".encode())
            if chooser.random() < 0.2:
                pending = store.pending()
                chosen = [p.id for p in pending if chooser.random() < 0.5]
                if chosen:
                    store.ack(chosen)
                    os.write(report, ("ack " + " ".join(chosen) + "\n").encode())


def _kill_once(stores: Stores, n: int, seed: int, after: float) -> tuple[int, set[str]]:
    """Run a writer and kill it ``after`` seconds in; the inputs it returned from, and the
    effect ids whose acknowledgement returned."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(read)
        try:
            _write(stores, n, write, seed)
        finally:
            os._exit(0)
    os.close(write)
    time.sleep(after)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    returned, acked = 0, set()
    for line in b"".join(chunks).decode().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "input":
            returned = int(rest) + 1
        else:
            acked.update(rest.split())
    return returned, acked


def _fresh(count: int, parts: int) -> tuple[list[Engine], list[str]]:
    """New engines (one per partition) fed the first ``count`` inputs, as a store of so
    many partitions feeds them, and the ids of the effects they gave, in order."""
    engines = [Engine() for _ in range(parts)]
    ids: list[str] = []
    for item in SENT[:count]:
        effects: list[Effect] = []
        if isinstance(item, tuple):
            for engine in engines:
                effects += engine.advance(item[1])
        else:
            assert isinstance(item, Event)
            effects = engines[partition_of(item.lead, parts)].apply(item)
        ids.extend(effect.id for effect in effects if not isinstance(effect, Duplicate))
    return engines, ids


def _check(stores: Stores, n: int, returned: int, acked: set[str]) -> None:
    stores.open(n).close()  # it opens (a writer killed before its first commit included)
    kinds, rows = stores.rows(n)
    kept = len(kinds)
    assert returned <= kept <= returned + 1, "an input that returned was lost"
    assert kinds == ["advance" if isinstance(i, tuple) else "event" for i in SENT[:kept]]
    engines, ids = _fresh(kept, 1 if stores.database is None else PARTS)
    assert [effect_id for effect_id, _ in rows] == ids, "an effect was lost or changed its id"
    still = {effect_id for effect_id, when in rows if when is None}
    assert not acked & still, "an acknowledgement that returned was lost"
    with stores.open(n) as store:
        assert store.inputs == kept
        assert isinstance(store, SqliteStore | PostgresStore)
        held = [store.engine] if isinstance(store, SqliteStore) else store.engines()
        for engine, kept_engine in zip(engines, held, strict=True):
            assert kept_engine.clock == engine.clock
            for lead in engine.leads():
                assert kept_engine.lead(lead) == engine.lead(lead)
        assert sorted(store.leads()) == sorted(lead for e in engines for lead in e.leads())


def test_a_killed_writer_loses_nothing_it_returned(stores: Stores) -> None:
    # How long a whole run takes here, so that the kills land all over it.
    started = time.perf_counter()
    _write(stores, 999_999, os.open(os.devnull, os.O_WRONLY), 0)
    whole = time.perf_counter() - started
    stores.drop(999_999)  # (the probe)
    chooser = random.Random(2026)
    points = []
    for kill in range(KILLS):
        after = chooser.uniform(0.0, whole * 1.1)
        returned, acked = _kill_once(stores, kill, kill, after)
        points.append(returned)
        _check(stores, kill, returned, acked)
        stores.drop(kill)
    # The kills landed before, during and after the writing, not all in one place.
    assert min(points) < len(SENT) // 4
    assert max(points) > len(SENT) // 2
    print(
        json.dumps(
            {
                "store": stores.kind,
                "kills": KILLS,
                "inputs": len(SENT),
                "returned": sorted(set(points))[:5],
            }
        )
    )


def test_the_writer_s_log_is_the_one_checked() -> None:
    """The inputs hold creations, updates and advances (a log worth killing)."""
    assert any(isinstance(item, LeadCreated) for item in SENT)
    assert sum(isinstance(item, tuple) for item in SENT) >= 5
