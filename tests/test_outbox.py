"""The store's outbox: every effect kept with the input that caused it, pending until acked."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    ActivityLogged,
    Duplicate,
    Effect,
    LeadCreated,
    PostgresStore,
    SqliteStore,
    Store,
    StoreError,
    effect_to_dict,
)

OpenStore = Any  # conftest.StoreOpener: open_store(agreement, **settings), .kind, .location

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
MONDAY = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
FIELDS = {"email": "ann@acme.fi", "score": 62}


def created(lead: str, at: datetime, event_id: str | None = None) -> LeadCreated:
    return LeadCreated(id=event_id or f"c-{lead}", lead=lead, at=at, fields=FIELDS)


def said(effects: list[Effect]) -> list[str]:
    return [effect.id for effect in effects if not isinstance(effect, Duplicate)]


def test_every_effect_of_an_input_is_pending_in_order(open_store: OpenStore) -> None:
    """Events' and advances' effects go to the outbox as they were returned; a duplicate
    changes nothing and adds nothing."""
    with open_store() as store:
        first = store.apply(created("L-1", FRIDAY))
        again = store.apply(created("L-1", FRIDAY))
        assert again == [Duplicate("L-1", FRIDAY, "c-L-1")]
        fired = store.advance(FRIDAY + timedelta(days=3, hours=3))
        pending = store.pending()
        assert fired, "the advance fired something (a warning at least)"
        assert [item.id for item in pending] == said(first) + said(fired)
        assert [item.seq for item in pending] == sorted(item.seq for item in pending)
        effect = first[0]
        assert (pending[0].type, pending[0].lead) == ("transitioned", "L-1")
        assert dict(pending[0].data) == json.loads(json.dumps(effect_to_dict(effect)))
        assert [item.id for item in store.pending(limit=2)] == said(first)[:2]


def test_acknowledged_effects_leave_and_stay_gone_after_reopening(open_store: OpenStore) -> None:
    with open_store() as store:
        effects = store.apply(created("L-1", FRIDAY))
        ids = said(effects)
        assert store.ack(ids[:3]) == 3
        assert store.ack(ids[:3]) == 0  # acknowledged again (a retried delivery): harmless
    with open_store() as store:
        # Reopening replays the inputs; their effects are not posted a second time.
        assert [item.id for item in store.pending()] == ids[3:]
        store.apply(created("L-2", FRIDAY + timedelta(minutes=5)))
        assert len(store.pending()) > len(ids[3:])


def test_an_unknown_id_is_refused_and_nothing_is_acknowledged(open_store: OpenStore) -> None:
    with open_store() as store:
        ids = said(store.apply(created("L-1", FRIDAY)))
        with pytest.raises(StoreError, match=r"'ids' is not in the outbox \(got 'nope'\)"):
            store.ack([ids[0], "nope"])
        assert [item.id for item in store.pending()] == ids
        with pytest.raises(StoreError, match=r"'ids' is not an effect id \(got 7\)"):
            store.ack([7])
        with pytest.raises(StoreError, match=r"'limit' is not a positive whole number"):
            store.pending(limit=0)


def test_corrections_are_delivered_too(open_store: OpenStore) -> None:
    """A late event's retractions reach the outbox after what they withdraw, each naming it."""
    with open_store() as store:
        store.apply(created("L-1", FRIDAY))
        store.advance(MONDAY + timedelta(hours=4))  # first touch breached at 12:00
        store.apply(
            ActivityLogged(
                id="a1", lead="L-1", at=MONDAY + timedelta(hours=2), kind="call", by="bob"
            )
        )
        pending = store.pending()
        retracted = [item for item in pending if item.type == "retracted"]
        assert retracted
        earlier = {item.id: item.seq for item in pending if item.type != "retracted"}
        for item in retracted:
            assert earlier[item.data["retracts"]] < item.seq


def test_a_failed_write_posts_nothing(open_store: OpenStore) -> None:
    """The input and its effects commit together: a refused effect write keeps neither."""
    with open_store() as store:
        refuse_effects_of(store, "L-2", "disk says no")
        ids = said(store.apply(created("L-1", FRIDAY)))
        with pytest.raises(StoreError, match=r"could not keep the input \(disk says no\)"):
            store.apply(created("L-2", FRIDAY + timedelta(minutes=1)))
        assert [item.id for item in store.pending()] == ids
        assert store.inputs == 1
        assert list(store.leads()) == ["L-1"]


def refuse_effects_of(store: Store, lead: str, message: str) -> None:
    """Make the database refuse to keep the effects of ``lead`` (a trigger)."""
    if isinstance(store, SqliteStore):
        store._connection.execute(
            f"create trigger refuse before insert on outbox when new.lead = '{lead}' "
            f"begin select raise(abort, '{message}'); end"
        )
        return
    assert isinstance(store, PostgresStore)
    store._connection.execute(
        "create function refuse() returns trigger language plpgsql as $$ begin "
        f"if new.lead = '{lead}' then raise exception '{message}'; end if; return new; end $$; "
        "create trigger refuse before insert on outbox for each row execute function refuse()"
    )


def test_a_store_of_the_first_layout_gets_an_outbox(tmp_path: pathlib.Path) -> None:
    """A file written before the outbox opens, says its layout is 2, and posts the effects of
    new inputs (the effects of its old inputs were handed over when they were decided)."""
    path = tmp_path / "old.db"
    with SqliteStore(path) as store:
        store.apply(created("L-1", FRIDAY))
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "drop table outbox; update meta set value = '1' where key = 'schema';"
        )
    connection.close()
    with SqliteStore(path) as store:
        assert store.pending() == []
        ids = said(store.apply(created("L-2", FRIDAY + timedelta(minutes=1))))
        assert [item.id for item in store.pending()] == ids
    with sqlite3.connect(path) as connection:
        [(schema,)] = connection.execute("select value from meta where key = 'schema'")
    connection.close()
    assert schema == "2"


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from leadsla import LeadCreated, PostgresStore, SqliteStore

    kind = SqliteStore if sys.argv[1] == "sqlite" else PostgresStore
    store = kind(sys.argv[2])
    at = datetime(2026, 3, 6, 16, tzinfo=ZoneInfo("Europe/Helsinki"))
    effects = store.apply(LeadCreated(id="c-L-1", lead="L-1", at=at,
                                      fields={"email": "ann@acme.fi", "score": 62}))
    print(",".join(effect.id for effect in effects), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # decided and kept, never delivered
    """
)


def test_effects_decided_before_a_kill_are_still_pending(open_store: OpenStore) -> None:
    """kill -9 after ``apply`` returned and before the host acted: the reopened store still
    has every effect pending, so none is lost."""
    run = subprocess.run(
        [sys.executable, "-c", KILLED, open_store.kind, open_store.location],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -9, run.stderr
    decided = run.stdout.strip().split(",")
    with open_store() as store:
        assert [item.id for item in store.pending()] == decided
        assert store.lead("L-1").state == "mql"


def test_a_read_only_database_is_named_and_loses_nothing(postgres_db: str) -> None:
    """PostgreSQL refusing writes (a read-only transaction, as on a standby): the input is
    refused with the server's reason, nothing kept is lost, the next open has it all."""
    store = PostgresStore(postgres_db, partitions=4)
    ids = said(store.apply(created("L-1", FRIDAY)))
    store.ack(ids[:2])
    store._connection.execute("set default_transaction_read_only = on")
    with pytest.raises(StoreError, match=r"could not keep the input \(cannot execute .* read-only"):
        store.apply(created("L-2", FRIDAY + timedelta(minutes=1)))
    with pytest.raises(StoreError, match=r"could not keep the change to the outbox \(cannot"):
        store.ack(ids)
    with pytest.warns(UserWarning, match=r"could not keep the snapshot \(cannot execute"):
        store.close()
    with PostgresStore(postgres_db) as reopened:
        assert list(reopened.leads()) == ["L-1"]
        assert [item.id for item in reopened.pending()] == ids[2:]
        assert said(reopened.apply(created("L-2", FRIDAY + timedelta(minutes=1))))


def test_a_full_disk_is_named_and_loses_nothing_kept(tmp_path: pathlib.Path) -> None:
    """SQLite's own "disk is full" (a page limit reached): the input is refused with the
    reason, and everything kept and acknowledged before is still there after reopening."""
    path = tmp_path / "store.db"
    store = SqliteStore(path, snapshot_every=None)
    kept = []
    acked = said(store.apply(created("L-0", FRIDAY)))
    store.ack(acked)
    [(pages,)] = store._connection.execute("pragma page_count").fetchall()
    store._connection.execute(f"pragma max_page_count = {pages + 1}")

    def fill() -> None:
        for n in range(1, 200):
            store.apply(created(f"L-{n}", FRIDAY + timedelta(minutes=n)))
            kept.append(f"L-{n}")

    with pytest.raises(StoreError, match=r"could not keep the input \(database or disk is full\)"):
        fill()
    store.close()
    with SqliteStore(path) as reopened:
        assert list(reopened.engine.leads()) == ["L-0", *kept]
        assert not {item.id for item in reopened.pending()} & set(acked)


def test_a_file_that_became_read_only_is_named_and_loses_nothing(tmp_path: pathlib.Path) -> None:
    """Writes refused by SQLite (a read-only database): the input is refused with the reason;
    the snapshot on closing is said to be skipped, not raised; the next open replays."""
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    ids = said(store.apply(created("L-1", FRIDAY)))
    store._connection.execute("pragma query_only = 1")
    with pytest.raises(StoreError, match=r"could not keep the input \(attempt to write a readonly"):
        store.apply(created("L-2", FRIDAY + timedelta(minutes=1)))
    with pytest.raises(StoreError, match=r"could not keep the change to the outbox \(attempt"):
        store.ack(ids)
    with pytest.warns(UserWarning, match=r"could not keep the snapshot \(attempt to write a read"):
        store.close()
    with SqliteStore(path) as reopened:
        assert list(reopened.engine.leads()) == ["L-1"]
        assert [item.id for item in reopened.pending()] == ids


def test_an_interrupt_in_the_middle_of_a_batch_keeps_engine_and_file_together(
    open_store: OpenStore,
) -> None:
    """Ctrl-C while a batch is being applied (here: raised by a policy on its second lead):
    the file keeps none of the batch, and the engine is rebuilt to match it."""
    import attrs

    from leadsla import Agreement, AssignmentPolicy, AssignmentRequest

    class Interrupting(AssignmentPolicy):
        partition_safe = True

        def assign(self, request: AssignmentRequest) -> str | None:
            if request.lead_id == "L-2":
                raise KeyboardInterrupt
            return request.candidates[0]

    default = Agreement.default()
    agreement = attrs.evolve(
        default, teams=tuple(attrs.evolve(t, policy=Interrupting()) for t in default.teams)
    )
    with open_store(agreement) as store:
        batch = [created("L-1", FRIDAY), created("L-2", FRIDAY + timedelta(minutes=1))]
        with pytest.raises(KeyboardInterrupt):
            store.apply_many(batch)
        assert store.inputs == 0
        assert list(store.leads()) == []
        assert store.pending() == []
        store.apply(batch[0])
        assert list(store.leads()) == ["L-1"]


def test_effects_acknowledged_long_ago_can_be_forgotten(
    open_store: OpenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pruning deletes what was acknowledged before a time, and nothing else; the store
    replays as before (the outbox is not an input)."""
    from datetime import UTC

    from leadsla._shell.cli import main

    wall = iter(
        [datetime(2026, 3, 9, tzinfo=UTC) + timedelta(days=n) for n in range(100)]
    )  # each call to the store's clock is a day later
    with open_store(now=lambda: next(wall)) as store:
        first = said(store.apply(created("L-1", FRIDAY)))  # arrived day 0
        store.ack(first[:4])  # day 1
        second = said(store.apply(created("L-2", FRIDAY + timedelta(minutes=1))))  # day 2
        store.ack(second[:2])  # day 3
        assert store.prune(datetime(2026, 3, 11, tzinfo=UTC)) == 4  # acked before day 2
        left = [item.id for item in store.pending()]
        assert left == first[4:] + second[2:]
        with pytest.raises(ValueError, match=r"'acked_before' must be timezone-aware"):
            store.prune(datetime(2026, 3, 11))
    with open_store() as store:
        assert sorted(store.leads()) == ["L-1", "L-2"]
    assert main(["outbox", open_store.location, "--prune", "0"]) == 0
    assert "forgot 2 effects acknowledged more than 0 days ago" in capsys.readouterr().out
