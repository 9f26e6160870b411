"""Durations: parsing words and ISO 8601, rendering, and errors that say how to fix them."""

from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla import Duration, DurationError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4 business hours", Duration(4, "hours", business=True)),
        ("2 business days", Duration(2, "days", business=True)),
        ("1 working day", Duration(1, "days", business=True)),
        ("90 minutes", Duration(90, "minutes")),
        ("10d", Duration(10, "days")),
        ("10 calendar days", Duration(10, "days")),
        ("30 days", Duration(30, "days")),
        ("1.5 business hours", Duration(Fraction(3, 2), "hours", business=True)),
        ("2 weeks", Duration(2, "weeks")),
        ("45s", Duration(45, "seconds")),
        ("  8 Business Hours ", Duration(8, "hours", business=True)),
        ("PT4H", Duration(4, "hours")),
        ("PT90M", Duration(90, "minutes")),
        ("PT1H30M", Duration(90, "minutes")),
        ("P2D", Duration(2, "days")),
        ("P1W", Duration(1, "weeks")),
        ("P1W2D", Duration(9, "days")),
        ("PT0.5S", Duration(Fraction(1, 2), "seconds")),
    ],
)
def test_parse(text: str, expected: Duration) -> None:
    """Words and ISO 8601 forms parse to the expected value."""
    assert Duration.parse(text) == expected


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(4, "hours", business=True), "4 business hours"),
        (Duration(1, "hours", business=True), "1 business hour"),
        (Duration(1, "days"), "1 day"),
        (Duration(Fraction(3, 2), "days", business=True), "1.5 business days"),
        (Duration(Fraction(1, 3), "hours"), "1/3 hours"),
    ],
)
def test_str(duration: Duration, text: str) -> None:
    """A duration renders as people write it."""
    assert str(duration) == text


@given(
    amount=st.fractions(min_value=0, max_value=500, max_denominator=8).filter(
        lambda value: (value.denominator & (value.denominator - 1)) == 0
    ),
    unit=st.sampled_from(["seconds", "minutes", "hours", "days", "weeks"]),
    business=st.booleans(),
)
def test_str_parses_back(amount: Fraction, unit: str, business: bool) -> None:
    """``parse(str(d)) == d`` for every duration with a decimal amount."""
    if business and unit == "weeks":
        business = False
    duration = Duration(amount, unit, business)  # type: ignore[arg-type]
    assert Duration.parse(str(duration)) == duration


def test_to_timedelta_for_fixed_units() -> None:
    """Seconds, minutes and hours have a fixed length, business or not."""
    assert Duration(4, "hours", business=True).to_timedelta() == timedelta(hours=4)
    assert Duration(Fraction(3, 2), "minutes").to_timedelta() == timedelta(seconds=90)


def test_days_have_no_fixed_length() -> None:
    """Business and calendar days depend on the calendar, so they refuse a fixed length."""
    with pytest.raises(DurationError, match="has no fixed length"):
        Duration(2, "days", business=True).to_timedelta()


def test_negation() -> None:
    """A duration can be negated to walk backwards."""
    assert -Duration(2, "hours", business=True) == Duration(-2, "hours", business=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "4 bussiness hours",
            "'within' has an unknown kind of time 'bussiness' (got '4 bussiness hours'); "
            "write 'business' or 'calendar' before the unit (did you mean 'business'?)",
        ),
        (
            "4 business hourz",
            "'within' has an unknown unit 'hourz' (got '4 business hourz'); "
            "use seconds, minutes, hours, days or weeks (did you mean 'hours'?)",
        ),
        ("soon", "'within' is not a duration (got 'soon'); write e.g. '4 business hours'"),
        ("-4 hours", "'within' is not a duration (got '-4 hours')"),
        ("2 business weeks", "'within' has no fixed meaning"),
        ("P1M", "'within' uses years or months, which have no fixed length (got 'P1M')"),
        ("P1DT2H", "'within' mixes days and hours"),
        ("PT", "'within' is not an ISO 8601 duration (got 'PT')"),
    ],
)
def test_bad_text_names_field_value_and_fix(text: str, message: str) -> None:
    """A duration that does not parse says where, what and how to fix it."""
    with pytest.raises(DurationError) as caught:
        Duration.parse(text, field="within")
    assert str(caught.value).startswith(message)
    assert caught.value.field == "within"
    assert caught.value.value == text


def test_non_string_is_refused() -> None:
    """Only text is parsed; a number is ambiguous (hours? days?)."""
    with pytest.raises(DurationError, match="must be a string"):
        Duration.parse(4)  # type: ignore[arg-type]


def test_bad_constructor_arguments() -> None:
    """The constructor checks its unit and amount too."""
    with pytest.raises(DurationError, match="'unit' is not a unit"):
        Duration(1, "fortnights")  # type: ignore[arg-type]
    with pytest.raises(DurationError, match="'amount' must be"):
        Duration(1.5, "hours")  # type: ignore[arg-type]
    with pytest.raises(DurationError, match="business weeks"):
        Duration(1, "weeks", business=True)


@pytest.mark.parametrize(
    "text", ["99999999999 business days", "3661 days", "87841 hours", "523 weeks", "P3661D"]
)
def test_durations_longer_than_ten_years_are_refused(text: str) -> None:
    """A clock longer than 10 years is refused when it is made, naming the limit."""
    with pytest.raises(DurationError) as caught:
        Duration.parse(text, field="within")
    assert str(caught.value) == (
        f"'within' is longer than 10 years (3660 days), the longest duration leadsla counts "
        f"(got {text!r}); give at most 3660 days or 87840 hours"
    )


def test_the_longest_durations_are_accepted() -> None:
    """Exactly 10 years of 366 days, in any unit, is still a duration."""
    assert Duration.parse("3660 business days") == Duration(3660, "days", business=True)
    assert Duration.parse("87840 hours") == Duration(87840, "hours")
    assert -Duration(3660, "days") == Duration(-3660, "days")


def test_a_duration_built_in_python_is_bounded_too() -> None:
    """The constructor checks the length, naming the amount."""
    with pytest.raises(DurationError) as caught:
        Duration(Fraction(10**11), "days", business=True)
    assert caught.value.field == "amount"
    assert caught.value.value == "100000000000 business days"
