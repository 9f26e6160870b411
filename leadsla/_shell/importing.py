"""From export rows to events: typed cells, row filters, value maps, and a refusal report.

Theory of operation
===================

A mapping (:class:`~leadsla.CsvMapping`) says which events each row of an export makes. For
every row, each event template is tried in turn:

1. its ``when`` condition, if any, is evaluated on the row (the columns by name, typed as the
   mapping declares them; a cell that means "not given" is missing): a row it does not hold
   on makes no such event, which is not a refusal;
2. its keys are filled from the row: ``{column}`` is the column's value, ``{column|map}`` the
   value through one of the mapping's value maps (which may also say that a value makes no
   event: ``skip``); the event's ``type`` may come from a column this way, so one row makes
   zero, one or several events;
3. its time is read as the column declares (formats, zone, the time of a date alone).

A cell that cannot be read (a time in no declared format, a value no map knows, a lead id left
empty) refuses the event that needed it, with its file, row, column, value, the reason and
the fix; the other events of the row, and every other row, are kept. :class:`ImportReport`
collects the refusals and collapses the ones that share a reason ("283,424 rows: ... first at
row 2"), so a wrong format is one line, not a flood. In strict mode the first refusal stops the
import instead.

Event ids are derived from the rows (the source's name, a digest of the row's cells and the
template's position), unless a template gives its own: importing the same export twice gives
the same ids, which the engine takes as duplicates.

Several sources make one log: :func:`import_sources` reads each file through its mapping and
merges the events by time (at one instant: in the order of the sources, then of their rows, then
of the templates).
"""

from __future__ import annotations

import copyreg
import csv
import gzip
import hashlib
import heapq
import io
import os
import pickle
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from sys import intern
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Final, NamedTuple, cast

import attrs
from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.conditions import Condition, Scope
from leadsla._core.errors import (
    CsvError,
    EventError,
    LeadSLAError,
    Problem,
    UsageError,
    did_you_mean,
    unknown,
)
from leadsla._core.events import (
    SHORT,
    Event,
    at_offset,
    from_values,
    maker,
    packed,
    unpacked,
    zone_reduced,
)
from leadsla._shell.columns import (
    ENDS_OF_TIME,
    MISSING,
    REPEATED,
    SKIPPED,
    Column,
    Refusal,
    guess_format,
)
from leadsla._shell.keeping import gc_paused

if TYPE_CHECKING:
    from leadsla._shell.csv import CsvMapping, EventTemplate

__all__ = [
    "ImportReport",
    "ImportStream",
    "Imported",
    "Refused",
    "import_sources",
    "rows_of",
    "stream_sources",
]

#: The keys each event type can take from a row (besides ``id``, ``lead`` and ``at``).
EVENT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "lead_created": ("fields",),
    "lead_updated": ("fields",),
    "activity": ("kind", "outcome", "by"),
    "transition": ("trigger", "by", "reason"),
    "assign": ("owner", "by", "reason"),
}
PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
#: How the events of each type a row can make are built (when the values need no checks).
_MAKERS: Final = {kind: maker(kind) for kind in EVENT_KEYS}
#: The types whose events have fields.
_WITH_FIELDS: Final = frozenset({"lead_created", "lead_updated"})


def _texts(kind: str) -> tuple[tuple[str, str | None, bool, bool], ...]:
    """An event type's text keys, in the order its maker takes them (none for a type with
    fields): each with its default, whether it may come out empty (None), and whether a
    template may leave it out."""
    making = _MAKERS[kind]
    assert making is not None  # (every type a row can make has one)
    return tuple(
        (
            key,
            default,
            nullable,
            key not in making.required and (default is not None or nullable),
        )
        for key, default, nullable in making.texts
    )


#: How many readings of one column are kept (see ``_Source._cell``).
_SEEN_MAX: Final = 65_536
_UNSEEN: Final = object()
_SKIPPED: Final = object()  # a value map said "skip" (see ``_Source._per_cell``)
#: What a value map may say of a value it does not list.
OTHERS: Final = ("refuse", "pass", "skip")
#: The condition language's reserved names that a row condition (a ``when``) reads as the
#: row's columns of those names, as it reads every other name: a row has no lead, so no
#: state, owner or team of its own. (``now``, the event's time, is refused in a ``when``:
#: see :class:`~leadsla.CsvMapping`.)
ROW_COLUMNS: Final = frozenset({"owner", "state", "team"})


@frozen
class Refused:
    """One event a row could not make: where, which cell, and why."""

    source: str
    row: int
    column: str | None
    value: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        cell = f", column {self.column}" if self.column else ""
        got = f" (got {self.value!r})" if self.value is not None else ""
        return f"{self.source}:{self.row}{cell}: {self.message}{got}; {self.fix}"


class _Group:
    __slots__ = ("count", "first", "last", "rows")

    def __init__(self, first: Refused) -> None:
        self.first = first
        self.count = 0  # events
        self.rows = 0  # the rows they came from (a row may have several refused)
        self.last = -1  # the last row counted


class ImportReport:
    """What an import refused, collapsed by source, column and reason, with the first row of
    each; and how many rows each source had and how many events it made.

    Refusals are counted in events, as :attr:`events` counts what was made: a row refused by
    two templates for one reason counts twice in :attr:`refused` and in each reason's count
    (:meth:`groups`). The rows they came from are counted too (:attr:`refused_rows`, and each
    reason's rows), and :meth:`lines` says both when they differ: ``1 row (3 events) of
    deals: ...``. :meth:`to_data` keeps its keys and counts events as :meth:`groups` does:
    ``rows`` and ``events`` per source, ``refused``, and each reason's ``count``.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str | None, str], _Group] = {}
        self.rows: dict[str, int] = {}
        self.events: dict[str, int] = {}
        self._rows = 0
        self._last: dict[str, int] = {}  # each source's last row refused

    def add(self, refused: Refused) -> None:
        key = (refused.source, refused.column, refused.message)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(refused)
        group.count += 1
        # A row's refusals come one after another: another one of that row is no new row.
        if group.last != refused.row:
            group.rows += 1
            group.last = refused.row
        if self._last.get(refused.source) != refused.row:
            self._rows += 1
            self._last[refused.source] = refused.row

    @property
    def refused(self) -> int:
        """How many events were refused, in all."""
        return sum(group.count for group in self._groups.values())

    @property
    def refused_rows(self) -> int:
        """How many rows had an event or more refused, in all."""
        return self._rows

    def __bool__(self) -> bool:
        return bool(self._groups)

    def groups(self) -> list[tuple[int, Refused]]:
        """Each reason with how many events it refused and its first case, most first."""
        return [(group.count, group.first) for group in self._ordered()]

    def _ordered(self) -> list[_Group]:
        return sorted(
            self._groups.values(),
            key=lambda group: (-group.count, group.first.source, group.first.row),
        )

    def lines(self) -> list[str]:
        """The report in words, one line per reason: how many rows met it (and how many
        events, when some row had several refused for it)."""
        lines = []
        for group in self._ordered():
            first = group.first
            cell = f" {first.column!r}" if first.column else ""
            got = f" (got {first.value!r})" if first.value is not None else ""
            times = f"{group.rows:,} rows" if group.rows != 1 else "1 row"
            if group.count != group.rows:
                times += f" ({group.count:,} events)"
            lines.append(
                f"{times} of {first.source}:{cell} {first.message}{got}, first at row "
                f"{first.row}; {first.fix}"
            )
        return lines

    def to_data(self) -> dict[str, Any]:
        """The report as plain data (JSON); counts as the class's documentation says."""
        return {
            "rows": dict(self.rows),
            "events": dict(self.events),
            "refused": self.refused,
            "reasons": [{**attrs.asdict(first), "count": count} for count, first in self.groups()],
        }


@frozen
class Imported:
    """Events from one or more sources, merged by time: each as ``(source, row, event)``;
    ``report`` says what was refused, ``joined`` who joined which team from the
    data (see :meth:`with_people`)."""

    events: list[tuple[str, int, Event]]
    report: ImportReport
    joined: dict[str, list[str]]

    def with_people(self, agreement: Agreement) -> Agreement:
        """``agreement`` with the people the data named joined to the teams the mappings
        say (members added at the end of each team, in the order they were met)."""
        return _with_people(agreement, self.joined)


class Counted(io.RawIOBase):
    """A binary file read through, telling ``update`` how many bytes each read brought: what a
    progress bar in bytes counts, once per buffer filled, not once per line."""

    def __init__(self, raw: io.RawIOBase, update: Callable[[int], object]) -> None:
        super().__init__()
        self._raw = raw
        self._update = update

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any, /) -> int | None:
        count = self._raw.readinto(buffer)
        if count:
            self._update(count)
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


@contextmanager
def open_text(path: Path, read: Callable[[int], object] | None = None) -> Iterator[IO[str]]:
    """A CSV file as text, closed with everything under it on leaving: plain, gzip (``.gz``)
    or the one CSV file of a ``.zip``; a byte-order mark at its start is skipped. ``read``,
    when given, is told how many bytes of the file (compressed, for a compressed one) each read
    brought."""
    with ExitStack() as stack:
        raw: io.RawIOBase = stack.enter_context(path.open("rb", buffering=0))
        if read is not None:
            raw = stack.enter_context(Counted(raw, read))
        buffered = stack.enter_context(io.BufferedReader(raw))
        suffix = path.suffix.lower()
        binary: IO[bytes] = buffered
        if suffix == ".gz":
            binary = stack.enter_context(gzip.GzipFile(fileobj=buffered))  # type: ignore[arg-type]
        elif suffix == ".zip":
            archive = stack.enter_context(zipfile.ZipFile(buffered))
            names = [name for name in archive.namelist() if not name.endswith("/")]
            chosen = [name for name in names if name.lower().endswith(".csv")] or names
            if len(chosen) != 1:
                raise CsvError(
                    Problem(
                        "path",
                        str(path),
                        f"holds {len(chosen)} files, not one CSV file",
                        "zip one CSV file, or unzip it and give the file",
                    )
                )
            binary = stack.enter_context(archive.open(chosen[0]))
        yield stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))


def rows_of(
    lines: Iterable[str], delimiter: str
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the rows (each with the line it starts on), read as they come."""
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise _unreadable(reader, error) from None
    if header is None:
        raise CsvError(
            Problem("csv", None, "is empty", "export the file with its header row of names")
        )

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num + 1
        try:
            for record in reader:
                if record:
                    yield line, record
                line = reader.line_num + 1
        except csv.Error as error:
            raise _unreadable(reader, error) from None

    return header, rows()


def _unreadable(reader: Any, error: csv.Error) -> CsvError:
    return CsvError(
        Problem(
            "csv",
            f"line {reader.line_num}",
            f"cannot be read ({error})",
            "check the quoting around that line, or the mapping's delimiter",
        )
    )


class _Skip(Exception):
    """A value map says this row makes no such event."""


class _Refuse(Exception):
    def __init__(self, column: str | None, value: str | None, message: str, fix: str) -> None:
        super().__init__(message)
        self.column, self.value, self.message, self.fix = column, value, message, fix


def names_in(text: str) -> list[tuple[str, str | None]]:
    """The ``(column, map)`` each placeholder of ``text`` names (map None: the value as is)."""
    found = []
    for match in PLACEHOLDER.finditer(text):
        inside = match.group(1)
        if inside:
            column, _, map_name = inside.partition("|")
            found.append((column.strip(), map_name.strip() or None))
    return found


def stray_braces(text: str) -> bool:
    """Whether ``text`` has a lone ``{`` or ``}``, or an empty ``{}``."""
    return any(match.group(0) in ("{", "}", "{}") for match in PLACEHOLDER.finditer(text))


#: A key of an event as a function of the row: its cells, its readings so far, its number.
_Filler = Callable[[list[str], dict[str, Any], int], str]
#: The same for any value (a field's, a condition's).
_Reader = Callable[[list[str], dict[str, Any], int], Any]


def _empty(cells: list[str], values: dict[str, Any], row: int) -> str:
    return ""


class _Plan(NamedTuple):
    """One event template, compiled once for its source's header (see ``_Source._plan``)."""

    position: int  # among the mapping's templates, from 0
    template: EventTemplate
    holds: Callable[[list[str], dict[str, Any], int], bool] | None  # its ``when``
    kind_of: _Filler  # its type
    lead_of: _Filler
    id_of: _Filler | None  # None: the id is derived from the row
    at_of: Callable[[list[str], dict[str, Any], int], tuple[datetime, float]]
    #: For each event type, its text keys in its maker's order (see ``_MAKERS``): (key, how the
    #: template fills it or None, whether its value joins, its default, and whether the event
    #: may lack it: for a key the template fills, whether it may come out empty; for one it
    #: leaves out, whether the key may be left out).
    keys: dict[str, tuple[tuple[str, _Filler | None, bool, str | None, bool], ...]]
    fields: tuple[tuple[str, Callable[[list[str], dict[str, Any], int], Any]], ...]
    named_fields: bool  # whether every field's name is one (else the event is checked)


class _Source:
    """One file through its mapping: the columns it uses, where they are, and its rows made
    into events."""

    def __init__(
        self,
        name: str,
        header: list[str],
        mapping: CsvMapping,
        agreement: Agreement,
        report: ImportReport,
        strict: bool,
    ) -> None:
        joining = check_join(agreement, mapping.join[0], "join.team")
        if joining:  # the mapping meets its agreement here: people must join a real team
            raise CsvError(*joining)
        self.name = name
        self.mapping = mapping
        self.report = report
        self.strict = strict
        self.zone = mapping.zone or agreement.timezone
        self.default_time = mapping.default_time
        self.missing = tuple(mapping.missing)
        self.types = {name: kind.base for name, kind in agreement.field_types.items()}
        self.columns = mapping.columns
        self.header_width = len(header)
        self.conditions = {
            index: Condition(template.when, field=f"events[{index + 1}].when")
            for index, template in enumerate(mapping.events)
            if template.when
        }
        self.position = self._positions(header)
        self.join = mapping.join
        self.people: dict[str, None] = {}
        self._readers: dict[str, Column] = {}  # how fields and times are read, made once
        self._seen: dict[str, dict[str, Any]] = {}  # each declared column's readings
        self._once: dict[int, set[str]] = {}  # the leads each ``once`` template has met
        #: Each time template's readings of its column's cells (see ``_instant_of``).
        self._times: dict[str, dict[str, Any]] = {}
        self.plans = [self._plan(index, template) for index, template in enumerate(mapping.events)]
        #: How many rows were read and events made (counted here, told to the report when
        #: the source is closed).
        self.rows_read = 0
        self.events_made = 0
        #: The short texts of the events (who, why, what kind, a country code: at most
        #: ``SHORT`` characters), one string per value (up to a bound), as events read from
        #: JSON keep them: the engine keeps them by the thousand in its records.
        self._texts: dict[str, str] = {}

    def close(self) -> None:
        """Tell the report how many rows were read and events made; drop the compiled
        templates and what they keep: their functions refer to the source, a cycle that the
        collector, paused while files are read, would otherwise keep (with every cell kept)
        until the whole import ends."""
        if self.rows_read:
            rows, events = self.report.rows, self.report.events
            rows[self.name] = rows.get(self.name, 0) + self.rows_read
            events[self.name] = events.get(self.name, 0) + self.events_made
            self.rows_read = self.events_made = 0
        self.plans = []
        self._times.clear()
        self._seen.clear()

    def _positions(self, header: list[str]) -> dict[str, int]:
        """Where each column the mapping uses is: a column used that is missing, or named
        twice, is an error naming it; others may be odd or repeated."""
        used = self.mapping.used_columns()
        renamed = {name: column.header or name for name, column in self.mapping.columns.items()}
        problems = []
        positions: dict[str, int] = {}
        for name, where in used.items():
            heading = renamed.get(name, name)
            count = header.count(heading)
            if count == 1:
                positions[name] = header.index(heading)
                continue
            if count > 1:
                problems.append(
                    Problem(
                        where,
                        heading,
                        f"names a column the header has {count} times",
                        "rename the columns so the one the mapping uses is named once",
                    )
                )
                continue
            problems.append(unknown("column", heading, sorted(set(header))[:40], where))
        if problems:
            raise CsvError(*problems)
        return positions

    # -- a row --------------------------------------------------------------------------------

    def events(self, row: int, cells: list[str]) -> list[tuple[float, Event]]:
        """The events of one row, each with its instant as a number for ordering
        (refusals go to the report)."""
        self.rows_read += 1
        if len(self._texts) > _SEEN_MAX:
            self._texts.clear()
        if len(cells) < self.header_width:
            self._refused(
                row,
                None,
                None,
                f"has {len(cells)} cell{'s' if len(cells) != 1 else ''}, but the header names "
                f"{self.header_width} columns",
                "check the row's quoting and delimiters in the export",
            )
            return []
        values: dict[str, Any] = {}
        made = []
        digest = ""  # the row's digest, for templates without ids of their own: made once
        for plan in self.plans:
            try:
                if plan.holds is not None and not plan.holds(cells, values, row):
                    continue
                if plan.id_of is None and not digest:
                    digest = hashlib.blake2b(
                        "\x1f".join(cells).encode("utf-8", "surrogatepass"), digest_size=6
                    ).hexdigest()
                event = self._event(plan, cells, values, row, digest)
            except _Skip:
                continue
            except _Refuse as refusal:
                self._refused(row, refusal.column, refusal.value, refusal.message, refusal.fix)
                continue
            if event is not None:
                made.append(event)
        self.events_made += len(made)
        return made

    def _refused(
        self, row: int, column: str | None, value: str | None, message: str, fix: str
    ) -> None:
        refused = Refused(self.name, row, column, value, message, fix)
        if self.strict:  # named as the report names it: source:row, and the column
            cell = f", column {column}" if column else ""
            raise CsvError(Problem(f"{self.name}:{row}{cell}", value, message, fix))
        self.report.add(refused)

    def _cell(self, name: str, cells: list[str], values: dict[str, Any], row: int) -> Any:
        """A column's value in this row (typed, MISSING, or a Refusal), worked out once."""
        if name in values:
            return values[name]
        if name == "_row":
            value: Any = str(row)
        else:
            text = cells[self.position[name]]
            column = self.columns.get(name)
            if column is not None:
                # Exports repeat values (a ticket's opening time on each of its rows): each
                # column's readings are kept, up to a bound, so a value is parsed once.
                seen = self._seen.get(name)
                if seen is None:
                    seen = self._seen[name] = {}
                value = seen.get(text, _UNSEEN)
                if value is _UNSEEN:
                    value = column.read(
                        text, zone=self.zone, default_time=self.default_time, missing=self.missing
                    )
                    if len(seen) >= _SEEN_MAX:
                        seen.clear()
                    seen[text] = value
            else:
                value = MISSING if text.strip() in self.missing or text in self.missing else text
        values[name] = value
        return value

    def _event(
        self, plan: _Plan, cells: list[str], values: dict[str, Any], row: int, digest: str
    ) -> tuple[float, Event] | None:
        template, index = plan.template, plan.position
        kind = plan.kind_of(cells, values, row)
        if kind not in EVENT_KEYS:
            raise _Refuse(
                _first_column(template.type),
                kind,
                "is not an event type",
                f"map it to one of {', '.join(EVENT_KEYS)}, or to skip",
            )
        lead = plan.lead_of(cells, values, row)
        if template.once and lead in self._once.get(index, ()):
            return None  # a later row of the lead: only the first that makes it does
        if not lead:
            column = _first_column(template.lead)
            raise _Refuse(
                column,
                None,
                "is empty: the event has no lead",
                f'make no event of such rows: when = "has({column})"'
                if column
                else "give the lead an id",
            )
        event_id = (
            plan.id_of(cells, values, row)
            if plan.id_of is not None
            else f"{self.name}-{digest}-{index + 1}"
        )
        at, instant = self._at(plan, kind, cells, values, row)
        named = []  # the people who join: only once the event is made
        texts: list[str | None] = []  # the event's text keys, in its maker's order
        # Whether the values need no more checks (a field's name may be no name).
        complete = bool(event_id) and (kind not in _WITH_FIELDS or plan.named_fields)
        share = self._texts.setdefault  # one string per text, as events read from JSON share
        for _key, fill, joins, default, may_lack in plan.keys[kind]:
            if fill is None:
                texts.append(default)
                complete = complete and may_lack
                continue
            filled = fill(cells, values, row)
            if filled:
                texts.append(share(filled, filled) if len(filled) <= SHORT else filled)
                if joins:
                    named.append(filled)
            else:
                texts.append(None)
                complete = complete and may_lack
        making = _MAKERS[kind]
        assert making is not None  # (see _MAKERS)
        if kind == "transition" and not texts[0]:  # (its maker's first key: the trigger)
            raise _Refuse(
                _first_column(template.trigger or ""),
                None,
                "is empty: the transition has no trigger",
                "map every value to a trigger, or skip such rows",
            )
        if not complete:
            made = self._checked(plan, kind, event_id, lead, at, texts, cells, values, row)
        elif kind in _WITH_FIELDS:
            # The fields' names are the mapping's, interned; their values are text, numbers,
            # booleans or None: nothing to check.
            fields = {}
            for name, fill in plan.fields:
                value = fill(cells, values, row)
                short = type(value) is str and len(value) <= SHORT
                fields[name] = share(value, value) if short else value
            made = making.build(event_id, lead, at, MappingProxyType(fields))
        else:
            made = making.build(event_id, lead, at, *texts)
        for person in named:
            self.people.setdefault(person)
        if template.once:
            self._once.setdefault(index, set()).add(lead)
        return instant, made

    def _checked(
        self,
        plan: _Plan,
        kind: str,
        event_id: str,
        lead: str,
        at: datetime,
        texts: list[str | None],
        cells: list[str],
        values: dict[str, Any],
        row: int,
    ) -> Event:
        """The event made by its class, every value checked: a value the log would refuse
        refuses it for this row, saying why."""
        template = plan.template
        event: dict[str, Any] = {"id": event_id, "type": kind, "lead": lead, "at": at}
        if kind in _WITH_FIELDS:
            event["fields"] = {name: fill(cells, values, row) for name, fill in plan.fields}
        for (key, fill, *_), text in zip(plan.keys[kind], texts, strict=True):
            if fill is not None:
                event[key] = text
        try:
            return from_values(event)
        except EventError as error:
            problem = error.problems[0]
            key, _, name = problem.field.partition(".")
            text = template.fields.get(name) if key == "fields" else getattr(template, key, None)
            column = _first_column(text) if isinstance(text, str) else None
            if problem.value in (None, ""):  # (a text key left empty: the usual case)
                raise _Refuse(
                    column,
                    None,
                    f"is empty: the event has no {problem.field}",
                    f'make no event of such rows: when = "has({column})"'
                    if column
                    else f"give the event's {problem.field} in the template",
                ) from None
            raise _Refuse(
                column,
                str(problem.value),
                f"would make the event's {problem.field}, which {problem.message}",
                problem.fix,
            ) from None

    def _at(
        self,
        plan: _Plan,
        kind: str,
        cells: list[str],
        values: dict[str, Any],
        row: int,
    ) -> tuple[datetime, float]:
        """The event's time; a row without one is refused for it, unless a value map in one
        of the event's other keys says the row makes no such event (then it makes none)."""
        template = plan.template
        try:
            return plan.at_of(cells, values, row)
        except _Refuse:
            texts = [getattr(template, key) for key in EVENT_KEYS[kind] if key != "fields"]
            if kind in _WITH_FIELDS:
                texts.extend(template.fields.values())
            for text in texts:
                if text is not None and any(map_name for _, map_name in names_in(text)):
                    try:
                        self._text(text, cells, values, row, "at")  # raises _Skip on a skip
                    except _Refuse:
                        continue  # (that key's own problem: the time's is the one said)
            raise

    # -- a template, compiled once for the header ---------------------------------------------

    def _plan(self, index: int, template: EventTemplate) -> _Plan:
        condition = self.conditions.get(index)
        keys = {
            kind_name: tuple(
                (
                    key,
                    None if text is None else self._filler(text, key),
                    key in self.join[1],
                    default,
                    may_be_left_out if text is None else nullable,
                )
                for key, default, nullable, may_be_left_out in _texts(kind_name)
                for text in (getattr(template, key),)
            )
            for kind_name in EVENT_KEYS
        }
        return _Plan(
            index,
            template,
            None if condition is None else self._holder(condition),
            self._filler(template.type, "type"),
            self._filler(template.lead, "lead"),
            self._filler(template.id, "id") if template.id else None,
            self._instant_of(template.at),
            keys,
            tuple(
                (intern(name), self._field_of(name, text)) for name, text in template.fields.items()
            ),
            all(isinstance(name, str) and name for name in template.fields),
        )

    def _field_of(self, name: str, text: str) -> Callable[[list[str], dict[str, Any], int], Any]:
        def field(cells: list[str], values: dict[str, Any], row: int) -> Any:
            return self._field(name, text, cells, values, row)

        parts = _parts(text)
        if len(parts) == 1 and not isinstance(parts[0], str):
            return self._per_cell(parts[0][0], field)
        return field

    def _filler(self, text: str | None, key: str) -> _Filler:
        """A key's template as a function of the row, with what :meth:`_text` makes of it:
        its literal text and each column's part made once, so a row only reads its cells."""
        parts = _parts(text or "")
        if not parts:
            return _empty
        if len(parts) == 1:
            only = parts[0]
            if isinstance(only, str):
                return lambda cells, values, row: only
            return self._part(*only)
        pieces = [
            (part, None) if isinstance(part, str) else ("", self._part(*part)) for part in parts
        ]

        def joined(cells: list[str], values: dict[str, Any], row: int) -> str:
            return "".join(
                [text if fill is None else fill(cells, values, row) for text, fill in pieces]
            )

        return joined

    def _part(self, column: str, map_name: str | None) -> _Filler:
        """One ``{column}`` or ``{column|map}`` of a template as a function of the row: a
        plain column (the common case) read directly, any other kept for its repeated
        cells."""
        if map_name is None and column not in self.columns and column != "_row":
            where, missing = self.position[column], self.missing

            def plain(cells: list[str], values: dict[str, Any], row: int) -> str:
                cell = cells[where]
                return "" if cell in missing or cell.strip() in missing else cell

            return plain

        def part(cells: list[str], values: dict[str, Any], row: int) -> str:
            value = self._value(column, map_name, cells, values, row)
            return "" if value is MISSING else _text_of(value)

        return self._per_cell(column, part)

    def _per_cell(self, column: str, work: _Reader, known: dict[str, Any] | None = None) -> _Reader:
        """``work``, which reads nothing of the row but ``column``, done once per distinct
        cell of it (up to a bound), the results kept in ``known`` (a dict of its own unless
        given): exports repeat their values. A value map's ``skip`` is kept too; a refusal is
        not (it is said for every row it refuses). ``_row``, the row's number, is no cell:
        ``work`` is done for each row."""
        if column == "_row":
            return work
        where = self.position[column]
        if known is None:
            known = {}

        def kept(cells: list[str], values: dict[str, Any], row: int) -> Any:
            cell = cells[where]
            found = known.get(cell, _UNSEEN)
            if found is _UNSEEN:
                try:
                    found = work(cells, values, row)
                except _Skip:
                    found = _SKIPPED
                if len(known) >= _SEEN_MAX:
                    known.clear()
                known[cell] = found
            if found is _SKIPPED:
                raise _Skip
            return found

        return kept

    def _instant_of(
        self, text: str
    ) -> Callable[[list[str], dict[str, Any], int], tuple[datetime, float]]:
        """The time's template as a function of the row: the time at its UTC offset, as an
        event holds it, and its instant as a number (for the merge by time). The time one
        column gives is the same for the same cell, so it is kept for the column's repeated
        values (up to a bound), shared by the templates that take their time from that
        column."""

        def instant(cells: list[str], values: dict[str, Any], row: int) -> tuple[datetime, float]:
            moment = self._instant(text, cells, values, row)
            return at_offset(moment), moment.timestamp()

        parts = _parts(text)
        if len(parts) == 1 and not isinstance(parts[0], str) and parts[0][1] is None:
            return self._per_cell(parts[0][0], instant, self._times.setdefault(text, {}))
        return instant

    def _holder(self, condition: Condition) -> Callable[[list[str], dict[str, Any], int], bool]:
        """A ``when`` as a function of the row: its columns typed, a missing one left out.
        A condition on one column is worked out once per distinct cell of it."""
        names = [
            (name, name in ROW_COLUMNS) for name in sorted(condition.names) if name in self.position
        ]
        compiled = condition.compile()

        def holds(cells: list[str], values: dict[str, Any], row: int) -> bool:
            fields: dict[str, Any] = {}
            reserved: dict[str, Any] = {}  # owner, state, team: columns of the row
            for name, is_reserved in names:
                value = self._cell(name, cells, values, row)
                if isinstance(value, Refusal):
                    raise _Refuse(name, cells[self.position[name]], value.message, value.fix)
                if value is not MISSING:
                    (reserved if is_reserved else fields)[name] = value
            return bool(compiled(Scope(fields, **reserved)))

        if len(names) == 1:
            return self._per_cell(names[0][0], holds)
        return holds

    def _value(
        self, column: str, map_name: str | None, cells: list[str], values: dict[str, Any], row: int
    ) -> Any:
        value = self._cell(column, cells, values, row)
        if isinstance(value, Refusal):
            raise _Refuse(column, cells[self.position[column]], value.message, value.fix)
        if map_name is None:
            return value
        shown = "" if value is MISSING else _text_of(value)
        table = self.mapping.maps[map_name]
        mapped = table.values.get(shown)
        if mapped is not None:
            if mapped == "skip":
                raise _Skip
            return mapped
        other = table.other
        if other == "skip":
            raise _Skip
        if other == "pass":
            return value
        if other == "refuse":
            raise _Refuse(
                column,
                shown,
                f"is not in value map {map_name!r}",
                f'add it to [maps.{map_name}.values], or set other = "pass", "skip" or a value',
            )
        return other

    def _text(
        self, text: str | None, cells: list[str], values: dict[str, Any], row: int, key: str
    ) -> str:
        if text is None:
            return ""
        template = _parts(text)
        if len(template) == 1:  # a constant, or one column: the common cases, made short
            only = template[0]
            if isinstance(only, str):
                return only
            value = self._value(only[0], only[1], cells, values, row)
            return "" if value is MISSING else _text_of(value)
        parts = []
        for part in template:
            if isinstance(part, str):
                parts.append(part)
            else:
                value = self._value(part[0], part[1], cells, values, row)
                parts.append("" if value is MISSING else _text_of(value))
        return "".join(parts)

    def _field(
        self, name: str, text: str, cells: list[str], values: dict[str, Any], row: int
    ) -> Any:
        parts = _parts(text)
        if len(parts) == 1 and not isinstance(parts[0], str):
            column, map_name = parts[0]
            value = self._value(column, map_name, cells, values, row)
            if value is MISSING:
                return None
            if column in self.columns and not isinstance(value, str):
                return value.isoformat() if isinstance(value, (date, datetime)) else value
            return self._typed(name, _text_of(value), column)
        return self._typed(name, self._text(text, cells, values, row, f"fields.{name}"), None)

    def _typed(self, name: str, text: str, column: str | None) -> Any:
        """A field's text as the agreement declares the field: a number, a boolean, or text."""
        stripped = text.strip()
        if stripped == "":
            return None
        kind = self.types.get(name)
        if kind not in ("number", "boolean"):
            return text
        reader = self._readers.get(name)
        if reader is None:
            reader = Column(name, "number" if kind == "number" else "boolean")
            self._readers[name] = reader
        value = reader.read(stripped)
        if isinstance(value, Refusal):
            raise _Refuse(column or name, text, value.message, value.fix)
        return value

    def _instant(self, text: str, cells: list[str], values: dict[str, Any], row: int) -> datetime:
        parts = _parts(text)
        column = None
        if len(parts) == 1 and not isinstance(parts[0], str) and parts[0][1] is None:
            column = parts[0][0]
            value = self._value(column, None, cells, values, row)
            if isinstance(value, (date, datetime)) and column in self.columns:
                # A date alone at the column's time, in the column's zone (else the
                # mapping's), its gap and fold resolved as the column says.
                moment = self.columns[column].instant(
                    value, zone=self.zone, default_time=self.default_time
                )
                if isinstance(moment, Refusal):
                    raise _Refuse(column, cells[self.position[column]], moment.message, moment.fix)
                return cast(datetime, moment)
        filled = self._text(text, cells, values, row, "at")
        if not filled.strip():
            raise _Refuse(
                column,
                None,
                "is empty: the event has no time",
                f'make no event of such rows: when = "has({column})"'
                if column
                else "give the event a time",
            )
        reader = self._readers.get(f"at:{column}")
        if reader is None:
            reader = Column(column or "at", "datetime", time=self.default_time)
            self._readers[f"at:{column}"] = reader
        reading = reader.read(filled, zone=self.zone, default_time=self.default_time, missing=())
        if isinstance(reading, Refusal) and reading.message.endswith((SKIPPED, REPEATED)):
            # ISO 8601, but a local time the clocks skip or show twice: say so, and how to
            # say what such times mean.
            said = (
                'gap = "later"'
                if reading.message.endswith(SKIPPED)
                else 'fold = "earlier" (the first time) or "later" (the second)'
            )
            fix = (
                f"declare the column to say what such times mean: [columns.{column}] "
                f'type = "datetime", {said}'
                if column
                else f"give such times with their UTC offset, or take them from one column "
                f"declared with {said}"
            )
            raise _Refuse(column or "at", filled, reading.message, fix)
        if isinstance(reading, Refusal):
            hint = guess_format(filled)
            fix = (
                f'declare the column: [columns.{column}] type = "datetime", format = "{hint}"'
                if hint and column
                else reading.fix
            )
            if reading.message.endswith(ENDS_OF_TIME):
                raise _Refuse(column or "at", filled, reading.message, reading.fix)
            raise _Refuse(column or "at", filled, "is not an ISO 8601 time", fix)
        return cast(datetime, reading)


_Part = str | tuple[str, str | None]
_PARTS: dict[str, tuple[_Part, ...]] = {}


def _parts(text: str) -> tuple[_Part, ...]:
    """A template as its parts, worked out once per template: literal text, and ``(column,
    map or None)`` for each ``{column}`` or ``{column|map}``. ``{{`` and ``}}`` are braces; an
    empty ``{}`` and a stray brace are kept as they are."""
    parts = _PARTS.get(text)
    if parts is not None:
        return parts
    found: list[_Part] = []
    end = 0
    for match in PLACEHOLDER.finditer(text):
        found.append(text[end : match.start()])
        end = match.end()
        token, inside = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            found.append(token[0])
        elif not inside:
            found.append(token)
        else:
            column, _, map_name = inside.partition("|")
            found.append((column.strip(), map_name.strip() or None))
    found.append(text[end:])
    merged: list[_Part] = []
    for part in found:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    parts = _PARTS[text] = tuple(merged)
    return parts


def _first_column(text: str) -> str | None:
    found = names_in(text)
    return found[0][0] if found else None


def _text_of(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def events_of(
    name: str,
    lines: Iterable[str],
    mapping: CsvMapping,
    agreement: Agreement,
    report: ImportReport,
    *,
    strict: bool = False,
) -> tuple[list[tuple[int, Event]], list[str]]:
    """The events of one source's rows, with their rows, in time order (stably), and the
    people named in the keys the mapping's ``join`` lists."""
    header, rows = rows_of(lines, mapping.delimiter)
    source = _Source(name, header, mapping, agreement, report, strict)
    made: list[tuple[float, int, int, Event]] = []
    with gc_paused():  # (see ImportStream)
        try:
            for row, cells in rows:
                for position, (instant, event) in enumerate(source.events(row, cells)):
                    made.append((instant, row, position, event))
        finally:
            source.close()
        made.sort()  # (no two events share their row and place: events are never compared)
        return [(row, event) for _, row, _, event in made], list(source.people)


#: Events sorted in memory at most this many at a time (about half a kilobyte each, so about
#: 250 MB); an import that makes more sorts them in runs written to a temporary folder (but the
#: last, kept in memory) and merges the runs as they are read back. A run on disk costs each
#: of its events about 5 µs more (written, read back, merged): a month's export of a CRM
#: seldom makes that many events, and sorts in memory.
RUN: Final = 500_000
#: Events written to (and read back from) a run's file this many at a time.
_BATCH: Final = 256
#: An event on its way through the sort: its instant, its source's place among the sources,
#: its row, its place among the row's events, its source's name, the event. Sorted as a tuple:
#: no two events share their source, row and place, so the comparison never reaches the rest.
_Made = tuple[float, int, int, int, str, Event]
#: How runs on disk pickle what their events hold (see ``zone_reduced``).
_RUN_PICKLING: Final = {**copyreg.dispatch_table, timezone: zone_reduced}
#: Files read as Parquet (through pyarrow, the ``parquet`` extra) rather than as CSV text.
PARQUET_SUFFIXES: Final = (".parquet", ".pq")


class ImportStream:
    """Sources read once, their events merged by time in bounded memory: see
    :func:`stream_sources`."""

    def __init__(
        self,
        sources: Sequence[tuple[CsvMapping, str | os.PathLike[str]]],
        agreement: Agreement | None = None,
        *,
        strict: bool = False,
        names: Sequence[str] | None = None,
        run: int = RUN,
        read: Callable[[int], object] | None = None,
    ) -> None:
        resolved = agreement if agreement is not None else Agreement.default()
        self.report = ImportReport()
        self.joined: dict[str, list[str]] = {}
        #: Each source's name, in the order of the sources.
        self.names: list[str] = []
        #: How many events the sources made.
        self.count = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._runs: list[Path] = []
        self._kept: list[_Made] = []
        self._used = False
        known = {person for team in resolved.teams for person in (*team.members, team.manager)}
        buffer: list[_Made] = []
        # The events made are values without cycles, freed by reference counting:
        # the collector, which would walk all of them again and again as they pile up (a
        # quarter of an import's time), is paused while the files are read.
        try:
            with gc_paused():
                for number, (mapping, path) in enumerate(sources):
                    location = Path(path)
                    name = (
                        names[number]
                        if names is not None
                        else mapping.source or location.name.split(".")[0]
                    )
                    self.names.append(name)
                    people = self._read(
                        number, name, location, mapping, resolved, strict, buffer, run, read
                    )
                    team = mapping.join[0]
                    if team is not None:
                        new = [person for person in people if person not in known]
                        self.joined.setdefault(team, []).extend(
                            p for p in new if p not in self.joined[team]
                        )
                buffer.sort()  # (see _Made: no two events tie before the name)
                self._kept = buffer  # the last run: kept in memory, merged with the others
        except BaseException:
            self.close()
            raise

    def _read(
        self,
        number: int,
        name: str,
        location: Path,
        mapping: CsvMapping,
        agreement: Agreement,
        strict: bool,
        buffer: list[_Made],
        run: int,
        read: Callable[[int], object] | None,
    ) -> list[str]:
        """One source's rows made into events, into ``buffer`` (spilt to a run when full)."""
        try:
            with ExitStack() as stack:
                if location.suffix.lower() in PARQUET_SUFFIXES:
                    from leadsla._shell.parquet import parquet_rows

                    header, rows = parquet_rows(location, read)
                else:
                    handle = stack.enter_context(open_text(location, read))
                    header, rows = rows_of(handle, mapping.delimiter)
                source = _Source(name, header, mapping, agreement, self.report, strict)
                stack.callback(source.close)
                for row, cells in rows:
                    for position, (instant, event) in enumerate(source.events(row, cells)):
                        self.count += 1
                        buffer.append((instant, number, row, position, name, event))
                    if len(buffer) >= run:
                        buffer.sort()
                        self._spill(buffer)
                        buffer.clear()
                return list(source.people)
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise CsvError(
                Problem(
                    "path",
                    str(location),
                    f"cannot be read ({reason or error})",
                    "give the path of a CSV file with a header row (.csv, .csv.gz or .zip), "
                    "or of a Parquet file",
                )
            ) from None
        except LeadSLAError as error:
            raise CsvError(
                *(
                    p  # a strict refusal names its source already: "source:row, column c"
                    if p.field.startswith(f"{name}:")
                    else attrs.evolve(p, field=f"{name}: {p.field}")
                    for p in error.problems
                )
            ) from None

    def _spill(self, made: list[_Made]) -> None:
        """Sorted events written to a run of their own, in the temporary folder."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="leadsla-import-")
        path = Path(self._folder.name) / f"run-{len(self._runs)}"
        with path.open("wb") as file:
            writer = pickle.Pickler(file, pickle.HIGHEST_PROTOCOL)
            writer.dispatch_table = _RUN_PICKLING  # (zones read back shared)
            for start in range(0, len(made), _BATCH):
                writer.dump([(*item[:5], packed(item[5])) for item in made[start : start + _BATCH]])
                writer.clear_memo()  # (each batch is read back on its own)
        self._runs.append(path)

    @property
    def runs(self) -> int:
        """How many sorted runs went to disk (0: everything was sorted in memory)."""
        return len(self._runs)

    def __iter__(self) -> Iterator[tuple[str, int, Event]]:
        """The events as ``(source, row, event)``, in time order (at one
        instant: in the order of the sources, then of their rows, then of the templates). They
        can be read once."""
        if self._used:
            raise UsageError(
                Problem(
                    "stream",
                    None,
                    "was read already",
                    "read the sources again, or keep the events: list(stream)",
                )
            )
        self._used = True
        kept, self._kept = self._kept, []
        if not self._runs:
            return ((name, row, event) for _, _, row, _, name, event in kept)
        merged = heapq.merge(*(_read_run(path) for path in self._runs), kept)  # (see _Made)
        return ((name, row, event) for _, _, row, _, name, event in merged)

    def with_people(self, agreement: Agreement) -> Agreement:
        """``agreement`` with the people the data named joined to the teams the mappings
        say (members added at the end of each team, in the order they were met)."""
        return _with_people(agreement, self.joined)

    def close(self) -> None:
        """Remove the runs on disk (iterating afterwards is an error)."""
        self._kept = []
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
            self._runs = []

    def __enter__(self) -> ImportStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_run(path: Path) -> Iterator[_Made]:
    with path.open("rb") as file:
        while True:
            try:
                batch: list[tuple[Any, ...]] = pickle.load(file)
            except EOFError:
                return
            for instant, number, row, position, name, values in batch:
                yield instant, number, row, position, name, unpacked(values)


def stream_sources(
    sources: Sequence[tuple[CsvMapping, str | os.PathLike[str]]],
    agreement: Agreement | None = None,
    *,
    strict: bool = False,
    names: Sequence[str] | None = None,
    run: int = RUN,
    read: Callable[[int], object] | None = None,
) -> ImportStream:
    """Every source's events merged by time, as :func:`import_sources` gives them, but in
    memory bounded whatever the files' length: each file is read once (its refusals and
    joined people are known when this returns), and its events are sorted ``run`` at a time,
    in runs written to a temporary folder when there are more (the last one kept in memory),
    which the iteration merges (holding a batch of 256 events of each run on disk).
    Use it as a context manager, which removes the runs:

    .. code-block:: python

        with stream_sources([(mapping, "tickets.csv.gz")]) as stream:
            print(stream.report.lines())
            result = replay((event for _, _, event in stream), stream.with_people(agreement))

    ``read``, when given, is told how many bytes of the files each read brought (for a
    progress bar). A source whose name ends in ``.parquet`` or ``.pq`` is read as Parquet (the
    ``parquet`` extra): its columns are the mapping's columns, each value given to them as
    text (a time in ISO 8601, a missing value as an empty cell), its rows counted from 1."""
    return ImportStream(sources, agreement, strict=strict, names=names, run=run, read=read)


def import_sources(
    sources: Sequence[tuple[CsvMapping, str | os.PathLike[str]]],
    agreement: Agreement | None = None,
    *,
    strict: bool = False,
    names: Sequence[str] | None = None,
) -> Imported:
    """Every source's events, merged by time into one log (see the module's documentation):
    each source a mapping and the path of its file (CSV, ``.gz``, ``.zip``, or Parquet). ``names``
    name the sources in the report and in event ids (default: each file's name without its
    suffixes). With ``strict``, the first refusal stops the import with a
    :class:`~leadsla.CsvError`. The events are kept in a list: for files too long for
    memory, see :func:`stream_sources`."""
    # Every event is kept in the list anyway: sorted in one run, none written to disk.
    with (
        stream_sources(sources, agreement, strict=strict, names=names, run=sys.maxsize) as stream,
        gc_paused(),
    ):
        return Imported(list(stream), stream.report, stream.joined)


def _with_people(agreement: Agreement, joined: dict[str, list[str]]) -> Agreement:
    if not any(joined.values()):
        return agreement
    teams = tuple(
        attrs.evolve(team, members=(*team.members, *joined.get(team.name, ())))
        for team in agreement.teams
    )
    return attrs.evolve(agreement, teams=teams)


def check_join(agreement: Agreement, team: str | None, where: str) -> list[Problem]:
    """A mapping's ``join`` team is one of the agreement's (checked where a source's rows
    meet the agreement: people never join a team that does not exist)."""
    if team is None or agreement.team(team) is not None:
        return []
    names = [known.name for known in agreement.teams]
    return [
        Problem(
            where,
            team,
            "is not a team of the agreement",
            f"use one of {', '.join(names)}{did_you_mean(team, names)}"
            if names
            else "the agreement has no teams: add the team to it, or leave join out",
        )
    ]
