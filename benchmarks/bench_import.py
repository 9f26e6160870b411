"""Importing a real export against replaying its events: the UCI incident management log.

The log (141,712 rows of 36 columns, a zip of 2.4 MB holding 46 MB of CSV) is the public
"Incident management process enriched event log" (UCI dataset 498). It is read as published:
(a) ``import_sources`` reads the zip through a mapping (day-first times, "?" for unknown, row
conditions, a value map, assignees joining the desk) and the events are replayed; (b) the same
events, already written as JSON Lines, are replayed from that file, as ``leadsla replay`` reads
a log. The baseline is (b): the ratio is what reading the export costs beside the replay.

The data is not part of the repository: it is looked for in the machine's shared data folder
beside the checkout, as the tests do, and the benchmark says it is skipped when it is absent.
The quick run imports the first 20,000 rows (read from the zip as they come) once; the full run
the whole log, median of 3 (taken in turns), and also reads it as the command line does,
through ``stream_sources``.
"""

from __future__ import annotations

import io
import itertools
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from _timing import format_seconds, table

from leadsla import (
    Agreement,
    CsvMapping,
    Imported,
    ImportReport,
    OwnerAssigned,
    csv_events_from_text,
    import_sources,
    replay,
    stream_sources,
)

LOG = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "uci-incident-management-event-log"
    / "incident_event_log.zip"
)

#: Tickets as leads (as in tests/test_real_exports.py): opened, resolved, closed; a desk the
#: assignees join; resolution within 720 hours.
AGREEMENT = """
[agreement]
name = "Service desk"
timezone = "America/Sao_Paulo"

[calendars.office.week]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]

[teams.desk]
members = ["dispatch"]
assignment = { fixed = "dispatch" }

[lifecycle]
initial = "open"

[lifecycle.states.open]
owner = "desk"
stage = 0

[lifecycle.states.resolved]
owner = "desk"
stage = 1

[lifecycle.states.closed]
owner = "desk"
terminal = true
stage = 2

[[lifecycle.transitions]]
trigger = "resolve"
sources = ["open"]
dest = "resolved"

[[lifecycle.transitions]]
trigger = "close"
sources = ["open", "resolved"]
dest = "closed"

[[obligations]]
name = "resolution"
party = "desk"
starts = { states = ["open"] }
met = { states = ["resolved", "closed"] }
within = "720 hours"
"""

MAPPING = """
zone = "America/Sao_Paulo"
missing = ["", "?"]
join = { team = "desk", keys = ["owner"] }

[columns.opened_at]
type = "datetime"
format = "%d/%m/%Y %H:%M"

[columns.sys_updated_at]
type = "datetime"
format = "%d/%m/%Y %H:%M"

[columns.resolved_at]
type = "datetime"
format = "%d/%m/%Y %H:%M"

[columns.closed_at]
type = "datetime"
format = "%d/%m/%Y %H:%M"

[maps.kinds]
other = "pass"
[maps.kinds.values]
"-100" = "skip"
"Awaiting User Info" = "wait"
"Awaiting Vendor" = "wait"
"Awaiting Problem" = "wait"
"Awaiting Evidence" = "wait"

[[events]]
type = "lead_created"
once = true
id = "opened-{number}"
lead = "{number}"
at = "{opened_at}"
fields = { opened_by = "{opened_by}" }

[[events]]
type = "activity"
lead = "{number}"
at = "{sys_updated_at}"
kind = "{incident_state|kinds}"
by = "{sys_updated_by}"

[[events]]
type = "assign"
when = "has(assigned_to)"
lead = "{number}"
at = "{sys_updated_at}"
owner = "{assigned_to}"

[[events]]
type = "transition"
when = "incident_state == 'Resolved'"
id = "resolved-{number}"
lead = "{number}"
at = "{resolved_at}"
trigger = "resolve"

[[events]]
type = "transition"
when = "incident_state == 'Closed'"
id = "closed-{number}"
lead = "{number}"
at = "{closed_at}"
trigger = "close"
"""

#: Rows the quick run imports (the first ones of the zip).
QUICK_ROWS = 20_000


def _head(rows: int) -> list[str]:
    """The header and the first ``rows`` rows of the zip's CSV file, as they come."""
    with (
        zipfile.ZipFile(LOG) as archive,
        archive.open(archive.namelist()[0]) as member,
        io.TextIOWrapper(member, encoding="utf-8", newline="") as text,
    ):
        return list(itertools.islice(text, rows + 1))


def _imported(mapping: CsvMapping, agreement: Agreement, head: list[str] | None) -> Imported:
    """The whole zip through ``import_sources``; or, for the quick run, the rows of ``head``
    through the same mapping (their assignees joined in the order met, as the import does)."""
    if head is None:
        return import_sources([(mapping, LOG)], agreement)
    report = ImportReport()
    made = csv_events_from_text(head, mapping, agreement, report=report)
    people = {
        event.owner: None
        for _, event in sorted(made, key=lambda pair: pair[0])
        if isinstance(event, OwnerAssigned) and event.owner
    }
    return Imported([("head", row, event) for row, event in made], report, {"desk": list(people)})


def run(quick: bool = False) -> dict[str, Any] | None:
    if not LOG.exists():
        print(f"Import of a real export: skipped (the shared data folder has no {LOG.name})")
        return None
    runs = 1 if quick else 3
    agreement = Agreement.from_toml_text(AGREEMENT)
    mapping = CsvMapping.from_toml_text(MAPPING)
    head = _head(QUICK_ROWS) if quick else None

    times: dict[str, list[float]] = {"both": [], "import": [], "replay": [], "streamed": []}

    def imported_and_replayed() -> tuple[Imported, Any]:
        started = time.perf_counter()
        imported = _imported(mapping, agreement, head)
        times["import"].append(time.perf_counter() - started)
        events = (event for _, _, event in imported.events)
        result = replay(events, imported.with_people(agreement), keep_effects=False)
        times["both"].append(time.perf_counter() - started)
        return imported, result

    imported, direct = imported_and_replayed()
    joined = imported.with_people(agreement)
    rows = sum(imported.report.rows.values())
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "incidents.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(event.to_json() + "\n" for _, _, event in imported.events)
    del imported

    def replayed() -> Any:
        started = time.perf_counter()
        with open(path, encoding="utf-8") as lines:
            result = replay(lines, joined, keep_effects=False)
        times["replay"].append(time.perf_counter() - started)
        return result

    def streamed() -> Any:
        """The zip read as ``leadsla replay --mapping`` reads it: through ``stream_sources``,
        which sorts in bounded memory (runs on disk beyond its ``run``)."""
        started = time.perf_counter()
        with stream_sources([(mapping, LOG)], agreement) as stream:
            events = (event for _, _, event in stream)
            result = replay(events, stream.with_people(agreement), keep_effects=False)
        times["streamed"].append(time.perf_counter() - started)
        return result

    # In alternate turns, so a change in the machine's load hits all alike.
    from_log = replayed()
    for turn in range(runs):
        if head is None:
            streamed()
        if turn:
            imported_and_replayed()
            replayed()
    both_time, import_time, replay_time = (
        statistics.median(times[name]) for name in ("both", "import", "replay")
    )
    streamed_time = statistics.median(times["streamed"]) if times["streamed"] else None
    os.remove(path)
    os.rmdir(folder)
    same = (from_log.events, from_log.rejected, from_log.duplicates)
    assert same == (direct.events, direct.rejected, direct.duplicates), "the two replays differ"
    print(
        f"Import of a real export: the UCI incident log, {rows:,} rows, {direct.events:,} events,"
        f" {len(direct.engine):,} incidents (median of {runs})"
    )
    print(
        table(
            [
                [
                    "replay alone, from JSON Lines (the baseline)",
                    format_seconds(replay_time),
                    "1.0×",
                ],
                [
                    "import from the zip through the mapping + replay",
                    format_seconds(both_time),
                    f"{both_time / replay_time:,.2f}×",
                ],
                [
                    "  of which the import (to events in memory)",
                    format_seconds(import_time),
                    f"{import_time / replay_time:,.2f}×",
                ],
                *(
                    [
                        [
                            "stream_sources from the zip + replay (as leadsla replay --mapping)",
                            format_seconds(streamed_time),
                            f"{streamed_time / replay_time:,.2f}×",
                        ]
                    ]
                    if streamed_time is not None
                    else []
                ),
            ],
            ["step", "time", "of the replay"],
        )
    )
    return {
        "rows": rows,
        "events": direct.events,
        "both": both_time,
        "import": import_time,
        "replay": replay_time,
        "streamed": streamed_time,
    }
