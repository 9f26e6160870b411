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

import csv
import gzip
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import attrs
from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.conditions import Condition, Scope
from leadsla._core.errors import CsvError, LeadSLAError, Problem, did_you_mean, unknown
from leadsla._shell.columns import MISSING, Column, Refusal, guess_format

if TYPE_CHECKING:
    from leadsla._shell.csv import CsvMapping, EventTemplate

__all__ = ["ImportReport", "Imported", "Refused", "import_sources", "rows_of"]

#: The keys each event type can take from a row (besides ``id``, ``lead`` and ``at``).
EVENT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "lead_created": ("fields",),
    "lead_updated": ("fields",),
    "activity": ("kind", "outcome", "by"),
    "transition": ("trigger", "by", "reason"),
    "assign": ("owner", "by", "reason"),
}
PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
#: What a value map may say of a value it does not list.
OTHERS: Final = ("refuse", "pass", "skip")


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
    __slots__ = ("count", "first")

    def __init__(self, first: Refused) -> None:
        self.first = first
        self.count = 0


class ImportReport:
    """What an import refused, collapsed by source, column and reason, with the first row of
    each; and how many rows each source had and how many events it made."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str | None, str], _Group] = {}
        self.rows: dict[str, int] = {}
        self.events: dict[str, int] = {}

    def add(self, refused: Refused) -> None:
        key = (refused.source, refused.column, refused.message)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(refused)
        group.count += 1

    @property
    def refused(self) -> int:
        """How many events were refused, in all."""
        return sum(group.count for group in self._groups.values())

    def __bool__(self) -> bool:
        return bool(self._groups)

    def groups(self) -> list[tuple[int, Refused]]:
        """Each reason with how many times it was met and its first case, most first."""
        found = [(group.count, group.first) for group in self._groups.values()]
        return sorted(found, key=lambda item: (-item[0], item[1].source, item[1].row))

    def lines(self) -> list[str]:
        """The report in words, one line per reason."""
        lines = []
        for count, first in self.groups():
            cell = f" {first.column!r}" if first.column else ""
            got = f" (got {first.value!r})" if first.value is not None else ""
            times = f"{count:,} rows" if count != 1 else "1 row"
            lines.append(
                f"{times} of {first.source}:{cell} {first.message}{got}, first at row "
                f"{first.row}; {first.fix}"
            )
        return lines

    def to_data(self) -> dict[str, Any]:
        """The report as plain data (JSON)."""
        return {
            "rows": dict(self.rows),
            "events": dict(self.events),
            "refused": self.refused,
            "reasons": [{**attrs.asdict(first), "count": count} for count, first in self.groups()],
        }


@frozen
class Imported:
    """Events from one or more sources, merged by time: each as ``(source, row, event in its
    JSON form)``; ``report`` says what was refused, ``joined`` who joined which team from the
    data (see :meth:`with_people`)."""

    events: list[tuple[str, int, dict[str, Any]]]
    report: ImportReport
    joined: dict[str, list[str]]

    def with_people(self, agreement: Agreement) -> Agreement:
        """``agreement`` with the people the data named joined to the teams the mappings
        say (members added at the end of each team, in the order they were met)."""
        if not any(self.joined.values()):
            return agreement
        teams = tuple(
            attrs.evolve(team, members=(*team.members, *self.joined.get(team.name, ())))
            for team in agreement.teams
        )
        return attrs.evolve(agreement, teams=teams)


def open_text(path: Path) -> IO[str]:
    """A CSV file as text: plain, gzip (``.gz``) or the one CSV file of a ``.zip``; a
    byte-order mark at its start is skipped."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        names = [name for name in archive.namelist() if not name.endswith("/")]
        chosen = [name for name in names if name.lower().endswith(".csv")] or names
        if len(chosen) != 1:
            archive.close()
            raise CsvError(
                Problem(
                    "path",
                    str(path),
                    f"holds {len(chosen)} files, not one CSV file",
                    "zip one CSV file, or unzip it and give the file",
                )
            )
        return io.TextIOWrapper(archive.open(chosen[0]), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


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
        self.position = self._positions(header)
        self.conditions = {
            index: Condition(template.when, field=f"events[{index + 1}].when")
            for index, template in enumerate(mapping.events)
            if template.when
        }
        self.join = mapping.join
        self.people: dict[str, None] = {}

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

    def events(self, row: int, cells: list[str]) -> list[dict[str, Any]]:
        """The events of one row (refusals go to the report)."""
        self.report.rows[self.name] = self.report.rows.get(self.name, 0) + 1
        if len(cells) < self.header_width:
            self._refused(
                row,
                None,
                None,
                f"has {len(cells)} cells, but the header names {self.header_width} columns",
                "check the row's quoting and delimiters in the export",
            )
            return []
        values: dict[str, Any] = {}
        made = []
        digest = hashlib.blake2b("\x1f".join(cells).encode("utf-8", "surrogatepass"), digest_size=6)
        for index, template in enumerate(self.mapping.events):
            try:
                event = self._event(index, template, cells, values, row, digest.hexdigest())
            except _Skip:
                continue
            except _Refuse as refusal:
                self._refused(row, refusal.column, refusal.value, refusal.message, refusal.fix)
                continue
            if event is not None:
                made.append(event)
        self.report.events[self.name] = self.report.events.get(self.name, 0) + len(made)
        return made

    def _refused(
        self, row: int, column: str | None, value: str | None, message: str, fix: str
    ) -> None:
        refused = Refused(self.name, row, column, value, message, fix)
        if self.strict:
            raise CsvError(Problem(f"{self.name}:{row}", value, message, fix))
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
                value = column.read(
                    text, zone=self.zone, default_time=self.default_time, missing=self.missing
                )
            else:
                value = MISSING if text.strip() in self.missing or text in self.missing else text
        values[name] = value
        return value

    def _event(
        self,
        index: int,
        template: EventTemplate,
        cells: list[str],
        values: dict[str, Any],
        row: int,
        digest: str,
    ) -> dict[str, Any] | None:
        condition = self.conditions.get(index)
        if condition is not None and not self._holds(condition, cells, values, row):
            return None
        kind = self._text(template.type, cells, values, row, "type")
        if kind not in EVENT_KEYS:
            raise _Refuse(
                _first_column(template.type),
                kind,
                "is not an event type",
                f"map it to one of {', '.join(EVENT_KEYS)}, or to skip",
            )
        lead = self._text(template.lead, cells, values, row, "lead")
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
        event: dict[str, Any] = {
            "id": (
                self._text(template.id, cells, values, row, "id")
                if template.id
                else f"{self.name}-{digest}-{index + 1}"
            ),
            "type": kind,
            "lead": lead,
            "at": self._instant(template.at, cells, values, row),
        }
        if kind in ("lead_created", "lead_updated"):
            event["fields"] = {
                name: self._field(name, text, cells, values, row)
                for name, text in template.fields.items()
            }
        for key in EVENT_KEYS[kind]:
            if key == "fields":
                continue
            text = getattr(template, key)
            if text is not None:
                filled = self._text(text, cells, values, row, key)
                event[key] = filled or None
                if key in self.join[1] and filled:
                    self.people.setdefault(filled)
        if kind == "transition" and not event.get("trigger"):
            raise _Refuse(
                _first_column(template.trigger or ""),
                None,
                "is empty: the transition has no trigger",
                "map every value to a trigger, or skip such rows",
            )
        return event

    def _holds(
        self, condition: Condition, cells: list[str], values: dict[str, Any], row: int
    ) -> bool:
        fields = {}
        for name in condition.names:
            if name not in self.position:
                continue
            value = self._cell(name, cells, values, row)
            if isinstance(value, Refusal):
                raise _Refuse(name, cells[self.position[name]], value.message, value.fix)
            if value is not MISSING:
                fields[name] = value
        return bool(condition.compile()(Scope(fields)))

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

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if token in ("{{", "}}"):
                return token[0]
            inside = match.group(1)
            if not inside:
                return token
            column, _, map_name = inside.partition("|")
            value = self._value(column.strip(), map_name.strip() or None, cells, values, row)
            return "" if value is MISSING else _text_of(value)

        return PLACEHOLDER.sub(replace, text)

    def _field(
        self, name: str, text: str, cells: list[str], values: dict[str, Any], row: int
    ) -> Any:
        whole = PLACEHOLDER.fullmatch(text)
        if whole is not None and whole.group(1):
            column, _, map_name = whole.group(1).partition("|")
            column = column.strip()
            value = self._value(column, map_name.strip() or None, cells, values, row)
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
        if kind == "number":
            value = Column(name, "number").read(stripped)
        elif kind == "boolean":
            value = Column(name, "boolean").read(stripped)
        else:
            return text
        if isinstance(value, Refusal):
            raise _Refuse(column or name, text, value.message, value.fix)
        return value

    def _instant(self, text: str, cells: list[str], values: dict[str, Any], row: int) -> str:
        whole = PLACEHOLDER.fullmatch(text)
        column = None
        if whole is not None and whole.group(1) and "|" not in whole.group(1):
            column = whole.group(1).strip()
            value = self._value(column, None, cells, values, row)
            if isinstance(value, (date, datetime)) and column in self.columns:
                if not isinstance(value, datetime):
                    declared = self.columns[column].time or self.default_time
                    value = datetime.combine(value, time.fromisoformat(declared))
                if value.tzinfo is None:
                    value = value.replace(tzinfo=ZoneInfo(self.zone))
                return value.isoformat()
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
        reading = Column(column or "at", "datetime", time=self.default_time).read(
            filled, zone=self.zone, default_time=self.default_time, missing=()
        )
        if isinstance(reading, Refusal):
            hint = guess_format(filled)
            fix = (
                f'declare the column: [columns.{column}] type = "datetime", format = "{hint}"'
                if hint and column
                else reading.fix
            )
            raise _Refuse(column or "at", filled, "is not an ISO 8601 time", fix)
        return str(reading.isoformat())


def _first_column(text: str) -> str | None:
    found = names_in(text)
    return found[0][0] if found else None


def _text_of(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _instant_key(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def events_of(
    name: str,
    lines: Iterable[str],
    mapping: CsvMapping,
    agreement: Agreement,
    report: ImportReport,
    *,
    strict: bool = False,
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """The events of one source's rows, with their rows, in time order (stably), and the
    people named in the keys the mapping's ``join`` lists."""
    header, rows = rows_of(lines, mapping.delimiter)
    source = _Source(name, header, mapping, agreement, report, strict)
    made: list[tuple[float, int, int, dict[str, Any]]] = []
    for row, cells in rows:
        for position, event in enumerate(source.events(row, cells)):
            made.append((_instant_key(event["at"]), row, position, event))
    made.sort(key=lambda item: item[:3])
    return [(row, event) for _, row, _, event in made], list(source.people)


def import_sources(
    sources: Sequence[tuple[CsvMapping, str | os.PathLike[str]]],
    agreement: Agreement | None = None,
    *,
    strict: bool = False,
    names: Sequence[str] | None = None,
) -> Imported:
    """Every source's events, merged by time into one log (see the module's documentation):
    each source a mapping and the path of its file (CSV, ``.gz`` or ``.zip``). ``names`` name
    the sources in the report and in event ids (default: each file's name without its
    suffixes). With ``strict``, the first refusal stops the import with a
    :class:`~leadsla.CsvError`."""
    resolved = agreement if agreement is not None else Agreement.default()
    report = ImportReport()
    merged: list[tuple[float, int, int, int, str, dict[str, Any]]] = []
    joined: dict[str, list[str]] = {}
    known = {person for team in resolved.teams for person in (*team.members, team.manager)}
    for number, (mapping, path) in enumerate(sources):
        location = Path(path)
        name = names[number] if names is not None else mapping.source or location.name.split(".")[0]
        try:
            with open_text(location) as handle:
                made, people = events_of(name, handle, mapping, resolved, report, strict=strict)
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise CsvError(
                Problem(
                    "path",
                    str(path),
                    f"cannot be read ({reason or error})",
                    "give the path of a CSV file with a header row (.csv, .csv.gz or .zip)",
                )
            ) from None
        except LeadSLAError as error:
            raise CsvError(
                *(attrs.evolve(p, field=f"{name}: {p.field}") for p in error.problems)
            ) from None
        team = mapping.join[0]
        if team is not None:
            new = [person for person in people if person not in known]
            joined.setdefault(team, []).extend(p for p in new if p not in joined[team])
        for position, (row, event) in enumerate(made):
            merged.append((_instant_key(event["at"]), number, row, position, name, event))
    merged.sort(key=lambda item: item[:4])
    events = [(name, row, event) for _, _, row, _, name, event in merged]
    return Imported(events, report, joined)


def check_join(agreement: Agreement, team: str | None, where: str) -> list[Problem]:
    """A mapping's ``join`` team is one of the agreement's."""
    if team is None or agreement.team(team) is not None:
        return []
    names = [known.name for known in agreement.teams]
    return [
        Problem(
            where,
            team,
            "is not a team of the agreement",
            f"use one of {', '.join(names)}{did_you_mean(team, names)}",
        )
    ]
