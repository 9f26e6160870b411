"""Large imports: events sorted in bounded memory (runs on disk, merged as read back), the
bytes read told to a progress bar, Parquet files read through the same mappings (the parquet
extra), and the CLI naming each refused event's file and row when it streams several files."""

from __future__ import annotations

import csv
import gzip
import io
import pathlib
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import CsvError, CsvMapping, UsageError, replay
from leadsla._shell.cli import main
from leadsla._shell.importing import import_sources, stream_sources

MAPPING = """
zone = "Europe/Helsinki"
missing = ["", "?"]

[columns.won]
type = "datetime"
format = "%d/%m/%Y %H:%M"

[[events]]
type = "lead_created"
lead = "{lead}"
at = "{created}"
fields = { email = "{lead}@example.com", score = "{score}" }

[[events]]
when = "has(won)"
type = "activity"
lead = "{lead}"
at = "{won}"
kind = "call"
"""

START = datetime(2026, 3, 2, 7, tzinfo=UTC)
HELSINKI = ZoneInfo("Europe/Helsinki")


def csv_text(rows: list[tuple[str, int, int, int | None]]) -> str:
    """Rows of (lead, minutes after START it was created, score, minutes to the call or
    None) as an export writes them: ISO creation times, day-first call times, '?' unknown."""
    lines = ["lead,created,score,won,Notes,Notes"]
    for lead, created, score, call in rows:
        at = START + timedelta(minutes=created)
        local = (at + timedelta(minutes=call or 0)).astimezone(HELSINKI)
        won = "?" if call is None else local.strftime("%d/%m/%Y %H:%M")
        lines.append(f"{lead},{at.isoformat()},{score},{won},x,y")
    return "\n".join(lines) + "\n"


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["L-1", "L-2", "L-3", "L-4", "L-5"]),
        st.integers(0, 60 * 24 * 10),
        st.integers(0, 100),
        st.none() | st.integers(0, 600),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(first=rows_strategy, second=rows_strategy, run=st.integers(1, 7))
def test_runs_on_disk_give_exactly_the_events_an_in_memory_sort_gives(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[tuple[str, int, int, int | None]],
    second: list[tuple[str, int, int, int | None]],
    run: int,
) -> None:
    folder = tmp_path_factory.mktemp("runs")
    a, b = folder / "a.csv", folder / "b.csv.gz"
    a.write_text(csv_text(first), encoding="utf-8")
    b.write_bytes(gzip.compress(csv_text(second).encode("utf-8")))
    sources = [(CsvMapping.from_toml_text(MAPPING), a), (CsvMapping.from_toml_text(MAPPING), b)]
    whole = import_sources(sources)
    with stream_sources(sources, run=run) as stream:
        streamed = list(stream)
        # Runs go to disk when the events outnumber the run's size (a row's events stay
        # together, so a run may hold one more); none are empty.
        assert (stream.runs > 0) == (stream.count >= run)
        assert stream.runs <= -(-stream.count // run)
        assert stream.count == len(streamed)
    assert streamed == whole.events
    # (and as the log would hold them: their times at the same offsets)
    assert [(source, row, event.to_dict()) for source, row, event in streamed] == [
        (source, row, event.to_dict()) for source, row, event in whole.events
    ]
    instants = [event.at for _, _, event in streamed]
    assert instants == sorted(instants)


def test_a_stream_spills_runs_removes_them_on_closing_and_is_read_once(
    tmp_path: pathlib.Path,
) -> None:
    rows = [(f"L-{n}", (n * 37) % 500, 60, None if n % 3 else n % 50) for n in range(200)]
    path = tmp_path / "leads.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    stream = stream_sources([(CsvMapping.from_toml_text(MAPPING), path)], run=16)
    with stream:
        assert stream.count // 17 <= stream.runs <= -(-stream.count // 16)
        folder = pathlib.Path(stream._folder.name)  # type: ignore[union-attr]
        assert len(list(folder.iterdir())) == stream.runs
        events = [event for _, _, event in stream]
        with pytest.raises(UsageError, match="was read already"):
            iter(stream)
    assert not folder.exists()
    assert len(events) == stream.count == 200 + sum(1 for row in rows if row[3] is not None)
    result = replay(events)
    assert result.rejected == 0


def test_bytes_read_are_told_as_the_files_are_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(csv_text([(f"L-{n}", n, 60, None) for n in range(500)]), encoding="utf-8")
    told: list[int] = []
    with stream_sources([(CsvMapping.from_toml_text(MAPPING), path)], read=told.append) as s:
        assert s.count == 500
    assert sum(told) == path.stat().st_size


# -- Parquet ---------------------------------------------------------------------------------


@pytest.fixture
def pa() -> Any:
    return pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")


@pytest.fixture
def pq() -> Any:
    return pytest.importorskip("pyarrow.parquet", reason="Parquet needs the parquet extra")


def test_a_parquet_file_makes_the_events_its_csv_twin_makes(
    tmp_path: pathlib.Path, pa: Any, pq: Any
) -> None:
    """Typed Parquet columns (an aware timestamp, an integer, a string with nulls) are given
    to the mapping as the text a CSV export holds: the same events, the same ids."""
    rows = [("L-1", 0, 62, 30), ("L-2", 90, 35, None), ("L-3", 61, 80, 5)]
    csv_path = tmp_path / "leads.csv"
    csv_path.write_text(csv_text(rows), encoding="utf-8")
    with csv_path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))[1:]
    table = pa.table(
        {
            "lead": [record[0] for record in records],
            "created": pa.array(
                [datetime.fromisoformat(record[1]) for record in records],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "score": pa.array([int(record[2]) for record in records], type=pa.int64()),
            "won": [None if record[3] == "?" else record[3] for record in records],
            "Notes": ["x"] * len(records),
        }
    )
    parquet_path = tmp_path / "leads.parquet"
    pq.write_table(table, parquet_path, row_group_size=2)
    mapping = CsvMapping.from_toml_text(MAPPING)
    from_csv = import_sources([(mapping, csv_path)], names=["leads"])
    from_parquet = import_sources([(mapping, parquet_path)], names=["leads"])
    assert [event for _, _, event in from_parquet.events] != []
    # The same events but their ids: a Parquet row's cells are not the CSV row's text.
    assert [{**e.to_dict(), "id": None} for _, _, e in from_parquet.events] == [
        {**e.to_dict(), "id": None} for _, _, e in from_csv.events
    ]
    # Rows count from 1 in a Parquet file (it has no header line).
    assert [row for _, row, _ in from_parquet.events] == [row - 1 for _, row, _ in from_csv.events]
    assert not from_parquet.report


def test_a_file_named_parquet_that_is_not_one_is_refused_naming_it(
    tmp_path: pathlib.Path, pq: Any
) -> None:
    path = tmp_path / "leads.parquet"
    path.write_text(csv_text([("L-1", 0, 60, None)]), encoding="utf-8")
    with pytest.raises(CsvError, match=r"cannot be read as Parquet") as raised:
        import_sources([(CsvMapping.from_toml_text(MAPPING), path)])
    assert str(path) in str(raised.value)


def test_the_cli_replays_parquet_and_names_each_refused_events_file_and_row(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], pa: Any, pq: Any
) -> None:
    table = pa.table(
        {
            "lead": ["L-1", "L-2", "L-1"],
            "created": ["2026-03-02T09:00:00+02:00", "2026-03-02T09:30:00+02:00", "?"],
            "score": [60, 61, 62],
            "won": [None, "02/03/2026 12:00", None],
        }
    )
    pq.write_table(table, tmp_path / "leads.parquet")
    (tmp_path / "leads.toml").write_text(MAPPING, encoding="utf-8")
    # A second file whose lead is created twice: the engine refuses the second creation.
    (tmp_path / "more.csv").write_text(csv_text([("L-2", 600, 60, None)]), encoding="utf-8")
    out = io.StringIO()
    code = main(
        [
            "replay",
            "--mapping",
            f"{tmp_path / 'leads.toml'}={tmp_path / 'leads.parquet'}",
            "--mapping",
            f"{tmp_path / 'leads.toml'}={tmp_path / 'more.csv'}",
            "-q",
        ],
        out,
    )
    error = capsys.readouterr().err
    assert code == 1
    assert "1 row of leads: 'created'" in error  # the '?' time, reported by the import
    assert f"{tmp_path / 'more.csv'}:2: " in error  # the engine's refusal, where it came from
