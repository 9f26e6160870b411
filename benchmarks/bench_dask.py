"""Partitioned replay on Dask against one process, on the same JSON Lines log.

A synthetic log (the default agreement's simulated leads; about 1 000 000 events in the full
run, 60 000 in the quick one) is written once, then replayed: by ``leadsla.replay`` in this
process (the baseline), by ``leadsla.distributed.replay`` in this process with one partition
(what the partition machinery costs: parse, scan, replay and merge, without a cluster), and on
a Dask ``LocalCluster`` of 1 and of 2 worker processes (one thread each) with two partitions
per worker. Each replay also gathers the totals a summary prints. Times are medians of the
runs; the cluster is started before the clock starts. This machine has 2 cores, so 2 workers
is the most it can show.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _synthetic import synthetic_log
from _timing import format_seconds, table

from leadsla import replay
from leadsla._shell.partitioned import replay_partitioned
from leadsla._shell.totals import Totals


def _median(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool = False) -> dict[str, Any]:
    print(__doc__.strip().splitlines()[0])
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("skipped: the dask extra is not installed (pip install 'leadsla[dask]')")
        return {}
    leads = 10_000 if quick else 160_000
    runs = 1 if quick else 3
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        with path.open("w", encoding="utf-8") as file:
            for event in synthetic_log(leads):
                file.write(event.to_json() + "\n")
        events = sum(1 for _ in path.open(encoding="utf-8"))

        def single() -> None:
            with path.open(encoding="utf-8") as log:
                Totals.of(replay(log, keep_effects=False).engine)

        rows = [("one process (leadsla.replay)", _median(single, runs))]
        rows.append(
            (
                "partitioned, in this process, 1 partition",
                _median(lambda: replay_partitioned([path], partitions=1), runs),
            )
        )
        for workers in (1, 2):
            with (
                LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=40,
                ) as cluster,
                Client(cluster) as client,  # type: ignore[no-untyped-call]
            ):
                client.wait_for_workers(workers)

                def spread(connected: Any = client, count: int = workers) -> None:
                    replay_partitioned(
                        [path], client=connected, partitions=2 * count, block_bytes=8 * 2**20
                    )

                seconds = _median(spread, runs)
                rows.append((f"Dask, {workers} worker{'s' if workers > 1 else ''}", seconds))
    base = rows[0][1]
    print(f"{events:,} events, {leads:,} leads")
    print(
        table(
            [
                [
                    name,
                    format_seconds(seconds),
                    f"{events / seconds:,.0f}",
                    f"{seconds / base:.2f}×",
                ]
                for name, seconds in rows
            ],
            ["replay", "time (median)", "events/s", "against one process"],
        )
    )
    two = rows[-1][1]
    one = rows[-2][1]
    print(f"Dask: 2 workers / 1 worker = {two / one:.2f}× the time")
    return {"events": events, "seconds": dict(rows)}
