"""A synthetic event log, reproducible from a seed: for trying an agreement without data.

:func:`simulate` makes the events a CRM would send for ``leads`` leads arriving a few minutes
apart. Each lead is created with a low engagement score that marketing automation raises as the
lead engages (one to five score updates); about two thirds cross 50 and become MQLs. Its owner in
the team that owns MQLs then works it: accepts (nine in ten) or rejects it, calls a few times
(mostly no answer, sometimes connected), confirms the budget and qualifies it, then wins (three
in ten) or loses it; one in five drifts to nurture when its need moves nine months away. The
log is in time order, as a CRM export would be, and the same arguments always give the same
events.

It speaks the default agreement's words: the fields ``score``, ``need_months``,
``budget_confirmed``, ``email`` and ``country``, and the triggers ``accept``, ``reject``,
``qualify_sales``, ``win`` and ``lose``. An agreement without those triggers, or without a
state ``mql`` owned by a team with members, is refused with what is missing; its terms and
rules decide what the events make of the leads.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final

from leadsla._core.agreement import Agreement
from leadsla._core.errors import NaiveDatetimeError, Problem, UsageError
from leadsla._core.events import (
    ActivityLogged,
    Event,
    LeadCreated,
    LeadUpdated,
    TransitionRequested,
)
from leadsla._core.ownership import AssignmentRequest, Team

__all__ = ["simulate"]

#: The triggers the simulated reps use.
TRIGGERS: Final = ("accept", "reject", "qualify_sales", "win", "lose")


def _later(moment: datetime, delta: timedelta) -> datetime:
    """``delta`` of real time after ``moment``, in its zone (not wall-clock arithmetic)."""
    return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)


def _lead_events(number: int, rng: random.Random, start: datetime, sales: Team) -> list[Event]:
    lead = f"L-{number}"
    at = start
    events: list[Event] = []
    serial = 0

    def next_id() -> str:
        nonlocal serial
        serial += 1
        return f"{lead}-{serial}"

    score = rng.choice([10, 20, 30, 40])
    fields = {
        "email": f"user{number}@example{number % 97}.com",
        "score": score,
        "country": rng.choice(["FI", "SE", "DE", "US"]),
        "need_months": rng.choice([1, 2, 3, 4, 6]),
        "budget_confirmed": rng.random() < 0.5,
    }
    events.append(LeadCreated(id=next_id(), lead=lead, at=at, fields=fields))
    # Engagement: marketing automation raises the score as the lead opens emails, visits pages.
    for _ in range(rng.randint(1, 5)):
        at = _later(at, timedelta(hours=rng.randint(1, 30)))
        score += rng.choice([5, 10, 15, 20])
        events.append(LeadUpdated(id=next_id(), lead=lead, at=at, fields={"score": score}))
        if score >= 50:
            break
    if score < 50:
        return events
    # The rep who works the lead is the one the team's policy gives it to (the draw keeps the
    # random sequence of earlier versions, so a seed gives the same leads and times).
    drawn = rng.choice(sales.members)
    rep = _owner(sales, lead, {**fields, "score": score}, at) or drawn
    at = _later(at, timedelta(minutes=rng.randint(10, 300)))
    if rng.random() < 0.1:
        events.append(
            TransitionRequested(
                id=next_id(), lead=lead, at=at, trigger="reject", reason="not-a-fit", by=rep
            )
        )
        return events
    events.append(TransitionRequested(id=next_id(), lead=lead, at=at, trigger="accept", by=rep))
    for _ in range(rng.randint(1, 4)):
        at = _later(at, timedelta(minutes=rng.randint(30, 600)))
        outcome = "connected" if rng.random() < 0.3 else "no_answer"
        events.append(
            ActivityLogged(id=next_id(), lead=lead, at=at, kind="call", outcome=outcome, by=rep)
        )
        if outcome == "connected":
            break
    at = _later(at, timedelta(hours=rng.randint(1, 72)))
    if rng.random() < 0.2:
        events.append(LeadUpdated(id=next_id(), lead=lead, at=at, fields={"need_months": 9}))
        return events
    events.append(
        LeadUpdated(
            id=next_id(), lead=lead, at=at, fields={"budget_confirmed": True, "need_months": 2}
        )
    )
    at = _later(at, timedelta(minutes=rng.randint(5, 60)))
    events.append(
        TransitionRequested(id=next_id(), lead=lead, at=at, trigger="qualify_sales", by=rep)
    )
    at = _later(at, timedelta(days=rng.randint(1, 20)))
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


def simulate(
    leads: int = 100,
    *,
    seed: int = 7,
    start: datetime | None = None,
    spacing: timedelta = timedelta(minutes=3),
    agreement: Agreement | None = None,
) -> list[Event]:
    """The events of ``leads`` simulated leads, merged in time order (see the module's doc).

    ``start`` (timezone-aware; default Monday 2026-03-02 09:00 in the agreement's zone) is when
    the first lead arrives, ``spacing`` the time between arrivals. Reps are the members of the
    team that owns the MQL state; each lead is worked by the rep the team's assignment policy gives
    it to (a random rep when the policy depends on other leads).

    >>> from leadsla import replay
    >>> events = simulate(50)
    >>> len(events), events[0].type
    (307, 'lead_created')
    >>> replay(events).rejected
    0
    """
    resolved = agreement if agreement is not None else Agreement.default()
    sales = _sales(resolved)
    if start is None:
        from zoneinfo import ZoneInfo

        start = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(resolved.timezone))
    elif start.tzinfo is None or start.utcoffset() is None:
        raise NaiveDatetimeError.for_field("start", start)
    if leads < 0:
        raise UsageError(Problem("leads", leads, "must not be negative", "give 0 or more"))
    rng = random.Random(seed)
    streams = [
        _lead_events(number, rng, _later(start, spacing * number), sales) for number in range(leads)
    ]
    merged: Iterator[tuple[float, int, int, Event]] = heapq.merge(
        *[
            [(event.at.timestamp(), number, index, event) for index, event in enumerate(stream)]
            for number, stream in enumerate(streams)
        ]
    )
    return [event for *_, event in merged]


def _owner(team: Team, lead: str, fields: dict[str, object], at: datetime) -> str | None:
    """Who the team's policy gives the lead to, when that does not depend on other leads."""
    if not team.policy.partition_safe:
        return None  # the engine's choice depends on the leads before: a random rep it is
    request = AssignmentRequest(lead_id=lead, team=team, fields=fields, state="mql", at=at)
    person = team.policy.assign(request)
    return person if person in team.members else None


def _sales(agreement: Agreement) -> Team:
    """The team that owns MQLs; refuses an agreement the simulation cannot speak to."""
    problems = []
    lifecycle = agreement.lifecycle
    missing = [trigger for trigger in TRIGGERS if trigger not in lifecycle.triggers]
    if missing:
        problems.append(
            Problem(
                "agreement",
                agreement.name,
                f"has no trigger {', '.join(missing)}, which the simulation uses",
                "simulate with the default lifecycle, or write events of your own",
            )
        )
    if "mql" not in lifecycle.state_names:
        problems.append(
            Problem(
                "agreement",
                agreement.name,
                "has no state mql, whose owners the simulation's reps are",
                "simulate with the default lifecycle, or write events of your own",
            )
        )
        raise UsageError(*problems)
    team = agreement.team(lifecycle.owner_of("mql"))
    if team is None or not team.members:
        problems.append(
            Problem(
                "agreement",
                agreement.name,
                "has no members in the team that owns mql, to work the leads",
                "name the team's members",
            )
        )
    if problems:
        raise UsageError(*problems)
    assert team is not None
    return team
