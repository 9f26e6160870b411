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

from leadsla import Duplicate, Engine, Event, LeadCreated, SqliteStore, simulate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to kill a real writer"),
]

KILLS = int(os.environ.get("LEADSLA_KILLS", "300"))


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


def _write(path: pathlib.Path, report: int, seed: int) -> None:
    """The writer (a forked child): send everything, report each call that returned."""
    chooser = random.Random(seed)
    with SqliteStore(path, snapshot_every=25) as store:  # kills land in snapshots too
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


def _kill_once(path: pathlib.Path, seed: int, after: float) -> tuple[int, set[str]]:
    """Run a writer and kill it ``after`` seconds in; the inputs it returned from, and the
    effect ids whose acknowledgement returned."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(read)
        try:
            _write(path, write, seed)
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


def _fresh(count: int) -> tuple[Engine, list[str]]:
    """A new engine fed the first ``count`` inputs, and the ids of the effects it gave."""
    engine = Engine()
    ids: list[str] = []
    for item in SENT[:count]:
        effects = engine.advance(item[1]) if isinstance(item, tuple) else engine.apply(item)  # type: ignore[arg-type]
        ids.extend(effect.id for effect in effects if not isinstance(effect, Duplicate))
    return engine, ids


def _check(path: pathlib.Path, returned: int, acked: set[str]) -> None:
    SqliteStore(path).close()  # it opens (a writer killed before its first commit included)
    with sqlite3.connect(path) as connection:
        kinds = [kind for (kind,) in connection.execute("select kind from inputs order by seq")]
        rows = connection.execute("select id, acked from outbox order by seq").fetchall()
    connection.close()
    kept = len(kinds)
    assert returned <= kept <= returned + 1, "an input that returned was lost"
    assert kinds == ["advance" if isinstance(i, tuple) else "event" for i in SENT[:kept]]
    engine, ids = _fresh(kept)
    assert [effect_id for effect_id, _ in rows] == ids, "an effect was lost or changed its id"
    still = {effect_id for effect_id, when in rows if when is None}
    assert not acked & still, "an acknowledgement that returned was lost"
    with SqliteStore(path) as store:
        assert store.inputs == kept
        assert store.engine.clock == engine.clock
        for lead in engine.leads():
            assert store.engine.lead(lead) == engine.lead(lead)


def test_a_killed_writer_loses_nothing_it_returned(tmp_path: pathlib.Path) -> None:
    # How long a whole run takes here, so that the kills land all over it.
    probe = tmp_path / "probe.db"
    started = time.perf_counter()
    _write(probe, os.open(os.devnull, os.O_WRONLY), 0)
    whole = time.perf_counter() - started
    chooser = random.Random(2026)
    points = []
    for kill in range(KILLS):
        path = tmp_path / f"killed-{kill}.db"
        after = chooser.uniform(0.0, whole * 1.1)
        returned, acked = _kill_once(path, kill, after)
        points.append(returned)
        _check(path, returned, acked)
        path.unlink()
    # The kills landed before, during and after the writing, not all in one place.
    assert min(points) < len(SENT) // 4
    assert max(points) > len(SENT) // 2
    print(json.dumps({"kills": KILLS, "inputs": len(SENT), "returned": sorted(set(points))[:5]}))


def test_the_writer_s_log_is_the_one_checked() -> None:
    """The inputs hold creations, updates and advances (a log worth killing)."""
    assert any(isinstance(item, LeadCreated) for item in SENT)
    assert sum(isinstance(item, tuple) for item in SENT) >= 5
