"""Agreement versions: each lead judged by the version in force when it was created."""

from __future__ import annotations

import io
import pathlib
import warnings
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import (
    ActivityLogged,
    Agreement,
    AgreementError,
    Effect,
    Engine,
    Event,
    LeadCreated,
    LeadSLAError,
    LeadUpdated,
    LeadView,
    OwnerAssigned,
    PostgresStore,
    SqliteStore,
    StoreError,
    StrictRoundRobin,
    TransitionRequested,
    Versions,
    agreement_to_toml,
    migrate,
    render_scorecard,
    replay,
    scorecard,
    scorecard_data,
    simulate,
)
from leadsla._shell.cli import main

HELSINKI = ZoneInfo("Europe/Helsinki")
FIELDS = {"email": "ann@acme.fi", "score": 62}
FIRST = Agreement.default()


def with_first_touch(within: str, version: str, effective: date | None) -> Agreement:
    """The default agreement with first touch due ``within``, as version ``version``."""
    return attrs.evolve(
        FIRST,
        version=version,
        effective=effective,
        obligations=[
            attrs.evolve(spec, within=within) if spec.name == "first-touch" else spec
            for spec in FIRST.obligations
        ],
    )


FASTER = with_first_touch("2 business hours", "2", date(2026, 3, 9))
VERSIONS = Versions([FIRST, FASTER])


def first_touch_due(view: LeadView) -> datetime:
    clock = view.obligation("first-touch")
    assert clock is not None
    return clock.due_at


def created(lead: str, at: datetime, fields: dict[str, object] | None = None) -> LeadCreated:
    return LeadCreated(id=f"c-{lead}", lead=lead, at=at, fields=fields or FIELDS)


def test_the_version_in_force_changes_at_local_midnight() -> None:
    """Version 2 takes effect on 9 March at 00:00 in Helsinki (22:00 UTC the day before)."""
    before = datetime(2026, 3, 8, 21, 59, 59, tzinfo=ZoneInfo("UTC"))
    assert VERSIONS.in_force(before).version == "1"
    assert VERSIONS.in_force(before + timedelta(seconds=1)).version == "2"
    assert VERSIONS.in_force(datetime(2020, 1, 1, tzinfo=HELSINKI)).version == "1"
    assert VERSIONS.latest is FASTER
    assert VERSIONS.named("1") is FIRST


def test_a_lead_keeps_the_version_it_was_created_under() -> None:
    """Friday's lead is due in 4 business hours (Monday 12:00, version 1); Monday's, created
    after version 2 took effect, in 2 (Monday 11:00). An obligation that opens later on the
    old lead (it becomes an MQL on Monday) still takes version 1's target."""
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    engine = Engine(VERSIONS)
    engine.apply(created("L-1", friday))
    engine.apply(created("L-2", friday, {"email": "bo@beta.se", "score": 10}))
    engine.apply(created("L-3", monday))
    engine.apply(LeadUpdated(id="u-2", lead="L-2", at=monday, fields={"score": 70}))
    due = {lead: first_touch_due(engine.lead(lead)) for lead in ("L-1", "L-2", "L-3")}
    assert due == {
        "L-1": datetime(2026, 3, 9, 12, tzinfo=HELSINKI),
        "L-2": datetime(2026, 3, 9, 13, tzinfo=HELSINKI),
        "L-3": datetime(2026, 3, 9, 11, tzinfo=HELSINKI),
    }
    assert [engine.version_of(lead).version for lead in ("L-1", "L-2", "L-3")] == ["1", "1", "2"]
    assert engine.agreement is FASTER
    as_of = engine.lead("L-2", as_of=monday + timedelta(minutes=1))
    assert first_touch_due(as_of) == due["L-2"]


def _by_lead(effects: list[Effect]) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = defaultdict(list)
    for effect in effects:
        data = attrs.asdict(effect, recurse=False)
        found[effect.lead or ""].append({k: v for k, v in data.items() if k != "origin"})
    return found


@settings(max_examples=15, deadline=None)
@given(leads=st.integers(1, 40), seed=st.integers(0, 10_000), day=st.integers(0, 6))
def test_a_log_split_at_the_change_replays_as_one_with_the_versions(
    leads: int, seed: int, day: int
) -> None:
    """Replaying the leads created before the change under version 1 alone, and the others
    under version 2 alone, gives each lead the same record, clocks and effects as one replay
    under both versions (the default policies are partition-safe: a lead's owner does not
    depend on the other leads)."""
    start = datetime(2026, 3, 2, 9, tzinfo=HELSINKI)
    log = simulate(leads, seed=seed, start=start, spacing=timedelta(hours=3))
    change = date(2026, 3, 2) + timedelta(days=day)
    second = with_first_touch("2 business hours", "2", change)
    versions = Versions([FIRST, second])
    until = log[-1].at + timedelta(days=20)
    whole = replay(log, versions, until=until)
    born = {e.lead: e.at for e in log if isinstance(e, LeadCreated)}
    pinned = {lead: versions.in_force(at) for lead, at in born.items()}
    parts = {
        name: replay([e for e in log if pinned[e.lead].version == name], agreement, until=until)
        for name, agreement in (("1", FIRST), ("2", second))
    }
    whole_effects = _by_lead(whole.effects)
    for lead, agreement in pinned.items():
        alone = parts[agreement.version]
        assert whole.engine.lead(lead) == alone.engine.lead(lead)
        assert whole_effects[lead] == _by_lead(alone.effects)[lead]
        assert whole.engine.version_of(lead) is agreement


@pytest.mark.parametrize(
    ("agreements", "field", "said"),
    [
        ([], "versions", "is empty"),
        ([FIRST, attrs.evolve(FIRST, version="2")], "versions[1].effective", "is needed"),
        (
            [FASTER, with_first_touch("3 business hours", "3", date(2026, 3, 9))],
            "versions[1].effective",
            "is not after version '2''s (2026-03-09)",
        ),
        (
            [FIRST, attrs.evolve(FASTER, version="1")],
            "versions[1].version",
            "names an earlier version too",
        ),
    ],
)
def test_versions_that_cannot_follow_each_other_are_refused(
    agreements: list[Agreement], field: str, said: str
) -> None:
    with pytest.raises(AgreementError) as caught:
        Versions(agreements)
    [problem] = caught.value.problems
    assert problem.field == field
    assert said in problem.message


def test_an_unknown_version_name_lists_the_known_ones() -> None:
    with pytest.raises(LeadSLAError, match=r"'version' is not a known version \(got '3'\)"):
        VERSIONS.named("3")


# -- a store adopts a version --------------------------------------------------------------


def test_a_store_adopts_a_version_and_keeps_it(tmp_path: pathlib.Path) -> None:
    """Adopted before its day, version 2 judges the leads created from then on; the store
    reopens with both versions, from its snapshot (no warning), with the same answers."""
    path = tmp_path / "leads.db"
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    with SqliteStore(path) as store:
        store.apply(created("L-1", friday))
        store.adopt(FASTER)
        store.apply(created("L-2", monday))
        assert store.agreement is FASTER
        due = [first_touch_due(store.lead(lead)) for lead in ("L-1", "L-2")]
    assert due == [
        datetime(2026, 3, 9, 12, tzinfo=HELSINKI),
        datetime(2026, 3, 9, 11, tzinfo=HELSINKI),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with SqliteStore(path) as reopened:
            assert reopened.versions.names == ("1", "2")
            assert [first_touch_due(reopened.lead(lead)) for lead in ("L-1", "L-2")] == due


def test_a_version_dated_before_the_store_clock_is_refused(tmp_path: pathlib.Path) -> None:
    """The store has seen Monday 9 March: a version from that day would judge leads already
    judged by version 1. Refused; the store keeps one version, also when reopened."""
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        store.apply(created("L-1", datetime(2026, 3, 9, 10, tzinfo=HELSINKI)))
        with pytest.raises(StoreError) as caught:
            store.adopt(FASTER)
        [problem] = caught.value.problems
        assert problem.field == "effective"
        assert "is not after" in problem.message
        assert "2026-03-09T10:00:00+02:00" in problem.message
        assert store.versions.names == ("1",)
        with pytest.raises(AgreementError, match="names an earlier version too"):
            store.adopt(attrs.evolve(FASTER, version="1", effective=date(2026, 4, 1)))
    with SqliteStore(path) as reopened:
        assert reopened.versions.names == ("1",)


def test_opening_with_an_older_version_says_which(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        store.adopt(FASTER)
    with pytest.raises(StoreError, match="is version '1', not the newest version"):
        SqliteStore(path, FIRST)
    with SqliteStore(path, FASTER) as store:
        assert store.versions.names == ("1", "2")


def test_the_adopt_command(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.db"
    SqliteStore(path).close()
    new = tmp_path / "v2.toml"
    new.write_text(agreement_to_toml(FASTER), encoding="utf-8")
    out = io.StringIO()
    assert main(["adopt", str(new), "--db", str(path)], out) == 0
    assert out.getvalue() == f"{path}: adopted version 2; versions: 1, 2 (from 2026-03-09)\n"
    assert main(["adopt", str(new), "--db", str(path)], io.StringIO()) == 1
    assert "names an earlier version too" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text(
        new.read_text("utf-8").replace('within = "2 business hours"', 'within = "2 parsecs"')
    )
    assert main(["adopt", str(broken), "--db", str(path)], io.StringIO()) == 1
    assert f"{broken}:" in capsys.readouterr().err
    with SqliteStore(path) as store:
        assert store.versions.names == ("1", "2")


def test_a_shared_postgresql_store_adopts_a_version_for_every_process(
    postgres_db: str,
) -> None:
    """Two stores on one database, as two processes would hold it: the first adopts version
    2; the second, opened before, judges the lead it is then given by version 2, and so does a
    store opened afterwards. A version dated before an input the other kept is refused."""
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    with PostgresStore(postgres_db, partitions=4) as first, PostgresStore(postgres_db) as second:
        second.apply(created("L-1", friday))
        late = attrs.evolve(FASTER, effective=date(2026, 3, 6))
        with pytest.raises(StoreError, match="is not after"):
            first.adopt(late)  # the clock is second's Friday 16:00: first reads it first
        assert first.versions.names == ("1",)
        first.adopt(FASTER)
        second.apply(created("L-2", monday))
        assert second.versions.names == ("1", "2")
        assert first_touch_due(second.lead("L-1")) == datetime(2026, 3, 9, 12, tzinfo=HELSINKI)
        assert first_touch_due(second.lead("L-2")) == datetime(2026, 3, 9, 11, tzinfo=HELSINKI)
        assert first_touch_due(first.lead("L-2")) == datetime(2026, 3, 9, 11, tzinfo=HELSINKI)
        # L-1 moved to version 2 by one process: the other sees it so.
        migrate(first, ["L-1"], to="2", at=monday)
        assert first_touch_due(second.lead("L-1")) == datetime(2026, 3, 9, 10, tzinfo=HELSINKI)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with PostgresStore(postgres_db) as third:
            assert third.versions.names == ("1", "2")
            assert first_touch_due(third.lead("L-2")) == datetime(2026, 3, 9, 11, tzinfo=HELSINKI)


def test_the_scorecard_splits_a_period_by_version() -> None:
    """March under version 1 (first touch in 4 business hours) and, from Monday 9 March,
    version 2 (2 hours). L-1, created on Friday at 16:00, is called on Monday at 10:30:
    2.5 business hours, on time by version 1's target. L-2, created on Monday at 09:00, is
    called at 12:00: 3 hours, an hour late by version 2's. The month's first-touch row counts
    both; the version rows say which is whose, each with its own target."""
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    events: list[Event] = []
    for lead, at, called in (
        ("L-1", friday, monday + timedelta(hours=1.5)),
        ("L-2", monday, monday + timedelta(hours=3)),
    ):
        events.append(created(lead, at))
        events.append(OwnerAssigned(id=f"o-{lead}", lead=lead, at=at, owner="alice"))
        events.append(ActivityLogged(id=f"a-{lead}", lead=lead, at=called, kind="call", by="alice"))
    events.sort(key=lambda event: event.at)
    engine = replay(events, VERSIONS, until=monday + timedelta(days=1)).engine
    [card] = scorecard(engine)
    [touch] = [score for score in card.obligations if score.obligation == "first-touch"]
    assert (touch.on_time, touch.met_late) == (1, 1)
    split = [score for score in card.by_version if score.obligation == "first-touch"]
    assert [(s.version, s.target, s.on_time, s.met_late) for s in split] == [
        ("1", 4.0, 1, 0),
        ("2", 2.0, 0, 1),
    ]
    assert [s.to_meet.median if s.to_meet else None for s in split] == [2.5, 3.0]
    assert [s.lateness_worst for s in split] == [None, 1.0]
    text = render_scorecard([card])
    assert " By agreement version (the one judging each lead)\n" in text
    assert "    version 2 (2.0 h)" in text
    assert scorecard_data([card])["periods"][0]["by_version"][1]["version"] == "2"
    one = scorecard(replay(events, FIRST, until=monday + timedelta(days=1)).engine)[0]
    assert one.by_version == ()
    page = render_scorecard([card], "html")
    assert "<h3>By agreement version (the one judging each lead)</h3>" in page
    assert "version 1 (4.0 h)" in page


def test_log_commands_take_the_versions_as_agreement_files_oldest_first(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--agreement` once per version: the report splits March by version; files in the
    wrong order are refused, naming the file."""
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    log = tmp_path / "march.jsonl"
    log.write_text(
        "".join(
            event.to_json() + "\n" for event in (created("L-1", friday), created("L-2", monday))
        ),
        encoding="utf-8",
    )
    first, second = tmp_path / "v1.toml", tmp_path / "v2.toml"
    first.write_text(agreement_to_toml(FIRST), encoding="utf-8")
    second.write_text(agreement_to_toml(FASTER), encoding="utf-8")
    out = io.StringIO()
    command = ["report", str(log), "--until", "2026-03-10T17:00:00+02:00"]
    assert main([*command, "--agreement", str(first), "--agreement", str(second)], out) == 0
    assert " By agreement version (the one judging each lead)\n" in out.getvalue()
    assert "    version 1 (4.0 h)" in out.getvalue()
    assert main([*command, "--agreement", str(second), "--agreement", str(first)], out) == 1
    said = capsys.readouterr().err
    assert f"'{first}: effective' is needed: version '1' follows version '2'" in said


def _strict_sales(effective: date) -> Agreement:
    """Version 2 whose sales team deals leads in the order they arrive."""
    teams = [
        attrs.evolve(t, policy=StrictRoundRobin()) if t.name == "sales" else t for t in FIRST.teams
    ]
    return attrs.evolve(FASTER, teams=teams, effective=effective)


def test_a_version_that_deals_leads_in_order_is_kept_as_a_replay_would(
    tmp_path: pathlib.Path,
) -> None:
    """Version 1 keeps no assignment book (its policies are partition-safe); version 2's
    strict round robin needs one: adopting it, the store deals the next leads as a replay of
    the log under both versions does, and so does the store reopened."""
    path = tmp_path / "leads.db"
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    second = _strict_sales(date(2026, 3, 8))
    later = [created(f"M-{i}", monday + timedelta(minutes=i)) for i in range(4)]
    with SqliteStore(path) as store:
        store.apply(created("L-1", friday))
        store.adopt(second)
        store.apply_many(later)
        live = [store.lead(f"M-{i}").owner for i in range(4)]
    again = replay([created("L-1", friday), *later], Versions([FIRST, second])).engine
    assert live == [again.lead(f"M-{i}").owner for i in range(4)]
    assert len({owner.person for owner in live if owner}) == 3
    with SqliteStore(path) as reopened:
        assert [reopened.lead(f"M-{i}").owner for i in range(4)] == live


def test_a_partitioned_postgresql_store_refuses_a_version_that_deals_in_order(
    postgres_db: str,
) -> None:
    """With 4 partitions, a version whose team deals leads in order is refused (the store
    could not be opened again with it), and nothing is kept."""
    with PostgresStore(postgres_db, partitions=4) as store:
        with pytest.raises(StoreError, match="needs partition-safe assignment"):
            store.adopt(_strict_sales(date(2026, 4, 1)))
        assert store.versions.names == ("1",)
    with PostgresStore(postgres_db) as reopened:
        assert reopened.versions.names == ("1",)


def test_a_process_that_missed_an_adoption_follows_it_without_warnings(postgres_db: str) -> None:
    """B has every partition loaded when A adopts version 2: B migrates a lead to it, and its
    snapshots on closing are of the new versions (a store opened next warns of nothing)."""
    friday = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
    monday = datetime(2026, 3, 9, 9, tzinfo=HELSINKI)
    with PostgresStore(postgres_db, partitions=4) as first:
        first.apply_many([created(f"L-{n}", friday) for n in range(8)])
    with PostgresStore(postgres_db) as first, PostgresStore(postgres_db) as second:
        assert len(second) == 8  # every partition loaded
        first.adopt(FASTER)
        migrate(second, ["L-1"], to="2", at=monday)
        assert second.versions.names == ("1", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with PostgresStore(postgres_db) as third:
            assert third.lead("L-1").lead.version == "2"
            assert len(third) == 8


def test_a_new_version_does_not_rewrite_the_volumes_of_the_periods_before_it() -> None:
    """Version 2, from 1 April, commits 200 accepted leads (sal) a month instead of 150 MQLs:
    February's three MQLs still count as 3 of 150 MQLs; April's MQLs count by version 2's
    definition (none entered sal) against its 200."""
    february = datetime(2026, 2, 10, 10, tzinfo=HELSINKI)
    april = datetime(2026, 4, 6, 10, tzinfo=HELSINKI)
    second = attrs.evolve(
        FIRST,
        version="2",
        effective=date(2026, 4, 1),
        commitments=[
            attrs.evolve(c, at_least=200, state="sal", accepted_state="sql")
            for c in FIRST.commitments
        ],
    )
    log = [created(f"F-{n}", february + timedelta(minutes=n)) for n in range(3)]
    log += [created("A-1", april)]
    engine = replay(log, Versions([FIRST, second])).engine
    assert [(v.period, v.delivered, v.target) for v in engine.volumes()] == [("2026-02", 3, 150)]
    engine.apply(
        TransitionRequested(id="acc", lead="A-1", at=april + timedelta(hours=1), trigger="accept")
    )
    assert [(v.period, v.delivered, v.target) for v in engine.volumes()] == [
        ("2026-02", 3, 150),
        ("2026-04", 1, 200),
    ]
