"""Imports that survive real exports: typed columns and formats, row filters, value maps,
tolerant headers, several files merged into one log, and a refusal report."""

from __future__ import annotations

import gzip
import io
import json
import pathlib
import zipfile
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from leadsla import CsvError, CsvMapping, TransitionRequested, replay
from leadsla._shell.cli import main
from leadsla._shell.columns import MISSING, Column, Refusal
from leadsla._shell.csv import csv_events_from_text
from leadsla._shell.importing import ImportReport, import_sources

HELSINKI = ZoneInfo("Europe/Helsinki")


def mapping(text: str) -> CsvMapping:
    return CsvMapping.from_toml_text(text)


# -- columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "cell", "expected"),
    [
        (
            Column("a", "datetime", formats="%Y/%m/%d %H:%M:%S"),
            "2012/10/9 14:50:17",
            datetime(2012, 10, 9, 14, 50, 17, tzinfo=HELSINKI),
        ),
        (
            Column("a", "datetime", formats="%d/%m/%Y %H:%M"),
            "29/2/2016 01:16",
            datetime(2016, 2, 29, 1, 16, tzinfo=HELSINKI),
        ),
        (
            Column("a", "datetime", formats="%m/%d/%Y %I:%M %p"),
            "3/2/2026 9:15 AM",
            datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI),
        ),
        (
            Column("a", "datetime", formats="epoch-ms"),
            "1772435700000",
            datetime(2026, 3, 2, 7, 15, tzinfo=ZoneInfo("UTC")),
        ),
        (Column("a", "datetime"), "2026-03-02", datetime(2026, 3, 2, 8, 30, tzinfo=HELSINKI)),
        (
            Column("a", "datetime", time="17:00"),
            "2026-03-02",
            datetime(2026, 3, 2, 17, tzinfo=HELSINKI),
        ),
        (Column("a", "date", formats="%d.%m.%Y"), "2.3.2026", date(2026, 3, 2)),
        (Column("a", "number"), " 42 ", 42),
        (Column("a", "number"), "1.5", 1.5),
        (Column("a", "boolean"), "Yes", True),
        (Column("a", "choice", values=("Open", "Closed")), "Closed", "Closed"),
        (Column("a", "text", missing=("?", "NULL")), "?", MISSING),
        (Column("a", "number"), "", MISSING),
    ],
)
def test_a_column_reads_its_cells_as_declared(column: Column, cell: str, expected: object) -> None:
    value = column.read(cell, zone="Europe/Helsinki", default_time="08:30")
    assert value == expected
    if isinstance(expected, datetime):
        assert value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("column", "cell", "message", "fix"),
    [
        (
            Column("a", "datetime"),
            "2012/10/9 14:50:17",
            "is not a datetime in 'iso'",
            'format = "%Y/%m/%d %H:%M:%S"',
        ),
        (Column("a", "datetime"), "29/2/2016 01:16", "is not a datetime", '"%d/%m/%Y %H:%M"'),
        (
            Column("a", "date", formats=("%d/%m/%Y", "%m/%d/%Y")),
            "3/2/2026",
            "is ambiguous",
            "keep the one format",
        ),
        (
            Column("a", "datetime", formats="%Y-%m-%d %H:%M"),
            "2026-03-29 03:30",
            "the clocks skip it (spring forward)",
            'gap = "later"',
        ),
        (
            Column("a", "datetime", formats="%Y-%m-%d %H:%M"),
            "2026-10-25 03:30",
            "the clocks show it twice (autumn)",
            'fold = "earlier"',
        ),
        (Column("a", "number"), "1,5", "is not a number", "with a point"),
        (Column("a", "choice", values=("Open",)), "Shut", "is not one of Open", "map it"),
    ],
)
def test_a_cell_a_column_cannot_read_is_refused_with_the_fix(
    column: Column, cell: str, message: str, fix: str
) -> None:
    value = column.read(cell, zone="Europe/Helsinki")
    assert isinstance(value, Refusal)
    assert message in value.message
    assert fix in value.fix


def test_the_gap_and_the_fold_resolved_as_declared() -> None:
    gap = Column("a", "datetime", formats="%Y-%m-%d %H:%M", gap="later")
    assert gap.read("2026-03-29 03:30", zone="Europe/Helsinki").isoformat() == (
        "2026-03-29T04:30:00+03:00"
    )
    earlier = Column("a", "datetime", formats="%Y-%m-%d %H:%M", fold="earlier")
    later = Column("a", "datetime", formats="%Y-%m-%d %H:%M", fold="later")
    assert earlier.read("2026-10-25 03:30", zone="Europe/Helsinki").utcoffset().seconds == 3 * 3600
    assert later.read("2026-10-25 03:30", zone="Europe/Helsinki").utcoffset().seconds == 2 * 3600


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[columns.a]\ntype = 'datum'", "'columns.a.type' is not a known column type"),
        ("[columns.a]\ntype = 'date'\nformat = 'YYYY-MM-DD'", "is not a strptime pattern"),
        ("[columns.a]\ntype = 'number'\nformat = '%d'", "is for dates and times"),
        (
            "[columns.a]\ntype = 'datetime'\nzone = 'Mars/Base'",
            "'columns.a.zone' is not a time zone",
        ),
        ("[columns.a]\ntype = 'choice'", "a choice needs the values"),
        (
            "[columns.a]\ntype = 'datetime'\nfold = 'first'",
            "'columns.a.fold' is not a known choice",
        ),
        ("[columns.a]\nkind = 'date'", "'columns.a.kind' is not a known key"),
        ("[maps.m]\nvalues = {a = 1}", "'maps.m.values' must map source values to texts"),
        ("join = { team = 'sales', keys = ['owner', 'boss'] }", "'join.keys' must list owner"),
    ],
)
def test_mapping_declarations_that_are_wrong_say_where_and_how_to_fix(
    text: str, words: str
) -> None:
    events = "\n[[events]]\ntype = 'lead_created'\nlead = '{id}'\nat = '{at}'\n"
    with pytest.raises(CsvError) as raised:
        mapping(text + events)
    assert words in str(raised.value)


def test_a_template_naming_an_unknown_map_is_refused() -> None:
    with pytest.raises(CsvError, match=r"'events\[1\]\.trigger' is not a known value map"):
        mapping(
            "[[events]]\ntype = 'transition'\nlead = '{id}'\nat = '{at}'\ntrigger = '{s|stages}'"
        )


# -- rows ------------------------------------------------------------------------------------

DEALS = """\
mql_id,won_date,stage,owner_code,amount
m1,2026-03-02 10:00:00,Closed Won,u7,1000
m2,,Open,u8,?
m3,2026-03-03 11:00:00,Closed Lost,u9,NULL
m4,2026-03-04 12:00:00,Negotiation,u7,12
,2026-03-05 12:00:00,Closed Won,u7,5
"""

DEALS_MAPPING = """
zone = "Europe/Helsinki"
missing = ["", "?", "NULL"]

[columns.won_date]
type = "datetime"
format = "%Y-%m-%d %H:%M:%S"

[columns.amount]
type = "number"

[maps.stages]
other = "refuse"
[maps.stages.values]
"Closed Won" = "win"
"Closed Lost" = "lose"
"Open" = "skip"

[maps.people]
other = "pass"
[maps.people.values]
u7 = "alice"
u8 = "bob"

[[events]]
type = "transition"
when = "has(won_date)"
lead = "{mql_id}"
at = "{won_date}"
trigger = "{stage|stages}"
by = "{owner_code|people}"
reason = "amount {amount}"
"""


def test_rows_are_filtered_mapped_and_refused_one_by_one() -> None:
    report = ImportReport()
    made = csv_events_from_text(DEALS, mapping(DEALS_MAPPING), report=report)
    said = []
    for row, event in made:
        assert isinstance(event, TransitionRequested)
        said.append((row, event.trigger, event.by, event.reason))
    assert said == [
        (2, "win", "alice", "amount 1000"),
        (4, "lose", "u9", "amount "),  # NULL is not given: an empty reason part
    ]
    # m2: no won_date, so no event (the when); not a refusal.
    reasons = [(count, first.row, first.column, first.message) for count, first in report.groups()]
    assert sorted(reasons) == [
        (1, 5, "stage", "is not in value map 'stages'"),
        (1, 6, "mql_id", "is empty: the event has no lead"),
    ]
    assert report.rows == {"csv": 5}
    assert report.events == {"csv": 2}


def test_the_event_type_can_come_from_a_column() -> None:
    rows = (
        "case,activity,at\n"
        "C1,Insert ticket,2026-03-02T09:00:00+02:00\n"
        "C1,Call,2026-03-02T10:00:00+02:00\n"
        "C1,Wait,2026-03-02T11:00:00+02:00\n"
    )
    text = """
[maps.types]
other = "activity"
[maps.types.values]
"Insert ticket" = "lead_created"
Wait = "skip"

[maps.kinds]
other = "pass"
[maps.kinds.values]
Call = "call"

[[events]]
type = "{activity|types}"
lead = "{case}"
at = "{at}"
fields = { email = "{case}@example.com" }
kind = "{activity|kinds}"
"""
    made = csv_events_from_text(rows, mapping(text))
    data = [event.to_dict() for _, event in made]
    assert [(event["type"], event.get("kind"), "fields" in event) for event in data] == [
        ("lead_created", None, True),
        ("activity", "call", False),
    ]


def test_a_short_row_is_refused_not_a_crash() -> None:
    report = ImportReport()
    rows = "mql_id,won_date,stage,owner_code,amount\nm1,2026-03-02 10:00:00\n"
    assert csv_events_from_text(rows, mapping(DEALS_MAPPING), report=report) == []
    [(count, first)] = report.groups()
    assert (count, first.message) == (1, "has 2 cells, but the header names 5 columns")


def test_a_time_in_an_undeclared_format_says_which_format_to_declare() -> None:
    rows = "case,at\nC1,2012/10/9 14:50:17\nC2,2012/10/10 09:00:01\n"
    text = "[[events]]\ntype = 'lead_created'\nlead = '{case}'\nat = '{at}'"
    report = ImportReport()
    assert csv_events_from_text(rows, mapping(text), report=report) == []
    [line] = report.lines()
    assert line == (
        "2 rows of csv: 'at' is not an ISO 8601 time (got '2012/10/9 14:50:17'), first at row "
        '2; declare the column: [columns.at] type = "datetime", format = "%Y/%m/%d %H:%M:%S"'
    )


def test_the_same_export_twice_makes_the_same_ids() -> None:
    first = [
        event.id
        for _, event in csv_events_from_text(DEALS, mapping(DEALS_MAPPING), report=ImportReport())
    ]
    moved = DEALS.replace("m4,", "m0,2026-03-01 08:00:00,Closed Won,u8,3\nm4,", 1)
    second = [
        event.id
        for _, event in csv_events_from_text(moved, mapping(DEALS_MAPPING), report=ImportReport())
    ]
    assert set(first) <= set(second)  # a row added above shifts no one's id
    assert len(second) == len(first) + 1


# -- several files, one log -------------------------------------------------------------------

LEADS = """\
mql_id,created,origin
m1,2026-03-02,social
m3,2026-03-03,?
m4,2026-03-05,email
"""

LEADS_MAPPING = """
zone = "Europe/Helsinki"
missing = ["", "?"]

[columns.created]
type = "date"
time = "09:00"

[[events]]
type = "lead_created"
lead = "{mql_id}"
at = "{created}"
fields = { origin = "{origin}", score = "60", email = "{mql_id}@example.com" }
"""


def write(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = directory / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(name.removesuffix(".zip") + ".csv", text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_several_files_merge_by_time_and_each_refusal_names_its_file(
    tmp_path: pathlib.Path,
) -> None:
    leads = write(tmp_path, "leads.csv.gz", LEADS)
    deals = write(tmp_path, "deals.zip", DEALS)
    imported = import_sources([(mapping(LEADS_MAPPING), leads), (mapping(DEALS_MAPPING), deals)])
    said = [(source, row, event.type, event.lead) for source, row, event in imported.events]
    assert said == [
        ("leads", 2, "lead_created", "m1"),
        ("deals", 2, "transition", "m1"),  # Monday 10:00, after its creation at 9:00
        ("leads", 3, "lead_created", "m3"),
        ("deals", 4, "transition", "m3"),
        ("leads", 4, "lead_created", "m4"),
    ]
    assert {first.source for _, first in imported.report.groups()} == {"deals"}
    result = replay(event for _, _, event in imported.events)
    assert result.events == 5
    # (win and lose from mql are not moves of the default lifecycle: refused by the engine)
    assert result.rejected == 2


def test_the_cli_merges_files_reports_refusals_and_joins_people(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leads = write(tmp_path, "leads.csv", LEADS)
    deals = write(tmp_path, "deals.csv", DEALS)
    (tmp_path / "leads.toml").write_text(LEADS_MAPPING, encoding="utf-8")
    joining = DEALS_MAPPING.replace(
        'missing = ["", "?", "NULL"]',
        'missing = ["", "?", "NULL"]\njoin = { team = "sales", keys = ["by"] }',
    )
    (tmp_path / "deals.toml").write_text(joining, encoding="utf-8")
    refusals = tmp_path / "refusals.json"
    out = io.StringIO()
    code = main(
        [
            "replay",
            "--mapping",
            f"{tmp_path / 'leads.toml'}={leads}",
            "--mapping",
            f"{tmp_path / 'deals.toml'}={deals}",
            "--refusals",
            str(refusals),
            "-q",
        ],
        out,
    )
    error = capsys.readouterr().err
    assert code == 1
    assert "5 events on Marketing–sales SLA" in out.getvalue()
    assert "1 person from the data joined team sales: u9" in error
    assert (
        "1 row of deals: 'stage' is not in value map 'stages' (got 'Negotiation'), first at row 5"
        in error
    )
    data = json.loads(refusals.read_text(encoding="utf-8"))
    assert data["refused"] == 2
    assert {reason["source"] for reason in data["reasons"]} == {"deals"}
    strict = main(
        ["replay", "--mapping", f"{tmp_path / 'deals.toml'}={deals}", "--strict", "-q"],
        io.StringIO(),
    )
    assert strict == 1
    assert "deals:5" in capsys.readouterr().err


def test_a_when_reads_undeclared_columns_even_when_others_are_declared() -> None:
    """A column a `when` names is read whether or not [columns] declares it (as text when it
    does not); a name the file does not have is an error, never a silently missing value."""
    rows = "case,activity,at\nC1,Closed,2012/10/9 14:50:17\nC1,Wait,2012/10/9 14:51:00\n"
    declared = """
[columns.at]
type = "datetime"
format = "%Y/%m/%d %H:%M:%S"

[[events]]
type = "activity"
when = "WHEN"
lead = "{case}"
at = "{at}"
kind = "close"
"""
    closing = mapping(declared.replace("WHEN", "activity == 'Closed'"))
    assert [row for row, _ in csv_events_from_text(rows, closing)] == [2]
    with pytest.raises(CsvError, match=r"'events\[1\]\.when' is not a known column"):
        csv_events_from_text(rows, mapping(declared.replace("WHEN", "activty == 'Closed'")))


def test_an_event_a_value_map_skips_is_not_refused_for_its_missing_time() -> None:
    """The time of an event is needed only if the row makes it: a row whose value map says
    "skip" makes no such event, and its missing time is no refusal."""
    rows = "case,activity,at,closed\nC1,Wait,2012/10/9 14:50:17,?\nC1,Closed,2012/10/9 15:00:00,?\n"
    text = """
missing = ["", "?"]

[columns.at]
type = "datetime"
format = "%Y/%m/%d %H:%M:%S"

[columns.closed]
type = "datetime"
format = "%Y/%m/%d %H:%M:%S"

[maps.closing]
other = "skip"
[maps.closing.values]
Closed = "close"

[[events]]
type = "activity"
lead = "{case}"
at = "{at}"
kind = "{activity}"

[[events]]
type = "transition"
lead = "{case}"
at = "{closed}"
trigger = "{activity|closing}"
"""
    report = ImportReport()
    made = csv_events_from_text(rows, mapping(text), report=report)
    assert [(row, event.type) for row, event in made] == [(2, "activity"), (3, "activity")]
    # Row 2's move is skipped (Wait); row 3's (Closed) has no time: refused, and said.
    assert [(first.row, first.column, first.message) for _, first in report.groups()] == [
        (3, "closed", "is empty: the event has no time")
    ]


def test_a_template_made_once_per_lead_takes_the_first_row_that_makes_it() -> None:
    """``once = true``: only the first row of each lead that makes the event makes it (a row
    refused for it does not count); later rows make none, and no refusal is reported."""
    rows = """case,at,activity
c1,?,Take in
c1,2026-03-02T09:00:00+02:00,Assign
c1,2026-03-02T10:00:00+02:00,Resolve
c2,2026-03-02T09:30:00+02:00,Take in
"""
    text = """
missing = ["", "?"]

[[events]]
type = "lead_created"
once = true
lead = "{case}"
at = "{at}"
fields = { email = "{case}@example.com" }

[[events]]
type = "activity"
lead = "{case}"
at = "{at}"
kind = "{activity}"
"""
    report = ImportReport()
    made = csv_events_from_text(rows, mapping(text), report=report)
    created = [(row, event.lead) for row, event in made if event.type == "lead_created"]
    assert created == [(3, "c1"), (5, "c2")]  # c1's first row has no time: its second makes it
    assert report.refused == 2  # that first row's two events, each refused once
    with pytest.raises(CsvError, match=r"once.*must be true or false"):
        mapping(text.replace("once = true", 'once = "yes"'))
