"""The PostgreSQL store: writers at once against one, and reopening from snapshots.

Starts a throwaway server (:func:`leadsla.testing.postgres_server`; skipped, saying why,
without PostgreSQL). The synthetic log's leads are dealt to one or two writer processes, each
keeping its leads' events with its own store (batches of 100); the time is until the last one
is done. The leads are dealt by partition, as a feed keyed by lead id would deal them (Kafka
partitions, a load balancer hashing the lead): writers that share partitions wait for each
other's locks, and each applies the other's inputs too. The baselines, in the same run: a
SQLite store written by one process, and the PostgreSQL store written by one. Two writers
share the work only as far as the machine has cores and the server keeps up: the ratio says
how much of the second writer the store lets through. Then the store is reopened by a full
replay and from its per-partition snapshots.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from typing import Any

from _synthetic import synthetic_log
from _timing import format_seconds, table

from leadsla import Event, PostgresStore, SqliteStore
from leadsla._shell.postgres import partition_of
from leadsla.testing import PostgresUnavailable, postgres_server

_BATCH = 100
_PARTS = 16


def _write(conninfo: str, events: list[Event]) -> None:
    with PostgresStore(conninfo, snapshot_every=None) as store:
        for start in range(0, len(events), _BATCH):
            store.apply_many(events[start : start + _BATCH])


def _writers(conninfo: str, log: list[Event], count: int) -> float:
    """Seconds for ``count`` writer processes to keep ``log``, its leads dealt among them."""
    shares: list[list[Event]] = [[] for _ in range(count)]
    for event in log:  # by partition, as a feed keyed by lead would deal them
        shares[partition_of(event.lead, _PARTS) % count].append(event)
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    workers = [context.Process(target=_write, args=(conninfo, share)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"a writer failed (exit code {worker.exitcode})")
    return time.perf_counter() - started


def _database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")
        admin.execute(f"create database {name}")
    return server.replace("dbname=postgres", f"dbname={name}")


def _sqlite(log: list[Event]) -> float:
    path = os.path.join(tempfile.mkdtemp(), "leads.db")
    started = time.perf_counter()
    with SqliteStore(path, snapshot_every=None) as store:
        for start in range(0, len(log), _BATCH):
            store.apply_many(log[start : start + _BATCH])
    elapsed = time.perf_counter() - started
    os.remove(path)
    return elapsed


def _reopen(conninfo: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with PostgresStore(conninfo, snapshot_every=None) as store:
            len(store)  # every partition loaded
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool = False) -> dict[str, Any]:
    try:
        with postgres_server() as server:
            return _run(server, quick)
    except PostgresUnavailable as why:
        print(f"PostgreSQL store: skipped ({why})")
        return {}


def _run(server: str, quick: bool) -> dict[str, Any]:
    log = synthetic_log(600 if quick else 6_000)
    runs = 1 if quick else 3
    sqlite = statistics.median(_sqlite(log) for _ in range(runs))
    timings: dict[int, float] = {}
    for count in (1, 2):
        samples = []
        for run_number in range(runs):
            conninfo = _database(server, f"bench_{count}_{run_number}")
            PostgresStore(conninfo, partitions=_PARTS).close()
            samples.append(_writers(conninfo, log, count))
        timings[count] = statistics.median(samples)
    conninfo = _database(server, "bench_reopen")
    PostgresStore(conninfo, partitions=_PARTS).close()
    _writers(conninfo, log, 1)
    full = _reopen(conninfo, runs)
    with PostgresStore(conninfo) as store:
        store.engines()  # loaded: closing writes each partition's snapshot
    snapshot = _reopen(conninfo, runs)
    events = len(log)
    print(f"PostgreSQL store, {events:,} events in batches of {_BATCH} (median of {runs})")
    print(
        table(
            [
                ["SQLite, one process", format_seconds(sqlite), f"{events / sqlite:,.0f}", "1.00×"],
                *[
                    [
                        f"PostgreSQL, {count} writer{'s' if count > 1 else ''}",
                        format_seconds(timings[count]),
                        f"{events / timings[count]:,.0f}",
                        f"{sqlite / timings[count]:,.2f}×",
                    ]
                    for count in (1, 2)
                ],
            ],
            ["store", "time", "events/s", "vs SQLite"],
        )
    )
    print(
        f"two writers against one: {timings[1] / timings[2]:,.2f}× the throughput "
        f"({os.cpu_count()} cores here, the server included)"
    )
    print(
        f"reopening: full replay {format_seconds(full)}, from snapshots "
        f"{format_seconds(snapshot)} ({full / snapshot:,.1f}× faster)"
    )
    return {"sqlite": sqlite, "writers": timings, "full": full, "snapshot": snapshot}
