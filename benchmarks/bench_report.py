"""The review-meeting report against the replay it reads.

A synthetic log of about 1 000 000 events (100 000 in the quick run) is written as JSON Lines
and replayed from the file, as ``leadsla replay`` does; then the scorecard is computed from
the engine (one walk over its leads, whatever the number of metrics) and rendered as text,
JSON, CSV and HTML (with charts when matplotlib is installed). The named baseline is the
replay itself: the report should cost the replay plus a small part of it, never a second
pass over the log per metric.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from _synthetic import synthetic_log
from _timing import format_seconds, table

from leadsla import render_scorecard, replay, scorecard
from leadsla._shell.report import ReportFormat

FORMATS: tuple[ReportFormat, ...] = ("text", "json", "csv", "html")


def _timed(call: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(quick: bool = False) -> dict[str, Any]:
    leads = 16_000 if quick else 160_000
    runs = 3 if quick else 1
    log = synthetic_log(leads)
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "log.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(event.to_json() + "\n" for event in log)
    # A month after the last event: every deadline has come, as at a review after the period.
    until = max(event.at for event in log) + timedelta(days=30)
    del log

    def replayed() -> Any:
        with open(path, encoding="utf-8") as lines:
            return replay(lines, until=until, keep_effects=False)

    replay_time, result = _timed(replayed, runs)
    engine = result.engine
    card_time, cards = _timed(lambda: scorecard(engine), runs)
    rendered = {name: _timed(partial(render_scorecard, cards, name), runs)[0] for name in FORMATS}
    os.remove(path)
    rows = [["replay (the baseline)", format_seconds(replay_time), "1.00×"]]
    rows.append(
        [
            "scorecard (one walk over the leads)",
            format_seconds(card_time),
            _ratio(card_time, replay_time),
        ]
    )
    for name, seconds in rendered.items():
        rows.append(
            [f"  rendered as {name}", format_seconds(seconds), _ratio(seconds, replay_time)]
        )
    total = replay_time + card_time + rendered["html"]
    rows.append(["replay + scorecard + HTML", format_seconds(total), _ratio(total, replay_time)])
    print(
        f"The report over {result.events:,} events ({len(engine):,} leads), against the replay"
        f" it reads (median of {runs})"
    )
    print(table(rows, ["step", "time", "of the replay"]))
    return {
        "events": result.events,
        "replay": replay_time,
        "scorecard": card_time,
        **{f"render {name}": seconds for name, seconds in rendered.items()},
    }


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}×"
