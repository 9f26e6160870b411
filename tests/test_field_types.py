"""Field types: declared in the agreement, inferred from its conditions, checked in both."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest

from leadsla import Agreement, AgreementError, Condition, Problem, Term, agreement_to_toml
from leadsla._core.conditions import FieldType, check_field_values

DEFAULT = Agreement.default()
NUMBER = FieldType("number")
TEXT = FieldType("text")
COUNTRY = FieldType.choice("FI", "SE")


def problems_of(text: str, types: dict[str, FieldType] | None = None) -> list[str]:
    return [str(problem) for problem in Condition(text).type_problems(types or {})]


def clues_of(text: str, **options: Any) -> dict[str, str]:
    return {name: str(clue.type) for name, clue in Condition(text).field_types(**options).items()}


def refused(agreement: Agreement, **changes: Any) -> tuple[Problem, ...]:
    with pytest.raises(AgreementError) as caught:
        attrs.evolve(agreement, **changes)
    return caught.value.problems


# -- the type of a field ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("number", FieldType("number")),
        (FieldType("date"), FieldType("date")),
        ({"type": "choice", "values": ["FI", "SE"]}, COUNTRY),
        ({"type": "choice", "values": [1, 2]}, FieldType.choice(1, 2)),
        ({"type": "table"}, FieldType("table")),
    ],
)
def test_field_types_are_written_as_a_name_or_a_table(written: Any, expected: FieldType) -> None:
    """A type is its name; a choice is a table with the type and the values."""
    assert FieldType.of(written) == expected


@pytest.mark.parametrize(
    ("written", "field", "message", "fix"),
    [
        ("nmber", "type", "is not a field type", "(did you mean 'number'?)"),
        ("choice", "type", "needs its values", 'values = ["FI", "SE"] }'),
        ({"type": "choice"}, "values", "are missing: a choice lists the values", "values = ["),
        ({"type": "text", "values": ["a"]}, "values", "are only for a choice", "leave them out"),
        ({"type": "choice", "values": ["a", 1]}, "values", "must all be text, or all numbers", ""),
        ({"type": "choice", "values": [True]}, "values", "must all be text, or all numbers", ""),
        ({"type": "choice", "values": ["a", "a"]}, "values", "lists a value twice", "once"),
        ({"type": "choice", "values": "a"}, "values", "must be a list", "values = ["),
        ({"values": ["a"]}, "type", "is missing", 'type = "choice"'),
        ({"type": "choice", "vaules": ["a"]}, "vaules", "is not a known key here", "type, values"),
        (5, "type", "is not a field type", "or a choice"),
    ],
)
def test_bad_field_types_say_what_and_how_to_fix_it(
    written: Any, field: str, message: str, fix: str
) -> None:
    """Each way a type can be written wrong is refused with its part, message and fix."""
    with pytest.raises(AgreementError) as caught:
        FieldType.of(written)
    assert caught.value.field == field
    assert caught.value.problems[0].message.startswith(message)
    assert fix in caught.value.fix


# -- types read from conditions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("score >= 50", {"score": "number"}),
        ("budget_confirmed == true", {"budget_confirmed": "boolean"}),
        ("lower(email) == 'x'", {"email": "text"}),
        ("country in ['FI', 'SE']", {"country": "text"}),
        ("score + bonus >= 50", {"score": "number", "bonus": "number"}),
        ("coalesce(score, 0) > 1", {"score": "number"}),
        ("now - created > duration('30 days')", {"created": "datetime"}),
        ("signed < date('2026-03-01')", {"signed": "date"}),
        ("5 in tags", {"tags": "list"}),
        ("address.city == 'Espoo'", {"address": "table"}),
        ("'vip' in tags and len(name) > 2 and x", {}),
        ("mql and state == 'mql'", {}),
    ],
)
def test_conditions_say_what_type_a_field_has(text: str, expected: dict[str, str]) -> None:
    """Comparisons, function arguments, arithmetic and paths give undeclared fields a type."""
    assert clues_of(text, terms=frozenset({"mql"})) == expected


def test_a_clue_names_the_part_that_gives_it_and_where() -> None:
    """The clue keeps the part of the condition that says so, for messages."""
    clue = Condition("has(email) and score * 2 > 50").field_types(where="terms.mql.condition")
    assert (clue["score"].expression, clue["score"].where) == ("score * 2", "terms.mql.condition")


def test_known_types_are_not_inferred_but_spread() -> None:
    """A declared field is not a clue; comparing it with another field types that one."""
    assert clues_of("score == bonus", types={"score": NUMBER}) == {"bonus": "number"}


# -- types checked in conditions --------------------------------------------------------------


def test_a_number_compared_with_text_is_a_problem() -> None:
    """``score >= 'fifty'`` can never hold: named with both types and a fix."""
    assert problems_of("score >= 'fifty'", {"score": NUMBER}) == [
        "'condition' compares score (declared number) with 'fifty' (text), values of different "
        "types (got \"score >= 'fifty'\"); compare score with a number such as 50, or declare "
        "score as text under [fields]"
    ]


def test_a_field_used_as_two_types_in_one_condition_is_a_problem() -> None:
    """The first use gives the type; a later use against it is named with that first use."""
    assert problems_of("score >= 50 or lower(score) == 'x'") == [
        "'condition' gives lower() score (number, by score >= 50), but lower(text) takes text "
        "(got 'lower(score)'); give lower() text, or declare score as text under [fields]"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("country == 'NO'", "compares country (declared choice of 'FI', 'SE') with 'NO', which"),
        ("country in ['FI', 'NO']", "with 'NO', which is not one of its values"),
        ("abs(email) > 1", "gives abs() email (declared text), but abs(number) takes a number"),
        ("score + 'x' == 'y'", "applies '+' to score (declared number) and 'x' (text), which"),
        ("email.domain == 'x'", "reads email.domain, but email (declared text) has no nested"),
        ("5 in email", "tests whether 5 (a number) is in email (declared text), which holds"),
        ("score in score", "tests for an item in score (declared number), which has no items"),
        ("coalesce(score, 'x') == 1", "gives coalesce() values of different types"),
        ("signed < 'soon'", "compares signed (declared date) with 'soon' (text)"),
        ("budget_confirmed == 1", "compares budget_confirmed (declared boolean) with 1"),
        ("'a' < 5", "compares 'a' (text) with 5 (a number)"),
    ],
)
def test_parts_whose_values_never_go_together_are_problems(text: str, message: str) -> None:
    """Comparisons, choices, function arguments, operators, paths and membership are typed."""
    types = {
        "score": NUMBER,
        "email": TEXT,
        "country": COUNTRY,
        "signed": FieldType("date"),
        "budget_confirmed": FieldType("boolean"),
    }
    found = problems_of(text, types)
    assert len(found) == 1
    assert message in found[0]


@pytest.mark.parametrize(
    "text",
    [
        "score >= 50 and country in ['FI', 'SE'] and lower(email) == 'x'",
        "signed < '2026-03-01' and signed < date('2026-03-01')",
        "anything == 1 and anything == 'x'",
        "has(address) and len(email) > 2 and contains(email, '@')",
        "score * 2 + 1 > coalesce(bonus, 0)",
    ],
)
def test_well_typed_conditions_have_no_problems(text: str) -> None:
    """Values of one type, ISO text against dates, and fields of type any pass."""
    types = {
        "score": NUMBER,
        "email": TEXT,
        "country": COUNTRY,
        "signed": FieldType("date"),
        "anything": FieldType("any"),
    }
    assert problems_of(text, types) == []


# -- the agreement's types --------------------------------------------------------------------


def test_the_default_agreement_keeps_its_declared_types() -> None:
    """The default agreement's fields are its field types."""
    assert dict(DEFAULT.field_types) == {
        "email": TEXT,
        "score": NUMBER,
        "country": TEXT,
        "need_months": NUMBER,
        "budget_confirmed": FieldType("boolean"),
    }
    assert DEFAULT.fields["score"] == NUMBER


def test_an_agreement_with_its_types_can_be_deep_copied() -> None:
    """The settled types are plain data: a deep copy is equal and has the same types."""
    clone = copy.deepcopy(DEFAULT)
    assert clone == DEFAULT
    assert dict(clone.field_types) == dict(DEFAULT.field_types)


def test_without_declared_fields_the_types_come_from_the_conditions() -> None:
    """Undeclared fields take the type their conditions give them."""
    agreement = attrs.evolve(DEFAULT, fields={})
    assert dict(agreement.field_types) == {
        "score": NUMBER,
        "budget_confirmed": FieldType("boolean"),
        "need_months": NUMBER,
    }


def test_declared_choices_are_kept_and_checked() -> None:
    """A choice field's values are its type, and conditions must use them."""
    fields = {**DEFAULT.fields, "country": {"type": "choice", "values": ["FI", "SE"]}}
    agreement = attrs.evolve(DEFAULT, fields=fields)
    assert agreement.field_types["country"] == COUNTRY
    terms = [*DEFAULT.terms, Term("nordic", "country in ['FI', 'SW']")]
    (problem,) = refused(agreement, terms=terms)
    assert problem.field == "terms.nordic.condition"
    assert "with 'SW', which is not one of its values" in problem.message
    assert problem.fix == (
        "use one of 'FI', 'SE', or add 'SW' to the values of country under [fields]"
    )


def test_an_agreement_refuses_a_number_field_compared_with_text() -> None:
    """``score >= 'fifty'`` in a term is refused where it is, with the value and the fix."""
    terms = [Term("mql", "score >= 'fifty'"), *list(DEFAULT.terms)[::2]]
    (problem,) = refused(DEFAULT, terms=terms)
    assert problem == Problem(
        "terms.mql.condition",
        "score >= 'fifty'",
        "compares score (declared number) with 'fifty' (text), values of different types",
        "compare score with a number such as 50, or declare score as text under [fields]",
    )


def test_conditions_that_disagree_on_an_undeclared_field_name_both_places() -> None:
    """Two conditions using one undeclared field as two types: an error naming both."""
    terms = [*DEFAULT.terms, Term("short", "lower(need_months) == 'soon'")]
    (problem,) = refused(DEFAULT, fields={}, terms=terms)
    assert problem == Problem(
        "terms.short.condition",
        "need_months",
        "uses need_months as text (lower(need_months)), but terms.sql.condition uses it as "
        "number (need_months <= 6)",
        "declare need_months under [fields] with its type, and change the condition that disagrees",
    )


def test_a_misspelt_state_in_a_condition_is_refused() -> None:
    """``state`` holds one of the lifecycle's states: a condition naming another is wrong."""
    terms = [*DEFAULT.terms, Term("late", "state == 'mqll'")]
    (problem,) = refused(DEFAULT, terms=terms)
    assert problem.field == "terms.late.condition"
    assert "'mqll', which is not one of its values" in problem.message
    assert "(did you mean 'mql'?)" in problem.fix
    assert "[fields]" not in problem.fix


def test_bad_declared_types_are_all_reported_with_their_field() -> None:
    """Every bad type in ``fields`` is reported, under fields.NAME."""
    fields = {"a": "nmber", "b": {"type": "choice", "values": []}, "c": "text"}
    fields_problems = refused(DEFAULT, fields=fields)
    assert [problem.field for problem in fields_problems] == ["fields.a", "fields.b.values"]


# -- the agreement file -----------------------------------------------------------------------


def _with_choice() -> Agreement:
    fields = {**DEFAULT.fields, "country": FieldType.choice("FI", "SE")}
    return attrs.evolve(DEFAULT, fields=fields)


def test_a_choice_is_written_as_an_inline_table_and_read_back() -> None:
    """``country = { type = "choice", values = [...] }`` round-trips through the file."""
    agreement = _with_choice()
    text = agreement_to_toml(agreement)
    assert 'country = { type = "choice", values = ["FI", "SE"] }' in text
    assert Agreement.from_toml_text(text) == agreement


def test_a_bad_choice_in_the_file_is_placed_on_its_line() -> None:
    """A choice's problems name the key path and the line of the field."""
    text = agreement_to_toml(_with_choice()).replace('values = ["FI", "SE"]', "values = []")
    with pytest.raises(AgreementError) as caught:
        Agreement.from_toml_text(text)
    (problem,) = caught.value.problems
    assert problem.field == "fields.country.values"
    assert problem.line == text.splitlines().index('country = { type = "choice", values = [] }') + 1


def test_a_type_problem_in_the_file_is_placed_on_the_condition_line() -> None:
    """A condition using a field against its type is reported at the condition's line."""
    text = agreement_to_toml(DEFAULT).replace(
        'condition = "score >= 50"', "condition = \"score >= 'fifty'\""
    )
    with pytest.raises(AgreementError) as caught:
        Agreement.from_toml_text(text)
    (problem,) = caught.value.problems
    assert problem.field == "terms.mql.condition"
    assert problem.line == text.splitlines().index("condition = \"score >= 'fifty'\"") + 1


# -- event values checked against the types ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (NUMBER, [70, 2.5, 0, -1], ["70", True, [1]]),
        (TEXT, ["FI", ""], [1, False, ["a"]]),
        (FieldType("boolean"), [True, False], [1, "true", 0]),
        (FieldType("date"), ["2026-03-02", date(2026, 3, 2)], ["March", datetime(2026, 3, 2), 5]),
        (
            FieldType("datetime"),
            ["2026-03-02T09:00:00+02:00", datetime(2026, 3, 2, tzinfo=UTC)],
            ["2026-03-02T09:00:00", "2026-03-02", datetime(2026, 3, 2), 5],
        ),
        (COUNTRY, ["FI", "SE"], ["NO", "fi", 1]),
        (FieldType.choice(1, 2), [1, 2, 2.0], [3, "1", True]),
        (FieldType("list"), [[], ["a"], ("a",)], ["a", {"a": 1}]),
        (FieldType("table"), [{}, {"city": "Espoo"}], [[], "a"]),
        (FieldType("any"), [1, "a", [], {}, True], []),
    ],
)
def test_field_values_are_checked_against_their_type(
    kind: FieldType, good: list[Any], bad: list[Any]
) -> None:
    """Each type accepts its values (and None), and refuses the others."""
    assert check_field_values({"x": kind}, {"x": None}) == []
    for value in good:
        assert check_field_values({"x": kind}, {"x": value}) == [], value
    for value in bad:
        (problem,) = check_field_values({"x": kind}, {"x": value})
        assert (problem.field, problem.value) == ("fields.x", value)


@pytest.mark.parametrize(
    ("kind", "value", "message", "fix"),
    [
        (NUMBER, "70", "must be a number", "send 70 without quotes"),
        (NUMBER, "high", "must be a number", "send a number such as 70, or null to make it"),
        (FieldType("boolean"), "TRUE", "must be true or false", "send true without quotes"),
        (
            FieldType("datetime"),
            "2026-03-02T09:00",
            "must be a date and time with a UTC offset",
            'send ISO text such as "2026-03-02T09:00:00+02:00", or null to make it missing',
        ),
        (COUNTRY, "fi", "must be one of 'FI', 'SE'", "send one of them (did you mean 'FI'?), or"),
    ],
)
def test_a_wrong_field_value_says_what_to_send(
    kind: FieldType, value: Any, message: str, fix: str
) -> None:
    """The problem names the field, the value, the type wanted and what to send instead."""
    (problem,) = check_field_values({"score": kind}, {"score": value})
    assert problem.message == message
    assert problem.fix.startswith(fix)


def test_fields_without_a_type_may_hold_anything() -> None:
    """An undeclared, un-inferred field is not checked."""
    assert check_field_values(DEFAULT.field_types, {"notes": ["x"], "score": 5}) == []
    assert check_field_values(DEFAULT.field_types, {"score": "5"})[0].field == "fields.score"
