"""Tracking periods: their names, their lengths and the label of the period holding a moment.

A period is named by its first moment's calendar: ``2026-03`` (a month), ``2026-Q1`` (a
quarter), ``2026-W10`` (an ISO week), ``2026`` (a year). Which zone a moment is read in is not
decided here: :func:`leadsla._core.tally.period_of` is the one place that says (the
agreement's time zone), and everything that counts by period goes through it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Final, Literal

__all__ = ["PERIODS", "Period", "before", "chronological", "label", "months_in", "per"]

Period = Literal["week", "month", "quarter", "year"]
PERIODS: Final[tuple[Period, ...]] = ("week", "month", "quarter", "year")

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


def label(local: datetime, period: Period) -> str:
    """The label of the period holding ``local``, read on its own wall clock."""
    if period == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if period == "quarter":
        return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{local.year:04d}"


def chronological(name: str) -> tuple[date, int]:
    """A sort key: a period's first day, then the longer period first (a year before its
    first month, a quarter before its first month)."""
    year = int(name[:4])
    rest = name[5:]
    if not rest:
        return date(year, 1, 1), 0
    if rest.startswith("Q"):
        return date(year, 3 * (int(rest[1:]) - 1) + 1, 1), 1
    if rest.startswith("W"):
        return date.fromisocalendar(year, int(rest[1:]), 1), 3
    return date(year, int(rest), 1), 2


def before(name: str) -> str:
    """The label of the period just before the one named ``name``, of the same kind
    (``2026-03`` -> ``2026-02``, ``2026-W01`` -> ``2025-W53`` or ``-W52``, ``2026-Q1`` ->
    ``2025-Q4``, ``2026`` -> ``2025``)."""
    first, _ = chronological(name)
    rest = name[5:]
    kind: Period = (
        "year"
        if not rest
        else "quarter"
        if rest[0] == "Q"
        else "week"
        if rest[0] == "W"
        else "month"
    )
    day = first - timedelta(days=1)
    return label(datetime(day.year, day.month, day.day), kind)
