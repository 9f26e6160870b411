"""The benchmarks' synthetic event log: :func:`leadsla.simulate` on the default agreement.

See ``leadsla/_simulate.py`` for what the simulated leads do. Leads arrive three minutes apart
from Monday 2026-03-02 09:00, Helsinki time; the same arguments give the same log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from leadsla import Event, simulate

ZONE = ZoneInfo("Europe/Helsinki")
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZONE)


def synthetic_log(
    leads: int, *, seed: int = 7, spacing: timedelta = timedelta(minutes=3)
) -> list[Event]:
    """``leads`` leads' events merged in time order (ties broken by lead number)."""
    return simulate(leads, seed=seed, start=START, spacing=spacing)
