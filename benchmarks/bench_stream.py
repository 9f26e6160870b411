"""Large imports: the memory an import holds, with every event kept against streamed.

A synthetic export (one row per lead: its creation, and a call on two rows of three) is
written gzipped, at two lengths, four times apart. It is imported twice: kept whole
(``import_sources``, a list of every event) and streamed (``stream_sources``: events sorted
``RUN`` at a time, in runs on disk, merged as they are read back). The peak of the memory
Python allocated (``tracemalloc``) while reading and iterating the events is compared: kept
whole, it grows with the export; streamed, it stays near one run's worth whatever the length.
Times are medians of a few runs without ``tracemalloc``; streaming writes and reads its runs,
which is its cost.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _timing import format_seconds, table

from leadsla import CsvMapping, import_sources
from leadsla._shell.importing import stream_sources

MAPPING = """
zone = "Europe/Helsinki"
missing = ["", "?"]

[columns.called]
type = "datetime"
format = "%d/%m/%Y %H:%M"

[[events]]
type = "lead_created"
lead = "{lead}"
at = "{created}"
fields = { email = "{lead}@example.com", score = "{score}" }

[[events]]
when = "has(called)"
type = "activity"
lead = "{lead}"
at = "{called}"
kind = "call"
"""

RUN = 10_000


def _export(path: Path, rows: int) -> None:
    start = datetime(2026, 1, 5, 7, tzinfo=UTC)
    lines = ["lead,created,score,called"]
    for n in range(rows):
        # Not in time order: an export sorted by id, its creation times spread over a year.
        at = start + timedelta(minutes=(n * 7919) % 525_600)
        called = "?" if n % 3 == 0 else (at + timedelta(hours=3)).strftime("%d/%m/%Y %H:%M")
        lines.append(f"L-{n},{at.isoformat()},{n % 100},{called}")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=1))


def _kept(path: Path) -> int:
    return len(import_sources([(CsvMapping.from_toml_text(MAPPING), path)]).events)


def _streamed(path: Path) -> int:
    with stream_sources([(CsvMapping.from_toml_text(MAPPING), path)], run=RUN) as stream:
        return sum(1 for _ in stream)


def _peak(call: Callable[[Path], int], path: Path) -> int:
    tracemalloc.start()
    try:
        call(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _seconds(call: Callable[[Path], int], path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool = False) -> dict[str, Any]:
    print(__doc__.strip().splitlines()[0])
    sizes = (20_000, 80_000) if quick else (100_000, 400_000)
    runs = 1 if quick else 3
    rows = []
    peaks: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"export-{size}.csv.gz"
            _export(path, size)
            for name, call in (("kept whole", _kept), ("streamed", _streamed)):
                peak = peaks[name, size] = _peak(call, path)
                seconds = _seconds(call, path, runs)
                rows.append([name, f"{size:,}", f"{peak / 2**20:.1f} MiB", format_seconds(seconds)])
    print(table(rows, ["import", "rows", "peak memory", "time (median)"]))
    small, large = sizes
    for name in ("kept whole", "streamed"):
        growth = peaks[name, large] / peaks[name, small]
        print(f"{name}: peak at {large:,} rows / at {small:,} rows = {growth:.2f}×")
    print(
        f"streamed / kept whole at {large:,} rows: "
        f"{peaks['streamed', large] / peaks['kept whole', large]:.2f}× the memory"
    )
    return {f"{name} {size}": peak for (name, size), peak in peaks.items()}
