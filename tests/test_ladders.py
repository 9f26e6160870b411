"""Escalation ladders: several steps before and after the deadline, each with its actions."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import (
    ActionRequested,
    ActivityLogged,
    Agreement,
    AgreementError,
    Assign,
    Duration,
    Effect,
    Engine,
    Escalate,
    LeadCreated,
    LeadMigrated,
    Notify,
    ObligationBreached,
    ObligationError,
    ObligationEscalated,
    ObligationSpec,
    ObligationWarned,
    OwnerChanged,
    TransitionRequested,
    Versions,
    Warn,
    When,
    effect_to_dict,
)
from leadsla._shell import snapshot
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla._shell.summary import obligation_sentence

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY_9 = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)

#: Notify the owner at 75 %, the manager at the deadline, the director (sam) one business day
#: after, and reassign two business days after.
LADDER = (
    Warn(fraction=0.75, actions=Notify("owner", "a quarter of the time left")),
    Warn(before="30 business minutes", actions=Notify("manager")),
    Warn(after="1 business hour", actions=Escalate("manager")),
    Warn(after="1 business day", actions=Escalate("sam", "a day late")),
    Warn(after="2 business days", actions=Assign(None)),
)


LADDER_EFFECTS = (ObligationWarned, ObligationBreached, ObligationEscalated, ActionRequested)


def laddered(ladder: tuple[Warn, ...] = LADDER) -> Agreement:
    default = Agreement.default()
    first, *others = default.obligations
    return attrs.evolve(
        default, obligations=(attrs.evolve(first, warnings=ladder, on_breach=()), *others)
    )


def created(engine: Engine, lead: str = "L-1") -> None:
    engine.apply(
        LeadCreated(id=f"c-{lead}", lead=lead, at=MONDAY_9, fields={"email": "a@b", "score": 80})
    )


def first_touch(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if "first-touch" in e.origin]


def test_each_step_fires_in_order_at_its_time_with_its_actions() -> None:
    engine = Engine(laddered())
    created(engine)
    owner = engine.lead("L-1").owner
    assert owner is not None
    assert owner.person is not None
    said = first_touch(engine.advance(datetime(2026, 3, 6, tzinfo=HELSINKI)))
    steps = [
        (type(e).__name__, e.at.astimezone(HELSINKI).strftime("%a %H:%M"), getattr(e, "to", ""))
        for e in said
        if isinstance(e, LADDER_EFFECTS)
    ]
    assert steps == [
        ("ObligationWarned", "Mon 12:00", ""),  # 75 % of 4 business hours
        ("ActionRequested", "Mon 12:00", owner.person),
        ("ObligationWarned", "Mon 12:30", ""),
        ("ActionRequested", "Mon 12:30", "sam"),  # the manager, by name
        ("ObligationBreached", "Mon 13:00", ""),
        ("ObligationEscalated", "Mon 14:00", ""),
        ("ActionRequested", "Mon 14:00", "sam"),
        ("ObligationEscalated", "Tue 13:00", ""),
        ("ActionRequested", "Tue 13:00", "sam"),
        ("ObligationEscalated", "Wed 13:00", ""),
    ]
    [reassigned] = [e for e in said if isinstance(e, OwnerChanged)]
    assert reassigned.previous == owner
    assert reassigned.owner != owner
    escalations = [e for e in said if isinstance(e, ObligationEscalated)]
    assert [e.step for e in escalations] == [3, 4, 5]
    assert [e.origin.rsplit(":", 1)[1] for e in escalations] == [
        "escalation1",
        "escalation2",
        "escalation3",
    ]


def test_meeting_the_clock_late_stops_the_ladder() -> None:
    engine = Engine(laddered())
    created(engine)
    engine.advance(datetime(2026, 3, 2, 14, 30, tzinfo=HELSINKI))  # breached, escalated once
    engine.apply(
        ActivityLogged(
            id="call",
            lead="L-1",
            at=datetime(2026, 3, 2, 15, tzinfo=HELSINKI),
            kind="call",
            by=engine.lead("L-1").owner.person,  # type: ignore[union-attr]
        )
    )
    later = first_touch(engine.advance(datetime(2026, 3, 9, tzinfo=HELSINKI)))
    assert not [e for e in later if isinstance(e, (ObligationEscalated, ActionRequested))]


def test_upcoming_escalations_are_listed_with_the_deadline() -> None:
    engine = Engine(laddered())
    created(engine)
    due = [
        (item.kind, item.at.astimezone(HELSINKI).strftime("%a %H:%M"))
        for item in engine.due(datetime(2026, 3, 4, 14, tzinfo=HELSINKI))
        if item.obligation == "first-touch"
    ]
    assert due == [
        ("warning", "Mon 12:00"),
        ("warning", "Mon 12:30"),
        ("deadline", "Mon 13:00"),
        ("escalation", "Mon 14:00"),
        ("escalation", "Tue 13:00"),
        ("escalation", "Wed 13:00"),
    ]


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 4 * 24 * 60), max_size=12),
    restore=st.booleans(),
)
def test_ladders_fire_in_order_and_each_action_once_however_time_is_advanced(
    cuts: list[int], restore: bool
) -> None:
    """Advancing in many small steps (and restoring the engine from a snapshot between them)
    gives exactly the effects of one big step: every step once, in the ladder's order."""
    agreement = laddered()
    whole = Engine(agreement)
    created(whole)
    created(whole, "L-2")
    end = datetime(2026, 3, 6, tzinfo=HELSINKI)
    expected = [effect_to_dict(e) for e in whole.advance(end)]

    pieces = Engine(agreement)
    created(pieces)
    created(pieces, "L-2")
    said: list[dict[str, object]] = []
    for minutes in sorted(cuts):
        said += [effect_to_dict(e) for e in pieces.advance(MONDAY_9 + timedelta(minutes=minutes))]
        if restore:
            kept = snapshot.load(*snapshot.dump(pieces.state()))  # as a store keeps it
            pieces = Engine.restored(kept, agreement)
    said += [effect_to_dict(e) for e in pieces.advance(end)]
    assert said == expected
    counted = Counter(
        (e["lead"], e["origin"], e["type"], e.get("to"))
        for e in said
        if e["type"] != "owner_changed"
    )
    assert all(count == 1 for count in counted.values())


def test_the_ladder_round_trips_through_the_file_and_reads_in_plain_words() -> None:
    agreement = laddered()
    assert Agreement.from_toml_text(agreement_to_toml(agreement)) == agreement
    sentence = obligation_sentence(agreement, agreement.obligations[0])
    assert "Warnings: when 75% of the time is used: the lead's owner is notified; 30" in sentence
    assert "After the deadline, while not met: 1 business hour after: escalate to" in sentence
    assert "2 business days after: the lead is reassigned" in sentence


def spec(*ladder: Warn) -> ObligationSpec:
    return ObligationSpec(
        name="callback",
        party="sales",
        starts=When(states="mql"),
        met=When(events="activity"),
        within="4 business hours",
        warnings=ladder,
    )


@pytest.mark.parametrize(
    ("ladder", "position", "above"),
    [
        ((Warn(after="1 business day"), Warn(before="1 business hour")), 1, "1 business day after"),
        ((Warn(after="2 business days"), Warn(after="1 business day")), 1, "2 business days"),
        ((Warn(before="1 business hour"), Warn(before="2 business hours")), 1, "1 business hour"),
        ((Warn(fraction=0.9), Warn(fraction=0.5)), 1, "90%"),
    ],
)
def test_a_step_listed_after_a_later_step_is_refused(
    ladder: tuple[Warn, ...], position: int, above: str
) -> None:
    with pytest.raises(ObligationError) as caught:
        spec(*ladder)
    [problem] = caught.value.problems
    assert problem.field == f"obligations.callback.warnings[{position}]"
    assert "comes before the step listed above it" in problem.message
    assert above in problem.message
    assert "in the order they come" in problem.fix


def test_a_step_needs_exactly_one_time_and_a_positive_one() -> None:
    with pytest.raises(ObligationError, match="gives both before and after"):
        Warn(before="1 business hour", after="1 business hour")
    with pytest.raises(ObligationError, match="for a step at the deadline, use on_breach"):
        Warn(after="0 business hours")


def test_a_ladders_actions_name_people_and_triggers_the_agreement_has() -> None:
    default = Agreement.default()
    first, *others = default.obligations
    bad = attrs.evolve(first, warnings=(Warn(after="1 business day", actions=Escalate("zoe")),))
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(default, obligations=(bad, *others))
    assert "obligations.first-touch.warnings[0].actions" in str(caught.value)
    assert "'zoe'" in str(caught.value)


def test_a_lead_that_leaves_the_partys_hands_is_no_longer_escalated() -> None:
    """Lost (closed), or handed to another team: the breach stays, the chase stops."""
    engine = Engine(laddered())
    created(engine)
    engine.advance(datetime(2026, 3, 2, 14, 30, tzinfo=HELSINKI))  # breached, escalated once
    rep = engine.lead("L-1").owner.person  # type: ignore[union-attr]
    at = datetime(2026, 3, 2, 15, tzinfo=HELSINKI)
    engine.apply(
        TransitionRequested(id="t", lead="L-1", at=at, trigger="reject", by=rep, reason="x")
    )
    assert engine.lead("L-1").state != "mql"
    later = first_touch(engine.advance(datetime(2026, 3, 9, tzinfo=HELSINKI)))
    assert not [e for e in later if isinstance(e, (ObligationEscalated, ActionRequested))]
    assert not [
        d for d in engine.due(datetime(2026, 3, 9, tzinfo=HELSINKI)) if d.kind == "escalation"
    ]
    clock = engine.lead("L-1").obligation("first-touch")
    assert clock is not None
    assert clock.status == "breached"


def test_steps_after_the_deadline_come_in_time_order_whatever_their_kind_of_time() -> None:
    """'1 business hour' and '2 hours' after a Friday 16:30 deadline: the second comes first
    (Friday 18:30; the first waits for Monday's opening), and Engine.due says the same."""
    default = Agreement.default()
    accept = attrs.evolve(
        default.obligations[1],
        warnings=(
            Warn(after="1 business hour", actions=Notify("sam", "A")),
            Warn(after="2 hours", actions=Notify("sam", "B")),
        ),
    )
    engine = Engine(attrs.evolve(default, obligations=(accept,)))
    thursday = datetime(2026, 3, 5, 16, 30, tzinfo=HELSINKI)
    engine.apply(LeadCreated(id="c", lead="L", at=thursday, fields={"email": "a@b", "score": 80}))
    listed = [
        (d.at.astimezone(HELSINKI).strftime("%a %H:%M"), d.kind)
        for d in engine.due(datetime(2026, 3, 10, tzinfo=HELSINKI))
        if d.kind == "escalation"
    ]
    assert listed == [("Fri 18:30", "escalation"), ("Mon 09:30", "escalation")]
    said = [
        (e.at.astimezone(HELSINKI).strftime("%a %H:%M"), e.message)
        for e in engine.advance(datetime(2026, 3, 10, tzinfo=HELSINKI))
        if isinstance(e, ActionRequested) and e.action == "notify"
    ]
    assert said == [("Fri 18:30", "B"), ("Mon 09:30", "A")]


def test_a_business_step_on_a_calendar_time_obligation_counts_on_the_calendar() -> None:
    default = Agreement.default()
    nurture = attrs.evolve(
        default.obligations[3],
        within="2 days",
        warnings=(Warn(before="1 business day"), Warn(after="1 business hour")),
    )
    engine = Engine(attrs.evolve(default, obligations=(nurture,)))
    thursday = datetime(2026, 3, 5, 10, tzinfo=HELSINKI)
    engine.apply(LeadCreated(id="c", lead="L", at=thursday, fields={"email": "a@b", "score": 80}))
    engine.apply(
        TransitionRequested(id="n", lead="L", at=thursday, trigger="nurture", reason="later")
    )
    office = default.calendars["office"]
    due = thursday + timedelta(days=2)  # Saturday 10:00
    found = {d.kind: d.at for d in engine.due(datetime(2026, 3, 12, tzinfo=HELSINKI))}
    assert found["deadline"] == due
    assert found["warning"] == office.add(due, -Duration.parse("1 business day"))
    assert found["escalation"] == office.add(due, Duration.parse("1 business hour"))
    assert found["escalation"] == datetime(2026, 3, 9, 10, tzinfo=HELSINKI)  # Monday 10:00


def test_a_breached_clock_migrates_to_the_new_versions_ladder() -> None:
    """Escalations to come under version 1; version 2 has no ladder, or not the obligation:
    nothing more is escalated, and the engine goes on."""
    default = Agreement.default()
    ladder = (
        Warn(after="1 business hour", actions=Notify("sam", "A")),
        Warn(after="3 business hours", actions=Notify("sam", "B")),
    )
    first = attrs.evolve(
        default, obligations=(attrs.evolve(default.obligations[1], warnings=ladder),)
    )
    for obligations in ((default.obligations[1],), (default.obligations[0],)):
        second = attrs.evolve(
            first, version="2", effective=date(2026, 3, 3), obligations=obligations
        )
        engine = Engine(Versions([first, second]))
        engine.apply(
            LeadCreated(id="c", lead="L", at=MONDAY_9, fields={"email": "a@b", "score": 80})
        )
        engine.advance(datetime(2026, 3, 3, 10, 30, tzinfo=HELSINKI))  # breached, one escalation
        engine.apply(
            LeadMigrated(id="m", lead="L", at=datetime(2026, 3, 3, 11, tzinfo=HELSINKI), to="2")
        )
        later = engine.advance(datetime(2026, 3, 4, 15, tzinfo=HELSINKI))
        assert not [e for e in later if isinstance(e, (ObligationEscalated, ActionRequested))]
        engine.apply(
            LeadCreated(id="c2", lead="M", at=datetime(2026, 3, 4, 16, tzinfo=HELSINKI), fields={})
        )  # the engine goes on
