"""The recipes leadsla ships: each reads a sample export, written by hand in its CRM's format,
into the events the recipe's comments promise, and the default agreement takes them all."""

from __future__ import annotations

import io
import pathlib
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import Agreement, CsvError, CsvMapping, ObligationMet, replay
from leadsla._shell.cli import main
from leadsla._shell.csv import csv_events_from_text, recipe_text
from leadsla._shell.importing import Imported, ImportReport, import_sources

DATA = pathlib.Path(__file__).resolve().parent / "data" / "recipes"
HELSINKI = ZoneInfo("Europe/Helsinki")
UTC = ZoneInfo("UTC")


@attrs.frozen
class Case:
    """A recipe (or two) and its sample files, with what they must make."""

    recipes: tuple[str, ...]
    files: tuple[str, ...]
    events: int
    types: dict[str, int]
    #: (events refused, source, row, column) for each reason.
    refused: list[tuple[int, str, int, str]]
    joined: list[str]
    states: dict[str, str]
    #: A lead's creation: its id and the instant, in the zone the event gives it.
    created: tuple[str, datetime]

    def imported(self) -> Imported:
        sources = [
            (CsvMapping.recipe(name), DATA / file)
            for name, file in zip(self.recipes, self.files, strict=True)
        ]
        return import_sources(sources)


CASES = {
    "hubspot": Case(
        recipes=("hubspot",),
        files=("hubspot-contacts.csv",),
        events=38,
        types={"lead_created": 11, "lead_updated": 10, "assign": 8, "transition": 9},
        refused=[(1, "hubspot-contacts", 11, "created")],
        joined=["Dana Kowalski"],
        states={
            "41201": "won",
            "41202": "sal",
            "41203": "mql",
            "41204": "lead",
            "41205": "disqualified",
            "41206": "nurture",
            "41207": "mql",
            "41208": "sql",
            "41209": "lead",
            "41211": "mql",
            "41212": "lead",
        },
        created=("41201", datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)),
    ),
    "salesforce": Case(
        recipes=("salesforce",),
        files=("salesforce-leads.csv",),
        events=24,
        types={"lead_created": 11, "assign": 8, "transition": 5},
        refused=[(1, "salesforce-leads", 10, "created")],
        joined=["0058d000004Ck1dAAC"],
        states={
            "00Q8d00000Lm1A1EAJ": "sal",
            "00Q8d00000Lm1A2EAJ": "mql",
            "00Q8d00000Lm1A3EAJ": "lead",
            "00Q8d00000Lm1A4EAJ": "disqualified",
            "00Q8d00000Lm1A5EAJ": "mql",
            "00Q8d00000Lm1A6EAJ": "lead",
            "00Q8d00000Lm1A7EAJ": "mql",
            "00Q8d00000Lm1A8EAJ": "sal",
            "00Q8d00000Lm1AAEAZ": "mql",
            "00Q8d00000Lm1ABEAZ": "disqualified",
            "00Q8d00000Lm1ACEAZ": "disqualified",
        },
        # Data Loader writes UTC: 07:15Z is 09:15 in Helsinki, and stays written in UTC.
        created=("00Q8d00000Lm1A1EAJ", datetime(2026, 3, 2, 7, 15, tzinfo=UTC)),
    ),
    "pipedrive": Case(
        recipes=("pipedrive", "pipedrive-activities"),
        files=("pipedrive-deals.csv", "pipedrive-activities.csv"),
        events=49,
        types={
            "lead_created": 11,
            "assign": 11,
            "transition": 18,
            "lead_updated": 2,
            "activity": 7,
        },
        refused=[(3, "pipedrive-deals", 10, "created"), (1, "pipedrive-activities", 11, "done")],
        joined=["Dana Kowalski"],
        states={
            "1001": "won",
            "1002": "sal",
            "1003": "sal",
            "1004": "nurture",
            "1005": "disqualified",
            "1006": "sal",
            "1007": "sal",
            "1008": "won",
            "1010": "sal",
            "1011": "disqualified",
            "1012": "sal",
        },
        created=("1001", datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)),
    ),
    "zoho": Case(
        recipes=("zoho",),
        files=("zoho-leads.csv",),
        events=30,
        types={"lead_created": 12, "assign": 12, "transition": 6},
        refused=[(1, "zoho-leads", 11, "status")],
        joined=["zcrm_5725767000000398004"],
        states={
            "zcrm_5725767000001240001": "sal",
            "zcrm_5725767000001240002": "mql",
            "zcrm_5725767000001240003": "mql",
            "zcrm_5725767000001240004": "handback",
            "zcrm_5725767000001240005": "disqualified",
            "zcrm_5725767000001240006": "nurture",
            "zcrm_5725767000001240007": "mql",
            "zcrm_5725767000001240008": "disqualified",
            "zcrm_5725767000001240009": "mql",
            "zcrm_5725767000001240010": "mql",
            "zcrm_5725767000001240011": "sal",
            "zcrm_5725767000001240012": "mql",
        },
        created=("zcrm_5725767000001240001", datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)),
    ),
}


def test_the_recipes_are_listed_by_name() -> None:
    assert CsvMapping.recipes() == (
        "hubspot",
        "pipedrive",
        "pipedrive-activities",
        "salesforce",
        "zoho",
    )


def test_an_unknown_recipe_is_refused_with_the_names_known() -> None:
    with pytest.raises(CsvError) as raised:
        CsvMapping.recipe("hubspt")
    [problem] = raised.value.problems
    assert (problem.field, problem.value) == ("recipe", "hubspt")
    assert "use one of hubspot, pipedrive, pipedrive-activities, salesforce, zoho" in problem.fix
    assert "(did you mean 'hubspot'?)" in problem.fix


@pytest.mark.parametrize("name", CsvMapping.recipes())
def test_each_recipe_says_what_it_reads_makes_and_what_to_adapt(name: str) -> None:
    text = recipe_text(name)
    assert text.splitlines()[0].startswith("# ")
    for words in ("Reads ", "The events", "What to adapt:", "zone"):
        assert words in text, f"{name}.toml's comment lacks {words!r}"
    assert CsvMapping.from_toml_text(text) == CsvMapping.recipe(name)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_sample_export_makes_the_events_its_recipe_promises(case: Case) -> None:
    imported = case.imported()
    events = [event for _, _, event in imported.events]
    assert len(events) == case.events
    assert Counter(event.type for event in events) == case.types
    refused = [
        (count, first.source, first.row, first.column) for count, first in imported.report.groups()
    ]
    assert sorted(refused) == sorted(case.refused)
    assert imported.joined == {"sales": case.joined}
    lead, moment = case.created
    [created] = [e for e in events if e.type == "lead_created" and e.lead == lead]
    at = created.at
    assert at == moment
    assert at.utcoffset() == moment.utcoffset()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_same_export_twice_makes_the_same_ids(case: Case) -> None:
    first = [event.id for _, _, event in case.imported().events]
    second = [event.id for _, _, event in case.imported().events]
    assert first == second
    assert len(set(first)) == len(first)
    assert all(event_id.startswith(case.recipes[0].split("-")[0] + "-") for event_id in first)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_default_agreement_takes_every_event_and_the_leads_end_as_expected(
    case: Case,
) -> None:
    imported = case.imported()
    result = replay(
        (event for _, _, event in imported.events), imported.with_people(Agreement.default())
    )
    assert result.rejected == 0, [rejection.reason for rejection in result.rejections]
    engine = result.engine
    assert {lead: engine.lead(lead).state for lead in engine.leads()} == case.states


def test_an_owner_the_recipe_maps_owns_the_lead_and_one_it_does_not_joins_sales() -> None:
    imported = CASES["hubspot"].imported()
    agreement = imported.with_people(Agreement.default())
    engine = replay((event for _, _, event in imported.events), agreement).engine
    owners = {lead: engine.lead(lead).owner for lead in ("41201", "41207")}
    assert {lead: owner and owner.person for lead, owner in owners.items()} == {
        "41201": "alice",  # "Alice Andersson"
        "41207": "Dana Kowalski",
    }
    [sales] = [team for team in agreement.teams if team.name == "sales"]
    assert sales.members[-1] == "Dana Kowalski"


def test_pipedrive_activities_meet_the_first_touch_promise() -> None:
    imported = CASES["pipedrive"].imported()
    result = replay(
        (event for _, _, event in imported.events), imported.with_people(Agreement.default())
    )
    met = {
        effect.lead
        for effect in result.effects
        if isinstance(effect, ObligationMet) and effect.obligation == "first-touch"
    }
    # The calls, emails, meetings and the lunch; not the task, nor the call still to do.
    assert met == {"1001", "1002", "1003", "1005", "1006", "1008", "1012"}


SALESFORCE_HEADER = (
    "Id,Email,Company,Country,LeadSource,Status,Rating,OwnerId,ConvertedDate,CreatedDate,"
    "LastModifiedDate\n"
)


@pytest.mark.parametrize(
    ("created", "converted", "expected"),
    [
        # A US-locale report: month first, in the user's time zone (here the agreement's).
        ("3/2/2026 9:15 AM", "3/4/2026", datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)),
        ("3/2/2026, 9:15 AM", "3/4/2026", datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)),
        ("3/2/2026 1:05 PM", "2026-03-04", datetime(2026, 3, 2, 13, 5, tzinfo=HELSINKI)),
        ("2026-03-02T07:15:00.000Z", "2026-03-04", datetime(2026, 3, 2, 7, 15, tzinfo=UTC)),
    ],
)
def test_salesforce_times_are_read_month_first_or_as_data_loader_writes_them(
    created: str, converted: str, expected: datetime
) -> None:
    row = (
        f'L1,ann@acme.example,Acme,Finland,Web,Closed - Converted,Hot,u1,{converted},"{created}",'
        f'"{created}"\n'
    )
    made = csv_events_from_text(SALESFORCE_HEADER + row, CsvMapping.recipe("salesforce"))
    at = {event.id: event.at for _, event in made}
    assert at["salesforce-L1-created"] == expected
    assert at["salesforce-L1-created"].utcoffset() == expected.utcoffset()
    assert at["salesforce-L1-converted"] == datetime(2026, 3, 4, 17, tzinfo=HELSINKI)


def test_a_day_first_salesforce_time_is_refused_not_read_as_another_day() -> None:
    row = (
        "L1,ann@acme.example,Acme,Finland,Web,Open - Not Contacted,Cold,u1,,"
        '"13/3/2026 9:15","2026-03-13T07:15:00.000Z"\n'
    )
    report = ImportReport()
    made = csv_events_from_text(
        SALESFORCE_HEADER + row, CsvMapping.recipe("salesforce"), report=report
    )
    assert [event.id for _, event in made] == []
    [(count, first)] = report.groups()
    assert (count, first.column, first.value) == (1, "created", "13/3/2026 9:15")
    assert "is not a datetime in 'iso' or '%m/%d/%Y %I:%M %p'" in first.message


def test_a_status_the_recipe_does_not_know_is_refused_with_the_fix() -> None:
    imported = CASES["zoho"].imported()
    [(_, first)] = imported.report.groups()
    assert (first.value, first.message) == (
        "Call Back Later",
        "is not in value map 'statuses'",
    )
    assert "add it to [maps.statuses.values]" in first.fix


# -- the command line -------------------------------------------------------------------------


def test_leadsla_recipe_lists_the_recipes_and_prints_one(tmp_path: pathlib.Path) -> None:
    out = io.StringIO()
    assert main(["recipe"], out) == 0
    listed = out.getvalue().splitlines()
    assert [line.split()[0] for line in listed] == list(CsvMapping.recipes())
    assert "HubSpot: the contacts export, one row per contact." in listed[0]
    out = io.StringIO()
    assert main(["recipe", "salesforce"], out) == 0
    assert out.getvalue() == recipe_text("salesforce")
    target = tmp_path / "leads.toml"
    assert main(["recipe", "zoho", "-o", str(target)], io.StringIO()) == 0
    assert CsvMapping.from_toml(target) == CsvMapping.recipe("zoho")


def test_leadsla_recipe_with_an_unknown_name_says_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["recipe", "salesfroce"], io.StringIO()) == 1
    error = capsys.readouterr().err
    assert "'recipe' is not a recipe leadsla ships (got 'salesfroce')" in error
    assert "(did you mean 'salesforce'?)" in error


def test_the_cli_reads_exports_through_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = main(
        [
            "replay",
            "--mapping",
            f"recipe:pipedrive={DATA / 'pipedrive-deals.csv'}",
            "--mapping",
            f"recipe:pipedrive-activities={DATA / 'pipedrive-activities.csv'}",
            "-q",
        ],
        out,
    )
    error = capsys.readouterr().err
    assert code == 1  # the rows the mapping refused
    assert "49 events on Marketing–sales SLA, 0 refused" in out.getvalue()
    assert "1 person from the data joined team sales: Dana Kowalski" in error
    assert main(["replay", "--mapping", "recipe:hubspt=contacts.csv", "-q"], io.StringIO()) == 1
    assert "(did you mean 'hubspot'?)" in capsys.readouterr().err
