"""Timing helpers shared by the benchmarks: per-call medians from batches, robust to noise.

This machine has 2 cores and neighbours; single timings mean little. Each measurement runs the
call in batches, takes the per-call time of each batch and reports the median batch, with the
spread (interquartile range) beside it. Ratios are taken between medians from the same run.

As with ``timeit``, the garbage collector is paused while a batch runs, so one call is not
charged for collecting what other, unrelated objects left behind; throughput benchmarks that
should include collection say so and run with it on.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Per-call seconds: the median over batches and the interquartile range."""

    median: float
    low: float
    high: float
    calls: int

    def __str__(self) -> str:
        spread = f"{format_seconds(self.low)}–{format_seconds(self.high)}"
        return f"{format_seconds(self.median)} (IQR {spread})"


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


def measure(
    call: Callable[[int], object],
    *,
    batch: int = 200,
    batches: int = 25,
    warmup: int = 1,
) -> Timing:
    """Time ``call(i)`` for i in range(batch), ``batches`` times; per-call median and IQR."""
    for _ in range(warmup):
        for index in range(batch):
            call(index)
    per_call = [_per_call(call, batch) for _ in range(batches)]
    quartiles = statistics.quantiles(per_call, n=4) if len(per_call) > 1 else per_call * 3
    return Timing(statistics.median(per_call), quartiles[0], quartiles[-1], batch * batches)


def _per_call(call: Callable[[int], object], batch: int) -> float:
    """Seconds per call over one batch, the collector paused (and run just before)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        for index in range(batch):
            call(index)
        return (time.perf_counter() - started) / batch
    finally:
        gc.enable()


def measure_interleaved(
    calls: dict[str, tuple[Callable[[int], object], int]],
    *,
    batches: int = 25,
) -> dict[str, Timing]:
    """Time several calls in alternating batches, so noise from the machine hits each alike.

    ``calls`` maps a name to ``(call, batch size)``; each round runs one batch of every call.
    Ratios between the results are fair even when the machine's load changes during the run.
    """
    for call, batch in calls.values():
        for index in range(batch):
            call(index)
    per_call: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(batches):
        for name, (call, batch) in calls.items():
            per_call[name].append(_per_call(call, batch))
    results = {}
    for name, samples in per_call.items():
        quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
        results[name] = Timing(
            statistics.median(samples), quartiles[0], quartiles[-1], len(samples) * calls[name][1]
        )
    return results


def ratio(slow: Timing, fast: Timing) -> str:
    return f"{slow.median / fast.median:,.1f}×"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("-|-".join("-" * width for width in widths))
    lines.extend(
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
    return "\n".join(lines)
