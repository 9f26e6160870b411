"""Columns of an export: what type each holds, in which format, and what "not given" looks like.

Theory of operation
===================

A CRM export writes every value as text, in its own way: Salesforce ``3/2/2026 9:15 AM`` in the
user's locale, HubSpot epoch milliseconds, a helpdesk ``2012/10/9 14:50:17``, numbers as text,
``?`` or ``NULL`` for "unknown". A mapping declares, per column, a :class:`Column`: its type
(``text``, ``number``, ``boolean``, ``date``, ``datetime``, ``choice``), the formats its times
come in, the time zone of naive times, the time a date alone takes, and the tokens that mean "not
given". :meth:`Column.read` turns one cell into a value, :data:`MISSING`, or a
:class:`Refusal` that says what is wrong and how to fix it: a bad cell refuses its row (or the
event that needed it), never the file.

Times are never guessed. A format is a ``strptime`` pattern, ``"iso"`` (ISO 8601, the default),
``"epoch-s"`` or ``"epoch-ms"``. With several formats, a value two of them read differently
(``3/2/2026`` as 3 February and as 2 March) is refused as ambiguous. A time without an offset is
local time in the column's zone; a local time the clocks skip (the spring-forward gap) or show
twice (the autumn fold) is refused unless the column says what to do (``gap = "later"``: the
instant just as far after the gap's start; ``fold = "earlier"`` or ``"later"``). A date alone
takes the column's ``time`` (else the mapping's ``default_time``): the events of a day then
share one instant, and keep the order of their files and rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import field, frozen

from leadsla._core.conditions import MISSING as _CONDITIONS_MISSING
from leadsla._core.errors import CsvError, Problem, unknown

__all__ = [
    "COLUMN_TYPES",
    "MISSING",
    "Column",
    "Refusal",
    "guess_format",
]

ColumnType = Literal["text", "number", "boolean", "date", "datetime", "choice"]
COLUMN_TYPES: Final = ("text", "number", "boolean", "date", "datetime", "choice")
#: The tokens that mean "not given" unless a mapping says otherwise.
DEFAULT_MISSING: Final = ("",)
_TRUE: Final = frozenset({"true", "yes", "y", "1", "t"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f"})
_SPECIAL_FORMATS: Final = ("iso", "epoch-s", "epoch-ms")
_FOLDS: Final = ("refuse", "earlier", "later")
_GAPS: Final = ("refuse", "later")
#: How a refusal ends for a local time the clocks skip (the spring-forward gap) or show twice
#: (the autumn fold): what an import tells apart from a time it cannot read at all.
SKIPPED: Final = "the clocks skip it (spring forward)"
REPEATED: Final = "the clocks show it twice (autumn)"
#: How a refusal ends for a local time too near the year 1 or 9999 to be held in UTC.
ENDS_OF_TIME: Final = "too near the first or last time Python can hold"


#: The value of a cell that says "not given" (the field is left out): the conditions' own
#: marker (:data:`leadsla.MISSING`), so a ``when`` and a template see one "not given".
MISSING: Final = _CONDITIONS_MISSING


@frozen
class Refusal:
    """Why a cell cannot be read, and the fix: said with its file, row and column."""

    message: str
    fix: str


def _tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _optional_tuple(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else _tuple(value)


@frozen
class Column:
    """One column of an export, as a mapping declares it (see the module's documentation).

    >>> Column("won", "datetime", formats="%Y/%m/%d %H:%M:%S", zone="Europe/Rome").read(
    ...     "2012/10/9 14:50:17")
    datetime.datetime(2012, 10, 9, 14, 50, 17, tzinfo=zoneinfo.ZoneInfo(key='Europe/Rome'))
    >>> print(Column("when", "date", formats=("%d/%m/%Y", "%m/%d/%Y")).read("3/2/2026").message)
    is ambiguous: '%d/%m/%Y' reads it as 2026-02-03, '%m/%d/%Y' as 2026-03-02
    """

    name: str
    type: ColumnType = "text"
    formats: tuple[str, ...] = field(default=(), converter=_tuple)
    zone: str | None = None
    time: str | None = None
    values: tuple[str, ...] = field(default=(), converter=_tuple)
    missing: tuple[str, ...] | None = field(default=None, converter=_optional_tuple)
    fold: Literal["refuse", "earlier", "later"] = "refuse"
    gap: Literal["refuse", "later"] = "refuse"
    #: The header the column has in the file, when the mapping calls it another name.
    header: str | None = None

    def __attrs_post_init__(self) -> None:
        where = f"columns.{self.name}"
        problems: list[Problem] = []
        if self.type not in COLUMN_TYPES:
            problems.append(unknown("column type", self.type, COLUMN_TYPES, f"{where}.type"))
        for pattern in self.formats:
            if pattern in _SPECIAL_FORMATS:
                continue
            if "%" not in pattern:
                problems.append(
                    Problem(
                        f"{where}.format",
                        pattern,
                        "is not a strptime pattern (it has no % directive)",
                        'write e.g. "%d/%m/%Y %H:%M", or one of ' + ", ".join(_SPECIAL_FORMATS),
                    )
                )
        if self.formats and self.type not in ("date", "datetime"):
            problems.append(
                Problem(
                    f"{where}.format",
                    list(self.formats),
                    f"is for dates and times, but the column is {self.type}",
                    'set type = "date" or "datetime", or leave the format out',
                )
            )
        if self.zone is not None:
            try:
                ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(
                    Problem(
                        f"{where}.zone", self.zone, "is not a time zone", "write e.g. Europe/Rome"
                    )
                )
        if self.time is not None:
            try:
                time.fromisoformat(self.time)
            except ValueError:
                problems.append(
                    Problem(
                        f"{where}.time", self.time, "is not a time of day", 'write e.g. "09:00"'
                    )
                )
        if self.fold not in _FOLDS:
            problems.append(unknown("choice", self.fold, _FOLDS, f"{where}.fold"))
        if self.gap not in _GAPS:
            problems.append(unknown("choice", self.gap, _GAPS, f"{where}.gap"))
        if self.type == "choice" and not self.values:
            problems.append(
                Problem(
                    f"{where}.values",
                    [],
                    "is empty: a choice needs the values it may take",
                    'write e.g. values = ["Open", "Closed"]',
                )
            )
        if problems:
            raise CsvError(*problems)

    def read(
        self,
        cell: str,
        *,
        zone: str = "UTC",
        default_time: str = "00:00",
        missing: tuple[str, ...] = DEFAULT_MISSING,
    ) -> Any:
        """The value of ``cell``: typed, :data:`MISSING`, or a :class:`Refusal`. ``zone``,
        ``default_time`` and ``missing`` are the mapping's, for what the column leaves out."""
        tokens = self.missing if self.missing is not None else missing
        stripped = cell.strip()
        if stripped in tokens or cell in tokens:
            return MISSING
        kind = self.type
        if kind == "text":
            return cell
        if kind == "number":
            return _number(stripped)
        if kind == "boolean":
            lowered = stripped.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            return Refusal("is not a yes or no", "write true/false, yes/no or 1/0")
        if kind == "choice":
            if stripped in self.values:
                return stripped
            return Refusal(
                f"is not one of {', '.join(self.values)}",
                "add it to the column's values, or map it (a value map)",
            )
        return self._moment(stripped, zone, default_time)

    def _moment(self, text: str, zone: str, default_time: str) -> Any:
        formats = self.formats or ("iso",)
        if len(formats) == 1:  # the common case, made short
            value = _parse(text, formats[0], self.type)
            if value is not None:
                if self.type == "date":
                    return value.date() if isinstance(value, datetime) else value
                return self.instant(value, zone=zone, default_time=default_time)
        found: dict[str, datetime | date] = {}
        for pattern in formats:
            value = _parse(text, pattern, self.type)
            if value is not None:
                found[pattern] = value
        if not found:
            hint = guess_format(text)
            said = " or ".join(repr(pattern) for pattern in formats)
            return Refusal(
                f"is not a {self.type} in {said}",
                f'declare the column\'s format, e.g. format = "{hint}"'
                if hint
                else "declare the column's format (a strptime pattern, iso, epoch-s or epoch-ms)",
            )
        distinct = set(found.values())
        if len(distinct) > 1:
            readings = ", ".join(f"{pattern!r} as {value}" for pattern, value in found.items())
            readings = readings.replace(" as ", " reads it as ", 1)
            return Refusal(f"is ambiguous: {readings}", "keep the one format the export uses")
        value = distinct.pop()
        if self.type == "date":
            if isinstance(value, datetime):
                value = value.date()
            return value
        return self.instant(value, zone=zone, default_time=default_time)

    def instant(
        self, value: date | datetime, *, zone: str = "UTC", default_time: str = "00:00"
    ) -> Any:
        """The instant a value of this column stands for (an event's time): a date alone at
        the column's ``time`` (else ``default_time``), a time without an offset in the
        column's ``zone`` (else ``zone``), resolved as its ``gap`` and ``fold`` say; a
        :class:`Refusal` for a local time the clocks skip or show twice that they leave
        unresolved.

        >>> Column("d", "date", zone="America/New_York", time="09:00").instant(
        ...     date(2026, 3, 2), zone="Europe/Helsinki").isoformat()
        '2026-03-02T09:00:00-05:00'
        """
        if not isinstance(value, datetime):  # a date alone
            value = datetime.combine(value, time.fromisoformat(self.time or default_time))
        if value.tzinfo is not None:
            return value
        return self._localised(value, ZoneInfo(self.zone or zone))

    def _localised(self, wall: datetime, zone: ZoneInfo) -> Any:
        """A wall-clock time in ``zone``, unless the clocks skip it or show it twice."""
        first = wall.replace(tzinfo=zone, fold=0)
        second = wall.replace(tzinfo=zone, fold=1)
        if wall.year in (MINYEAR, MAXYEAR):  # at the ends of time, UTC may be out of range
            try:
                first.astimezone(UTC), second.astimezone(UTC)
            except OverflowError:
                return Refusal(
                    f"is in {zone.key} {ENDS_OF_TIME}",
                    "check the export's dates",
                )
        if first.utcoffset() == second.utcoffset():
            return first  # (a time the clocks skip or repeat has two offsets: PEP 495)
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != wall:  # in the gap: the clocks skip it
            if self.gap == "later":
                return first.astimezone(UTC).astimezone(zone)
            return Refusal(
                f"is not a time in {zone.key}: {SKIPPED}",
                'say what such times mean: gap = "later" (as far after the gap), or fix the '
                "export's time zone",
            )
        if first.utcoffset() != second.utcoffset():  # in the fold: the clocks show it twice
            if self.fold == "refuse":
                return Refusal(
                    f"is ambiguous in {zone.key}: {REPEATED}",
                    'say which: fold = "earlier" (the first time) or "later" (the second)',
                )
            return first if self.fold == "earlier" else second
        return first


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        return number
    return Refusal("is not a number", "write digits with a point, e.g. 1.5 or 42")


def _parse(text: str, pattern: str, kind: str) -> datetime | date | None:
    """``text`` read with ``pattern``, or None when it does not fit."""
    if pattern == "iso":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    if pattern in ("epoch-s", "epoch-ms"):
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        seconds = number / 1000 if pattern == "epoch-ms" else number
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        except OverflowError:
            return None
    value = _strptime(pattern)(text)
    if value is None:
        return None
    if kind == "date" and not any(mark in pattern for mark in ("%H", "%I", "%M", "%S")):
        return value.date()
    return value


#: The ``strptime`` directives a pattern of numbers alone may use, each matched as ``strptime``
#: matches it (CPython's ``_strptime``), with the value it gives when a pattern leaves it out.
_NUMERIC: Final = {
    "Y": (r"\d\d\d\d", 1900),
    "m": (r"1[0-2]|0[1-9]|[1-9]", 1),
    "d": (r"3[01]|[12]\d|0[1-9]|[1-9]| [1-9]", 1),
    "H": (r"2[0-3]|[0-1]\d|\d", 0),
    "M": (r"[0-5]\d|\d", 0),
    "S": (r"6[0-1]|[0-5]\d|\d", 0),
}
_READERS: Final[dict[str, Callable[[str], datetime | None]]] = {}


def _strptime(pattern: str) -> Callable[[str], datetime | None]:
    """``datetime.strptime(text, pattern)`` as a function of ``text`` (None where it raises
    ``ValueError``), made once per pattern. A pattern of numbers alone (``%d/%m/%Y %H:%M``,
    what exports write) is read by one regular expression of its own, as ``strptime`` reads it
    but without its per-call locale checks (several times faster); any other goes to
    ``strptime``."""
    reader = _READERS.get(pattern)
    if reader is None:
        reader = _READERS[pattern] = _numeric_reader(pattern) or _by_strptime(pattern)
    return reader


def _by_strptime(pattern: str) -> Callable[[str], datetime | None]:
    def read(text: str) -> datetime | None:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            return None

    return read


def _numeric_reader(pattern: str) -> Callable[[str], datetime | None] | None:
    """A reader for a pattern of the directives in :data:`_NUMERIC` (each at most once),
    ``%%`` and literal text, or None for any other pattern. As in ``strptime``, a run of
    blanks in the pattern matches one or more blanks, letters match in either case, and the
    text must end where the pattern does."""
    pieces: list[str] = []
    order: list[str] = []
    for token in re.findall(r"%.?|[^%]+", pattern, flags=re.DOTALL):
        if token == "%%":
            pieces.append("%")
        elif token.startswith("%"):
            directive = token[1:]
            if directive not in _NUMERIC or directive in order:
                return None
            order.append(directive)
            pieces.append(f"({_NUMERIC[directive][0]})")
        else:
            pieces.append(r"\s+".join(re.escape(run) for run in re.split(r"\s+", token)))
    matcher = re.compile("".join(pieces), re.IGNORECASE).match
    defaults = tuple(default for _, default in _NUMERIC.values())
    slots = [list(_NUMERIC).index(name) for name in order]

    def read(text: str) -> datetime | None:
        found = matcher(text)
        if found is None or found.end() != len(text):
            return None
        year, month, day, hour, minute, second = defaults
        numbers = [year, month, day, hour, minute, second]
        for slot, digits in zip(slots, found.groups(), strict=True):
            numbers[slot] = int(digits)
        try:
            return datetime(numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5])
        except ValueError:
            return None

    return read


_SHAPES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}:\d{2}$"), "%Y/%m/%d %H:%M:%S"),
    (re.compile(r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}$"), "%Y/%m/%d %H:%M"),
    (re.compile(r"^\d{4}/\d{1,2}/\d{1,2}$"), "%Y/%m/%d"),
    (
        re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(:\d{2})? ?[AaPp][Mm]$"),
        "%m/%d/%Y %I:%M %p",
    ),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$"), "%d/%m/%Y %H:%M:%S"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$"), "%d/%m/%Y %H:%M"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "%d/%m/%Y"),
    (re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}( \d{1,2}:\d{2})?$"), "%d.%m.%Y %H:%M"),
    (re.compile(r"^\d{13}$"), "epoch-ms"),
    (re.compile(r"^\d{10}$"), "epoch-s"),
)


def guess_format(text: str) -> str | None:
    """A format the mapping could declare for a value like ``text`` (a hint for the fix,
    never used to read: day and month stay for the user to say)."""
    for shape, pattern in _SHAPES:
        if shape.match(text.strip()):
            if pattern.startswith("%d.%m.%Y") and " " not in text.strip():
                return "%d.%m.%Y"
            if "%I" in pattern and text.count(":") == 2:
                return pattern.replace("%M", "%M:%S")
            return pattern
    return None


def columns_from_data(data: Mapping[str, Any], problems: list[Problem]) -> dict[str, Column]:
    """The ``[columns]`` table of a mapping: each column's declaration, every problem listed."""
    columns: dict[str, Column] = {}
    known = ("type", "format", "zone", "time", "values", "missing", "fold", "gap", "header")
    for name, given in data.items():
        where = f"columns.{name}"
        entry = {"type": given} if isinstance(given, str) else given  # score = "number"
        if not isinstance(entry, Mapping):
            problems.append(
                Problem(where, entry, "must be a table or a type", 'write e.g. score = "number"')
            )
            continue
        bad = [key for key in entry if key not in known]
        problems.extend(unknown("key", key, known, f"{where}.{key}") for key in bad)
        if bad:
            continue
        formats = entry.get("format", ())
        listed: dict[str, Any] = {
            "type": entry.get("type", "text"),
            "formats": formats,
            "zone": entry.get("zone"),
            "time": entry.get("time"),
            "values": entry.get("values", ()),
            "missing": entry.get("missing"),
            "fold": entry.get("fold", "refuse"),
            "gap": entry.get("gap", "refuse"),
            "header": entry.get("header"),
        }
        texts = [("formats", "format"), ("values", "values"), ("missing", "missing")]
        wrong = False
        for key, said in texts:
            value = listed[key]
            if value is None:
                continue
            if isinstance(value, str):
                continue
            if not isinstance(value, (list, tuple)) or not all(
                isinstance(item, str) for item in value
            ):
                problems.append(
                    Problem(
                        f"{where}.{said}",
                        value,
                        "must be text or a list of texts",
                        f'write {said} = ["..."]',
                    )
                )
                wrong = True
        for key in ("type", "zone", "time", "fold", "gap", "header"):
            value = listed[key]
            if value is not None and not isinstance(value, str):
                problems.append(
                    Problem(f"{where}.{key}", value, "must be text", f'write {key} = "..."')
                )
                wrong = True
        if wrong:
            continue
        try:
            columns[str(name)] = Column(str(name), **listed)
        except CsvError as error:
            problems.extend(error.problems)
    return columns
