"""What only a PostgreSQL store does: several writers and dispatchers on one store.

The tests run against a throwaway server the fixture starts (tests/conftest.py); without
PostgreSQL or psycopg they are skipped, with the reason.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    AssignmentPolicy,
    AssignmentRequest,
    Dispatcher,
    Effect,
    Engine,
    Event,
    LeadCreated,
    LeadUpdated,
    OutboxItem,
    PostgresStore,
    StoreError,
    StrictRoundRobin,
    effect_to_dict,
    simulate,
)
from leadsla._shell.postgres import partition_of
from leadsla.testing import event_streams

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
FIELDS = {"email": "ann@acme.fi", "score": 62}
PARTS = 4


def created(lead: str, at: datetime = FRIDAY) -> LeadCreated:
    return LeadCreated(id=f"c-{lead}", lead=lead, at=at, fields=FIELDS)


def leads_in(part: int, count: int, parts: int = PARTS) -> list[str]:
    """``count`` lead ids of partition ``part``."""
    found = (f"L-{n}" for n in range(10_000))
    return [lead for lead in found if partition_of(lead, parts) == part][:count]


class Gate(AssignmentPolicy):
    """Round robin by hash, except that assigning a lead named ``L-slow...`` waits for the
    test to open the gate: the writer is then inside its transaction, partition locked."""

    partition_safe = True

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.open = threading.Event()

    def assign(self, request: AssignmentRequest) -> str | None:
        if request.lead_id.startswith("L-slow"):
            self.inside.set()
            assert self.open.wait(30), "the test never opened the gate"
        return request.candidates[0]


def gated() -> tuple[Agreement, Gate]:
    gate = Gate()
    default = Agreement.default()
    teams = tuple(attrs.evolve(team, policy=gate) for team in default.teams)
    return attrs.evolve(default, teams=teams), gate


def test_writers_of_other_partitions_go_on_and_the_same_lead_waits(postgres_db: str) -> None:
    """One writer is inside its transaction for lead L-slow (its partition locked): another
    writer keeps leads of other partitions at once, while one writing to L-slow waits until
    the first commits, and then sees its event."""
    agreement, gate = gated()
    slow = next(
        lead for lead in (f"L-slow{n}" for n in range(100)) if partition_of(lead, PARTS) == 0
    )
    other = leads_in(1, 1)[0]
    first = PostgresStore(postgres_db, agreement, partitions=PARTS)
    second = PostgresStore(postgres_db, agreement)
    third = PostgresStore(postgres_db, agreement)
    done: dict[str, float] = {}

    def write(store: PostgresStore, event: LeadCreated | LeadUpdated, name: str) -> None:
        store.apply(event)
        done[name] = time.monotonic()

    holding = threading.Thread(target=write, args=(first, created(slow), "first"))
    holding.start()
    assert gate.inside.wait(10)
    second.apply(created(other))  # another partition: not held up
    assert other in set(second.leads())
    same = LeadUpdated(id="u1", lead=slow, at=FRIDAY + timedelta(minutes=5), fields={"score": 90})
    waiting = threading.Thread(target=write, args=(third, same, "third"))
    waiting.start()
    time.sleep(0.5)
    assert "third" not in done, "a writer of the same lead did not wait"
    gate.open.set()
    holding.join(10)
    waiting.join(10)
    assert done["first"] <= done["third"]
    assert second.lead(slow).fields["score"] == 90  # every store sees what the others kept
    assert third.lead(slow) == first.lead(slow) == second.lead(slow)
    for store in (first, second, third):
        store.close()


def test_concurrent_writers_end_where_one_process_would(postgres_db: str) -> None:
    """Three writer threads, each with its own store and connection, keep the events of
    their own leads at the same time; every lead ends as one engine fed its events would
    leave it, and a store opened afterwards agrees."""
    events = simulate(leads=24, seed=11)
    mine: dict[int, list[LeadCreated | LeadUpdated]] = defaultdict(list)
    for event in events:
        mine[int(event.lead.rsplit("-", 1)[1]) % 3].append(event)  # type: ignore[arg-type]
    PostgresStore(postgres_db, partitions=PARTS, allowed_lateness=timedelta(days=3650)).close()
    errors: list[BaseException] = []

    def writer(batch: list[LeadCreated | LeadUpdated]) -> None:
        try:
            with PostgresStore(postgres_db, snapshot_every=40) as store:
                for start in range(0, len(batch), 7):
                    store.apply_many(batch[start : start + 7])
        except BaseException as error:  # reported by the test, not lost in a thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(mine[n],)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    alone = Engine(allowed_lateness=timedelta(days=3650))
    for event in events:
        alone.apply(event)
    with PostgresStore(postgres_db) as store:
        assert sorted(store.leads()) == sorted(alone.leads())
        assert not store.refused()
        for lead in alone.leads():
            assert store.lead(lead).state == alone.lead(lead).state
            assert store.lead(lead).obligations == alone.lead(lead).obligations


def test_two_dispatchers_share_the_outbox_without_delivering_twice(postgres_db: str) -> None:
    """Two dispatchers, on two connections, deliver one outbox at the same time: every
    effect is handed over once, and each lead's effects in the order they were decided."""
    with PostgresStore(postgres_db, partitions=PARTS) as store:
        store.apply_many(created(f"L-{n}", FRIDAY + timedelta(minutes=n)) for n in range(30))
        store.advance(FRIDAY + timedelta(days=4))
        decided = [(item.id, item.lead, item.seq) for item in store.pending()]
    delivered: list[tuple[str, str, int, int]] = []
    lock = threading.Lock()

    def run(number: int) -> None:
        def handle(item: OutboxItem) -> None:
            time.sleep(0.002)
            with lock:
                delivered.append((item.id, item.lead, item.seq, number))

        with PostgresStore(postgres_db) as mine:
            dispatcher = Dispatcher(mine, default=handle)
            while dispatcher.deliver(limit=15).handled:
                pass

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = [effect_id for effect_id, *_ in delivered]
    assert sorted(ids) == sorted(effect_id for effect_id, _, _ in decided)
    assert len(ids) == len(set(ids)), "an effect was delivered twice"
    assert {number for *_, number in delivered} == {0, 1}, "one dispatcher did all the work"
    by_lead: dict[str, list[int]] = defaultdict(list)
    for _, lead, seq, _ in delivered:
        by_lead[lead].append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_lead.values())
    with PostgresStore(postgres_db) as store:
        assert store.outbox_counts() == (0, 0)


def test_a_lease_that_ran_out_lets_another_dispatcher_take_over(postgres_db: str) -> None:
    """A dispatcher that claimed effects and died holds them for its lease only (by the
    server's clock); once another holds them, the first one's release gives nothing away."""
    first = PostgresStore(postgres_db, partitions=PARTS)
    second = PostgresStore(postgres_db)
    third = PostgresStore(postgres_db)
    try:
        first.apply(created("L-1"))
        claimed = [item.id for item in first.claim(lease=timedelta(milliseconds=400))]
        assert claimed
        assert second.claim() == [], "claimed effects went to a second dispatcher"
        time.sleep(0.6)
        assert [item.id for item in second.claim()] == claimed
        first.release(claimed)  # too late: they are the second one's now
        assert third.claim() == []
        second.release(claimed)
        assert [item.id for item in third.claim()] == claimed
    finally:
        for store in (first, second, third):
            store.close()


def test_a_handler_that_overran_is_not_called_by_another_dispatcher_meanwhile(
    postgres_db: str,
) -> None:
    """The first dispatcher's call overran its timeout and still runs: its claim is kept
    (and renewed), so a second dispatcher does not call the handler for it at the same time;
    once the call ends with success, the effect is acknowledged and nobody calls it again."""
    running: list[str] = []
    overlaps: list[str] = []
    calls: list[str] = []
    lock = threading.Lock()

    def slow(item: OutboxItem) -> None:
        with lock:
            if item.id in running:
                overlaps.append(item.id)
            running.append(item.id)
            calls.append(item.id)
        time.sleep(1.0 if len(calls) == 1 else 0)
        with lock:
            running.remove(item.id)

    with PostgresStore(postgres_db, partitions=PARTS) as store:
        store.apply(created("L-1"))
        first_id = store.pending()[0].id
    one, two = PostgresStore(postgres_db), PostgresStore(postgres_db)
    try:
        quick = timedelta(milliseconds=200)
        tiny = timedelta(milliseconds=1)
        first = Dispatcher(
            one, default=slow, timeout=quick, backoff=tiny, lease=timedelta(seconds=5)
        )
        second = Dispatcher(two, default=slow, backoff=tiny)
        assert first.deliver(limit=1).failed == 1  # overran: still running
        time.sleep(0.05)
        second.deliver()  # the other effects of L-1 wait behind it; it is not called
        assert calls.count(first_id) == 1
        time.sleep(1.2)  # the call ends, with success
        first.deliver()
        second.deliver()
        first.deliver()
        assert overlaps == []
        assert calls.count(first_id) == 1, "called again though its late answer was success"
        assert one.outbox_counts() == (0, 0)
    finally:
        one.close()
        two.close()


def test_stores_opened_at_once_on_a_new_schema_agree_on_its_agreement(postgres_db: str) -> None:
    """Two processes making the same new store at once: one makes it, the other finds it
    made and is refused if it brings another agreement (never both running, each under its
    own rules)."""
    stricter = attrs.evolve(Agreement.default(), name="stricter")
    for attempt in range(5):
        start = threading.Barrier(2)
        outcome: dict[str, str] = {}
        threads = [
            threading.Thread(
                target=_open_with, args=(postgres_db, f"race_{attempt}", a, start, outcome)
            )
            for a in (Agreement.default(), stricter)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert list(outcome.values()).count("opened") == 1, outcome


def test_opening_waits_while_another_process_opens(postgres_db: str) -> None:
    """Opening (making the tables, checking and keeping the agreement and settings) is done
    under one advisory lock, one process at a time: held elsewhere, an opening waits."""
    import psycopg

    from leadsla._shell.postgres import _SETUP

    opened: list[float] = []
    with psycopg.connect(postgres_db, autocommit=True) as other:
        other.execute("select pg_advisory_lock(%s)", (_SETUP,))

        def open_store() -> None:
            PostgresStore(postgres_db).close()
            opened.append(time.monotonic())

        thread = threading.Thread(target=open_store)
        thread.start()
        time.sleep(0.4)
        assert opened == [], "opened while another process held the lock"
        released = time.monotonic()
        other.execute("select pg_advisory_unlock(%s)", (_SETUP,))
        thread.join(10)
    assert opened
    assert opened[0] >= released


def _open_with(
    conninfo: str,
    schema: str,
    agreement: Agreement,
    start: threading.Barrier,
    outcome: dict[str, str],
) -> None:
    start.wait()
    try:
        PostgresStore(conninfo, agreement, schema=schema).close()
        outcome[agreement.name] = "opened"
    except StoreError as error:
        outcome[agreement.name] = str(error)


def test_a_database_that_defaults_to_repeatable_read_still_lets_writers_wait(
    postgres_db: str,
) -> None:
    """The store runs its transactions in READ COMMITTED whatever the database's default: a
    writer that waited for another's lock goes on with what it committed."""
    import psycopg

    with psycopg.connect(postgres_db, autocommit=True) as admin:
        name = admin.execute("select current_database()").fetchone()
        assert name is not None
        admin.execute(
            f"alter database {name[0]} set default_transaction_isolation = 'repeatable read'"
        )
    agreement, gate = gated()
    slow = next(f"L-slow{n}" for n in range(100) if partition_of(f"L-slow{n}", PARTS) == 0)
    first = PostgresStore(postgres_db, agreement, partitions=PARTS)
    second = PostgresStore(postgres_db, agreement)
    try:
        holding = threading.Thread(target=first.apply, args=(created(slow),))
        holding.start()
        assert gate.inside.wait(10)
        same = [
            LeadUpdated(id="u1", lead=slow, at=FRIDAY + timedelta(minutes=5), fields={"score": 90})
        ]
        failures: list[BaseException] = []

        def write() -> None:
            try:
                second.apply_many(same)
            except BaseException as error:
                failures.append(error)

        waiting = threading.Thread(target=write)
        waiting.start()
        time.sleep(0.3)
        gate.open.set()
        holding.join(10)
        waiting.join(10)
        assert failures == []
        assert second.lead(slow).fields["score"] == 90
    finally:
        first.close()
        second.close()


def test_the_partitions_are_fixed_and_checked(postgres_db: str) -> None:
    PostgresStore(postgres_db, partitions=3).close()
    with pytest.raises(StoreError, match=r"'partitions' is not the number of partitions .*\(3\)"):
        PostgresStore(postgres_db, partitions=5)
    with PostgresStore(postgres_db) as store:
        assert store.partitions == 3
        with pytest.raises(StoreError, match=r"'engine' is one engine per partition"):
            store.engine  # noqa: B018
    with pytest.raises(StoreError, match=r"'partitions' is not a positive whole number"):
        PostgresStore(postgres_db, partitions=0)


def test_an_order_dependent_policy_is_refused_with_more_than_one_partition(
    postgres_db: str,
) -> None:
    default = Agreement.default()
    teams = tuple(attrs.evolve(t, policy=StrictRoundRobin()) for t in default.teams)
    agreement = attrs.evolve(default, teams=teams)
    with pytest.raises(StoreError, match=r"team 'marketing' deals leads in the order they arrive"):
        PostgresStore(postgres_db, agreement, partitions=2)
    with PostgresStore(postgres_db, agreement, partitions=1) as store:  # one partition: fine
        store.apply(created("L-1"))
        assert store.engine.lead("L-1").state == "mql"


def test_bad_connections_and_schemas_are_named(postgres_db: str) -> None:
    with pytest.raises(StoreError, match=r"'schema' is not a plain schema name \(got 'x; drop"):
        PostgresStore(postgres_db, schema="x; drop table meta")
    missing = postgres_db.replace("dbname=", "password=s3cret dbname=nosuch_")
    with pytest.raises(StoreError, match=r"'conninfo' cannot be connected to \(.*nosuch_") as info:
        PostgresStore(missing)
    assert "s3cret" not in str(info.value)


def test_two_stores_in_one_database_keep_apart(postgres_db: str) -> None:
    with PostgresStore(postgres_db, schema="crm_a") as first:
        first.apply(created("L-1"))
    with PostgresStore(postgres_db, schema="order") as second:  # a keyword: quoted
        assert list(second.leads()) == []
    with PostgresStore(postgres_db, schema="crm_a") as first:
        assert list(first.leads()) == ["L-1"]


def test_the_partition_of_a_lead_is_stable() -> None:
    """The same partition in every process and release (CRC-32 of the UTF-8 id): a store
    made by one release is read by the next. Pinned values: changing the hash breaks stores."""
    assert [partition_of(lead, 16) for lead in ("L-1", "L-2", "lead-ÄÖ")] == [3, 9, 1]


_examples = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=event_streams(leads=3, max_events=25),
    cut=st.integers(0, 25),
    advance_minutes=st.integers(0, 5000),
)
def test_a_reopened_partitioned_store_is_the_engines_it_was(
    postgres_db: str, events: list[Event], cut: int, advance_minutes: int
) -> None:
    """Apply some events, stop without closing, reopen (from the snapshots made every three
    inputs, and the inputs after them), apply the rest and advance: the
    effects and the leads are those of one engine per partition, each fed its leads' events
    and every advance. (A schema of its own per example.)"""
    engines = [Engine() for _ in range(PARTS)]
    expected: list[Effect] = []
    for event in events:
        expected += engines[partition_of(event.lead, PARTS)].apply(event)
    later = events[-1].at + timedelta(minutes=advance_minutes)
    for engine in engines:
        expected += engine.advance(later)
    schema = f"example_{next(_examples)}"
    effects: list[Effect] = []
    crashed = PostgresStore(postgres_db, schema=schema, partitions=PARTS, snapshot_every=3)
    effects += crashed.apply_many(events[:cut])
    crashed._connection.close()  # as if killed: no snapshot on closing
    with PostgresStore(postgres_db, schema=schema) as store:
        for event in events[cut:]:
            effects += store.apply(event)
        effects += store.advance(later)
    with PostgresStore(postgres_db, schema=schema) as store:
        for kept, engine in zip(store.engines(), engines, strict=True):
            assert kept.clock == engine.clock
            assert {lead: kept.lead(lead) for lead in kept.leads()} == {
                lead: engine.lead(lead) for lead in engine.leads()
            }
    assert [effect_to_dict(e) for e in effects] == [effect_to_dict(e) for e in expected]


def test_a_user_without_the_right_to_create_uses_a_store_made_for_it(postgres_db: str) -> None:
    """The tables made once by their owner; a worker role with only the rights to read and
    write them opens the store, writes and delivers. Without them, the message says what
    is needed."""
    import psycopg

    PostgresStore(postgres_db, schema="crm", partitions=2).close()
    with psycopg.connect(postgres_db, autocommit=True) as admin:
        admin.execute("create role worker login")
        admin.execute("revoke create on schema public from public")
        with pytest.raises(StoreError, match=r"cannot hold a leadsla store \(permission denied"):
            PostgresStore(postgres_db.replace("user=leadsla", "user=worker"), schema="other")
        admin.execute("grant usage on schema crm to worker")
        admin.execute("grant select, insert, update, delete on all tables in schema crm to worker")
        admin.execute("grant usage on all sequences in schema crm to worker")
    as_worker = postgres_db.replace("user=leadsla", "user=worker")
    with PostgresStore(as_worker, schema="crm") as store:
        store.apply(created("L-1"))
        store.advance(FRIDAY + timedelta(days=4))
        Dispatcher(store).deliver()
        assert store.outbox_counts() == (0, 0)
    with psycopg.connect(postgres_db, autocommit=True) as admin:
        admin.execute("drop owned by worker")
        admin.execute("drop role worker")
