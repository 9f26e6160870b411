"""The agreement as a document: the TOML file, its validation, the goal funnel, the summary."""

from __future__ import annotations

import copy
import html
import json
import pathlib
import re
import shutil
import subprocess
import tomllib
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from leadsla import (
    ActivityMatch,
    Agreement,
    AgreementError,
    Attempts,
    Commitment,
    Duration,
    Escalate,
    Goal,
    Lifecycle,
    ObligationError,
    ObligationSpec,
    Problem,
    State,
    Team,
    Term,
    Transition,
    UsageError,
    Warn,
    When,
    agreement_to_data,
    agreement_to_toml,
    render_summary,
)
from leadsla._shell.agreement_read import agreement_from_data
from leadsla._shell.render import markdown_text

DEFAULT = Agreement.default()
TEXT = agreement_to_toml(DEFAULT)


def problems_of(text: str) -> tuple[Problem, ...]:
    with pytest.raises(AgreementError) as caught:
        Agreement.from_toml_text(text)
    return caught.value.problems


def edited(old: str, new: str) -> str:
    """The default file with the first occurrence of ``old`` outside comments replaced."""
    start = 0
    while (found := TEXT.find(old, start)) >= 0:
        if not TEXT[TEXT.rfind("\n", 0, found) + 1 :].startswith("#"):
            return TEXT[:found] + new + TEXT[found + len(old) :]
        start = found + 1
    raise AssertionError(f"the default file no longer contains {old!r}")


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


# -- the round trip -----------------------------------------------------------------------------


def test_default_round_trips_through_toml() -> None:
    """default -> TOML -> Agreement is the same agreement, with and without comments."""
    assert Agreement.from_toml_text(TEXT) == DEFAULT
    assert Agreement.from_toml_text(agreement_to_toml(DEFAULT, comments=False)) == DEFAULT


def test_the_file_is_commented_for_people() -> None:
    """The written file explains its sections; the comments do not change what it says."""
    assert "# Check it:            leadsla check FILE" in TEXT
    assert agreement_to_toml(DEFAULT, comments=False).count("#") < TEXT.count("#")


def test_an_edited_agreement_round_trips() -> None:
    """A changed agreement (effective date, extra term, goal) survives the round trip."""
    from datetime import date

    assert DEFAULT.goal is not None
    changed = attrs.evolve(
        DEFAULT,
        effective=date(2026, 4, 1),
        terms=[*DEFAULT.terms, Term("hot", "score >= 90", 'Hot: "very" keen.\nSecond line.')],
        goal=attrs.evolve(DEFAULT.goal, customers=30),
    )
    text = agreement_to_toml(changed)
    assert "effective = 2026-04-01" in text
    assert Agreement.from_toml_text(text) == changed


def test_ownership_people_expect_round_trips() -> None:
    """A sticky team assigning by working hours, people away (days and instants, their own
    zone) and with capacities, and reassign_when_away survive the round trip."""
    from datetime import UTC, date, datetime

    from leadsla import LeastLoaded, Person

    sales = DEFAULT.teams[1]
    changed = attrs.evolve(
        DEFAULT,
        teams=(
            DEFAULT.teams[0],
            attrs.evolve(sales, policy=LeastLoaded(working_hours=True), sticky=True),
        ),
        people=(
            Person("alice", away=[(date(2026, 12, 21), date(2027, 1, 1))], capacity=40),
            Person(
                "bob",
                away=[(datetime(2026, 3, 2, 9, tzinfo=UTC), "2026-03-02T18:00+02:00")],
                timezone="America/New_York",
            ),
            Person("sam", capacity=3),
        ),
        reassign_when_away=True,
    )
    text = agreement_to_toml(changed)
    assert "[people.alice]\naway = [[2026-12-21, 2027-01-01]]\ncapacity = 40\n" in text
    assert "[ownership]\nreassign_when_away = true\n" in text
    assert 'assignment = "least-loaded-working-hours"\nsticky = true\n' in text
    assert Agreement.from_toml_text(text) == changed
    assert Agreement.from_toml_text(agreement_to_toml(changed, comments=False)) == changed


def test_a_file_is_read_from_a_path(tmp_path: Any) -> None:
    """A pathlib.Path is read as a file; a missing file is one clear problem."""
    path = tmp_path / "agreement.toml"
    path.write_text(TEXT, encoding="utf-8")
    assert Agreement.from_toml(path) == DEFAULT
    with pytest.raises(AgreementError) as raised:
        Agreement.from_toml(str(tmp_path / "missing.toml"))
    [problem] = raised.value.problems
    assert problem.field == "file"
    assert "cannot be read" in problem.message


def test_text_given_as_a_path_is_refused_with_the_way_to_read_text() -> None:
    """``from_toml`` reads files only: the text of a file is refused, naming from_toml_text."""
    with pytest.raises(UsageError) as raised:
        Agreement.from_toml(TEXT)
    assert raised.value.field == "path"
    assert "looks like the text of an agreement" in str(raised.value)
    assert "Agreement.from_toml_text(text)" in str(raised.value)


# -- validation: every rule with its message -----------------------------------------------------

CASES = [
    pytest.param(
        ('tracking_period = "month"', 'tracking_perod = "month"'),
        "agreement.tracking_perod",
        "is not a known key here",
        "did you mean 'tracking_period'?",
        id="unknown-key",
    ),
    pytest.param(
        ('within = "4 business hours"', 'within = "4 buisness hours"'),
        "obligations.first-touch.within",
        "has an unknown kind of time 'buisness'",
        "did you mean 'business'?",
        id="bad-duration",
    ),
    pytest.param(
        ('condition = "score >= 50"', 'condition = "score >= "'),
        "terms.mql.condition",
        "is not a valid expression",
        "write comparisons",
        id="bad-condition",
    ),
    pytest.param(
        ('starts = { states = ["nurture"] }', 'starts = { states = ["nurtur"] }'),
        "obligations.nurture-review.starts",
        "is not a known state",
        "did you mean 'nurture'?",
        id="unknown-state",
    ),
    pytest.param(
        ('party = "marketing"\nstarts', 'party = "marketting"\nstarts'),
        "obligations.nurture-review.party",
        "is not a known team",
        "did you mean 'marketing'?",
        id="unknown-team",
    ),
    pytest.param(
        ('calendar = "office"\nwarnings', 'calendar = "ofice"\nwarnings'),
        "obligations.first-touch.calendar",
        "is not a known calendar",
        "did you mean 'office'?",
        id="unknown-calendar",
    ),
    pytest.param(
        ('when = "mql"', 'when = "mq1"'),
        "rules.auto-qualify.when",
        "uses a name that is neither a declared field nor a term",
        "did you mean 'mql'?",
        id="unknown-term",
    ),
    pytest.param(
        ('condition = "has(email)"', 'condition = "has(emial)"'),
        "terms.lead.condition",
        "uses a name that is neither a declared field nor a term",
        "did you mean 'email'?",
        id="unknown-field",
    ),
    pytest.param(
        ('met = { states = ["sal", "handback"] }\n', ""),
        "obligations.accept-or-reject.met",
        "is missing: the obligation could never be met",
        "say what meets it",
        id="never-met",
    ),
    pytest.param(
        ('met = { states = ["sal", "handback"] }', 'met = { states = ["lead"] }'),
        "obligations.accept-or-reject.met",
        "can never be met: no transition leads from mql to lead",
        "a state the lead can reach",
        id="met-by-unreachable-state",
    ),
    pytest.param(
        ('starts = { states = ["mql"] }', "starts = {}"),
        "obligations.first-touch.starts",
        "is empty: the clock could never start",
        "name a state or an event",
        id="never-starts",
    ),
    pytest.param(
        ("at_least = 150", "at_least = 40"),
        "commitments.mql-volume.at_least",
        "is short of the goal by 14 a month: the goal needs 54 MQLs from marketing a month",
        "raise the commitment",
        id="commitment-short-of-goal",
    ),
    pytest.param(
        ('{ from = "sql", to = "won", rate = 0.25 }', '{ from = "mql", to = "won", rate = 0.25 }'),
        "goal.conversions",
        "do not form one chain",
        "list one conversion per step",
        id="goal-not-a-chain",
    ),
    pytest.param(
        ("rate = 0.25", "rate = 1.5"),
        "goal.conversions[1].rate",
        "must be above 0 and at most 1",
        "write e.g. rate = 0.3",
        id="goal-rate-out-of-range",
    ),
    pytest.param(
        ('mon = ["09:00-17:00"]', 'mon = ["09:00-1700"]'),
        "calendars.office.week.mon[0]",
        "is not a time of day",
        "write 'HH:MM'",
        id="bad-opening-hours",
    ),
    pytest.param(
        ('timezone = "Europe/Helsinki"', 'timezone = "Europe/Helsinky"'),
        "agreement.timezone",
        "is not a known time zone",
        "did you mean 'Europe/Helsinki'?",
        id="unknown-time-zone",
    ),
    pytest.param(
        ("customers = 20", "customers = = 20"),
        "file",
        "is not valid TOML",
        "fix the syntax on that line",
        id="toml-syntax",
    ),
    pytest.param(
        ('escalate = "manager"', 'escalate = "samm"'),
        "obligations.first-touch.on_breach",
        "is not a known person",
        "did you mean 'sam'?",
        id="unknown-person",
    ),
]


CASES += [
    pytest.param(
        ("attempts = { count = 6,", "attempts = { count = 0,"),
        "obligations.attempts.attempts.count",
        "must be a whole number, at least 1",
        "give how many attempts the team makes",
        id="zero-attempts",
    ),
    pytest.param(
        ('[{ before = "1 business hour" }]', '[{ before = "1 business hour", fraction = 0.5 }]'),
        "obligations.first-touch.warnings[0]",
        "gives both before and fraction",
        "keep one",
        id="warning-with-both-keys",
    ),
    pytest.param(
        ('[{ before = "1 business hour" }]', "[{ fraction = 1.5 }]"),
        "obligations.first-touch.warnings[0].fraction",
        "must be between 0 and 1",
        "write e.g. 0.75",
        id="warning-fraction-out-of-range",
    ),
    pytest.param(
        ('manager = "sam"', 'manager = "sam"\nassignment = { fixed = "zoe" }'),
        "teams.sales.assignment",
        "is not a known member of team 'sales'",
        "use one of alice, bob, carol, sam",
        id="unknown-assignee",
    ),
    pytest.param(
        ('name = "first-touch"', 'name = "accept-or-reject"'),
        "obligations.accept-or-reject",
        "is used twice",
        "give each entry its own name",
        id="name-used-twice",
    ),
    pytest.param(
        ("[[commitments]]", "[[commitment]]"),
        "commitment",
        "is not a known key here",
        "did you mean 'commitments'?",
        id="misspelt-array-table",
    ),
    pytest.param(
        ('score = "number"', 'score = "nmber"'),
        "fields.score",
        "is not a field type",
        "did you mean 'number'?",
        id="field-type-typo",
    ),
    pytest.param(
        ('timezone = "Europe/Helsinki"', 'timezome = "Europe/Helsinki"'),
        "agreement.timezome",
        "is not a known key here",
        "did you mean 'timezone'?",
        id="misspelt-required-key",
    ),
]

# Checks the values make themselves, placed by the reader on their key and line.
CASES += [
    pytest.param(
        ('per = "month"\naccepted', 'per = "montly"\naccepted'),
        "commitments.mql-volume.per",
        "is not a known period",
        "did you mean 'month'?",
        id="commitment-period",
    ),
    pytest.param(
        ("at_least = 150", "at_least = -1"),
        "commitments.mql-volume.at_least",
        "must not be negative",
        "the least number of leads promised",
        id="commitment-negative",
    ),
    pytest.param(
        ('accepted_state = "sal"', 'accepted_state = "sal"\naccepted_share = "150%"'),
        "commitments.mql-volume.accepted_share",
        "must be between 0 and 1",
        'write e.g. 0.6 or "60%"',
        id="commitment-share",
    ),
    pytest.param(
        ("customers = 20", "customers = -20"),
        "goal.customers",
        "must not be negative",
        "the number of customers wanted",
        id="goal-negative",
    ),
    pytest.param(
        ('by = "party" } }\nwithin = "4', 'by = "partty" } }\nwithin = "4'),
        "obligations.first-touch.met.activity.by",
        "is not who may log the activity",
        "use one of anyone, owner, party",
        id="activity-by",
    ),
    pytest.param(
        ('within = "4 business hours"', 'within = "0 business hours"'),
        "obligations.first-touch.within",
        "must be longer than zero",
        "give the time allowed",
        id="zero-within",
    ),
    pytest.param(
        ('tracking_period = "month"', 'tracking_period = "monthly"'),
        "agreement.tracking_period",
        "is not a known period",
        "did you mean 'month'?",
        id="tracking-period",
    ),
    pytest.param(
        ('tracking_period = "month"', 'tracking_period = "month"\nrule_mode = "frist"'),
        "agreement.rule_mode",
        "is not a rule mode",
        'use "all"',
        id="rule-mode",
    ),
]

# What `check` used to accept and `replay` could not run.
CASES += [
    pytest.param(
        ('within = "4 business hours"', 'within = "99999999999 business days"'),
        "obligations.first-touch.within",
        "is longer than 10 years (3660 days), the longest duration leadsla counts",
        "give at most 3660 days or 87840 hours",
        id="ten-years-at-most",
    ),
    pytest.param(
        ('within = "10 business days"', 'within = "3000 business days"'),
        "obligations.attempts.within",
        "is more business time than calendar 'office' opens in 10 years (2600 business days)",
        "count calendar time",
        id="business-time-beyond-the-calendar",
    ),
    pytest.param(
        (
            "[calendars.office.week]",
            '[calendars.office]\nholidays = ["FREQ=DAILY"]\n\n[calendars.office.week]',
        ),
        "calendars.office.holidays",
        "leave no working time: every day with opening hours is a holiday",
        "narrow the recurring holidays",
        id="holidays-close-every-day",
    ),
    pytest.param(
        ('[{ before = "1 business hour" }]', '[{ before = "5 business hours" }]'),
        "obligations.first-touch.warnings[0].before",
        "is not shorter than the time allowed (4 business hours)",
        "warn less long before the deadline",
        id="warning-longer-than-its-clock",
    ),
    pytest.param(
        ('members = ["alice", "bob", "carol"]', "members = []"),
        "teams.sales.members",
        "is empty, but the team owns state 'mql', state 'sal', state 'sql' and 5 more: its "
        "leads could not be assigned to anyone",
        "a manager is not a member unless listed",
        id="team-without-members",
    ),
]

# Every table refuses a key it does not have, with the closest one.
CASES += [
    pytest.param(
        (old, new),
        field,
        "is not a known key here",
        f"did you mean {meant!r}?",
        id=f"unknown-key-in-{where}",
    )
    for where, old, new, field, meant in [
        (
            "calendar",
            "[calendars.office.week]",
            '[calendars.office]\ncountri = "FI"\n\n[calendars.office.week]',
            "calendars.office.countri",
            "country",
        ),
        ("team", 'manager = "sam"', 'manger = "sam"', "teams.sales.manger", "manager"),
        (
            "assignment",
            'manager = "sam"',
            'manager = "sam"\nassignment = { fixd = "sam" }',
            "teams.sales.assignment.fixd",
            "fixed",
        ),
        (
            "route",
            'manager = "sam"',
            'manager = "sam"\nassignment = { routing = [{ when = "score > 1", persn = "bob" }] }',
            "teams.sales.assignment.routing[0].persn",
            "person",
        ),
        (
            "term",
            'condition = "has(email)"',
            'condtion = "has(email)"',
            "terms.lead.condtion",
            "condition",
        ),
        (
            "rule",
            'when = "mql"',
            'when = "mql"\nprioriti = 1',
            "rules.auto-qualify.prioriti",
            "priority",
        ),
        (
            "action",
            'reason = "mql-term-holds"',
            'reasn = "mql-term-holds"',
            "rules.auto-qualify.then[0].reasn",
            "reason",
        ),
        (
            "obligation",
            "repeat = true",
            "repaet = true",
            "obligations.nurture-review.repaet",
            "repeat",
        ),
        (
            "when",
            'cancelled = { leaving = ["nurture"] }',
            'cancelled = { leavin = ["nurture"] }',
            "obligations.nurture-review.cancelled.leavin",
            "leaving",
        ),
        (
            "activity",
            'reached = { outcomes = ["connected"] }',
            'reached = { outcome = ["connected"] }',
            "obligations.attempts.attempts.reached.outcome",
            "outcomes",
        ),
        (
            "pause",
            "repeat = true",
            'repeat = true\npause = { state = ["nurture"] }',
            "obligations.nurture-review.pause.state",
            "states",
        ),
        (
            "warning",
            '{ before = "1 business hour" }',
            '{ befor = "1 business hour" }',
            "obligations.first-touch.warnings[0].befor",
            "before",
        ),
        (
            "attempts",
            "attempts = { count = 6,",
            "attempts = { cuont = 6,",
            "obligations.attempts.attempts.cuont",
            "count",
        ),
        (
            "commitment",
            'per = "month"\naccepted',
            'perr = "month"\naccepted',
            "commitments.mql-volume.perr",
            "per",
        ),
        ("goal", "customers = 20", "customers = 20\ncustomer = 20", "goal.customer", "customers"),
        (
            "conversion",
            '{ from = "mql", to = "sql", rate = 0.3 }',
            '{ from = "mql", to = "sql", rate = 0.3, rat = 0.3 }',
            "goal.conversions[0].rat",
            "rate",
        ),
    ]
]


@pytest.mark.parametrize(("edit", "field", "message", "fix"), CASES)
def test_each_check_names_the_place_the_value_and_the_fix(
    edit: tuple[str, str], field: str, message: str, fix: str
) -> None:
    """One mistake gives exactly one problem (no cascade), with its path, line, value and fix."""
    old, new = edit
    text = edited(old, new)
    [problem] = problems_of(text)
    assert problem.field == field
    assert message in problem.message
    assert fix in problem.fix
    assert problem.line is not None
    lines = text.splitlines()
    shown = lines[problem.line - 1]
    # The line is the edited one or, for a removed key or an entry of a multi-line array, the
    # line of the table or key that holds it.
    if new:
        edited_lines = [part.strip() for part in new.splitlines()]
        assert any(part in shown for part in edited_lines) or shown.rstrip().endswith("[")
    else:
        assert shown.startswith("[")


def test_an_unreachable_state_is_reported() -> None:
    """A lifecycle with a state no transition reaches is refused, naming the state."""
    data = agreement_to_data(DEFAULT)
    lifecycle = Lifecycle.default().to_dict()
    lifecycle["states"]["island"] = {"owner": "sales", "terminal": True}
    data["lifecycle"] = lifecycle
    with pytest.raises(AgreementError) as caught:
        agreement_from_data(data)
    [problem] = caught.value.problems
    assert problem.value == "island"
    assert "cannot be reached from the initial state 'lead'" in problem.message


def test_every_problem_is_reported_at_once() -> None:
    """Three unrelated mistakes give three problems, in one error, each with its line."""
    text = (
        edited('tracking_period = "month"', 'tracking_perod = "month"')
        .replace('within = "4 business hours"\n', 'within = "4 hurs"\n', 1)
        .replace("at_least = 150", 'at_least = "many"', 1)
    )
    found = problems_of(text)
    assert [problem.field for problem in found] == [
        "agreement.tracking_perod",
        "obligations.first-touch.within",
        "commitments.mql-volume.at_least",
    ]
    assert [problem.line for problem in found] == [
        line_of(text, "tracking_perod"),
        line_of(text, '"4 hurs"'),
        line_of(text, '"many"'),
    ]


def test_a_missing_table_says_what_to_add() -> None:
    """Without calendars and teams the fix names the table to write."""
    found = problems_of('[agreement]\nname = "x"\ntimezone = "UTC"\n')
    fixes = {problem.field: problem.fix for problem in found}
    assert "add a [calendars.NAME] table" in fixes["calendars"]
    assert "add a [teams.NAME] table" in fixes["teams"]


def test_a_misspelt_table_is_quoted_briefly() -> None:
    """An unknown key holding tables is not dumped whole into the message."""
    [problem] = problems_of(edited("[[commitments]]", "[[commitment]]"))
    assert problem.value == "1 table"


def test_without_terms_the_default_lifecycle_guards_are_reported() -> None:
    """A file with the default lifecycle must define the terms its guards use."""
    text = TEXT
    for name in ("lead", "mql", "sql"):
        start = text.index(f"[terms.{name}]")
        text = text[:start] + text[text.index("\n\n", start) + 2 :]
    text = text.replace('when = "mql"', 'when = "score >= 50"')
    found = problems_of(text)
    assert [(problem.field, problem.message) for problem in found] == [
        ("terms.mql", "is missing: the default lifecycle's 'qualify' guard uses it"),
        ("terms.sql", "is missing: the default lifecycle's 'qualify_sales' guard uses it"),
    ]


def test_lifecycle_problems_are_placed_in_the_lifecycle_table() -> None:
    """A custom lifecycle's problems carry the lifecycle. prefix and a line."""
    data = agreement_to_data(DEFAULT)
    lifecycle = Lifecycle.default().to_dict()
    lifecycle["transitions"][4]["dest"] = "wn"
    data["lifecycle"] = lifecycle
    text = agreement_to_toml(DEFAULT, comments=False)
    text += "\n" + _lifecycle_toml(lifecycle)
    found = problems_of(text)
    assert [problem.field for problem in found] == [
        "lifecycle.transitions[4] (win).dest",
        "lifecycle.states.won",
    ]
    lines = text.splitlines()
    assert [lines[problem.line - 1] for problem in found if problem.line] == [
        'dest = "wn"',
        "[lifecycle.states.won]",
    ]


def _lifecycle_toml(lifecycle: dict[str, Any]) -> str:
    out = ["[lifecycle]", f'initial = "{lifecycle["initial"]}"']
    for name, state in lifecycle["states"].items():
        out += [f"[lifecycle.states.{name}]", f'owner = "{state["owner"]}"']
        out += ["terminal = true"] if state.get("terminal") else []
    for transition in lifecycle["transitions"]:
        out.append("[[lifecycle.transitions]]")
        out.append(f'trigger = "{transition["trigger"]}"')
        out.append(f"sources = {json.dumps(list(transition['sources']))}")
        out.append(f'dest = "{transition["dest"]}"')
        if transition.get("guard"):
            out.append(f'guard = "{transition["guard"]}"')
        if transition.get("requires_reason"):
            out.append("requires_reason = true")
    return "\n".join(out) + "\n"


def test_empty_text_is_an_empty_agreement_not_a_path() -> None:
    """``from_toml("")`` reports the missing tables, not a directory it tried to read."""
    found = problems_of("")
    assert [problem.field for problem in found] == [
        "agreement",
        "calendars",
        "teams",
        "terms.mql",
        "terms.sql",
    ]


def test_holiday_rules_are_written_as_people_write_them() -> None:
    """An RRULE holiday goes back to the file as written, and reads back equal."""
    office = DEFAULT.calendars["office"]
    christmas = "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25"
    calendar = type(office).from_dict({**office.to_dict(), "holidays": [christmas]})
    changed = attrs.evolve(DEFAULT, calendars={"office": calendar})
    text = agreement_to_toml(changed)
    assert f'holidays = ["{christmas}"]' in text
    assert Agreement.from_toml_text(text) == changed


def test_a_valid_file_gives_no_problems() -> None:
    """The default file reads without error (the checks have no warnings to give)."""
    assert Agreement.from_toml_text(TEXT).name == DEFAULT.name


# -- checks on objects built in Python ----------------------------------------------------------


def test_a_manager_can_be_named_in_an_escalation() -> None:
    """Escalate('sam') is accepted: sam manages sales; an unknown name is not."""
    spec = DEFAULT.obligations[0]
    named = attrs.evolve(spec, on_breach=(Escalate("sam"),))
    assert attrs.evolve(DEFAULT, obligations=(named,)).obligations == (named,)
    with pytest.raises(AgreementError, match=r"is not a known person \(got 'nobody'\)"):
        attrs.evolve(DEFAULT, obligations=(attrs.evolve(spec, on_breach=(Escalate("nobody"),)),))


def test_who_may_log_an_activity_is_checked() -> None:
    """A typo in ActivityMatch(by=...) is an error, not a match for anyone."""
    with pytest.raises(ObligationError) as caught:
        ActivityMatch(by="partty")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "'activity.by' is not who may log the activity (got 'partty'); "
        "use one of anyone, owner, party"
    )


def test_warnings_name_their_own_fields() -> None:
    """A bad Warn names 'warning.before' or 'warning.fraction'; floats are read as text."""
    with pytest.raises(ValueError, match=r"'warning\.before' has an unknown kind of time"):
        Warn(before="1 buisness hour")
    with pytest.raises(
        ObligationError, match=r"'warning.fraction' must be between 0 and 1: .* \(got 1.5\)"
    ):
        Warn(fraction=1.5)
    with pytest.raises(ObligationError, match=r"'warning\.fraction' is not a number"):
        Warn(fraction="most")
    assert Warn(fraction=0.1).fraction == Fraction(1, 10)


def test_shares_may_be_percentages_in_python_too() -> None:
    """Goal and Commitment read "60%" as the file does; junk is an AgreementError."""
    assert Goal(customers=10, marketing_share="60%").marketing_share == Fraction(3, 5)
    with pytest.raises(AgreementError) as caught:
        Commitment("c", "marketing", "mql", 1, accepted_share="most")
    assert str(caught.value) == (
        "'commitment.accepted_share' is not a number or share (got 'most'); "
        'write e.g. 0.6 or "60%"'
    )


def test_an_obligation_never_met_is_refused_in_python_too() -> None:
    """The same check guards agreements built in code."""
    spec = ObligationSpec(
        name="silent", party="sales", starts=When(states="mql"), within="1 business day"
    )
    with pytest.raises(AgreementError, match="could never be met"):
        attrs.evolve(DEFAULT, obligations=(spec,))


# -- the goal funnel ----------------------------------------------------------------------------


def test_funnel_of_the_default_agreement() -> None:
    """20 customers a quarter, 60% marketing, 25% SQL->won, 30% MQL->SQL: 12, 48, 160 (54/month)."""
    funnel = DEFAULT.funnel()
    assert funnel is not None
    stages = {stage.state: stage for stage in funnel.stages}
    assert stages["won"].per_goal_period == 12
    assert stages["sql"].per_goal_period == 48
    assert stages["mql"].per_goal_period == 160
    assert stages["mql"].needed("quarter", "month") == 54  # 160 / 3 = 53.3, rounded up
    [coverage] = funnel.coverage
    assert (coverage.needed, coverage.committed, coverage.covered) == (54, 150, True)
    assert funnel.sentences()[-1] == "Marketing commits 150 MQLs a month: covered."


@pytest.mark.parametrize(
    ("customers", "share", "rates", "committed", "needed"),
    [
        (10, "1", ("0.5", "0.5"), 40, 14),  # 10 won <- 20 SQL <- 40 MQL a quarter; 13.3 a month
        (100, "0.5", ("0.25", "0.2"), 300, 334),  # 50 <- 250 <- 1000 a quarter; 333.3 a month
        (12, "0.25", ("0.1", "0.3"), 34, 34),  # 3 <- 10 <- 100 a quarter; 33.3 a month
        (10, "1", ("0.5", "0.5"), 12, 14),  # short by 2 a month
    ],
)
def test_funnel_worked_examples(
    customers: int, share: str, rates: tuple[str, str], committed: int, needed: int
) -> None:
    """Worked back from the customers, with rates read exactly and months rounded up."""
    goal = Goal(
        customers=customers,
        per="quarter",
        marketing_share=share,
        conversions=(("mql", "sql", rates[0]), ("sql", "won", rates[1])),
    )
    commitment = attrs.evolve(DEFAULT.commitments[0], at_least=committed)
    marketing = Fraction(share) * customers
    mqls = marketing / Fraction(rates[1]) / Fraction(rates[0])
    expected_month = -(-mqls // 3)  # ceiling of a third of the quarter
    if committed >= expected_month:
        agreement = attrs.evolve(DEFAULT, goal=goal, commitments=(commitment,))
        funnel = agreement.funnel()
        assert funnel is not None
        [coverage] = funnel.coverage
        assert coverage.needed == needed == expected_month
        assert coverage.covered
    else:
        with pytest.raises(AgreementError) as caught:
            attrs.evolve(DEFAULT, goal=goal, commitments=(commitment,))
        [problem] = caught.value.problems
        assert f"short of the goal by {needed - committed} a month" in problem.message
        assert needed == expected_month


def test_a_commitment_per_quarter_is_compared_per_quarter() -> None:
    """A quarterly commitment is compared with the quarterly need, not the monthly one."""
    quarterly = Commitment(
        name="mql-volume", party="marketing", state="mql", at_least=160, per="quarter"
    )
    funnel = attrs.evolve(DEFAULT, commitments=(quarterly,)).funnel()
    assert funnel is not None
    [coverage] = funnel.coverage
    assert (coverage.needed, coverage.per, coverage.covered) == (160, "quarter", True)
    with pytest.raises(AgreementError, match="short of the goal by 1 a quarter"):
        attrs.evolve(DEFAULT, commitments=(attrs.evolve(quarterly, at_least=159),))


# -- the one-page summary -----------------------------------------------------------------------


@pytest.mark.parametrize("format", ["text", "md", "html"])
def test_the_summary_names_every_commitment_and_obligation(format: Any) -> None:
    """Each obligation, the commitment, every term, state owner and the review are in it."""
    page = " ".join(render_summary(DEFAULT, format).split())  # the text format wraps lines
    for spec in DEFAULT.obligations:
        assert spec.name in page
    assert "Marketing delivers at least 150 MQLs a month." in page
    assert "within 4 business hours (Mon–Fri 09:00–17:00, Europe/Helsinki)" in page
    shown: Any = {"html": html.escape, "md": markdown_text}.get(format, str)
    for term in DEFAULT.terms:
        if format != "text":  # the text table wraps its cells, interleaving the columns
            assert shown(term.description) in page
            assert shown(term.condition.source) in page
    assert "sam" in page
    assert "review" in page.lower()
    assert "covered" in page


def test_rules_that_notify_read_as_sentences() -> None:
    """A rule whose actions are not moves reads 'When a lead ...: ...'."""
    from leadsla import AddTag, Notify, Rule
    from leadsla._shell.summary import rule_sentence

    rule = Rule(name="hot", when="score >= 90", then=[Notify("sam", "hot"), AddTag("hot")])
    assert rule_sentence(DEFAULT, rule) == (
        "When a lead has score >= 90: sam is notified and the lead is tagged hot."
    )


def test_the_text_summary_fits_a_terminal_and_skips_empty_sections() -> None:
    """Every line of the text one-pager is at most 96 characters; no empty headings."""
    for line in render_summary(DEFAULT, "text").splitlines():
        assert len(line) <= 96, line
    bare = attrs.evolve(DEFAULT, obligations=(), commitments=(), goal=None)
    page = render_summary(bare, "text")
    assert "Commitments" not in page
    assert "The goal" not in page


def test_user_text_is_escaped_in_html() -> None:
    """A <script> in a term description is shown as text, never run."""
    hostile = Term("evil", "score >= 1", "<script>alert('x')</script> & more")
    page = render_summary(attrs.evolve(DEFAULT, terms=[*DEFAULT.terms, hostile]), "html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page


def test_user_text_is_escaped_in_markdown() -> None:
    """Markdown passes HTML through, and one-pagers end up in wikis that render it: the
    agreement's name, a term's description and a team's name show as text there too, and
    Markdown's own characters do not turn into links or emphasis."""
    hostile = Term("evil", "score >= 1", "<script>alert('x')</script> [click](http://x) *now*")
    agreement = attrs.evolve(
        DEFAULT, name="<img src=x onerror=alert(1)> SLA", terms=[*DEFAULT.terms, hostile]
    )
    page = render_summary(agreement, "md")
    for raw in ("<script>", "<img", "[click](http://x)", "*now*"):
        assert raw not in page
    assert page.startswith("# &lt;img src=x onerror=alert(1)> SLA\n")
    assert "&lt;script>alert('x')&lt;/script> \\[click\\](http://x) \\*now\\*" in page


def test_the_html_is_self_contained_and_print_ready() -> None:
    """One file: inline CSS with an A4 @page rule; no external resources."""
    page = render_summary(DEFAULT, "html")
    assert "@page" in page
    assert "A4" in page
    for outside in ("<link", "src=", "http:", "https:", "url("):
        assert outside not in page


def test_the_summary_rejects_an_unknown_format() -> None:
    with pytest.raises(AgreementError, match="'format' is not a summary format"):
        render_summary(DEFAULT, "pdf")  # type: ignore[arg-type]


# -- fuzz: random mutations give an agreement or an AgreementError ------------------------------

DATA = tomllib.loads(TEXT)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(DATA)
VALUES = st.one_of(
    st.none(),  # None means: delete the key
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["mql", "sql", "sales", "office", "4 business hours", "score >", "month"]),
    st.lists(st.sampled_from(["mql", "x", "09:00-17:00", "call"]), max_size=3),
    st.dictionaries(st.sampled_from(["fire", "states", "kinds", "x"]), st.text(max_size=5)),
)


def check_names_field_and_fix(error: AgreementError) -> None:
    """Each problem names a field and says what is wrong and the fix; the message shows each."""
    message = str(error)
    for problem in error.problems:
        assert isinstance(problem, Problem)
        assert isinstance(problem.field, str), problem
        assert problem.field.strip(), problem
        assert problem.message.strip(), problem
        assert problem.fix.strip(), problem
        assert str(problem) in message


@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=4))
def test_mutated_files_give_an_agreement_or_an_agreement_error(
    edits: list[tuple[tuple[Any, ...], Any]],
) -> None:
    """Replacing or deleting any values never raises anything but AgreementError."""
    data = copy.deepcopy(DATA)
    for path, value in edits:
        node: Any = data
        try:
            for key in path[:-1]:
                node = node[key]
            if value is None:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    try:
        agreement_from_data(data)
    except AgreementError as error:
        event("refused")
        check_names_field_and_fix(error)
    else:
        event("accepted")


@given(
    st.lists(
        st.tuples(
            st.integers(0, len(TEXT) - 1),
            st.integers(0, 8),
            st.sampled_from(['"', "[", "]", "=", "\n", "x", "0", ",", "{", "}", ".", " ", ""]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_text_gives_an_agreement_or_an_agreement_error(
    edits: list[tuple[int, int, str]],
) -> None:
    """Cutting and inserting characters anywhere in the file never raises anything else."""
    text = TEXT
    for position, length, insert in edits:
        start = min(position, len(text))
        text = text[:start] + insert + text[start + length :]
    try:
        Agreement.from_toml_text(text)
    except AgreementError as error:
        event("refused")
        check_names_field_and_fix(error)
    else:
        event("accepted")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="needs headless Chromium (Debian: apt install chromium)"
)
def test_the_default_one_pager_prints_on_one_a4_page(tmp_path: pathlib.Path) -> None:
    """Printed by headless Chromium, the default agreement's HTML is one A4 page."""
    assert CHROMIUM is not None
    page = tmp_path / "agreement.html"
    page.write_text(render_summary(DEFAULT, "html"), encoding="utf-8")
    pdf = tmp_path / "agreement.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}",
            str(page),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = pdf.read_bytes()
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) == 1
    [box] = re.findall(rb"/MediaBox\s*\[([^\]]*)\]", data)[:1]
    width, height = (float(number) for number in box.split()[2:4])
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)  # A4 in mm


def test_a_team_defined_twice_is_refused() -> None:
    """Two entries for one team would leave its members ambiguous (whose calls count)."""
    default = Agreement.default()
    extra = Team("sales", members=("zed",))
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(default, teams=(*default.teams, extra))
    assert str(caught.value) == (
        "'teams.sales' is defined twice (got 'sales'); give each team one entry, with all its "
        "members"
    )


# -- values check themselves, in Python as from the file ------------------------------------------


def test_a_time_allowed_of_zero_is_refused_by_the_obligation() -> None:
    """ObligationSpec checks its own time, before any agreement is made."""
    with pytest.raises(ObligationError) as caught:
        ObligationSpec("quick", "sales", When(states="mql"), within="0 hours", met=When("sal"))
    assert str(caught.value) == (
        "'obligations.quick.within' must be longer than zero (got '0 hours'); give the time allowed"
    )


def test_an_attempt_count_below_one_is_refused_by_attempts() -> None:
    """Attempts checks its own count: a whole number, at least 1."""
    with pytest.raises(ObligationError, match=r"'attempts.count' must be a whole number"):
        Attempts(0, ActivityMatch())
    with pytest.raises(ObligationError, match=r"\(got '6'\)"):
        Attempts("6", ActivityMatch())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("within", "before"),
    [
        ("4 business hours", "5 business hours"),
        ("4 business hours", "4 business hours"),
        ("2 business days", "3 business days"),
        ("1 day", "25 hours"),
        ("2 hours", "1 day"),
    ],
)
def test_a_warning_not_shorter_than_its_clock_is_refused(within: str, before: str) -> None:
    """A warning that would come when the clock starts is refused when the obligation is made."""
    with pytest.raises(ObligationError) as caught:
        ObligationSpec(
            "quick", "sales", When(states="mql"), within, met=When("sal"), warnings=Warn(before)
        )
    [problem] = caught.value.problems
    assert problem.field == "obligations.quick.warnings[0].before"
    assert problem.message.startswith(f"is not shorter than the time allowed ({within})")


def test_a_warning_in_hours_on_a_clock_in_days_is_checked_on_the_calendar() -> None:
    """9 business hours before a 1-business-day deadline, on an 8-hour day, is too early."""
    spec = attrs.evolve(DEFAULT.obligations[1], warnings=(Warn(before="9 business hours"),))
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(DEFAULT, obligations=(spec,))
    assert str(caught.value) == (
        "'obligations.accept-or-reject.warnings[0].before' is not shorter than the time allowed "
        "(1 business day, at most 8 business hours on calendar 'office'): the warning would "
        "come as soon as the clock starts (got '9 business hours'); warn less long before the "
        "deadline, or by a share of the time (fraction = 0.75)"
    )
    shorter = attrs.evolve(spec, warnings=(Warn(before="7 business hours"),))
    assert attrs.evolve(DEFAULT, obligations=(shorter,)).obligations == (shorter,)


def test_business_days_beyond_ten_years_of_the_calendar_are_refused_in_python() -> None:
    """3000 business days on a five-day week is more than 10 years away: refused."""
    spec = attrs.evolve(DEFAULT.obligations[2], within="3000 business days")
    with pytest.raises(AgreementError, match=r"opens in 10 years \(2600 business days\)"):
        attrs.evolve(DEFAULT, obligations=(spec,))
    hours = attrs.evolve(DEFAULT.obligations[0], within="20801 business hours")
    with pytest.raises(AgreementError, match=r"opens in 10 years \(20800 business hours\)"):
        attrs.evolve(DEFAULT, obligations=(hours,))


def test_a_team_without_members_that_owns_nothing_is_kept() -> None:
    """A manager-only team that owns no state and no promise can still be escalated to."""
    board = Team("board", manager="ceo")
    spec = attrs.evolve(DEFAULT.obligations[0], on_breach=(Escalate("ceo"),))
    agreement = attrs.evolve(DEFAULT, teams=(*DEFAULT.teams, board), obligations=(spec,))
    assert agreement.team("board") == board


def test_a_manager_only_team_that_owns_states_is_refused() -> None:
    """Its round robin has nobody to deal leads to: 'no members', even with a manager."""
    teams = tuple(Team("sales", manager="sam") if t.name == "sales" else t for t in DEFAULT.teams)
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(DEFAULT, teams=teams)
    [problem] = caught.value.problems
    assert problem.field == "teams.sales.members"
    assert problem.message.startswith("is empty, but the team owns state 'mql'")


def test_a_team_checks_its_own_members() -> None:
    """A member listed twice, or a blank name, is refused when the team is made."""
    with pytest.raises(AgreementError) as caught:
        Team("sales", members=("bob", "ann", "bob"), manager="")
    assert [str(problem) for problem in caught.value.problems] == [
        "'teams.sales.members' names a person twice (got ['bob']); list each member once",
        "'teams.sales.manager' must be a person's name (got ''); write e.g. manager = \"sam\", "
        "or leave it out",
    ]


def test_field_types_and_the_rule_mode_are_checked_in_python_too() -> None:
    """Agreement checks the declared field types and the rule mode, not only the file."""
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(DEFAULT, fields={**DEFAULT.fields, "score": "nmber"})
    assert [(problem.field, problem.message) for problem in caught.value.problems] == [
        ("fields.score", "is not a field type"),
    ]
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(DEFAULT, rules=attrs.evolve(DEFAULT.rules, mode="frist"))  # type: ignore[arg-type]
    assert [(problem.field, problem.message) for problem in caught.value.problems] == [
        ("rules.mode", "is not a rule mode"),
    ]


def test_warning_fractions_may_be_percentages() -> None:
    """A warning's fraction reads "75%" as a share does."""
    assert Warn(fraction="75%").fraction == Fraction(3, 4)
    with pytest.raises(ObligationError, match=r"'warning\.fraction' is not a number"):
        Warn(fraction=True)


# -- a custom lifecycle in the file -------------------------------------------------------------


def _with_review() -> Agreement:
    """The default agreement with a review state between sql and won."""
    default = Lifecycle.default()
    lifecycle = Lifecycle(
        states=[*default.states, State("review", "sales")],
        transitions=[
            *default.transitions,
            Transition("review", "sql", "review"),
            Transition("close", "review", "won"),
        ],
        initial="lead",
    )
    return attrs.evolve(DEFAULT, lifecycle=lifecycle)


def test_a_custom_lifecycle_round_trips_with_any_state_kept() -> None:
    """The file says sources = ["*"] for disqualify, and reads back the same agreement."""
    custom = _with_review()
    text = agreement_to_toml(custom)
    assert 'sources = ["*"]' in text
    assert Agreement.from_toml_text(text) == custom


def test_a_state_added_in_the_file_can_be_disqualified() -> None:
    """A state added by hand to a written lifecycle gets the '*' transition too."""
    text = agreement_to_toml(_with_review(), comments=False)
    text += '\n[lifecycle.states.archive]\nowner = "marketing"\n'
    text += '\n[[lifecycle.transitions]]\ntrigger = "archive"\nsources = ["nurture"]\n'
    text += 'dest = "archive"\n\n[[lifecycle.transitions]]\ntrigger = "restore"\n'
    text += 'sources = ["archive"]\ndest = "nurture"\n'
    lifecycle = Agreement.from_toml_text(text).lifecycle
    disqualify = lifecycle.find("archive", "disqualify")
    assert disqualify is not None
    assert disqualify.dest == "disqualified"


def test_an_unknown_key_in_the_lifecycle_is_placed_on_its_line() -> None:
    """``gaurd`` is refused by the lifecycle and placed by the reader on its line."""
    text = agreement_to_toml(_with_review(), comments=False).replace(
        'guard = "mql"', 'gaurd = "mql"'
    )
    [problem] = problems_of(text)
    assert problem.field == "lifecycle.transitions[0].gaurd"
    assert problem.fix.endswith("(did you mean 'guard'?)")
    assert problem.line == line_of(text, 'gaurd = "mql"')


def test_a_warning_at_or_after_the_deadline_is_refused() -> None:
    """A warning 0 (or minus) hours before the deadline would come at or after it."""
    for before in ("0 business hours", -Duration(1, "hours", business=True)):
        with pytest.raises(ObligationError, match=r"'warning\.before' must be longer than zero"):
            Warn(before=before)
