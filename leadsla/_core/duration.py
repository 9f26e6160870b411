"""Durations as agreements state them: "4 business hours", "2 business days", "30 days", "PT4H".

A :class:`Duration` is an amount, a unit and whether it counts business or calendar time. It is a
plain value; :meth:`BusinessCalendar.add <leadsla.BusinessCalendar.add>` gives it meaning:

* business seconds, minutes and hours are working time on the calendar;
* business days count whole working days (see "How business time is counted" in the docs);
* calendar seconds, minutes and hours are real elapsed time;
* calendar days and weeks keep the local wall-clock time in the calendar's zone.

A duration is at most :data:`MAX_DAYS` long (10 years of 366 days, or as many business days;
87,840 hours): an SLA clock longer than that never comes due in practice, and counting it would
mean tabulating working time for thousands of years.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction
from typing import Final, Literal

from attrs import field, frozen

from leadsla._core.errors import DurationError, Problem, did_you_mean

__all__ = ["MAX_DAYS", "Duration", "Unit"]

Unit = Literal["seconds", "minutes", "hours", "days", "weeks"]

_UNIT_WORDS: Final[dict[str, Unit]] = {
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "wk": "weeks",
    "wks": "weeks",
    "week": "weeks",
    "weeks": "weeks",
}
_KIND_WORDS: Final[dict[str, bool]] = {"business": True, "working": True, "calendar": False}
_SECONDS_PER_UNIT: Final[dict[Unit, int]] = {
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
}
#: The longest duration, in days (10 years of 366 days); business days count as days.
MAX_DAYS: Final = 3660
_MAX_SECONDS: Final = MAX_DAYS * 86400
_WORDS_RE: Final = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?:(?P<kind>[a-z]+)\s+)?(?P<unit>[a-z]+)\s*$", re.IGNORECASE
)
_ISO_RE: Final = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_EXAMPLES: Final = "write e.g. '4 business hours', '2 business days', '90 minutes', '10d' or 'PT4H'"


def _to_fraction(value: int | str | Fraction) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, str, Fraction)):
        raise DurationError(
            Problem(
                field="amount",
                value=value,
                message="must be an int, a Fraction or a decimal string",
                fix="pass e.g. 4, Fraction(3, 2) or '1.5'",
            )
        )
    return Fraction(value)


@frozen
class Duration:
    """An amount of business or calendar time in one unit.

    >>> Duration.parse("4 business hours")
    Duration(amount=Fraction(4, 1), unit='hours', business=True)
    >>> str(Duration(90, "minutes"))
    '90 minutes'
    """

    amount: Fraction = field(converter=_to_fraction)
    unit: Unit
    business: bool = False
    _fixed: timedelta | None = field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.unit not in _SECONDS_PER_UNIT:
            raise DurationError(
                Problem(
                    field="unit",
                    value=self.unit,
                    message="is not a unit",
                    fix=f"use one of {', '.join(_SECONDS_PER_UNIT)}",
                )
            )
        if self.business and self.unit == "weeks":
            raise DurationError(
                Problem(
                    field="unit",
                    value="business weeks",
                    message="has no fixed meaning",
                    fix="count business days instead, e.g. '10 business days'",
                )
            )
        if abs(self.amount) * _SECONDS_PER_UNIT[self.unit] > _MAX_SECONDS:
            raise DurationError(
                Problem(
                    field="amount",
                    value=str(self),
                    message=f"is longer than 10 years ({MAX_DAYS} days), the longest duration "
                    "leadsla counts",
                    fix=f"give at most {MAX_DAYS} days or {MAX_DAYS * 24} hours",
                )
            )
        if self.unit not in ("days", "weeks"):
            # Computed once: deadlines are computed often, Fraction arithmetic is slow.
            microseconds = self.amount * _SECONDS_PER_UNIT[self.unit] * 1_000_000
            object.__setattr__(self, "_fixed", timedelta(microseconds=int(microseconds)))

    @classmethod
    def parse(cls, text: str, *, field: str = "duration") -> Duration:
        """Parse a duration written in words ("4 business hours", "10d") or ISO 8601 ("PT4H").

        ``field`` names where the text came from, for the error message.

        >>> str(Duration.parse("2 business days")), str(Duration.parse("PT1H30M"))
        ('2 business days', '90 minutes')
        """
        if not isinstance(text, str):
            raise DurationError(
                Problem(field=field, value=text, message="must be a string", fix=_EXAMPLES)
            )
        stripped = text.strip()
        try:
            if stripped[:1] in ("P", "p"):
                return _parse_iso(stripped, field)
            return _parse_words(stripped, field)
        except DurationError as error:
            # The value's own checks (its length) name its attributes: name the text instead.
            raise DurationError(
                *(
                    p if p.field == field else Problem(field, text, p.message, p.fix)
                    for p in error.problems
                )
            ) from None

    @property
    def counts_business_days(self) -> bool:
        """True for business days, which count working days rather than a fixed length."""
        return self.business and self.unit == "days"

    def to_timedelta(self) -> timedelta:
        """The fixed length of a duration in seconds, minutes or hours (business or not).

        Days and weeks have no fixed length (a business day depends on the calendar, a calendar
        day on daylight saving time), so they raise :class:`DurationError`.
        """
        if self._fixed is None:
            raise DurationError(
                Problem(
                    field="duration",
                    value=str(self),
                    message="has no fixed length",
                    fix="apply it with BusinessCalendar.add(start, duration) instead",
                )
            )
        return self._fixed

    def __neg__(self) -> Duration:
        return Duration(-self.amount, self.unit, self.business)

    def __str__(self) -> str:
        amount = _format_amount(self.amount)
        unit = self.unit[:-1] if abs(self.amount) == 1 else self.unit
        return f"{amount} business {unit}" if self.business else f"{amount} {unit}"


def _format_amount(amount: Fraction) -> str:
    if amount.denominator == 1:
        return str(amount.numerator)
    # A decimal form when one is exact (1.5), the fraction otherwise (1/3).
    denominator = amount.denominator
    while denominator % 2 == 0:
        denominator //= 2
    while denominator % 5 == 0:
        denominator //= 5
    if denominator != 1:
        return str(amount)
    text = f"{float(amount):.6f}".rstrip("0")
    return text.rstrip(".")


def _parse_words(text: str, field: str) -> Duration:
    match = _WORDS_RE.match(text)
    if match is None:
        raise DurationError(
            Problem(field=field, value=text, message="is not a duration", fix=_EXAMPLES)
        )
    amount = Fraction(match["amount"])
    kind_word = (match["kind"] or "calendar").lower()
    unit_word = match["unit"].lower()
    if kind_word not in _KIND_WORDS:
        raise DurationError(
            Problem(
                field=field,
                value=text,
                message=f"has an unknown kind of time {kind_word!r}",
                fix="write 'business' or 'calendar' before the unit"
                + did_you_mean(kind_word, _KIND_WORDS),
            )
        )
    if unit_word not in _UNIT_WORDS:
        raise DurationError(
            Problem(
                field=field,
                value=text,
                message=f"has an unknown unit {unit_word!r}",
                fix="use seconds, minutes, hours, days or weeks"
                + did_you_mean(unit_word, _SECONDS_PER_UNIT),
            )
        )
    unit = _UNIT_WORDS[unit_word]
    business = _KIND_WORDS[kind_word]
    if business and unit == "weeks":
        raise DurationError(
            Problem(
                field=field,
                value=text,
                message="has no fixed meaning (how many working days make a business week?)",
                fix="count business days instead, e.g. '10 business days'",
            )
        )
    return Duration(amount, unit, business)


def _parse_iso(text: str, field: str) -> Duration:
    match = _ISO_RE.match(text)
    if match is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        raise DurationError(
            Problem(
                field=field,
                value=text,
                message="is not an ISO 8601 duration",
                fix="write e.g. 'PT4H', 'PT90M', 'P2D' or 'P1W'",
            )
        )
    if match["years"] or match["months"]:
        raise DurationError(
            Problem(
                field=field,
                value=text,
                message="uses years or months, which have no fixed length",
                fix="write the span in days or weeks, e.g. 'P30D'",
            )
        )
    weeks, days = int(match["weeks"] or 0), int(match["days"] or 0)
    seconds = (
        int(match["hours"] or 0) * 3600
        + int(match["minutes"] or 0) * 60
        + Fraction(match["seconds"] or 0)
    )
    if (weeks or days) and seconds:
        raise DurationError(
            Problem(
                field=field,
                value=text,
                message="mixes days and hours, which count differently across daylight saving",
                fix="write one or the other, e.g. 'PT26H' or 'P1D'",
            )
        )
    if weeks and days:
        return Duration(weeks * 7 + days, "days")
    if weeks:
        return Duration(weeks, "weeks")
    if days:
        return Duration(days, "days")
    return _largest_unit(seconds)


def _largest_unit(seconds: Fraction) -> Duration:
    """Express a span of seconds in the largest unit that keeps the amount whole."""
    units: tuple[Unit, ...] = ("hours", "minutes")
    for unit in units:
        size = _SECONDS_PER_UNIT[unit]
        if seconds % size == 0:
            return Duration(seconds / size, unit)
    return Duration(seconds, "seconds")
