"""Targets by tier: one obligation, several targets chosen by a condition over the lead."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings

from leadsla import (
    Agreement,
    AgreementError,
    Engine,
    LeadCreated,
    LeadUpdated,
    ObligationError,
    ObligationOpened,
    ObligationRetargeted,
    ObligationSpec,
    ObligationWarned,
    PauseWhile,
    Tier,
    Warn,
    When,
    effect_to_dict,
)
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla.testing import event_streams

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY_9 = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
ENTERPRISE = Tier("enterprise", "employees >= 1000", "1 business hour")
DEMO = Tier("demo", "source == 'demo'", "2 business hours")


def tiered(*tiers: Tier, retier: bool = False, within: str = "4 business hours") -> Agreement:
    """The default agreement with first-touch given ``tiers``."""
    default = Agreement.default()
    first, *others = default.obligations
    warning = Warn(fraction=0.75)  # (one hour before would come at the start of a 1-hour tier)
    changed = attrs.evolve(first, tiers=tiers, retier=retier, within=within, warnings=(warning,))
    fields = {**default.fields, "employees": "number", "source": "text"}
    return attrs.evolve(default, obligations=(changed, *others), fields=fields)


def opened(engine: Engine, lead: str, **fields: object) -> ObligationOpened:
    created = LeadCreated(
        id=f"c-{lead}", lead=lead, at=MONDAY_9, fields={"email": "a@b", "score": 80, **fields}
    )
    effects = engine.apply(created)
    [first_touch] = [
        e for e in effects if isinstance(e, ObligationOpened) and e.obligation == "first-touch"
    ]
    return first_touch


def test_the_first_tier_that_holds_sets_the_target_and_is_kept() -> None:
    engine = Engine(tiered(ENTERPRISE, DEMO))
    big = opened(engine, "L-1", employees=5000, source="demo")
    demo = opened(engine, "L-2", employees=10, source="demo")
    other = opened(engine, "L-3", employees=10, source="web")
    assert (big.tier, big.due_at) == ("enterprise", datetime(2026, 3, 2, 10, tzinfo=HELSINKI))
    assert (demo.tier, demo.due_at) == ("demo", datetime(2026, 3, 2, 11, tzinfo=HELSINKI))
    assert (other.tier, other.due_at) == ("default", datetime(2026, 3, 2, 13, tzinfo=HELSINKI))
    clock = engine.lead("L-1").obligation("first-touch")
    assert clock is not None
    assert clock.tier == "enterprise"
    assert effect_to_dict(big)["tier"] == "enterprise"


def test_a_tier_is_fixed_at_opening_by_default() -> None:
    engine = Engine(tiered(ENTERPRISE))
    opened(engine, "L-1", employees=10)
    effects = engine.apply(
        LeadUpdated(id="u", lead="L-1", at=MONDAY_9.replace(minute=30), fields={"employees": 5000})
    )
    assert not [e for e in effects if isinstance(e, ObligationRetargeted)]
    clock = engine.lead("L-1").obligation("first-touch")
    assert clock is not None
    assert (clock.tier, clock.due_at.hour) == ("default", 13)


def test_retier_chooses_again_from_the_same_start() -> None:
    engine = Engine(tiered(ENTERPRISE, retier=True))
    opened(engine, "L-1", employees=10)
    effects = engine.apply(
        LeadUpdated(id="u", lead="L-1", at=MONDAY_9.replace(minute=30), fields={"employees": 5000})
    )
    [moved] = [e for e in effects if isinstance(e, ObligationRetargeted)]
    assert (moved.tier, moved.previous) == ("enterprise", "default")
    assert moved.due_at == datetime(2026, 3, 2, 10, tzinfo=HELSINKI)  # 1 hour from 9:00
    clock = engine.lead("L-1").obligation("first-touch")
    assert clock is not None
    assert (clock.tier, clock.due_at) == ("enterprise", moved.due_at)
    # The old deadline's timer is stale: the breach comes at the new one, once.
    later = engine.advance(datetime(2026, 3, 2, 14, tzinfo=HELSINKI))
    breaches = [effect_to_dict(e) for e in later if type(e).__name__ == "ObligationBreached"]
    first_touch = [b for b in breaches if b["obligation"] == "first-touch"]
    assert [b["at"] for b in first_touch] == ["2026-03-02T10:00:00+02:00"]


def test_one_tier_with_the_same_target_changes_nothing_but_the_label() -> None:
    """Choosing a tier does not disturb the clock (the property below, on one example)."""
    plain = Engine(tiered())
    one = Engine(tiered(Tier("any", "employees >= 0", "4 business hours")))
    assert opened(plain, "L-1", employees=3).due_at == opened(one, "L-1", employees=3).due_at


def _without_tiers(effects: list[object]) -> list[dict[str, object]]:
    said = []
    for effect in effects:
        data = effect_to_dict(effect)  # type: ignore[arg-type]
        data.pop("tier", None)
        data.pop("id")  # the id covers the tier too
        said.append(data)
    return said


@settings(max_examples=60, deadline=None)
@given(events=event_streams(tiered(), leads=3, max_events=30))
def test_a_tiered_obligation_with_one_target_behaves_exactly_like_an_untiered_one(
    events: list[object],
) -> None:
    """Tiers whose target is the obligation's own give the same effects, in the same order,
    whatever the lead's fields (only the tier's name is said in addition)."""
    plain = Engine(tiered())
    one = Engine(tiered(Tier("big", "employees >= 1000", "4 business hours"), retier=True))
    for event in events:
        assert _without_tiers(plain.apply(event)) == _without_tiers(one.apply(event))  # type: ignore[arg-type]
    end = datetime(2026, 4, 1, tzinfo=HELSINKI)
    assert _without_tiers(plain.advance(end)) == _without_tiers(one.advance(end))  # type: ignore[arg-type]


def test_tiers_need_a_target_for_every_other_lead_in_the_file() -> None:
    text = agreement_to_toml(tiered(ENTERPRISE))
    assert "[[obligations.tiers]]" in text or "tiers = [" in text
    without_within = text.replace('within = "4 business hours"\n', "", 1)
    with pytest.raises(AgreementError) as caught:
        Agreement.from_toml_text(without_within)
    message = str(caught.value)
    assert "obligations.first-touch.within" in message
    assert "no tier holds on" in message
    assert Agreement.from_toml_text(text) == tiered(ENTERPRISE)


@pytest.mark.parametrize(
    ("tiers", "field", "words"),
    [
        ((ENTERPRISE, ENTERPRISE), "tiers[1].name", "is the name of another tier"),
        ((Tier("default", "employees > 5", "1 business hour"),), "tiers[0].name", "no tier"),
        ((Tier("fast", "employees > 5", "1 hour"),), "tiers[0].within", "counts calendar time"),
        ((Tier("now", "employees > 5", "0 business hours"),), "tiers[0].within", "longer than"),
    ],
)
def test_bad_tiers_are_refused_with_the_place_and_the_fix(
    tiers: tuple[Tier, ...], field: str, words: str
) -> None:
    with pytest.raises(ObligationError) as caught:
        ObligationSpec(
            name="callback",
            party="sales",
            starts=When(states="mql"),
            met=When(events="activity"),
            within="4 business hours",
            tiers=tiers,
        )
    [problem] = [p for p in caught.value.problems if p.field.endswith(field)]
    assert words in problem.message
    assert problem.fix


def test_retier_without_tiers_is_refused() -> None:
    with pytest.raises(ObligationError, match="has nothing to choose again"):
        ObligationSpec(
            name="callback",
            party="sales",
            starts=When(states="mql"),
            met=When(events="activity"),
            within="4 business hours",
            retier=True,
        )


def test_the_one_pager_says_the_tiers_in_plain_words() -> None:
    from leadsla._shell.summary import obligation_sentence

    agreement = tiered(ENTERPRISE, DEMO)
    sentence = obligation_sentence(agreement, agreement.obligations[0])
    assert "within 1 business hour for a lead that has employees >= 1000 (tier enterprise)" in (
        sentence
    )
    assert "the first that applies, chosen when the clock starts" in sentence


def test_the_scorecard_scores_each_tier_against_its_own_target() -> None:
    from leadsla._shell.report import render_scorecard, scorecard

    engine = Engine(tiered(ENTERPRISE))
    opened(engine, "L-1", employees=5000)
    opened(engine, "L-2", employees=10)
    opened(engine, "L-3", employees=20)
    engine.advance(datetime(2026, 3, 31, tzinfo=HELSINKI))
    [card] = scorecard(engine)
    rows = {score.tier: score for score in card.by_tier if score.obligation == "first-touch"}
    assert set(rows) == {"enterprise", "default"}
    assert (rows["enterprise"].opened, rows["enterprise"].target) == (1, 1.0)
    assert (rows["default"].opened, rows["default"].target) == (2, 4.0)
    text = render_scorecard([card], "text")
    assert "By tier" in text
    assert "tier enterprise (1.0 h)" in text


def test_a_warning_given_is_not_given_again_when_the_tier_changes() -> None:
    engine = Engine(tiered(ENTERPRISE, retier=True))
    opened(engine, "L-1", employees=5000)  # due 10:00, warned at 9:45 (75 %)
    warned = engine.advance(MONDAY_9.replace(minute=46))
    assert [type(e).__name__ for e in warned if e.origin.startswith("timer:first-touch")] == [
        "ObligationWarned"
    ]
    engine.apply(
        LeadUpdated(id="u", lead="L-1", at=MONDAY_9.replace(minute=50), fields={"employees": 9})
    )  # now due 13:00, its 75 % at 12:00: already given
    later = engine.advance(MONDAY_9.replace(hour=12, minute=30))
    assert not [e for e in later if e.origin.startswith("timer:first-touch")]


def test_the_scorecard_takes_an_obligation_that_chooses_its_tier_again() -> None:
    from leadsla._shell.report import scorecard

    engine = Engine(tiered(ENTERPRISE, retier=True))
    opened(engine, "L-1", employees=5000)
    engine.advance(datetime(2026, 3, 31, tzinfo=HELSINKI))
    [card] = scorecard(engine)
    assert [(s.tier, s.target) for s in card.by_tier] == [("enterprise", 1.0)]


def test_a_tier_in_hours_of_an_obligation_in_days_is_refused() -> None:
    with pytest.raises(ObligationError) as caught:
        ObligationSpec(
            name="callback",
            party="sales",
            starts=When(states="mql"),
            met=When(events="activity"),
            within="1 business day",
            tiers=(Tier("hot", "score >= 90", "2 business hours"),),
        )
    [problem] = caught.value.problems
    assert problem.field.endswith("tiers[0].within")
    assert "counts business hours, but the obligation's within" in problem.message
    assert problem.fix == "give the tier's time in business days"


def test_choosing_the_tier_again_while_paused_gives_no_passed_warning_late() -> None:
    default = Agreement.default()
    first = attrs.evolve(
        default.obligations[0],
        tiers=(Tier("hot", "score >= 90", "1 business hour"),),
        retier=True,
        warnings=Warn(fraction=0.5),
        pause=PauseWhile(condition="budget_confirmed == true"),
    )
    engine = Engine(attrs.evolve(default, obligations=(first,)))
    engine.apply(
        LeadCreated(id="c", lead="L", at=MONDAY_9, fields={"email": "a@b", "score": 60})
    )  # 4 hours: its half at 11:00
    for minute, fields in ((60, {"budget_confirmed": True}), (90, {"score": 95})):
        at = MONDAY_9 + timedelta(minutes=minute)
        engine.apply(LeadUpdated(id=f"u{minute}", lead="L", at=at, fields=fields))
    # Now hot (1 hour, half at 9:30: passed); resumed at 11:00.
    at = MONDAY_9 + timedelta(hours=2)
    engine.apply(LeadUpdated(id="r", lead="L", at=at, fields={"budget_confirmed": False}))
    later = engine.advance(MONDAY_9 + timedelta(hours=3))
    assert not [e for e in later if isinstance(e, ObligationWarned)]


def test_choosing_the_tier_again_while_paused_keeps_the_warnings_still_to_come() -> None:
    """Paused ten minutes into the clock; hot (one hour) while paused; resumed at 11:00: the
    half-time warning comes twenty minutes after, at 11:20, due at 11:50."""
    default = Agreement.default()
    first = attrs.evolve(
        default.obligations[0],
        tiers=(Tier("hot", "score >= 90", "1 business hour"),),
        retier=True,
        warnings=Warn(fraction=0.5),
        pause=PauseWhile(condition="budget_confirmed == true"),
    )
    engine = Engine(attrs.evolve(default, obligations=(first,)))
    engine.apply(LeadCreated(id="c", lead="L", at=MONDAY_9, fields={"email": "a@b", "score": 60}))
    for minute, fields in (
        (10, {"budget_confirmed": True}),
        (90, {"score": 95}),
        (120, {"budget_confirmed": False}),
    ):
        at = MONDAY_9 + timedelta(minutes=minute)
        engine.apply(LeadUpdated(id=f"u{minute}", lead="L", at=at, fields=fields))
    later = engine.advance(MONDAY_9 + timedelta(hours=3))
    warned = [e for e in later if isinstance(e, ObligationWarned)]
    assert [
        (e.at.time().isoformat("minutes"), e.due_at.time().isoformat("minutes")) for e in warned
    ] == [("11:20", "11:50")]
