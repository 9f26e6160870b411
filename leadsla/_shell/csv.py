"""Events from a CSV export, through a column mapping.

A CRM export is one row per lead, deal or activity, with the CRM's own column names. A
:class:`CsvMapping` says which events each row makes: for each event, its type and, for each of
its keys, a template such as ``"{mql_id}"`` (a column's value), ``"{won_date}"``, or a constant
such as ``"win"``. :func:`csv_events` reads the rows of a file and returns the events
(:class:`~leadsla.Event` values, checked as a JSON Lines log's are, their times at their UTC
offsets), in time order, each with its row number, ready for :func:`leadsla.replay`;
:func:`csv_events_from_text` does the same for CSV text already in memory (a ``str``, or its
lines: an open file will do). A row that would make an event the log would refuse (an
activity whose ``kind`` is empty) is refused for that event, with its row and column.

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

import io
import os
import tomllib
from collections.abc import Iterable, Mapping
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import field, frozen

from leadsla._core.agreement import Agreement
from leadsla._core.conditions import Condition
from leadsla._core.errors import (
    CsvError,
    LeadSLAError,
    Problem,
    UsageError,
    did_you_mean,
    unknown,
)
from leadsla._core.events import Event, maker
from leadsla._shell.columns import DEFAULT_MISSING, Column, columns_from_data
from leadsla._shell.importing import (
    EVENT_KEYS,
    ImportReport,
    events_of,
    names_in,
    open_text,
    stray_braces,
)

__all__ = [
    "CsvMapping",
    "EventTemplate",
    "ValueMap",
    "csv_events",
    "csv_events_from_text",
    "recipe_text",
]

#: The keys besides ``lead`` and ``at`` a template of each type must give: those its events
#: must have (an ``assign``'s ``owner`` may be empty, for the team's policy to pick, but not
#: left out); a template's fields may be none.
_REQUIRED: Final = {
    kind: tuple(sorted(making.required - {"fields"}))
    for kind in EVENT_KEYS
    if (making := maker(kind)) is not None
}
#: Every key an event template may have, whatever its type (one from a column may be any).
_ALL_KEYS: Final = tuple(dict.fromkeys(key for keys in EVENT_KEYS.values() for key in keys))
#: The top-level keys of a mapping file.
MAPPING_KEYS: Final = (
    "events",
    "zone",
    "default_time",
    "delimiter",
    "missing",
    "source",
    "columns",
    "maps",
    "join",
)


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
    #: A condition on the row (its columns by name): a row it does not hold on makes no such
    #: event (see :mod:`leadsla._shell.importing`). ``owner``, ``state`` and ``team`` are
    #: columns there too (a row has no lead); ``now`` is refused (a row has no event time).
    when: str | None = None
    #: Only the first row of each lead makes this event (the rows in the file's order; later
    #: rows of the lead make none, which is not a refusal): a log with no row of its own for
    #: a ticket's opening makes its ``lead_created`` from every row otherwise.
    once: bool = False


def _str_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@frozen
class ValueMap:
    """Source values and the leadsla values they stand for (owner ids to people, stage names
    to triggers, activity types to kinds or event types); ``other`` says what a value it does
    not list becomes: ``"refuse"`` (reported with its row), ``"pass"`` (as it is), ``"skip"``
    (no event) or a value. A listed value may itself be ``"skip"``.

    Any other text is a constant, with one exception that guards against a misspelt keyword
    (taken silently, it would turn every unlisted value into that text): an ``other`` that is
    one of the three words in other letter case, or one typing slip from one of them (a letter
    left out, added, changed, or two swapped: ``"skipp"``, ``"Pass"``, ``"refuze"``; up to two
    slips from the longer ``"refuse"``), and a listed value one slip from ``"skip"``, are
    refused by the mapping that uses the map, with the keyword meant. Such a constant
    (``"ship"``, ``"past"``) cannot be written there: map the values to it one by one."""

    values: Mapping[str, str] = field(factory=dict, converter=_str_map)
    other: str = "refuse"


def _columns(value: Mapping[str, Column] | None) -> Mapping[str, Column]:
    return dict(value or {})


def _maps(value: Mapping[str, ValueMap] | None) -> Mapping[str, ValueMap]:
    return dict(value or {})


def _missing(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _join(value: tuple[str | None, Iterable[str]] | None) -> tuple[str | None, tuple[str, ...]]:
    if value is None:
        return (None, ())
    team, keys = value
    return (team, tuple(keys))


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
    >>> [(row, event.at.isoformat(), dict(event.fields)) for row, event in made]
    [(2, '2018-02-01T00:00:00-02:00', {'origin': 'social', 'score': 60})]
    """

    events: tuple[EventTemplate, ...] = field(converter=_template_tuple)
    zone: str | None = None
    default_time: str = "00:00"
    delimiter: str = ","
    #: The columns' types and formats, by the name templates use (see :class:`Column`).
    columns: Mapping[str, Column] = field(factory=dict, converter=_columns)
    #: Value maps by name, used in templates as ``{column|name}``.
    maps: Mapping[str, ValueMap] = field(factory=dict, converter=_maps)
    #: The cells that mean "not given" (a column may say its own).
    missing: tuple[str, ...] = field(default=DEFAULT_MISSING, converter=_missing)
    #: The source's name in reports and event ids (default: the file's name).
    source: str | None = None
    #: ``(team, keys)``: the people the events name in these keys (``owner``, ``by``) who
    #: are in no team of the agreement join ``team`` (declared, never silent: the import
    #: says who joined).
    join: tuple[str | None, tuple[str, ...]] = field(default=None, converter=_join)

    def __attrs_post_init__(self) -> None:
        """A mapping built in Python is checked as its TOML form is (:meth:`from_data`): a
        template naming a value map the mapping lacks, a ``when`` that names ``now`` (a row
        has no event time; ``owner``, ``state`` and ``team`` are the row's columns), a map
        whose ``other`` is a misspelt keyword (see :class:`ValueMap`)."""
        problems = _reference_problems(enumerate(self.events, start=1), self.maps)
        if problems:
            raise CsvError(*problems)

    def used_columns(self) -> dict[str, str]:
        """Every column the mapping reads, with the first place that reads it."""
        used: dict[str, str] = {}
        for number, template in enumerate(self.events, start=1):
            for key, text in _template_texts(template).items():
                for column, _ in names_in(text or ""):
                    if column != "_row":
                        used.setdefault(column, f"events[{number}].{key}")
            if template.when:
                try:
                    names = Condition(template.when).names
                except LeadSLAError:
                    names = frozenset()
                # Every name is a column, declared or not: one the file lacks is an error,
                # never a silently missing value.
                for name in sorted(names):
                    used.setdefault(name, f"events[{number}].when")
        return used

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
        known = MAPPING_KEYS
        problems.extend(
            unknown("key of a mapping", key, known, str(key)) for key in data if key not in known
        )
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
        numbered: list[tuple[int, EventTemplate]] = []  # each with its place in the file
        for number, entry in enumerate(raw, start=1):
            template = _template(entry, f"events[{number}]", problems)
            if template is not None:
                numbered.append((number, template))
        templates = [template for _, template in numbered]
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
        raw_columns = data.get("columns", {})
        columns: dict[str, Column] = {}
        if isinstance(raw_columns, Mapping):
            columns = columns_from_data(raw_columns, problems)
        else:
            problems.append(
                Problem("columns", raw_columns, "must be a table", "write [columns.NAME]")
            )
        maps = _maps_from_data(data.get("maps", {}), problems)
        missing = data.get("missing", list(DEFAULT_MISSING))
        if isinstance(missing, str):
            missing = [missing]
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            problems.append(
                Problem("missing", missing, "must be a list of texts", 'write missing = ["", "?"]')
            )
            missing = list(DEFAULT_MISSING)
        source = data.get("source")
        if source is not None and (not isinstance(source, str) or not source):
            problems.append(Problem("source", source, "must be a name", 'write source = "deals"'))
            source = None
        join = _join_from_data(data.get("join"), problems)
        problems.extend(_reference_problems(numbered, maps))
        if problems:
            raise CsvError(*problems)
        return cls(templates, zone, default_time, delimiter, columns, maps, missing, source, join)

    @classmethod
    def recipe(cls, name: str) -> CsvMapping:
        """The mapping leadsla ships for a CRM's standard export, by name (see
        :meth:`recipes`): its columns as that CRM names them, onto the default agreement.

        >>> mapping = CsvMapping.recipe("hubspot")
        >>> mapping.columns["created"].header
        'Create Date'

        An unknown name is a :class:`~leadsla.CsvError` naming the known ones.
        ``leadsla recipe NAME`` prints the recipe's file, to copy and adapt.
        """
        return cls.from_toml_text(recipe_text(name))

    @staticmethod
    def recipes() -> tuple[str, ...]:
        """The names of the recipes leadsla ships, sorted.

        >>> CsvMapping.recipes()
        ('hubspot', 'pipedrive', 'pipedrive-activities', 'salesforce', 'zoho')
        """
        return _recipe_names()


#: Where the recipes are: TOML files in the package, one per export.
_RECIPES: Final = "recipes"


def _recipe_names() -> tuple[str, ...]:
    folder = resources.files("leadsla").joinpath(_RECIPES)
    names = (entry.name for entry in folder.iterdir() if entry.name.endswith(".toml"))
    return tuple(sorted(name.removesuffix(".toml") for name in names))


def recipe_text(name: str) -> str:
    """The text of the recipe ``name``: a commented mapping file to copy and adapt.

    >>> print(recipe_text("zoho").splitlines()[0])
    # Zoho CRM: the Leads module's export, one row per lead.
    """
    names = _recipe_names()
    if not isinstance(name, str) or name not in names:
        raise CsvError(
            Problem(
                "recipe",
                name,
                "is not a recipe leadsla ships",
                f"use one of {', '.join(names)}{did_you_mean(name, names)}, or write a "
                "mapping file and give its path",
            )
        )
    return resources.files("leadsla").joinpath(_RECIPES).joinpath(f"{name}.toml").read_text("utf-8")


def _template(entry: object, where: str, problems: list[Problem]) -> EventTemplate | None:
    if not isinstance(entry, Mapping):
        problems.append(Problem(where, entry, "must be a table", "write [[events]] tables"))
        return None
    kind = entry.get("type")
    chosen = isinstance(kind, str) and bool(names_in(kind))  # from a column
    if kind not in EVENT_KEYS and not chosen:
        problems.append(unknown("event type", kind, EVENT_KEYS, f"{where}.type"))
        return None
    assert isinstance(kind, str)
    allowed = (
        "type",
        "id",
        "lead",
        "at",
        "when",
        "once",
        *(_ALL_KEYS if chosen else EVENT_KEYS[kind]),
    )
    count = len(problems)
    described = "an event" if chosen else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} event"
    problems.extend(
        unknown(f"key of {described}", key, allowed, f"{where}.{key}")
        for key in entry
        if key not in allowed
    )
    required = ("lead", "at", *_REQUIRED.get(kind, ()))
    for key in required:
        if not isinstance(entry.get(key), str):
            problems.append(
                Problem(
                    f"{where}.{key}",
                    entry.get(key),
                    "is required, as text",
                    f'write e.g. {key} = "{{column}}" (a column of the file) or a constant'
                    + (' (owner = "" lets the team\'s policy pick)' if key == "owner" else ""),
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
    if not isinstance(entry.get("once", False), bool):
        problems.append(
            Problem(f"{where}.once", entry["once"], "must be true or false", "write once = true")
        )
    for key, value in entry.items():
        if key in ("type", "fields", "once", *required) or isinstance(value, str):
            continue  # (a required key that is not text is said above, once)
        fix = (
            'write a condition on the row\'s columns, e.g. when = "has(won_date)"'
            if key == "when"
            else f'write {key} = "{{column}}"'
        )
        problems.append(Problem(f"{where}.{key}", value, "must be text", fix))
    if isinstance(entry.get("when"), str):
        try:
            Condition(entry["when"], field=f"{where}.when")
        except LeadSLAError as error:
            problems.extend(error.problems)
    texts = {
        key: value
        for key, value in entry.items()
        if key not in ("type", "when", "once") and isinstance(value, str)
    }
    texts.update({f"fields.{name}": value for name, value in fields.items()})
    for key, text in texts.items():
        if stray_braces(text):
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
        when=entry.get("when"),
        once=entry.get("once", False) is True,
    )


def _template_texts(template: EventTemplate) -> dict[str, str | None]:
    return {
        "type": template.type,
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


def _reference_problems(
    numbered: Iterable[tuple[int, EventTemplate]], maps: Mapping[str, ValueMap]
) -> list[Problem]:
    """What the templates (each with its place) and the value maps say of each other: a map
    a template names that the mapping lacks, a ``when`` naming ``now``, a map's ``other`` or
    value that is a misspelt keyword. The same for a mapping read from TOML and one built in
    Python."""
    problems: list[Problem] = []
    for number, template in numbered:
        for key, text in _template_texts(template).items():
            for _, map_name in names_in(text or ""):
                if map_name is not None and map_name not in maps:
                    problems.append(_unknown_map(map_name, maps, f"events[{number}].{key}"))
        if template.when:
            try:
                names = Condition(template.when).names
            except LeadSLAError:
                names = frozenset()  # (said where the condition is read)
            if "now" in names:
                problems.append(
                    Problem(
                        f"events[{number}].when",
                        template.when,
                        "names now, which a row has no value for: in a condition now is the "
                        "event's time, and a row condition has none",
                        "to test a column called now, give it another name: [columns.now_at] "
                        'header = "now", then write now_at',
                    )
                )
    for name, table in maps.items():
        meant = _meant(table.other, _KEYWORD_SLIPS)
        if meant is not None:
            problems.append(
                Problem(
                    f"maps.{name}.other",
                    table.other,
                    "is too like refuse, pass or skip to be a value",
                    f'write other = "{meant}", if that is what it means; for such a constant, '
                    "list the values it stands for in values instead",
                )
            )
        for source, value in table.values.items():
            if _meant(value, {"skip": 1}) is not None:
                problems.append(
                    Problem(
                        f"maps.{name}.values.{source}",
                        value,
                        "is too like skip to be a value",
                        f'write "{source}" = "skip" to make no event of such rows, if that is '
                        "what it means; else another value",
                    )
                )
    return problems


def _unknown_map(name: str, maps: Mapping[str, ValueMap], where: str) -> Problem:
    if maps:
        return unknown("value map", name, maps, where)
    return Problem(
        where,
        name,
        "is not a known value map",
        f'no value maps are declared: declare it, e.g. [maps.{name}.values] then "source '
        'value" = "value"',
    )


#: The words a value map's ``other`` gives a meaning to, each with how many typing slips
#: from it a text is taken as the word misspelt, not as a constant (see :class:`ValueMap`).
_KEYWORD_SLIPS: Final = {"refuse": 2, "pass": 1, "skip": 1}


def _meant(text: str, words: Mapping[str, int]) -> str | None:
    """The word of ``words`` that ``text`` is a slip from: the word in other letter case, or
    within its number of slips; None for the word itself, or a text like none of them."""
    if text in words:
        return None
    lowered = text.lower()
    slips = {word: _slips(lowered, word) for word in words}
    near = [word for word, count in slips.items() if count <= words[word]]
    return min(near, key=slips.__getitem__) if near else None


def _slips(first: str, second: str) -> int:
    """How many typing slips make ``first`` of ``second``: a letter left out, added or
    changed, or two letters side by side swapped (the optimal string alignment distance)."""
    before: list[int] = []
    previous = list(range(len(second) + 1))
    for i, letter in enumerate(first, start=1):
        current = [i]
        for j, other in enumerate(second, start=1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (letter != other))
            if i > 1 and j > 1 and letter == second[j - 2] and first[i - 2] == other:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]


def _maps_from_data(value: object, problems: list[Problem]) -> dict[str, ValueMap]:
    maps: dict[str, ValueMap] = {}
    if not isinstance(value, Mapping):
        problems.append(Problem("maps", value, "must be a table", "write [maps.NAME]"))
        return maps
    for name, entry in value.items():
        where = f"maps.{name}"
        if not isinstance(entry, Mapping):
            problems.append(Problem(where, entry, "must be a table", f"write [maps.{name}.values]"))
            continue
        bad = [key for key in entry if key not in ("values", "other")]
        problems.extend(unknown("key", key, ("values", "other"), f"{where}.{key}") for key in bad)
        values = entry.get("values", {})
        if not isinstance(values, Mapping) or not all(
            isinstance(item, str) for item in values.values()
        ):
            problems.append(
                Problem(
                    f"{where}.values",
                    values,
                    "must map source values to texts",
                    f'write [maps.{name}.values] then "Closed" = "win"',
                )
            )
            continue
        other = entry.get("other", "refuse")
        if not isinstance(other, str):
            problems.append(
                Problem(
                    f"{where}.other",
                    other,
                    "must be text",
                    'write other = "refuse", "pass", "skip" or a value',
                )
            )
            continue
        if not bad:
            maps[str(name)] = ValueMap({str(k): v for k, v in values.items()}, other)
    return maps


def _join_from_data(
    value: object, problems: list[Problem]
) -> tuple[str | None, tuple[str, ...]] | None:
    if value is None:
        return None
    example = 'write join = { team = "sales", keys = ["owner", "by"] }'
    if not isinstance(value, Mapping) or not isinstance(value.get("team"), str):
        problems.append(Problem("join", value, "must name a team", example))
        return None
    keys = value.get("keys", ["owner"])
    if isinstance(keys, str):
        keys = [keys]
    bad = [key for key in value if key not in ("team", "keys")]
    problems.extend(unknown("key", key, ("team", "keys"), f"join.{key}") for key in bad)
    allowed = ("owner", "by")
    if not isinstance(keys, list) or not all(key in allowed for key in keys):
        problems.append(Problem("join.keys", keys, "must list owner and/or by", example))
        return None
    return (value["team"], tuple(keys))


def csv_events(
    path: str | os.PathLike[str],
    mapping: CsvMapping,
    agreement: Agreement | None = None,
    *,
    report: ImportReport | None = None,
) -> list[tuple[int, Event]]:
    """The events ``mapping`` makes of the CSV file at ``path``, as ``(row number, event)``,
    sorted by time (stably: rows keep their order at equal times; a row's events
    keep the mapping's order).

    ``path`` names the file (a ``str`` or a :class:`pathlib.Path`; a byte-order mark at its
    start is skipped). For CSV text already in memory, or its lines, use
    :func:`csv_events_from_text`: a text given here is refused, not guessed at.

    Row numbers are the file's line numbers (the header is line 1, as in a spreadsheet).
    A template naming a column the file does not have, or one the header names twice, is an
    error (other columns may be odd or repeated). A cell that cannot be read (a time in no
    declared format, a number that is not one, a value no map knows) refuses the event that
    needed it: with ``report``, the refusals go there and every good event is returned; without
    it, they are an error listing the first of them with their rows. A file with a header and
    no rows makes no events. ``agreement`` (default: the default agreement) gives the time
    zone when the mapping has none, and the field types. A ``.gz`` or ``.zip`` file is read
    directly. For several files merged into one log, see :func:`leadsla.import_sources`.
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
        with open_text(Path(path)) as handle:
            return _made(Path(path).name.split(".")[0], handle, mapping, agreement, report)
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


def csv_events_from_text(
    text: str | Iterable[str],
    mapping: CsvMapping,
    agreement: Agreement | None = None,
    *,
    report: ImportReport | None = None,
) -> list[tuple[int, Event]]:
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
    return _made("csv", lines, mapping, agreement, report)


def _made(
    name: str,
    lines: Iterable[str],
    mapping: CsvMapping,
    agreement: Agreement | None,
    report: ImportReport | None,
) -> list[tuple[int, Event]]:
    """The events of the rows; without a ``report``, refusals are an error (the first 20)."""
    resolved = agreement if agreement is not None else Agreement.default()
    kept = report if report is not None else ImportReport()
    made, _ = events_of(mapping.source or name, lines, mapping, resolved, kept)
    if report is None and kept:
        problems = [
            Problem(
                f"row {first.row}: {first.column or 'row'}", first.value, first.message, first.fix
            )
            for _, first in kept.groups()[:20]
        ]
        raise CsvError(*problems)
    return made


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
