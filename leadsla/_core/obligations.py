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

Targets by tier (:class:`Tier`): an obligation may give several targets, each chosen by a
condition over the lead, the first that holds when the clock opens; ``within`` is the target for
every other lead. The chosen tier is kept on the clock. It stays fixed while the clock runs
unless the obligation says ``retier``: then a change of the lead's fields chooses again, and the
deadline moves to what the new tier allows from the same start (the time stood still in pauses
still counts out). Fixed is the default because a deadline is a promise made when the clock
opened: a rep who has planned their day around it should not find it moved by an enrichment
job, and a report can say why a deadline was what it was from the clock's opening alone.

The escalation ladder (:class:`Warn`): steps before the deadline (``before`` it by a duration,
or at a ``fraction`` of the time allowed) and after it (``after`` it by a duration, while the
clock stays breached), each with its own actions: notify the owner at 75 %, the manager at the
deadline (``on_breach``), a director one business day after. Steps are listed in the order they
come.

Whose calendar counts (``calendar``): a calendar's name, or ``"owner"`` (the calendar of the
person who owns the lead when the clock opens, else of that person's team), ``"team"`` (the
owning team's) or ``"region"`` (the first calendar whose region condition holds on the lead);
the agreement (:class:`~leadsla.Agreement`) says who owns which calendar, and which one counts
when none does. The calendar chosen is kept on the clock.

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
    "CALENDAR_CHOICES",
    "DEFAULT_TIER",
    "ActivityMatch",
    "Attempts",
    "Escalate",
    "ObligationAction",
    "ObligationError",
    "ObligationSpec",
    "PauseWhile",
    "Tier",
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


def _after(value: str | Duration | None) -> Duration | None:
    if value is None or isinstance(value, Duration):
        return value
    return Duration.parse(value, field="warning.after")


#: What an obligation's ``calendar`` may say besides a calendar's name: whose calendar counts.
CALENDAR_CHOICES: Final = ("owner", "team", "region")


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
    "lead_converted": "the lead is converted",
}


@frozen
class PauseWhile:
    """The clock stands still while the lead is in one of ``states`` or ``condition`` holds."""

    states: tuple[str, ...] = field(default=(), converter=_tuple)
    condition: Condition | None = field(default=None, converter=_optional_condition)


@frozen
class Escalate:
    """Ask the host to escalate: to ``"manager"`` (the party's manager), ``"owner"`` (who owns
    the lead now) or a named person."""

    to: str = "manager"
    message: str = ""

    def describe(self) -> str:
        if self.to in ("manager", "owner"):
            return f"escalate to the {self.to}"
        return f"escalate to {self.to}"


ObligationAction = Fire | Assign | AddTag | RemoveTag | Notify | Escalate


def _actions(value: ObligationAction | Iterable[ObligationAction]) -> tuple[ObligationAction, ...]:
    if isinstance(value, (Fire, Assign, AddTag, RemoveTag, Notify, Escalate)):
        return (value,)
    return tuple(value)


@frozen
class Warn:
    """One step of the escalation ladder: a warning before the deadline (``before`` it by a
    duration, or when ``fraction`` of the time is used up) or an escalation after it (``after``
    it by a duration, business or calendar time, while the clock is still breached), with the
    ``actions`` it asks for (notify, escalate, reassign, fire a trigger, tag)."""

    before: Duration | None = field(default=None, converter=_before)
    fraction: Fraction | None = field(default=None, converter=_optional_fraction)
    after: Duration | None = field(default=None, converter=_after)
    actions: tuple[ObligationAction, ...] = field(default=(), converter=_actions)

    def __attrs_post_init__(self) -> None:
        given = [
            name for name in ("before", "fraction", "after") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            said = {
                0: "gives none of before, fraction and after",
                2: f"gives both {' and '.join(given)}",
                3: "gives before, fraction and after",
            }[len(given)]
            raise ObligationError(
                Problem(
                    "warning",
                    None,
                    f"{said}: a step needs exactly one",
                    "keep one: before = '1 business hour' (that long before the deadline), "
                    "fraction = 0.75 (when that share of the time is used) or after = "
                    "'1 business day' (that long after the deadline)",
                )
            )
        for name, duration in (("before", self.before), ("after", self.after)):
            if duration is not None and duration.amount <= 0:
                when = "at or after" if name == "before" else "at or before"
                raise ObligationError(
                    Problem(
                        f"warning.{name}",
                        str(duration),
                        f"must be longer than zero: the step would come {when} the deadline",
                        f"give how long {name} the deadline, e.g. '1 business hour' (for a "
                        "step at the deadline, use on_breach)",
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

    @property
    def after_deadline(self) -> bool:
        """Whether the step comes after the deadline (an escalation of a breached clock)."""
        return self.after is not None

    def describe(self) -> str:
        if self.before is not None:
            when = f"{self.before} before the deadline"
        elif self.after is not None:
            when = f"{self.after} after the deadline"
        else:
            assert self.fraction is not None
            when = f"when {float(self.fraction):.0%} of the time is used"
        if not self.actions:
            return when
        return f"{when}: {', '.join(action.describe() for action in self.actions)}"


def _warnings(value: Warn | Iterable[Warn]) -> tuple[Warn, ...]:
    return (value,) if isinstance(value, Warn) else tuple(value)


def _condition(value: str | Condition) -> Condition:
    return value if isinstance(value, Condition) else Condition(value, field="tier.when")


def _tier_within(value: str | Duration) -> Duration:
    return value if isinstance(value, Duration) else Duration.parse(value, field="tier.within")


@frozen
class Tier:
    """A target for the leads ``when`` holds on: ``within`` instead of the obligation's own.

    >>> Tier("enterprise", "employees >= 1000", "1 business hour").describe()
    'enterprise (employees >= 1000): 1 business hour'
    """

    name: str
    when: Condition = field(converter=_condition)
    within: Duration = field(converter=_tier_within)

    def describe(self) -> str:
        return f"{self.name} ({self.when}): {self.within}"


def _tiers(value: Tier | Iterable[Tier]) -> tuple[Tier, ...]:
    return (value,) if isinstance(value, Tier) else tuple(value)


#: The name of the target an obligation with tiers gives a lead no tier holds on.
DEFAULT_TIER: Final = "default"


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
    #: Targets chosen by a condition over the lead, the first that holds; ``within`` is the
    #: target when none does (the tier called "default").
    tiers: tuple[Tier, ...] = field(default=(), converter=_tiers)
    #: Whether a change of the lead's fields chooses the tier of a running clock again (the
    #: module's documentation says why the default is no).
    retier: bool = False

    def __attrs_post_init__(self) -> None:
        where = f"obligations.{self.name}"
        problems: list[Problem] = self._check_tiers(where)
        problems += self._check_ladder(where)
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
            if before is None:
                continue
            for target, tier in self.targets:
                if tier == "" or target.amount <= 0:
                    continue  # (a tier already refused)
                if _not_shorter(before, target):
                    allowed = f"{target}, tier {tier}" if self.tiers else str(target)
                    problems.append(
                        Problem(
                            f"{where}.warnings[{index}].before",
                            str(before),
                            f"is not shorter than the time allowed ({allowed}): the warning "
                            "would come as soon as the clock starts",
                            "warn less long before the deadline, or by a share of the time "
                            "(fraction = 0.75)",
                        )
                    )
                    break
        if problems:
            raise ObligationError(*problems)

    @property
    def business_steps(self) -> bool:
        """Whether a step of the ladder counts business time (on a calendar, even when the
        obligation's own time is calendar time)."""
        return any(
            duration is not None and duration.business
            for step in self.warnings
            for duration in (step.before, step.after)
        )

    @property
    def targets(self) -> tuple[tuple[Duration, str | None], ...]:
        """Each target with its tier's name: the tiers', then ``within`` (tier "default", or
        None for an obligation without tiers)."""
        default = DEFAULT_TIER if self.tiers else None
        return (*((tier.within, tier.name) for tier in self.tiers), (self.within, default))

    def _check_tiers(self, where: str) -> list[Problem]:
        problems: list[Problem] = []
        seen: set[str] = set()
        for index, tier in enumerate(self.tiers):
            here = f"{where}.tiers[{index}]"
            given: object = tier  # typed as a tier; callers may pass anything
            if not isinstance(given, Tier):
                problems.append(
                    Problem(
                        here,
                        type(tier).__name__,
                        "is not a tier",
                        'write Tier("enterprise", "employees >= 1000", "1 business hour")',
                    )
                )
                continue
            if not tier.name or tier.name == DEFAULT_TIER or tier.name in seen:
                why = (
                    "is empty"
                    if not tier.name
                    else "names the target for leads no tier holds on (within)"
                    if tier.name == DEFAULT_TIER
                    else "is the name of another tier"
                )
                problems.append(
                    Problem(f"{here}.name", tier.name, why, "give each tier its own name")
                )
            seen.add(tier.name)
            if tier.within.amount <= 0:
                problems.append(
                    Problem(
                        f"{here}.within",
                        str(tier.within),
                        "must be longer than zero",
                        "give the time allowed for this tier",
                    )
                )
            if (
                tier.within.business
                and self.within.business
                and tier.within.counts_business_days != self.within.counts_business_days
            ):
                kind = "business days" if tier.within.counts_business_days else "business hours"
                other = "business days" if self.within.counts_business_days else "business hours"
                problems.append(
                    Problem(
                        f"{here}.within",
                        str(tier.within),
                        f"counts {kind}, but the obligation's within ({self.within}) counts "
                        f"{other}: a business day is as long as its calendar says, so the two "
                        "cannot be set side by side",
                        f"give the tier's time in {other}",
                    )
                )
            if tier.within.business != self.within.business:
                problems.append(
                    Problem(
                        f"{here}.within",
                        str(tier.within),
                        f"counts {'business' if tier.within.business else 'calendar'} time, "
                        f"but the obligation's within ({self.within}) counts "
                        f"{'business' if self.within.business else 'calendar'} time",
                        "count every tier's time the same way: all on the calendar, or none",
                    )
                )
        if self.retier and not self.tiers:
            problems.append(
                Problem(
                    f"{where}.retier",
                    True,
                    "has nothing to choose again: the obligation has no tiers",
                    "add tiers, or leave retier out",
                )
            )
        return problems

    def _check_ladder(self, where: str) -> list[Problem]:
        """The steps must be listed in the order they come (as far as the durations tell
        without a calendar): before the deadline, latest-before first; then after it."""
        problems: list[Problem] = []
        for index in range(1, len(self.warnings)):
            first, second = self.warnings[index - 1], self.warnings[index]
            if _comes_later(first, second):
                problems.append(
                    Problem(
                        f"{where}.warnings[{index}]",
                        second.describe(),
                        f"comes before the step listed above it ({first.describe()})",
                        "list the ladder's steps in the order they come: warnings before the "
                        "deadline first (the longest before it first), then escalations after "
                        "it (the shortest after it first)",
                    )
                )
        return problems


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


def _comes_later(first: Warn, second: Warn) -> bool:
    """Whether ``first`` certainly comes after ``second`` (a step listed out of order)."""
    if first.after is not None:
        if second.after is None:
            return True
        return _certainly_longer(first.after, second.after)
    if second.after is not None:
        return False
    if first.before is not None and second.before is not None:
        return _certainly_longer(second.before, first.before)
    if first.fraction is not None and second.fraction is not None:
        return first.fraction > second.fraction
    return False  # a share of the time against a duration: it depends on the calendar


def _certainly_longer(first: Duration, second: Duration) -> bool:
    if (
        first.business != second.business
        or first.counts_business_days != second.counts_business_days
    ):
        return False
    return (
        first.amount * _NOMINAL_SECONDS[first.unit] > second.amount * _NOMINAL_SECONDS[second.unit]
    )
