"""A synthetic, realistic event log for the default agreement, reproducible from a seed.

Each lead is created with a low engagement score that marketing automation raises as the lead
engages (one to five score updates); about two thirds cross 50 and become MQLs. Its rep then
works it: accepts or rejects, calls a few times (mostly no answer, sometimes connected),
qualifies, wins or loses; some leads drift to nurture when their need moves away. Leads arrive
a few minutes apart; the merged log is in time order, as a CRM export would be.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from leadsla import (
    ActivityLogged,
    Event,
    LeadCreated,
    LeadUpdated,
    TransitionRequested,
)

ZONE = ZoneInfo("Europe/Helsinki")
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZONE)
REPS = ("alice", "bob", "carol")


def _after(moment: datetime, delta: timedelta) -> datetime:
    """``delta`` of real time after ``moment`` (adding to a zoned datetime adds wall-clock
    time, which skips or repeats an hour at a DST change)."""
    return (moment.astimezone(UTC) + delta).astimezone(ZONE)


def lead_events(number: int, rng: random.Random, start: datetime) -> list[Event]:
    lead = f"L-{number}"
    at = start
    events: list[Event] = []
    serial = 0

    def next_id() -> str:
        nonlocal serial
        serial += 1
        return f"{lead}-{serial}"

    score = rng.choice([10, 20, 30, 40])
    events.append(
        LeadCreated(
            id=next_id(),
            lead=lead,
            at=at,
            fields={
                "email": f"user{number}@example{number % 97}.com",
                "score": score,
                "country": rng.choice(["FI", "SE", "DE", "US"]),
                "need_months": rng.choice([1, 2, 3, 4, 6]),
                "budget_confirmed": rng.random() < 0.5,
            },
        )
    )
    # Engagement: marketing automation raises the score as the lead opens emails, visits pages.
    for _ in range(rng.randint(1, 5)):
        at = _after(at, timedelta(hours=rng.randint(1, 30)))
        score += rng.choice([5, 10, 15, 20])
        events.append(LeadUpdated(id=next_id(), lead=lead, at=at, fields={"score": score}))
        if score >= 50:
            break
    if score < 50:
        return events
    rep = rng.choice(REPS)
    at = _after(at, timedelta(minutes=rng.randint(10, 300)))
    if rng.random() < 0.1:
        events.append(
            TransitionRequested(
                id=next_id(), lead=lead, at=at, trigger="reject", reason="not-a-fit", by=rep
            )
        )
        return events
    events.append(TransitionRequested(id=next_id(), lead=lead, at=at, trigger="accept", by=rep))
    for _ in range(rng.randint(1, 4)):
        at = _after(at, timedelta(minutes=rng.randint(30, 600)))
        outcome = "connected" if rng.random() < 0.3 else "no_answer"
        events.append(
            ActivityLogged(id=next_id(), lead=lead, at=at, kind="call", outcome=outcome, by=rep)
        )
        if outcome == "connected":
            break
    at = _after(at, timedelta(hours=rng.randint(1, 72)))
    if rng.random() < 0.2:
        events.append(LeadUpdated(id=next_id(), lead=lead, at=at, fields={"need_months": 9}))
        return events
    events.append(
        LeadUpdated(
            id=next_id(), lead=lead, at=at, fields={"budget_confirmed": True, "need_months": 2}
        )
    )
    at = _after(at, timedelta(minutes=rng.randint(5, 60)))
    events.append(
        TransitionRequested(id=next_id(), lead=lead, at=at, trigger="qualify_sales", by=rep)
    )
    at = _after(at, timedelta(days=rng.randint(1, 20)))
    won = rng.random() < 0.3
    events.append(
        TransitionRequested(
            id=next_id(),
            lead=lead,
            at=at,
            trigger="win" if won else "lose",
            by=rep,
            reason=None if won else "budget",
        )
    )
    return events


def synthetic_log(
    leads: int, *, seed: int = 7, spacing: timedelta = timedelta(minutes=3)
) -> list[Event]:
    """``leads`` leads' events merged in time order (ties broken by lead number)."""
    rng = random.Random(seed)
    streams = [lead_events(n, rng, _after(START, spacing * n)) for n in range(leads)]
    merged: Iterator[tuple[datetime, int, int, Event]] = heapq.merge(
        *[[(e.at, n, i, e) for i, e in enumerate(stream)] for n, stream in enumerate(streams)]
    )
    return [event for *_, event in merged]
