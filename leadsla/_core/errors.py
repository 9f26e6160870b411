"""Every exception leadsla raises, in one module.

Every error derives from :class:`LeadSLAError`, which is never raised itself; each leaf also
derives from the builtin a caller would catch without knowing leadsla (``ValueError`` for bad
values, ``RuntimeError`` for a loop in the agreement). An error carries one or more
:class:`Problem` records, each naming the field, the value found and the fix, so a caller can
show them, count them or test them without parsing the message.

This module is at the bottom of the core: it imports nothing of leadsla's but for type hints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from attrs import frozen

if TYPE_CHECKING:
    from leadsla._core.conditions import Explanation
    from leadsla._core.effects import Effect, Rejected

__all__ = [
    "AgreementError",
    "CalendarError",
    "ConditionError",
    "CsvError",
    "DurationError",
    "EventError",
    "EventRejected",
    "InvalidTransition",
    "LeadSLAError",
    "LifecycleError",
    "NaiveDatetimeError",
    "ObligationError",
    "Problem",
    "RuleLoopError",
    "StoreError",
    "UsageError",
    "WorkflowError",
    "closest",
    "did_you_mean",
    "render_problems",
    "show_value",
    "unknown",
]


def show_value(value: Any) -> str:
    """Render a bad value for a message: dates as people write them, everything else as repr."""
    if isinstance(value, (datetime, date, time)):
        return str(value)
    return repr(value)


@frozen
class Problem:
    """One thing wrong with an input: where it is, what was found, what is wrong and the fix.

    ``line`` is the line of a file the problem was found on, when known. A ``value`` of None
    (nothing was given) is left out of the message.
    """

    field: str
    value: Any
    message: str
    fix: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        got = f" (got {show_value(self.value)})" if self.value is not None else ""
        return f"{where}'{self.field}' {self.message}{got}; {self.fix}"


def closest(word: object, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (difflib's ratio of at least 0.6), or None."""
    found = difflib.get_close_matches(str(word), list(choices), 1)
    return found[0] if found else None


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing; to end a fix with."""
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match is not None else ""


def unknown(kind: str, name: Any, known: Iterable[str], where: str | None = None) -> Problem:
    """``name`` is not one of ``known`` (listed sorted, with the closest one)."""
    names = sorted(known)
    return Problem(
        where or kind,
        name,
        f"is not a known {kind}",
        f"use one of {', '.join(names)}{did_you_mean(name, names)}",
    )


def render_problems(problems: Sequence[Problem]) -> str:
    """The message for one problem, or a numbered-off list of several."""
    if len(problems) == 1:
        return str(problems[0])
    return "\n".join([f"{len(problems)} problems:", *(f"  - {problem}" for problem in problems)])


class LeadSLAError(Exception):
    """Root of every exception leadsla raises on purpose; only its subclasses are raised."""

    problems: tuple[Problem, ...]

    def __init__(self, *problems: Problem) -> None:
        if not problems:
            raise TypeError(f"{type(self).__name__} needs at least one Problem")
        self.problems = problems
        super().__init__(render_problems(problems))

    @property
    def field(self) -> str:
        """The field of the first problem."""
        return self.problems[0].field

    @property
    def value(self) -> Any:
        """The bad value of the first problem."""
        return self.problems[0].value

    @property
    def fix(self) -> str:
        """The suggested fix of the first problem."""
        return self.problems[0].fix


class NaiveDatetimeError(LeadSLAError, ValueError):
    """A datetime without a time zone was given where an instant is needed."""

    @classmethod
    def for_field(cls, field: str, value: datetime) -> NaiveDatetimeError:
        return cls(
            Problem(
                field=field,
                value=value,
                message="must be timezone-aware",
                fix="add a UTC offset or a tzinfo, e.g. datetime(..., tzinfo=ZoneInfo('UTC'))",
            )
        )


class CalendarError(LeadSLAError, ValueError):
    """A business calendar is malformed, or a question about it has no answer."""


class DurationError(LeadSLAError, ValueError):
    """A duration could not be parsed or does not fit where it is used."""


class ConditionError(LeadSLAError, ValueError):
    """A condition does not parse, or uses something conditions do not allow."""


class LifecycleError(LeadSLAError, ValueError):
    """A lifecycle table is malformed; every problem is listed."""


class ObligationError(LeadSLAError, ValueError):
    """An obligation is malformed."""


class AgreementError(LeadSLAError, ValueError):
    """An agreement's parts do not fit together; every problem is listed."""


class EventError(LeadSLAError, ValueError):
    """An event is malformed: a missing or mistyped key, a naive time, an unknown type."""


class WorkflowError(LeadSLAError, ValueError):
    """An input does not fit the workflow (an unknown lead or person, a field of the wrong
    type)."""


class InvalidTransition(LeadSLAError, ValueError):
    """A trigger cannot move the lead now; the lead is unchanged.

    ``explanation`` holds the guard's explanation when a guard said no.
    """

    lead: str
    state: str
    trigger: str
    explanation: Explanation | None

    def __init__(
        self,
        problem: Problem,
        *,
        lead: str,
        state: str,
        trigger: str,
        explanation: Explanation | None = None,
    ) -> None:
        super().__init__(problem)
        self.lead = lead
        self.state = state
        self.trigger = trigger
        self.explanation = explanation


class RuleLoopError(LeadSLAError, RuntimeError):
    """The rules (or obligations' actions) kept moving a lead without end: a loop in the
    agreement."""


class EventRejected(LeadSLAError, ValueError):
    """Raised instead of returning a ``Rejected`` effect when the engine is strict.

    ``effect`` is the rejection; ``effects`` are the timer effects that fired before it.
    """

    effect: Rejected
    effects: list[Effect]

    def __init__(self, effect: Rejected, effects: list[Effect]) -> None:
        super().__init__(*effect.details)
        self.effect = effect
        self.effects = effects


class CsvError(LeadSLAError, ValueError):
    """A CSV file or its mapping cannot be read as asked."""


class StoreError(LeadSLAError, ValueError):
    """A store that cannot be opened or written as asked."""


class UsageError(LeadSLAError, ValueError):
    """A function or command was called with arguments that do not fit together."""
