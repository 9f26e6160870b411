"""The goal and the commitments, and the funnel between them.

A :class:`Commitment` is a volume promise per tracking period (marketing delivers at least 150
MQLs a month). The :class:`Goal` is the business target the agreement serves: how many
customers are wanted per goal period, what share should come from marketing, and which share
of leads moves from one state to the next (``mql -> sql 30 %``, ``sql -> won 25 %``).

Walking the conversions back from the last state gives the marketing-sourced volume each state
needs: 20 customers a quarter, 60 % from marketing, means 12 won, so 48 SQLs and 160 MQLs a
quarter, 54 MQLs a month (rounded up: a third of a lead is still a lead to find). Each
commitment on one of those states is then checked: ``marketing commits 150 MQLs a month:
covered``.

Both values check their own ranges when they are made (a share above 1, a negative count, a
period that does not exist), whether they come from a file or from Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from math import ceil
from typing import Any

from attrs import field, frozen

from leadsla._core.errors import AgreementError, Problem, unknown
from leadsla._core.periods import PERIODS, Period, months_in, per

__all__ = [
    "Commitment",
    "Coverage",
    "Funnel",
    "Goal",
    "Stage",
    "chain_problem",
    "goal_funnel",
    "to_fraction",
]


def to_fraction(
    value: int | float | str | Fraction | None, field: str = "share"
) -> Fraction | None:
    """Exact fractions: a float is read through its shortest text (0.3 is 3/10), and text may
    be a number or a percentage ("60%")."""
    if value is None or isinstance(value, Fraction):
        return value
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, float):
            return Fraction(str(value))
        if isinstance(value, str) and value.strip().endswith("%"):
            return Fraction(value.strip()[:-1].strip()) / 100
        return Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise AgreementError(
            Problem(field, value, "is not a number or share", 'write e.g. 0.6 or "60%"')
        ) from None


def _share(value: int | float | str | Fraction) -> Fraction:
    share = to_fraction(value, "goal.marketing_share")
    assert share is not None
    return share


def _accepted_share(value: int | float | str | Fraction | None) -> Fraction | None:
    return to_fraction(value, "commitment.accepted_share")


def _conversions(
    value: Iterable[tuple[str, str, int | float | str | Fraction]],
) -> tuple[tuple[str, str, Fraction], ...]:
    """(from, to, rate) steps with exact rates; ``"0.3"``, ``0.3`` and ``Fraction(3, 10)`` agree."""
    steps = []
    for step in value:
        try:
            source, dest, rate = step
            exact = to_fraction(rate, "goal.conversions")
        except (TypeError, ValueError, ZeroDivisionError, AgreementError):
            raise AgreementError(
                Problem(
                    "goal.conversions",
                    step,
                    "is not a (from state, to state, rate) step",
                    'write e.g. ("mql", "sql", "0.3")',
                )
            ) from None
        assert exact is not None
        steps.append((source, dest, exact))
    return tuple(steps)


def _whole(where: str, value: Any, what: str) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [Problem(where, value, "must be a whole number", f"give {what}")]
    if value < 0:
        return [Problem(where, value, "must not be negative", f"give {what}")]
    return []


def _period(where: str, value: Any) -> list[Problem]:
    return [] if value in PERIODS else [unknown("period", value, PERIODS, where)]


@frozen
class Commitment:
    """A volume promise per tracking period: ``party`` delivers at least ``at_least`` leads
    entering ``state`` each ``per``; ``accepted_share`` is an optional quality bar: the share of
    those leads that go on to ``accepted_state``."""

    name: str
    party: str
    state: str
    at_least: int
    per: Period = "month"
    accepted_state: str | None = None
    accepted_share: Fraction | None = field(default=None, converter=_accepted_share)
    description: str = ""

    def __attrs_post_init__(self) -> None:
        where = f"commitments.{self.name}"
        problems = [
            *_whole(f"{where}.at_least", self.at_least, "the least number of leads promised"),
            *_period(f"{where}.per", self.per),
        ]
        share = self.accepted_share
        if share is not None and not 0 <= share <= 1:
            problems.append(
                Problem(
                    f"{where}.accepted_share",
                    float(share),
                    "must be between 0 and 1",
                    'write e.g. 0.6 or "60%"',
                )
            )
        if share is not None and self.accepted_state is None:
            problems.append(
                Problem(
                    f"{where}.accepted_state",
                    None,
                    "is needed with accepted_share: the share of leads that reach which state?",
                    "name the state that counts as accepted, e.g. accepted_state = 'sal'",
                )
            )
        if problems:
            raise AgreementError(*problems)


@frozen
class Goal:
    """The business target the agreement serves: ``customers`` per ``per``, the share that
    should come from marketing, and the conversion rates assumed along the funnel
    (``(from_state, to_state, rate)``)."""

    customers: int
    per: Period = "quarter"
    marketing_share: Fraction = field(default=Fraction(1), converter=_share)
    conversions: tuple[tuple[str, str, Fraction], ...] = field(default=(), converter=_conversions)
    description: str = ""

    def __attrs_post_init__(self) -> None:
        problems = [
            *_whole("goal.customers", self.customers, "the number of customers wanted"),
            *_period("goal.per", self.per),
        ]
        if not 0 < self.marketing_share <= 1:
            problems.append(
                Problem(
                    "goal.marketing_share",
                    float(self.marketing_share),
                    "must be above 0 and at most 1",
                    "write e.g. 0.6",
                )
            )
        for index, (_, _, rate) in enumerate(self.conversions):
            if not 0 < rate <= 1:
                problems.append(
                    Problem(
                        f"goal.conversions[{index}].rate",
                        float(rate),
                        "must be above 0 and at most 1",
                        "write e.g. rate = 0.3",
                    )
                )
        if problems:
            raise AgreementError(*problems)


@frozen
class Stage:
    """What one state must produce from marketing, per goal period (exact, not rounded)."""

    state: str
    per_goal_period: Fraction

    def needed(self, goal_period: str, period: str) -> int:
        """Whole leads needed per ``period`` (rounded up)."""
        return ceil(self.per_goal_period * months_in(period) / months_in(goal_period))


@frozen
class Coverage:
    """Whether a commitment delivers what the goal needs of its state."""

    commitment: str
    party: str
    state: str
    per: str
    needed: int
    committed: int

    @property
    def covered(self) -> bool:
        """Whether the commitment is at least what the goal needs."""
        return self.committed >= self.needed

    @property
    def short_by(self) -> int:
        """How many leads per period the commitment is short (0 when covered)."""
        return max(0, self.needed - self.committed)


@frozen
class Funnel:
    """The volumes the goal needs at each stage, and how the commitments cover them."""

    goal: Goal
    tracking_period: str
    stages: tuple[Stage, ...]
    coverage: tuple[Coverage, ...]

    def stage(self, state: str) -> Stage | None:
        """The stage of ``state``, or None when the goal does not pass through it."""
        return next((stage for stage in self.stages if stage.state == state), None)

    def sentences(self) -> list[str]:
        """The funnel in plain words: the goal, what it needs at each stage, the coverage.

        >>> from leadsla import Agreement
        >>> print("\\n".join(Agreement.default().funnel().sentences()))
        The goal: 20 new customers a quarter, 60% of them from marketing (12 a quarter).
        The goal needs 48 marketing SQLs a quarter (16 a month).
        The goal needs 160 marketing MQLs a quarter (54 a month).
        Marketing commits 150 MQLs a month: covered.
        """
        goal = self.goal
        share = f"{float(goal.marketing_share):.0%}"
        customers = self.stages[0].needed(goal.per, goal.per)
        lines = [
            f"The goal: {goal.customers} new customers {per(goal.per)}, {share} of them from "
            f"marketing ({customers} {per(goal.per)})."
        ]
        for stage in self.stages[1:]:
            whole = stage.needed(goal.per, goal.per)
            extra = ""
            if self.tracking_period != goal.per:
                tracked = stage.needed(goal.per, self.tracking_period)
                extra = f" ({tracked} {per(self.tracking_period)})"
            lines.append(
                f"The goal needs {whole} marketing {stage.state.upper()}s {per(goal.per)}{extra}."
            )
        for item in self.coverage:
            verdict = "covered" if item.covered else f"short by {item.short_by}"
            lines.append(
                f"{item.party.capitalize()} commits {item.committed} {item.state.upper()}s "
                f"{per(item.per)}: {verdict}."
            )
        return lines


def _chain(goal: Goal) -> list[tuple[str, Fraction]] | None:
    """(state, volume per goal period) from the last state back; None if not a simple chain."""
    conversions = goal.conversions
    if not conversions:
        return None
    sources = {source for source, _, _ in conversions}
    ends = [dest for _, dest, _ in conversions if dest not in sources]
    if len(set(ends)) != 1 or len(sources) != len(conversions):
        return None
    state = ends[0]
    volume = goal.customers * goal.marketing_share
    chain = [(state, volume)]
    seen = {state}
    by_dest = {dest: (source, rate) for source, dest, rate in conversions}
    while state in by_dest:
        source, rate = by_dest[state]
        if source in seen:
            return None
        volume = volume / rate
        chain.append((source, volume))
        seen.add(source)
        state = source
    if len(chain) != len(conversions) + 1:
        return None
    return chain


def goal_funnel(
    goal: Goal | None, commitments: Iterable[Commitment], tracking_period: Period
) -> Funnel | None:
    """The funnel of a goal and the commitments that serve it (None without a goal or
    conversions)."""
    if goal is None:
        return None
    chain = _chain(goal)
    if chain is None:
        return None
    stages = tuple(Stage(state, volume) for state, volume in chain)
    by_state = {stage.state: stage for stage in stages}
    coverage = tuple(
        Coverage(
            commitment.name,
            commitment.party,
            commitment.state,
            commitment.per,
            by_state[commitment.state].needed(goal.per, commitment.per),
            commitment.at_least,
        )
        for commitment in commitments
        if commitment.state in by_state
    )
    return Funnel(goal, tracking_period, stages, coverage)


def chain_problem(goal: Goal) -> str | None:
    """Why the conversions do not form one chain ending in the customer state, or None."""
    if goal.conversions and _chain(goal) is None:
        return "do not form one chain (each state converting into the next, ending in one state)"
    return None
