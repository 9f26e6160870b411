"""Business-time algebra on random calendars, and agreement with a naive minute-stepping oracle.

The random calendars (``leadsla.testing.calendar_specs``) have lunch breaks, overnight shifts,
"24:00", holidays and overrides, in zones with daylight saving at 03:00 and at midnight,
half-hour and 45-minute offsets and a 30-minute daylight-saving shift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction
from functools import cache
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from leadsla import BusinessCalendar
from leadsla.testing import aware_datetimes, calendar_specs, calendars

MINUTE = timedelta(minutes=1)


def utc(moment: datetime) -> datetime:
    """Compare instants in UTC: Python compares a fold=1 datetime unequal to every other zone,
    and compares same-zone datetimes by wall clock, ignoring fold (PEP 495)."""
    return moment.astimezone(UTC)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class NaiveCalendar:
    """The oracle: asks minute by minute whether some interval holds the minute.

    Built from the same keyword arguments as BusinessCalendar, independently of its code: each
    local date's intervals are turned into UTC instants with ``datetime.combine`` (PEP 495,
    fold=0), and a minute is working time when an interval that opened on that date, the day
    before or the day before that holds it. Slow on purpose, and obviously right.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.zone: tzinfo = spec["tz"]
        self.week: Mapping[str, Sequence[tuple[str, str]]] = spec["week"]
        self.holidays = set(spec.get("holidays", ()))
        self.overrides: Mapping[date, Sequence[tuple[str, str]]] = spec.get("overrides", {})
        self.intervals = cache(self._intervals)

    def _hours(self, day: date) -> Sequence[tuple[str, str]]:
        if day in self.overrides:
            return self.overrides[day]
        if day in self.holidays:
            return []
        return self.week.get(WEEKDAYS[day.weekday()], [])

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        result = []
        for opening, closing in self._hours(day):
            overnight = closing == "24:00" or closing <= opening
            close_day = day + timedelta(days=1) if overnight else day
            close_clock = time(0) if closing == "24:00" else time.fromisoformat(closing)
            open_at = datetime.combine(day, time.fromisoformat(opening), tzinfo=self.zone)
            close_at = datetime.combine(close_day, close_clock, tzinfo=self.zone)
            result.append((open_at.astimezone(UTC), close_at.astimezone(UTC)))
        return result

    def owner(self, minute: datetime) -> date | None:
        """The date whose interval holds the minute (the earliest opening wins), or None."""
        today = minute.astimezone(self.zone).date()
        holders = [
            (opened, day)
            for day in (today - timedelta(days=2), today - timedelta(days=1), today)
            for opened, closed in self.intervals(day)
            if opened <= minute < closed
        ]
        return min(holders)[1] if holders else None

    def is_open(self, minute: datetime) -> bool:
        return self.owner(minute) is not None

    def add(self, start: datetime, minutes: int) -> datetime:
        moment = start.astimezone(UTC)
        if minutes == 0:
            while not self.is_open(moment):
                moment += MINUTE
            return moment
        counted = 0
        if minutes > 0:
            while counted < minutes:
                counted += self.is_open(moment)
                moment += MINUTE
            return moment
        while counted < -minutes:
            moment -= MINUTE
            counted += self.is_open(moment)
        return moment

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        low, high = sorted((start.astimezone(UTC), end.astimezone(UTC)))
        minutes = 0
        while low < high:
            minutes += self.is_open(low)
            low += MINUTE
        return minutes * MINUTE if start <= end else -minutes * MINUTE

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """N > 0 working days on; a working day owns the minutes of the intervals opening on it."""
        moment = start.astimezone(UTC)
        owners: list[tuple[datetime, date]] = []  # open minutes in order, with their owner day
        days_after_start: set[date] = set()
        cursor = moment - timedelta(days=3)
        while len(days_after_start) < days + 2:
            owner = self.owner(cursor)
            if owner is not None:
                owners.append((cursor, owner))
                if cursor >= moment:
                    days_after_start.add(owner)
            cursor += MINUTE
        order = list(dict.fromkeys(day for _, day in owners))
        length = Counter(day for _, day in owners)
        # The working day of the start: the owner of the first open minute at or after it.
        first = next(day for minute, day in owners if minute >= moment)
        done = Fraction(
            sum(1 for minute, d in owners if d == first and minute < moment), length[first]
        )
        target_day = order[order.index(first) + days]
        into = done * length[target_day] * 60_000_000  # microseconds into the target day
        target_minutes = [minute for minute, d in owners if d == target_day]
        if into == 0:
            previous = order[order.index(target_day) - 1]
            return max(minute for minute, d in owners if d == previous) + MINUTE
        whole, rest = divmod(-(-into // 1), 60_000_000)  # round up to the microsecond
        if rest == 0:
            return target_minutes[int(whole) - 1] + MINUTE
        return target_minutes[int(whole)] + timedelta(microseconds=int(rest))


@st.composite
def calendar_cases(draw: st.DrawFn) -> tuple[BusinessCalendar, NaiveCalendar, datetime]:
    spec = draw(calendar_specs(years=(2026, 2026)))
    start = draw(
        aware_datetimes(start=datetime(2026, 1, 5), end=datetime(2026, 12, 20), minute_aligned=True)
    )
    return BusinessCalendar(**spec), NaiveCalendar(spec), start


# -- the algebra -----------------------------------------------------------------------------------

durations = st.integers(0, 3000 * 60).map(
    lambda minutes: timedelta(minutes=minutes)
) | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=200))


@given(calendar=calendars(), start=aware_datetimes(), amount=durations)
def test_elapsed_undoes_add(calendar: BusinessCalendar, start: datetime, amount: timedelta) -> None:
    """``elapsed(s, add(s, d)) == d`` for d ≥ 0."""
    assert calendar.elapsed(start, calendar.add(start, amount)) == amount


@given(calendar=calendars(), start=aware_datetimes(), amount=durations)
def test_elapsed_undoes_add_backwards(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    """``elapsed(add(s, -d), s) == d`` for d ≥ 0."""
    assert calendar.elapsed(calendar.add(start, -amount), start) == amount


@given(calendar=calendars(), start=aware_datetimes(), first=durations, second=durations)
def test_add_composes(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    """``add(add(s, a), b) == add(s, a + b)`` for a ≥ 0 and b > 0."""
    assume(second > timedelta(0))
    assert utc(calendar.add(calendar.add(start, first), second)) == utc(
        calendar.add(start, first + second)
    )


@given(calendar=calendars(), start=aware_datetimes(), first=durations, second=durations)
def test_add_is_monotonic_in_the_amount(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    """A larger amount never gives an earlier deadline."""
    low, high = sorted((first, second))
    assert utc(calendar.add(start, low)) <= utc(calendar.add(start, high))


@given(calendar=calendars(), one=aware_datetimes(), other=aware_datetimes(), amount=durations)
def test_add_is_monotonic_in_the_start(
    calendar: BusinessCalendar, one: datetime, other: datetime, amount: timedelta
) -> None:
    """A later start never gives an earlier deadline."""
    early, late = sorted((one, other))
    assert utc(calendar.add(early, amount)) <= utc(calendar.add(late, amount))


@given(calendar=calendars(), one=aware_datetimes(), other=aware_datetimes())
def test_elapsed_is_antisymmetric(
    calendar: BusinessCalendar, one: datetime, other: datetime
) -> None:
    """``elapsed(b, a) == -elapsed(a, b)``."""
    assert calendar.elapsed(other, one) == -calendar.elapsed(one, other)


@given(
    calendar=calendars(), one=aware_datetimes(), middle=aware_datetimes(), other=aware_datetimes()
)
def test_elapsed_adds_up(
    calendar: BusinessCalendar, one: datetime, middle: datetime, other: datetime
) -> None:
    """``elapsed(a, b) + elapsed(b, c) == elapsed(a, c)``."""
    assert calendar.elapsed(one, middle) + calendar.elapsed(middle, other) == calendar.elapsed(
        one, other
    )


@given(calendar=calendars(), start=aware_datetimes())
def test_next_open_and_close_bracket_a_working_period(
    calendar: BusinessCalendar, start: datetime
) -> None:
    """next_open is open, just before next_close is open, next_close is closed or reopens later."""
    opening = utc(calendar.next_open(start))
    closing = utc(calendar.next_close(start))
    assert opening >= start
    assert calendar.is_open(opening)
    assert closing > start
    assert calendar.is_open(closing - timedelta(microseconds=1))
    assert not calendar.is_open(closing)
    assert calendar.is_open(start) == (opening == utc(start))


@st.composite
def equal_day_calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Calendars whose working days all have the same hours (holidays allowed, no overrides)."""
    spec = draw(calendar_specs())
    hours = next((hours for hours in spec["week"].values() if hours), [("09:00", "17:00")])
    days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1))
    # Overnight shifts would overlap the next day's hours and shorten it: keep them same-day.
    assume(all(closing == "24:00" or closing > opening for opening, closing in hours))
    return BusinessCalendar(
        tz=spec["tz"], week=dict.fromkeys(days, hours), holidays=spec["holidays"]
    )


@given(
    calendar=equal_day_calendars(),
    start=aware_datetimes(),
    first=st.integers(0, 15),
    second=st.integers(1, 15),
)
def test_business_days_compose_on_equal_days(
    calendar: BusinessCalendar, start: datetime, first: int, second: int
) -> None:
    """With every working day the same length, N + M business days are N then M."""
    two_steps = calendar.add_business_days(calendar.add_business_days(start, first), second)
    assert utc(two_steps) == utc(calendar.add_business_days(start, first + second))


@given(calendar=equal_day_calendars(), start=aware_datetimes(), days=st.integers(1, 20))
def test_business_days_walk_back_on_equal_days(
    calendar: BusinessCalendar, start: datetime, days: int
) -> None:
    """N business days on and N back return to the start's working-time position."""
    there = calendar.add_business_days(start, days)
    back = calendar.add_business_days(there, -days)
    assert calendar.elapsed(back, start) == timedelta(0)


@given(
    calendar=calendars(),
    start=aware_datetimes(),
    days=st.integers(-20, 20),
    quarters=st.integers(0, 3),
)
def test_elapsed_days_undo_adding_business_days(
    calendar: BusinessCalendar, start: datetime, days: int, quarters: int
) -> None:
    """From an instant in working time, N (and a quarter, a half...) business days on are N
    working days away by elapsed_days: one is the other's inverse, up to the microsecond
    add_business_days rounds its instant to (a millionth of a day is far more)."""
    opened = calendar.next_open(start)
    amount = Fraction(days) + Fraction(quarters, 4)
    there = calendar.add_business_days(opened, amount)
    assert abs(calendar.elapsed_days(opened, there) - amount) < Fraction(1, 10**6)
    assert calendar.elapsed_days(there, opened) == -calendar.elapsed_days(opened, there)


@given(calendar=calendars(), start=aware_datetimes(), days=st.integers(-20, 20))
def test_business_days_move_whole_days(
    calendar: BusinessCalendar, start: datetime, days: int
) -> None:
    """N business days on, the result lies N working days away: between N-1 and N+1 days' worth."""
    result = calendar.add_business_days(start, days)
    result, start = utc(result), utc(start)
    assert (result >= start) if days >= 0 else (result <= start)
    if days:
        one_day_less = utc(calendar.add_business_days(start, days - 1 if days > 0 else days + 1))
        assert (result >= one_day_less) if days > 0 else (result <= one_day_less)


# -- the oracle ------------------------------------------------------------------------------------


@given(case=calendar_cases(), minutes=st.integers(-4000, 4000))
def test_add_matches_the_oracle(
    case: tuple[BusinessCalendar, NaiveCalendar, datetime], minutes: int
) -> None:
    """``add`` agrees with stepping minute by minute, forwards and backwards."""
    calendar, oracle, start = case
    assert utc(calendar.add(start, minutes * MINUTE)) == oracle.add(start, minutes)


@given(case=calendar_cases(), minutes=st.integers(-6000, 6000))
def test_elapsed_matches_the_oracle(
    case: tuple[BusinessCalendar, NaiveCalendar, datetime], minutes: int
) -> None:
    """``elapsed`` agrees with counting open minutes."""
    calendar, oracle, start = case
    end = start + minutes * MINUTE
    assert calendar.elapsed(start, end) == oracle.elapsed(start, end)


@given(case=calendar_cases(), hours=st.integers(0, 60))
def test_deadlines_ending_at_a_closing_match_the_oracle(
    case: tuple[BusinessCalendar, NaiveCalendar, datetime], hours: int
) -> None:
    """An amount used up exactly at a closing ends at that closing instant, as stepping says."""
    calendar, oracle, start = case
    closing = calendar.next_close(start + timedelta(hours=hours))
    minutes = oracle.elapsed(start, closing) // MINUTE
    assume(minutes > 0)
    assert utc(calendar.add(start, minutes * MINUTE)) == oracle.add(start, minutes) == utc(closing)


@given(case=calendar_cases())
def test_is_open_matches_the_oracle(case: tuple[BusinessCalendar, NaiveCalendar, datetime]) -> None:
    """``is_open`` agrees with the oracle at the start and around it."""
    calendar, oracle, start = case
    for offset in range(-90, 91, 15):
        moment = start + offset * MINUTE
        assert calendar.is_open(moment) == oracle.is_open(moment.astimezone(UTC))


@given(case=calendar_cases(), days=st.integers(1, 4))
def test_business_days_match_the_oracle(
    case: tuple[BusinessCalendar, NaiveCalendar, datetime], days: int
) -> None:
    """``add_business_days`` agrees with counting working days minute by minute."""
    calendar, oracle, start = case
    assert utc(calendar.add_business_days(start, days)) == oracle.add_business_days(start, days)


@pytest.mark.slow
@settings(max_examples=400)
@given(case=calendar_cases(), minutes=st.integers(-20000, 20000))
def test_add_matches_the_oracle_over_long_spans(
    case: tuple[BusinessCalendar, NaiveCalendar, datetime], minutes: int
) -> None:
    """The oracle comparison again, with spans of up to two weeks of working time."""
    calendar, oracle, start = case
    assert utc(calendar.add(start, minutes * MINUTE)) == oracle.add(start, minutes)
