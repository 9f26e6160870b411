"""Business-time arithmetic: leadsla against pandas ``CustomBusinessHour`` and a naive stepper.

Calendar: Mon–Fri 09:00–17:00, Europe/Helsinki, two holidays. Spans of 4, 40, 400 and 4 000
business hours, from 100 different starts. Targets (issue 2): ``add`` at most 5 µs per call on a
4 000-hour span, at least 20× faster than pandas, and within 2× between 4 and 4 000 hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from _timing import Timing, format_seconds, measure, ratio, table

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


def _measure_span(
    calendar: BusinessCalendar,
    hours: int,
    batches: int,
    pd: Any,
    results: dict[str, Timing],
) -> list[str]:
    amount = timedelta(hours=hours)
    ends = [calendar.add(start, amount) for start in STARTS]

    def leadsla_add(i: int) -> object:
        return calendar.add(STARTS[i % 100], amount)

    def leadsla_elapsed(i: int) -> object:
        return calendar.elapsed(STARTS[i % 100], ends[i % 100])

    add = measure(leadsla_add, batches=batches)
    elapsed = measure(leadsla_elapsed, batches=batches)
    results[f"add {hours}h"], results[f"elapsed {hours}h"] = add, elapsed
    row = [f"{hours} h", str(add), str(elapsed)]
    if pd is not None:
        offset = pd.offsets.CustomBusinessHour(
            n=hours, start="09:00", end="17:00", weekmask="Mon Tue Wed Thu Fri", holidays=HOLIDAYS
        )
        stamps = [pd.Timestamp(start) for start in STARTS]
        # pandas gives the next opening where leadsla gives the closing instant (SPEC §5):
        # the same point of business time, so compare there.
        assert all(
            calendar.elapsed(ends[i], (stamps[i] + offset).to_pydatetime()) == timedelta(0)
            for i in range(100)
        ), "pandas and leadsla disagree"

        def pandas_add(i: int) -> object:
            return stamps[i % 100] + offset

        timing = measure(pandas_add, batch=20, batches=batches)
        results[f"pandas add {hours}h"] = timing
        row += [str(timing), ratio(timing, add)]
    else:
        row += ["(pandas not installed)", "-"]

    # The naive stepper costs seconds at long spans: a few calls are enough.
    def stepper_add(i: int) -> object:
        return naive_add(STARTS[i % 100], hours)

    def stepper_elapsed(i: int) -> object:
        return naive_elapsed(STARTS[i % 100], ends[i % 100])

    assert naive_add(STARTS[0], hours) == ends[0], "the naive stepper disagrees"
    naive_batch = max(1, 40 // hours)
    naive = measure(stepper_add, batch=naive_batch, batches=3, warmup=0)
    naive_el = measure(stepper_elapsed, batch=naive_batch, batches=3, warmup=0)
    results[f"naive add {hours}h"] = naive
    return [*row, str(naive), ratio(naive, add), ratio(naive_el, elapsed)]


def run(quick: bool = False) -> dict[str, Timing]:
    calendar = BusinessCalendar(
        tz=HELSINKI,
        week={day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=HOLIDAYS,
    )
    batches = 9 if quick else 25
    results: dict[str, Timing] = {}
    pd: Any = None
    try:
        import pandas

        pd = pandas
    except ImportError:  # pragma: no cover - the bench extra is missing
        pass

    rows = []
    for hours in SPANS:
        rows.append(_measure_span(calendar, hours, batches, pd, results))

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
