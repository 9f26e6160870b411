"""The ``leadsla`` command: the shell around the library for analysts and scripts.

Exit codes: 0 success; 1 the input has problems (listed on stderr); 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from leadsla._calendar import BusinessCalendar
from leadsla._duration import Duration
from leadsla._errors import LeadSLAError
from leadsla._version import __version__

__all__ = ["main"]

_OFFICE_ZONE = "Europe/Helsinki"


def _office() -> BusinessCalendar:
    """The default agreement's calendar: Mon–Fri 09:00–17:00, Europe/Helsinki."""
    return BusinessCalendar(
        tz=_OFFICE_ZONE,
        week={day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
    )


def _demo(arguments: argparse.Namespace, out: TextIO) -> int:
    """Show SLA deadlines for a few lead arrival times on the default office calendar."""
    calendar = _office()
    zone = ZoneInfo(_OFFICE_ZONE)
    targets = [
        ("first touch", Duration.parse("4 business hours")),
        ("accept or reject", Duration.parse("1 business day")),
        ("6 attempts", Duration.parse("10 business days")),
    ]
    arrivals = [
        datetime(2026, 3, 6, 16, 0, tzinfo=zone),  # Friday afternoon
        datetime(2026, 3, 7, 11, 30, tzinfo=zone),  # Saturday
        datetime(2026, 3, 10, 8, 15, tzinfo=zone),  # Tuesday, before opening
        datetime(2026, 3, 11, 13, 45, tzinfo=zone),  # Wednesday afternoon
    ]
    out.write(f"leadsla {__version__} demo: deadlines on {calendar.describe()}\n\n")
    header = ["lead became an MQL", *(f"{name} ({target})" for name, target in targets)]
    rows = [
        [_stamp(arrival), *(_stamp(calendar.add(arrival, target)) for _, target in targets)]
        for arrival in arrivals
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")
    friday = arrivals[0]
    due = calendar.add(friday, targets[0][1])
    worked = calendar.elapsed(friday, due)
    out.write(
        f"\nA lead arriving {_stamp(friday)} gets its first touch by {_stamp(due)}: "
        f"{_hours(worked)} of office time, counted across the weekend.\n"
    )
    return 0


def _stamp(moment: datetime) -> str:
    return moment.strftime("%a %Y-%m-%d %H:%M")


def _hours(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours:g} business hour{'s' if hours != 1 else ''}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadsla",
        description="Marketing–sales service level agreements as executable, testable rules.",
    )
    parser.add_argument("--version", action="version", version=f"leadsla {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="show SLA deadlines on the default office calendar", description=_demo.__doc__
    )
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = _parser().parse_args(argv)
    stream = out if out is not None else sys.stdout
    try:
        code: int = arguments.handler(arguments, stream)
    except LeadSLAError as error:
        print(f"leadsla: {error}", file=sys.stderr)
        return 1
    return code
