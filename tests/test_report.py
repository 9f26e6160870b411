"""The review-meeting scorecard (leadsla.scorecard, render_scorecard, leadsla report)."""

from __future__ import annotations

import io
import pathlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    ActivityLogged,
    Agreement,
    Event,
    LeadCreated,
    LeadSLAError,
    PeriodCard,
    TimeToMeet,
    TransitionRequested,
    render_scorecard,
    replay,
    scorecard,
)
from leadsla._shell.cli import _demo_events, main

HELSINKI = ZoneInfo("Europe/Helsinki")
END_OF_WEEK = datetime(2026, 3, 13, 17, tzinfo=HELSINKI)
FIELDS = {"email": "ann@acme.fi", "score": 62}


def demo_cards() -> list[PeriodCard]:
    return scorecard(replay(_demo_events(), until=END_OF_WEEK).engine)


def test_the_demo_week_scores_as_its_story_says() -> None:
    """L-1 is touched late and handed back after six calls, L-2 is won, L-3 is never touched,
    L-4 goes to nurture at once: one month, four MQLs, two accepted."""
    [card] = demo_cards()
    assert card.period == "2026-03"
    [volume] = card.volumes
    assert (volume.delivered, volume.accepted, volume.met) == (4, 2, False)
    touch = {score.obligation: score for score in card.obligations}["first-touch"]
    assert (touch.opened, touch.on_time, touch.met_late, touch.breached, touch.cancelled) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert touch.attainment == pytest.approx(1 / 3)
    assert touch.breaches_by_owner == (("bob", 2),)
    assert ("won", 1) in card.entered
    assert card.reasons == (
        ("handback", "no-contact-after-6-attempts", 1),
        ("nurture", "need-over-6-months", 1),
    )


def test_time_to_meet_is_business_time_and_the_median_of_the_clocks() -> None:
    """Friday 16:00 to Monday 09:30 is 1 h 30 min of office time, not 65 hours; Monday 10:00
    to 10:30 is 30 min; the median of the two is 1 h, the p90 (nearest rank: the second of
    two) and the max 1 h 30 min, in business hours, the obligation's own unit."""
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, 30, tzinfo=HELSINKI)
    fields = {"email": "ann@acme.fi", "score": 62}
    events = [
        LeadCreated(id="c1", lead="L-1", at=friday, fields=fields),
        ActivityLogged(id="a1", lead="L-1", at=monday, kind="call", by="bob"),
        LeadCreated(id="c2", lead="L-2", at=monday + timedelta(minutes=30), fields=fields),
        ActivityLogged(
            id="a2", lead="L-2", at=monday + timedelta(hours=1), kind="call", by="carol"
        ),
    ]
    [card] = scorecard(replay(events).engine)
    touch = {score.obligation: score for score in card.obligations}["first-touch"]
    assert touch.on_time == 2
    assert touch.to_meet == TimeToMeet("business hours", 1.0, 1.5, 1.5, 2)
    assert "1.0 h  1.5 h" in render_scorecard([card])


def test_a_deadline_in_business_days_is_reported_in_business_days() -> None:
    """A ten-business-day obligation met in 2 days 4 hours of office time reads "2.5
    business days", not "20 h"; p90 of ten clocks met after 1..10 business days is the 9th."""
    default = Agreement.default()
    slow = attrs.evolve(
        default,
        obligations=[
            attrs.evolve(spec, within="10 business days") if spec.name == "first-touch" else spec
            for spec in default.obligations
        ],
    )
    monday = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    office = slow.calendar(slow.obligations[0].calendar)
    events: list[Event] = []
    for n in range(1, 11):
        events.append(LeadCreated(id=f"c{n}", lead=f"L-{n}", at=monday, fields=FIELDS))
        touched = office.add_business_days(monday, n)
        events.append(ActivityLogged(id=f"a{n}", lead=f"L-{n}", at=touched, kind="call", by="bob"))
    events.sort(key=lambda event: event.at)
    [card] = scorecard(replay(events, agreement=slow).engine)
    touch = {score.obligation: score for score in card.obligations}["first-touch"]
    assert touch.to_meet == TimeToMeet("business days", 5.5, 9.0, 10.0, 10)
    text = render_scorecard([card])
    assert "5.5 d  9.0 d" in text
    assert "in business days (d): first-touch" in text


def test_clocks_count_in_the_period_they_opened() -> None:
    """A lead made an MQL on 31 March and touched on 1 April scores in March."""
    march = datetime(2026, 3, 31, 16, tzinfo=HELSINKI)
    events = [
        LeadCreated(id="c", lead="L-1", at=march, fields={"email": "a@b.fi", "score": 70}),
        ActivityLogged(id="a", lead="L-1", at=march + timedelta(days=1), kind="call"),
        TransitionRequested(id="t", lead="L-1", at=march + timedelta(days=1), trigger="accept"),
    ]
    cards = scorecard(replay(events).engine)
    assert [card.period for card in cards] == ["2026-03", "2026-04"]
    assert [score.obligation for score in cards[1].obligations] == []
    assert cards[1].entered == (("sal", 1),)


def test_the_tracking_period_comes_from_the_agreement() -> None:
    """Clocks and moves by week; the monthly commitment keeps its own card."""
    weekly = attrs.evolve(Agreement.default(), tracking_period="week")
    cards = scorecard(replay(_demo_events(), weekly).engine)
    assert [card.period for card in cards] == ["2026-03", "2026-W10", "2026-W11"]
    monthly, *weeks = cards
    assert monthly.obligations == ()
    assert monthly.entered == ()
    assert [volume.delivered for volume in monthly.volumes] == [4]
    assert all(week.volumes == () and week.entered for week in weeks)


def test_text_and_markdown_rendering() -> None:
    cards = demo_cards()
    text = render_scorecard(cards, title="March")
    assert text.startswith("March\n\n2026-03\n Commitments\n")
    row = "  first-touch            4        1         1         1          1     0         33%"
    assert row in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "  handback: no-contact-after-6-attempts 1\n" in text
    markdown = render_scorecard(cards, "md", title="March")
    assert markdown.startswith("# March\n\n## 2026-03\n")
    assert "| obligation | opened | on time | met late | breached | cancelled | open |" in markdown
    assert "| first-touch | 4 | 1 | 1 | 1 | 1 | 0 | 33% | " in markdown
    assert "- handback: no-contact-after-6-attempts 1" in markdown


def test_markdown_escapes_what_it_did_not_write() -> None:
    """A reason written by a user cannot break the Markdown or inject HTML."""
    events = [
        LeadCreated(id="c", lead="L-1", at=END_OF_WEEK, fields={"email": "a@b.fi", "score": 70}),
        TransitionRequested(
            id="t", lead="L-1", at=END_OF_WEEK, trigger="reject", reason="<b>*bad* | fit</b>"
        ),
    ]
    markdown = render_scorecard(scorecard(replay(events).engine), "md")
    assert "- handback: &lt;b>\\*bad\\* \\| fit&lt;/b> 1" in markdown


def test_the_markdown_title_is_escaped_too() -> None:
    """The title (the agreement's name, as `leadsla report` gives it) is the reader's text."""
    markdown = render_scorecard([], "md", title="<img src=x onerror=alert(1)> *SLA*")
    assert markdown.startswith("# &lt;img src=x onerror=alert(1)> \\*SLA\\*\n")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(LeadSLAError, match=r"'format' is not a known format \(got 'pdf'\)"):
        render_scorecard([], "pdf")  # type: ignore[arg-type]


def test_nothing_to_score() -> None:
    assert render_scorecard([]) == "Scorecard\n\nNo events: nothing to score.\n"


def test_report_command(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "week.jsonl"
    log.write_text("\n".join(event.to_json() for event in _demo_events()) + "\n", "utf-8")
    out = io.StringIO()
    until = END_OF_WEEK.isoformat()
    assert main(["report", str(log), "--until", until], out) == 0
    text = out.getvalue()
    assert text.startswith(f"Scorecard: Marketing–sales SLA, by month, from {log}\n")
    assert "  mql-volume: 4 of 150 delivered, 50% accepted: not met" in text
    written = tmp_path / "march.md"
    arguments = ["report", str(log), "--until", until, "--format", "md", "-o", str(written)]
    assert main(arguments, io.StringIO()) == 0
    assert written.read_text(encoding="utf-8").startswith("# Scorecard: ")


def test_periods_come_in_time_order_whatever_their_length() -> None:
    """A yearly scorecard with a monthly commitment: the year, then its months; weeks by date,
    not as text ('2026-W9' would otherwise sort after '2026-W10')."""
    from leadsla._core.periods import chronological

    periods = ["2026-W10", "2026-03", "2026", "2026-W9", "2026-Q1", "2025-12", "2026-02"]
    assert sorted(periods, key=chronological) == [
        "2025-12",
        "2026",
        "2026-Q1",
        "2026-02",
        "2026-W9",
        "2026-03",
        "2026-W10",
    ]
    yearly = attrs.evolve(Agreement.default(), tracking_period="year")
    cards = scorecard(replay(_demo_events(), yearly).engine)
    assert [card.period for card in cards] == ["2026", "2026-03"]


def test_a_reason_with_line_breaks_stays_on_its_line() -> None:
    events = [
        LeadCreated(id="c", lead="L-1", at=END_OF_WEEK, fields={"email": "a@b.fi", "score": 70}),
        TransitionRequested(
            id="t", lead="L-1", at=END_OF_WEEK, trigger="reject", reason="bad\nfit"
        ),
    ]
    cards = scorecard(replay(events).engine)
    assert "  handback: bad fit 1\n" in render_scorecard(cards)
    assert "- handback: bad fit 1\n" in render_scorecard(cards, "md")
