"""Fixes to the CSV import, each reproduced: a join team the agreement lacks, strict refusals
that name their place once, a date column's own zone, times in a DST gap or fold, unknown
value maps in Python-built mappings, people from refused events, the report's counts, columns
named like the condition language's reserved names, one MISSING marker, the mapping errors'
wording, and misspelt ``other`` keywords."""

from __future__ import annotations

import io
import pathlib

import pytest

import leadsla
from leadsla import Agreement, CsvError, CsvMapping, EventTemplate, ValueMap
from leadsla._shell.columns import Column
from leadsla._shell.csv import csv_events_from_text
from leadsla._shell.importing import ImportReport, events_of, import_sources


def mapping(text: str) -> CsvMapping:
    return CsvMapping.from_toml_text(text)


def refusals(rows: str, text: str) -> list[tuple[int, str | None, str, str]]:
    report = ImportReport()
    csv_events_from_text(rows, mapping(text), report=report)
    return [(count, first.column, first.message, first.fix) for count, first in report.groups()]


def problems(text: str) -> list[str]:
    with pytest.raises(CsvError) as raised:
        mapping(text)
    return [str(problem) for problem in raised.value.problems]


EVENT = "[[events]]\ntype = 'lead_created'\nlead = '{id}'\nat = '{at}'\n"


# -- 1. a join team the agreement does not have ----------------------------------------------

JOINING = """
join = { team = "TEAM", keys = ["by"] }

[[events]]
type = "activity"
lead = "{id}"
at = "{at}"
kind = "call"
by = "{who}"
"""
ROWS = "id,at,who\nL1,2026-03-02T09:00:00+02:00,dana\n"


def test_a_join_team_the_agreement_lacks_is_refused_naming_its_teams(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(ROWS, encoding="utf-8")
    with pytest.raises(CsvError) as raised:
        import_sources([(mapping(JOINING.replace("TEAM", "salez")), path)])
    assert str(raised.value) == (
        "'calls: join.team' is not a team of the agreement (got 'salez'); "
        "use one of marketing, sales (did you mean 'sales'?)"
    )
    # The mapping meets an agreement in csv_events too.
    with pytest.raises(CsvError, match=r"'join\.team' is not a team of the agreement"):
        csv_events_from_text(ROWS, mapping(JOINING.replace("TEAM", "salez")))
    imported = import_sources([(mapping(JOINING.replace("TEAM", "sales")), path)])
    assert imported.joined == {"sales": ["dana"]}


# -- 2. strict mode names source:row once, and the column --------------------------------------

STRICT = """
[columns.created]
type = "datetime"

[[events]]
type = "lead_created"
lead = "{id}"
at = "{created}"
"""
STRICT_ROWS = "id,created\nL1,2026-03-02T09:00:00+02:00\nL2,yesterday\n"


def test_a_strict_refusal_names_its_source_row_and_column() -> None:
    with pytest.raises(CsvError) as raised:
        events_of(
            "activities",
            io.StringIO(STRICT_ROWS),
            mapping(STRICT),
            Agreement.default(),
            ImportReport(),
            strict=True,
        )
    assert str(raised.value).startswith(
        "'activities:3, column created' is not a datetime in 'iso' (got 'yesterday'); "
    )


def test_a_strict_import_names_its_source_once(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "activities.csv"
    path.write_text(STRICT_ROWS, encoding="utf-8")
    with pytest.raises(CsvError) as raised:
        import_sources([(mapping(STRICT), path)], strict=True)
    assert str(raised.value).startswith(
        "'activities:3, column created' is not a datetime in 'iso' (got 'yesterday'); "
    )


# -- 3. a date column's own zone --------------------------------------------------------------

ZONED = """
zone = "Europe/Helsinki"

[columns.d]
type = "TYPE"
zone = "America/New_York"
time = "09:00"

[[events]]
type = "lead_created"
lead = "{id}"
at = "{d}"
"""


@pytest.mark.parametrize(
    ("kind", "cell"), [("date", "2026-03-02"), ("datetime", "2026-03-02T09:00")]
)
def test_a_date_columns_own_zone_makes_the_events_time(kind: str, cell: str) -> None:
    [(_, event)] = csv_events_from_text(f"id,d\nL1,{cell}\n", mapping(ZONED.replace("TYPE", kind)))
    assert event.at.isoformat() == "2026-03-02T09:00:00-05:00"


def test_a_date_columns_time_in_the_gap_is_refused_as_the_column_says() -> None:
    text = ZONED.replace("TYPE", "date").replace("America/New_York", "Europe/Helsinki")
    text = text.replace('"09:00"', '"03:30"')
    [(count, column, message, fix)] = refusals("id,d\nL1,2026-03-29\n", text)
    assert (count, column) == (1, "d")
    assert "the clocks skip it" in message
    assert 'gap = "later"' in fix
    lenient = text.replace('time = "03:30"', 'time = "03:30"\ngap = "later"')
    [(_, event)] = csv_events_from_text("id,d\nL1,2026-03-29\n", mapping(lenient))
    assert event.at.isoformat() == "2026-03-29T04:30:00+03:00"


# -- 4. an undeclared `at` in a DST gap or fold ------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "said", "setting"),
    [
        ("2026-03-29 03:30", "the clocks skip it (spring forward)", 'gap = "later"'),
        ("2026-10-25 03:30", "the clocks show it twice (autumn)", 'fold = "earlier"'),
    ],
)
def test_an_undeclared_time_the_clocks_skip_or_repeat_says_so(
    cell: str, said: str, setting: str
) -> None:
    text = 'zone = "Europe/Helsinki"\n' + EVENT
    [(count, column, message, fix)] = refusals(f"id,at\nL1,{cell}\n", text)
    assert (count, column) == (1, "at")
    assert "is not an ISO 8601 time" not in message
    assert said in message
    assert "[columns.at]" in fix
    assert setting in fix


# -- 5. an unknown value map in a mapping built in Python -------------------------------------


def test_a_python_mapping_naming_an_unknown_map_is_refused_when_made() -> None:
    with pytest.raises(CsvError) as raised:
        CsvMapping([EventTemplate("lead_created", lead="{id|nomap}", at="{at}")])
    [problem] = raised.value.problems
    assert (problem.field, problem.value) == ("events[1].lead", "nomap")
    assert "declare it" in problem.fix
    assert "[maps.nomap.values]" in problem.fix
    with pytest.raises(CsvError, match=r"use one of owners \(did you mean 'owners'\?\)"):
        CsvMapping(
            [EventTemplate("assign", lead="{id}", at="{at}", owner="{o|ownrs}")],
            maps={"owners": ValueMap({"u1": "alice"})},
        )


# -- 6. only events that are made add people ---------------------------------------------------


def test_people_of_a_refused_event_do_not_join(tmp_path: pathlib.Path) -> None:
    text = """
join = { team = "sales", keys = ["by"] }

[maps.stages]
other = "pass"
[maps.stages.values]
Won = "win"

[[events]]
type = "transition"
lead = "{id}"
at = "{at}"
trigger = "{stage|stages}"
by = "{who}"
"""
    path = tmp_path / "deals.csv"
    path.write_text(
        "id,at,stage,who\n"
        "L1,2026-03-02T09:00:00+02:00,Won,dana\n"
        "L2,2026-03-02T10:00:00+02:00,,erik\n",  # no trigger: refused
        encoding="utf-8",
    )
    imported = import_sources([(mapping(text), path)])
    assert [event.lead for _, _, event in imported.events] == ["L1"]
    assert imported.report.refused == 1
    assert imported.joined == {"sales": ["dana"]}


# -- 7. the report's words match its counts ----------------------------------------------------


def test_a_row_refused_by_two_templates_is_one_row_and_two_events() -> None:
    text = EVENT + EVENT.replace("lead_created", "lead_updated")
    rows = "id,at\nL1,yesterday\nL2,today\nL3,2026-03-02T09:00:00+02:00\nL4\n"
    report = ImportReport()
    csv_events_from_text(rows, mapping(text), report=report)
    first, short = report.lines()
    assert first.startswith(
        "2 rows (4 events) of csv: 'at' is not an ISO 8601 time (got 'yesterday'), first at row 2"
    )
    assert short.startswith("1 row of csv: has 1 cell, but")  # one refusal: no events said
    assert (report.refused, report.refused_rows) == (5, 3)
    data = report.to_data()  # its keys as they were: events counted, as groups() counts
    assert data["refused"] == 5
    assert [reason["count"] for reason in data["reasons"]] == [4, 1]
    assert [count for count, _ in report.groups()] == [4, 1]
    assert report.rows == {"csv": 4}
    assert report.events == {"csv": 2}


# -- 8. columns named like the condition language's reserved names ------------------------------

RESERVED = """
[[events]]
type = "activity"
when = "WHEN"
lead = "{id}"
at = "{at}"
kind = "call"
"""


@pytest.mark.parametrize("name", ["owner", "state", "team"])
def test_a_column_named_like_a_reserved_name_is_read_by_a_when(name: str) -> None:
    rows = f"id,at,{name}\nL1,2026-03-02T09:00:00+02:00,x\nL2,2026-03-02T09:00:00+02:00,y\n"
    made = csv_events_from_text(rows, mapping(RESERVED.replace("WHEN", f"{name} == 'x'")))
    assert [event.lead for _, event in made] == ["L1"]
    # Renamed from another header, declared: the same.
    renamed = rows.replace(f",{name}\n", ",Who\n", 1)
    declared = f'[columns.{name}]\nheader = "Who"\n' + RESERVED.replace("WHEN", f"has({name})")
    assert len(csv_events_from_text(renamed, mapping(declared))) == 2


def test_now_in_a_when_is_refused_with_the_fix() -> None:
    [problem] = problems(RESERVED.replace("WHEN", "has(now)"))
    assert problem.startswith("'events[1].when' names now")
    assert '[columns.now_at] header = "now"' in problem
    with pytest.raises(CsvError, match=r"'events\[1\]\.when' names now"):
        CsvMapping([EventTemplate("lead_created", lead="{id}", at="{at}", when="now > 3")])


# -- 9. one MISSING marker ---------------------------------------------------------------------


def test_a_column_says_not_given_with_the_conditions_marker() -> None:
    assert Column("a", "number").read("") is leadsla.MISSING


# -- 10. wording -------------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_named_with_the_right_one() -> None:
    [problem] = problems("colums = {}\n" + EVENT)
    assert problem.startswith(
        "'colums' is not a known key of a mapping (got 'colums'); use one of "
    )
    assert problem.endswith("(did you mean 'columns'?)")


def test_an_unknown_map_when_there_are_none_says_how_to_declare_one() -> None:
    [problem] = problems(EVENT.replace("{id}", "{id|people}"))
    assert problem == (
        "'events[1].lead' is not a known value map (got 'people'); no value maps are "
        'declared: declare it, e.g. [maps.people.values] then "source value" = "value"'
    )


def test_a_when_that_is_not_text_suggests_a_condition() -> None:
    [problem] = problems(EVENT + "when = 3\n")
    assert problem == (
        "'events[1].when' must be text (got 3); write a condition on the row's columns, "
        'e.g. when = "has(won_date)"'
    )


def test_an_unknown_key_of_an_activity_event_takes_an() -> None:
    activity = EVENT.replace("lead_created", "activity") + "kind = 'call'\n"
    [problem] = problems(activity + "trigger = 'x'\n")
    assert problem.startswith("'events[1].trigger' is not a known key of an activity event")


@pytest.mark.parametrize(("kind", "key"), [("activity", "kind"), ("assign", "owner")])
def test_a_template_without_a_key_its_events_need_is_refused_when_read(kind: str, key: str) -> None:
    [problem] = problems(EVENT.replace("lead_created", kind))
    assert problem.startswith(f"'events[1].{key}' is required, as text")
    if key == "owner":  # an empty owner is how a mapping lets the policy pick
        assert problem.endswith('(owner = "" lets the team\'s policy pick)')


def test_a_lead_that_is_not_text_is_reported_once() -> None:
    assert problems(EVENT.replace("'{id}'", "3")) == [
        "'events[1].lead' is required, as text (got 3); "
        'write e.g. lead = "{column}" (a column of the file) or a constant'
    ]


# -- 11. a misspelt other ------------------------------------------------------------------------

MAPPED = EVENT.replace("'{id}'", "'{id|m}'")


@pytest.mark.parametrize(
    ("other", "meant"),
    [
        ("skipp", "skip"),
        ("Skip", "skip"),
        ("pas", "pass"),
        ("refuze", "refuse"),
        ("refus", "refuse"),
    ],
)
def test_an_other_one_typo_from_a_keyword_is_refused(other: str, meant: str) -> None:
    [problem] = problems(f"[maps.m]\nother = '{other}'\n" + MAPPED)
    assert problem.startswith(
        f"'maps.m.other' is too like refuse, pass or skip to be a value (got {other!r}); "
        f'write other = "{meant}", if that is what it means'
    )


def test_a_value_one_typo_from_skip_is_refused_and_constants_stay_possible() -> None:
    [problem] = problems("[maps.m]\nvalues = { Lost = 'skp' }\n" + MAPPED)
    assert problem.startswith(
        "'maps.m.values.Lost' is too like skip to be a value (got 'skp'); "
        'write "Lost" = "skip" to make no event of such rows'
    )
    made = csv_events_from_text(
        "id,at\nL1,2026-03-02T09:00:00+02:00\n",
        mapping("[maps.m]\nother = 'lead-{x}'\n" + MAPPED),
    )
    assert [event.lead for _, event in made] == ["lead-{x}"]
    with pytest.raises(CsvError, match=r"'maps\.m\.other' is too like refuse, pass or skip"):
        CsvMapping(
            [EventTemplate("lead_created", lead="{id|m}", at="{at}")],
            maps={"m": ValueMap(other="skipp")},
        )
