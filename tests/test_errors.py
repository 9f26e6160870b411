"""Errors: one root, builtin leaves, and messages that name the field, the value and the fix.

Every leaf error class of ``leadsla._core.errors`` is made to happen here by a real bad input
through the public API, and its message is checked in full. The list of leaves is read from
the module, so a new error class without a bad input here fails the suite.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import attrs
import pytest

import leadsla
from leadsla import (
    Agreement,
    AgreementError,
    BusinessCalendar,
    CalendarError,
    ConditionError,
    CsvError,
    CsvMapping,
    Duration,
    DurationError,
    Engine,
    Event,
    EventError,
    EventRejected,
    Fire,
    InvalidTransition,
    LeadSLAError,
    LeadUpdated,
    Lifecycle,
    LifecycleError,
    NaiveDatetimeError,
    ObligationError,
    ObligationSpec,
    Problem,
    Rejected,
    Rule,
    RuleLoopError,
    SqliteStore,
    State,
    StoreError,
    Transition,
    UsageError,
    When,
    Workflow,
    WorkflowError,
)
from leadsla._core import errors

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Helsinki"))

#: Every class ``leadsla._core.errors`` exports that leadsla raises: all but the root.
LEAVES = [
    value
    for name in errors.__all__
    if isinstance(value := getattr(errors, name), type)
    and issubclass(value, LeadSLAError)
    and value is not LeadSLAError
]


class Case(NamedTuple):
    """A bad input, and what leadsla says of it."""

    cause: Callable[[pathlib.Path], object]  # given a fresh folder to write files in
    message: str
    problems: tuple[Problem, ...]
    builtin: type[Exception] = ValueError


def naive_time(_: pathlib.Path) -> object:
    """A lead created at a wall-clock time without its zone."""
    return Workflow.default().create("L-1", {"score": 70}, datetime(2026, 3, 2, 9, 0))


def bad_calendar(_: pathlib.Path) -> object:
    """Opening hours on a weekday that does not exist."""
    return BusinessCalendar(tz="Europe/Helsinki", week={"mun": [("09:00", "17:00")]})


def duration_typo(_: pathlib.Path) -> object:
    """A duration with its kind of time misspelt."""
    return Duration.parse("4 bizness hours")


def condition_typo(_: pathlib.Path) -> object:
    """A condition that does not parse."""
    return leadsla.Condition("score >>= 50")


def lifecycle_with_unknown_state(_: pathlib.Path) -> object:
    """A transition into a state the lifecycle does not have (a typo)."""
    return Lifecycle(
        states=[
            State("lead", "marketing"),
            State("mql", "sales"),
            State("disqualified", "marketing", terminal=True),
        ],
        transitions=[
            Transition("qualify", "lead", "mql"),
            Transition("disqualify", "mql", "disqualified"),
            Transition("drop", "lead", "disqualifed"),
        ],
        initial="lead",
    )


def obligation_of_no_time(_: pathlib.Path) -> object:
    """An obligation that allows no time at all."""
    return ObligationSpec(
        name="first-touch",
        party="sales",
        starts=When(states="mql"),
        within="0 business hours",
        met=When(states="sal"),
    )


def agreement_with_unknown_team(_: pathlib.Path) -> object:
    """An obligation made by a team the agreement does not have."""
    default = Agreement.default()
    call_back = ObligationSpec(
        name="call-back",
        party="salez",
        starts=When(states="mql"),
        within="1 business day",
        met=When(states="sal"),
    )
    return attrs.evolve(default, obligations=[*default.obligations, call_back])


def malformed_json_event(_: pathlib.Path) -> object:
    """An event line cut short: not JSON."""
    return Event.from_json('{"id": "e1", "type": "lead_created"')


def unknown_person(_: pathlib.Path) -> object:
    """A lead assigned to someone who is not in the team that owns it."""
    workflow = Workflow.default()
    lead = workflow.create("L-1", {"email": "ann@acme.fi", "score": 70}, T0).lead
    return workflow.assign(lead, "zed", T0)


def illegal_transition(_: pathlib.Path) -> object:
    """A lead that just became an MQL asked to be won."""
    workflow = Workflow.default()
    lead = workflow.create("L-1", {"email": "ann@acme.fi", "score": 70}, T0).lead
    return workflow.fire(lead, "win", T0)


def rules_in_a_loop(_: pathlib.Path) -> object:
    """Two rules that send a lead back and forth between mql and nurture."""
    default = Agreement.default()
    workflow = Workflow(
        lifecycle=default.lifecycle,
        terms=default.terms,
        teams=default.teams,
        rules=[
            Rule("out", when="true", then=Fire("nurture", "x"), on="transitioned", states="mql"),
            Rule(
                "in", when="true", then=Fire("requalify", "y"), on="transitioned", states="nurture"
            ),
        ],
    )
    lead = workflow.create("L-1", {"email": "ann@acme.fi", "score": 70}, T0).lead
    return workflow.fire(lead, "qualify", T0)


def strict_engine_refusal(_: pathlib.Path) -> object:
    """A strict engine given an update of a lead it never saw created."""
    return Engine(strict=True).apply(LeadUpdated(id="u1", lead="L-9", at=T0, fields={}))


def csv_mapping_typo(_: pathlib.Path) -> object:
    """A CSV mapping whose event type is misspelt."""
    return CsvMapping.from_toml_text(
        '[[events]]\ntype = "lead_craeted"\nlead = "{id}"\nat = "{created}"\n'
    )


def store_on_a_text_file(folder: pathlib.Path) -> object:
    """A store opened on a file that is not a store."""
    notes = folder / "notes.txt"
    notes.write_text("Call Ann back on Monday.\n" * 40, encoding="utf-8")
    return SqliteStore(notes)


def toml_text_as_a_path(_: pathlib.Path) -> object:
    """The text of an agreement passed where its path is expected."""
    return Agreement.from_toml('name = "Our SLA"\ntimezone = "Europe/Helsinki"\n')


NOTES_PATH = "{folder}/notes.txt"

CASES: dict[type[LeadSLAError], Case] = {
    NaiveDatetimeError: Case(
        naive_time,
        "'at' must be timezone-aware (got 2026-03-02 09:00:00); "
        "add a UTC offset or a tzinfo, e.g. datetime(..., tzinfo=ZoneInfo('UTC'))",
        (
            Problem(
                "at",
                datetime(2026, 3, 2, 9, 0),
                "must be timezone-aware",
                "add a UTC offset or a tzinfo, e.g. datetime(..., tzinfo=ZoneInfo('UTC'))",
            ),
        ),
    ),
    CalendarError: Case(
        bad_calendar,
        "'week.mun' is not a weekday (got 'mun'); "
        "use one of mon, tue, wed, thu, fri, sat, sun (did you mean 'sun'?)",
        (
            Problem(
                "week.mun",
                "mun",
                "is not a weekday",
                "use one of mon, tue, wed, thu, fri, sat, sun (did you mean 'sun'?)",
            ),
        ),
    ),
    DurationError: Case(
        duration_typo,
        "'duration' has an unknown kind of time 'bizness' (got '4 bizness hours'); "
        "write 'business' or 'calendar' before the unit (did you mean 'business'?)",
        (
            Problem(
                "duration",
                "4 bizness hours",
                "has an unknown kind of time 'bizness'",
                "write 'business' or 'calendar' before the unit (did you mean 'business'?)",
            ),
        ),
    ),
    ConditionError: Case(
        condition_typo,
        "'condition' is not a valid expression (invalid syntax at column 7) "
        "(got 'score >>= 50'); write comparisons (==, !=, <, <=, >, >=, in, not in), 'and', "
        "'or', 'not', arithmetic, lists, and functions such as lower(x), has(x), "
        "domain(email), duration('30 days')",
        (
            Problem(
                "condition",
                "score >>= 50",
                "is not a valid expression (invalid syntax at column 7)",
                "write comparisons (==, !=, <, <=, >, >=, in, not in), 'and', 'or', 'not', "
                "arithmetic, lists, and functions such as lower(x), has(x), domain(email), "
                "duration('30 days')",
            ),
        ),
    ),
    LifecycleError: Case(
        lifecycle_with_unknown_state,
        "'transitions[2] (drop).dest' is not a known state (got 'disqualifed'); "
        "use one of disqualified, lead, mql (did you mean 'disqualified'?)",
        (
            Problem(
                "transitions[2] (drop).dest",
                "disqualifed",
                "is not a known state",
                "use one of disqualified, lead, mql (did you mean 'disqualified'?)",
            ),
        ),
    ),
    ObligationError: Case(
        obligation_of_no_time,
        "'obligations.first-touch.within' must be longer than zero (got '0 business hours'); "
        "give the time allowed",
        (
            Problem(
                "obligations.first-touch.within",
                "0 business hours",
                "must be longer than zero",
                "give the time allowed",
            ),
        ),
    ),
    AgreementError: Case(
        agreement_with_unknown_team,
        "'obligations.call-back.party' is not a known team (got 'salez'); "
        "use one of marketing, sales (did you mean 'sales'?)",
        (
            Problem(
                "obligations.call-back.party",
                "salez",
                "is not a known team",
                "use one of marketing, sales (did you mean 'sales'?)",
            ),
        ),
    ),
    EventError: Case(
        malformed_json_event,
        "'event' is not JSON (Expecting ',' delimiter: line 1 column 36 (char 35)) "
        """(got '{"id": "e1", "type": "lead_created"'); write one JSON object per line""",
        (
            Problem(
                "event",
                '{"id": "e1", "type": "lead_created"',
                "is not JSON (Expecting ',' delimiter: line 1 column 36 (char 35))",
                "write one JSON object per line",
            ),
        ),
    ),
    WorkflowError: Case(
        unknown_person,
        "'owner' is not a known member of team 'sales', which owns leads in 'mql' "
        "(got 'zed'); use one of alice, bob, carol, sam",
        (
            Problem(
                "owner",
                "zed",
                "is not a known member of team 'sales', which owns leads in 'mql'",
                "use one of alice, bob, carol, sam",
            ),
        ),
    ),
    InvalidTransition: Case(
        illegal_transition,
        "'trigger' cannot move lead L-1 from 'mql' (got 'win'); "
        "from 'mql' the triggers are: accept, reject, nurture, hand_back, disqualify",
        (
            Problem(
                "trigger",
                "win",
                "cannot move lead L-1 from 'mql'",
                "from 'mql' the triggers are: accept, reject, nurture, hand_back, disqualify",
            ),
        ),
    ),
    RuleLoopError: Case(
        rules_in_a_loop,
        "'rules' moved lead L-1 more than 8 times for one event "
        "(got ['out', 'in', 'out', 'in', 'out', 'in', 'out', 'in']); "
        "make the rules' states or conditions exclude each other",
        (
            Problem(
                "rules",
                ["out", "in", "out", "in", "out", "in", "out", "in"],
                "moved lead L-1 more than 8 times for one event",
                "make the rules' states or conditions exclude each other",
            ),
        ),
        RuntimeError,
    ),
    EventRejected: Case(
        strict_engine_refusal,
        "'lead' is unknown (got 'L-9'); send its lead_created event first",
        (Problem("lead", "L-9", "is unknown", "send its lead_created event first"),),
    ),
    CsvError: Case(
        csv_mapping_typo,
        "'events[1].type' is not a known event type (got 'lead_craeted'); use one of "
        "activity, assign, lead_created, lead_updated, transition (did you mean 'lead_created'?)",
        (
            Problem(
                "events[1].type",
                "lead_craeted",
                "is not a known event type",
                "use one of activity, assign, lead_created, lead_updated, transition "
                "(did you mean 'lead_created'?)",
            ),
        ),
    ),
    StoreError: Case(
        store_on_a_text_file,
        f"'path' cannot be opened as a leadsla store (file is not a database) "
        f"(got '{NOTES_PATH}'); "
        "give the path of a store, or of a new file in a folder you may write to",
        (
            Problem(
                "path",
                NOTES_PATH,
                "cannot be opened as a leadsla store (file is not a database)",
                "give the path of a store, or of a new file in a folder you may write to",
            ),
        ),
    ),
    UsageError: Case(
        toml_text_as_a_path,
        "'path' looks like the text of an agreement, not the path of a file "
        """(got 'name = "Our SLA"\\ntimezone = "Europe/Helsinki"\\n'); """
        "pass the text to Agreement.from_toml_text(text) instead",
        (
            Problem(
                "path",
                'name = "Our SLA"\ntimezone = "Europe/Helsinki"\n',
                "looks like the text of an agreement, not the path of a file",
                "pass the text to Agreement.from_toml_text(text) instead",
            ),
        ),
    ),
}


def _in(folder: pathlib.Path, problem: Problem) -> Problem:
    """The problem with ``{folder}`` in its value filled in."""
    if isinstance(problem.value, str):
        return attrs.evolve(problem, value=problem.value.replace("{folder}", str(folder)))
    return problem


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: leaf.__name__)
def test_each_error_is_raised_by_a_real_bad_input(
    leaf: type[LeadSLAError], tmp_path: pathlib.Path
) -> None:
    """A bad input through the public API raises the leaf, with its exact message and problems."""
    case = CASES.get(leaf)
    assert case is not None, f"no bad input raises {leaf.__name__}: add one to CASES"
    with pytest.raises(LeadSLAError) as raised:
        case.cause(tmp_path)
    error = raised.value
    assert type(error) is leaf
    assert isinstance(error, case.builtin)
    assert str(error) == case.message.replace("{folder}", str(tmp_path))
    assert error.problems == tuple(_in(tmp_path, problem) for problem in case.problems)


def test_every_case_is_a_leaf_of_the_module() -> None:
    """CASES names only classes the errors module exports, so none is tested by mistake."""
    assert set(CASES) <= set(LEAVES)


def test_the_leaves_are_the_errors_leadsla_exports() -> None:
    """The leaves read from the module are those ``leadsla`` exports, and there are some."""
    exported = {
        value
        for name in leadsla.__all__
        if isinstance(value := getattr(leadsla, name), type) and issubclass(value, LeadSLAError)
    }
    assert len(LEAVES) >= 15
    assert set(LEAVES) == exported - {LeadSLAError}


def test_each_leaf_is_its_builtin_and_the_root() -> None:
    """Every leaf is a LeadSLAError and a ValueError, but a loop in the rules a RuntimeError."""
    for leaf in LEAVES:
        assert issubclass(leaf, LeadSLAError)
        builtin = RuntimeError if leaf is RuleLoopError else ValueError
        assert issubclass(leaf, builtin), leaf.__name__


def test_leadsla_never_raises_the_root_itself() -> None:
    """No module of the package makes a bare LeadSLAError: only its leaves are raised."""
    package = pathlib.Path(leadsla.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 20  # the package's source is really there
    made = re.compile(r"(?<!class )\bLeadSLAError\(")
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if made.search(line)
    ]
    assert not found, "LeadSLAError made directly:\n" + "\n".join(found)


def test_an_invalid_transition_names_lead_state_and_trigger() -> None:
    """InvalidTransition says which lead, in which state, refused which trigger."""
    with pytest.raises(InvalidTransition) as raised:
        illegal_transition(pathlib.Path())
    error = raised.value
    assert (error.lead, error.state, error.trigger, error.explanation) == (
        "L-1",
        "mql",
        "win",
        None,
    )


def test_a_strict_engine_refusal_carries_the_rejected_effect() -> None:
    """EventRejected holds the Rejected effect whose details are its problems."""
    with pytest.raises(EventRejected) as raised:
        strict_engine_refusal(pathlib.Path())
    effect = raised.value.effect
    assert isinstance(effect, Rejected)
    assert (effect.event, tuple(effect.details)) == ("u1", raised.value.problems)


def test_several_problems_are_listed() -> None:
    """An error with several problems lists each on its own line."""
    error = CalendarError(Problem("a", 1, "is bad", "fix a"), Problem("b", 2, "is worse", "fix b"))
    assert str(error) == (
        "2 problems:\n  - 'a' is bad (got 1); fix a\n  - 'b' is worse (got 2); fix b"
    )
    assert [problem.field for problem in error.problems] == ["a", "b"]


def test_an_error_needs_a_problem() -> None:
    """An error without a problem is a programming mistake, caught at once."""
    with pytest.raises(TypeError, match="CalendarError needs at least one Problem"):
        CalendarError()
