"""The import's fast paths give what the plain ones give.

Two shortcuts make an import cost little beside its replay: a time pattern of numbers alone is
read by a regular expression of its own instead of ``datetime.strptime``, and each template is
compiled once for its file's header, its one-column parts worked out once per distinct cell.
Each is checked here against what it replaces: the pattern against ``strptime`` itself, and the
compiled templates by the property that caching must not break: a row makes the same events and
refusals whatever rows came before it.
"""

from __future__ import annotations

import gc
import pathlib
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla import Agreement, CsvMapping
from leadsla._shell.columns import _strptime
from leadsla._shell.csv import csv_events_from_text
from leadsla._shell.importing import ImportReport, _Source, stream_sources

# -- time patterns of numbers alone, against strptime -------------------------------------------

DIRECTIVES = ["%Y", "%m", "%d", "%H", "%M", "%S"]
SEPARATORS = ["/", "-", ":", " ", "  ", ".", "T", "t", "", "%%", ", "]


@st.composite
def patterns(draw: st.DrawFn) -> str:
    chosen = draw(st.lists(st.sampled_from(DIRECTIVES), min_size=1, max_size=6, unique=True))
    parts = [draw(st.sampled_from(SEPARATORS))]
    for directive in chosen:
        parts += [directive, draw(st.sampled_from(SEPARATORS))]
    return "".join(parts)


def strptime_or_none(text: str, pattern: str) -> datetime | None:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return None


@settings(max_examples=400)
@given(
    pattern=patterns(),
    moment=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    noise=st.text(alphabet="0123456789 /:-.Tt%x\t", max_size=4),
    where=st.integers(min_value=0, max_value=30),
    cut=st.integers(min_value=0, max_value=3),
)
def test_a_numeric_pattern_reads_what_strptime_reads(
    pattern: str, moment: datetime, noise: str, where: int, cut: int
) -> None:
    written = moment.strftime(pattern)
    # the text as written, unpadded (what exports write: 9/3/2026 9:05), with noise put in,
    # and cut short
    unpadded = " ".join(
        part.lstrip("0") or "0" if part.isdigit() else part for part in written.split(" ")
    )
    spaced = re.sub(r"(?<!\d)0(\d)", r" \1", written)  # " 9/3/2026": strptime takes it for %d
    for text in (
        written,
        unpadded,
        spaced,
        written[:where] + noise + written[where:],
        written[: len(written) - cut],
        noise,
    ):
        assert _strptime(pattern)(text) == strptime_or_none(text, pattern), (pattern, text)


def test_a_pattern_with_other_directives_is_read_by_strptime() -> None:
    for pattern, text in [
        ("%m/%d/%Y %I:%M %p", "3/2/2026 9:15 PM"),
        ("%d %b %Y", "3 Feb 2026"),
        ("%Y-%m-%d %H:%M:%S.%f", "2026-02-03 09:15:00.250"),
        ("%d/%d/%Y", "3/3/2026"),  # a directive twice: strptime's own answer (an error)
    ]:
        try:
            expected = datetime.strptime(text, pattern)
        except Exception as error:  # whatever strptime says, the reader says
            with pytest.raises(type(error)):
                _strptime(pattern)(text)
        else:
            assert _strptime(pattern)(text) == expected


# -- compiled templates: a row's events do not depend on the rows before it ---------------------

MAPPING = CsvMapping.from_toml_text("""
zone = "Europe/Helsinki"
missing = ["", "?"]
join = { team = "sales", keys = ["owner"] }

[columns.at]
type = "datetime"
format = ["%d/%m/%Y %H:%M", "iso"]

[columns.size]
type = "number"

[maps.kinds]
other = "refuse"
[maps.kinds.values]
Called = "call"
Mailed = "email"
Noise = "skip"

[[events]]
type = "lead_created"
id = "created-{lead}"
lead = "{lead}"
at = "{at}"
fields = { size = "{size}", source = "{source}" }

[[events]]
type = "activity"
lead = "{lead}"
at = "{at}"
kind = "{stage|kinds}"
by = "{owner}"

[[events]]
type = "assign"
when = "has(owner)"
lead = "{lead}"
at = "{at}"
owner = "{owner}"

[[events]]
type = "transition"
when = "size >= 10"
id = "{lead}-{size}-{stage}"
lead = "{lead}"
at = "{at}"
trigger = "qualify"
reason = "size {size}, {stage|kinds}"
""")
AGREEMENT = Agreement.default()
HEADER = ["lead", "at", "size", "stage", "owner", "source"]

CELLS = {
    "lead": st.sampled_from(["L1", "L2", "L3", "", "?"]),
    "at": st.sampled_from(
        [
            "3/2/2026 09:15",
            "3/2/2026 9:15",
            "29/3/2026 03:30",  # in Helsinki's spring-forward gap: refused
            "31/2/2026 09:00",  # no such day
            "2026-03-02T10:00:00+02:00",
            "2026-03-02",
            "",
            "?",
        ]
    ),
    "size": st.sampled_from(["3", "12", "12.5", "lots", "", "?"]),
    "stage": st.sampled_from(["Called", "Mailed", "Noise", "Visited", "", "?"]),
    "owner": st.sampled_from(["ana", "ben", "", "?"]),
    "source": st.sampled_from(["web", "fair", "", "?"]),
}
ROWS = st.lists(st.fixed_dictionaries(CELLS).map(lambda row: [row[c] for c in HEADER]), max_size=25)


Made = tuple[list[tuple[float, dict[str, Any]]], int, list[tuple[int, str | None, str | None, str]]]


def row_by_row(rows: list[list[str]], *, alone: bool) -> list[Made]:
    """Each row's events (in their JSON form, their times' offsets included) and refusals: all
    rows through one source, or each through a source of its own (so nothing kept from earlier
    rows can show)."""
    results: list[Made] = []
    report = ImportReport()
    shared = _Source("export", HEADER, MAPPING, AGREEMENT, report, strict=False)
    for number, cells in enumerate(rows, start=2):
        if alone:
            report = ImportReport()
            source = _Source("export", HEADER, MAPPING, AGREEMENT, report, strict=False)
        else:
            source = shared
        before = report.refused
        made = source.events(number, list(cells))
        events = [(instant, event.to_dict()) for instant, event in made]
        refusals = [
            (first.row, first.column, first.value, first.message) for _, first in report.groups()
        ]
        results.append((events, report.refused - before, refusals if alone else []))
    return results


@settings(max_examples=150, deadline=None)
@given(rows=ROWS)
def test_a_rows_events_do_not_depend_on_the_rows_before_it(rows: list[list[str]]) -> None:
    together = row_by_row(rows, alone=False)
    alone = row_by_row(rows, alone=True)
    assert [(events, count) for events, count, _ in together] == [
        (events, count) for events, count, _ in alone
    ]


def test_the_rows_of_the_property_make_events_and_refusals() -> None:
    """The cells the property draws from reach every path: events of each type, skipped
    values, and refusals of times, numbers and unmapped values."""
    sample = [
        ["L1", "3/2/2026 09:15", "12", "Called", "ana", "web"],
        ["L1", "3/2/2026 9:15", "3", "Noise", "", "?"],
        ["L2", "29/3/2026 03:30", "lots", "Visited", "ben", "fair"],
        ["L3", "31/2/2026 09:00", "12.5", "Mailed", "?", ""],
        ["L3", "3/2/2026 10:00", "5", "Visited", "", ""],
    ]
    results = row_by_row(sample, alone=True)
    kinds = {event["type"] for events, _, _ in results for _, event in events}
    assert kinds == {"lead_created", "activity", "assign", "transition"}
    messages = " ".join(message for _, _, refusals in results for *_, message in refusals)
    assert "clocks skip" in messages
    assert "not a number" in messages
    assert "value map" in messages
    assert "is not a datetime" in messages


# -- what a second reading of the fast paths found ----------------------------------------------


def test_a_when_on_the_row_number_reads_the_number_not_a_column_named_like_it() -> None:
    rows = "lead,at,_row\n" + "".join(f"L{n},2026-01-0{n}T00:00:00Z,x\n" for n in (1, 2, 3))
    made = csv_events_from_text(
        rows,
        CsvMapping.from_toml_text(
            "[[events]]\ntype = 'lead_created'\nwhen = \"_row == '3'\"\n"
            "lead = '{lead}'\nat = '{at}'\n"
        ),
    )
    assert [(row, event.lead) for row, event in made] == [(3, "L2")]


def test_a_local_time_at_the_end_of_time_is_refused_not_taken_or_raised() -> None:
    report = ImportReport()
    made = csv_events_from_text(
        "lead,at\nL1,0001-01-01T00:00:00\nL2,2026-01-01T00:00:00\n",
        CsvMapping.from_toml_text(
            "zone = 'Europe/Rome'\n[[events]]\ntype = 'lead_created'\n"
            "lead = '{lead}'\nat = '{at}'\n"
        ),
        report=report,
    )
    assert [event.lead for _, event in made] == ["L2"]
    [(count, first)] = report.groups()
    assert (count, first.row, first.column) == (1, 2, "at")
    assert "first or last time Python can hold" in first.message


def test_a_streamed_import_leaves_no_source_behind_for_the_collector(
    tmp_path: pathlib.Path,
) -> None:
    """Each source's compiled templates refer to it (a cycle, which the collector, paused while
    the files are read, would keep with every cell its caches saw until the whole import ends):
    the cycle is broken as soon as the source is read, so reference counting frees it."""
    mapping = CsvMapping.from_toml_text(
        "[columns.size]\ntype = 'number'\n[[events]]\ntype = 'lead_created'\nlead = '{lead}'\n"
        "at = '{at}'\nfields = { size = '{size}' }\n"
    )
    sources = []
    for number in range(3):
        path = tmp_path / f"part{number}.csv"
        path.write_text(
            "lead,at,size\n"
            + "".join(f"L{number}-{i},2026-01-01T00:00:{i % 60:02}Z,{i}\n" for i in range(300))
        )
        sources.append((mapping, path))
    gc.collect()
    gc.disable()  # (as in a longer import: the collector comes by too late to tell)
    try:
        with stream_sources(sources, run=100) as stream:
            assert stream.count == 900
            kept = [thing for thing in gc.get_objects() if isinstance(thing, _Source)]
    finally:
        gc.enable()
    assert kept == []
