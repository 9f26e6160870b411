"""Business-time arithmetic: leadsla against pandas ``CustomBusinessHour`` and a naive stepper.

Calendar: Mon–Fri 09:00–17:00, Europe/Helsinki, two holidays. Spans of 4, 40, 400 and 4 000
business hours, from 100 different starts. Targets: ``add`` at most 5 µs per call on a
4 000-hour span, at least 20× faster than pandas, and within 2× between 4 and 4 000 hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from _timing import Timing, format_seconds, measure, measure_interleaved, ratio, table

from leadsla import BusinessCalendar

HELSINKI = ZoneInfo("Europe/Helsinki")
HOLIDAYS = ["2026-12-24", "2026-12-25"]
SPANS = (4, 40, 400, 4000)
STARTS = [datetime(2026, 3, 2, 8, tzinfo=HELSINKI) + timedelta(hours=7 * i) for i in range(100)]


def naive_add(start: datetime, hours: int) -> datetime:
    """The deliberately naive way: step one minute at a time, counting open minutes."""
    moment = start.astimezone(UTC)
    needed, step = hours * 60, timedelta(minutes=1)
    holidays = {datetime.fromisoformat(day).date() for day in HOLIDAYS}
    while needed:
        local = moment.astimezone(HELSINKI)
        if local.weekday() < 5 and 9 <= local.hour < 17 and local.date() not in holidays:
            needed -= 1
        moment += step
    return moment.astimezone(HELSINKI)


def naive_elapsed(start: datetime, end: datetime) -> timedelta:
    moment, minutes, step = start.astimezone(UTC), 0, timedelta(minutes=1)
    holidays = {datetime.fromisoformat(day).date() for day in HOLIDAYS}
    while moment < end:
        local = moment.astimezone(HELSINKI)
        if local.weekday() < 5 and 9 <= local.hour < 17 and local.date() not in holidays:
            minutes += 1
        moment += step
    return timedelta(minutes=minutes)


def _leadsla_add(calendar: BusinessCalendar, amount: timedelta) -> Callable[[int], object]:
    return lambda i: calendar.add(STARTS[i % 100], amount)


def _leadsla_elapsed(calendar: BusinessCalendar, ends: list[datetime]) -> Callable[[int], object]:
    return lambda i: calendar.elapsed(STARTS[i % 100], ends[i % 100])


def _pandas_add(
    pd: Any, calendar: BusinessCalendar, hours: int, ends: list[datetime]
) -> Callable[[int], object]:
    offset = pd.offsets.CustomBusinessHour(
        n=hours, start="09:00", end="17:00", weekmask="Mon Tue Wed Thu Fri", holidays=HOLIDAYS
    )
    stamps = [pd.Timestamp(start) for start in STARTS]
    # pandas gives the next opening where leadsla gives the closing instant (a rule of
    # docs/explanation/business-time.md): the same point of business time, so the answers are
    # compared there.
    for stamp, end in zip(stamps, ends, strict=True):
        assert calendar.elapsed(end, (stamp + offset).to_pydatetime()) == timedelta(0)
    return lambda i: stamps[i % 100] + offset


def _naive_add(hours: int) -> Callable[[int], object]:
    return lambda i: naive_add(STARTS[i % 100], hours)


def _naive_elapsed(ends: list[datetime]) -> Callable[[int], object]:
    return lambda i: naive_elapsed(STARTS[i % 100], ends[i % 100])


def run(quick: bool = False) -> dict[str, Timing]:
    calendar = BusinessCalendar(
        tz=HELSINKI,
        week={day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=HOLIDAYS,
    )
    pd: Any = None
    try:
        import pandas

        pd = pandas
    except ImportError:  # pragma: no cover - the bench extra is missing
        pass

    # Fast calls are measured in alternating batches, so the ratios between spans and against
    # pandas are not skewed by the machine's load changing during the run.
    calls: dict[str, tuple[Callable[[int], object], int]] = {}
    ends: dict[int, list[datetime]] = {}
    for hours in SPANS:
        amount = timedelta(hours=hours)
        ends[hours] = [calendar.add(start, amount) for start in STARTS]
        calls[f"add {hours}h"] = (_leadsla_add(calendar, amount), 200)
        calls[f"elapsed {hours}h"] = (_leadsla_elapsed(calendar, ends[hours]), 200)
        if pd is not None:
            calls[f"pandas add {hours}h"] = (_pandas_add(pd, calendar, hours, ends[hours]), 20)
    results = measure_interleaved(calls, batches=9 if quick else 25)

    rows = []
    for hours in SPANS:
        add, elapsed = results[f"add {hours}h"], results[f"elapsed {hours}h"]
        row = [f"{hours} h", str(add), str(elapsed)]
        pandas_add = results.get(f"pandas add {hours}h")
        row += [str(pandas_add), ratio(pandas_add, add)] if pandas_add else ["(no pandas)", "-"]
        # The naive stepper costs up to a second a call: a few calls are enough.
        assert naive_add(STARTS[0], hours) == ends[hours][0], "the naive stepper disagrees"
        naive_batch = max(1, 40 // hours)
        naive = measure(_naive_add(hours), batch=naive_batch, batches=3, warmup=0)
        naive_el = measure(_naive_elapsed(ends[hours]), batch=naive_batch, batches=3, warmup=0)
        results[f"naive add {hours}h"], results[f"naive elapsed {hours}h"] = naive, naive_el
        rows.append([*row, str(naive), ratio(naive, add), ratio(naive_el, elapsed)])

    print("Business time: Mon–Fri 09:00–17:00 Europe/Helsinki, per-call medians")
    print(
        table(
            rows,
            [
                "span",
                "leadsla add",
                "leadsla elapsed",
                "pandas add",
                "pandas/leadsla",
                "naive add",
                "naive/leadsla add",
                "naive/leadsla elapsed",
            ],
        )
    )
    print("(pandas has no 'elapsed'; the naive stepper is its only baseline.)")

    def cold_add(i: int) -> object:
        fresh = BusinessCalendar(tz=HELSINKI, week=calendar.to_dict()["week"], holidays=HOLIDAYS)
        return fresh.add(STARTS[i % 100], timedelta(hours=4))

    cold = measure(cold_add, batch=5, batches=5)
    results["cold add"] = cold
    print(
        f"A new calendar's first call tabulates the year it needs: {cold} for the first `add`"
        " (once per calendar and year; every later call is served from the table)."
    )
    short, long = results["add 4h"], results["add 4000h"]
    print()
    print("Targets (issue 2):")
    print(f"  add on a 4000 h span: {format_seconds(long.median)} per call (target ≤ 5 µs)")
    if "pandas add 4000h" in results:
        print(
            "  pandas / leadsla at 4000 h:",
            ratio(results["pandas add 4000h"], long),
            "(target ≥ 20×)",
        )
    print(f"  add 4000 h / add 4 h: {long.median / short.median:.2f} (target ≤ 2)")
    return results
