"""The store: reopening from a snapshot against a full replay, and what the outbox costs.

For logs of about 10 000, 100 000 (and, in the full run, 1 000 000) events: a store is filled
with ``apply_many`` (batches of 1 000) without snapshots, reopened (a full replay of every
input), closed (which writes a snapshot), and reopened again (the snapshot, and nothing after
it). Reopening from a snapshot costs in proportion to what the engine holds (its leads, their
clocks, the journals of the last day), not to the length of the log: the ratio grows with it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any

from _synthetic import synthetic_log
from _timing import format_seconds, table

from leadsla import SqliteStore


def _reopen(path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        store = SqliteStore(path, snapshot_every=None)  # no snapshot written on close
        times.append(time.perf_counter() - started)
        store.close()
    return statistics.median(times)


def _measure(leads: int, runs: int) -> dict[str, Any]:
    log = synthetic_log(leads)
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "leads.db")
    started = time.perf_counter()
    with SqliteStore(path, snapshot_every=None) as store:
        for start in range(0, len(log), 1000):
            store.apply_many(log[start : start + 1000])
    write = time.perf_counter() - started
    full = _reopen(path, runs)
    with SqliteStore(path) as store:  # replays, then writes a snapshot as it closes
        live = len(store)
    snapshot = _reopen(path, runs)
    size = os.path.getsize(path)
    os.remove(path)
    return {
        "events": len(log),
        "leads": live,
        "write": len(log) / write,
        "full": full,
        "snapshot": snapshot,
        "bytes per event": size / len(log),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    sizes = [1_500, 15_000] if quick else [1_500, 15_000, 150_000]
    results = [_measure(leads, 1 if leads > 20_000 else 3) for leads in sizes]
    print("Reopening a store: a full replay against its snapshot (median of 3; 1 for the largest)")
    print(
        table(
            [
                [
                    f"{r['events']:,} events, {r['leads']:,} leads",
                    format_seconds(r["full"]),
                    format_seconds(r["snapshot"]),
                    f"{r['full'] / r['snapshot']:,.1f}×",
                    f"{r['write']:,.0f}",
                    f"{r['bytes per event']:,.0f} B",
                ]
                for r in results
            ],
            ["store", "full replay", "from snapshot", "faster", "apply_many ev/s", "file"],
        )
    )
    return results
