"""Events from CSV exports through a column mapping (leadsla.csv_events, CsvMapping)."""

from __future__ import annotations

import csv
import io
import pathlib
from collections import Counter
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    CsvError,
    CsvMapping,
    Event,
    EventTemplate,
    UsageError,
    csv_events,
    replay,
)
from leadsla._shell.cli import main
from leadsla._shell.csv import csv_events_from_text
from leadsla._shell.importing import ImportReport

LEADS = """\
lead_id,created,score,vip,owner
A1,2026-03-02T09:15:00+02:00,62,yes,bob
A2,2026-03-02 10:00:00,35,no,
A3,2026-03-02,,maybe,carol
"""

CREATED = """
zone = "Europe/Helsinki"
default_time = "08:30"

[[events]]
type = "lead_created"
id = "{lead_id}-new"
lead = "{lead_id}"
at = "{created}"
fields = {score = "{score}", vip = "{vip}", email = "{lead_id}@acme.fi", note = "{{raw}} {_row}"}
"""


def made(text: str = LEADS, mapping: str = CREATED) -> list[tuple[int, Event]]:
    return csv_events_from_text(text, CsvMapping.from_toml_text(mapping))


def as_data(events: list[tuple[int, Event]]) -> list[tuple[int, dict[str, Any]]]:
    """The events in their JSON form (their times' offsets included), with their rows."""
    return [(row, event.to_dict()) for row, event in events]


def test_each_row_makes_the_mapped_event() -> None:
    """Columns fill the templates, constants stay, {_row} is the row, {{ }} are braces."""
    first = dict(made())
    assert first[2].to_dict() == {
        "id": "A1-new",
        "type": "lead_created",
        "lead": "A1",
        "at": "2026-03-02T09:15:00+02:00",
        "fields": {"score": 62, "vip": "yes", "email": "A1@acme.fi", "note": "{raw} 2"},
    }


def test_times_with_and_without_an_offset_and_dates_alone() -> None:
    """An offset is kept; a naive time is local in the mapping's zone; a date alone is the
    default time of day. The events come sorted by instant."""
    times = {row: event.at.isoformat() for row, event in made()}
    assert times == {
        2: "2026-03-02T09:15:00+02:00",
        3: "2026-03-02T10:00:00+02:00",
        4: "2026-03-02T08:30:00+02:00",
    }
    assert [row for row, _ in made()] == [4, 2, 3]


def test_field_values_are_typed_by_the_agreements_fields() -> None:
    """score is a declared number; an empty cell is a missing field (None); vip is not
    declared, so it stays text."""
    fields = {row: event.to_dict()["fields"] for row, event in made()}
    assert fields[2]["score"] == 62
    assert fields[4]["score"] is None
    assert fields[3]["vip"] == "no"


def test_a_row_can_make_several_events_in_order() -> None:
    mapping = (
        CREATED
        + """
[[events]]
type = "transition"
lead = "{lead_id}"
at = "{created}"
trigger = "accept"
by = "{owner}"
"""
    )
    events = [(row, event.type, event.to_dict().get("by")) for row, event in made(mapping=mapping)]
    assert events[:2] == [(4, "lead_created", None), (4, "transition", "carol")]
    assert (3, "transition", None) in events  # an empty cell is no one
    # An id from the row's cells and the template's place: the same row, the same id.
    ids = [event.id for _, event in made(mapping=mapping)]
    assert ids[1].startswith("csv-")
    assert ids[1].endswith("-2")
    assert ids == [event.id for _, event in made(mapping=mapping)]


def test_replaying_the_rows_gives_leads_with_typed_fields() -> None:
    result = replay([event for _, event in made()])
    assert result.rejected == 0
    assert result.engine.lead("A1").state == "mql"  # score 62
    assert result.engine.lead("A2").state == "lead"  # score 35


def test_a_cell_that_is_not_a_time_is_refused_with_its_row(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = LEADS.replace("2026-03-02 10:00:00", "next tuesday")
    (tmp_path / "leads.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "mapping.toml").write_text(CREATED, encoding="utf-8")
    out = io.StringIO()
    arguments = ["replay", str(tmp_path / "leads.csv"), "--mapping", str(tmp_path / "mapping.toml")]
    assert main(arguments, out) == 1
    assert "2 events on Marketing–sales SLA, 0 refused" in out.getvalue()  # the good rows
    error = capsys.readouterr().err
    assert "1 row of leads: 'created' is not an ISO 8601 time (got 'next tuesday')" in error
    assert "first at row 3" in error
    assert "1 row refused by the mapping" in error


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("zone = 'Europe/Helsinki'", "'events' must list at least one event"),
        (
            "[[events]]\ntype = 'lead_create'\nlead = '{a}'\nat = '{b}'",
            "'events[1].type' is not a known event type (got 'lead_create'); use one of "
            "activity, assign, lead_created, lead_updated, transition "
            "(did you mean 'lead_created'?)",
        ),
        (
            "[[events]]\ntype = 'transition'\nlead = '{a}'\nat = '{b}'",
            "'events[1].trigger' is required, as text",
        ),
        (
            "[[events]]\ntype = 'activity'\nlead = '{a}'\nat = '{b}'\ntrigger = 'x'",
            "'events[1].trigger' is not a known key of an activity event",
        ),
        (
            "zone = 'Mars/Olympus'\n[[events]]\ntype = 'lead_created'\nlead = '{a}'\nat = '{b}'",
            "'zone' is not a time zone (got 'Mars/Olympus')",
        ),
        (
            "default_time = '9am'\n[[events]]\ntype = 'lead_created'\nlead = 'x'\nat = 'y'",
            "'default_time' is not a time of day (got '9am')",
        ),
        ("[[events]\n", "'mapping' is not TOML"),
    ],
)
def test_mapping_problems_name_the_key_the_value_and_the_fix(mapping: str, message: str) -> None:
    with pytest.raises(CsvError) as raised:
        CsvMapping.from_toml_text(mapping)
    assert message in str(raised.value)


def test_a_template_naming_a_missing_column_lists_the_columns() -> None:
    mapping = "[[events]]\ntype = 'lead_created'\nlead = '{lead}'\nat = '{created}'"
    with pytest.raises(CsvError) as raised:
        csv_events_from_text(LEADS, CsvMapping.from_toml_text(mapping))
    assert str(raised.value) == (
        "'events[1].lead' is not a known column (got 'lead'); use one of created, lead_id, "
        "owner, score, vip (did you mean 'lead_id'?)"
    )


def test_a_mapping_built_in_python() -> None:
    mapping = CsvMapping(
        [EventTemplate("lead_created", lead="{lead_id}", at="{created}")], zone="UTC"
    )
    (row, first), *_ = csv_events_from_text(LEADS, mapping)
    assert (row, first.at.isoformat()) == (4, "2026-03-02T00:00:00+00:00")


# -- real data: Olist's marketing funnel (non-commercial licence: used here as test data only)

OLIST = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "olist-marketing-funnel"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")

OLIST_MQLS = """
zone = "America/Sao_Paulo"
default_time = "09:00"

[[events]]
type = "lead_created"
id = "mql-{mql_id}"
lead = "{mql_id}"
at = "{first_contact_date}"
fields = {origin = "{origin}", score = "60", email = "{mql_id}@olist.example"}
"""

OLIST_DEALS = """
zone = "America/Sao_Paulo"

[[events]]
type = "transition"
id = "accept-{mql_id}"
lead = "{mql_id}"
at = "{won_date}"
trigger = "accept"
by = "{sdr_id}"

[[events]]
type = "lead_updated"
id = "budget-{mql_id}"
lead = "{mql_id}"
at = "{won_date}"
fields = {budget_confirmed = "true", need_months = "1"}

[[events]]
type = "transition"
id = "win-{mql_id}"
lead = "{mql_id}"
at = "{won_date}"
trigger = "qualify_sales"
by = "{sr_id}"

[[events]]
type = "transition"
id = "won-{mql_id}"
lead = "{mql_id}"
at = "{won_date}"
trigger = "win"
by = "{sr_id}"
"""


@pytest.mark.skipif(not OLIST.exists(), reason="the shared Olist data is not on this machine")
def test_olist_mqls_and_closed_deals_replay_through_the_default_agreement() -> None:
    """8 000 MQLs become leads and MQLs; each closed deal is accepted, qualified and won on
    its won date, except the deals whose won date is before the MQL's first contact (a quirk
    of the data: their four events are refused, as older than the lead's creation)."""
    mqls = csv_events(
        OLIST / "olist_marketing_qualified_leads_dataset.csv", CsvMapping.from_toml_text(OLIST_MQLS)
    )
    deals = csv_events(
        OLIST / "olist_closed_deals_dataset.csv", CsvMapping.from_toml_text(OLIST_DEALS)
    )

    def instant(event: Event) -> float:
        return event.at.timestamp()

    events = sorted([event for _, event in mqls + deals], key=instant)
    result = replay(events)

    # What the data says, read independently of leadsla.
    with (OLIST / "olist_marketing_qualified_leads_dataset.csv").open(encoding="utf-8") as f:
        contact = {row["mql_id"]: row["first_contact_date"] for row in csv.DictReader(f)}
    with (OLIST / "olist_closed_deals_dataset.csv").open(encoding="utf-8") as f:
        won = {row["mql_id"]: row["won_date"] for row in csv.DictReader(f)}

    def first_contact(mql: str) -> datetime:
        day = datetime.fromisoformat(contact[mql]).date()
        return datetime.combine(day, time(9), SAO_PAULO)

    early = [
        m
        for m, at in won.items()
        if datetime.fromisoformat(at).replace(tzinfo=SAO_PAULO) < first_contact(m)
    ]
    assert len(contact) == 8000
    assert len(won) == 842
    states = Counter(result.engine.lead(lead).state for lead in result.engine.leads())
    assert states == {"won": len(won) - len(early), "mql": len(contact) - len(won) + len(early)}
    assert result.rejected == 4 * len(early)
    assert all("is unknown" in rejection.reason for rejection in result.rejections)


def test_a_stray_brace_in_a_template_is_a_mapping_error() -> None:
    """A typo like {Lead ID would give every row the same id: it is refused, not copied."""
    mapping = "[[events]]\ntype = 'lead_created'\nid = 'crm-{lead_id'\nlead = '{lead_id}'\nat = 'x'"
    with pytest.raises(CsvError) as raised:
        CsvMapping.from_toml_text(mapping)
    assert str(raised.value) == (
        "'events[1].id' has a brace that names no column (got 'crm-{lead_id'); "
        "write {column} for a column's value, {{ and }} for a brace"
    )
    with pytest.raises(CsvError, match=r"'events\[1\].fields.x' has a brace"):
        CsvMapping.from_toml_text(
            "[[events]]\ntype = 'lead_created'\nlead = 'a'\nat = 'b'\nfields = {x = '{}'}"
        )


def test_cells_that_are_not_what_the_agreement_declares_are_listed_with_their_rows() -> None:
    """score is a declared number and budget_confirmed a boolean: a comma decimal, 'nan' and
    'maybe' are refused, each with its row; a long integer stays exact."""
    rows = (
        "lead_id,created,score,budget\n"
        'A1,2026-03-02,"1,5",yes\n'
        "A2,2026-03-02,nan,maybe\n"
        "A3,2026-03-02,12345678901234567890,no\n"
    )
    mapping = CsvMapping.from_toml_text(
        "[[events]]\ntype = 'lead_created'\nlead = '{lead_id}'\nat = '{created}'\n"
        "fields = {score = '{score}', budget_confirmed = '{budget}'}"
    )
    with pytest.raises(CsvError) as raised:
        csv_events_from_text(rows, mapping)  # without a report: an error, by reason
    assert str(raised.value) == (
        "'row 2: score' is not a number (got '1,5'); write digits with a point, e.g. 1.5 or 42"
    )
    report = ImportReport()
    kept = csv_events_from_text(rows, mapping, report=report)
    assert [row for row, _ in kept] == [4]  # the good row is kept
    assert [(count, first.row, first.value) for count, first in report.groups()] == [(2, 2, "1,5")]
    rows_b = rows.replace('"1,5"', "1.5").replace("nan", "7")
    report = ImportReport()
    csv_events_from_text(rows_b, mapping, report=report)
    assert [(first.row, first.column, first.message) for _, first in report.groups()] == [
        (3, "budget", "is not a yes or no")
    ]
    good = rows.replace('"1,5"', "1.5").replace("nan", "7").replace("maybe", "y")
    fields = [event.to_dict()["fields"] for _, event in csv_events_from_text(good, mapping)]
    assert [f["score"] for f in fields] == [1.5, 7, 12345678901234567890]
    assert [f["budget_confirmed"] for f in fields] == [True, True, False]


def test_rows_are_numbered_by_their_line_even_after_blank_lines_and_quoted_newlines() -> None:
    rows = 'lead_id,created,note\n\nA1,2026-03-02,"two\nlines"\nA2,2026-03-03,x\n'
    mapping = CsvMapping.from_toml_text(
        "[[events]]\ntype = 'lead_created'\nid = 'n{_row}'\nlead = '{lead_id}'\nat = '{created}'"
    )
    assert [(row, event.id) for row, event in csv_events_from_text(rows, mapping)] == [
        (3, "n3"),
        (5, "n5"),
    ]


def test_empty_header_only_and_duplicate_header_files() -> None:
    mapping = CsvMapping.from_toml_text(
        "[[events]]\ntype = 'lead_created'\nlead = '{lead_id}'\nat = '{created}'"
    )
    with pytest.raises(CsvError, match="'csv' is empty; export the file with its header row"):
        csv_events_from_text("", mapping)
    assert csv_events_from_text("lead_id,created\n", mapping) == []
    # A column named twice that the mapping does not use is no matter; one it uses is.
    assert csv_events_from_text("lead_id,created,score,score\nA1,2026-03-02,1,2\n", mapping)
    with pytest.raises(CsvError) as raised:
        csv_events_from_text("lead_id,created,created\nA1,2026-03-02,2026-03-03\n", mapping)
    assert str(raised.value) == (
        "'events[1].at' names a column the header has 2 times (got 'created'); rename the "
        "columns so the one the mapping uses is named once"
    )
    assert [
        row for row, _ in csv_events_from_text("\ufefflead_id,created\nA1,2026-03-02\n", mapping)
    ] == [2]


def test_a_date_in_basic_format_is_a_date_alone() -> None:
    mapping = CsvMapping.from_toml_text(
        "default_time = '09:00'\nzone = 'UTC'\n"
        "[[events]]\ntype = 'lead_created'\nlead = '{lead_id}'\nat = '{created}'"
    )
    [(_, event)] = csv_events_from_text("lead_id,created\nA1,20260302\n", mapping)
    assert event.at.isoformat() == "2026-03-02T09:00:00+00:00"


# -- a path or a text, never guessed ---------------------------------------------------------


def test_csv_events_reads_a_file_named_by_a_str(tmp_path: pathlib.Path) -> None:
    """A str path names the file: it is read, not taken as CSV text."""
    path = tmp_path / "leads.csv"
    path.write_text(LEADS, encoding="utf-8")
    mapping = CsvMapping.from_toml_text(CREATED)
    assert as_data(csv_events(str(path), mapping)) == as_data(csv_events(path, mapping))
    assert [row for row, _ in csv_events(str(path), mapping)] == [4, 2, 3]


def test_csv_events_refuses_csv_text_and_names_the_text_function() -> None:
    """CSV text given where a path is expected is refused, with the function to use."""
    with pytest.raises(UsageError) as raised:
        csv_events(LEADS, CsvMapping.from_toml_text(CREATED))
    assert str(raised.value) == (
        "'path' looks like CSV text, not the path of a file "
        "(got 'lead_id,created,score,vip,owner\\nA1,2026-03-02T09:15:00+02...'); "
        "pass the text to csv_events_from_text(text, mapping) instead"
    )


def test_csv_events_refuses_an_open_file() -> None:
    """An open file is not a path: the error names the function that reads lines."""
    with pytest.raises(UsageError) as raised:
        csv_events(io.StringIO(LEADS), CsvMapping.from_toml_text(CREATED))  # type: ignore[arg-type]
    assert "'path' is not a path (got 'StringIO')" in str(raised.value)
    assert "use csv_events_from_text(text, mapping)" in str(raised.value)


def test_a_csv_file_that_cannot_be_read_is_a_csv_error(tmp_path: pathlib.Path) -> None:
    """A missing file is a CsvError naming the path and the fix."""
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(CsvError) as raised:
        csv_events(missing, CsvMapping.from_toml_text(CREATED))
    assert str(raised.value) == (
        f"'path' cannot be read (No such file or directory) (got {str(missing)!r}); "
        "give the path of a CSV file with a header row "
        "(for CSV text, use csv_events_from_text(text, mapping))"
    )


def test_csv_events_from_text_reads_a_str_or_its_lines() -> None:
    """The whole text, an open file and a list of lines make the same events."""
    mapping = CsvMapping.from_toml_text(CREATED)
    whole = as_data(csv_events_from_text(LEADS, mapping))
    assert as_data(csv_events_from_text(io.StringIO(LEADS), mapping)) == whole
    assert as_data(csv_events_from_text(LEADS.splitlines(keepends=True), mapping)) == whole
    assert [row for row, _ in whole] == [4, 2, 3]


def test_csv_events_from_text_refuses_a_path(tmp_path: pathlib.Path) -> None:
    """A Path given as text is refused, with the function that reads files."""
    with pytest.raises(UsageError) as raised:
        csv_events_from_text(tmp_path / "leads.csv", CsvMapping.from_toml_text(CREATED))  # type: ignore[arg-type]
    assert "'text' is a path, not CSV text" in str(raised.value)
    assert "pass the path to csv_events(path, mapping) to read the file" in str(raised.value)


def test_csv_events_from_text_refuses_bytes() -> None:
    """Bytes are not text: the fix says to decode them."""
    with pytest.raises(UsageError, match=r"'text' is not text \(got 'bytes'\); pass the CSV"):
        csv_events_from_text(LEADS.encode(), CsvMapping.from_toml_text(CREATED))  # type: ignore[arg-type]


def test_a_mapping_that_is_not_a_csv_mapping_is_refused(tmp_path: pathlib.Path) -> None:
    """The path of a mapping file in place of the mapping names the reader to use."""
    with pytest.raises(UsageError) as raised:
        csv_events_from_text(LEADS, str(tmp_path / "mapping.toml"))  # type: ignore[arg-type]
    assert str(raised.value) == (
        "'mapping' is not a CsvMapping (got 'str'); read one with CsvMapping.from_toml(path) "
        "or CsvMapping.from_toml_text(text)"
    )


def test_from_toml_reads_a_mapping_file_named_by_a_str(tmp_path: pathlib.Path) -> None:
    """A str path names the mapping file: it is read, not parsed as TOML."""
    path = tmp_path / "mapping.toml"
    path.write_text(CREATED, encoding="utf-8")
    assert CsvMapping.from_toml(str(path)) == CsvMapping.from_toml_text(CREATED)
    assert CsvMapping.from_toml(path).zone == "Europe/Helsinki"


def test_from_toml_refuses_toml_text_and_names_the_text_function() -> None:
    """The text of a mapping where a path is expected is refused, with the method to use."""
    with pytest.raises(UsageError) as raised:
        CsvMapping.from_toml(CREATED)
    assert "'path' looks like the text of a mapping, not the path of a file" in str(raised.value)
    assert "pass the text to CsvMapping.from_toml_text(text) instead" in str(raised.value)


def test_from_toml_reports_a_file_that_cannot_be_read(tmp_path: pathlib.Path) -> None:
    """A missing mapping file is a CsvError naming the path."""
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(CsvError) as raised:
        CsvMapping.from_toml(missing)
    assert str(raised.value) == (
        f"'mapping' cannot be read (No such file or directory) (got {str(missing)!r}); "
        "give the path of a TOML file"
    )


def test_from_toml_text_refuses_a_path(tmp_path: pathlib.Path) -> None:
    """A Path given as the text is refused, with the method that reads files."""
    path = tmp_path / "mapping.toml"
    with pytest.raises(UsageError) as raised:
        CsvMapping.from_toml_text(path)  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"'text' is not text (got {type(path).__name__!r}); pass the mapping's TOML as a str, "
        "or its path to CsvMapping.from_toml(path)"
    )
