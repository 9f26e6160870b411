"""The review-meeting scorecard (leadsla.scorecard, render_scorecard, leadsla report)."""

from __future__ import annotations

import io
import pathlib
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    ActivityLogged,
    Agreement,
    Event,
    FunnelStep,
    GoalVolume,
    LeadCreated,
    LeadSLAError,
    LeadUpdated,
    OwnerAssigned,
    PeriodCard,
    Reason,
    TimeToMeet,
    TransitionRequested,
    WeekScore,
    render_scorecard,
    replay,
    scorecard,
    scorecard_data,
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
        Reason("nurture", "nurture", "need-over-6-months", 1),
        Reason("hand_back", "handback", "no-contact-after-6-attempts", 1),
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
    assert touch.unit == "business hours"
    assert touch.to_meet == TimeToMeet(1.0, 1.5, 1.5, 2)
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
    assert touch.unit == "business days"
    assert touch.to_meet == TimeToMeet(5.5, 9.0, 10.0, 10)
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
    assert "  handback (hand_back): no-contact-after-6-attempts 1\n" in text
    markdown = render_scorecard(cards, "md", title="March")
    assert markdown.startswith("# March\n\n## 2026-03\n")
    assert "| obligation | opened | on time | met late | breached | cancelled | open |" in markdown
    assert "| first-touch | 4 | 1 | 1 | 1 | 1 | 0 | 33% | " in markdown
    assert "- handback (hand\\_back): no-contact-after-6-attempts 1" in markdown


def test_markdown_escapes_what_it_did_not_write() -> None:
    """A reason written by a user cannot break the Markdown or inject HTML."""
    events = [
        LeadCreated(id="c", lead="L-1", at=END_OF_WEEK, fields={"email": "a@b.fi", "score": 70}),
        TransitionRequested(
            id="t", lead="L-1", at=END_OF_WEEK, trigger="reject", reason="<b>*bad* | fit</b>"
        ),
    ]
    markdown = render_scorecard(scorecard(replay(events).engine), "md")
    assert "- handback (reject): &lt;b>\\*bad\\* \\| fit&lt;/b> 1" in markdown


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
    assert "  mql-volume: 4 of 150 delivered, 50% accepted so far (41% of the period gone" in text
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
    assert "  handback (reject): bad fit 1\n" in render_scorecard(cards)
    assert "- handback (reject): bad fit 1\n" in render_scorecard(cards, "md")


def test_scores_by_owner_and_lateness_worked_out_by_hand() -> None:
    """First touch within 4 business hours (Mon–Fri 09:00–17:00), four leads made MQLs on
    Monday 2 March at 09:00 and given to alice (L-1, L-2) and bob (L-3, L-4):
    - L-1 touched at 10:00: on time, 1 h; L-2 at 15:00: met late, 6 h, 2 h past 13:00 (alice);
    - L-3 never touched: breached at 13:00 (bob); L-4 touched at 11:00: on time, 2 h (bob).
    Everyone: 2 on time, 1 met late, 1 breached, attainment 50 %; met in 1, 2, 6 h: median
    2 h, p90 (nearest rank: the 3rd of 3) 6 h, max 6 h; lateness 2 h in all, 2 h at worst.
    alice: 1 on time, 1 late: median 3.5 h, p90 6 h, lateness 2 h. bob: 1 on time, 1
    breached: median 2 h, no lateness (a breach never met is not late by an amount yet)."""
    monday = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    owners = {"L-1": "alice", "L-2": "alice", "L-3": "bob", "L-4": "bob"}
    events: list[Event] = []
    for lead, person in owners.items():
        events.append(LeadCreated(id=f"c-{lead}", lead=lead, at=monday, fields=FIELDS))
        events.append(OwnerAssigned(id=f"o-{lead}", lead=lead, at=monday, owner=person))
    for lead, hours in (("L-1", 1), ("L-4", 2), ("L-2", 6)):
        at = monday + timedelta(hours=hours)
        who = owners[lead]  # (the party's own people meet it)
        events.append(ActivityLogged(id=f"a-{lead}", lead=lead, at=at, kind="call", by=who))
    [card] = scorecard(replay(events, until=monday + timedelta(days=1, hours=8)).engine)
    [touch] = [score for score in card.obligations if score.obligation == "first-touch"]
    counts = (touch.on_time, touch.met_late, touch.breached, touch.cancelled, touch.open)
    assert counts == (2, 1, 1, 0, 0)
    assert touch.attainment == pytest.approx(0.5)
    assert touch.to_meet == TimeToMeet(2.0, 6.0, 6.0, 3)
    assert (touch.lateness_total, touch.lateness_worst) == (2.0, 2.0)
    mine = {score.person: score for score in card.by_owner if score.obligation == "first-touch"}
    assert set(mine) == {"alice", "bob"}
    alice, bob = mine["alice"], mine["bob"]
    assert (alice.team, alice.on_time, alice.met_late, alice.breached) == ("sales", 1, 1, 0)
    assert alice.to_meet == TimeToMeet(3.5, 6.0, 6.0, 2)
    assert (alice.lateness_total, alice.lateness_worst) == (2.0, 2.0)
    assert (bob.on_time, bob.met_late, bob.breached, bob.attainment) == (1, 0, 1, 0.5)
    assert bob.to_meet == TimeToMeet(2.0, 2.0, 2.0, 1)
    assert (bob.lateness_total, bob.lateness_worst) == (0.0, None)
    text = render_scorecard([card])
    assert (
        "    alice (sales)          1         1         0          0     0         50%   3.5 h"
        in text
    )


def test_json_and_csv_carry_every_figure_for_other_tools() -> None:
    """JSON holds what the Python values hold; CSV a row per period, obligation and owner,
    with the columns it documents; both read back with the standard library (and pandas)."""
    import csv
    import json

    from leadsla._shell.report import CSV_COLUMNS

    cards = demo_cards()
    data = json.loads(render_scorecard(cards, "json", title="March"))
    [period] = data["periods"]
    touch = next(o for o in period["obligations"] if o["obligation"] == "first-touch")
    [score] = [s for s in cards[0].obligations if s.obligation == "first-touch"]
    assert (touch["on_time"], touch["met_late"], touch["breached"]) == (1, 1, 1)
    assert touch["median_to_meet"] == score.to_meet.median if score.to_meet else None
    assert touch["unit"] == "business hours"
    assert len(period["by_owner"]) == len(cards[0].by_owner)
    rows = list(csv.DictReader(io.StringIO(render_scorecard(cards, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(cards[0].obligations) + len(cards[0].by_owner)
    bob = next(r for r in rows if r["obligation"] == "first-touch" and r["person"] == "bob")
    assert (bob["team"], bob["met_late"], bob["breached"], bob["attainment"]) == (
        "sales",
        "1",
        "1",
        "0.0",
    )
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(io.StringIO(render_scorecard(cards, "csv")))
    assert frame["opened"].sum() == 2 * sum(s.opened for s in cards[0].obligations)


def test_csv_cells_a_spreadsheet_would_run_are_defused() -> None:
    """A person named like a formula (names come from CRM data) reads as text in Excel."""
    [card] = demo_cards()
    hostile = attrs.evolve(card.by_owner[0], person="=HYPERLINK(1)", team="-sales")
    text = render_scorecard([attrs.evolve(card, by_owner=(hostile,))], "csv")
    assert ",'-sales,'=HYPERLINK(1)," in text
    assert "first-touch" in text  # names that are not formulas are left alone


def test_a_rejection_counts_for_the_rep_who_rejected() -> None:
    """Rejecting meets acceptance and hands the lead back to marketing at the same instant:
    the acceptance counts for carol, who rejected it, not for marketing, who has it now."""
    monday = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    events = [
        LeadCreated(id="c", lead="L-1", at=monday, fields=FIELDS),
        OwnerAssigned(id="o", lead="L-1", at=monday, owner="carol"),
        TransitionRequested(
            id="t", lead="L-1", at=monday + timedelta(hours=1), trigger="reject", reason="fit"
        ),
    ]
    [card] = scorecard(replay(events, until=monday + timedelta(days=1)).engine)
    accept = [s for s in card.by_owner if s.obligation == "accept-or-reject"]
    assert [(s.team, s.person, s.on_time) for s in accept] == [("sales", "carol", 1)]


def test_each_period_says_what_changed_since_the_one_before() -> None:
    """February: L-1 touched after 1 h, L-2 never (breached): first touch 50 %, median 1 h,
    1 breached, 2 MQLs. March: L-3 touched after 2 h: 100 % (+50 pp), median 2 h (+1.0 h),
    0 breached (-1), 1 MQL (-1)."""
    february = datetime(2026, 2, 2, 9, tzinfo=HELSINKI)
    march = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    events: list[Event] = []
    for lead, at, touched in (("L-1", february, 1), ("L-2", february, None), ("L-3", march, 2)):
        events.append(LeadCreated(id=f"c-{lead}", lead=lead, at=at, fields=FIELDS))
        events.append(OwnerAssigned(id=f"o-{lead}", lead=lead, at=at, owner="alice"))
        if touched is not None:
            call = at + timedelta(hours=touched)
            events.append(
                ActivityLogged(id=f"a-{lead}", lead=lead, at=call, kind="call", by="alice")
            )
    events.sort(key=lambda event: event.at)
    cards = scorecard(replay(events, until=datetime(2026, 3, 31, 17, tzinfo=HELSINKI)).engine)
    assert [card.period for card in cards] == ["2026-02", "2026-03"]
    text = render_scorecard(cards)
    march_part = text[text.index("\n2026-03\n") :]
    assert " Against 2026-02\n" in march_part
    assert "  first-touch: attainment 100% (+50 pp), median 2.0 h (+1.0 h), breached 0 (-1)\n" in (
        march_part
    )
    assert "  mql-volume: 1 delivered (-1)\n" in march_part
    assert "Against" not in text[: text.index("\n2026-03\n")]
    data = scorecard_data(cards)
    assert data["periods"][0]["change"] is None
    change = data["periods"][1]["change"]
    touch = next(c for c in change["obligations"] if c["obligation"] == "first-touch")
    assert touch == {
        "obligation": "first-touch",
        "opened": -1,
        "breached": -1,
        "attainment": 0.5,
        "median_to_meet": 1.0,
    }


def test_the_change_is_against_the_period_just_before() -> None:
    """January has two MQLs, February none, March one: March is compared with February
    (no events in it), not with January; January has nothing before it to compare with."""
    events: list[Event] = []
    for lead, at in (
        ("L-1", datetime(2026, 1, 5, 9, tzinfo=HELSINKI)),
        ("L-2", datetime(2026, 1, 5, 9, tzinfo=HELSINKI)),
        ("L-3", datetime(2026, 3, 2, 9, tzinfo=HELSINKI)),
    ):
        events.append(LeadCreated(id=f"c-{lead}", lead=lead, at=at, fields=FIELDS))
    cards = scorecard(replay(events, until=datetime(2026, 3, 31, 17, tzinfo=HELSINKI)).engine)
    text = render_scorecard(cards)
    assert [card.period for card in cards] == ["2026-01", "2026-03"]
    assert " Against 2026-02\n  no events in 2026-02\n" in text
    assert "Against 2025-12" not in text
    data = scorecard_data(cards)
    assert data["periods"][1]["change"]["against"] == "2026-02"
    assert data["periods"][0]["change"] is None


def test_calendar_hours_are_counted_across_a_daylight_saving_change() -> None:
    """A calendar-time obligation opened on Saturday 28 March 12:00 and met on Monday 30 March
    12:00 in Helsinki took 47 hours (the clocks went forward), from Python or JSON events."""
    from leadsla._shell.report import _measure

    default = Agreement.default()
    spec = attrs.evolve(default.obligations[0], within="72 hours")
    unit, measure = _measure(spec, default)
    start = datetime(2026, 3, 28, 12, tzinfo=HELSINKI)
    end = datetime(2026, 3, 30, 12, tzinfo=HELSINKI)
    assert (unit, measure(start, end)) == ("hours", Fraction(47))


def test_a_running_period_shows_the_pace_and_the_leads_that_bounced() -> None:
    """On Monday 16 March 00:00 (Helsinki), 360 of March's 743 hours have passed (the clocks
    go forward on the 29th): 150 MQLs a month make a pace of 72.7, so 73 by now, and one MQL is
    behind. L-1 goes sales, marketing (rejected), sales (requalified), marketing (rejected
    again): its third change of team makes it a lead that bounced."""
    monday = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    moves = [("reject", 1), ("requalify", 2), ("reject", 3)]
    events: list[Event] = [LeadCreated(id="c", lead="L-1", at=monday, fields=FIELDS)]
    for number, (trigger, hours) in enumerate(moves):
        at = monday + timedelta(hours=hours)
        events.append(
            TransitionRequested(id=f"t{number}", lead="L-1", at=at, trigger=trigger, reason="r")
        )
    [card] = scorecard(replay(events, until=datetime(2026, 3, 16, tzinfo=HELSINKI)).engine)
    assert card.elapsed == pytest.approx(360 / 743)
    assert card.bounced == ("L-1",)
    text = render_scorecard([card])
    assert "1 of 150 delivered, 0% accepted so far (48% of the period gone: pace 73 by now," in text
    assert " Leads that went between teams more than twice\n  1: L-1\n" in text
    [past] = scorecard(replay(events, until=datetime(2026, 4, 1, 1, tzinfo=HELSINKI)).engine)[:1]
    assert past.elapsed is None


def _funnel_log() -> list[Event]:
    """Three leads in March 2026: L-1 all the way to won, L-2 an MQL rejected (back to
    marketing, so still in flight), L-3 never an MQL (still a lead)."""
    day = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    mql = {"email": "a@b.fi", "score": 70}
    hour = timedelta(hours=1)
    return [
        LeadCreated(id="c1", lead="L-1", at=day, fields=mql),
        LeadCreated(id="c2", lead="L-2", at=day + hour, fields=mql),
        LeadCreated(id="c3", lead="L-3", at=day + 2 * hour, fields={"email": "c@d.fi"}),
        TransitionRequested(id="t1", lead="L-1", at=day + 3 * hour, trigger="accept"),
        TransitionRequested(
            id="t2", lead="L-2", at=day + 3 * hour, trigger="reject", reason="not a fit"
        ),
        LeadUpdated(
            id="u1",
            lead="L-1",
            at=day + 4 * hour,
            fields={"budget_confirmed": True, "need_months": 2},
        ),
        TransitionRequested(id="t3", lead="L-1", at=day + 5 * hour, trigger="qualify_sales"),
        TransitionRequested(id="t4", lead="L-1", at=day + 6 * hour, trigger="win"),
    ]


def test_funnel_conversion_and_the_goal_worked_out_by_hand() -> None:
    """lead -> mql: 3 entered, 2 reached, L-3 in flight; mql -> sal: L-1 reached, L-2 (in
    handback, not terminal) in flight; the goal's mql -> sql (30 %) and sql -> won (25 %)
    carry their assumed rates. The default goal, 20 customers a quarter, 60 % from
    marketing, needs 12 won, 48 SQLs, 160 MQLs a quarter: 4, 16 and 54 a month (rounded up)."""
    [card] = scorecard(replay(_funnel_log()).engine)
    assert card.funnel == (
        FunnelStep("lead", "mql", 3, 2, 1, None),
        FunnelStep("mql", "sal", 2, 1, 1, None),
        FunnelStep("mql", "sql", 2, 1, 1, 0.3),
        FunnelStep("sal", "sql", 1, 1, 0, None),
        FunnelStep("sql", "won", 1, 1, 0, 0.25),
    )
    assert card.funnel[0].rate == pytest.approx(2 / 3)
    assert card.goal == (
        GoalVolume("mql", 2, 54),
        GoalVolume("sql", 1, 16),
        GoalVolume("won", 1, 4),
    )
    assert card.reasons == (Reason("reject", "handback", "not a fit", 1),)
    words = " ".join(render_scorecard([card]).split())
    assert "mql -> sql 2 1 1 50% 30%" in words
    assert "state entered needed pace by now mql 2 54 3 sql 1 16 1 won 1 4 0" in words
    data = scorecard_data([card])["periods"][0]
    assert data["funnel"][2] == {
        "source": "mql",
        "dest": "sql",
        "entered": 2,
        "reached": 1,
        "in_flight": 1,
        "assumed": 0.3,
        "rate": 0.5,
    }
    assert data["goal"][0] == {"state": "mql", "entered": 2, "needed": 54}


def test_a_lost_lead_is_not_in_flight() -> None:
    """An SQL lost is out of the funnel: sql -> won 1 entered, 0 reached, 0 in flight."""
    events = _funnel_log()[:-1]
    last = events[-1].at + timedelta(hours=1)
    events.append(
        TransitionRequested(id="t4", lead="L-1", at=last, trigger="lose", reason="budget")
    )
    [card] = scorecard(replay(events).engine)
    assert card.funnel[-1] == FunnelStep("sql", "won", 1, 0, 0, 0.25)
    assert card.funnel[-1].rate == 0


def test_attainment_week_by_week() -> None:
    """Two leads in week 10 (bob calls his within the 4 business hours, carol hers after
    6), one in week 11 called in time: first-touch 1 of 2 on time in W10, 1 of 1 in W11."""
    monday = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    hours = [1, 6, 1]
    events: list[Event] = []
    for n, (rep, late) in enumerate(zip(["bob", "carol", "bob"], hours, strict=True)):
        start = monday + timedelta(days=7 if n == 2 else 0, minutes=n)
        events.append(LeadCreated(id=f"c{n}", lead=f"L-{n}", at=start, fields=FIELDS))
        events.append(
            ActivityLogged(
                id=f"a{n}", lead=f"L-{n}", at=start + timedelta(hours=late), kind="call", by=rep
            )
        )
    events.sort(key=lambda event: event.at)
    [card] = scorecard(replay(events, until=monday + timedelta(days=14)).engine)
    touch = [week for week in card.weeks if week.obligation == "first-touch"]
    assert touch == [
        WeekScore("2026-W10", "first-touch", 1, 2),
        WeekScore("2026-W11", "first-touch", 1, 1),
    ]


def test_a_date_range_is_one_card_with_targets_pro_rata() -> None:
    """1 to 15 March: the demo week's clocks and moves, and the monthly commitment of 150
    MQLs pro rata, 150 x 15/31 = 72.6, rounded up to 73; the goal's 160 MQLs a quarter
    (90 days in Q1 2026) over 15 days is 26.7, so 27. From 9 March only the leads created
    on or after the 9th count."""
    engine = replay(_demo_events(), until=END_OF_WEEK).engine
    [card] = scorecard(engine, between=(date(2026, 3, 1), date(2026, 3, 15)))
    assert card.period == "2026-03-01 to 2026-03-15"
    [volume] = card.volumes
    assert (volume.delivered, volume.target) == (4, 73)
    assert card.goal[0] == GoalVolume("mql", 4, 27)
    # Up: 150 x 4/31 = 19.4 leads in 1 to 4 March is 20 to find.
    [short] = scorecard(engine, between=(date(2026, 3, 1), date(2026, 3, 4)))
    assert [volume.target for volume in short.volumes] == [20]
    # The replay stopped on Friday 13 March at 17:00: 12 days 17 hours of 15 gone.
    assert card.elapsed == pytest.approx((12 * 24 + 17) / (15 * 24))
    [later] = scorecard(engine, between=(date(2026, 3, 9), date(2026, 3, 15)))
    opened = sum(score.opened for score in later.obligations)
    assert 0 < opened < sum(score.opened for score in demo_cards()[0].obligations)
    assert "Against" not in render_scorecard([card])


def test_a_range_before_the_clock_has_no_pace() -> None:
    """The demo's clock stops on Friday 13 March at 17:00: 2 to 6 March is over."""
    engine = replay(_demo_events(), until=END_OF_WEEK).engine
    [card] = scorecard(engine, between=(date(2026, 3, 2), date(2026, 3, 6)))
    assert card.elapsed is None
    assert "pace" not in render_scorecard([card])


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    engine = replay(_demo_events()).engine
    with pytest.raises(LeadSLAError) as caught:
        scorecard(engine, between=(date(2026, 3, 15), date(2026, 3, 1)))
    assert "'between'" in str(caught.value)
    assert "ends before it starts" in str(caught.value)
    with pytest.raises(LeadSLAError, match="'per' is not a known per"):
        scorecard(engine, per="fortnight")  # type: ignore[arg-type]


def test_every_score_knows_its_target_and_times() -> None:
    """first-touch is due in 4 business hours: its target is 4.0 in business hours; the
    times are those the median and p90 come from."""
    [card] = demo_cards()
    touch = {score.obligation: score for score in card.obligations}["first-touch"]
    assert touch.target == 4.0
    assert touch.to_meet is not None
    assert len(touch.times) == touch.to_meet.count
    assert list(touch.times) == sorted(touch.times)
    assert max(touch.times) == touch.to_meet.max


def test_report_command_per_week_and_for_a_range(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(event.to_json() for event in _demo_events()) + "\n", "utf-8")
    out = io.StringIO()
    assert main(["report", str(log), "--per", "week"], out) == 0
    assert out.getvalue().startswith("Scorecard: Marketing–sales SLA, by week, from ")
    assert "\n2026-W10\n" in out.getvalue()
    out = io.StringIO()
    assert main(["report", str(log), "--from", "2026-03-09", "--to", "2026-03-13"], out) == 0
    assert "\n2026-03-09 to 2026-03-13\n" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--from", "2026-03-01"], "'--to' is needed with --from"),
        (["--to", "2026-03-01"], "'--from' is needed with --to"),
        (["--from", "2026-3-1", "--to", "2026-03-02"], "'--from' is not a date (got '2026-3-1')"),
        (
            ["--from", "2026-03-01", "--to", "2026-03-02", "--per", "week"],
            "'--per' cannot be given with --from and --to",
        ),
    ],
)
def test_report_range_options_are_checked(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    said: str,
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("")
    assert main(["report", str(log), *arguments], io.StringIO()) == 1
    assert said in capsys.readouterr().err


def test_a_long_name_keeps_the_text_within_100_columns() -> None:
    """A person's name from a CRM can be as long as it likes: the text table puts it on a line
    of its own, its figures on the next, so every row still fits in 100 columns."""
    [card] = demo_cards()
    name = "Maria-Magdalena von Hohenzollern-Sigmaringen (EMEA enterprise)"
    long = attrs.evolve(card, by_owner=tuple(attrs.evolve(s, person=name) for s in card.by_owner))
    text = render_scorecard([long])
    assert max(len(line) for line in text.splitlines()) <= 100
    assert f"\n    {name} (sales)\n{' ' * 30}0         1         1          0     0" in text
    assert scorecard_data([long])["periods"][0]["by_owner"][0]["person"] == name
