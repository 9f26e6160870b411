"""leadsla.replay: a whole log in one call, with the effects a live run gives."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    ActivityLogged,
    Agreement,
    Effect,
    Engine,
    Event,
    EventRejected,
    LeadCreated,
    LeadSLAError,
    NaiveDatetimeError,
    TransitionRequested,
    effect_to_dict,
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


# -- a line too deeply nested -----------------------------------------------------------------


def test_a_line_nested_too_deeply_is_refused_and_the_replay_goes_on() -> None:
    """100 000 levels of ``[`` on one line are that line's refusal, not a RecursionError."""
    lines = [
        mql("L-1", FRIDAY, "e1").to_json(),
        "[" * 100_000,
        mql("L-2", FRIDAY + timedelta(minutes=5), "e2").to_json(),
    ]
    result = replay(lines)
    assert (result.events, result.rejected) == (3, 1)
    [(position, rejection)] = result.refused
    assert position == 2
    assert rejection.reason.startswith("'event' nests lists or objects too deeply to be read")
    assert rejection.at == FRIDAY
    assert list(result.engine.leads()) == ["L-1", "L-2"]


def test_a_field_value_nested_too_deeply_is_refused_with_its_field() -> None:
    """A valid object whose field value is 500 levels deep is refused, naming the field."""
    value: object = 1
    for _ in range(500):
        value = [value]
    line = mql("L-1", FRIDAY, "e1").to_json().replace('"score": 62', f'"score": {value}')
    result = replay([line, mql("L-2", FRIDAY, "e2").to_json()])
    assert result.rejected == 1
    assert result.rejections[0].reason.startswith("'fields.score' nests lists or objects more")
    assert list(result.engine.leads()) == ["L-2"]


def test_a_strict_replay_raises_event_rejected_for_a_line_nested_too_deeply() -> None:
    """A strict engine raises its usual error, not a RecursionError."""
    with pytest.raises(EventRejected) as raised:
        replay(["[" * 100_000], engine=Engine(strict=True))
    assert "too deeply" in str(raised.value)


# -- until before the last event ---------------------------------------------------------------

MONDAY_NOON = datetime(2026, 3, 9, 12, tzinfo=HELSINKI)


def test_until_before_the_last_event_applies_only_the_events_up_to_it() -> None:
    """Events at or before ``until`` are applied, the later ones are counted, not applied;
    the clock ends at ``until``."""
    events = [
        mql("L-1", FRIDAY, "e1"),
        mql("L-2", MONDAY_NOON, "e2"),  # at until: applied
        mql("L-3", MONDAY_NOON + timedelta(microseconds=1), "e3"),
        mql("L-4", MONDAY_NOON + timedelta(days=1), "e4"),
    ]
    result = replay(events, until=MONDAY_NOON)
    assert list(result.engine.leads()) == ["L-1", "L-2"]
    assert (result.events, result.after_until, result.rejected) == (4, 2, 0)
    assert result.engine.clock == MONDAY_NOON


def test_until_compares_instants_not_wall_clocks() -> None:
    """In the autumn's repeated hour, 03:15 the second time is after 03:30 the first time."""
    until = datetime(2026, 10, 25, 3, 30, tzinfo=HELSINKI)  # EEST, 00:30 UTC
    repeated = datetime(2026, 10, 25, 3, 15, fold=1, tzinfo=HELSINKI)  # EET, 01:15 UTC
    events = [mql("L-1", datetime(2026, 10, 23, 16, tzinfo=HELSINKI), "e1")]
    result = replay([*events, mql("L-2", repeated, "e2")], until=until)
    assert (result.after_until, list(result.engine.leads())) == (1, ["L-1"])


def test_deadlines_up_to_until_fire_and_later_events_do_not_meet_them() -> None:
    """A call after ``until`` does not meet the first touch: it breaches at noon."""
    call = ActivityLogged(
        id="e2", lead="L-1", at=MONDAY_NOON + timedelta(hours=1), kind="call", by="bob"
    ).to_json()
    result = replay([mql("L-1", FRIDAY, "e1").to_json(), call], until=MONDAY_NOON)
    assert result.after_until == 1
    first_touch = result.engine.lead("L-1").obligation("first-touch")
    assert first_touch is not None
    assert first_touch.status == "breached"


def test_after_until_unreadable_lines_are_refused_and_blank_lines_skipped() -> None:
    """Reading costs nothing: a bad line after ``until`` is still refused with its position;
    blank lines are neither events nor after ``until``."""
    lines = [
        mql("L-1", FRIDAY, "e1").to_json(),
        mql("L-2", MONDAY_NOON + timedelta(hours=1), "e2").to_json(),
        "",
        "not json",
        mql("L-3", MONDAY_NOON + timedelta(hours=2), "e3").to_json(),
    ]
    result = replay(lines, until=MONDAY_NOON)
    assert (result.events, result.after_until, result.rejected) == (4, 2, 1)
    assert [position for position, _ in result.refused] == [4]
    assert "not JSON" in result.rejections[0].reason


def test_a_duplicate_after_until_is_not_applied_either() -> None:
    """An event after ``until`` is not shown to the engine at all, even one seen before."""
    late = mql("L-1", MONDAY_NOON + timedelta(hours=1), "e1")  # the id of the first event
    result = replay([mql("L-1", FRIDAY, "e1"), late], until=MONDAY_NOON)
    assert (result.after_until, result.duplicates) == (1, 0)


def test_without_until_nothing_is_after_it() -> None:
    """Without ``until`` every event is applied, whatever its time."""
    result = replay([mql("L-1", FRIDAY, "e1"), mql("L-2", MONDAY_NOON, "e2")])
    assert result.after_until == 0
    assert list(result.engine.leads()) == ["L-1", "L-2"]


def test_observe_streams_each_inputs_effects_without_keeping_them() -> None:
    """observe sees every effect, in order, even when the replay keeps none (a long log's
    effects would not fit in memory)."""
    from leadsla import simulate

    events = simulate(20, seed=3)
    seen: list[Effect] = []
    streamed = replay(events, keep_effects=False, observe=seen.extend)
    kept = replay(events)
    assert streamed.effects == []
    assert [effect_to_dict(e) for e in seen] == [effect_to_dict(e) for e in kept.effects]
