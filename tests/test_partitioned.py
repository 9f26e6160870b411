"""A log replayed in partitions by lead gives exactly what one process gives: the effects (as
a set of ids and contents), the counts, the totals and the scorecard, whatever the number of
partitions and blocks, for logs with late, out-of-order, malformed and far-future inputs;
and the same on a real Dask LocalCluster of two worker processes."""

from __future__ import annotations

import io
import json
import pathlib
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    Event,
    LeastLoaded,
    UsageError,
    effect_to_dict,
    replay,
    scorecard,
    scorecard_data,
    simulate,
)
from leadsla._shell.cli import main
from leadsla._shell.partitioned import (
    Plan,
    blocks_of,
    given_owners,
    replay_partitioned,
    run_local,
)
from leadsla._shell.totals import Totals
from leadsla.testing import event_streams


def contents(effects: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(effect, sort_keys=True) for effect in effects)


def write(folder: pathlib.Path, lines: list[str], name: str = "log.jsonl") -> pathlib.Path:
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def jumbled(events: list[Event], seed: int) -> list[str]:
    """The events' lines with neighbours swapped now and then (late events), a blank line, a
    line that is not an event, and an event a year and a half ahead (beyond the horizon)."""
    lines = [event.to_json() for event in events]
    rng = random.Random(seed)
    for _ in range(len(lines) // 3):
        i = rng.randrange(len(lines))
        j = min(len(lines) - 1, i + rng.randrange(1, 4))
        lines[i], lines[j] = lines[j], lines[i]
    if seed % 3 == 0:
        lines.insert(rng.randrange(len(lines) + 1), "")
        lines.insert(rng.randrange(len(lines) + 1), '{"id": "x", "type": "nope", "lead": "L-2"}')
    if seed % 4 == 0:
        far = events[0].at + timedelta(days=550)
        lines.insert(
            rng.randrange(len(lines) + 1),
            json.dumps(
                {
                    "id": "far",
                    "type": "activity",
                    "lead": events[0].lead,
                    "at": far.isoformat(),
                    "kind": "call",
                }
            ),
        )
    return lines


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=event_streams(leads=5, max_events=40, housekeeping=True),
    partitions=st.integers(1, 4),
    seed=st.integers(0, 10**6),
    block=st.sampled_from([120, 700, 10**6]),
    cut=st.sampled_from([None, 0.5, 2.0]),
)
def test_partitions_give_exactly_what_one_process_gives(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[Event],
    partitions: int,
    seed: int,
    block: int,
    cut: float | None,
) -> None:
    lines = jumbled(events, seed)
    path = write(tmp_path_factory.mktemp("log"), lines)
    agreement = Agreement.default()
    until = None
    if cut is not None:  # --until inside the log, or after it
        until = events[0].at + (events[-1].at - events[0].at) * cut
    single = replay(lines, agreement, until=until, keep_effects=True)
    plan = Plan(agreement, partitions, until=until, keep_effects=True, scorecard=True)
    spread = replay_partitioned(
        [path],
        agreement,
        partitions=partitions,
        until=until,
        keep_effects=True,
        scorecard=True,
        block_bytes=block,
    )
    assert contents(spread.effects or []) == contents([effect_to_dict(e) for e in single.effects])
    assert (spread.events, spread.rejected, spread.duplicates, spread.after_until) == (
        single.events,
        single.rejected,
        single.duplicates,
        single.after_until,
    )
    assert spread.counts == single.counts
    assert [(line, r.id) for _, line, r in spread.refused] == [
        (line, r.id) for line, r in single.refused
    ]
    whole = Totals.of(single.engine)
    assert attrs_tuple(spread.totals) == attrs_tuple(whole)
    assert json.dumps(scorecard_data(spread.scorecard())) == json.dumps(
        scorecard_data(scorecard(single.engine))
    )
    assert plan.partitions == partitions


def attrs_tuple(totals: Totals) -> tuple[Any, ...]:
    return (
        totals.leads,
        totals.clock,
        dict(totals.outcomes),
        dict(totals.breaches),
        dict(totals.on_time),
        dict(totals.due),
        dict(totals.states),
        dict(totals.tally),
    )


def test_several_files_and_parquet_make_one_log(tmp_path: pathlib.Path) -> None:
    """Files replay as one log in the order given; a Parquet event log (a column a key, the
    fields as JSON text) gives what its JSON Lines twin gives; refusals name file and line."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs the parquet extra")
    events = simulate(60, seed=3)
    lines = [event.to_json() for event in events]
    half = len(lines) // 2
    first = write(tmp_path, lines[:half], "a.jsonl")
    rows = [json.loads(line) for line in lines[half:]]
    keys = sorted({key for row in rows for key in row})
    table = pa.table(
        {
            key: [
                (json.dumps(row[key]) if key == "fields" else row[key]) if key in row else None
                for row in rows
            ]
            for key in keys
        }
    )
    second = tmp_path / "b.parquet"
    pq.write_table(table, second, row_group_size=25)
    # One line refused, in the first file: a transition for a lead no one created.
    bad = '{"id": "bad", "type": "transition", "lead": "L-none", "at": "2026-03-02T09:00:00+02:00", "trigger": "qualify"}'  # noqa: E501
    first.write_text(first.read_text(encoding="utf-8") + bad + "\n", encoding="utf-8")
    single = replay([*lines[:half], bad, *lines[half:]], keep_effects=True)
    spread = replay_partitioned([first, second], partitions=3, keep_effects=True)
    assert contents(spread.effects or []) == contents([effect_to_dict(e) for e in single.effects])
    assert [(path.rsplit("/", 1)[-1], line) for path, line, _ in spread.refused] == [
        ("a.jsonl", half + 1)
    ]


def test_an_order_dependent_agreement_is_refused_unless_the_log_gives_the_owners(
    tmp_path: pathlib.Path,
) -> None:
    default = Agreement.default()
    teams = tuple(
        team
        if team.name != "sales"
        else type(team)(team.name, team.members, team.manager, LeastLoaded())
        for team in default.teams
    )
    agreement = attrs.evolve(default, teams=teams)
    path = write(tmp_path, [event.to_json() for event in simulate(20, seed=5)])
    with pytest.raises(UsageError, match=r"team sales: deals leads in the order") as raised:
        replay_partitioned([path], agreement, partitions=2)
    assert 'owners="given"' in str(raised.value)
    # With the owners given by the log, the team assigns no one itself: one process and the
    # partitions agree again.
    given = replay_partitioned([path], agreement, partitions=2, owners="given", keep_effects=True)
    single = replay(
        path.read_text(encoding="utf-8").splitlines(), given_owners(agreement), keep_effects=True
    )
    assert contents(given.effects or []) == contents([effect_to_dict(e) for e in single.effects])


def test_run_local_is_what_the_stages_give(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, [event.to_json() for event in simulate(30, seed=9)])
    parsed, results = run_local(blocks_of([path], 500), Plan(Agreement.default(), 2))
    assert sum(found.count for found in parsed) == len(simulate(30, seed=9))
    assert len(parsed) > 3  # cut into blocks of 500 bytes
    assert sum(result.events for result in results) == sum(found.events for found in parsed)


# -- on a real Dask cluster ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


def test_a_local_cluster_of_two_processes_gives_one_process_s_results(
    tmp_path: pathlib.Path, client: Any
) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="the dask extra is not installed")
    events = simulate(400, seed=11)
    lines = jumbled(events, 12)
    path = write(tmp_path, lines)
    single = replay(lines, keep_effects=True)
    spread = replay_partitioned(
        [path],
        client=client,
        partitions=5,
        keep_effects=True,
        scorecard=True,
        out=tmp_path / "out",
        block_bytes=20_000,
    )
    assert contents(spread.effects or []) == contents([effect_to_dict(e) for e in single.effects])
    assert json.dumps(scorecard_data(spread.scorecard())) == json.dumps(
        scorecard_data(scorecard(single.engine))
    )
    assert (spread.dashboard or "").startswith("http")
    # The files hold every effect once, with its id.
    ids = [
        effect_id
        for part in sorted((tmp_path / "out" / "effects").glob("part-*.parquet"))
        for effect_id in pq.read_table(part).column("id").to_pylist()
    ]
    assert sorted(ids) == sorted(effect_to_dict(e)["id"] for e in single.effects)
    leads = sum(
        pq.read_table(part).num_rows for part in (tmp_path / "out" / "leads").glob("*.parquet")
    )
    assert leads == len(single.engine)


def test_the_cli_replays_reports_and_compares_on_dask_as_in_one_process(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    path = write(tmp_path, [event.to_json() for event in simulate(150, seed=2)])
    said = {}
    for engine in ("local", "dask"):
        out = io.StringIO()
        extra = (
            ["--engine", "dask", "--workers", "2", "--partitions", "3"] if engine == "dask" else []
        )
        assert main(["report", str(path), "--format", "json", "-q", *extra], out) == 0
        said[engine] = out.getvalue()
    assert said["local"] == said["dask"]
    assert "Dask dashboard" not in capsys.readouterr().err  # -q


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_no_effect_twice(tmp_path: pathlib.Path) -> None:
    """A worker process killed (SIGKILL) while the partitions replay: Dask runs its tasks
    again elsewhere, and the output holds every effect of one process once, by id."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    pq = pytest.importorskip("pyarrow.parquet", reason="the dask extra is not installed")
    import os
    import signal
    import threading
    import time

    lines = [event.to_json() for event in simulate(3000, seed=4)]
    path = write(tmp_path, lines)
    single = replay(lines, keep_effects=True)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        found: dict[str, Any] = {}

        def run() -> None:
            found["result"] = replay_partitioned(
                [path], client=client, partitions=4, out=tmp_path / "out", block_bytes=50_000
            )

        worker = threading.Thread(target=run)
        worker.start()
        # Wait until a replay task runs on some worker, then kill that worker's process.
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if any("replay_partition" in str(key) for key in keys):
                    victim = address
            time.sleep(0.05)
        assert victim is not None, "no replay task was seen running"
        os.kill(pids[victim], signal.SIGKILL)
        worker.join(timeout=120)
        assert not worker.is_alive()
    ids = [
        effect_id
        for part in sorted((tmp_path / "out" / "effects").glob("part-*.parquet"))
        for effect_id in pq.read_table(part).column("id").to_pylist()
    ]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(effect_to_dict(e)["id"] for e in single.effects)
    assert found["result"].events == single.events


def test_a_far_future_first_event_of_a_partition_is_refused_as_one_process_refuses_it(
    tmp_path: pathlib.Path,
) -> None:
    """A partition whose first event is beyond the horizon of the log's clock refuses it,
    as one process does, though its own engine has no clock yet."""
    lines = [
        json.dumps(line)
        for line in (
            {
                "id": "a",
                "type": "lead_created",
                "lead": "L-1",
                "at": "2026-03-02T09:00:00+02:00",
                "fields": {"email": "a@b.fi", "score": 60},
            },
            {
                "id": "b",
                "type": "lead_created",
                "lead": "L-4",
                "at": "2028-06-01T09:00:00+02:00",
                "fields": {"email": "c@d.fi", "score": 60},
            },
            {
                "id": "c",
                "type": "activity",
                "lead": "L-1",
                "at": "2026-03-02T10:00:00+02:00",
                "kind": "call",
            },
        )
    ]
    path = write(tmp_path, lines)
    single = replay(lines, keep_effects=True)
    assert [r.event for _, r in single.refused] == ["b"]
    for partitions in (1, 2, 3):
        spread = replay_partitioned([path], partitions=partitions, keep_effects=True)
        assert [r.event for _, _, r in spread.refused] == ["b"]
        assert contents(spread.effects or []) == contents(
            [effect_to_dict(e) for e in single.effects]
        )


def test_an_id_repeated_later_is_listed_as_inexact(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One process does not move its clock for an id it has seen (a conflict: the same id,
    another time); the scan does: such an event is listed, with its file and line, and the
    CLI exits with 1."""
    events = simulate(40, seed=1)
    lines = [event.to_json() for event in events]
    again = json.loads(lines[-1])
    again["at"] = (events[-1].at + timedelta(hours=20)).isoformat()
    lines.append(json.dumps(again))
    path = write(tmp_path, lines)
    single = replay(lines)
    assert [line for line, _ in single.refused] == [len(lines)]  # the conflict
    spread = replay_partitioned([path], partitions=3)
    assert [(line, event_id) for _, line, event_id in spread.inexact] == [(len(lines), again["id"])]
    capsys.readouterr()
    assert main(["replay", str(path), "-q", "--engine", "dask", "--workers", "1"], io.StringIO())
    said = capsys.readouterr().err
    assert f"log.jsonl:{len(lines)}: event {again['id']!r} repeats an id seen before" in said


def test_struct_fields_in_parquet_leave_null_members_out(tmp_path: pathlib.Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs the parquet extra")
    rows: list[dict[str, Any]] = [
        {
            "id": "a",
            "type": "lead_created",
            "lead": "L-1",
            "at": "2026-03-02T09:00:00+02:00",
            "fields": {"email": "a@b.fi", "score": 40},
        },
        {
            "id": "b",
            "type": "lead_updated",
            "lead": "L-1",
            "at": "2026-03-02T10:00:00+02:00",
            "fields": {"email": None, "score": 60},
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "log.parquet")
    spread = replay_partitioned([tmp_path / "log.parquet"], keep_effects=True)
    single = replay(
        [
            json.dumps({**row, "fields": {k: v for k, v in row["fields"].items() if v is not None}})
            for row in rows
        ],
        keep_effects=True,
    )
    assert contents(spread.effects or []) == contents([effect_to_dict(e) for e in single.effects])


def test_out_holds_this_replays_partitions_only(tmp_path: pathlib.Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs the parquet extra")
    path = write(tmp_path, [event.to_json() for event in simulate(50, seed=8)])
    out = tmp_path / "out"
    replay_partitioned([path], partitions=4, out=out)
    mine = out / "effects" / "notes.txt"
    mine.write_text("kept", encoding="utf-8")
    again = replay_partitioned([path], partitions=2, out=out)
    parts = sorted(p.name for p in (out / "effects").glob("part-*.parquet"))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]
    assert mine.exists()  # only the part files are replaced
    ids = [i for p in parts for i in pq.read_table(out / "effects" / p).column("id").to_pylist()]
    assert len(ids) == len(set(ids)) == again.counts.total()


def test_options_of_a_partitioned_replay_need_the_dask_engine(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, [event.to_json() for event in simulate(5, seed=8)])
    assert main(["replay", str(path), "--partitions", "4"], io.StringIO()) == 1
    assert "'--partitions' is an option of a partitioned replay" in capsys.readouterr().err
    assert main(["replay", str(path), "--engine", "dask", "--partitions", "0"], io.StringIO()) == 1
    assert "'--partitions' must be 1 or more" in capsys.readouterr().err


def test_logs_as_one_process_reads_them_and_unreadable_ones_refused(tmp_path: pathlib.Path) -> None:
    """Line ends (CR LF, a lone CR), a byte-order mark, a line that is not JSON (refused with
    the text one process quotes), a line nested too deeply, blocks cut anywhere; and a log
    that cannot be read is a UsageError naming it, not a traceback."""
    lines = [event.to_json() for event in simulate(12, seed=6)]
    lines.insert(3, "not json")
    lines.insert(6, "[" * 5000 + "]" * 5000)
    for end in ("\r\n", "\r", "\n"):
        path = tmp_path / f"log{len(end)}{end == chr(13)}.jsonl"
        path.write_bytes(("\ufeff" + end.join(lines) + end).encode("utf-8"))
        with path.open(encoding="utf-8-sig", newline=None) as log:
            single = replay(log, keep_effects=True)
        for block in (50, 333, 10**6):
            spread = replay_partitioned([path], partitions=2, block_bytes=block, keep_effects=True)
            assert contents(spread.effects or []) == contents(
                [effect_to_dict(e) for e in single.effects]
            )
            assert [(line, r.id) for _, line, r in spread.refused] == [
                (line, r.id) for line, r in single.refused
            ]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "\\xff\xff"}\n')
    with pytest.raises(UsageError, match=r"'log' cannot be read \(is not UTF-8 text\)"):
        replay_partitioned([bad])
    (tmp_path / "x.parquet").write_text("no", encoding="utf-8")
    with pytest.raises(UsageError, match=r"cannot be read \(not a Parquet file"):
        replay_partitioned([tmp_path / "x.parquet"])
    with pytest.raises(UsageError, match="block_bytes"):
        replay_partitioned([bad], block_bytes=0)


def test_refusals_say_the_clock_in_the_offset_one_process_says_it(
    tmp_path: pathlib.Path,
) -> None:
    """Two leads' events at one instant in different offsets: the clock is said as the later
    one says it, in every partition (a refusal quotes it, and its id depends on it)."""
    lines = [
        json.dumps(line)
        for line in (
            {
                "id": "a",
                "type": "lead_created",
                "lead": "L-1",
                "at": "2026-03-09T10:00:00+00:00",
                "fields": {"email": "a@b.fi", "score": 60},
            },
            {
                "id": "b",
                "type": "lead_created",
                "lead": "L-4",
                "at": "2026-03-09T12:00:00+02:00",
                "fields": {"email": "c@d.fi", "score": 60},
            },
            {"id": "c", "type": "activity", "lead": "L-1", "kind": "call"},
            {
                "id": "d",
                "type": "activity",
                "lead": "L-1",
                "at": "2026-03-01T10:00:00+00:00",
                "kind": "call",
            },
            {
                "id": "e",
                "type": "activity",
                "lead": "L-1",
                "at": "2029-03-01T10:00:00+00:00",
                "kind": "call",
            },
        )
    ]
    path = write(tmp_path, lines)
    single = replay(lines, keep_effects=True)
    assert len(single.refused) == 3
    for partitions in (1, 2, 3):
        spread = replay_partitioned([path], partitions=partitions, keep_effects=True)
        assert [(r.id, r.reason) for _, _, r in spread.refused] == [
            (r.id, r.reason) for _, r in single.refused
        ]
