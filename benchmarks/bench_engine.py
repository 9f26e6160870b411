"""The engine end to end: throughput, memory per live lead, and ``advance`` at scale.

Measured in one run, against the naive design (``_naive.py``: one ``transitions`` machine per
lead, a full scan for due timers before every event):

* events per second for the synthetic log (``_synthetic.py``: creations, engagement score
  updates, calls, accept/reject, qualification, wins and losses, drifts to nurture; about 6.5
  events per lead), on one core: through :func:`leadsla.replay` (the batch path: it pauses
  the garbage collector for the call), from the event objects and from their JSON Lines form;
  and through ``Engine.apply`` with ``advance`` every 200 events as a live host would, with
  Python's garbage collector as it ships, paused for the run, and with the host calling
  ``gc.freeze()`` every 20 000 events;
* memory per live lead with its open obligations (MQLs with their three sales clocks), engine
  structures included;
* ``advance`` that fires 1 000 due timers while 1 000 000 obligations are open.

With ``--against [REV]``, also the replay throughput of another git revision of leadsla on the
same log, the two taking turns in fresh processes (``_against.py``).

Targets: replay throughput no lower than the last commit before the engine was split
(``--against``, its default revision; aim for 80 000 events per second); at most 1 KB per live
lead with its open obligations; ``advance`` in proportion to the timers that fire.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from _against import BEFORE_THE_SPLIT, rates_against
from _naive import NaiveEngine
from _synthetic import START, synthetic_log
from _timing import format_seconds, table

from leadsla import Engine, Event, LeadCreated, replay

MQL_FIELDS = {"score": 62, "country": "FI", "need_months": 3, "budget_confirmed": False}


def _replay(
    make: Callable[[], Any], log: Sequence[Event], *, pause_gc: bool, freeze_every: int = 0
) -> float:
    """Events per second for one live-style run of ``log`` (advance every 200 events).

    ``freeze_every``: call ``gc.freeze()`` after so many events, as a long-running host can to
    keep the collector off the records it already walked (they are unfrozen afterwards).
    """
    engine = make()
    gc.collect()
    if pause_gc:
        gc.disable()
    try:
        started = time.perf_counter()
        for index, event in enumerate(log):
            engine.apply(event)
            if index % 200 == 199:
                engine.advance(event.at)
            if freeze_every and index % freeze_every == freeze_every - 1:
                gc.freeze()
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
        gc.unfreeze()
    return len(log) / elapsed


def _replay_rate(log: Sequence[Any]) -> float:
    """Events per second for one ``leadsla.replay`` of ``log`` into a new engine."""
    gc.collect()
    started = time.perf_counter()
    result = replay(log)
    elapsed = time.perf_counter() - started
    assert result.events == len(log), "every event was read"
    assert result.rejected == 0, "the synthetic log is all good"
    return len(log) / elapsed


def _best_of(runs: int, measure: Callable[[], float]) -> float:
    """The median rate of a few runs (rates are noisy on a shared machine)."""
    return statistics.median(measure() for _ in range(runs))


def _traced_per_lead(make: Callable[[], Any], count: int) -> tuple[float, Any]:
    """Bytes allocated per lead while ``count`` MQLs are created in a new engine."""
    events = [
        LeadCreated(
            id=f"c{n}",
            lead=f"L-{n}",
            at=START + timedelta(milliseconds=500 * n),
            fields={**MQL_FIELDS, "email": f"user{n}@example.com"},
        )
        for n in range(count)
    ]
    gc.collect()
    tracemalloc.start()
    engine = make()
    for event in events:
        engine.apply(event)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return used / count, engine


def _memory_per_live_lead(count: int) -> float:
    per_lead, engine = _traced_per_lead(Engine, count)
    open_clocks = sum(len(engine.lead(f"L-{n}").open_obligations) for n in range(0, count, 97))
    assert open_clocks == 3 * len(range(0, count, 97)), "every lead should keep 3 open clocks"
    return per_lead


def _naive_memory_per_live_lead(count: int) -> float:
    return _traced_per_lead(NaiveEngine, count)[0]


def _advance_at_scale(
    open_target: int, due_per_advance: int = 1000, rounds: int = 5
) -> dict[str, Any]:
    """Fill an engine with ``open_target`` open clocks, then time advances that fire
    ``due_per_advance`` timers each; and the naive design's advance over as many."""
    import heapq

    from leadsla._core.calendar import instant_us

    leads = open_target // 3 + 1
    spacing = timedelta(milliseconds=10)
    engine = Engine()
    gc.collect()
    gc.disable()  # building the state is not what is measured
    try:
        for n in range(leads):
            engine.apply(
                LeadCreated(
                    id=f"c{n}",
                    lead=f"L-{n}",
                    at=START + spacing * n,
                    fields={**MQL_FIELDS, "email": f"u{n}@x.com"},
                )
            )
    finally:
        gc.enable()
    open_clocks = 3 * leads
    timings: list[float] = []
    fired: list[int] = []
    moments: list[datetime] = []
    for _ in range(rounds):
        # The instant by which exactly the next ``due_per_advance`` timers are due (nothing is
        # stale here: no clock was met or cancelled while building).
        # (The benchmark reads the engine's private queue: asking engine.due() for a million
        # timers would take longer than the measurement.)
        target = heapq.nsmallest(due_per_advance, engine._timers._heap)[-1].at_us
        until = START + timedelta(microseconds=target - instant_us(START))
        moments.append(until)
        gc.collect()
        started = time.perf_counter()
        effects = engine.advance(until)
        timings.append(time.perf_counter() - started)
        fired.append(
            sum(
                1 for e in effects if type(e).__name__ in ("ObligationWarned", "ObligationBreached")
            )
        )
    # The naive design over as many open obligations: scan them all, breach the due ones.
    calendar = engine.agreement.calendars["office"]
    specs = engine.agreement.obligations[:3]
    naive_leads: list[tuple[str, list[dict[str, Any]]]] = []
    for n in range(leads):
        opened = START + spacing * n
        obligations: list[dict[str, Any]] = [
            {"name": spec.name, "status": "open", "due": calendar.add(opened, spec.within)}
            for spec in specs
        ]
        naive_leads.append(("bob", obligations))
    naive = []
    for until in moments[:3]:
        started = time.perf_counter()
        for owner, obligations in naive_leads:
            for obligation in obligations:
                if obligation["status"] == "open" and obligation["due"] <= until:
                    obligation["status"] = "breached"
                    obligation["owner"] = owner
        naive.append(time.perf_counter() - started)
    return {
        "open": open_clocks,
        "median": statistics.median(timings),
        "fired": statistics.median(fired),
        "naive": statistics.median(naive),
    }


def _delayed(log: Sequence[Event], share: float = 0.1, seed: int = 11) -> list[Event]:
    """``log`` in an arrival order where ``share`` of the events come up to an hour late (the
    rest in time), as a live CRM feed with retried webhooks delivers them."""
    chooser = random.Random(seed)
    arrivals = []
    for index, event in enumerate(log):
        late = chooser.random() < share
        delay = timedelta(seconds=chooser.randint(1, 3600)) if late else timedelta(0)
        arrivals.append(((event.at + delay).timestamp(), index, event))
    arrivals.sort(key=lambda item: item[:2])
    return [event for _, _, event in arrivals]


def _strict() -> Engine:
    return Engine(allowed_lateness=timedelta(0))


def _against(revision: str, log: Sequence[Event], runs: int) -> dict[str, float] | None:
    """This tree's replay throughput against ``revision``'s on ``log``, printed (see
    ``_against.py``); None, with the reason printed, when it cannot be measured."""
    rates = rates_against(revision, log, runs)
    print()
    if isinstance(rates, str):
        print(f"Against {revision}: not measured ({rates})")
        return None
    ours, theirs = statistics.median(rates[0]), statistics.median(rates[1])
    label = " (the last commit before the engine was split)" if revision == BEFORE_THE_SPLIT else ""
    print(f"leadsla.replay against revision {revision}{label}: the same log, fresh processes")
    print(f"taking turns, median of {runs}")
    print(
        table(
            [
                ["this tree", f"{ours:,.0f}", "1.0×"],
                [f"revision {revision}", f"{theirs:,.0f}", f"{ours / theirs:,.2f}×"],
            ],
            ["leadsla", "events per second", "this tree's rate against it"],
        )
    )
    print("  runs: " + ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(*rates, strict=True)))
    return {"ours": ours, "theirs": theirs}


def run(quick: bool = False, against: str | None = None) -> dict[str, Any]:
    leads = 3_000 if quick else 20_000
    log = synthetic_log(leads)
    small = synthetic_log(600 if quick else 1_500)
    runs = 5

    lines = [event.to_json() for event in log]
    batch = _best_of(runs, lambda: _replay_rate(log))
    batch_json = _best_of(runs, lambda: _replay_rate(lines))
    default_gc = _best_of(runs, lambda: _replay(Engine, log, pause_gc=False))
    paused_gc = _best_of(runs, lambda: _replay(Engine, log, pause_gc=True))
    frozen = _best_of(runs, lambda: _replay(Engine, log, pause_gc=False, freeze_every=20_000))
    late = _delayed(log)
    in_order = _best_of(runs, lambda: _replay(Engine, log, pause_gc=True))
    delayed = _best_of(runs, lambda: _replay(Engine, late, pause_gc=True))
    strict = _best_of(runs, lambda: _replay(_strict, log, pause_gc=True))
    small_leadsla = _best_of(runs, lambda: _replay(Engine, small, pause_gc=False))
    small_naive = _best_of(1, lambda: _replay(NaiveEngine, small, pause_gc=False))
    print("Throughput: synthetic log, default agreement, one core")
    print(
        table(
            [
                [
                    f"leadsla.replay, {leads:,} leads ({len(log):,} events)",
                    f"{batch:,.0f}",
                    "-",
                ],
                [
                    "leadsla.replay, same log as JSON Lines (parsing included)",
                    f"{batch_json:,.0f}",
                    "-",
                ],
                [
                    "Engine.apply, same log, advance every 200 events, GC as shipped",
                    f"{default_gc:,.0f}",
                    "-",
                ],
                ["Engine.apply, as above, GC paused for the run", f"{paused_gc:,.0f}", "-"],
                [
                    "Engine.apply, as above, the host calls gc.freeze() every 20 000 events",
                    f"{frozen:,.0f}",
                    "-",
                ],
                [
                    "Engine.apply, in time order, GC paused (allowed lateness: 1 day)",
                    f"{in_order:,.0f}",
                    "1.0×",
                ],
                [
                    "Engine.apply, same log, 10 % of events up to an hour late",
                    f"{delayed:,.0f}",
                    f"{delayed / in_order:,.2f}×",
                ],
                [
                    "Engine.apply, in time order, no lateness allowed (no journals)",
                    f"{strict:,.0f}",
                    f"{strict / in_order:,.2f}×",
                ],
                [
                    f"leadsla, {len(small) // 6:,}-ish leads ({len(small):,} events)",
                    f"{small_leadsla:,.0f}",
                    "1.0×",
                ],
                [
                    "naive: machine per lead, full scan per event (same small log)",
                    f"{small_naive:,.0f}",
                    f"{small_leadsla / small_naive:,.1f}× slower",
                ],
            ],
            ["how", "events per second", "vs leadsla"],
        )
    )
    print("(The naive design's full scan grows with the number of leads: it falls further behind")
    print(" as the log grows.)")

    memory = _memory_per_live_lead(4_000 if quick else 20_000)
    naive_memory = _naive_memory_per_live_lead(1_000 if quick else 3_000)
    print()
    print(
        "Memory per live lead: an MQL with its three open sales clocks, engine structures included"
    )
    print(
        table(
            [
                ["leadsla", f"{memory:,.0f} B", "1.0×"],
                [
                    "naive: machine per lead, obligation dicts",
                    f"{naive_memory:,.0f} B",
                    f"{naive_memory / memory:,.1f}×",
                ],
            ],
            ["how", "per lead", "vs leadsla"],
        )
    )

    scale = _advance_at_scale(100_000 if quick else 1_000_000)
    print()
    print(
        f"advance with {scale['open']:,} open obligations, firing {scale['fired']:.0f} timers: "
        f"{format_seconds(scale['median'])} (median of 5); "
        f"naive (full scan, breach the due): {format_seconds(scale['naive'])} "
        f"({scale['naive'] / scale['median']:,.1f}× slower)"
    )
    compared = _against(against, log, runs if not quick else 1) if against else None
    print()
    print("Targets:")
    print(
        f"  events per second: {batch:,.0f} through leadsla.replay (target: no fewer than the "
        f"last commit before the split, {BEFORE_THE_SPLIT}, measured with --against; aim 80 000); "
        f"Engine.apply in a live loop {default_gc:,.0f} with GC as shipped, "
        f"{paused_gc:,.0f} with GC paused, {frozen:,.0f} with gc.freeze() every 20 000 events"
    )
    print(f"  memory per live lead with its open obligations: {memory:,.0f} B (target ≤ 1 024 B)")
    print(
        f"  advance, 1 000 due of {scale['open']:,} open: "
        f"{format_seconds(scale['median'])} (target: in proportion to the timers that fire, "
        f"not to the open clocks; a full scan {format_seconds(scale['naive'])})"
    )
    return {
        "replay events per second": batch,
        "replay events per second, JSON Lines": batch_json,
        "events per second": default_gc,
        "events per second, GC paused": paused_gc,
        "events per second, 10 % up to an hour late": delayed,
        "events per second, no lateness allowed": strict,
        "events per second, gc.freeze() every 20 000 events": frozen,
        "naive ratio": small_leadsla / small_naive,
        "memory per lead": memory,
        "naive memory per lead": naive_memory,
        "advance": scale,
        "against": compared,
    }
