"""Events from a CSV export, through a column mapping.

A CRM export is one row per lead, deal or activity, with the CRM's own column names. A
:class:`CsvMapping` says which events each row makes: for each event, its type and, for each of
its keys, a template such as ``"{mql_id}"`` (a column's value), ``"{won_date}"``, or a constant
such as ``"win"``. :func:`csv_events` reads the rows of a file and returns the events in their
JSON form, in time order, each with its row number, ready for :func:`leadsla.replay`, which
checks them as it checks a JSON Lines log; :func:`csv_events_from_text` does the same for CSV
text already in memory (a ``str``, or its lines: an open file will do).

A path and a text are never guessed from each other: :func:`csv_events` and
:meth:`CsvMapping.from_toml` take the path of a file (a ``str`` or a :class:`pathlib.Path`) and
refuse a text with a :class:`~leadsla.UsageError` naming the function for it;
:func:`csv_events_from_text` and :meth:`CsvMapping.from_toml_text` take the text and refuse a
path.

Times: an ISO 8601 date-time with an offset is taken as is; one without an offset is local
time in the mapping's ``zone`` (else the agreement's); a date alone is ``default_time`` (00:00
unless set) on that day. Field values are text, or typed by the agreement's declared ``fields``
(``number``, ``boolean``); an empty cell makes a field missing.

Templates only substitute columns: ``{name}`` is the value of column ``name``, ``{_row}`` the
row number, ``{{`` and ``}}`` are braces; nothing in them is evaluated.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import field, frozen

from leadsla._core.agreement import Agreement
from leadsla._core.errors import CsvError, Problem, UsageError, unknown

__all__ = ["CsvMapping", "EventTemplate", "csv_events", "csv_events_from_text"]

#: The keys each event type can take from a row (besides ``id``, ``lead`` and ``at``).
EVENT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "lead_created": ("fields",),
    "lead_updated": ("fields",),
    "activity": ("kind", "outcome", "by"),
    "transition": ("trigger", "by", "reason"),
    "assign": ("owner", "by", "reason"),
}
_PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_TRUE: Final = frozenset({"true", "yes", "y", "1", "t"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f"})


def _templates(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@frozen
class EventTemplate:
    """One event a row makes: its ``type`` and a template for each of its keys."""

    type: str
    lead: str
    at: str
    id: str | None = None
    fields: Mapping[str, str] = field(factory=dict, converter=_templates)
    trigger: str | None = None
    kind: str | None = None
    outcome: str | None = None
    by: str | None = None
    reason: str | None = None
    owner: str | None = None


def _template_tuple(value: Iterable[EventTemplate]) -> tuple[EventTemplate, ...]:
    return tuple(value)


@frozen
class CsvMapping:
    """How the rows of a CSV file become events (see the module's documentation).

    >>> mapping = CsvMapping.from_toml_text('''
    ... zone = "America/Sao_Paulo"
    ... [[events]]
    ... type = "lead_created"
    ... lead = "{mql_id}"
    ... at = "{first_contact_date}"
    ... fields = {origin = "{origin}", score = "60"}
    ... ''')
    >>> rows = "mql_id,first_contact_date,origin\\nm1,2018-02-01,social\\n"
    >>> made = csv_events_from_text(rows, mapping)
    >>> [(row, event["at"], dict(event["fields"])) for row, event in made]
    [(2, '2018-02-01T00:00:00-02:00', {'origin': 'social', 'score': 60})]
    """

    events: tuple[EventTemplate, ...] = field(converter=_template_tuple)
    zone: str | None = None
    default_time: str = "00:00"
    delimiter: str = ","

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> CsvMapping:
        """Read a mapping file; every problem is reported at once.

        ``path`` names the file (a ``str`` or a :class:`pathlib.Path`); for the text of a
        mapping, use :meth:`from_toml_text`. A text given here is refused, not guessed at.
        """
        if isinstance(path, str) and _looks_like_text(path, "\n\r="):
            raise UsageError(
                Problem(
                    "path",
                    _clip(path),
                    "looks like the text of a mapping, not the path of a file",
                    "pass the text to CsvMapping.from_toml_text(text) instead",
                )
            )
        if not isinstance(path, (str, os.PathLike)):
            raise UsageError(
                Problem(
                    "path",
                    type(path).__name__,
                    "is not a path",
                    "pass a pathlib.Path or a str naming the mapping file; "
                    "for its text, use CsvMapping.from_toml_text(text)",
                )
            )
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
            raise CsvError(
                Problem(
                    "mapping",
                    str(path),
                    f"cannot be read ({reason or error})",
                    "give the path of a TOML file",
                )
            ) from None
        return cls.from_toml_text(text)

    @classmethod
    def from_toml_text(cls, text: str) -> CsvMapping:
        """Read a mapping from the text of its TOML file; every problem is reported at once."""
        if not isinstance(text, str):
            raise UsageError(
                Problem(
                    "text",
                    type(text).__name__,
                    "is not text",
                    "pass the mapping's TOML as a str, or its path to CsvMapping.from_toml(path)",
                )
            )
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise CsvError(
                Problem("mapping", str(error), "is not TOML", "fix the line it names")
            ) from None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CsvMapping:
        """A mapping from plain data (what the TOML form reads as)."""
        problems: list[Problem] = []
        known = ("events", "zone", "default_time", "delimiter")
        problems.extend(unknown("key", key, known) for key in data if key not in known)
        raw = data.get("events")
        if not isinstance(raw, list) or not raw:
            problems.append(
                Problem(
                    "events",
                    raw,
                    "must list at least one event",
                    'add [[events]] with type, lead and at, e.g. lead = "{lead_id}"',
                )
            )
            raw = []
        templates = []
        for number, entry in enumerate(raw, start=1):
            template = _template(entry, f"events[{number}]", problems)
            if template is not None:
                templates.append(template)
        zone = data.get("zone")
        if zone is not None:
            try:
                ZoneInfo(str(zone))
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(
                    Problem("zone", zone, "is not a time zone", "write e.g. Europe/Helsinki")
                )
        default_time = str(data.get("default_time", "00:00"))
        try:
            time.fromisoformat(default_time)
        except ValueError:
            problems.append(
                Problem("default_time", default_time, "is not a time of day", 'write e.g. "09:00"')
            )
        delimiter = str(data.get("delimiter", ","))
        if len(delimiter) != 1:
            problems.append(
                Problem("delimiter", delimiter, "must be one character", 'write e.g. ";"')
            )
        if problems:
            raise CsvError(*problems)
        return cls(templates, zone, default_time, delimiter)


def _template(entry: object, where: str, problems: list[Problem]) -> EventTemplate | None:
    if not isinstance(entry, Mapping):
        problems.append(Problem(where, entry, "must be a table", "write [[events]] tables"))
        return None
    kind = entry.get("type")
    if kind not in EVENT_KEYS:
        problems.append(unknown("event type", kind, EVENT_KEYS, f"{where}.type"))
        return None
    allowed = ("type", "id", "lead", "at", *EVENT_KEYS[kind])
    count = len(problems)
    problems.extend(
        unknown(f"key of a {kind} event", key, allowed, f"{where}.{key}")
        for key in entry
        if key not in allowed
    )
    for key in ("lead", "at", *(("trigger",) if kind == "transition" else ())):
        if not isinstance(entry.get(key), str):
            problems.append(
                Problem(
                    f"{where}.{key}",
                    entry.get(key),
                    "is required, as text",
                    f'write e.g. {key} = "{{column}}" (a column of the file) or a constant',
                )
            )
    fields = entry.get("fields", {})
    if not isinstance(fields, Mapping) or not all(
        isinstance(value, str) for value in fields.values()
    ):
        problems.append(
            Problem(
                f"{where}.fields",
                fields,
                "must map field names to templates",
                'write e.g. fields = {score = "{lead_score}"}',
            )
        )
        fields = {}
    for key, value in entry.items():
        if key not in ("type", "fields") and not isinstance(value, str):
            problems.append(
                Problem(f"{where}.{key}", value, "must be text", f'write {key} = "{{column}}"')
            )
    texts = {key: value for key, value in entry.items() if key != "type" and isinstance(value, str)}
    texts.update({f"fields.{name}": value for name, value in fields.items()})
    for key, text in texts.items():
        if _stray_braces(text):
            problems.append(
                Problem(
                    f"{where}.{key}",
                    text,
                    "has a brace that names no column",
                    "write {column} for a column's value, {{ and }} for a brace",
                )
            )
    if len(problems) > count:
        return None
    return EventTemplate(
        type=kind,
        lead=entry["lead"],
        at=entry["at"],
        id=entry.get("id"),
        fields=fields,
        trigger=entry.get("trigger"),
        kind=entry.get("kind"),
        outcome=entry.get("outcome"),
        by=entry.get("by"),
        reason=entry.get("reason"),
        owner=entry.get("owner"),
    )


def csv_events(
    path: str | os.PathLike[str],
    mapping: CsvMapping,
    agreement: Agreement | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """The events ``mapping`` makes of the CSV file at ``path``, as ``(row number, event in its
    JSON form)``, sorted by time (stably: rows keep their order at equal times; a row's events
    keep the mapping's order).

    ``path`` names the file (a ``str`` or a :class:`pathlib.Path`; a byte-order mark at its
    start is skipped). For CSV text already in memory, or its lines, use
    :func:`csv_events_from_text`: a text given here is refused, not guessed at.

    Row numbers are the file's line numbers (the header is line 1, as in a spreadsheet).
    A template naming a column the file does not have, a header naming a column twice, and a
    cell that is not a number or a boolean where the agreement declares one are errors, all
    listed at once; a value that is not a time is passed on, for the engine to refuse with
    its row. A file with a header and no rows makes no events. ``agreement`` (default: the
    default agreement) gives the time zone when the mapping has none, and the field types.
    """
    _check_mapping(mapping)
    if isinstance(path, str) and _looks_like_text(path, "\n\r"):
        raise UsageError(
            Problem(
                "path",
                _clip(path),
                "looks like CSV text, not the path of a file",
                "pass the text to csv_events_from_text(text, mapping) instead",
            )
        )
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(
            Problem(
                "path",
                type(path).__name__,
                "is not a path",
                "pass a pathlib.Path or a str naming the CSV file; for CSV text or its lines "
                "(an open file), use csv_events_from_text(text, mapping)",
            )
        )
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            columns, rows = _read(handle, mapping.delimiter)
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise CsvError(
            Problem(
                "path",
                str(path),
                f"cannot be read ({reason or error})",
                "give the path of a CSV file with a header row "
                "(for CSV text, use csv_events_from_text(text, mapping))",
            )
        ) from None
    return _events(columns, rows, mapping, agreement)


def csv_events_from_text(
    text: str | Iterable[str],
    mapping: CsvMapping,
    agreement: Agreement | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """The events ``mapping`` makes of CSV ``text``: the whole text as a ``str``, or its lines
    (an open file, a list of lines); otherwise as :func:`csv_events` does for a file.

    A path given here is refused: read a file with :func:`csv_events`.
    """
    _check_mapping(mapping)
    given: object = text  # what the caller passed, whatever the annotation says
    if isinstance(given, os.PathLike):
        raise UsageError(
            Problem(
                "text",
                str(given),
                "is a path, not CSV text",
                "pass the path to csv_events(path, mapping) to read the file",
            )
        )
    if isinstance(given, (bytes, bytearray)) or not isinstance(given, Iterable):
        raise UsageError(
            Problem(
                "text",
                type(given).__name__,
                "is not text",
                "pass the CSV text as a str (decode bytes first), or its lines",
            )
        )
    lines = io.StringIO(text.removeprefix("\ufeff")) if isinstance(text, str) else text
    columns, rows = _read(lines, mapping.delimiter)
    return _events(columns, rows, mapping, agreement)


def _check_mapping(mapping: object) -> None:
    if not isinstance(mapping, CsvMapping):
        raise UsageError(
            Problem(
                "mapping",
                type(mapping).__name__,
                "is not a CsvMapping",
                "read one with CsvMapping.from_toml(path) or CsvMapping.from_toml_text(text)",
            )
        )


def _looks_like_text(value: str, marks: str) -> bool:
    """Whether a ``str`` given as a path is plainly a text: it has one of ``marks``, which
    every such text has and no sensible file name does (a line break; ``=`` in TOML)."""
    return any(mark in value for mark in marks)


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _events(
    columns: list[str],
    rows: list[tuple[int, dict[str, str]]],
    mapping: CsvMapping,
    agreement: Agreement | None,
) -> list[tuple[int, dict[str, Any]]]:
    resolved = agreement if agreement is not None else Agreement.default()
    zone = ZoneInfo(mapping.zone or resolved.timezone)
    default_time = time.fromisoformat(mapping.default_time)
    _check_columns(mapping, columns)
    types = {name: kind.base for name, kind in resolved.field_types.items()}
    problems: list[Problem] = []
    made: list[tuple[float, int, int, dict[str, Any]]] = []
    for row_number, cells in rows:
        values = {**cells, "_row": str(row_number)}
        for position, template in enumerate(mapping.events):
            event = _event(template, values, position, zone, default_time, types, problems)
            made.append((_sort_key(event["at"]), row_number, position, event))
    if problems:
        shown = problems[:20]
        if len(problems) > len(shown):
            shown.append(
                Problem(
                    "rows",
                    len(problems) - len(shown),
                    "more cells have the same kind of problem",
                    "fix the ones above and read the file again",
                )
            )
        raise CsvError(*shown)
    made.sort(key=lambda item: (item[0], item[1], item[2]))
    return [(row, event) for _, row, _, event in made]


def _read(
    lines: Iterable[str], delimiter: str
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the rows, each with the line it starts on."""
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise CsvError(
                Problem("csv", None, "is empty", "export the file with its header row of names")
            )
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise CsvError(
                Problem(
                    "header",
                    twice,
                    "names a column more than once",
                    "rename the columns so each name is used once",
                )
            )
        rows = []
        line = reader.line_num + 1
        for record in reader:
            if record:
                cells = {name: (value or "") for name, value in zip(header, record, strict=False)}
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as error:
        raise CsvError(
            Problem(
                "csv",
                f"line {reader.line_num}",
                f"cannot be read ({error})",
                "check the quoting around that line, or the mapping's delimiter",
            )
        ) from None
    return header, rows


def _check_columns(mapping: CsvMapping, columns: list[str]) -> None:
    problems = []
    for number, template in enumerate(mapping.events, start=1):
        texts = {
            "lead": template.lead,
            "at": template.at,
            "id": template.id,
            "trigger": template.trigger,
            "kind": template.kind,
            "outcome": template.outcome,
            "by": template.by,
            "reason": template.reason,
            "owner": template.owner,
            **{f"fields.{name}": text for name, text in template.fields.items()},
        }
        for key, text in texts.items():
            for name in _names(text or ""):
                if name != "_row" and name not in columns:
                    problems.append(unknown("column", name, columns, f"events[{number}].{key}"))
    if problems:
        raise CsvError(*problems)


def _stray_braces(text: str) -> bool:
    """Whether ``text`` has a lone ``{`` or ``}``, or an empty ``{}``."""
    for match in _PLACEHOLDER.finditer(text):
        token = match.group(0)
        if token in ("{", "}") or token == "{}":
            return True
    return False


def _names(text: str) -> list[str]:
    return [match.group(1) for match in _PLACEHOLDER.finditer(text) if match.group(1)]


def _fill(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None or name == "":
            return token
        return values[name]

    return _PLACEHOLDER.sub(replace, text)


def _event(
    template: EventTemplate,
    values: Mapping[str, str],
    position: int,
    zone: ZoneInfo,
    default_time: time,
    types: Mapping[str, str],
    problems: list[Problem],
) -> dict[str, Any]:
    row = values["_row"]
    event: dict[str, Any] = {
        "id": _fill(template.id, values) if template.id else f"row{row}-{position + 1}",
        "type": template.type,
        "lead": _fill(template.lead, values),
        "at": _instant(_fill(template.at, values), zone, default_time),
    }
    if template.type in ("lead_created", "lead_updated"):
        event["fields"] = {
            name: _typed(_fill(text, values), types.get(name), f"row {row}: {name}", problems)
            for name, text in template.fields.items()
        }
    for key in EVENT_KEYS[template.type]:
        if key == "fields":
            continue
        text = getattr(template, key)
        if text is not None:
            filled = _fill(text, values)
            event[key] = filled or None
    return event


def _instant(text: str, zone: ZoneInfo, default_time: time) -> str:
    """An ISO 8601 instant with its offset, or ``text`` unchanged when it is not a time."""
    stripped = text.strip()
    try:
        moment = datetime.combine(date.fromisoformat(stripped), default_time)  # a date alone
    except ValueError:
        try:
            moment = datetime.fromisoformat(stripped)
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def _sort_key(at: object) -> float:
    """Events sort by instant; a time that could not be read sorts first (to be refused)."""
    try:
        return datetime.fromisoformat(str(at)).timestamp()
    except ValueError:
        return float("-inf")


def _typed(text: str, kind: str | None, where: str, problems: list[Problem]) -> Any:
    """A cell as the agreement declares the field: a number, a boolean, or text."""
    stripped = text.strip()
    if stripped == "":
        return None
    if kind == "number":
        try:
            return int(stripped)
        except ValueError:
            pass
        try:
            number = float(stripped)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
        problems.append(
            Problem(where, text, "is not a number", "write digits with a point, e.g. 1.5 or 42")
        )
        return text
    if kind == "boolean":
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        problems.append(
            Problem(where, text, "is not a yes or no", "write true/false, yes/no or 1/0")
        )
        return text
    return text
