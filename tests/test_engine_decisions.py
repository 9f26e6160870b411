"""Decide, then commit: what an input would do is worked out before anything changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    ActionSkipped,
    ActivityLogged,
    Agreement,
    Assign,
    Engine,
    Fire,
    LeadCreated,
    LeadUpdated,
    ObligationBreached,
    OwnerAssigned,
    OwnerChanged,
    Rejected,
    Rule,
    RuleSet,
    StrictRoundRobin,
    Team,
    TransitionRequested,
    UsageError,
    agreement_to_toml,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
MQL = {"email": "ann@acme.fi", "score": 62}


def created(lead: str, at: datetime, **fields: object) -> LeadCreated:
    return LeadCreated(id=f"c-{lead}", lead=lead, at=at, fields={**MQL, **fields})


def status_of(engine: Engine, obligation: str) -> str:
    clock = engine.lead("L-1").obligation(obligation)
    assert clock is not None
    return clock.status


def person_of(engine: Engine, lead: str) -> str | None:
    owner = engine.lead(lead).owner
    assert owner is not None
    return owner.person


def test_deciding_changes_nothing_until_the_decision_is_committed() -> None:
    """decide() works out the effects, timers included; the engine changes only on commit."""
    engine = Engine()
    engine.apply(created("L-1", FRIDAY))
    monday = FRIDAY + timedelta(days=3)
    call = ActivityLogged(id="a1", lead="L-1", at=monday, kind="call", by="bob")
    decision = engine.decide(call)
    assert any(isinstance(effect, ObligationBreached) for effect in decision.effects)
    assert engine.clock == FRIDAY
    assert status_of(engine, "first-touch") == "open"
    assert engine.commit(decision) == decision.effects
    assert engine.clock == monday
    assert status_of(engine, "first-touch") == "met_late"


def test_a_stale_decision_is_refused() -> None:
    """A decision made before the engine last changed cannot be committed: it would undo."""
    engine = Engine()
    first = engine.decide(created("L-1", FRIDAY))
    second = engine.decide(created("L-2", FRIDAY))
    engine.commit(first)
    with pytest.raises(UsageError) as raised:
        engine.commit(second)
    assert raised.value.field == "decision"
    assert "decide again" in str(raised.value)
    assert list(engine.leads()) == ["L-1"]


def test_the_agreement_of_an_engine_cannot_be_swapped() -> None:
    """An engine runs the agreement it was made with; another one needs another engine."""
    engine = Engine()
    with pytest.raises(AttributeError):
        engine.agreement = Agreement.default()  # type: ignore[misc]


def test_a_rule_that_reassigns_gives_the_lead_to_someone_else_under_round_robin() -> None:
    """{ reassign = true } in a rule hands the lead to another member of the owning team; with
    a stable-hash round robin it used to pick the same rep again and do nothing."""
    text = agreement_to_toml(Agreement.default()) + (
        '\n[[rules]]\nname = "rotate"\non = ["activity"]\nstates = ["mql"]\n'
        'when = "true"\nthen = [{ reassign = true }]\n'
    )
    engine = Engine(Agreement.from_toml_text(text))
    engine.apply(created("L-1", FRIDAY))
    first = engine.lead("L-1").owner
    effects = engine.apply(ActivityLogged(id="a1", lead="L-1", at=FRIDAY, kind="note", by="mia"))
    [changed] = [effect for effect in effects if isinstance(effect, OwnerChanged)]
    assert changed.previous == first
    assert engine.lead("L-1").owner != first
    assert person_of(engine, "L-1") != "mia"


def test_an_assign_event_without_an_owner_reassigns() -> None:
    """An assign event naming no owner asks the team's policy for someone else."""
    engine = Engine()
    engine.apply(created("L-1", FRIDAY))
    first = engine.lead("L-1").owner
    engine.apply(OwnerAssigned(id="o1", lead="L-1", at=FRIDAY, owner=None, by="sam"))
    assert engine.lead("L-1").owner != first


def test_reassigning_in_a_team_of_one_is_skipped_with_the_reason() -> None:
    """When no one else is left, the lead stays and the effect says why."""
    agreement = attrs.evolve(
        Agreement.default(),
        teams=(Team("marketing", ("mia",)), Team("sales", ("alice",), manager="sam")),
        rules=RuleSet(
            (
                *Agreement.default().rules.rules,
                Rule("rotate", "true", Assign(), on="activity", states="mql"),
            )
        ),
    )
    engine = Engine(agreement)
    engine.apply(created("L-1", FRIDAY))
    effects = engine.apply(ActivityLogged(id="a1", lead="L-1", at=FRIDAY, kind="note"))
    [skipped] = [effect for effect in effects if isinstance(effect, ActionSkipped)]
    assert skipped.reason == "team 'sales' has no one else to give the lead to"
    assert person_of(engine, "L-1") == "alice"


def test_a_refused_event_moves_no_rotation() -> None:
    """An event refused after owners were picked (the rules loop) leaves the strict rotation
    where it was: the next lead gets the rep it would have had without the refused event."""
    bouncing = RuleSet(
        (
            *Agreement.default().rules.rules,
            Rule("out", "score == 77", Fire("nurture", "bounce"), on="transitioned", states="mql"),
            Rule(
                "in",
                "score == 77",
                Fire("requalify", "bounce"),
                on="transitioned",
                states="nurture",
            ),
        )
    )
    sales = Team("sales", ("alice", "bob", "carol"), manager="sam", policy=StrictRoundRobin())
    agreement = attrs.evolve(
        Agreement.default(), teams=(Team("marketing", ("mia",)), sales), rules=bouncing
    )
    engine = Engine(agreement)
    engine.apply(created("L-1", FRIDAY))
    refused = engine.apply(created("L-2", FRIDAY, score=77))
    assert isinstance(refused[-1], Rejected)
    assert "more than 8 times" in refused[-1].reason
    engine.apply(created("L-3", FRIDAY))
    assert [person_of(engine, lead) for lead in ("L-1", "L-3")] == ["alice", "bob"]


def test_a_field_of_the_wrong_type_is_refused_with_the_expected_type() -> None:
    """ "score": "70" would never qualify, silently: the engine refuses it, naming the field,
    the value and the type; the lead stays as it was, and None (missing) is always fine."""
    engine = Engine()
    refused = engine.apply(created("L-1", FRIDAY, score="70"))
    assert isinstance(refused[-1], Rejected)
    assert (
        refused[-1].reason == "'fields.score' must be a number (got '70'); send 70 without quotes"
    )
    assert list(engine.leads()) == []
    engine.apply(created("L-2", FRIDAY))
    before = engine.lead("L-2")
    update = LeadUpdated(id="u1", lead="L-2", at=FRIDAY, fields={"budget_confirmed": "yes"})
    assert isinstance(engine.apply(update)[-1], Rejected)
    assert engine.lead("L-2") == before
    missing = LeadUpdated(id="u2", lead="L-2", at=FRIDAY, fields={"score": None})
    assert not any(isinstance(e, Rejected) for e in engine.apply(missing))


def test_a_refused_event_in_time_order_is_worked_out_once() -> None:
    """``apply`` works out an event in time order once, whether its lead takes it or not (a
    refused one is not worked out again to find the reasons)."""
    engine = Engine()
    stepper = engine._stepper
    worked: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(stepper, name)

        def event(self, *arguments: Any, **named: Any) -> object:
            worked.append(arguments[2].id)
            return stepper.event(*arguments, **named)

    engine._stepper = Counting()  # type: ignore[assignment]
    engine.apply(created("L-1", FRIDAY))
    wrong = TransitionRequested(
        id="t1", lead="L-1", at=FRIDAY + timedelta(minutes=1), trigger="no-such-trigger"
    )
    effects = engine.apply(wrong)
    assert isinstance(effects[-1], Rejected)
    assert "no-such-trigger" in effects[-1].reason
    assert worked == ["c-L-1", "t1"]
