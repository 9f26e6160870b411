"""leadsla.replay: a whole log in one call, with the effects a live run gives."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    Agreement,
    Engine,
    Event,
    EventRejected,
    LeadCreated,
    LeadSLAError,
    NaiveDatetimeError,
    TransitionRequested,
    replay,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = datetime(2026, 3, 6, 16, 0, tzinfo=HELSINKI)


def mql(lead: str, at: datetime, event_id: str) -> LeadCreated:
    return LeadCreated(
        id=event_id, lead=lead, at=at, fields={"email": f"{lead}@acme.com", "score": 62}
    )


def test_a_log_file_replays_line_by_line_skipping_blank_lines(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    events = [mql("L-1", FRIDAY, "e1"), mql("L-2", FRIDAY + timedelta(minutes=5), "e2")]
    log.write_text("\n".join(event.to_json() for event in events) + "\n\n  \n", encoding="utf-8")
    with log.open(encoding="utf-8") as lines:
        result = replay(lines)
    assert result.events == 2
    assert list(result.engine.leads()) == ["L-1", "L-2"]


def test_bad_inputs_are_rejected_and_the_replay_goes_on() -> None:
    lines = [
        mql("L-1", FRIDAY, "e1").to_json(),
        '{"id": "e2", "type": "lead_created", "lead": "L-2"}',  # no time, no fields
        "not json",
        mql("L-1", FRIDAY, "e1").to_json(),  # seen before
        TransitionRequested(
            id="e3", lead="L-1", at=FRIDAY + timedelta(hours=1), trigger="win"
        ).to_json(),
        mql("L-3", FRIDAY + timedelta(hours=2), "e4").to_json(),
    ]
    result = replay(lines)
    assert (result.events, result.rejected, result.duplicates) == (6, 3, 1)
    reasons = [rejection.reason for rejection in result.rejections]
    assert "'at' is missing" in reasons[0]
    assert "not JSON" in reasons[1]
    assert "'win'" in reasons[2]
    assert "'mql'" in reasons[2]
    assert list(result.engine.leads()) == ["L-1", "L-3"]


def test_until_advances_to_the_end_of_the_period() -> None:
    result = replay([mql("L-1", FRIDAY, "e1")], until=datetime(2026, 3, 9, 17, tzinfo=HELSINKI))
    breached = [o.name for o in result.engine.lead("L-1").obligations if o.status == "breached"]
    assert breached == ["first-touch", "accept-or-reject"]
    assert result.counts["ObligationBreached"] == 2
    assert result.engine.clock == datetime(2026, 3, 9, 17, tzinfo=HELSINKI)


def test_a_replay_can_continue_a_live_engine() -> None:
    engine = Engine()
    engine.apply(mql("L-1", FRIDAY, "e1"))
    result = replay([mql("L-2", FRIDAY + timedelta(hours=1), "e2")], engine=engine)
    assert result.engine is engine
    assert list(engine.leads()) == ["L-1", "L-2"]


def test_without_keeping_effects_only_the_counts_remain() -> None:
    events = [mql("L-1", FRIDAY, "e1"), mql("L-2", FRIDAY, "e2")]
    kept = replay(events)
    counted = replay(events, keep_effects=False)
    assert counted.effects == []
    assert counted.counts == kept.counts
    assert counted.counts["ObligationOpened"] == 6


def test_an_engine_and_another_agreement_is_refused() -> None:
    with pytest.raises(LeadSLAError) as raised:
        replay([], Agreement.default(), engine=Engine())
    assert "not the engine's agreement" in str(raised.value)
    assert "not both" in str(raised.value)


def test_a_naive_until_is_refused_before_anything_is_applied() -> None:
    engine = Engine()
    with pytest.raises(NaiveDatetimeError) as raised:
        replay([mql("L-1", FRIDAY, "e1")], engine=engine, until=datetime(2026, 3, 9, 17))
    assert "until" in str(raised.value)
    assert len(engine) == 0


def test_the_collector_is_paused_during_the_replay_and_restored_after() -> None:
    seen: list[bool] = []

    def log() -> Iterator[Event]:
        seen.append(gc.isenabled())
        yield mql("L-1", FRIDAY, "e1")
        seen.append(gc.isenabled())

    assert gc.isenabled()
    replay(log())
    assert seen == [False, False]
    assert gc.isenabled()
    seen.clear()
    replay(log(), pause_gc=False)
    assert seen == [True, True]


def test_the_collector_is_restored_when_a_strict_replay_raises() -> None:
    events = [mql("L-1", FRIDAY, "e1"), mql("L-1", FRIDAY, "e2")]  # the same lead twice
    with pytest.raises(EventRejected):
        replay(events, engine=Engine(strict=True))
    assert gc.isenabled()


def test_a_collector_the_host_disabled_stays_disabled() -> None:
    gc.disable()
    try:
        replay([mql("L-1", FRIDAY, "e1")])
        assert not gc.isenabled()
    finally:
        gc.enable()
