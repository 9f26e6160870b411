"""Conditions: safe expressions over lead fields, their explanations, and terms."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla import MISSING, Condition, ConditionError, Term, Terms
from leadsla._core.conditions import ARGUMENT_TYPES, FUNCTIONS, MAX_BUILT, FieldType, Function

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def holds(text: str, fields: dict[str, Any], **options: Any) -> bool:
    return Condition(text).evaluate(fields, now=NOW, **options)


# -- what conditions can say ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("score >= 50", {"score": 50}, True),
        ("score >= 50", {"score": 49}, False),
        ("score > 50", {"score": 50.5}, True),
        ("score < 50", {"score": 50}, False),
        ("score <= 50", {"score": 50}, True),
        ("country == 'FI'", {"country": "FI"}, True),
        ("country != 'FI'", {"country": "SE"}, True),
        ("10 <= score < 20", {"score": 15}, True),
        ("10 <= score < 20", {"score": 20}, False),
        ("country in ['FI', 'SE', 'NO', 'DK']", {"country": "NO"}, True),
        ("country not in ['FI', 'SE']", {"country": "DE"}, True),
        ("'@' in email", {"email": "a@b.fi"}, True),
        ("score >= 50 and country == 'FI'", {"score": 60, "country": "SE"}, False),
        ("score >= 50 or country == 'FI'", {"score": 10, "country": "FI"}, True),
        ("not score >= 50", {"score": 10}, True),
        ("score + bonus >= 50", {"score": 40, "bonus": 15}, True),
        ("score * 2 - 10 > 80", {"score": 46}, True),
        ("-score < 0", {"score": 5}, True),
        ("budget_confirmed == true", {"budget_confirmed": True}, True),
        ("budget_confirmed", {"budget_confirmed": False}, False),
        ("address.country == 'FI'", {"address": {"country": "FI"}}, True),
        ("lower(country) == 'fi'", {"country": "FI"}, True),
        ("upper(strip(country)) == 'FI'", {"country": " fi "}, True),
        ("len(email) > 5", {"email": "a@b.fi"}, True),
        ("contains(tags, 'vip')", {"tags": ["new", "vip"]}, True),
        ("startswith(phone, '+358')", {"phone": "+358401234"}, True),
        ("endswith(email, '@acme.com')", {"email": "x@acme.com"}, True),
        ("matches(email, '^[a-z]+@acme\\\\.com$')", {"email": "bob@acme.com"}, True),
        ("domain(email) == 'acme.com'", {"email": "Bob@ACME.com"}, True),
        ("domain(email) not in ['gmail.com', 'yahoo.com']", {"email": "a@gmail.com"}, False),
        ("coalesce(score, 0) < 10", {}, True),
        ("abs(delta) <= 2", {"delta": -2}, True),
        ("max(a, b) == 7", {"a": 3, "b": 7}, True),
        ("min(a, b, c) == 1", {"a": 3, "b": 1, "c": 2}, True),
    ],
)
def test_expressions(text: str, fields: dict[str, Any], expected: bool) -> None:
    """Each construct evaluates as written."""
    assert holds(text, fields) is expected


def test_dates_and_durations_use_the_event_time() -> None:
    """``now`` is the event's time: conditions never read the clock."""
    fields = {"created": "2026-01-01T00:00:00+00:00", "signed": "2026-02-01"}
    assert holds("now - datetime(created) > duration('30 days')", fields)
    assert holds("days_since(created) > 60", fields)
    assert not holds("days_since(created) > 61", fields)
    assert holds("date(signed) < date('2026-03-01')", fields)
    assert holds("signed < date('2026-03-01')", fields)  # ISO text compares with a date
    assert not Condition("days_since(created) > 1").evaluate(fields)  # no time given


def test_state_and_owner_are_visible() -> None:
    """``state``, ``owner`` and ``team`` describe the lead's position."""
    assert holds("state in ['mql', 'sal']", {}, state="sal")
    assert not holds("state == 'sql'", {}, state="sal")


# -- missing values are explicit ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "score >= 50",
        "score < 50",
        "score == 50",
        "score != 50",
        "score in [1, 2]",
        "score not in [1, 2]",
        "score + 1 > 0",
        "lower(country) == 'fi'",
    ],
)
def test_a_comparison_with_a_missing_field_is_false(text: str) -> None:
    """Absent and null fields are missing; every comparison with them is false."""
    assert holds(text, {}) is False
    assert holds(text, {"score": None, "country": None}) is False


def test_has_and_missing_test_for_presence() -> None:
    """``has(x)`` and ``missing(x)`` say whether a field is there (null counts as missing)."""
    assert holds("has(email)", {"email": "a@b.fi"})
    assert holds("missing(email)", {"email": None})
    assert holds("missing(address.city)", {"address": {}})
    assert holds("not has(score) or score >= 50", {})


def test_a_comparison_between_incomparable_values_is_false() -> None:
    """A word against a number is false, not an exception."""
    assert holds("score >= 50", {"score": "high"}) is False
    assert holds("score == 50", {"score": "50"}) is False


# -- explanations ------------------------------------------------------------------------


def test_explanation_names_the_term_the_expression_and_the_value() -> None:
    """The explanation reads like the issue asks: ``mql: score >= 50 -> False (score = 42)``."""
    explanation = Condition("score >= 50").explain({"score": 42}, label="mql")
    assert str(explanation) == "mql: score >= 50 -> False (score = 42)"
    assert explanation.result is False


def test_explanation_shows_each_sub_condition_and_skips_short_circuits() -> None:
    """Each part of an ``and`` is a line; parts never evaluated say so."""
    condition = Condition("score >= 50 and country in ['FI', 'SE'] and has(email)")
    explanation = condition.explain({"score": 70, "country": "US", "email": "a@b.us"})
    assert explanation.lines() == [
        "score >= 50 and country in ['FI', 'SE'] and has(email) -> False",
        "  score >= 50 -> True (score = 70)",
        "  country in ['FI', 'SE'] -> False (country = 'US')",
        "  has(email) -> not evaluated",
    ]


def test_failing_lists_the_innermost_false_parts() -> None:
    """``failing()`` points at where the "no" came from."""
    condition = Condition("(score >= 50 or vip) and country == 'FI'")
    explanation = condition.explain({"score": 10, "vip": False, "country": "FI"})
    assert [check.expression for check in explanation.failing()] == ["score >= 50", "vip"]


def test_explanation_of_missing_and_incomparable_values() -> None:
    """A missing field and a type mismatch are named in the explanation."""
    assert str(Condition("score >= 50").explain({})) == "score >= 50 -> False (score is missing)"
    assert str(Condition("score >= 50").explain({"score": "high"})) == (
        "score >= 50 -> False (score = 'high', cannot compare 'high' with 50)"
    )


def test_explanation_of_a_composite_term_shows_the_term_it_uses() -> None:
    """A term that uses another term shows the inner term as its own labelled line."""
    terms = Terms([Term("mql", "score >= 50"), Term("hot", "mql and budget_confirmed")])
    explanation = terms["hot"].condition.explain(
        {"score": 42, "budget_confirmed": True}, terms=terms, label="hot"
    )
    assert explanation.lines() == [
        "hot: mql and budget_confirmed -> False",
        "  mql: score >= 50 -> False (score = 42)",
        "  budget_confirmed -> not evaluated",
    ]


# -- terms -------------------------------------------------------------------------------


def test_terms_can_use_other_terms() -> None:
    """A term's condition may name another term."""
    terms = Terms([Term("mql", "score >= 50"), Term("hot", "mql and country == 'FI'")])
    assert Condition("hot").evaluate({"score": 60, "country": "FI"}, terms=terms)
    assert not Condition("hot").evaluate({"score": 40, "country": "FI"}, terms=terms)


def test_term_cycles_are_refused() -> None:
    """Terms that refer to each other in a loop cannot be defined."""
    with pytest.raises(ConditionError, match=r"'terms.a' refers to itself through other terms"):
        Terms([Term("a", "b and x"), Term("b", "a or y")])


def test_reserved_and_duplicate_term_names_are_refused() -> None:
    """``now``, ``state``, function names and duplicates cannot be term names."""
    with pytest.raises(ConditionError) as caught:
        Terms([Term("now", "x"), Term("len", "y"), Term("mql", "a"), Term("mql", "b")])
    assert [problem.field for problem in caught.value.problems] == [
        "terms.now",
        "terms.len",
        "terms.mql",
    ]


# -- bad conditions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("score >=", "'when' is not a valid expression (invalid syntax"),
        ("score >= 5 5", "'when' is not a valid expression (invalid syntax"),
        ("lambda: 1", "'when' uses a lambda, which conditions do not allow at column 1"),
        ("fields['score'] > 1", "'when' uses indexing with [], which conditions do not allow"),
        ("email.lower() == 'x'", "'when' calls a method at column 1"),
        ("score ** 2 > 1", "'when' uses '**', which conditions do not allow"),
        ("score is None", "'when' uses 'is', which conditions do not allow"),
        ("lenght(email) > 3", "'when' calls an unknown function 'lenght' at column 1"),
        ("lower(a, b) == 'x'", "'when' gives lower() 2 arguments at column 1"),
        ("has(lower(x))", "'when' has() needs a field name"),
        ("matches(email, '[')", "'when' has a bad regular expression"),
        ("matches(email, pattern)", "'when' matches() needs a constant pattern"),
        ("duration('4 business hours') > 1", "uses business time in a condition"),
        ("date('March 3') < now", "'when' gives date() text that is not an ISO date"),
        ("__import__('os').system('true')", "'when' calls a method"),
        ("().__class__", "'when' uses a method or attribute of a value"),
        ("", "'when' must be a non-empty expression"),
    ],
)
def test_bad_conditions_say_what_and_where(text: str, message: str) -> None:
    """A condition that cannot be used is refused when made, with the reason and a fix."""
    with pytest.raises(ConditionError) as caught:
        Condition(text, field="when")
    assert message in str(caught.value)
    assert caught.value.field == "when"


def test_unknown_function_gets_a_did_you_mean() -> None:
    """A misspelt function name gets a suggestion."""
    with pytest.raises(ConditionError, match=r"did you mean 'len'\?"):
        Condition("lenght(email) > 3")


def test_every_problem_is_reported() -> None:
    """Several problems in one condition are all listed."""
    with pytest.raises(ConditionError) as caught:
        Condition("lenght(email) > 3 and x ** 2 > 1")
    assert len(caught.value.problems) == 2


def test_conditions_are_values() -> None:
    """Conditions compare and hash by their text, and pickle."""
    import pickle

    assert Condition("score >= 50") == Condition(" score >= 50 ")
    assert hash(Condition("a")) == hash(Condition("a"))
    clone = pickle.loads(pickle.dumps(Condition("score >= 50")))
    assert clone.evaluate({"score": 51})


def test_missing_is_falsy_and_prints() -> None:
    """MISSING is a falsy singleton with a readable repr."""
    assert not MISSING
    assert repr(MISSING) == "<missing>"


# -- the fast path and the explanation agree ------------------------------------------------

_values = st.one_of(
    st.none(),
    st.integers(-3, 60),
    st.sampled_from(["FI", "SE", "fi", "", "x@acme.com"]),
    st.booleans(),
    st.just(date(2026, 1, 1)),
)
_atoms = st.sampled_from(
    [
        "a >= 10",
        "b == 'FI'",
        "a + c > 5",
        "c in [1, 2, 3, 'FI']",
        "has(b)",
        "missing(c)",
        "lower(b) == 'fi'",
        "a",
        "b",
        "domain(b) == 'acme.com'",
        "coalesce(a, c, 0) <= 3",
        "1 <= a < 50",
        "d < date('2026-02-01')",
        "days_since(d) > 30",
        "a != c",
        "len(b) > 1",
    ]
)


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return draw(_atoms)
    shape = draw(st.sampled_from(["and", "or", "not"]))
    if shape == "not":
        return f"not ({draw(_expressions(depth + 1))})"
    left, right = draw(_expressions(depth + 1)), draw(_expressions(depth + 1))
    return f"({left}) {shape} ({right})"


@given(
    text=_expressions(),
    fields=st.fixed_dictionaries({}, optional=dict.fromkeys("abcd", _values)),
)
def test_the_explanation_agrees_with_the_evaluation(text: str, fields: dict[str, Any]) -> None:
    """For any expression and fields, the traced result equals the compiled result."""
    condition = Condition(text)
    assert condition.explain(fields, now=NOW).result == condition.evaluate(fields, now=NOW)


@given(fields=st.fixed_dictionaries({}, optional=dict.fromkeys("abcd", _values)))
def test_conditions_never_raise(fields: dict[str, Any]) -> None:
    """Whatever the fields hold, evaluation returns a bool."""
    for text in ("a * b > c", "a / c > 1", "a - d > b", "len(a) > b", "a % c == 0"):
        result = Condition(text).evaluate(fields, now=NOW - timedelta(0))
        assert type(result) is bool, (text, result)  # not 0 or 1, which equal False and True


# -- regressions ------------------------------------------------------------------------------


def test_explanations_handle_list_and_dict_values() -> None:
    """Fields holding lists or dicts can be explained (they are not hashed)."""
    explanation = Condition("contains(tags, 'vip') and address.city == 'Oulu'").explain(
        {"tags": ["vip"], "address": {"city": "Oulu"}}
    )
    assert explanation.result is True
    assert "tags = ['vip']" in str(explanation)


def test_list_literals_compare_the_same_on_both_paths() -> None:
    """Four or more items: evaluation and explanation agree; a JSON list equals a literal."""
    condition = Condition("[a, b, c, d] == [1, 2, 3, 4]")
    fields = {"a": 1, "b": 2, "c": 3, "d": 4}
    assert condition.evaluate(fields) is True
    assert condition.explain(fields).result is True
    assert holds("tags == ['a', 'b']", {"tags": ["a", "b"]})
    assert holds("tags != ['a', 'b']", {"tags": ["b", "a"]})


def test_days_since_reads_iso_dates_and_local_times() -> None:
    """A date counts whole days; a time without offset is read in the event's zone."""
    assert holds("days_since(signed) == 60", {"signed": "2026-01-01"})
    assert holds("days_since(called) == 1", {"called": "2026-03-01T12:00:00"})


def test_comparing_with_null_is_refused() -> None:
    """``x == null`` is always false, so it is refused with the fix."""
    with pytest.raises(ConditionError, match=r"compares with null.*write missing\(x\) or has\(x\)"):
        Condition("email == null")


def test_keyword_arguments_give_one_problem() -> None:
    """``lower(text=a)`` is one problem, not two."""
    with pytest.raises(ConditionError) as caught:
        Condition("lower(text=a) == 'x'")
    assert len(caught.value.problems) == 1


def test_the_suggested_matches_pattern_is_itself_valid() -> None:
    """The fix the error suggests for matches() can be written as is."""
    with pytest.raises(ConditionError) as caught:
        Condition("matches(email, pattern)")
    suggestion = caught.value.fix.removeprefix("write ")
    assert Condition(f"{suggestion} or true").evaluate({"email": "a@acme.com"})


# -- one registry of functions, read by every walker ----------------------------------------

#: A field of each argument type, and its value, for calls built from the registry.
_SAMPLES: dict[str, tuple[str, Any, str]] = {
    # argument type: (the argument as written, the field's value, the field's type)
    "text": ("t", " Ab@Acme.FI ", "text"),
    "number": ("n", -7, "number"),
    "value": ("v", "b@", "any"),
    "same": ("n", -7, "number"),
    "sized": ("tags", ["vip", "x"], "list"),
    "moment": ("d", "2026-01-01", "date"),
    "pattern": ("'[a-z]@'", None, ""),
    "duration": ("'30 days'", None, ""),
    "field": ("t", " Ab@Acme.FI ", "text"),
}


def _call(function: Function) -> tuple[str, list[Any]]:
    """A call of ``function`` (one more argument when variadic) and its argument values."""
    count = function.arity[0] + function.variadic
    texts, values = [], []
    for index in range(count):
        kind = function.parameter(index)
        text, value, _ = _SAMPLES[kind.name]
        texts.append(text)
        if kind.prepare is not None:
            value = kind.prepare(text.strip("'"), "condition")
        values.append(value)
    return f"{function.name}({', '.join(texts)})", values


_SAMPLE_FIELDS = {text: value for text, value, _ in _SAMPLES.values() if value is not None}
_SAMPLE_TYPES = {text: FieldType(kind) for text, _, kind in _SAMPLES.values() if kind}


def test_the_samples_cover_every_argument_type() -> None:
    """The registry test below can build a call of every function."""
    assert set(_SAMPLES) == set(ARGUMENT_TYPES)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_works_through_every_walker(name: str) -> None:
    """Each registered function is checked, compiled, explained and typed from its entry."""
    function = FUNCTIONS[name]
    text, values = _call(function)
    expected = function.implementation(*values, *([NOW] if function.uses_now else []))
    condition = Condition(text)  # the checker
    assert condition.evaluate(_SAMPLE_FIELDS, now=NOW) is bool(expected)  # the compiler
    explanation = condition.explain(_SAMPLE_FIELDS, now=NOW)  # the tracer
    assert explanation.check.result == expected
    assert str(explanation).startswith(f"{text} -> ")
    assert ("now = " in str(explanation)) is function.uses_now
    assert condition.type_problems(_SAMPLE_TYPES) == []  # the type walker
    clues = {clue.field: str(clue.type) for clue in condition.field_types().values()}
    said = {
        _SAMPLES[function.parameter(index).name][0]: function.parameter(index).clue
        for index in range(len(values))
        if function.parameter(index).clue is not None
    }
    assert clues == said
    if function.gives == "boolean":  # the compiled closure returns the bool itself
        assert type(function.implementation(*values)) is bool


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_refuses_a_wrong_number_of_arguments(name: str) -> None:
    """The arity in the registry is what the checker enforces, with the signature as fix."""
    function = FUNCTIONS[name]
    low, high = function.arity
    count = high + 1 if high is not None else low - 1
    arguments = ", ".join(["t"] * count)
    with pytest.raises(ConditionError) as caught:
        Condition(f"{name}({arguments})")
    assert f"gives {name}() {count} argument" in str(caught.value)
    assert caught.value.fix == f"write {function.signature}"


def test_the_reference_lists_every_function_as_registered() -> None:
    """The function table of the reference page is the registry's signatures and meanings."""
    page = (Path(__file__).parent.parent / "docs" / "reference" / "conditions.md").read_text()
    table = page.split("## Functions", 1)[1].split("\n\n", 2)[1]
    rows = [
        tuple(cell.strip() for cell in line.strip("|").split(" | "))
        for line in table.splitlines()[2:]
    ]
    assert rows == [(f"`{f.signature}`", f.meaning) for f in FUNCTIONS.values()]


# -- names starting with __ ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("__class__ == 1", "__class__"),
        ("x.__dict__ == 1", "__dict__"),
        ("a.__b__.c > 2", "__b__"),
        ("has(__x)", "__x"),
        ("__import__('os')", "__import__"),
    ],
)
def test_dunder_names_are_refused(text: str, name: str) -> None:
    """A name or path part starting with __ is refused when the condition is made."""
    with pytest.raises(ConditionError) as caught:
        Condition(text, field="when")
    assert str(caught.value).startswith(
        f"'when' uses the name {name!r}: names starting with '__' are not allowed at column"
    )
    assert caught.value.value == text
    assert caught.value.fix == "rename the field so that it does not start with '__'"


def test_a_single_underscore_is_a_name_like_any_other() -> None:
    """Only a leading double underscore is refused."""
    assert holds("_private == 1 and a._b == 2", {"_private": 1, "a": {"_b": 2}})


def test_a_term_name_starting_with_dunder_is_refused() -> None:
    """No term can take a name a condition could not use."""
    with pytest.raises(ConditionError, match=r"'terms.__x' starts with '__'"):
        Terms([Term("__x", "score > 1")])


# -- conditions build bounded values ---------------------------------------------------------


def test_repeating_text_by_a_huge_number_is_missing_and_quick() -> None:
    """``word * score`` with a huge score neither allocates nor hangs: it is missing."""
    condition = Condition("word * score == 'y'")
    fields = {"word": "x", "score": 10**12}
    started = time.perf_counter()
    assert condition.evaluate(fields) is False
    explanation = condition.explain(fields)
    assert time.perf_counter() - started < 0.5
    assert explanation.lines()[1] == (
        "  word * score -> missing (word = 'x', score = 1000000000000, would make "
        "1000000000000 characters, more than the 10000 a condition may build)"
    )


def test_repeating_a_list_is_bounded_too() -> None:
    """A list from a field repeated past the bound is missing, in items."""
    explanation = Condition("len(tags * n) >= 0").explain({"tags": ["a", "b"], "n": 5001})
    assert explanation.result is False
    assert "would make 10002 items, more than the 10000" in str(explanation)


def test_building_up_to_the_bound_works() -> None:
    """Exactly MAX_BUILT characters may be built, by joining or repeating."""
    assert MAX_BUILT == 10_000
    assert holds("len(word * n) == 10000", {"word": "ab", "n": 5000})
    assert holds("len(a + b) == 10000", {"a": "x" * 4000, "b": "y" * 6000})
    assert not holds("len(a + b) >= 0", {"a": "x" * 4000, "b": "y" * 6001})


def test_formatting_text_with_percent_is_missing() -> None:
    """``%`` on text would format it, building text of any length: it is missing."""
    explanation = Condition("len(pattern % n) >= 0").explain({"pattern": "%09999999d", "n": 1})
    assert explanation.result is False
    assert "formats text with %, which conditions do not do" in str(explanation)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'x' * score == 'y'", "'when' repeats text with '*', which conditions do not do"),
        ("score * 'x' == 'y'", "'when' repeats text with '*', which conditions do not do"),
        ("len([1] * n) > 2", "'when' repeats a list with '*', which conditions do not do"),
        ("'%s' % x == 'y'", "'when' formats text with '%', which conditions do not do"),
    ],
)
def test_building_written_text_or_lists_is_refused(text: str, message: str) -> None:
    """Repetition of written text or lists, and text formatting, are refused when made."""
    with pytest.raises(ConditionError) as caught:
        Condition(text, field="when")
    assert str(caught.value).startswith(message)


def test_negating_text_is_missing() -> None:
    """``-x`` of text is missing (it was the empty text before)."""
    assert holds("-x < 0", {"x": 5})
    assert holds("coalesce(-x, 'gone') == 'gone'", {"x": "abc"})


def test_date_arithmetic_reads_iso_text_as_comparisons_do() -> None:
    """ISO text subtracted from ``now`` is read as a datetime."""
    fields = {"created": "2026-01-20T09:00:00+00:00"}
    assert holds("now - created > duration('30 days')", fields)
    assert not holds("now - created > duration('60 days')", fields)
