"""The engine: the default agreement's scenarios (docs/explanation/sla-clocks.md), events,
rejections, idempotency, order (docs/explanation/engine.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    ActionRequested,
    ActivityLogged,
    Agreement,
    BusinessCalendar,
    Duplicate,
    Effect,
    Engine,
    EventError,
    EventRejected,
    LeadCreated,
    LeadUpdated,
    ObligationBreached,
    ObligationCancelled,
    ObligationMet,
    ObligationOpened,
    ObligationPaused,
    ObligationResumed,
    ObligationSpec,
    ObligationWarned,
    Owner,
    OwnerAssigned,
    PauseWhile,
    Rejected,
    Transitioned,
    TransitionRequested,
    Warn,
    When,
    effect_to_dict,
    scorecard,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
MQL_FIELDS = {"email": "ann@acme.com", "score": 62}


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=HELSINKI)  # type: ignore[arg-type, misc]


class Log:
    """Numbers event ids so tests read as a sequence of facts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def _id(self) -> str:
        self.count += 1
        return f"e{self.count}"

    def created(self, lead: str, when: datetime, **fields: Any) -> list[Effect]:
        return self.engine.apply(LeadCreated(id=self._id(), lead=lead, at=when, fields=fields))

    def updated(self, lead: str, when: datetime, **fields: Any) -> list[Effect]:
        return self.engine.apply(LeadUpdated(id=self._id(), lead=lead, at=when, fields=fields))

    def call(self, lead: str, when: datetime, outcome: str, by: str) -> list[Effect]:
        return self.engine.apply(
            ActivityLogged(id=self._id(), lead=lead, at=when, kind="call", outcome=outcome, by=by)
        )

    def fire(self, lead: str, when: datetime, trigger: str, **extra: Any) -> list[Effect]:
        return self.engine.apply(
            TransitionRequested(id=self._id(), lead=lead, at=when, trigger=trigger, **extra)
        )


def of_type(effects: list[Effect], kind: type[Effect]) -> list[Any]:
    return [effect for effect in effects if isinstance(effect, kind)]


def mql_on_friday() -> tuple[Log, list[Effect]]:
    log = Log(Engine())
    return log, log.created("L-1", at(2026, 3, 6, 16, 0), **MQL_FIELDS)


# -- the acceptance scenarios -------------------------------------------------------------


def test_friday_mql_deadlines() -> None:
    """MQL on Friday 2026-03-06 16:00: first-touch due Monday 12:00 (warning 11:00),
    accept-or-reject due Monday 16:00."""
    log, effects = mql_on_friday()
    opened = {e.obligation: e.due_at for e in of_type(effects, ObligationOpened)}
    assert opened["first-touch"] == at(2026, 3, 9, 12, 0)
    assert opened["accept-or-reject"] == at(2026, 3, 9, 16, 0)
    due = [(d.kind, d.obligation, d.at) for d in log.engine.due(at(2026, 3, 9, 16, 0))]
    assert due == [
        ("warning", "first-touch", at(2026, 3, 9, 11, 0)),
        ("deadline", "first-touch", at(2026, 3, 9, 12, 0)),
        ("deadline", "accept-or-reject", at(2026, 3, 9, 16, 0)),
    ]
    warned = log.engine.advance(at(2026, 3, 9, 11, 0))
    assert [(type(e), e.at) for e in warned] == [(ObligationWarned, at(2026, 3, 9, 11, 0))]


def test_a_call_before_the_deadline_meets_first_touch() -> None:
    """A call attempt on Monday 11:30 meets first-touch; nothing breaches at 12:00."""
    log, _ = mql_on_friday()
    rep = log.engine.lead("L-1").owner
    assert rep is not None
    effects = log.call("L-1", at(2026, 3, 9, 11, 30), "no_answer", by=rep.person or "")
    met = of_type(effects, ObligationMet)
    assert [(e.obligation, e.late) for e in met] == [("first-touch", False)]
    assert of_type(log.engine.advance(at(2026, 3, 9, 12, 0)), ObligationBreached) == []
    assert log.engine.lead("L-1").obligation("first-touch").status == "met"  # type: ignore[union-attr]


def test_with_no_activity_first_touch_breaches_once_and_blames_the_rep() -> None:
    """advance to Monday 12:00 gives exactly one breach, attributed to the assigned rep."""
    log, _ = mql_on_friday()
    rep = log.engine.lead("L-1").owner
    effects = log.engine.advance(at(2026, 3, 9, 12, 0))
    breaches = of_type(effects, ObligationBreached)
    assert [(b.obligation, b.at, b.owner) for b in breaches] == [
        ("first-touch", at(2026, 3, 9, 12, 0), rep)
    ]
    assert rep is not None
    assert rep.team == "sales"
    assert rep.person in ("alice", "bob", "carol")
    state = log.engine.lead("L-1").obligation("first-touch")
    assert state is not None
    assert (state.status, state.breached_at, state.breach_owner) == (
        "breached",
        at(2026, 3, 9, 12, 0),
        rep,
    )
    escalations = of_type(effects, ActionRequested)
    assert [(a.action, a.to) for a in escalations] == [("escalate", "sam")]
    assert of_type(log.engine.advance(at(2026, 3, 9, 12, 30)), ObligationBreached) == []


def test_six_unanswered_calls_hand_the_lead_back() -> None:
    """After accept, six no_answer calls hand the lead back with no-contact-after-6-attempts;
    attempts counts as met and no sales obligation is left open."""
    log, _ = mql_on_friday()
    rep = log.engine.lead("L-1").owner
    assert rep is not None
    assert rep.person is not None
    log.fire("L-1", at(2026, 3, 9, 9, 30), "accept", by=rep.person)
    effects: list[Effect] = []
    for hour in range(10, 16):
        effects = log.call("L-1", at(2026, 3, 9, hour, 0), "no_answer", by=rep.person)
    view = log.engine.lead("L-1")
    assert view.state == "handback"
    assert view.lead.history[-1].reason == "no-contact-after-6-attempts"
    assert view.owner == Owner("marketing", "mia")
    attempts = view.obligation("attempts")
    assert attempts is not None
    assert (attempts.status, attempts.attempts) == ("met", 6)
    assert [o.name for o in view.obligations if o.party == "sales" and o.is_open] == []
    assert [type(e) for e in effects[:3]] == [ObligationMet, Transitioned, type(effects[2])]


def test_a_connected_call_meets_attempts_and_the_lead_stays() -> None:
    """One connected call: attempts met (reached), the lead stays in sal with its rep."""
    log, _ = mql_on_friday()
    rep = log.engine.lead("L-1").owner
    assert rep is not None
    assert rep.person is not None
    log.fire("L-1", at(2026, 3, 9, 9, 30), "accept", by=rep.person)
    log.call("L-1", at(2026, 3, 9, 10, 0), "no_answer", by=rep.person)
    effects = log.call("L-1", at(2026, 3, 9, 11, 0), "connected", by=rep.person)
    met = of_type(effects, ObligationMet)
    assert [(m.obligation, m.outcome) for m in met] == [
        ("attempts", f"reached: call (connected) by {rep.person}")
    ]
    view = log.engine.lead("L-1")
    assert (view.state, view.owner) == ("sal", rep)


def test_a_need_nine_months_away_moves_the_lead_to_nurture() -> None:
    """need_months 9 while in sal: nurture, owner marketing; sales clocks cancelled, not
    breached; nurture-review opens."""
    log, _ = mql_on_friday()
    log.fire("L-1", at(2026, 3, 9, 9, 30), "accept")
    effects = log.updated("L-1", at(2026, 3, 9, 10, 0), need_months=9)
    view = log.engine.lead("L-1")
    assert (view.state, view.owner) == ("nurture", Owner("marketing", "mia"))
    cancelled = {e.obligation for e in of_type(effects, ObligationCancelled)}
    assert cancelled == {"first-touch", "attempts"}
    assert of_type(effects, ObligationBreached) == []
    assert [e.obligation for e in of_type(effects, ObligationOpened)] == ["nurture-review"]
    review = view.obligation("nurture-review")
    assert review is not None
    assert review.due_at == at(2026, 4, 8, 10, 0)  # 30 calendar days, same wall-clock time
    assert of_type(log.engine.advance(at(2026, 3, 31)), ObligationBreached) == []


def test_christmas_holidays_are_skipped() -> None:
    """MQL on Wednesday 2026-12-23 15:00 with the 24th and 25th off: first-touch due Monday
    2026-12-28 11:00."""
    default = Agreement.default()
    office = BusinessCalendar(
        tz="Europe/Helsinki",
        week={day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=["2026-12-24", "2026-12-25"],
    )
    engine = Engine(attrs.evolve(default, calendars={"office": office}))
    effects = engine.apply(
        LeadCreated(id="e1", lead="L-1", at=at(2026, 12, 23, 15, 0), fields=MQL_FIELDS)
    )
    opened = {e.obligation: e.due_at for e in of_type(effects, ObligationOpened)}
    assert opened["first-touch"] == at(2026, 12, 28, 11, 0)


def test_a_pause_of_two_business_hours_moves_the_deadline_two_business_hours() -> None:
    """An obligation paused for two business hours is due two business hours later."""
    default = Agreement.default()
    callback = ObligationSpec(
        name="callback",
        party="sales",
        starts=When(states="mql"),
        met=When(activity=None, events=("assign",)),
        pause=PauseWhile(condition="on_hold == true"),
        within="4 business hours",
        calendar="office",
        warnings=[Warn(before="1 business hour")],
    )
    engine = Engine(
        attrs.evolve(
            default, obligations=(callback,), fields={**default.fields, "on_hold": "boolean"}
        )
    )
    log = Log(engine)
    log.created("L-1", at(2026, 3, 2, 9, 0), **MQL_FIELDS)
    assert engine.lead("L-1").obligation("callback").due_at == at(2026, 3, 2, 13, 0)  # type: ignore[union-attr]
    paused = log.updated("L-1", at(2026, 3, 2, 10, 0), on_hold=True)
    assert of_type(paused, ObligationPaused)
    assert engine.due(at(2026, 3, 3)) == []  # a paused clock has no timers
    resumed = log.updated("L-1", at(2026, 3, 2, 12, 0), on_hold=False)
    [resume] = of_type(resumed, ObligationResumed)
    assert resume.due_at == at(2026, 3, 2, 15, 0)
    state = engine.lead("L-1").obligation("callback")
    assert state is not None
    assert state.pauses == ((at(2026, 3, 2, 10, 0), at(2026, 3, 2, 12, 0)),)
    assert [(d.kind, d.at) for d in engine.due(at(2026, 3, 3))] == [
        ("warning", at(2026, 3, 2, 14, 0)),
        ("deadline", at(2026, 3, 2, 15, 0)),
    ]


# -- more obligation behaviour -----------------------------------------------------------


def test_a_late_meeting_is_recorded_as_met_late_with_its_lateness() -> None:
    """A first touch after the breach stays a breach and records the lateness in business time."""
    log, _ = mql_on_friday()
    log.engine.advance(at(2026, 3, 9, 12, 0))
    effects = log.call("L-1", at(2026, 3, 9, 14, 30), "no_answer", by="bob")
    [met] = [e for e in of_type(effects, ObligationMet) if e.obligation == "first-touch"]
    assert (met.late, met.lateness) == (True, timedelta(hours=2, minutes=30))
    state = log.engine.lead("L-1").obligation("first-touch")
    assert state is not None
    assert (state.status, state.breached_at, state.lateness) == (
        "met_late",
        at(2026, 3, 9, 12, 0),
        timedelta(hours=2, minutes=30),
    )


def test_accept_or_reject_is_met_by_either() -> None:
    """Accepting meets accept-or-reject; so does rejecting (which also hands the lead back)."""
    log, _ = mql_on_friday()
    effects = log.fire("L-1", at(2026, 3, 9, 10, 0), "reject", reason="not-a-fit")
    met = [e.obligation for e in of_type(effects, ObligationMet)]
    assert met == ["accept-or-reject"]
    assert log.engine.lead("L-1").state == "handback"


def test_nurture_review_repeats_every_thirty_days() -> None:
    """A marketing review meets nurture-review and opens the next thirty-day clock."""
    log = Log(Engine())
    log.created("L-1", at(2026, 3, 2, 9, 0), **MQL_FIELDS, need_months=12)
    assert log.engine.lead("L-1").state == "nurture"
    effects = log.engine.apply(
        ActivityLogged(id="r1", lead="L-1", at=at(2026, 3, 20, 10, 0), kind="email", by="mia")
    )
    assert [(type(e).__name__, getattr(e, "obligation", None)) for e in effects] == [
        ("ObligationMet", "nurture-review"),
        ("ObligationOpened", "nurture-review"),
    ]
    second = log.engine.lead("L-1").obligation("nurture-review")
    assert second is not None
    assert (second.number, second.due_at) == (2, at(2026, 4, 19, 10, 0))


def test_a_warning_by_fraction_of_the_time() -> None:
    """``Warn(fraction=0.75)`` fires when three quarters of the time is used."""
    default = Agreement.default()
    spec = ObligationSpec(
        name="quick",
        party="sales",
        starts=When(states="mql"),
        met=When(states="sal"),
        within="4 business hours",
        calendar="office",
        warnings=[Warn(fraction="0.75")],
    )
    engine = Engine(attrs.evolve(default, obligations=(spec,)))
    Log(engine).created("L-1", at(2026, 3, 2, 9, 0), **MQL_FIELDS)
    assert [(d.kind, d.at) for d in engine.due(at(2026, 3, 3))] == [
        ("warning", at(2026, 3, 2, 12, 0)),
        ("deadline", at(2026, 3, 2, 13, 0)),
    ]


# -- events in, effects out ----------------------------------------------------------------


def test_duplicate_event_ids_are_acknowledged_and_ignored() -> None:
    """The same id twice: the second is a Duplicate and changes nothing."""
    engine = Engine()
    event = LeadCreated(id="e1", lead="L-1", at=at(2026, 3, 2, 9), fields=MQL_FIELDS)
    engine.apply(event)
    before = engine.lead("L-1")
    assert engine.apply(event) == [Duplicate("L-1", event.at, "e1")]
    assert engine.lead("L-1") == before


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            LeadUpdated(id="u", lead="L-9", at=at(2026, 3, 2, 10), fields={"score": 1}),
            "'lead' is unknown (got 'L-9'); send its lead_created event first",
        ),
        (
            LeadCreated(id="c", lead="L-1", at=at(2026, 3, 2, 10), fields={}),
            "'lead' already exists (got 'L-1'); send lead_updated to change its fields",
        ),
        (
            TransitionRequested(id="t", lead="L-1", at=at(2026, 3, 2, 10), trigger="win"),
            "'trigger' cannot move lead L-1 from 'mql' (got 'win')",
        ),
        (
            TransitionRequested(id="t", lead="L-1", at=at(2026, 3, 2, 10), trigger="acept"),
            "'trigger' is not a known trigger (got 'acept')",
        ),
        (
            OwnerAssigned(id="a", lead="L-1", at=at(2026, 3, 2, 10), owner="bbo"),
            "'owner' is not a known member of team 'sales', which owns leads in 'mql' (got 'bbo')",
        ),
        (
            TransitionRequested(id="t", lead="L-1", at=at(2026, 3, 2, 8), trigger="accept"),
            "'lead' is unknown (got 'L-1'); send its lead_created event first",
        ),
        (
            TransitionRequested(id="t", lead="L-1", at=at(2026, 3, 1, 8), trigger="accept"),
            "'at' is older than the allowed lateness (got 2026-03-01 08:00:00+02:00); the "
            "engine's clock is at 2026-03-02T09:00:00+02:00 and the allowed lateness is "
            "1 day, 0:00:00, so the oldest event it takes is at 2026-03-01T09:00:00+02:00",
        ),
    ],
)
def test_bad_events_are_rejected_and_change_nothing(event: Any, reason: str) -> None:
    """Unknown lead, existing lead, illegal or unknown trigger, unknown owner, before the
    lead existed (a late event put in its place), older than the allowed lateness."""
    engine = Engine()
    engine.apply(LeadCreated(id="e1", lead="L-1", at=at(2026, 3, 2, 9), fields=MQL_FIELDS))
    engine.advance(event.at if event.at > at(2026, 3, 2, 9) else at(2026, 3, 2, 9))
    before = engine.lead("L-1")
    effects = engine.apply(event)
    [rejected] = effects
    assert isinstance(rejected, Rejected)
    assert reason in rejected.reason
    assert rejected.event == event.id
    assert engine.lead("L-1") == before
    # A rejected id is not remembered: the fixed event can be sent again with the same id.
    assert event.id not in engine._seen


def test_bad_json_is_rejected_with_every_problem() -> None:
    """A malformed line lists its problems and names the event and lead it could read."""
    engine = Engine()
    [rejected] = engine.apply_json(
        '{"id": "e7", "type": "activty", "lead": "L-1", "at": "2026-03-02T12:00:00"}'
    )
    assert isinstance(rejected, Rejected)
    assert (rejected.event, rejected.lead) == ("e7", "L-1")
    assert "did you mean 'activity'?" in rejected.reason
    assert "'at' must be timezone-aware (got '2026-03-02T12:00:00')" in rejected.reason
    [not_json] = engine.apply_json("{not json")
    assert isinstance(not_json, Rejected)
    assert "is not JSON" in not_json.reason


def test_strict_engine_raises_a_typed_error() -> None:
    """With strict=True a bad event raises EventRejected carrying the Rejected effect."""
    engine = Engine(strict=True)
    with pytest.raises(EventRejected, match="is unknown") as caught:
        engine.apply(LeadUpdated(id="u", lead="L-9", at=at(2026, 3, 2, 10), fields={}))
    assert isinstance(caught.value.effect, Rejected)
    [problem] = caught.value.problems  # names the lead, not the event id; the fix said once
    assert (problem.field, problem.value) == ("lead", "L-9")
    assert str(problem) == "'lead' is unknown (got 'L-9'); send its lead_created event first"


def test_a_json_line_lists_its_key_and_value_problems_together() -> None:
    """A misspelt key, a bad time and badly typed values are all named in one rejection."""
    [rejected] = Engine().apply_json(
        '{"id": 7, "type": "activity", "lead": "L-1", "at": "yesterday", "kind": 5, "outcom": 1}'
    )
    assert isinstance(rejected, Rejected)
    assert [problem.field for problem in rejected.details] == ["outcom", "at", "id", "kind"]
    assert "is not a key of an activity event" in rejected.reason


@pytest.mark.parametrize("fields", ["null", "[1]", '"score"', "7"])
def test_fields_that_are_not_an_object_are_rejected(fields: str) -> None:
    """A JSON ``fields`` that is not an object is a Rejected effect, not a crash."""
    line = (
        '{"id": "e1", "type": "lead_created", "lead": "L-1", '
        f'"at": "2026-03-02T09:15:00+02:00", "fields": {fields}}}'
    )
    engine = Engine()
    [rejected] = engine.apply_json(line)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("'fields' must be an object")
    assert list(engine.leads()) == []
    with pytest.raises(EventError, match="'fields' must be an object"):
        LeadUpdated(id="u", lead="L-1", at=at(2026, 3, 2, 10), fields=None)  # type: ignore[arg-type]


def test_timers_due_by_an_event_fire_before_it() -> None:
    """An event after the deadline first gets the breach, then its own effects."""
    log, _ = mql_on_friday()
    effects = log.call("L-1", at(2026, 3, 9, 13, 0), "no_answer", by="bob")
    kinds = [type(e).__name__ for e in effects]
    assert kinds[:3] == ["ObligationWarned", "ObligationBreached", "ActionRequested"]
    assert kinds.index("ObligationBreached") < kinds.index("ObligationMet")


def test_simultaneous_timers_fire_in_a_documented_order() -> None:
    """At one instant: warnings before deadlines, then by lead id, then opening order."""
    engine = Engine()
    for lead in ("L-2", "L-1"):
        engine.apply(
            LeadCreated(id=f"c-{lead}", lead=lead, at=at(2026, 3, 6, 16), fields=MQL_FIELDS)
        )
    effects = engine.advance(at(2026, 3, 9, 16, 0))
    order = [
        (type(e).__name__, e.lead, getattr(e, "obligation", None))
        for e in effects
        if not isinstance(e, ActionRequested)
    ]
    assert order == [
        ("ObligationWarned", "L-1", "first-touch"),
        ("ObligationWarned", "L-2", "first-touch"),
        ("ObligationBreached", "L-1", "first-touch"),
        ("ObligationBreached", "L-2", "first-touch"),
        ("ObligationBreached", "L-1", "accept-or-reject"),
        ("ObligationBreached", "L-2", "accept-or-reject"),
    ]


def test_events_round_trip_through_json() -> None:
    """``from_json(to_json())`` gives the same event, and the same bytes again."""
    events = [
        LeadCreated(id="e1", lead="L-1", at=at(2026, 3, 2, 9), fields={"email": "ä@b.fi", "n": 1}),
        LeadUpdated(id="e2", lead="L-1", at=at(2026, 3, 2, 10), fields={"score": None}),
        ActivityLogged(
            id="e3", lead="L-1", at=at(2026, 3, 2, 11), kind="call", outcome="connected", by="bob"
        ),
        TransitionRequested(
            id="e4", lead="L-1", at=at(2026, 3, 2, 12), trigger="nurture", reason="later"
        ),
        OwnerAssigned(id="e5", lead="L-1", at=at(2026, 3, 2, 13), owner=None, by="sam"),
    ]
    from leadsla import Event

    for event in events:
        text = event.to_json()
        again = Event.from_json(text)
        assert again == event
        assert again.to_json() == text


def test_naive_and_missing_values_are_refused_when_an_event_is_made() -> None:
    """Events check themselves: a naive time or an empty id names the field and the fix."""
    from leadsla import EventError

    with pytest.raises(EventError) as caught:
        LeadCreated(id="", lead="L-1", at=datetime(2026, 3, 2, 9))
    assert [p.field for p in caught.value.problems] == ["id", "at"]
    assert "'at' must be timezone-aware (got 2026-03-02 09:00:00); add a UTC offset" in str(
        caught.value
    )


def test_effects_serialise_to_plain_json() -> None:
    """Every effect becomes a plain dict with its type; explanations become text lines."""
    import json

    _, effects = mql_on_friday()
    rendered = [effect_to_dict(e) for e in effects]
    assert rendered[0]["type"] == "transitioned"
    fired = next(r for r in rendered if r["type"] == "rule_fired")
    assert fired["explanation"] == [
        "rule auto-qualify: mql -> True",
        "  mql: score >= 50 -> True (score = 62)",
    ]
    json.dumps(rendered)  # every value is JSON-ready


def test_volumes_count_mqls_per_month_and_their_acceptance() -> None:
    """The mql-volume commitment counts MQLs per month, and how many sales accepted."""
    log = Log(Engine())
    log.created("A", at(2026, 3, 2, 9), **MQL_FIELDS)
    log.created("B", at(2026, 3, 3, 9), **MQL_FIELDS)
    log.created("C", at(2026, 4, 1, 9), **MQL_FIELDS)
    log.created("D", at(2026, 4, 1, 10), email="d@e.fi", score=10)
    log.fire("A", at(2026, 4, 2, 9), "accept")
    [march, april] = log.engine.volumes()
    assert (march.period, march.delivered, march.accepted, march.target) == ("2026-03", 2, 1, 150)
    assert march.accepted_share == 0.5
    assert (april.period, april.delivered, april.accepted) == ("2026-04", 1, 0)
    assert not march.met


def test_a_lead_counts_once_per_period_however_often_it_returns() -> None:
    """Requalified and accepted again in the same month: one MQL delivered, one accepted."""
    log = Log(Engine())
    log.created("A", at(2026, 3, 2, 9), **MQL_FIELDS)
    log.fire("A", at(2026, 3, 2, 10), "accept")
    log.fire("A", at(2026, 3, 2, 11), "hand_back", reason="later")
    log.fire("A", at(2026, 3, 3, 11), "requalify", reason="interested again")
    log.fire("A", at(2026, 3, 3, 12), "accept")
    log.fire("A", at(2026, 4, 1, 12), "hand_back", reason="later")
    log.fire("A", at(2026, 4, 2, 11), "requalify", reason="back")
    [march, april] = log.engine.volumes()
    assert (march.delivered, march.accepted) == (1, 1)
    assert (april.delivered, april.accepted) == (1, 0)


def test_time_order_is_the_order_of_instants_even_across_a_dst_change() -> None:
    """Two datetimes of one zone compare by wall clock; the engine compares instants.

    On 2026-03-29 Helsinki's clocks go from 03:00 to 04:00. 03:59 that day does not exist: as a
    zoned datetime it reads with the winter offset (01:59 UTC), after 04:00 EEST (01:00 UTC).
    """
    wall_first = datetime(2026, 3, 29, 3, 59, tzinfo=HELSINKI)
    wall_second = datetime(2026, 3, 29, 4, 0, tzinfo=HELSINKI)
    assert wall_first < wall_second  # by wall clock
    assert wall_first.timestamp() > wall_second.timestamp()  # by instant
    for first, second in [
        (wall_first, wall_second),
        (wall_first.astimezone(UTC), wall_second.astimezone(UTC)),
    ]:
        engine = Engine(allowed_lateness=timedelta(0))
        engine.apply(LeadCreated(id="e1", lead="L-1", at=first, fields=MQL_FIELDS))
        effects = engine.apply(LeadUpdated(id="e2", lead="L-1", at=second, fields={"score": 70}))
        (rejected,) = effects
        assert isinstance(rejected, Rejected)
        assert "is older than the allowed lateness" in rejected.reason
        assert engine.clock == first
        assert engine.advance(second) == []
        assert engine.clock == first


def test_a_lead_accepted_twice_at_one_instant_counts_once() -> None:
    """Two moves with equal fields at one instant are two history entries: the tally finds
    each by identity, so the second acceptance of a lead re-qualified within the period is not
    counted again (an equality search found the first entry twice and counted 2 of 1)."""
    engine = Engine()
    moment = at(2026, 3, 2, 10)
    engine.apply(LeadCreated(id="c", lead="L-1", at=moment, fields=MQL_FIELDS))
    steps = [("accept", None), ("hand_back", "r"), ("requalify", "r"), ("accept", None)]
    for number, (trigger, reason) in enumerate(steps):
        engine.apply(
            TransitionRequested(
                id=f"t{number}", lead="L-1", at=moment, trigger=trigger, reason=reason, by="bob"
            )
        )
    history = engine.lead("L-1").lead.history
    assert history[2] == history[-1]  # the two acceptances are equal values
    [volume] = engine.volumes()
    assert (volume.delivered, volume.accepted, volume.accepted_share) == (1, 1, 1.0)


def test_fields_given_as_a_proxy_over_any_mapping_can_be_updated() -> None:
    """A lead's fields are copied into a plain dict on update, whatever mapping they came in."""

    class Fields(Mapping[str, Any]):
        def __init__(self, data: dict[str, Any]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> Any:
            return self._data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    engine = Engine()
    fields = MappingProxyType(Fields({"email": "ann@acme.com", "score": 10}))
    engine.apply(LeadCreated(id="c", lead="L-1", at=at(2026, 3, 2, 10), fields=fields))
    engine.apply(LeadUpdated(id="u", lead="L-1", at=at(2026, 3, 2, 11), fields={"score": 80}))
    assert engine.lead("L-1").state == "mql"
    assert dict(engine.lead("L-1").fields) == {"email": "ann@acme.com", "score": 80}


PAUSING = attrs.evolve(
    Agreement.default(),
    obligations=(
        ObligationSpec(
            name="callback",
            party="sales",
            starts=When(states="mql"),
            met=When(events=("assign",)),
            pause=PauseWhile(condition="on_hold == true"),
            within="4 business hours",
            calendar="office",
        ),
    ),
    fields={**Agreement.default().fields, "on_hold": "boolean"},
)


def test_a_paused_clock_is_running_in_the_scorecard() -> None:
    """A paused clock is still running: the scorecard counts it."""
    engine = Engine(PAUSING)
    log = Log(engine)
    log.created("L-1", at(2026, 3, 2, 9, 0), **MQL_FIELDS)
    log.updated("L-1", at(2026, 3, 2, 10, 0), on_hold=True)
    assert engine.lead("L-1").obligations[0].status == "paused"
    [card] = scorecard(engine)
    [score] = card.obligations
    assert (score.opened, score.open) == (1, 1)
