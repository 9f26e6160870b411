"""Real public exports imported as they are, checked against what the data says.

Three public datasets are read exactly as published (no unzipping, no edits, no other tool): the
"Helpdesk" ticket event log, the UCI "Incident management process enriched event log" (a
zip) and Olist's marketing funnel (two files, merged by time). Each test writes its mapping as
TOML text, imports the file through it, replays the events, and checks the figures against a
computation made directly from the rows with the csv module, independently of leadsla.

The data is not part of the repository: the tests look for the machine's shared data folder
beside the checkout and are skipped, saying so, when it is absent. Olist's data is licensed for
non-commercial use only: it is read here as test data and nothing of it is kept.
"""

from __future__ import annotations

import csv
import io
import itertools
import pathlib
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    Agreement,
    CsvMapping,
    Duplicate,
    Effect,
    Event,
    Imported,
    ImportReport,
    OwnerAssigned,
    Rejected,
    csv_events_from_text,
    import_sources,
    replay,
)

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
HELPDESK = DATA / "helpdesk-event-log" / "helpdesk.csv"
INCIDENTS = DATA / "uci-incident-management-event-log" / "incident_event_log.zip"
OLIST = DATA / "olist-marketing-funnel"

ROME = ZoneInfo("Europe/Rome")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
#: How long a ticket may stay unresolved (calendar time) in the agreement below.
RESOLUTION = timedelta(hours=720)


def tickets_agreement(zone: str) -> Agreement:
    """Tickets as leads: opened, resolved, closed; a desk whose people come from the data (a
    dispatcher takes each new ticket); resolution within 720 hours."""
    return Agreement.from_toml_text(f"""
[agreement]
name = "Service desk"
timezone = "{zone}"

[calendars.office.week]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]

[teams.desk]
members = ["dispatch"]
assignment = {{ fixed = "dispatch" }}

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
starts = {{ states = ["open"] }}
met = {{ states = ["resolved", "closed"] }}
within = "720 hours"
""")


# -- the direct computation: a ticket's story from its rows, without leadsla ----------------


class Tickets:
    """What the rows say, told the way the agreement above reads it: each ticket's events in
    time order (ties: the file's row, then the event's place in the row), and for each event
    whether it applies, comes again (the id of an event applied before it) or is refused."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, int, str, str, str, Any]] = []

    def add(
        self,
        at: datetime,
        row: int,
        place: int,
        ident: str,
        case: str,
        what: str,
        value: Any = None,
    ) -> None:
        self.events.append((at.timestamp(), row, place, ident, case, what, value))

    def tell(self) -> dict[str, Any]:
        seen: set[str] = set()
        tickets: dict[str, dict[str, Any]] = {}
        outcome: Counter[tuple[str, str]] = Counter()
        for at, _, _, ident, case, what, value in sorted(self.events, key=lambda e: e[:3]):
            ticket = tickets.get(case)
            if ident in seen:
                said = "again"  # the engine: a duplicate, or a conflict with the applied one
            elif what == "create":
                said = "refused" if ticket else "applied"
                if not ticket:
                    tickets[case] = {
                        "state": "open",
                        "opened": at,
                        "ended": None,
                        "owner": "dispatch",
                        "resolved": False,
                    }
            elif ticket is None:
                said = "refused"  # the lead is unknown
            elif what == "assign":
                ticket["owner"] = value
                said = "applied"
            elif what in {"resolve", "close"}:
                allowed = ("open",) if what == "resolve" else ("open", "resolved")
                said = "applied" if ticket["state"] in allowed else "refused"
                if said == "applied":
                    ticket["state"] = "resolved" if what == "resolve" else "closed"
                    ticket["resolved"] = ticket["resolved"] or what == "resolve"
                    if ticket["ended"] is None:
                        ticket["ended"] = at
            else:
                said = "applied"
            if said == "applied":  # a refused event's id is not taken: it may come again
                seen.add(ident)
            outcome[what, said] += 1
        last = max(event[0] for event in self.events)
        clocks: Counter[str] = Counter()
        for ticket in tickets.values():
            ended, deadline = ticket["ended"], ticket["opened"] + RESOLUTION.total_seconds()
            if ended is None:
                clocks["breached" if deadline <= last + 31 * 86400 else "open"] += 1
            else:
                clocks["met" if ended <= deadline else "met_late"] += 1
        instants = Counter(event[0] for event in self.events)
        return {
            "tickets": tickets,
            "outcome": outcome,
            "clocks": clocks,
            "last": last,
            "instants": instants,
        }


def outcomes(
    events: Sequence[Event], agreement: Agreement, until: datetime
) -> tuple[Any, Counter[tuple[str, str]]]:
    """The replay, and each input's outcome by what it was (the template's word, as in
    :class:`Tickets`)."""
    said: list[Sequence[Effect]] = []
    result = replay(events, agreement, until=until, keep_effects=False, observe=said.append)
    assert len(said) == len(events) + 1  # each input's effects, then the advance to until
    outcome: Counter[tuple[str, str]] = Counter()
    for event, effects in zip(events, said[:-1], strict=True):
        what = {"lead_created": "create", "activity": "activity", "assign": "assign"}.get(
            event.type, event.to_dict().get("trigger", "")
        )
        if any(isinstance(effect, Duplicate) for effect in effects):
            outcome[what, "again"] += 1
        elif any(isinstance(effect, Rejected) for effect in effects):
            rejected = next(e for e in effects if isinstance(e, Rejected))
            again = "seen before" in rejected.reason or "already exists" in rejected.reason
            outcome[what, "again" if again and what == "create" else "refused"] += 1
        else:
            outcome[what, "applied"] += 1
    return result, outcome


def check_story(
    events: Sequence[Event],
    result: Any,
    outcome: Counter[tuple[str, str]],
    told: dict[str, Any],
) -> None:
    """The events are at the instants the rows say, and the engine's figures are the ones the
    rows tell."""
    instants = Counter(event.at.timestamp() for event in events)
    assert instants == told["instants"]
    engine = result.engine
    tickets = told["tickets"]
    assert sorted(engine.leads()) == sorted(tickets)
    assert outcome == told["outcome"]
    states = Counter(engine.lead(case).state for case in engine.leads())
    assert states == Counter(ticket["state"] for ticket in tickets.values())
    owners = {case: engine.lead(case).owner.person for case in engine.leads()}
    assert owners == {case: ticket["owner"] for case, ticket in tickets.items()}
    resolved = sum(
        any(getattr(step, "dest", None) == "resolved" for step in engine.lead(case).history)
        for case in engine.leads()
    )
    assert resolved == sum(ticket["resolved"] for ticket in tickets.values())
    clocks = Counter(engine.lead(case).obligation("resolution").status for case in engine.leads())
    assert clocks == told["clocks"]


# -- the Helpdesk event log -----------------------------------------------------------------

# Every row is one activity of one ticket: its time in the ticket system's own format, its
# agent; the header names Variant twice (a column the mapping does not use, so it may). The
# log has no row of its own for a ticket's opening: the creation is made once per ticket
# (``once = true``), at the ticket's first row in the file, and its other rows make none.
HELPDESK_MAPPING = """
zone = "Europe/Rome"
missing = ["", "?"]
join = { team = "desk", keys = ["owner"] }

[columns.at]
header = "Complete Timestamp"
type = "datetime"
format = "%Y/%m/%d %H:%M:%S"

[columns.activity]
header = "Activity"

[maps.closing]
other = "skip"
[maps.closing.values]
"Resolve ticket" = "resolve"
"Closed" = "close"

[[events]]
type = "lead_created"
once = true
id = "ticket-{Case ID}"
lead = "{Case ID}"
at = "{at}"

[[events]]
type = "activity"
lead = "{Case ID}"
at = "{at}"
kind = "{activity}"
by = "{Resource}"

[[events]]
type = "assign"
when = "activity == 'Take in charge ticket'"
lead = "{Case ID}"
at = "{at}"
owner = "{Resource}"

[[events]]
type = "transition"
lead = "{Case ID}"
at = "{at}"
trigger = "{activity|closing}"
by = "{Resource}"
"""


def helpdesk_told() -> tuple[dict[str, Any], int, list[str]]:
    """The rows' story, the number of rows, and the agents who took tickets in charge (in
    the order the file first names them). A ticket is created at its first row in the file."""
    tickets = Tickets()
    agents: dict[str, None] = {}
    opened: set[str] = set()
    closing = {"Resolve ticket": "resolve", "Closed": "close"}
    with HELPDESK.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        case, activity, resource, stamp = (
            header.index(name) for name in ("Case ID", "Activity", "Resource", "Complete Timestamp")
        )
        count = 0
        for row, cells in enumerate(reader, start=2):
            count += 1
            at = datetime.strptime(cells[stamp], "%Y/%m/%d %H:%M:%S").replace(tzinfo=ROME)
            same = "\x1f".join(cells)  # identical rows make events with the same ids
            if cells[case] not in opened:  # once = true: the ticket's first row only
                opened.add(cells[case])
                tickets.add(at, row, 0, f"ticket-{cells[case]}", cells[case], "create")
            tickets.add(at, row, 1, f"{same}-activity", cells[case], "activity")
            if cells[activity] == "Take in charge ticket":
                agents.setdefault(cells[resource])
                tickets.add(at, row, 2, f"{same}-assign", cells[case], "assign", cells[resource])
            if cells[activity] in closing:
                tickets.add(at, row, 3, f"{same}-move", cells[case], closing[cells[activity]])
    return tickets.tell(), count, list(agents)


@pytest.mark.skipif(not HELPDESK.exists(), reason=f"the shared data folder has no {HELPDESK.name}")
def test_the_helpdesk_log_imports_as_it_is_and_tells_each_tickets_story() -> None:
    agreement = tickets_agreement("Europe/Rome")
    imported = import_sources([(CsvMapping.from_toml_text(HELPDESK_MAPPING), HELPDESK)], agreement)
    told, rows, agents = helpdesk_told()

    assert imported.report.rows == {"helpdesk": rows}
    assert imported.report.refused == 0, imported.report.lines()
    assert imported.joined == {"desk": agents}
    events = [event for _, _, event in imported.events]
    assert len(events) == sum(told["outcome"].values())
    until = datetime.fromtimestamp(told["last"], ROME) + timedelta(days=31)
    result, outcome = outcomes(events, imported.with_people(agreement), until)
    check_story(events, result, outcome, told)
    # The figures are not empty: every ticket was created once, most were closed.
    assert len(told["tickets"]) == len({case for case, _ in _helpdesk_cases()})
    assert told["outcome"]["close", "applied"] > len(told["tickets"]) / 2
    # One creation per ticket, none repeated: the engine refuses only the moves the rows
    # tell it to refuse (a resolve or close from a state that has none).
    creations = [event for event in events if event.type == "lead_created"]
    assert len(creations) == told["outcome"]["create", "applied"] == len(told["tickets"])
    assert result.rejected == sum(
        count for (_, said), count in told["outcome"].items() if said == "refused"
    )


def _helpdesk_cases() -> Iterator[tuple[str, str]]:
    with HELPDESK.open(encoding="utf-8", newline="") as file:
        for record in csv.DictReader(file):
            yield record["Case ID"], record["Activity"]


# -- the UCI incident management log ---------------------------------------------------------

# One row per update of an incident, from a zip. Times are day first, not zero-padded; "?"
# means unknown. The incident is created at its opened_at (the same in each of its rows, and
# no row of its own opens it: the creation is made once, from the incident's first row); each
# update is an activity by its updater; the assignee, when there is one, owns the incident
# (joining the desk); a Resolved or Closed row moves it, at the incident's resolved_at or
# closed_at (an incident's repeated Resolved or Closed rows make one move under one id, the
# repeats duplicates). A Resolved row whose resolved_at is "?" has no time: the import refuses
# that event and says so.
INCIDENT_MAPPING = """
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


def incident_lines(limit: int | None = None) -> Iterator[str]:
    """The zip's one CSV file, line by line, read as it is (its first ``limit`` lines)."""
    with (
        zipfile.ZipFile(INCIDENTS) as archive,
        archive.open(archive.namelist()[0]) as member,
        io.TextIOWrapper(member, encoding="utf-8", newline="") as text,
    ):
        yield from itertools.islice(text, limit)


def incident_told(lines: Iterable[str]) -> dict[str, Any]:
    """The rows' story; how many rows there were and which events the import refuses (a
    Resolved row with no resolved_at), and the assignees in the order first named."""

    def moment(text: str) -> datetime:
        return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=SAO_PAULO)

    tickets = Tickets()
    rows = made = refused = 0
    assignees: dict[str, None] = {}
    opened: set[str] = set()
    for row, record in enumerate(csv.DictReader(lines), start=2):
        rows += 1
        number, state = record["number"], record["incident_state"]
        updated = moment(record["sys_updated_at"])
        if number not in opened:  # once = true: the incident's first row only
            opened.add(number)
            tickets.add(moment(record["opened_at"]), row, 0, f"opened-{number}", number, "create")
            made += 1
        if state != "-100":  # the kinds map skips the junk rows
            tickets.add(updated, row, 1, f"{row}-activity", number, "activity")
            made += 1
        if record["assigned_to"] != "?":
            assignees.setdefault(record["assigned_to"])
            tickets.add(updated, row, 2, f"{row}-assign", number, "assign", record["assigned_to"])
            made += 1
        if state == "Resolved":
            if record["resolved_at"] == "?":
                refused += 1
            else:
                at = moment(record["resolved_at"])
                tickets.add(at, row, 3, f"resolved-{number}", number, "resolve")
                made += 1
        if state == "Closed":
            tickets.add(moment(record["closed_at"]), row, 4, f"closed-{number}", number, "close")
            made += 1
    told = tickets.tell()
    told.update(rows=rows, made=made, refused=refused, assignees=list(assignees))
    return told


def check_incident_import(report: ImportReport, told: dict[str, Any], name: str) -> None:
    """The import made every event the rows make, and refused exactly the events with no
    time, in one line of the report."""
    assert report.rows == {name: told["rows"]}
    assert report.events == {name: told["made"]}
    assert told["refused"] > 0
    [(count, first)] = report.groups()
    assert (count, first.column, first.message) == (
        told["refused"],
        "resolved_at",
        "is empty: the event has no time",
    )


@pytest.mark.skipif(
    not INCIDENTS.exists(), reason=f"the shared data folder has no {INCIDENTS.name}"
)
def test_the_incident_logs_first_rows_import_and_replay_as_the_rows_say() -> None:
    """The quick check: the zip's first 20 000 rows, read from the zip as they come."""
    agreement = tickets_agreement("America/Sao_Paulo")
    head = list(incident_lines(20_001))  # the header and 20 000 rows
    report = ImportReport()
    made = csv_events_from_text(
        head, CsvMapping.from_toml_text(INCIDENT_MAPPING), agreement, report=report
    )
    told = incident_told(head)
    check_incident_import(report, told, "csv")
    events = [event for _, event in made]
    # (csv_events gives the events in time order; the assignees join in the file's order)
    assert {event.owner for event in events if isinstance(event, OwnerAssigned)} == set(
        told["assignees"]
    )
    joined = Imported([], report, {"desk": told["assignees"]}).with_people(agreement)
    until = datetime.fromtimestamp(told["last"], SAO_PAULO) + timedelta(days=31)
    result, outcome = outcomes(events, joined, until)
    check_story(events, result, outcome, told)
    # Each incident is created once: no creation comes again.
    assert outcome["create", "applied"] == len(told["tickets"])
    assert not outcome["create", "again"]


@pytest.mark.slow
@pytest.mark.skipif(
    not INCIDENTS.exists(), reason=f"the shared data folder has no {INCIDENTS.name}"
)
def test_the_whole_incident_log_imports_from_its_zip_and_replays_as_the_rows_say() -> None:
    """All 141 712 rows, through import_sources from the zip (about 20 s or more)."""
    agreement = tickets_agreement("America/Sao_Paulo")
    imported = import_sources([(CsvMapping.from_toml_text(INCIDENT_MAPPING), INCIDENTS)], agreement)
    told = incident_told(incident_lines())
    check_incident_import(imported.report, told, "incident_event_log")
    assert imported.joined == {"desk": told["assignees"]}
    events = [event for _, _, event in imported.events]
    until = datetime.fromtimestamp(told["last"], SAO_PAULO) + timedelta(days=31)
    result, outcome = outcomes(events, imported.with_people(agreement), until)
    check_story(events, result, outcome, told)
    assert len(told["tickets"]) == len({number for number, *_ in _incident_numbers()})
    assert outcome["create", "applied"] == len(told["tickets"])
    assert not outcome["create", "again"]


def _incident_numbers() -> Iterator[list[str]]:
    reader = csv.reader(incident_lines())
    next(reader)
    yield from reader


# -- Olist's marketing funnel: two files, one log --------------------------------------------

OLIST_MQLS = """
source = "mqls"
zone = "America/Sao_Paulo"

[columns.first_contact_date]
type = "date"
time = "09:00"

[[events]]
type = "lead_created"
id = "mql-{mql_id}"
lead = "{mql_id}"
at = "{first_contact_date}"
fields = { origin = "{origin}", score = "60", email = "{mql_id}@olist.example" }
"""

OLIST_DEALS = """
source = "deals"
zone = "America/Sao_Paulo"
join = { team = "sales", keys = ["by"] }

[columns.won_date]
type = "datetime"
format = "%Y-%m-%d %H:%M:%S"

[[events]]
type = "transition"
lead = "{mql_id}"
at = "{won_date}"
trigger = "accept"
by = "{sdr_id}"

[[events]]
type = "lead_updated"
lead = "{mql_id}"
at = "{won_date}"
fields = { budget_confirmed = "true", need_months = "1" }

[[events]]
type = "transition"
lead = "{mql_id}"
at = "{won_date}"
trigger = "qualify_sales"
by = "{sr_id}"

[[events]]
type = "transition"
lead = "{mql_id}"
at = "{won_date}"
trigger = "win"
by = "{sr_id}"
"""


@pytest.mark.skipif(not OLIST.exists(), reason="the shared data folder has no Olist funnel")
def test_olist_mqls_and_deals_merge_into_one_log_and_the_won_leads_are_the_deals() -> None:
    mqls = OLIST / "olist_marketing_qualified_leads_dataset.csv"
    deals = OLIST / "olist_closed_deals_dataset.csv"
    agreement = Agreement.default()
    imported = import_sources(
        [
            (CsvMapping.from_toml_text(OLIST_MQLS), mqls),
            (CsvMapping.from_toml_text(OLIST_DEALS), deals),
        ],
        agreement,
    )
    result = replay(
        (event for _, _, event in imported.events),
        imported.with_people(agreement),
        keep_effects=False,
    )

    # What the files say, read independently of leadsla.
    with mqls.open(encoding="utf-8", newline="") as file:
        created = {
            row["mql_id"]: datetime.combine(
                datetime.strptime(row["first_contact_date"], "%Y-%m-%d").date(),
                time(9),
                SAO_PAULO,
            )
            for row in csv.DictReader(file)
        }
    with deals.open(encoding="utf-8", newline="") as file:
        won = list(csv.DictReader(file))
    matched = [deal for deal in won if deal["mql_id"] in created]
    early = {
        deal["mql_id"]
        for deal in matched
        if datetime.strptime(deal["won_date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SAO_PAULO)
        < created[deal["mql_id"]]
    }
    people = {person: None for deal in won for person in (deal["sdr_id"], deal["sr_id"])}

    assert imported.report.refused == 0, imported.report.lines()
    assert imported.report.rows == {"deals": len(won), "mqls": len(created)}
    assert imported.joined == {"sales": list(people)}
    states = Counter(result.engine.lead(lead).state for lead in result.engine.leads())
    assert len(result.engine) == len(created)
    assert states["won"] == len({deal["mql_id"] for deal in matched} - early)
    assert states == {"won": states["won"], "mql": len(created) - states["won"]}
    # Only the deals won before their MQL was created are refused (their four events come
    # before the lead exists); every deal whose lead came first is taken.
    refused = {rejection.lead for rejection in result.rejections}
    assert refused == early
    assert result.rejected == 4 * len(early)
