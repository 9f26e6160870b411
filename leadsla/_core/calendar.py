"""Business calendars: opening hours, holidays and exact business-time arithmetic.

Theory of operation
===================

A calendar is a value: a time zone, the opening hours of each weekday, holidays and per-date
overrides. Opening hours are local wall-clock times; working time is real elapsed time.

All arithmetic runs on one function, ``C(t)``: the working time, in whole microseconds, between a
fixed origin and the instant ``t``. ``C`` is continuous, non-decreasing, piecewise linear, and
flat while the calendar is closed. Then:

* ``elapsed(a, b) = C(b) - C(a)`` (so ``elapsed(b, a) == -elapsed(a, b)`` for free);
* ``add(s, d)`` for ``d > 0`` is the *earliest* ``t`` with ``C(t) = C(s) + d``: a deadline used up
  exactly at a closing time is that closing instant, and a start outside hours counts from the
  next opening;
* ``add(s, d)`` for ``d < 0`` is the *latest* such ``t`` (the mirror rules);
* ``add(s, 0)`` is ``s`` when open, else the next opening.

``C`` is tabulated lazily, one local calendar year at a time, in :class:`_Timeline`: the UTC
instants at which working periods open and close (intervals that touch or overlap are merged), and
the running total of working time at each opening. Every query is a bisection in those tables, so
the cost of a call does not grow with the span it covers; a span reaching past the tables extends
them (once) and the query is recomputed from scratch.

Business days use a second table on the same axis: each working day (a local date that has
working time) owns the working time of the intervals that open on it, and "N business days" moves
a position that is a whole day count plus the fraction of that day's working time already
elapsed. See ``docs/explanation/business-time.md``.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from fractions import Fraction
from math import ceil, floor
from typing import Any, Final, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr

from leadsla._core.duration import Duration
from leadsla._core.errors import CalendarError, NaiveDatetimeError, Problem, did_you_mean

__all__ = [
    "BusinessCalendar",
    "HolidayInput",
    "IntervalInput",
    "WeekInput",
    "from_instant_us",
    "instant_us",
    "shifter",
    "span_us",
]

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES: Final = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_DAY: Final = 86400
_US: Final = 1_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Intervals that open before a table's first date can reach at most 24 hours plus a daylight
# saving shift into it; the table is trusted only from two days after its first date.
_EDGE_US: Final = 2 * _DAY * _US
# A search for working time that crosses this many empty years in a row gives up.
_MAX_EMPTY_YEARS: Final = 20
_RRULE_ANCHOR: Final = datetime(1970, 1, 1)
_TIME_RE: Final = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")

#: One opening interval as given: ``("09:00", "17:00")``, ``"09:00-17:00"`` or two ``time``\ s.
IntervalInput: TypeAlias = "tuple[str | time, str | time] | Sequence[str | time] | str"
#: Opening hours per weekday: ``{"mon": [("09:00", "17:00")], ...}``.
WeekInput: TypeAlias = "Mapping[str, Sequence[IntervalInput]]"
#: A holiday: a date, an ISO date string, a dateutil ``rrule`` or an RFC 5545 RRULE string.
HolidayInput: TypeAlias = "date | str | rrule"

# One interval of opening hours in seconds of the local day: (open, close). close may be 86400
# ("24:00"); close <= open means the interval runs past midnight.
_Interval: TypeAlias = tuple[int, int]
_Hours: TypeAlias = tuple[_Interval, ...]
# One tabulated opening: (ordinal of the local date it opens on, open, close in UTC microseconds).
_Opening: TypeAlias = tuple[int, int, int]


# --------------------------------------------------------------------------------------------
# Parsing the constructor's inputs into canonical, hashable values. Every problem is collected.


def _parse_clock(text: str | time, where: str, problems: list[Problem], *, closing: bool) -> int:
    if isinstance(text, time):
        if text.tzinfo is not None:
            problems.append(
                Problem(where, text, "must be a local wall-clock time", "drop the tzinfo")
            )
        return text.hour * 3600 + text.minute * 60 + text.second
    match = _TIME_RE.match(text) if isinstance(text, str) else None
    if match is None:
        problems.append(Problem(where, text, "is not a time of day", "write 'HH:MM', e.g. '09:00'"))
        return 0
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if closing and (hours, minutes, seconds) == (24, 0, 0):
        return _DAY
    if hours > 23 or minutes > 59 or seconds > 59:
        fix = "use 00:00-23:59" + (
            ", or '24:00' for midnight at the end of the day" if closing else ""
        )
        problems.append(Problem(where, text, "is not a time of day", fix))
        return 0
    return hours * 3600 + minutes * 60 + seconds


def _parse_interval(value: object, where: str, problems: list[Problem]) -> _Interval | None:
    if isinstance(value, str):
        parts: Sequence[Any] = value.split("-")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        parts = value
    else:
        parts = ()
    if len(parts) != 2:
        problems.append(
            Problem(
                where,
                value,
                "is not an opening interval",
                "write a pair of times like ('09:00', '17:00') or the text '09:00-17:00'",
            )
        )
        return None
    before = len(problems)
    opening = _parse_clock(_strip(parts[0]), where, problems, closing=False)
    closing = _parse_clock(_strip(parts[1]), where, problems, closing=True)
    if len(problems) > before:
        return None
    return opening, closing


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _same_day_span(interval: _Interval) -> tuple[int, int]:
    opening, closing = interval
    return opening, closing if closing > opening else closing + _DAY


def _parse_hours(values: object, where: str, problems: list[Problem]) -> _Hours:
    if isinstance(values, str) or not isinstance(values, Iterable):
        problems.append(
            Problem(
                where,
                values,
                "must be a list of opening intervals",
                "write e.g. [('09:00', '12:00'), ('13:00', '17:00')], or [] for closed",
            )
        )
        return ()
    intervals = []
    for index, value in enumerate(values):
        interval = _parse_interval(value, f"{where}[{index}]", problems)
        if interval is not None:
            intervals.append(interval)
    intervals.sort()
    spans = [_same_day_span(interval) for interval in intervals]
    for (a_open, a_close), (b_open, b_close) in itertools.pairwise(spans):
        if b_open < a_close:
            problems.append(
                Problem(
                    where,
                    [_format_interval(i) for i in intervals],
                    f"has overlapping intervals {_clock(a_open)}-{_clock(a_close % _DAY)} and "
                    f"{_clock(b_open)}-{_clock(b_close % _DAY)}",
                    "merge them into one interval",
                )
            )
    return tuple(intervals)


def _parse_week(week: object, problems: list[Problem]) -> tuple[_Hours, ...]:
    hours: dict[str, _Hours] = {}
    if not isinstance(week, Mapping):
        problems.append(
            Problem(
                "week",
                week,
                "must map weekdays to opening intervals",
                "write e.g. {'mon': [('09:00', '17:00')], ...}",
            )
        )
        return tuple(() for _ in WEEKDAYS)
    for key, values in week.items():
        day = _FULL_DAY_NAMES.get(str(key).lower(), str(key).lower())
        if day not in WEEKDAYS:
            hint = did_you_mean(str(key).lower(), [*WEEKDAYS, *_FULL_DAY_NAMES])
            problems.append(
                Problem(
                    f"week.{key}",
                    key,
                    "is not a weekday",
                    f"use one of {', '.join(WEEKDAYS)}{hint}",
                )
            )
            continue
        if day in hours:
            problems.append(
                Problem(f"week.{key}", key, "names a weekday twice", "give each weekday once")
            )
            continue
        hours[day] = _parse_hours(values, f"week.{key}", problems)
    return tuple(hours.get(day, ()) for day in WEEKDAYS)


def _parse_zone(tz: object, problems: list[Problem]) -> tzinfo:
    if isinstance(tz, (ZoneInfo, timezone)):
        return tz
    name = tz if isinstance(tz, str) else getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    hint = did_you_mean(tz, sorted(available_timezones())) if isinstance(tz, str) else ""
    problems.append(
        Problem(
            "tz",
            tz,
            "is not a known time zone",
            f"use an IANA name such as 'Europe/Helsinki' or a zoneinfo.ZoneInfo{hint}",
        )
    )
    return UTC


def _parse_date(value: object, where: str, problems: list[Problem]) -> date | None:
    if isinstance(value, datetime):
        problems.append(Problem(where, value, "must be a date, not a datetime", "pass .date()"))
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(Problem(where, value, "is not a date", "write an ISO date like '2026-12-24'"))
    return None


def _rule_text(canonical: str) -> str:
    """A rule as people write it: without the DTSTART leadsla anchors rules at when none is
    given (``FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25``); reading it back gives the same rule."""
    anchor = f"DTSTART:{_RRULE_ANCHOR:%Y%m%dT%H%M%S}\nRRULE:"
    return canonical.removeprefix(anchor)


def _rule_start(canonical: str) -> datetime:
    """When a recurring holiday starts: its DTSTART (leadsla anchors rules without one at
    1970)."""
    start: datetime | None = getattr(rrulestr(canonical), "_dtstart", None)
    return start if start is not None else _RRULE_ANCHOR


def _parse_rule(value: rrule | str, where: str, problems: list[Problem]) -> str | None:
    """Canonical RFC 5545 text of a recurring holiday (with its DTSTART made explicit)."""
    try:
        rule = value if isinstance(value, rrule) else rrulestr(value, dtstart=_RRULE_ANCHOR)
    except (ValueError, TypeError) as error:
        problems.append(
            Problem(
                where,
                value,
                f"is not a recurrence rule ({error})",
                "write an RFC 5545 rule such as 'FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25' "
                "or 'FREQ=YEARLY;BYEASTER=-2' for Good Friday",
            )
        )
        return None
    if not isinstance(rule, rrule):
        problems.append(
            Problem(where, value, "must be a single RRULE", "split a rule set into several rules")
        )
        return None
    start: datetime | None = getattr(rule, "_dtstart", None)  # dateutil has no public accessor
    if start is not None and start.tzinfo is not None:
        rule = rule.replace(dtstart=start.replace(tzinfo=None))
    return str(rule)


def _parse_holidays(
    values: Iterable[HolidayInput], problems: list[Problem]
) -> tuple[tuple[date, ...], tuple[str, ...]]:
    dates: set[date] = set()
    rules: list[str] = []
    if isinstance(values, (str, date)) or not isinstance(values, Iterable):
        problems.append(
            Problem("holidays", values, "must be a list", "wrap a single holiday in a list")
        )
        return (), ()
    for index, value in enumerate(values):
        where = f"holidays[{index}]"
        if isinstance(value, rrule) or (
            isinstance(value, str) and ("FREQ=" in value.upper() or "RRULE" in value.upper())
        ):
            text = _parse_rule(value, where, problems)
            if text is not None and text not in rules:
                rules.append(text)
        else:
            day = _parse_date(value, where, problems)
            if day is not None:
                dates.add(day)
    return tuple(sorted(dates)), tuple(sorted(rules))


def _parse_overrides(values: object, problems: list[Problem]) -> tuple[tuple[date, _Hours], ...]:
    if not isinstance(values, Mapping):
        problems.append(
            Problem(
                "overrides",
                values,
                "must map dates to opening intervals",
                "write e.g. {'2026-12-24': [('09:00', '13:00')]}",
            )
        )
        return ()
    parsed: dict[date, _Hours] = {}
    for key, hours in values.items():
        day = _parse_date(key, f"overrides.{key}", problems)
        if day is None:
            continue
        if day in parsed:
            problems.append(Problem(f"overrides.{key}", key, "is given twice", "give it once"))
        parsed[day] = _parse_hours(hours, f"overrides.{key}", problems)
    return tuple(sorted(parsed.items()))


def _check_country(country: str | None, problems: list[Problem]) -> None:
    if country is None:
        return
    try:
        import holidays as holidays_package
    except ImportError:
        problems.append(
            Problem(
                "country",
                country,
                "needs the optional 'holidays' package",
                "install it with: pip install 'leadsla[holidays]'",
            )
        )
        return
    code, _, subdivision = country.partition("-")
    supported = holidays_package.list_supported_countries()
    if code not in supported:
        hint = did_you_mean(code, list(supported))
        problems.append(
            Problem(
                "country",
                country,
                "is not a country the 'holidays' package knows",
                f"use an ISO 3166 code like 'FI' or 'US-CA'{hint}",
            )
        )
    elif subdivision and subdivision not in supported[code]:
        problems.append(
            Problem(
                "country",
                country,
                f"names an unknown subdivision of {code}",
                f"use one of {', '.join(supported[code])}",
            )
        )


def _clock(seconds: int) -> str:
    if seconds == _DAY:
        return "24:00"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _format_interval(interval: _Interval) -> str:
    return f"{_clock(interval[0])}-{_clock(interval[1])}"


# --------------------------------------------------------------------------------------------
# The lazily built tables.


class _NeedMore(Exception):  # a private control-flow signal, not an error
    """A query reached past the tables: extend them toward ``target_us`` or one year ``forward``."""

    def __init__(self, *, forward: bool, target_us: int | None = None) -> None:
        self.forward = forward
        self.target_us = target_us


def _utc_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * _DAY + delta.seconds) * _US + delta.microseconds


class _Timeline:
    """Tables of ``C(t)`` and of working days for a contiguous range of local years.

    ``starts[i]``/``ends[i]`` bound the i-th working period (UTC microseconds), ``cum[i]`` and
    ``cum_end[i]`` are C at its ends. ``day_starts[k]``/``day_ends[k]`` are C at the ends of the
    k-th working day; consecutive working days touch (``day_ends[k] == day_starts[k + 1]``).
    C is trusted on ``[lo, hi]``.
    """

    __slots__ = (
        "calendar",
        "cum",
        "cum_end",
        "day_ends",
        "day_starts",
        "empty_after",
        "empty_before",
        "ends",
        "first_year",
        "hi",
        "last_year",
        "lo",
        "raw",
        "starts",
    )

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.first_year = 0
        self.last_year = -1
        self.raw: list[list[_Opening]] = []  # per tabulated year, its openings in order
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.cum: list[int] = []
        self.cum_end: list[int] = []
        self.day_starts: list[int] = []
        self.day_ends: list[int] = []
        self.lo = 0
        self.hi = -1
        self.empty_before = 0
        self.empty_after = 0

    # -- building --------------------------------------------------------------------------

    def extend(self, need: _NeedMore) -> None:
        """Tabulate more years, as ``need`` asks."""
        calendar = self.calendar
        if self.last_year < self.first_year:
            target = need.target_us if need.target_us is not None else 0
            self._rebuild(calendar._local_year(target - _EDGE_US), calendar._local_year(target))
        elif need.target_us is not None and need.forward:
            self._append_through(max(calendar._local_year(need.target_us), self.last_year + 1))
        elif need.target_us is not None:
            first = calendar._local_year(need.target_us - _EDGE_US)
            self._rebuild(min(first, self.first_year - 1), self.last_year)
        elif need.forward:
            if self.empty_after >= _MAX_EMPTY_YEARS:
                raise _no_working_time(calendar, self.last_year, forward=True)
            self._append_through(self.last_year + 1)
        else:
            if self.empty_before >= _MAX_EMPTY_YEARS:
                raise _no_working_time(calendar, self.first_year, forward=False)
            self._rebuild(self.first_year - 1, self.last_year)

    def _year(self, year: int) -> list[_Opening]:
        if not 1 < year < 9999:
            raise CalendarError(
                Problem(
                    "calendar",
                    year,
                    "cannot tabulate working time in that year",
                    "keep instants between the years 2 and 9998",
                )
            )
        return self.calendar._openings_of_year(year)

    def _append_through(self, last_year: int) -> None:
        for year in range(self.last_year + 1, last_year + 1):
            openings = self._year(year)
            self.raw.append(openings)
            self.empty_after = 0 if openings else self.empty_after + 1
            self._accumulate(openings)
            self.last_year = year
        self.hi = self.calendar._year_start_us(self.last_year + 1)

    def _rebuild(self, first_year: int, last_year: int) -> None:
        """Tabulate ``first_year`` up to the current tables (or to ``last_year`` when empty).

        Earlier years can change how the first days are counted (an overnight shift reaching
        into them), so everything is recomputed; C keeps its value at the old trusted edge, so a
        query that is retried sees the same numbers where the old tables were trusted.
        """
        had_tables = self.last_year >= self.first_year
        anchor = self.lo
        anchor_value = self.c(anchor) if had_tables else 0
        if had_tables:
            self.raw = [self._year(year) for year in range(first_year, self.first_year)] + self.raw
        else:
            self.raw = [self._year(year) for year in range(first_year, last_year + 1)]
            self.last_year = last_year
        self.first_year = first_year
        self.starts, self.ends, self.cum, self.cum_end = [], [], [], []
        self.day_starts, self.day_ends = [], []
        for openings in self.raw:
            self._accumulate(openings)
        self.lo = self.calendar._year_start_us(first_year) + _EDGE_US
        self.hi = self.calendar._year_start_us(self.last_year + 1)
        counts = [bool(openings) for openings in self.raw]
        self.empty_before = counts.index(True) if True in counts else len(counts)
        self.empty_after = counts[::-1].index(True) if True in counts else len(counts)
        if had_tables:
            shift = anchor_value - self.c(anchor)
            if shift:
                self.cum = [value + shift for value in self.cum]
                self.cum_end = [value + shift for value in self.cum_end]
                self.day_starts = [value + shift for value in self.day_starts]
                self.day_ends = [value + shift for value in self.day_ends]

    def _accumulate(self, openings: list[_Opening]) -> None:
        """Append one year's openings, merging periods that touch or overlap.

        Working time that an earlier interval already covers stays with the earlier interval's
        day, so working days never share working time.
        """
        starts, ends, cum, cum_end = self.starts, self.ends, self.cum, self.cum_end
        day_starts, day_ends = self.day_starts, self.day_ends
        current_day = -1
        for day, opened_us, close_us in openings:
            open_us = max(opened_us, ends[-1]) if ends else opened_us
            if close_us <= open_us:
                continue
            total = cum_end[-1] if cum_end else 0
            if day != current_day:
                day_starts.append(total)
                day_ends.append(total)
                current_day = day
            if ends and open_us == ends[-1]:
                ends[-1] = close_us
                cum_end[-1] = total + (close_us - open_us)
            else:
                starts.append(open_us)
                ends.append(close_us)
                cum.append(total)
                cum_end.append(total + (close_us - open_us))
            day_ends[-1] = cum_end[-1]

    # -- queries; each raises _NeedMore when it reaches past the tables --------------------

    def check(self, us: int) -> None:
        if us < self.lo:
            raise _NeedMore(forward=False, target_us=us)
        if us > self.hi:
            raise _NeedMore(forward=True, target_us=us)

    def c(self, us: int) -> int:
        """Working time from the origin to ``us``."""
        if not self.lo <= us <= self.hi:
            self.check(us)
        starts = self.starts
        if not starts:
            return 0
        index = bisect.bisect_right(starts, us) - 1
        if index < 0:
            return self.cum[0]
        return self.cum[index] + min(us, self.ends[index]) - starts[index]

    def first_at(self, target: int) -> int:
        """The earliest instant at which C reaches ``target``."""
        index = bisect.bisect_left(self.cum_end, target)
        if index == len(self.cum_end):
            raise _NeedMore(forward=True)
        return self.starts[index] + max(0, target - self.cum[index])

    def last_at(self, target: int) -> int:
        """The latest instant at which C is still ``target``."""
        index = bisect.bisect_right(self.cum, target) - 1
        if index < 0:
            raise _NeedMore(forward=False)
        moment = self.starts[index] + target - self.cum[index]
        if moment < self.lo:
            raise _NeedMore(forward=False)
        return moment

    def is_open(self, us: int) -> bool:
        self.check(us)
        index = bisect.bisect_right(self.starts, us) - 1
        return index >= 0 and us < self.ends[index]

    def next_open(self, us: int) -> int:
        self.check(us)
        index = bisect.bisect_right(self.starts, us) - 1
        if index >= 0 and us < self.ends[index]:
            return us
        if index + 1 == len(self.starts):
            raise _NeedMore(forward=True)
        return self.starts[index + 1]

    def next_close(self, us: int) -> int:
        self.check(us)
        index = bisect.bisect_right(self.starts, us) - 1
        if not (index >= 0 and us < self.ends[index]):
            index += 1
            if index == len(self.starts):
                raise _NeedMore(forward=True)
        close = self.ends[index]
        if close >= self.hi:
            # The period may go on into intervals of years not tabulated yet.
            if close - max(us, self.starts[index]) > _MAX_EMPTY_YEARS * 366 * _DAY * _US:
                raise CalendarError(
                    Problem(
                        "calendar",
                        self.calendar,
                        f"is open without a break for more than {_MAX_EMPTY_YEARS} years, "
                        "so it has no next closing time",
                        "add closed hours or a holiday, or do not ask an always-open calendar",
                    )
                )
            raise _NeedMore(forward=True, target_us=close + 1)
        return close

    def day_position(self, value: int) -> tuple[int, Fraction]:
        """The working day holding working time ``value``, and the fraction of it done.

        A value where one day ends and the next begins is the start of the next day.
        """
        day = bisect.bisect_right(self.day_starts, value) - 1
        # The first tabulated day may still gain an overnight shift from the year before.
        if day < 1:
            raise _NeedMore(forward=False)
        start, end = self.day_starts[day], self.day_ends[day]
        return day, Fraction(value - start, end - start)

    def shift_whole_days(self, value: int, days: int, *, forward: bool) -> int:
        """``day_position`` then ``day_value`` for a whole number of days, in integers."""
        day_starts = self.day_starts
        day = bisect.bisect_right(day_starts, value) - 1
        target = day + days
        if day < 1 or target < 1:
            raise _NeedMore(forward=False)
        if target >= len(day_starts):
            raise _NeedMore(forward=True)
        start, length = day_starts[day], self.day_ends[day] - day_starts[day]
        target_start = day_starts[target]
        target_length = self.day_ends[target] - target_start
        done = value - start
        if target_length == length:
            return target_start + done
        scaled = done * target_length
        return target_start + (-(-scaled // length) if forward else scaled // length)

    def day_value(self, day: int, done: Fraction, *, forward: bool) -> int:
        """The working time at fraction ``done`` of working day ``day``."""
        if day < 1:
            raise _NeedMore(forward=False)
        if day >= len(self.day_starts):
            raise _NeedMore(forward=True)
        start, end = self.day_starts[day], self.day_ends[day]
        span = done * (end - start)
        return start + (ceil(span) if forward else floor(span))


def _no_working_time(calendar: BusinessCalendar, year: int, *, forward: bool) -> CalendarError:
    direction = "after" if forward else "before"
    return CalendarError(
        Problem(
            "calendar",
            calendar,
            f"has no working time in the {_MAX_EMPTY_YEARS} years {direction} {year}",
            "check its week, holidays and overrides",
        )
    )


# --------------------------------------------------------------------------------------------
# The public value.


class BusinessCalendar:
    """Working hours in a time zone, with holidays, and exact business-time arithmetic.

    >>> from datetime import datetime, timedelta
    >>> from zoneinfo import ZoneInfo
    >>> office = BusinessCalendar(
    ...     tz="Europe/Helsinki",
    ...     week={day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
    ... )
    >>> friday = datetime(2026, 3, 6, 16, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
    >>> office.add(friday, timedelta(hours=4))
    datetime.datetime(2026, 3, 9, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='Europe/Helsinki'))
    >>> office.elapsed(friday, office.add(friday, timedelta(hours=4)))
    datetime.timedelta(seconds=14400)
    """

    __slots__ = (
        "_holiday_cache",
        "_holiday_set",
        "_override_map",
        "_timeline",
        "country",
        "holiday_rules",
        "holidays",
        "overrides",
        "tz",
        "week",
    )

    #: The zone whose wall clock the opening hours follow.
    tz: tzinfo
    #: Opening intervals per weekday, Monday first, in seconds of the local day.
    week: tuple[_Hours, ...]
    #: Single-date holidays, sorted.
    holidays: tuple[date, ...]
    #: Recurring holidays as canonical RFC 5545 text.
    holiday_rules: tuple[str, ...]
    #: Dates whose opening hours replace the week's, sorted.
    overrides: tuple[tuple[date, _Hours], ...]
    #: Country (and subdivision) whose public holidays apply, through the ``holidays`` package.
    country: str | None
    _override_map: dict[date, _Hours]
    _holiday_set: frozenset[date]
    _holiday_cache: dict[int, frozenset[date]]
    _timeline: _Timeline

    def __init__(
        self,
        *,
        tz: str | tzinfo,
        week: WeekInput,
        holidays: Iterable[HolidayInput] = (),
        overrides: Mapping[date | str, Sequence[IntervalInput]] | None = None,
        country: str | None = None,
    ) -> None:
        problems: list[Problem] = []
        country_value: object = country
        zone = _parse_zone(tz, problems)
        hours = _parse_week(week, problems)
        dates, rules = _parse_holidays(holidays, problems)
        parsed_overrides = _parse_overrides(overrides or {}, problems)
        if not isinstance(country_value, (str, type(None))):
            problems.append(
                Problem(
                    "country", country_value, "must be a country code", "write e.g. 'FI' or 'US-CA'"
                )
            )
            country = None
        _check_country(country, problems)
        if not problems and not any(hours) and not any(h for _, h in parsed_overrides):
            problems.append(
                Problem(
                    "week",
                    week,
                    "has no working hours and no override adds any",
                    "give at least one weekday opening hours, e.g. {'mon': [('09:00', '17:00')]}",
                )
            )
        if problems:
            raise CalendarError(*problems)
        set_attribute = object.__setattr__
        set_attribute(self, "tz", zone)
        set_attribute(self, "week", hours)
        set_attribute(self, "holidays", dates)
        set_attribute(self, "holiday_rules", rules)
        set_attribute(self, "overrides", parsed_overrides)
        set_attribute(self, "country", country)
        # Derived lookups and the lazily built tables: caches, not part of the value.
        set_attribute(self, "_override_map", dict(parsed_overrides))
        set_attribute(self, "_holiday_set", frozenset(dates))
        set_attribute(self, "_holiday_cache", {})
        set_attribute(self, "_timeline", _Timeline(self))
        if rules:
            self._check_rules_leave_working_time()

    def _check_rules_leave_working_time(self) -> None:
        """Recurring holidays that cover every day with opening hours leave a calendar with no
        working time at all: checked in the year the last of the rules starts, when they all
        apply (the next 20 years would be searched in vain when counting business time)."""
        year = max(_rule_start(rule).year for rule in self.holiday_rules)
        holidays = self._holidays_of_year(year)
        day, one_day = date(year, 1, 1), timedelta(days=1)
        while day.year == year:
            if self._hours(day, holidays):
                return
            day += one_day
        # Rules without a DTSTART apply alike every year; one with a start applies from then.
        when = "" if year == _RRULE_ANCHOR.year else f" in {year}, when the last of them starts"
        raise CalendarError(
            Problem(
                "holidays",
                [_rule_text(rule) for rule in self.holiday_rules],
                f"leave no working time{when}: every day with opening hours is a holiday",
                "narrow the recurring holidays (a rule such as 'FREQ=DAILY' closes every day)",
            )
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"BusinessCalendar is immutable; build a new one to change {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"BusinessCalendar is immutable; {name!r} cannot be deleted")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_dict, (self.to_dict(),))

    @classmethod
    def always(cls, tz: str | tzinfo = "UTC") -> BusinessCalendar:
        """A calendar that is always open: business time equals real time."""
        return cls(tz=tz, week={day: [("00:00", "24:00")] for day in WEEKDAYS})

    # -- value semantics --------------------------------------------------------------------

    def _key(self) -> tuple[object, ...]:
        return (
            _zone_name(self.tz),
            self.week,
            self.holidays,
            self.holiday_rules,
            self.overrides,
            self.country,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def to_dict(self) -> dict[str, Any]:
        """A plain-data form (strings, lists, dicts) that :meth:`from_dict` reads back."""
        data: dict[str, Any] = {
            "tz": _zone_name(self.tz),
            "week": {
                day: [[_clock(opening), _clock(closing)] for opening, closing in hours]
                for day, hours in zip(WEEKDAYS, self.week, strict=True)
                if hours
            },
        }
        holidays: list[str] = [day.isoformat() for day in self.holidays]
        holidays.extend(_rule_text(rule) for rule in self.holiday_rules)
        if holidays:
            data["holidays"] = holidays
        if self.overrides:
            data["overrides"] = {
                day.isoformat(): [[_clock(o), _clock(c)] for o, c in hours]
                for day, hours in self.overrides
            }
        if self.country is not None:
            data["country"] = self.country
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from the form :meth:`to_dict` writes."""
        if not isinstance(data, Mapping):
            raise CalendarError(
                Problem(
                    "calendar",
                    data,
                    "must be a mapping of settings",
                    "pass e.g. {'tz': 'UTC', 'week': {'mon': ['09:00-17:00']}}",
                )
            )
        known = {"tz", "week", "holidays", "overrides", "country"}
        unknown = [key for key in data if key not in known]
        if unknown:
            raise CalendarError(
                *(
                    Problem(
                        key,
                        data[key],
                        "is not a calendar setting",
                        f"use {', '.join(sorted(known))}{did_you_mean(key, sorted(known))}",
                    )
                    for key in unknown
                )
            )
        if "tz" not in data or "week" not in data:
            missing = [key for key in ("tz", "week") if key not in data]
            raise CalendarError(
                *(Problem(key, None, "is missing", f"add a '{key}' setting") for key in missing)
            )
        return cls(
            tz=data["tz"],
            week=data["week"],
            holidays=data.get("holidays", ()),
            overrides=data.get("overrides"),
            country=data.get("country"),
        )

    # -- what the calendar says about a date ----------------------------------------------

    def hours_on(self, day: date) -> tuple[tuple[time, time | None], ...]:
        """The opening intervals that open on a local date (``None`` closes at midnight)."""
        return tuple(
            (_as_time(opening), None if closing == _DAY else _as_time(closing))
            for opening, closing in self._hours(day, self._holidays_of_year(day.year))
        )

    def _hours(self, day: date, holidays: frozenset[date]) -> _Hours:
        override = self._override_map.get(day)
        if override is not None:
            return override
        if day in holidays:
            return ()
        return self.week[day.weekday()]

    def is_holiday(self, day: date) -> bool:
        """Whether a local date is a holiday (an override on that date still sets its hours)."""
        return day in self._holidays_of_year(day.year)

    def _holidays_of_year(self, year: int) -> frozenset[date]:
        cached = self._holiday_cache.get(year)
        if cached is not None:
            return cached
        days = {day for day in self._holiday_set if day.year == year}
        first, last = datetime(year, 1, 1), datetime(year, 12, 31)
        for text in self.holiday_rules:
            rule = rrulestr(text)
            days.update(moment.date() for moment in rule.between(first, last, inc=True))
        if self.country is not None:
            import holidays as holidays_package

            code, _, subdivision = self.country.partition("-")
            days.update(
                holidays_package.country_holidays(code, subdiv=subdivision or None, years=year)
            )
        result = frozenset(days)
        self._holiday_cache[year] = result
        return result

    def _openings_of_year(self, year: int) -> list[_Opening]:
        """Every working interval that opens in a local year, in UTC microseconds, in order."""
        holidays = self._holidays_of_year(year)
        zone = self.tz
        result: list[_Opening] = []
        day = date(year, 1, 1)
        one_day = timedelta(days=1)
        while day.year == year:
            for opening, closing in self._hours(day, holidays):
                open_at = datetime.combine(day, _as_time(opening), tzinfo=zone)
                if closing == _DAY or closing <= opening:
                    close_at = datetime.combine(
                        day + one_day, _as_time(closing % _DAY), tzinfo=zone
                    )
                else:
                    close_at = datetime.combine(day, _as_time(closing), tzinfo=zone)
                open_us, close_us = _utc_us(open_at), _utc_us(close_at)
                # A wall-clock interval swallowed by a spring-forward gap has no real length.
                if close_us > open_us:
                    result.append((day.toordinal(), open_us, close_us))
            day += one_day
        result.sort(key=lambda opening: (opening[1], opening[2]))
        return result

    def _local_year(self, us: int) -> int:
        """The year of the local date at ``us`` (clamped to datetime's range)."""
        try:
            return from_instant_us(us, self.tz).year
        except (OverflowError, ValueError, OSError):
            return 1 if us < 0 else 9999

    def _year_start_us(self, year: int) -> int:
        """The instant of local midnight on 1 January of ``year``."""
        return _utc_us(datetime(year, 1, 1, tzinfo=self.tz))

    # -- arithmetic ----------------------------------------------------------------------------

    def add(self, start: datetime, amount: timedelta | Duration) -> datetime:
        """The instant ``amount`` of business time after ``start`` (before it, if negative).

        ``amount`` is working time as a ``timedelta`` (real seconds while open), or a
        :class:`~leadsla.Duration`, which says itself whether it counts business hours,
        business days or calendar time. The result is in the calendar's time zone.
        """
        return from_instant_us(self._shift_us(instant_us(start, "start"), amount), self.tz)

    def _shift_us(self, us: int, amount: timedelta | Duration) -> int:
        """:meth:`add` on microseconds since the Unix epoch (for callers that keep instants
        as integers, like the engine's timers)."""
        if type(amount) is timedelta:
            delta = (amount.days * _DAY + amount.seconds) * _US + amount.microseconds
            return self._shift(us, delta)
        if isinstance(amount, Duration):
            if amount.business:
                if amount.unit == "days":
                    return self._business_days_us(us, amount.amount)
                return self._shift(us, span_us(amount.to_timedelta()))
            if amount.unit not in ("days", "weeks"):
                return us + span_us(amount.to_timedelta())
            # Calendar days keep the local wall-clock time; a fraction of a day is real time.
            days = amount.amount * (7 if amount.unit == "weeks" else 1)
            whole = floor(days)
            local = from_instant_us(us, self.tz).replace(tzinfo=None) + timedelta(days=whole)
            moved = _utc_us(local.replace(tzinfo=self.tz))
            return moved + floor((days - whole) * _DAY * _US)
        if isinstance(amount, timedelta):
            return self._shift(us, span_us(amount))
        raise CalendarError(
            Problem(
                "amount",
                amount,
                "must be a timedelta or a Duration",
                "pass e.g. timedelta(hours=4) or Duration.parse('4 business hours')",
            )
        )

    def _shifter(self, amount: timedelta | Duration) -> Callable[[int], int]:
        """:meth:`shift_us` by a fixed ``amount``, with the amount's kind worked out once.

        For callers that shift many instants by the same amount (the engine's deadlines).
        """
        if isinstance(amount, Duration) and amount.business and amount.unit == "days":
            days = amount.amount
            if days.denominator == 1:
                whole = days.numerator
                return lambda us: self._business_days_us(us, whole)
        elif isinstance(amount, Duration) and amount.business:
            delta = span_us(amount.to_timedelta())
            return lambda us: self._shift(us, delta)
        elif isinstance(amount, Duration) and amount.unit not in ("days", "weeks"):
            delta = span_us(amount.to_timedelta())
            return lambda us: us + delta
        elif isinstance(amount, timedelta):
            delta = span_us(amount)
            return lambda us: self._shift(us, delta)
        return lambda us: self._shift_us(us, amount)

    def _shift(self, us: int, delta: int) -> int:
        timeline = self._timeline
        while True:
            try:
                if delta > 0:
                    return timeline.first_at(timeline.c(us) + delta)
                if delta < 0:
                    return timeline.last_at(timeline.c(us) + delta)
                return timeline.next_open(us)
            except _NeedMore as need:
                timeline.extend(need)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time in ``[start, end)``; negative when ``end`` is before ``start``."""
        start_us = instant_us(start, "start")
        end_us = instant_us(end, "end")
        timeline = self._timeline
        while True:
            try:
                value = timeline.c(end_us) - timeline.c(start_us)
            except _NeedMore as need:
                timeline.extend(need)
            else:
                return timedelta(microseconds=value)

    def elapsed_days(self, start: datetime, end: datetime) -> Fraction:
        """Working days from ``start`` to ``end``, the inverse of :meth:`add_business_days`:
        each instant's position is its working day plus the fraction of that day's working
        time already elapsed, and the result is the difference (negative when ``end`` is
        before ``start``). How long a deadline counted in business days took to meet.

        >>> from zoneinfo import ZoneInfo
        >>> weekdays = ("mon", "tue", "wed", "thu", "fri")
        >>> office = BusinessCalendar(
        ...     tz="Europe/Helsinki", week={day: [("09:00", "17:00")] for day in weekdays}
        ... )
        >>> friday_1pm = datetime(2026, 3, 6, 13, tzinfo=ZoneInfo("Europe/Helsinki"))
        >>> office.elapsed_days(friday_1pm, datetime(2026, 3, 10, 9, tzinfo=friday_1pm.tzinfo))
        Fraction(3, 2)
        """
        start_us = instant_us(start, "start")
        end_us = instant_us(end, "end")
        timeline = self._timeline
        while True:
            try:
                first, done_first = timeline.day_position(timeline.c(start_us))
                last, done_last = timeline.day_position(timeline.c(end_us))
            except _NeedMore as need:
                timeline.extend(need)
            else:
                return (last - first) + (done_last - done_first)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` is working time (intervals are half-open: open at opening, closed at
        closing)."""
        return self._run(_is_open, instant_us(at, "at"), 0) == 1

    def next_open(self, at: datetime) -> datetime:
        """The first working instant at or after ``at``: ``at`` itself when open."""
        return from_instant_us(self._run(_next_open, instant_us(at, "at"), 0), self.tz)

    def next_close(self, at: datetime) -> datetime:
        """The end of the working period that holds ``at``, or of the next one when closed."""
        return from_instant_us(self._run(_next_close, instant_us(at, "at"), 0), self.tz)

    def add_business_days(self, start: datetime, days: int | Fraction) -> datetime:
        """The instant ``days`` working days after ``start`` (before it, if negative).

        A working day is a local date with working time; it owns the intervals that open on it.
        The position of ``start`` is its working day plus the fraction of that day's working time
        already elapsed (a closed instant sits at the end of the previous working day); the result
        is the instant at the same fraction of the working day ``days`` later. On a calendar whose
        working days all have the same hours, that is the same wall-clock time, and N business
        days are N times the day's business hours. Fractions of days are allowed.
        """
        us = instant_us(start, "start")
        if not isinstance(days, (int, Fraction)) or isinstance(days, bool):
            raise CalendarError(
                Problem("days", days, "must be an int or a Fraction", "pass e.g. 2")
            )
        return from_instant_us(self._business_days_us(us, days), self.tz)

    def _business_days_us(self, us: int, days: int | Fraction) -> int:
        if isinstance(days, Fraction) and days.denominator == 1:
            days = days.numerator
        timeline = self._timeline
        while True:
            try:
                if days == 0:
                    return timeline.next_open(us)
                forward = days > 0
                if isinstance(days, int):
                    value = timeline.shift_whole_days(timeline.c(us), days, forward=forward)
                else:
                    day, done = timeline.day_position(timeline.c(us))
                    position = day + done + days
                    target_day = floor(position)
                    value = timeline.day_value(target_day, position - target_day, forward=forward)
                return timeline.first_at(value) if forward else timeline.last_at(value)
            except _NeedMore as need:
                timeline.extend(need)

    def _run(self, query: Any, us: int, argument: int) -> int:
        timeline = self._timeline
        while True:
            try:
                result: int = query(timeline, us, argument)
            except _NeedMore as need:
                timeline.extend(need)
            else:
                return result

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.describe()})"

    def describe(self) -> str:
        """A short human description: ``Mon–Fri 09:00–17:00, Europe/Helsinki``."""
        groups: list[tuple[list[str], _Hours]] = []
        for day, hours in zip(WEEKDAYS, self.week, strict=True):
            if not hours:
                continue
            if groups and groups[-1][1] == hours and _follows(groups[-1][0][-1], day):
                groups[-1][0].append(day)
            else:
                groups.append(([day], hours))
        parts = []
        for days, hours in groups:
            label = days[0].title() if len(days) == 1 else f"{days[0].title()}–{days[-1].title()}"
            spans = ", ".join(f"{_clock(o)}–{_clock(c)}" for o, c in hours)
            parts.append(f"{label} {spans}")
        text = "; ".join(parts) or "closed every weekday"
        extras = []
        if self.holidays or self.holiday_rules:
            count = len(self.holidays) + len(self.holiday_rules)
            extras.append(f"{count} holiday{'s' if count != 1 else ''}")
        if self.country:
            extras.append(f"{self.country} public holidays")
        if self.overrides:
            extras.append(
                f"{len(self.overrides)} override{'s' if len(self.overrides) != 1 else ''}"
            )
        suffix = f" ({', '.join(extras)})" if extras else ""
        return f"{text}, {_zone_name(self.tz)}{suffix}"


def _from_dict(data: Mapping[str, Any]) -> BusinessCalendar:
    return BusinessCalendar.from_dict(data)


def _follows(previous: str, day: str) -> bool:
    return WEEKDAYS.index(day) == WEEKDAYS.index(previous) + 1


def _is_open(timeline: _Timeline, us: int, _: int) -> int:
    return 1 if timeline.is_open(us) else 0


def _next_open(timeline: _Timeline, us: int, _: int) -> int:
    return timeline.next_open(us)


def _next_close(timeline: _Timeline, us: int, _: int) -> int:
    return timeline.next_close(us)


def _as_time(seconds: int) -> time:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return time(hours, minutes, secs)


def _zone_name(zone: tzinfo) -> str:
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    return str(zone)


def instant_us(moment: object, field: str = "at") -> int:
    """An aware datetime as microseconds since the epoch: the one conversion leadsla uses to
    put instants in time order (two datetimes of one zone compare by wall clock, which a
    daylight saving change can turn around). A naive or non-datetime value is refused, naming
    ``field``."""
    try:
        # Subtracting an aware epoch fails for naive datetimes and for non-datetimes alike.
        delta = moment - _EPOCH  # type: ignore[operator]
    except TypeError:
        if isinstance(moment, datetime):
            raise NaiveDatetimeError.for_field(field, moment) from None
        raise CalendarError(
            Problem(field, moment, "must be a datetime", "pass a timezone-aware datetime")
        ) from None
    if not isinstance(delta, timedelta):  # a date minus a datetime is refused above; be sure
        raise CalendarError(
            Problem(field, moment, "must be a datetime", "pass a timezone-aware datetime")
        )
    return (delta.days * _DAY + delta.seconds) * _US + delta.microseconds


def from_instant_us(us: int, zone: tzinfo) -> datetime:
    """The instant ``us`` microseconds after the epoch, on ``zone``'s wall clock (exact)."""
    seconds, micro = divmod(us, _US)
    moment = datetime.fromtimestamp(seconds, zone)
    return moment.replace(microsecond=micro) if micro else moment


def span_us(delta: timedelta) -> int:
    """A span of time in whole microseconds."""
    return (delta.days * _DAY + delta.seconds) * _US + delta.microseconds


def shifter(calendar: BusinessCalendar, amount: timedelta | Duration) -> Callable[[int], int]:
    """A function moving an instant (microseconds since the epoch) by ``amount`` of the
    calendar's working time, with the amount's kind worked out once: for callers that shift
    many instants by one amount (the engine's deadlines and warnings)."""
    return calendar._shifter(amount)
