"""leadsla.simulate and leadsla simulate: a synthetic log, reproducible from a seed."""

from __future__ import annotations

import io
import pathlib
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    Agreement,
    LeadSLAError,
    Lifecycle,
    NaiveDatetimeError,
    replay,
    simulate,
)
from leadsla._shell.cli import main


def test_the_same_seed_gives_the_same_log_and_another_seed_another() -> None:
    assert simulate(40) == simulate(40)
    assert simulate(40, seed=8) != simulate(40)


def test_the_log_is_in_time_order_and_replays_without_a_refusal() -> None:
    events = simulate(300)
    instants = [event.at.timestamp() for event in events]
    assert instants == sorted(instants)
    result = replay(events)
    assert result.rejected == 0
    states = Counter(result.engine.lead(lead).state for lead in result.engine.leads())
    became_mql = sum(
        1
        for lead in result.engine.leads()
        if any(move.dest == "mql" for move in result.engine.lead(lead).lead.history)
    )
    assert 0.55 <= became_mql / 300 <= 0.8  # about two thirds
    assert {"won", "lost", "nurture", "lead"} <= set(states)


def test_leads_arrive_from_start_spacing_apart() -> None:
    start = datetime(2026, 10, 24, 9, tzinfo=ZoneInfo("America/New_York"))
    events = simulate(3, start=start, spacing=timedelta(days=1))
    created = [event.at for event in events if event.type == "lead_created"]
    assert created == [start, start + timedelta(days=1), start + timedelta(days=2)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(NaiveDatetimeError, match="'start' must be timezone-aware"):
        simulate(3, start=datetime(2026, 3, 2, 9))
    with pytest.raises(LeadSLAError, match="'leads' must not be negative"):
        simulate(-1)


def test_an_agreement_without_the_triggers_is_refused_with_what_is_missing() -> None:
    default = Agreement.default()
    lifecycle = Lifecycle.default()
    fewer = attrs.evolve(
        lifecycle, transitions=[t for t in lifecycle.transitions if t.trigger != "reject"]
    )
    with pytest.raises(LeadSLAError) as raised:
        simulate(3, agreement=attrs.evolve(default, lifecycle=fewer))
    assert "has no trigger reject, which the simulation uses" in str(raised.value)


def test_simulate_command(tmp_path: pathlib.Path) -> None:
    out = io.StringIO()
    assert main(["simulate", "--leads", "5"], out) == 0
    assert len(out.getvalue().splitlines()) == len(simulate(5))
    path = tmp_path / "sim.jsonl"
    out = io.StringIO()
    assert main(["simulate", "--leads", "20", "--seed", "3", "-o", str(path)], out) == 0
    assert out.getvalue() == f"Wrote {len(simulate(20, seed=3))} events for 20 leads to {path}\n"
    assert main(["replay", str(path)], io.StringIO()) == 0


def test_each_lead_is_worked_by_its_owner() -> None:
    """The reps who accept, call and close a lead are the person the team's policy gave it
    to, so breaches fall on who really had the lead."""
    events = simulate(120)
    result = replay(events)
    owners: dict[str, str | None] = {}
    for lead in result.engine.leads():
        for interval in result.engine.lead(lead).lead.ownership:
            if interval.owner.team == "sales":
                owners[lead] = interval.owner.person
    workers = {(event.lead, by) for event in events if (by := getattr(event, "by", None))}
    assert workers
    assert all(owners.get(lead) == by for lead, by in workers)
