"""Moving chosen open leads to a newer agreement version (leadsla.migrate)."""

from __future__ import annotations

import io
import pathlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    ActivityLogged,
    Agreement,
    Effect,
    Engine,
    Event,
    LeadCreated,
    LeadMigrated,
    LeadSLAError,
    LeadUpdated,
    Lifecycle,
    Migrated,
    ObligationCancelled,
    ObligationOpened,
    PauseWhile,
    Rejected,
    SqliteStore,
    Transitioned,
    TransitionRequested,
    Versions,
    migrate,
    replay,
    scorecard,
)
from leadsla._shell.cli import main

HELSINKI = ZoneInfo("Europe/Helsinki")
FIELDS = {"email": "ann@acme.fi", "score": 62}
FIRST = Agreement.default()
SECOND = attrs.evolve(
    FIRST,
    version="2",
    effective=date(2026, 3, 9),
    obligations=[
        attrs.evolve(spec, within="2 business hours") if spec.name == "first-touch" else spec
        for spec in FIRST.obligations
        if spec.name != "nurture-review"
    ],
)
VERSIONS = Versions([FIRST, SECOND])
FRIDAY = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
MONDAY = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)


def created(lead: str, at: datetime = FRIDAY) -> LeadCreated:
    return LeadCreated(id=f"c-{lead}", lead=lead, at=at, fields=FIELDS)


def week() -> list[Event]:
    """Friday 16:00: L-1 and L-2 become MQLs under version 1 (first touch due Monday 12:00,
    4 business hours); L-3 is sent to nurture (its nurture-review clock runs); L-4 is won."""
    later = FRIDAY + timedelta(minutes=5)
    return [
        created("L-1"),
        created("L-2"),
        created("L-3"),
        created("L-4"),
        TransitionRequested(id="n-3", lead="L-3", at=later, trigger="nurture", reason="later"),
        TransitionRequested(id="a-4", lead="L-4", at=later, trigger="accept"),
    ]


def test_a_migrated_lead_has_its_clocks_recomputed_and_says_so() -> None:
    """L-1 moves to version 2 on Monday at 09:00: its first touch, opened on Friday at 16:00,
    is cancelled and opened again from the same start with version 2's 2 business hours: due
    Monday 10:00. From then on version 2 judges it."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    effects = migrate(engine, ["L-1"], to="2", at=MONDAY)
    cancelled = [e for e in effects if isinstance(e, ObligationCancelled)]
    opened = [e for e in effects if isinstance(e, ObligationOpened)]
    assert {(e.obligation, e.reason) for e in cancelled} >= {
        ("first-touch", "migrated to version 2: recomputed")
    }
    [touch] = [e for e in opened if e.obligation == "first-touch"]
    assert touch.due_at == datetime(2026, 3, 9, 10, tzinfo=HELSINKI)
    assert touch.at == MONDAY
    assert engine.version_of("L-1").version == "2"
    assert engine.version_of("L-2").version == "1"
    view = engine.lead("L-1")
    [running] = [c for c in view.obligations if c.name == "first-touch" and c.is_open]
    assert running.opened_at == FRIDAY
    assert running.due_at == datetime(2026, 3, 9, 10, tzinfo=HELSINKI)
    other = engine.lead("L-2").obligation("first-touch")
    assert other is not None
    assert other.due_at == datetime(2026, 3, 9, 12, tzinfo=HELSINKI)


def test_a_deadline_already_passed_under_the_new_target_is_due_at_once() -> None:
    """Migrated at 11:00, L-1's new deadline (10:00) has passed: it is due at 11:00, and
    breaches then."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    at = MONDAY + timedelta(hours=2)
    migrate(engine, ["L-1"], to="2", at=at)
    running = engine.lead("L-1").obligation("first-touch")
    assert running is not None
    assert running.due_at == at
    engine.advance(at + timedelta(minutes=1))
    breached = engine.lead("L-1").obligation("first-touch")
    assert breached is not None
    assert breached.status == "breached"


def test_an_obligation_the_new_version_lacks_is_cancelled() -> None:
    """Version 2 has no nurture-review: L-3's clock is cancelled, with the reason."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    effects = migrate(engine, lambda view: view.state == "nurture", to="2", at=MONDAY)
    [cancelled] = [e for e in effects if isinstance(e, ObligationCancelled)]
    assert (cancelled.lead, cancelled.obligation, cancelled.reason) == (
        "L-3",
        "nurture-review",
        "migrated to version 2: not in it",
    )
    assert not [e for e in effects if isinstance(e, ObligationOpened)]


def test_a_state_mapping_moves_the_lead_and_opens_what_its_new_state_starts() -> None:
    """Mapped from mql to sal, L-1 moves there (a move whose cause says why) and its clocks
    are those of version 2 in sal."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    effects = migrate(engine, ["L-1"], to="2", at=MONDAY, states={"mql": "sal"})
    [moved] = [e for e in effects if isinstance(e, Transitioned)]
    assert (moved.source, moved.dest, moved.cause) == ("mql", "sal", "migrated to version 2")
    assert engine.lead("L-1").state == "sal"


def test_refusals_list_every_lead_and_move_nothing() -> None:
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    before = {lead: engine.lead(lead) for lead in engine.leads()}
    with pytest.raises(LeadSLAError, match=r"'to' is not a known version \(got '3'\)"):
        migrate(engine, ["L-1"], to="3", at=MONDAY)
    with pytest.raises(LeadSLAError, match="'states\\['mql'\\]' is not a state of version '2'"):
        migrate(engine, ["L-1"], to="2", at=MONDAY, states={"mql": "limbo"})
    with pytest.raises(LeadSLAError, match=r"names 1 unknown lead \(got \['L-9'\]\)"):
        migrate(engine, ["L-1", "L-9"], to="2", at=MONDAY)
    migrate(engine, ["L-1"], to="2", at=MONDAY)
    with pytest.raises(LeadSLAError, match="already judged by version '2' or a newer one"):
        migrate(engine, ["L-1", "L-2"], to="2", at=MONDAY)
    assert engine.lead("L-2") == before["L-2"]


def test_a_closed_lead_is_refused_with_the_others_named() -> None:
    engine = Engine(VERSIONS)
    events = [
        *week(),
        TransitionRequested(
            id="d-2",
            lead="L-2",
            at=FRIDAY + timedelta(minutes=9),
            trigger="disqualify",
            reason="spam",
        ),
    ]
    for event in events:
        engine.apply(event)
    with pytest.raises(LeadSLAError) as caught:
        migrate(engine, ["L-1", "L-2"], to="2", at=MONDAY)
    [problem] = caught.value.problems
    assert problem.value == ["L-2"]
    assert "are closed" in problem.message
    assert engine.version_of("L-1").version == "1"


def test_a_migration_replays_and_reopens_the_same(tmp_path: pathlib.Path) -> None:
    """The migration is an event: a replay of the log with it, and a store reopened, give
    the same lead; the event reads back from its JSON."""
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        store.apply_many(week())
        store.adopt(attrs.evolve(SECOND, effective=date(2026, 3, 7)))
        effects: list[Effect] = migrate(store, ["L-1"], to="2", at=MONDAY)
        assert effects
        live = store.lead("L-1")
    with SqliteStore(path) as reopened:
        assert reopened.lead("L-1") == live
        assert reopened.engine.version_of("L-1").version == "2"
    event = LeadMigrated(id="m", lead="L-1", at=MONDAY, to="2", state="sal")
    assert LeadMigrated.from_json(event.to_json()) == event
    versions = Versions([FIRST, attrs.evolve(SECOND, effective=date(2026, 3, 7))])
    log = [*week(), LeadMigrated(id="m-1", lead="L-1", at=MONDAY, to="2")]
    assert replay(log, versions).engine.lead("L-1") == live


def test_an_engine_with_one_version_refuses_a_migration_event() -> None:
    engine = Engine(FIRST)
    engine.apply(created("L-1"))
    [rejected] = engine.apply(LeadMigrated(id="m", lead="L-1", at=MONDAY, to="2"))
    assert isinstance(rejected, Rejected)
    assert "names a version, but the engine runs one agreement" in rejected.reason


def test_after_a_migration_the_new_version_judges_what_happens_next() -> None:
    """L-1, migrated on Monday at 09:00, is rejected at 09:30 and requalified at 10:00: its
    new first touch is due in version 2's 2 business hours (12:00), not version 1's 4."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    migrate(engine, ["L-1"], to="2", at=MONDAY)
    half = timedelta(minutes=30)
    engine.apply(
        TransitionRequested(id="r", lead="L-1", at=MONDAY + half, trigger="reject", reason="x")
    )
    engine.apply(
        TransitionRequested(
            id="q", lead="L-1", at=MONDAY + 2 * half, trigger="requalify", reason="y"
        )
    )
    running = engine.lead("L-1").obligation("first-touch")
    assert running is not None
    assert running.due_at == datetime(2026, 3, 9, 12, tzinfo=HELSINKI)


def without_nurture() -> Agreement:
    """Version 2 without the nurture state (nor what moves leads there or watches them)."""
    lifecycle = FIRST.lifecycle
    transitions = [
        attrs.evolve(t, sources=tuple(s for s in t.sources if s != "nurture"))
        for t in lifecycle.transitions
        if t.dest != "nurture"
    ]
    return attrs.evolve(
        SECOND,
        lifecycle=Lifecycle(
            states=[s for s in lifecycle.states if s.name != "nurture"],
            transitions=transitions,
            initial=lifecycle.initial,
        ),
        rules=attrs.evolve(
            FIRST.rules, rules=[r for r in FIRST.rules.rules if "nurture" not in repr(r)]
        ),
    )


def test_a_state_the_new_lifecycle_lacks_needs_a_mapping() -> None:
    """L-3 is in nurture, which version 2 no longer has: refused, naming it with its state,
    and nothing moves; mapped to handback, it moves."""
    engine = Engine(Versions([FIRST, without_nurture()]))
    for event in week():
        engine.apply(event)
    with pytest.raises(LeadSLAError) as caught:
        migrate(engine, ["L-1", "L-3"], to="2", at=MONDAY)
    [problem] = caught.value.problems
    assert problem.value == ["L-3 (nurture)"]
    assert "are in states version '2''s lifecycle lacks (1 in all)" in problem.message
    assert engine.version_of("L-1").version == "1"
    migrate(engine, ["L-1", "L-3"], to="2", at=MONDAY, states={"nurture": "handback"})
    assert engine.lead("L-3").state == "handback"
    assert engine.lead("L-1").state == "mql"


def test_a_clock_whose_deadline_the_new_version_keeps_runs_on() -> None:
    """Version 2 changes first touch only: L-1's accept-or-reject clock keeps its deadline
    and runs on, with no effect about it."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    before = engine.lead("L-1").obligation("accept-or-reject")
    effects = migrate(engine, ["L-1"], to="2", at=MONDAY)
    assert {getattr(e, "obligation", None) for e in effects} == {"first-touch", None}
    [said] = [e for e in effects if isinstance(e, Migrated)]
    assert (said.lead, said.previous, said.version) == ("L-1", "1", "2")
    assert engine.lead("L-1").obligation("accept-or-reject") == before


def test_the_migrate_command(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        store.apply_many(week())
        store.adopt(attrs.evolve(SECOND, effective=date(2026, 3, 7)))
    out = io.StringIO()
    command = ["migrate", "--db", str(path), "--to", "2", "--at", "2026-03-09T09:00:00+02:00"]
    assert main([*command, "--state", "mql"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{path}: moved 2 leads to version 2"
    assert (
        "Mon 2026-03-09 09:00  L-1   first-touch cancelled: migrated to version 2: recomputed"
        in lines
    )
    assert main([*command, "--lead", "L-1"], io.StringIO()) == 1
    assert "already judged by version '2'" in capsys.readouterr().err
    assert main([*command, "--lead", "L-3", "--map", "nurture"], io.StringIO()) == 1
    assert "'--map' is not OLD=NEW (got 'nurture')" in capsys.readouterr().err


def test_a_recomputed_clock_gives_no_warning_whose_time_has_passed() -> None:
    """L-1's first touch, recomputed at 09:50 on Monday to be due at 10:00, would have warned
    at 09:00 (an hour before): that warning is not given late; the breach comes at 10:00."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    at = MONDAY + timedelta(minutes=50)
    migrate(engine, ["L-1"], to="2", at=at)
    later = engine.advance(MONDAY + timedelta(hours=2))
    mine = [e for e in later if e.lead == "L-1" and getattr(e, "obligation", "") == "first-touch"]
    assert [type(e).__name__ for e in mine] == ["ObligationBreached"]
    assert all(e.at >= at for e in mine)


def test_the_instant_of_a_migration_is_checked_first() -> None:
    """Before version 2 takes effect, further back than the allowed lateness (a day), or
    before a chosen lead was created: refused, and nothing moves."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    engine.apply(created("L-5", MONDAY + timedelta(days=3)))
    with pytest.raises(LeadSLAError, match="'at' is before version '2' takes effect"):
        migrate(engine, ["L-1"], to="2", at=FRIDAY + timedelta(hours=1))
    with pytest.raises(LeadSLAError, match="is older than the clock"):
        migrate(engine, ["L-1"], to="2", at=MONDAY)
    with pytest.raises(LeadSLAError, match=r"were created after 'at' \(1 in all\)"):
        migrate(engine, ["L-1", "L-5"], to="2", at=MONDAY + timedelta(days=2, hours=12))
    assert engine.version_of("L-1").version == "1"


def test_an_obligation_met_before_the_migration_is_not_opened_again() -> None:
    """L-1 is called on Monday at 11:00 (first touch met), migrated at 13:00: no second first
    touch is opened, so none breaches."""
    engine = Engine(VERSIONS)
    for event in week():
        engine.apply(event)
    owner = engine.lead("L-1").owner
    assert owner is not None
    engine.apply(
        ActivityLogged(
            id="call", lead="L-1", at=MONDAY + timedelta(hours=2), kind="call", by=owner.person
        )
    )
    effects = migrate(engine, ["L-1"], to="2", at=MONDAY + timedelta(hours=4))
    effects += engine.advance(MONDAY + timedelta(hours=7))
    touches = [c for c in engine.lead("L-1").obligations if c.name == "first-touch"]
    assert [(c.number, c.status) for c in touches] == [(1, "met")]
    mine = [e for e in effects if e.lead == "L-1" and getattr(e, "obligation", "") == "first-touch"]
    assert not mine


def test_a_paused_clock_runs_on_with_its_pauses() -> None:
    """A paused clock is not made to run by a migration: it keeps its pauses, and resumes
    under the new version."""
    paused = attrs.evolve(
        FIRST,
        obligations=[
            attrs.evolve(spec, pause=PauseWhile(condition="score < 55"))
            if spec.name == "first-touch"
            else spec
            for spec in FIRST.obligations
        ],
    )
    second = attrs.evolve(paused, version="2", effective=date(2026, 3, 9))
    engine = Engine(Versions([paused, second]))
    engine.apply(created("L-1"))
    engine.apply(
        LeadUpdated(id="u", lead="L-1", at=FRIDAY + timedelta(minutes=30), fields={"score": 52})
    )
    before = engine.lead("L-1").obligation("first-touch")
    assert before is not None
    assert before.status == "paused"
    migrate(engine, ["L-1"], to="2", at=MONDAY)
    assert engine.lead("L-1").obligation("first-touch") == before


def test_a_mapped_move_is_a_move_like_any_other() -> None:
    """L-3, in nurture (marketing's), mapped to mql: sales takes it, as on a requalify; L-1,
    an MQL mapped to sal: its accept-or-reject clock is met by entering sal, and the tally
    counts it accepted."""
    engine = Engine(Versions([FIRST, without_nurture()]))
    for event in week():
        engine.apply(event)
    migrate(engine, ["L-3"], to="2", at=MONDAY, states={"nurture": "mql"})
    owner = engine.lead("L-3").owner
    assert owner is not None
    assert owner.team == "sales"
    migrate(engine, ["L-1"], to="2", at=MONDAY, states={"mql": "sal"})
    accept = engine.lead("L-1").obligation("accept-or-reject")
    assert accept is not None
    assert accept.status == "met"
    [volume] = engine.volumes()
    assert volume.accepted == 2  # L-4 accepted on Friday, L-1 moved to sal
    assert engine.lead("L-1").lead.highest_stage == "sal"


def test_a_lead_is_checked_as_it_stands_at_the_instant_of_its_move() -> None:
    """L-3 was in nurture on Monday at 09:00 and is an MQL since 10:00: a migration at 09:00
    needs the nurture mapping, and moves nobody without it."""
    engine = Engine(Versions([FIRST, without_nurture()]))
    for event in week():
        engine.apply(event)
    engine.apply(
        TransitionRequested(
            id="rq", lead="L-3", at=MONDAY + timedelta(hours=1), trigger="requalify", reason="x"
        )
    )
    with pytest.raises(LeadSLAError, match=r"\(got \['L-3 \(nurture\)'\]\)"):
        migrate(engine, ["L-1", "L-3"], to="2", at=MONDAY)
    assert engine.version_of("L-1").version == "1"


def test_the_scorecard_counts_a_migrated_leads_clocks_for_the_version_that_judged_them() -> None:
    """Accept-or-reject is 8 business hours in version 1 and 1 in version 2. L-1 (version 1)
    is accepted on Monday at 10:00, 2 hours after it opened, then migrated at 13:00: that
    clock counts for version 1, by its 8 hours; L-3 (version 2) accepted in half an hour
    counts for version 2."""

    def within(hours: str, agreement: Agreement) -> Agreement:
        return attrs.evolve(
            agreement,
            obligations=[
                attrs.evolve(s, within=hours) if s.name == "accept-or-reject" else s
                for s in agreement.obligations
            ],
        )

    engine = Engine(
        Versions([within("8 business hours", FIRST), within("1 business hour", SECOND)])
    )
    engine.apply(created("L-1"))
    hour = timedelta(hours=1)
    engine.apply(TransitionRequested(id="a1", lead="L-1", at=MONDAY + hour, trigger="accept"))
    engine.apply(created("L-3", MONDAY + hour))
    engine.apply(TransitionRequested(id="a3", lead="L-3", at=MONDAY + 1.5 * hour, trigger="accept"))
    migrate(engine, ["L-1"], to="2", at=MONDAY + 4 * hour)
    [card] = scorecard(engine)
    split = {s.version: s for s in card.by_version if s.obligation == "accept-or-reject"}
    assert (split["1"].target, split["1"].on_time, split["1"].times) == (8.0, 1, (2.0,))
    assert (split["2"].target, split["2"].on_time, split["2"].times) == (1.0, 1, (0.5,))
