"""The goal funnel: from the business goal to the volumes each stage must produce.

The goal says how many customers are wanted per goal period and what share should come from
marketing; its conversions say which share of leads moves from one state to the next
(``mql -> sql 30 %``, ``sql -> won 25 %``). Walking the conversions back from the last state
gives the marketing-sourced volume each state needs: 20 customers a quarter, 60 % from
marketing, means 12 won, so 48 SQLs and 160 MQLs a quarter, 54 MQLs a month (rounded up: a
third of a lead is still a lead to find). Each commitment on one of those states is then checked:
``marketing commits 150 MQLs a month: covered``.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from typing import TYPE_CHECKING, Final

from attrs import frozen

if TYPE_CHECKING:
    from leadsla._agreement import Agreement, Goal

__all__ = ["Coverage", "Funnel", "Stage", "goal_funnel", "months_in"]

#: How many months each period lasts (a week is 12/52 of a month).
_MONTHS: Final[dict[str, Fraction]] = {
    "week": Fraction(12, 52),
    "month": Fraction(1),
    "quarter": Fraction(3),
    "year": Fraction(12),
}
_PLURAL: Final = {"week": "a week", "month": "a month", "quarter": "a quarter", "year": "a year"}


def months_in(period: str) -> Fraction:
    """The length of a tracking period in months."""
    return _MONTHS[period]


def per(period: str) -> str:
    """``a month``, ``a quarter``..."""
    return _PLURAL[period]


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


def goal_funnel(agreement: Agreement) -> Funnel | None:
    """The funnel of an agreement's goal (None without a goal or conversions)."""
    goal = agreement.goal
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
        for commitment in agreement.commitments
        if commitment.state in by_state
    )
    return Funnel(goal, agreement.tracking_period, stages, coverage)


def chain_problem(goal: Goal) -> str | None:
    """Why the conversions do not form one chain ending in the customer state, or None."""
    if goal.conversions and _chain(goal) is None:
        return "do not form one chain (each state converting into the next, ending in one state)"
    return None
