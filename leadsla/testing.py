"""Hypothesis strategies for testing code that uses leadsla.

Needs the ``hypothesis`` package (``pip install 'leadsla[test]'``).

>>> from hypothesis import given
>>> from leadsla.testing import calendars
>>> @given(calendars())
... def test_my_deadline_rule(calendar): ...
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "leadsla.testing needs Hypothesis; install it with: pip install 'leadsla[test]'"
    ) from error

from leadsla._calendar import WEEKDAYS, BusinessCalendar

__all__ = ["aware_datetimes", "calendar_specs", "calendars", "interesting_zones"]

#: Zones that exercise the calendar: daylight saving at 03:00 and at midnight, half-hour and
#: 45-minute offsets, a 30-minute daylight-saving shift, the southern hemisphere, and UTC.
INTERESTING_ZONES: tuple[str, ...] = (
    "UTC",
    "Europe/Helsinki",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
)


def interesting_zones() -> st.SearchStrategy[ZoneInfo]:
    """Time zones with awkward offsets and daylight-saving rules."""
    return st.sampled_from(INTERESTING_ZONES).map(ZoneInfo)


def _clock(minutes: int) -> str:
    return "24:00" if minutes == 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def _day_hours(draw: st.DrawFn, *, step: int) -> list[tuple[str, str]]:
    """0-3 non-overlapping intervals in one day; the last may run past midnight."""
    slots = 1440 // step
    count = draw(st.integers(0, 3))
    points = sorted(
        draw(st.sets(st.integers(0, slots - 1), min_size=2 * count, max_size=2 * count))
    )
    intervals = [
        (_clock(points[i] * step), _clock(points[i + 1] * step)) for i in range(0, len(points), 2)
    ]
    overnight = draw(st.booleans())
    if intervals and overnight:
        # Let the last interval run overnight: close before it opens, or at 24:00.
        opening = intervals[-1][0]
        opening_minutes = int(opening[:2]) * 60 + int(opening[3:])
        close_minutes = draw(st.sampled_from([1440, *range(0, opening_minutes + 1, step)]))
        intervals[-1] = (opening, _clock(close_minutes))
    return intervals


@st.composite
def calendar_specs(
    draw: st.DrawFn,
    *,
    zones: st.SearchStrategy[tzinfo] | None = None,
    years: tuple[int, int] = (2025, 2027),
    step: int = 15,
) -> dict[str, Any]:
    """Keyword arguments for :class:`~leadsla.BusinessCalendar`: random weeks with lunch breaks
    and overnight shifts, holidays and overrides within ``years``, in awkward zones."""
    zone = draw(zones if zones is not None else interesting_zones())
    week = {day: draw(_day_hours(step=step)) for day in WEEKDAYS}
    if not any(week.values()):
        week["mon"] = [("09:00", "17:00")]
    first, last = date(years[0], 1, 1), date(years[1], 12, 31)
    holidays = draw(st.lists(st.dates(first, last), max_size=6, unique=True))
    override_days = draw(st.lists(st.dates(first, last), max_size=3, unique=True))
    overrides = {day: draw(_day_hours(step=step)) for day in override_days}
    return {"tz": zone, "week": week, "holidays": holidays, "overrides": overrides}


def calendars(
    *,
    zones: st.SearchStrategy[tzinfo] | None = None,
    years: tuple[int, int] = (2025, 2027),
) -> st.SearchStrategy[BusinessCalendar]:
    """Random valid business calendars (see :func:`calendar_specs`)."""
    return calendar_specs(zones=zones, years=years).map(lambda spec: BusinessCalendar(**spec))


def aware_datetimes(
    *,
    start: datetime = datetime(2025, 6, 1),
    end: datetime = datetime(2027, 6, 1),
    zones: st.SearchStrategy[tzinfo] | None = None,
    minute_aligned: bool = False,
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes between naive bounds, in varied zones."""
    zone_strategy = zones if zones is not None else interesting_zones()
    moments = st.datetimes(
        min_value=start, max_value=end, timezones=zone_strategy, allow_imaginary=False
    )
    if minute_aligned:
        return moments.map(lambda moment: moment.replace(second=0, microsecond=0))
    return moments
