"""SLA obligations: timed promises about one lead, as data.

Theory of operation
===================

An :class:`ObligationSpec` says when a clock starts, what meets it, what cancels it, when it
pauses, how long the party has (business time on a named calendar, or calendar time), when to
warn, and what to do when it is met or breached. Specs are data; the clocks the engine keeps
for them, one per obligation and lead, and the table of how a clock moves from open to met,
breached or cancelled, are in :mod:`leadsla._core.clocks`.

How occurrences match (:class:`When`): an occurrence is the lead entering or leaving a state, or
an event (created, updated, an activity, an assignment). A ``When`` matches when one of its
states is entered (``states``) or left (``leaving``), or one of its event kinds happens
(``events``, an activity filtered by ``activity``); if it has a ``condition``, the condition must
hold too. A ``When`` with only a condition matches whenever, after an event, the condition is
found true ("a condition becoming true").

Attempt obligations (:class:`Attempts`) count matching activities: the obligation is met when
the lead is reached, or when the required number of attempts has been made; in the second case
``on_exhausted`` actions also run (the default agreement hands the lead back to marketing with
reason ``no-contact-after-6-attempts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Final, Literal

from attrs import field, frozen

from leadsla._core.conditions import Condition
from leadsla._core.duration import Duration
from leadsla._core.errors import ObligationError, Problem
from leadsla._core.rules import AddTag, Assign, Fire, Notify, RemoveTag

__all__ = [
    "ActivityMatch",
    "Attempts",
    "Escalate",
    "ObligationAction",
    "ObligationError",
    "ObligationSpec",
    "PauseWhile",
    "Warn",
    "When",
]


def _tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _optional_condition(value: str | Condition | None) -> Condition | None:
    if value is None or isinstance(value, Condition):
        return value
    return Condition(value, field="condition")


def _duration(value: str | Duration) -> Duration:
    return value if isinstance(value, Duration) else Duration.parse(value, field="within")


def _optional_duration(value: str | Duration | None) -> Duration | None:
    return None if value is None else _duration(value)


def _optional_grace(value: str | Duration | None) -> Duration | None:
    if value is None or isinstance(value, Duration):
        return value
    return Duration.parse(value, field="grace")


_FIXED: Final = frozenset({"seconds", "minutes", "hours"})


def _before(value: str | Duration | None) -> Duration | None:
    if value is None or isinstance(value, Duration):
        return value
    return Duration.parse(value, field="warning.before")


def _optional_fraction(value: str | float | Fraction | None) -> Fraction | None:
    """A fraction; a float is read through its text, so 0.1 is exactly one tenth, and text may
    be a percentage ("75%")."""
    if value is None or isinstance(value, Fraction):
        return value
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, str) and value.strip().endswith("%"):
            return Fraction(value.strip()[:-1].strip()) / 100
        return Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise ObligationError(
            Problem(
                "warning.fraction",
                value,
                "is not a number",
                'write a share of the time between 0 and 1, e.g. 0.75 or "75%"',
            )
        ) from None


_WHO: Final = ("anyone", "owner", "party")


def _check_by(instance: object, attribute: object, value: object) -> None:
    if value not in _WHO:
        raise ObligationError(
            Problem(
                "activity.by",
                value,
                "is not who may log the activity",
                f"use one of {', '.join(_WHO)}",
            )
        )


@frozen
class ActivityMatch:
    """Which activities count: by kind, by outcome, and by whom.

    ``by`` is ``"anyone"``, ``"owner"`` (the lead's owner at the time) or ``"party"`` (a member
    or the manager of the obligation's team). Empty ``kinds`` or ``outcomes`` mean any.
    """

    kinds: tuple[str, ...] = field(default=(), converter=_tuple)
    outcomes: tuple[str, ...] = field(default=(), converter=_tuple)
    by: Literal["anyone", "owner", "party"] = field(default="anyone", validator=_check_by)

    def describe(self) -> str:
        what = " or ".join(self.kinds) if self.kinds else "any activity"
        if self.outcomes:
            what += f" with outcome {' or '.join(self.outcomes)}"
        who = {"anyone": "", "owner": " by the lead's owner", "party": " by the team"}[self.by]
        return what + who


@frozen
class When:
    """An occurrence: entering or leaving a state, or an event; optionally a condition."""

    states: tuple[str, ...] = field(default=(), converter=_tuple)
    leaving: tuple[str, ...] = field(default=(), converter=_tuple)
    events: tuple[str, ...] = field(default=(), converter=_tuple)
    activity: ActivityMatch | None = None
    condition: Condition | None = field(default=None, converter=_optional_condition)
    #: True when nothing but a condition is given: it matches whenever it holds.
    only_condition: bool = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        only = not (self.states or self.leaving or self.events or self.activity)
        object.__setattr__(self, "only_condition", only)

    def describe(self) -> str:
        parts = []
        if self.states:
            parts.append(f"the lead enters {' or '.join(self.states)}")
        if self.leaving:
            parts.append(f"the lead leaves {' or '.join(self.leaving)}")
        if self.activity is not None:
            parts.append(f"{self.activity.describe()} is logged")
        for kind in self.events:
            if kind != "activity" or self.activity is None:
                parts.append(_EVENT_WORDS.get(kind, kind))
        text = " or ".join(parts)
        if self.condition is not None:
            text = f"{text} while {self.condition}" if text else f"{self.condition} holds"
        return text


_EVENT_WORDS = {
    "lead_created": "the lead is created",
    "lead_updated": "the lead's fields change",
    "activity": "an activity is logged",
    "assign": "the lead is assigned",
}


@frozen
class PauseWhile:
    """The clock stands still while the lead is in one of ``states`` or ``condition`` holds."""

    states: tuple[str, ...] = field(default=(), converter=_tuple)
    condition: Condition | None = field(default=None, converter=_optional_condition)


@frozen
class Warn:
    """Warn before the deadline: ``before`` it by a duration, or when ``fraction`` of the time
    is used up."""

    before: Duration | None = field(default=None, converter=_before)
    fraction: Fraction | None = field(default=None, converter=_optional_fraction)

    def __attrs_post_init__(self) -> None:
        if (self.before is None) == (self.fraction is None):
            given = "gives both" if self.before is not None else "gives neither of"
            raise ObligationError(
                Problem(
                    "warning",
                    None,
                    f"{given} before and fraction: it needs exactly one",
                    "keep one: before = '1 business hour' (that long before the deadline) or "
                    "fraction = 0.75 (when that share of the time is used)",
                )
            )
        if self.before is not None and self.before.amount <= 0:
            raise ObligationError(
                Problem(
                    "warning.before",
                    str(self.before),
                    "must be longer than zero: the warning would come at or after the deadline",
                    "give how long before the deadline to warn, e.g. '1 business hour'",
                )
            )
        if self.fraction is not None and not 0 < self.fraction < 1:
            raise ObligationError(
                Problem(
                    "warning.fraction",
                    float(self.fraction),
                    "must be between 0 and 1: 0 would warn when the clock opens, 1 at the deadline",
                    "write e.g. 0.75",
                )
            )

    def describe(self) -> str:
        if self.before is not None:
            return f"{self.before} before the deadline"
        assert self.fraction is not None
        return f"when {float(self.fraction):.0%} of the time is used"


@frozen
class Escalate:
    """Ask the host to escalate: to ``"manager"`` (the party's manager) or a named person."""

    to: str = "manager"
    message: str = ""

    def describe(self) -> str:
        return f"escalate to the {self.to}" if self.to == "manager" else f"escalate to {self.to}"


ObligationAction = Fire | Assign | AddTag | RemoveTag | Notify | Escalate


def _actions(value: ObligationAction | Iterable[ObligationAction]) -> tuple[ObligationAction, ...]:
    if isinstance(value, (Fire, Assign, AddTag, RemoveTag, Notify, Escalate)):
        return (value,)
    return tuple(value)


def _warnings(value: Warn | Iterable[Warn]) -> tuple[Warn, ...]:
    return (value,) if isinstance(value, Warn) else tuple(value)


@frozen
class Attempts:
    """Count attempts: met when ``reached`` happens, or when ``count`` attempts were made."""

    count: int
    counts: ActivityMatch
    reached: ActivityMatch | None = None
    on_exhausted: tuple[ObligationAction, ...] = field(default=(), converter=_actions)

    def __attrs_post_init__(self) -> None:
        count = self.count
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ObligationError(
                Problem(
                    "attempts.count",
                    count,
                    "must be a whole number, at least 1",
                    "give how many attempts the team makes, e.g. count = 6",
                )
            )


@frozen
class ObligationSpec:
    """A timed promise by ``party`` about one lead (see the module's documentation)."""

    name: str
    party: str
    starts: When
    within: Duration = field(converter=_duration)
    met: When | None = None
    cancelled: When | None = None
    pause: PauseWhile | None = None
    calendar: str | None = None
    warnings: tuple[Warn, ...] = field(default=(), converter=_warnings)
    on_breach: tuple[ObligationAction, ...] = field(default=(), converter=_actions)
    on_met: tuple[ObligationAction, ...] = field(default=(), converter=_actions)
    attempts: Attempts | None = None
    repeat: bool = False
    description: str = ""
    #: How long after the deadline a breach (and its actions) waits before it is said, in
    #: calendar time: a contact logged a few minutes late then meets the clock without a
    #: breach said first and withdrawn after. The breach is still dated at the deadline.
    grace: Duration | None = field(default=None, converter=_optional_grace)

    def __attrs_post_init__(self) -> None:
        where = f"obligations.{self.name}"
        problems: list[Problem] = []
        grace = self.grace
        if grace is not None and (grace.business or grace.amount <= 0 or grace.unit not in _FIXED):
            problems.append(
                Problem(
                    f"{where}.grace",
                    str(grace),
                    "must be a positive calendar time in seconds, minutes or hours",
                    'give e.g. grace = "10 minutes"',
                )
            )
        if self.within.amount <= 0:
            problems.append(
                Problem(
                    f"{where}.within",
                    str(self.within),
                    "must be longer than zero",
                    "give the time allowed",
                )
            )
        for index, warning in enumerate(self.warnings):
            before = warning.before
            if before is None or self.within.amount <= 0:
                continue
            if _not_shorter(before, self.within):
                problems.append(
                    Problem(
                        f"{where}.warnings[{index}].before",
                        str(before),
                        f"is not shorter than the time allowed ({self.within}): the warning "
                        "would come as soon as the clock starts",
                        "warn less long before the deadline, or by a share of the time "
                        "(fraction = 0.75)",
                    )
                )
        if problems:
            raise ObligationError(*problems)


_NOMINAL_SECONDS: Final = {
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
}


def _not_shorter(before: Duration, within: Duration) -> bool:
    """Whether a warning ``before`` the deadline comes no later than the clock starts, as far as
    the two durations tell without a calendar: both calendar time (a day counted as 24 hours),
    both business days, or both business hours (minutes, seconds). Business days against
    business hours depend on the calendar's day: the agreement checks those."""
    if before.business != within.business:
        return False
    if before.counts_business_days != within.counts_business_days:
        return False
    return (
        before.amount * _NOMINAL_SECONDS[before.unit]
        >= within.amount * _NOMINAL_SECONDS[within.unit]
    )
