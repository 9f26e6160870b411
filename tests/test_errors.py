"""Errors: one root, builtin leaves, and messages that name the field, the value and the fix."""

from datetime import datetime

import pytest

from leadsla import CalendarError, DurationError, LeadSLAError, NaiveDatetimeError, Problem


def test_leaves_subclass_the_root_and_value_error() -> None:
    """Every leaf is a LeadSLAError and a ValueError, so callers can catch either."""
    for leaf in (NaiveDatetimeError, CalendarError, DurationError):
        assert issubclass(leaf, LeadSLAError)
        assert issubclass(leaf, ValueError)


def test_naive_datetime_message_names_field_value_and_fix() -> None:
    """The message follows the house form: field, value, fix."""
    error = NaiveDatetimeError.for_field("at", datetime(2026, 1, 5, 9, 0))
    assert str(error).startswith(
        "'at' must be timezone-aware (got 2026-01-05 09:00:00); add a UTC offset"
    )
    assert error.field == "at"
    assert error.value == datetime(2026, 1, 5, 9, 0)


def test_several_problems_are_listed() -> None:
    """An error with several problems lists each on its own line."""
    error = CalendarError(Problem("a", 1, "is bad", "fix a"), Problem("b", 2, "is worse", "fix b"))
    assert str(error) == (
        "2 problems:\n  - 'a' is bad (got 1); fix a\n  - 'b' is worse (got 2); fix b"
    )
    assert [problem.field for problem in error.problems] == ["a", "b"]


def test_an_error_needs_a_problem() -> None:
    """An error without a problem is a programming mistake, caught at once."""
    with pytest.raises(TypeError):
        LeadSLAError()
