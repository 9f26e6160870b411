"""Business calendars: one example test per rule of docs/explanation/business-time.md, and
the value's behaviour.

Property tests and the naive oracle live in ``test_calendar_properties.py``.
"""

import pickle
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import YEARLY, rrule

from leadsla import BusinessCalendar, CalendarError, Duration, NaiveDatetimeError

HELSINKI = ZoneInfo("Europe/Helsinki")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def at(*parts: int, zone: ZoneInfo = HELSINKI) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[arg-type, misc]


def office(**extra: object) -> BusinessCalendar:
    """Mon–Fri 09:00–17:00 in Helsinki, the default agreement's calendar."""
    return BusinessCalendar(
        tz="Europe/Helsinki",
        week={day: [("09:00", "17:00")] for day in WORKDAYS},
        **extra,  # type: ignore[arg-type]
    )


HOURS = timedelta(hours=1)


# -- opening hours are local wall-clock times; working time is real elapsed time --------------


def test_hours_follow_the_local_wall_clock_across_daylight_saving() -> None:
    """09:00 stays 09:00 local after the clocks change (UTC offset +02:00, then +03:00)."""
    calendar = office()
    assert calendar.next_open(at(2026, 3, 27, 18)) == at(2026, 3, 30, 9)
    assert calendar.next_open(at(2026, 3, 27, 18)).utcoffset() == timedelta(hours=3)


def test_a_clock_change_inside_an_interval_changes_its_real_length() -> None:
    """A 22:00–06:00 night shift lasts 7 real hours on spring-forward night, 9 on fall-back."""
    nights = BusinessCalendar(tz="Europe/Helsinki", week={"sat": [("22:00", "06:00")]})
    spring = nights.elapsed(at(2026, 3, 28, 12), at(2026, 3, 29, 12))
    autumn = nights.elapsed(at(2026, 10, 24, 12), at(2026, 10, 25, 12))
    assert (spring, autumn) == (7 * HOURS, 9 * HOURS)


# -- inputs must be timezone-aware; any offset works --------------------------------------------


def test_any_offset_gives_the_same_instant() -> None:
    """A start in UTC or in +05:00 is converted to the calendar's zone first."""
    calendar = office()
    local = at(2026, 3, 6, 16)
    utc = local.astimezone(UTC)
    plus_five = local.astimezone(timezone(timedelta(hours=5)))
    results = {calendar.add(moment, 4 * HOURS) for moment in (local, utc, plus_five)}
    assert results == {at(2026, 3, 9, 12)}


def test_results_are_in_the_calendars_zone() -> None:
    """A deadline reads in local time, whatever zone the start was in."""
    result = office().add(at(2026, 3, 6, 14).astimezone(UTC), HOURS)
    assert result.tzinfo == HELSINKI
    assert result.hour == 15


@pytest.mark.parametrize("method", ["add", "elapsed", "is_open", "next_open", "next_close"])
def test_naive_datetimes_are_refused(method: str) -> None:
    """A naive datetime raises NaiveDatetimeError naming the argument, the value and the fix."""
    calendar = office()
    naive = datetime(2026, 1, 5, 9, 0)
    call: Callable[[], object] = {
        "add": lambda: calendar.add(naive, HOURS),
        "elapsed": lambda: calendar.elapsed(at(2026, 1, 5, 9), naive),
        "is_open": lambda: calendar.is_open(naive),
        "next_open": lambda: calendar.next_open(naive),
        "next_close": lambda: calendar.next_close(naive),
    }[method]
    with pytest.raises(NaiveDatetimeError) as caught:
        call()
    field = {"add": "start", "elapsed": "end"}.get(method, "at")
    assert str(caught.value).startswith(
        f"'{field}' must be timezone-aware (got 2026-01-05 09:00:00); add a UTC offset"
    )


def test_non_datetime_is_refused() -> None:
    """A date or a string is not an instant."""
    with pytest.raises(CalendarError, match="'start' must be a datetime"):
        office().add(date(2026, 1, 5), HOURS)  # type: ignore[arg-type]


# -- intervals are half-open ---------------------------------------------------------------------


def test_intervals_are_half_open() -> None:
    """Open at the opening instant, closed at the closing instant."""
    calendar = office()
    assert calendar.is_open(at(2026, 3, 2, 9))
    assert calendar.is_open(at(2026, 3, 2, 16, 59, 59, 999999))
    assert not calendar.is_open(at(2026, 3, 2, 17))
    assert not calendar.is_open(at(2026, 3, 2, 8, 59, 59, 999999))


# -- a start outside working time counts from the next opening -----------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (at(2026, 3, 2, 7), at(2026, 3, 2, 11)),  # before opening
        (at(2026, 3, 2, 17), at(2026, 3, 3, 11)),  # exactly at closing
        (at(2026, 3, 2, 20), at(2026, 3, 3, 11)),  # after closing
        (at(2026, 3, 7, 12), at(2026, 3, 9, 11)),  # closed day (Saturday)
        (at(2026, 12, 24, 10), at(2026, 12, 28, 11)),  # holiday (24th and 25th)
    ],
)
def test_a_start_outside_hours_counts_from_the_next_opening(
    start: datetime, expected: datetime
) -> None:
    """Two business hours from a closed instant end two hours after the next opening."""
    calendar = office(holidays=["2026-12-24", "2026-12-25"])
    assert calendar.add(start, 2 * HOURS) == expected


def test_adding_zero_is_the_start_when_open() -> None:
    """``add(start, 0)`` is ``start`` itself during working time."""
    assert office().add(at(2026, 3, 2, 10, 30), timedelta(0)) == at(2026, 3, 2, 10, 30)


def test_adding_zero_is_the_next_opening_when_closed() -> None:
    """``add(start, 0)`` moves a closed start to the next opening."""
    assert office().add(at(2026, 3, 6, 17), timedelta(0)) == at(2026, 3, 9, 9)


# -- a deadline used up at the end of an interval is the closing instant ------------------------


def test_a_deadline_used_up_at_closing_is_the_closing_instant() -> None:
    """Friday 16:00 + 1 business hour is Friday 17:00, not Monday 09:00."""
    assert office().add(at(2026, 3, 6, 16), HOURS) == at(2026, 3, 6, 17)


def test_the_acceptance_example_friday_to_monday() -> None:
    """Friday 16:00 + 4 business hours is Monday 12:00 (the README's example)."""
    assert office().add(at(2026, 3, 6, 16), 4 * HOURS) == at(2026, 3, 9, 12)


# -- gaps between a day's intervals are not working time ---------------------------------------


def test_lunch_is_not_working_time() -> None:
    """With lunch 12:00–13:00, 11:00 + 2 business hours is 14:00."""
    calendar = BusinessCalendar(
        tz="Europe/Helsinki", week={"mon": [("09:00", "12:00"), ("13:00", "17:00")]}
    )
    assert calendar.add(at(2026, 3, 2, 11), 2 * HOURS) == at(2026, 3, 2, 14)
    assert calendar.elapsed(at(2026, 3, 2, 11), at(2026, 3, 2, 14)) == 2 * HOURS
    assert not calendar.is_open(at(2026, 3, 2, 12, 30))
    assert calendar.add(at(2026, 3, 2, 11), HOURS) == at(2026, 3, 2, 12)


# -- overnight intervals, holidays that remove them, and "24:00" ---------------------------------


def test_an_overnight_interval_belongs_to_the_day_it_opens() -> None:
    """A Friday 22:00–06:00 shift is open early on Saturday, and a Saturday has none of its own."""
    nights = BusinessCalendar(tz="Europe/Helsinki", week={"fri": [("22:00", "06:00")]})
    assert nights.is_open(at(2026, 3, 7, 5))
    assert not nights.is_open(at(2026, 3, 7, 23))
    assert nights.elapsed(at(2026, 3, 6, 12), at(2026, 3, 8, 12)) == 8 * HOURS


def test_a_holiday_removes_the_intervals_that_open_on_it() -> None:
    """A holiday on Friday removes the Friday night shift; Thursday's shift into Friday stays."""
    nights = BusinessCalendar(
        tz="Europe/Helsinki",
        week={"thu": [("22:00", "06:00")], "fri": [("22:00", "06:00")]},
        holidays=[date(2026, 3, 6)],
    )
    assert nights.is_open(at(2026, 3, 6, 5))  # Thursday's shift, into the holiday
    assert not nights.is_open(at(2026, 3, 6, 23))  # Friday's own shift is gone
    assert not nights.is_open(at(2026, 3, 7, 5))


def test_2400_is_the_following_midnight() -> None:
    """An interval closing at "24:00" runs to midnight and is open until then."""
    late = BusinessCalendar(tz="Europe/Helsinki", week={"mon": [("18:00", "24:00")]})
    assert late.is_open(at(2026, 3, 2, 23, 59))
    assert late.next_close(at(2026, 3, 2, 19)) == at(2026, 3, 3, 0)
    assert late.elapsed(at(2026, 3, 2), at(2026, 3, 4)) == 6 * HOURS


def test_touching_intervals_form_one_working_period() -> None:
    """Monday 00:00–24:00 and Tuesday 00:00–12:00 do not close at midnight."""
    calendar = BusinessCalendar(
        tz="UTC", week={"mon": [("00:00", "24:00")], "tue": [("00:00", "12:00")]}
    )
    utc = ZoneInfo("UTC")
    assert calendar.next_close(at(2026, 3, 2, 10, zone=utc)) == at(2026, 3, 3, 12, zone=utc)


# -- elapsed -------------------------------------------------------------------------------------


def test_elapsed_counts_working_time_in_the_half_open_range() -> None:
    """From Friday 16:00 to Monday 12:00 is 1 + 3 business hours."""
    assert office().elapsed(at(2026, 3, 6, 16), at(2026, 3, 9, 12)) == 4 * HOURS


def test_elapsed_is_zero_when_closed_throughout() -> None:
    """A weekend holds no working time."""
    assert office().elapsed(at(2026, 3, 7, 9), at(2026, 3, 8, 17)) == timedelta(0)


def test_elapsed_is_antisymmetric() -> None:
    """Swapping the ends negates the result."""
    calendar = office()
    forward = calendar.elapsed(at(2026, 3, 6, 16), at(2026, 3, 9, 12))
    assert calendar.elapsed(at(2026, 3, 9, 12), at(2026, 3, 6, 16)) == -forward


# -- wall-clock times that do not exist move forward by the gap --------------------------------


def test_an_opening_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    """03:30 does not exist in Helsinki on 2026-03-29; a shift opening then opens at 04:30."""
    calendar = BusinessCalendar(tz="Europe/Helsinki", week={"sun": [("03:30", "08:00")]})
    opening = calendar.next_open(at(2026, 3, 29, 0))
    assert opening == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert (opening.hour, opening.minute) == (4, 30)
    assert calendar.elapsed(at(2026, 3, 29, 0), at(2026, 3, 29, 12)) == timedelta(
        hours=3, minutes=30
    )


def test_both_ends_of_an_interval_in_the_gap_move_forward() -> None:
    """03:10–03:50 does not exist on spring-forward day; it becomes 04:10–04:50."""
    calendar = BusinessCalendar(
        tz="Europe/Helsinki", week={"sun": [("03:10", "03:50")], "mon": [("09:00", "10:00")]}
    )
    assert calendar.next_open(at(2026, 3, 29, 0)) == at(2026, 3, 29, 4, 10)
    assert calendar.next_close(at(2026, 3, 29, 0)) == at(2026, 3, 29, 4, 50)


def test_an_interval_swallowed_by_the_gap_has_no_length() -> None:
    """03:30–04:10: the opening moves to 04:30, after the closing, so no working time is left."""
    calendar = BusinessCalendar(
        tz="Europe/Helsinki", week={"sun": [("03:30", "04:10")], "mon": [("09:00", "10:00")]}
    )
    assert calendar.elapsed(at(2026, 3, 29, 0), at(2026, 3, 29, 12)) == timedelta(0)
    assert calendar.elapsed(at(2026, 3, 22, 0), at(2026, 3, 22, 12)) == timedelta(minutes=40)


# -- negative amounts walk backwards with the mirror rules --------------------------------------


def test_negative_amounts_walk_backwards() -> None:
    """Monday 10:00 − 2 business hours is Friday 16:00."""
    assert office().add(at(2026, 3, 9, 10), -2 * HOURS) == at(2026, 3, 6, 16)


def test_a_backward_start_outside_hours_counts_from_the_previous_closing() -> None:
    """Saturday noon − 1 business hour is Friday 16:00."""
    assert office().add(at(2026, 3, 7, 12), -HOURS) == at(2026, 3, 6, 16)


def test_a_backward_result_at_an_opening_is_that_opening() -> None:
    """Monday 10:00 − 1 business hour is Monday 09:00, not Friday 17:00."""
    assert office().add(at(2026, 3, 9, 10), -HOURS) == at(2026, 3, 9, 9)


# -- long spans, far dates ---------------------------------------------------------------------


def test_long_spans_round_trip() -> None:
    """4 000 business hours forward and back land where they started."""
    calendar = office()
    start = at(2026, 3, 6, 16)
    later = calendar.add(start, 4000 * HOURS)
    assert calendar.elapsed(start, later) == 4000 * HOURS
    assert calendar.add(later, -4000 * HOURS) == start


def test_queries_far_apart_share_one_calendar() -> None:
    """A calendar answers for 1990 and 2090 alike, in any order."""
    calendar = office()
    assert calendar.add(at(2090, 3, 3, 16), HOURS) == at(2090, 3, 3, 17)
    assert calendar.add(at(1990, 3, 2, 16), 2 * HOURS) == at(1990, 3, 5, 10)
    span = calendar.elapsed(at(1990, 1, 1), at(2090, 1, 1))
    assert span == calendar.elapsed(at(1990, 1, 1), at(2040, 1, 1)) + calendar.elapsed(
        at(2040, 1, 1), at(2090, 1, 1)
    )


# -- holidays, overrides, country calendars ---------------------------------------------------


def test_overrides_replace_one_dates_hours() -> None:
    """A half day on Christmas Eve: 12:00 + 2 business hours is the next working day 10:00."""
    calendar = office(overrides={"2026-12-24": [("09:00", "13:00")]})
    assert calendar.add(at(2026, 12, 24, 12), 2 * HOURS) == at(2026, 12, 25, 10)
    assert calendar.hours_on(date(2026, 12, 24)) == ((time(9), time(13)),)


def test_an_override_beats_a_holiday_and_can_open_a_weekend() -> None:
    """Overrides are the most specific setting: they open a Saturday or a holiday."""
    calendar = office(
        holidays=["2026-03-02"],
        overrides={"2026-03-02": [("10:00", "12:00")], "2026-03-07": [("10:00", "11:00")]},
    )
    assert calendar.is_open(at(2026, 3, 2, 11))
    assert calendar.is_open(at(2026, 3, 7, 10, 30))


def test_an_empty_override_closes_a_date() -> None:
    """An override with no intervals closes a working day."""
    calendar = office(overrides={date(2026, 3, 3): []})
    assert calendar.add(at(2026, 3, 2, 16), 2 * HOURS) == at(2026, 3, 4, 10)


def test_recurring_holidays_as_rrule_text() -> None:
    """An RFC 5545 rule repeats every year: Christmas Day."""
    calendar = office(holidays=["FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25"])
    assert calendar.is_holiday(date(2026, 12, 25))
    assert calendar.is_holiday(date(2031, 12, 25))
    assert not calendar.is_open(at(2026, 12, 25, 10))


def test_recurring_holidays_relative_to_easter() -> None:
    """BYEASTER=-2 is Good Friday: 2026-04-03 and 2027-03-26."""
    calendar = office(holidays=["RRULE:FREQ=YEARLY;BYEASTER=-2"])
    assert calendar.is_holiday(date(2026, 4, 3))
    assert calendar.is_holiday(date(2027, 3, 26))
    assert not calendar.is_holiday(date(2026, 4, 2))


def test_recurring_holidays_as_rrule_objects() -> None:
    """A dateutil rrule works too and is stored as its RFC 5545 text."""
    may_day = rrule(YEARLY, bymonth=5, bymonthday=1, dtstart=datetime(2000, 1, 1))
    calendar = office(holidays=[may_day])
    assert calendar.is_holiday(date(2026, 5, 1))
    assert calendar == office(
        holidays=["DTSTART:20000101T000000\nRRULE:FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=1"]
    )


def test_country_holidays_come_from_the_holidays_package() -> None:
    """``country='FI'`` closes Finnish public holidays: May Day 2026 is a Friday."""
    calendar = office(country="FI")
    assert calendar.is_holiday(date(2026, 5, 1))
    assert calendar.add(at(2026, 4, 30, 16), 2 * HOURS) == at(2026, 5, 4, 10)


# -- business days --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (at(2026, 3, 3, 15), 1, at(2026, 3, 4, 15)),  # Tuesday 15:00 -> Wednesday 15:00
        (at(2026, 3, 6, 15), 1, at(2026, 3, 9, 15)),  # Friday 15:00 -> Monday 15:00
        (at(2026, 12, 23, 15), 1, at(2026, 12, 28, 15)),  # the 24th and 25th are skipped
        (at(2026, 3, 3, 15), 5, at(2026, 3, 10, 15)),
        (at(2026, 3, 3, 20), 1, at(2026, 3, 4, 17)),  # closed: from the end of Tuesday
        (at(2026, 3, 3, 9), 1, at(2026, 3, 3, 17)),  # from the opening: to the day's end
        (at(2026, 3, 3, 9), Fraction(1, 2), at(2026, 3, 3, 13)),
        (at(2026, 3, 4, 15), -1, at(2026, 3, 3, 15)),
        (at(2026, 3, 4, 9), -1, at(2026, 3, 3, 9)),  # a result at an opening is that opening
        (at(2026, 3, 7, 12), -1, at(2026, 3, 6, 9)),
    ],
)
def test_business_days(start: datetime, days: int | Fraction, expected: datetime) -> None:
    """N business days keep the position within the working day (see the docs' definition)."""
    calendar = office(holidays=["2026-12-24", "2026-12-25"])
    assert calendar.add_business_days(start, days) == expected
    assert calendar.add(start, Duration(days, "days", business=True)) == expected


def test_business_days_equal_eight_hours_on_the_office_calendar() -> None:
    """On a calendar of equal 8-hour days, one business day is 8 business hours."""
    calendar = office()
    for hour in range(6, 20):
        start = at(2026, 3, 3, hour)
        assert calendar.add_business_days(start, 1) == calendar.add(start, 8 * HOURS)


def test_business_days_on_a_short_day_keep_the_fraction() -> None:
    """Thursday 15:00 (6/8 of the day) + 1 business day on a 09:00–13:00 Friday is 12:00."""
    calendar = office(overrides={"2026-03-06": [("09:00", "13:00")]})
    assert calendar.add_business_days(at(2026, 3, 5, 15), 1) == at(2026, 3, 6, 12)


def test_zero_business_days_is_the_next_opening() -> None:
    """Like ``add(start, 0)``: the start when open, else the next opening."""
    calendar = office()
    assert calendar.add_business_days(at(2026, 3, 7, 12), 0) == at(2026, 3, 9, 9)


# -- calendar-time durations -------------------------------------------------------------------


def test_calendar_days_keep_the_wall_clock_time() -> None:
    """30 days from 10:00 before the clocks change is 10:00 after it (29 days 23 real hours)."""
    calendar = office()
    result = calendar.add(at(2026, 3, 10, 10), Duration(30, "days"))
    assert result == at(2026, 4, 9, 10)
    real = result.astimezone(UTC) - at(2026, 3, 10, 10).astimezone(UTC)
    assert real == timedelta(days=29, hours=23)


def test_calendar_hours_are_real_time() -> None:
    """24 hours across the spring-forward night end at 13:00 local, not 12:00."""
    calendar = office()
    assert calendar.add(at(2026, 3, 28, 12), Duration(24, "hours")) == at(2026, 3, 29, 13)


def test_business_hours_as_a_duration() -> None:
    """A Duration in business hours is the same as the timedelta."""
    calendar = office()
    assert calendar.add(at(2026, 3, 6, 16), Duration.parse("4 business hours")) == at(
        2026, 3, 9, 12
    )


# -- next_open / next_close ------------------------------------------------------------------------


def test_next_open_and_next_close() -> None:
    """next_open is the start itself when open; next_close is the end of the current period."""
    calendar = office()
    assert calendar.next_open(at(2026, 3, 6, 16)) == at(2026, 3, 6, 16)
    assert calendar.next_close(at(2026, 3, 6, 16)) == at(2026, 3, 6, 17)
    assert calendar.next_close(at(2026, 3, 6, 17)) == at(2026, 3, 9, 17)
    assert calendar.next_open(at(2026, 3, 6, 17)) == at(2026, 3, 9, 9)


def test_an_always_open_calendar_is_real_time() -> None:
    """``BusinessCalendar.always()`` counts every second, and has no closing time."""
    calendar = BusinessCalendar.always("Europe/Helsinki")
    start = at(2026, 3, 28, 12)
    assert calendar.add(start, 24 * HOURS) == at(2026, 3, 29, 13)
    with pytest.raises(CalendarError, match="has no next closing time"):
        calendar.next_close(start)


# -- value semantics ------------------------------------------------------------------------------


def test_equality_and_hash_are_by_content() -> None:
    """Two calendars built alike are equal and hash alike, however the input was spelled."""
    one = office(holidays=["2026-12-24"])
    two = BusinessCalendar(
        tz=ZoneInfo("Europe/Helsinki"),
        week={
            "friday": ["09:00-17:00"],
            "mon": [(time(9), time(17))],
            "tue": [("09:00", "17:00")],
            "wed": [("9:00", "17:00")],
            "thu": [("09:00", "17:00")],
        },
        holidays=[date(2026, 12, 24)],
    )
    assert one == two
    assert hash(one) == hash(two)
    assert one != office()


def test_to_dict_round_trips() -> None:
    """``from_dict(to_dict())`` gives an equal calendar."""
    calendar = office(
        holidays=["2026-12-24", "FREQ=YEARLY;BYEASTER=-2"],
        overrides={"2026-12-23": [("09:00", "12:00")]},
        country="FI",
    )
    assert BusinessCalendar.from_dict(calendar.to_dict()) == calendar


def test_pickles() -> None:
    """A calendar pickles (for multiprocessing) and comes back equal and working."""
    calendar = office()
    clone = pickle.loads(pickle.dumps(calendar))
    assert clone == calendar
    assert clone.add(at(2026, 3, 6, 16), 4 * HOURS) == at(2026, 3, 9, 12)


def test_is_immutable() -> None:
    """Attributes cannot be reassigned."""
    calendar = office()
    with pytest.raises(AttributeError, match="immutable"):
        calendar.tz = ZoneInfo("UTC")


def test_describe() -> None:
    """A one-line description groups weekdays with the same hours."""
    calendar = BusinessCalendar(
        tz="Europe/Helsinki",
        week={
            "mon": [("09:00", "17:00")],
            "tue": [("09:00", "17:00")],
            "sat": [("10:00", "14:00")],
        },
        holidays=["2026-12-24"],
    )
    assert (
        calendar.describe() == "Mon–Tue 09:00–17:00; Sat 10:00–14:00, Europe/Helsinki (1 holiday)"
    )


# -- bad calendars ------------------------------------------------------------------------------


def test_every_problem_is_listed_at_once() -> None:
    """A calendar with several mistakes lists them all, each with field, value and fix."""
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar(
            tz="Europe/Helsinky",
            week={
                "mon": [("9am", "17:00")],
                "funday": [],
                "tue": [("09:00", "13:00"), ("12:00", "17:00")],
            },
            holidays=["2026-02-30"],
        )
    fields = [problem.field for problem in caught.value.problems]
    assert fields == ["tz", "week.mon[0]", "week.funday", "week.tue", "holidays[0]"]
    message = str(caught.value)
    assert message.startswith("5 problems:")
    assert "'tz' is not a known time zone (got 'Europe/Helsinky'); use an IANA name" in message
    assert "'week.mon[0]' is not a time of day (got '9am'); write 'HH:MM'" in message
    assert "'week.funday' is not a weekday (got 'funday'); use one of mon, tue" in message
    assert "overlapping intervals 09:00-13:00 and 12:00-17:00" in message
    assert "'holidays[0]' is not a date (got '2026-02-30')" in message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"week": {}}, "'week' has no working hours and no override adds any"),
        (
            {"week": {"mon": [("09:00", "25:00")]}},
            "'week.mon[0]' is not a time of day (got '25:00')",
        ),
        (
            {"week": {"mon": [("24:00", "17:00")]}},
            "'week.mon[0]' is not a time of day (got '24:00')",
        ),
        ({"week": {"mon": ["09:00"]}}, "'week.mon[0]' is not an opening interval"),
        ({"week": {"mon": "09:00-17:00"}}, "'week.mon' must be a list of opening intervals"),
        (
            {"week": {"mon": [("09:00", "17:00")]}, "holidays": "2026-12-24"},
            "'holidays' must be a list",
        ),
        (
            {"week": {"mon": [("09:00", "17:00")]}, "holidays": ["FREQ=YEARLY;BYMONT=3"]},
            "'holidays[0]' is not a recurrence rule (unknown parameter 'BYMONT')",
        ),
        (
            {"week": {"mon": [("09:00", "17:00")]}, "overrides": {"2026-13-01": []}},
            "'overrides.2026-13-01' is not a date",
        ),
        (
            {"week": {"mon": [("09:00", "17:00")]}, "country": "XX"},
            "'country' is not a country the 'holidays' package knows (got 'XX')",
        ),
        (
            {"week": {"mon": [("09:00", "17:00")]}, "country": "US-XX"},
            "'country' names an unknown subdivision of US (got 'US-XX')",
        ),
    ],
)
def test_bad_calendar_messages(arguments: dict[str, object], message: str) -> None:
    """Each kind of mistake has its own clear message."""
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar(tz="UTC", **arguments)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_from_dict_names_unknown_keys() -> None:
    """A typo in a calendar setting gets a "did you mean"."""
    with pytest.raises(
        CalendarError, match=r"'holiday' is not a calendar setting.*did you mean 'holidays'"
    ):
        BusinessCalendar.from_dict({"tz": "UTC", "week": {"mon": ["09:00-17:00"]}, "holiday": []})


def test_a_calendar_without_working_time_in_reach_says_so() -> None:
    """Past its last override, a calendar open only on overrides stops its search with an error."""
    calendar = BusinessCalendar(tz="UTC", week={}, overrides={"2026-03-02": ["09:00-17:00"]})
    with pytest.raises(CalendarError, match="has no working time in the 20 years after"):
        calendar.add(at(2026, 3, 2, 10, zone=ZoneInfo("UTC")), 8 * HOURS)


@pytest.mark.parametrize(
    ("week", "rule", "when"),
    [
        ({"mon": ["09:00-17:00"]}, "FREQ=DAILY", ""),
        ({"mon": ["09:00-17:00"]}, "FREQ=WEEKLY;BYDAY=MO", ""),
        (
            {"tue": ["09:00-17:00"]},
            "DTSTART:20250101T000000\nRRULE:FREQ=DAILY",
            " in 2025, when the last of them starts",
        ),
    ],
)
def test_holidays_that_close_every_working_day_are_refused(
    week: dict[str, list[str]], rule: str, when: str
) -> None:
    """Recurring holidays covering every day with hours leave no working time: refused at once."""
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar(tz="UTC", week=week, holidays=[rule])
    assert str(caught.value) == (
        f"'holidays' leave no working time{when}: every day with opening hours is a holiday "
        f"(got [{rule!r}]); narrow the recurring holidays (a rule such as 'FREQ=DAILY' closes "
        "every day)"
    )


def test_holidays_that_spare_one_working_day_are_kept() -> None:
    """Rules that close every Monday but one weekday open leave working time: accepted."""
    calendar = BusinessCalendar(
        tz="UTC",
        week={"mon": ["09:00-17:00"], "tue": ["09:00-17:00"]},
        holidays=["FREQ=WEEKLY;BYDAY=MO"],
    )
    assert calendar.is_open(at(2026, 3, 3, 10, zone=ZoneInfo("UTC")))


def test_a_misspelt_time_zone_gets_a_did_you_mean() -> None:
    """The closest IANA name is suggested for a typo."""
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar(tz="Europe/Helsinky", week={"mon": ["09:00-17:00"]})
    assert caught.value.fix.endswith("(did you mean 'Europe/Helsinki'?)")


def test_from_dict_refuses_what_is_not_a_mapping() -> None:
    """A list or text in place of the settings is a CalendarError, not a crash."""
    with pytest.raises(CalendarError, match=r"'calendar' must be a mapping of settings"):
        BusinessCalendar.from_dict(["tz", "UTC"])  # type: ignore[arg-type]
