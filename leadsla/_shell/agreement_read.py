"""Reading an agreement: TOML text or plain data in, an :class:`~leadsla.Agreement` out.

Theory of operation
===================

:func:`agreement_from_text` parses the text with the standard library's ``tomllib`` (a syntax
error is one problem naming its line) and hands the data to :func:`agreement_from_data`, with a
``locate`` function that knows the line of every table header and ``key =`` in the text.

Reading the data does three things, and checks nothing else itself:

1. The *shape* of the file: every table is checked for unknown keys (with the known keys and a
   "did you mean"), required keys and kinds of value (text, whole number, flag, date, names,
   table, array); the shape is :mod:`leadsla._shell.agreement_shape`.
2. Each part is *built* as the value it stands for (a :class:`~leadsla.BusinessCalendar`, a
   :class:`~leadsla.Team`, a :class:`~leadsla.Lifecycle` through its ``from_dict``, a
   :class:`~leadsla.Duration`, a :class:`~leadsla.Warn`, an :class:`~leadsla.ObligationSpec`,
   a :class:`~leadsla.Commitment`, a :class:`~leadsla.Goal` ...), and the value checks its own
   ranges; then the :class:`~leadsla.Agreement` is built, which checks how the parts fit
   together (unknown states, teams, calendars, terms, fields and people; unreachable states;
   obligations that can never be met; a goal the commitments do not cover).
3. Every problem those values report is *placed*: its field, which the value names as it knows
   it (``attempts.count``, ``warning.before``, ``tz``, ``transitions (qualify).guard``), becomes
   a key path in the file (``obligations.attempts.attempts.count``) and a line.

A part that cannot be built is left out, or replaced by a stand-in that keeps its name known
(a calendar, a team, a term), so one mistake is reported once and not again by everything that
uses the part. All problems come out together in one :class:`~leadsla.AgreementError`.

Key paths are TOML-style: ``obligations.first-touch.within`` is the ``within`` key of the
obligation named ``first-touch``; an array entry without a usable name is ``rules[2]``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path as FilePath
from typing import Any, Final, Literal, cast

import attrs

from leadsla._core.agreement import Agreement, CalendarOwners
from leadsla._core.calendar import BusinessCalendar
from leadsla._core.conditions import Condition, Term
from leadsla._core.defaults import PERSONAL_FIELDS
from leadsla._core.duration import Duration
from leadsla._core.errors import (
    AgreementError,
    LeadSLAError,
    Problem,
    UsageError,
    closest,
    did_you_mean,
)
from leadsla._core.funnel import Commitment, Goal
from leadsla._core.lifecycle import Lifecycle
from leadsla._core.obligations import (
    ActivityMatch,
    Attempts,
    Escalate,
    ObligationAction,
    ObligationSpec,
    PauseWhile,
    Tier,
    Warn,
    When,
)
from leadsla._core.ownership import (
    AssignmentPolicy,
    FixedOwner,
    LeastLoaded,
    Person,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
    Team,
)
from leadsla._core.rules import AddTag, Assign, Fire, Notify, RemoveTag, Rule, RuleSet
from leadsla._shell.agreement_shape import (
    ACTION_KEYS,
    ACTIVITY_KEYS,
    AGREEMENT_KEYS,
    ASSIGNMENT_KEYS,
    ATTEMPTS_KEYS,
    CALENDAR_KEYS,
    COMMITMENT_KEYS,
    CONVERSION_KEYS,
    GOAL_KEYS,
    OBLIGATION_KEYS,
    OWNERSHIP_KEYS,
    PAUSE_KEYS,
    PERSON_KEYS,
    ROUTE_KEYS,
    RULE_KEYS,
    SECTIONS,
    TEAM_KEYS,
    TERM_KEYS,
    TIER_KEYS,
    WARNING_KEYS,
    WHEN_KEYS,
)

__all__ = ["agreement_from_data", "agreement_from_path", "agreement_from_text", "line_index"]

Path = tuple[str | int, ...]
Locate = Callable[[Path], int | None]

_POLICY_NAMES: Final[dict[str, Callable[[], AssignmentPolicy]]] = {
    "round-robin": RoundRobin,
    "strict-round-robin": StrictRoundRobin,
    "least-loaded": LeastLoaded,
    "least-loaded-working-hours": lambda: LeastLoaded(working_hours=True),
}

#: Arrays of named tables: a problem in one says the entry's name rather than its position.
_NAMED_ARRAYS: Final = ("rules", "obligations", "commitments")

#: How the agreement value names its own settings, and where they are in the file.
_AGREEMENT_FIELDS: Final = {
    "name": "agreement.name",
    "timezone": "agreement.timezone",
    "tracking_period": "agreement.tracking_period",
    "version": "agreement.version",
    "effective": "agreement.effective",
    "review": "agreement.review",
    "rules.mode": "agreement.rule_mode",
    "personal": "agreement.personal",
}

# One part of a field as values write them: a name, an optional [index], an optional
# " (trigger)" that the lifecycle adds to name a transition.
_PART: Final = re.compile(r"^(?P<name>[^\[ ]*)(?:\[(?P<index>\d+)\])?(?: \((?P<note>[^)]*)\))?$")

_TABLE_EXAMPLES: Final[dict[str, str]] = {
    "agreement": "add an [agreement] table with name and timezone",
    "calendars": "add a [calendars.NAME] table with the weekday hours (leadsla init writes one)",
    "teams": "add a [teams.NAME] table with members (leadsla init writes one)",
}

_PLACEHOLDER_CONDITION: Final = Condition("true")


# ------------------------------------------------------------------------------------------
# TOML text and files.


_BARE_KEY_OR_QUOTED: Final = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_HEADER: Final = re.compile(r"^\[\[?\s*([^\[\]]+?)\s*\]\]?")
_ASSIGNMENT: Final = re.compile(rf"^({_BARE_KEY_OR_QUOTED}(?:\s*\.\s*{_BARE_KEY_OR_QUOTED})*)\s*=")
_DECODE_LINE: Final = re.compile(r"line (\d+)")


def _key_parts(text: str) -> tuple[str, ...]:
    parts = re.findall(_BARE_KEY_OR_QUOTED, text)
    return tuple(part.strip("\"'") for part in parts)


def line_index(text: str) -> dict[Path, int]:
    """Where each table header and ``key =`` line is: raw path -> 1-based line number.

    A raw path is the keys and array positions that lead to a value: ``("obligations", 0,
    "within")`` for the ``within`` of the first ``[[obligations]]``.
    """
    index: dict[Path, int] = {}
    counters: dict[tuple[str, ...], int] = {}
    current: Path = ()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(stripped)
        if header is not None:
            parts = _key_parts(header.group(1))
            for length in range(1, len(parts) + 1):
                index.setdefault(parts[:length], number)  # [a.b] also places a and a.b
            if stripped.startswith("[["):
                position = counters.get(parts, -1) + 1
                counters[parts] = position
                current = (*parts, position)
            else:
                current = parts
            index.setdefault(current, number)
            continue
        assignment = _ASSIGNMENT.match(stripped)
        if assignment is not None:
            index.setdefault((*current, *_key_parts(assignment.group(1))), number)
    return index


def _locator(text: str) -> Locate:
    """The line of a raw path, or of the nearest table or key that holds it."""
    index = line_index(text)

    def locate(path: Path) -> int | None:
        for length in range(len(path), 0, -1):
            line = index.get(path[:length])
            if line is not None:
                return line
        return None

    return locate


def agreement_from_path(path: str | os.PathLike[str]) -> Agreement:
    """Read an agreement file; a text that is plainly TOML, not a path, is refused."""
    if isinstance(path, str) and ("\n" in path or "=" in path):
        raise UsageError(
            Problem(
                "path",
                path if len(path) <= 60 else path[:57] + "...",
                "looks like the text of an agreement, not the path of a file",
                "pass the text to Agreement.from_toml_text(text) instead",
            )
        )
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(
            Problem(
                "path",
                type(path).__name__,
                "is not a path",
                "pass a pathlib.Path or a str naming the agreement file",
            )
        )
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AgreementError(
            Problem(
                "file",
                str(path),
                f"cannot be read ({error})",
                "give the path of an agreement file",
            )
        ) from None
    return agreement_from_text(text)


def agreement_from_text(text: str) -> Agreement:
    """Read an agreement from the text of its TOML file."""
    if not isinstance(text, str):
        raise UsageError(
            Problem(
                "text",
                type(text).__name__,
                "is not text",
                "pass the file's contents as str, or its path to Agreement.from_toml(path)",
            )
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _DECODE_LINE.search(str(error))
        line = int(found.group(1)) if found else None
        lines = text.splitlines()
        snippet = lines[line - 1].strip() if line and line <= len(lines) else ""
        raise AgreementError(
            Problem(
                "file", snippet, f"is not valid TOML ({error})", "fix the syntax on that line", line
            )
        ) from None
    return agreement_from_data(data, locate=_locator(text))


# ------------------------------------------------------------------------------------------
# The reader: the file's shape, and where the values' problems are.


def _brief(value: Any) -> Any:
    """A value to quote in a message: tables and arrays of tables are not repeated whole."""
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        return f"{len(value)} table{'s' if len(value) != 1 else ''}"
    return value


def _how_to_add(path: Path, key: str) -> str:
    if not path and key in _TABLE_EXAMPLES:
        return _TABLE_EXAMPLES[key]
    return f"add {key} = ..."


class _Reader:
    """Reads the file's shape and places problems, collecting every one."""

    def __init__(self, locate: Locate | None) -> None:
        self.problems: list[Problem] = []
        self.locate = locate
        # Named entries of arrays, both ways: ("obligations", 0) <-> "first-touch".
        self.names_of: dict[tuple[str, int], str] = {}
        self.index_of: dict[tuple[str, str], int] = {}
        self.triggers: dict[str, int] = {}  # lifecycle trigger -> its first index in the file

    # -- where things are ------------------------------------------------------------------

    def display(self, path: Path) -> str:
        """A raw path as problems name it: ``obligations.first-touch.within``."""
        parts: list[str] = []
        for part in path:
            if isinstance(part, int):
                name = self.names_of.get((parts[0], part)) if len(parts) == 1 else None
                if name is not None:
                    parts.append(name)
                else:
                    parts[-1] = f"{parts[-1]}[{part}]"
            else:
                parts.append(part)
        return ".".join(parts)

    def path_of(self, field: str) -> Path:
        """A field as problems name it, back to the raw path it is at."""
        path: list[str | int] = []
        for part in field.split("."):
            if len(path) == 1 and (str(path[0]), part) in self.index_of:
                path.append(self.index_of[(str(path[0]), part)])
                continue
            match = _PART.match(part)
            if match is None:
                path.append(part)
                continue
            name, index, note = match["name"], match["index"], match["note"]
            path.append(name)
            if index is not None:
                path.append(int(index))
            elif note is not None and tuple(path) == ("lifecycle", "transitions"):
                found = self.triggers.get(note)
                if found is not None:
                    path.append(found)
        return tuple(path)

    def place(self, problem: Problem) -> None:
        """Keep a problem whose field is a path in the file, with the line it is on."""
        if problem.line is None and self.locate is not None:
            problem = attrs.evolve(problem, line=self.locate(self.path_of(problem.field)))
        self.problems.append(problem)

    def problem(self, path: Path, value: Any, message: str, fix: str) -> None:
        """A problem with the file's shape at ``path``."""
        self.place(Problem(self.display(path), value, message, fix))

    def adopt(self, error: LeadSLAError, path: Path, *, own: Iterable[str] = ()) -> None:
        """Place the problems a part reports about itself.

        A field naming a top-level table (``obligations.first-touch.within``) is already a
        path in the file; any other field is inside the part at ``path``, after dropping the
        name the part gives itself (``own``: ``warning`` in ``warning.before``); a field that
        is only that name is the part itself.
        """
        prefix = self.display(path)
        names = tuple(own)
        for problem in error.problems:
            field = problem.field
            if field.split(".")[0].split("[")[0] in SECTIONS:
                self.place(problem)
                continue
            for name in names:
                if field == name or field.startswith(f"{name}."):
                    field = field[len(name) :].lstrip(".")
                    break
            joined = f"{prefix}.{field}" if field else prefix
            self.place(attrs.evolve(problem, field=joined.replace(".[", "[")))

    # -- the file's shape ----------------------------------------------------------------------

    def table(
        self, value: Any, path: Path, known: Iterable[str], *, required: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """``value`` as a table of ``known`` keys; unknown and missing keys are reported."""
        if not isinstance(value, Mapping):
            self.problem(path, value, "must be a table", "write it as [table] or { key = value }")
            return None
        known = tuple(known)
        meant: set[str] = set()  # keys a misspelling stands for: not reported missing as well
        for key in value:
            if key not in known:
                match = closest(key, known)
                meant.update([match] if match is not None else [])
                self.problem(
                    (*path, str(key)),
                    _brief(value[key]),
                    "is not a known key here",
                    f"use {', '.join(known)}{did_you_mean(key, known)}",
                )
        for key in required:
            if key not in value and key not in meant:
                self.problem((*path, key), None, "is missing", _how_to_add(path, key))
        return dict(value)

    def text(
        self, table: Mapping[str, Any], key: str, path: Path, *, default: str | None = None
    ) -> str | None:
        value = table.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            self.problem((*path, key), value, "must be text", f'write {key} = "..."')
            return default
        return value

    def integer(self, table: Mapping[str, Any], key: str, path: Path) -> int:
        value = table.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem((*path, key), value, "must be a whole number", f"write {key} = 6")
            return 0
        return value

    def flag(self, table: Mapping[str, Any], key: str, path: Path) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.problem((*path, key), value, "must be true or false", f"write {key} = true")
            return False
        return value

    def names(self, table: Mapping[str, Any], key: str, path: Path) -> tuple[str, ...]:
        value = table.get(key, ())
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            self.problem(
                (*path, key), value, "must be a list of names", f'write {key} = ["a", "b"]'
            )
            return ()
        return tuple(value)

    def items(self, value: Any, path: Path) -> list[Any]:
        """An array of tables (or nothing)."""
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            self.problem(
                path,
                value,
                "must be an array of tables",
                f"write [[{self.display(path)}]] sections",
            )
            return []
        return list(value)

    def condition(self, value: Any, path: Path) -> Condition | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(
                path, value, "must be a condition written as text", 'write e.g. "score >= 50"'
            )
            return None
        try:
            return Condition(value, field=self.display(path))
        except LeadSLAError as error:
            self.adopt(error, path)
            return None

    def duration(self, value: Any, path: Path) -> Duration | None:
        if value is None:
            return None  # reported as missing, when it is required
        try:
            return Duration.parse(value, field=self.display(path))
        except LeadSLAError as error:
            self.adopt(error, path)
            return None

    def named(
        self, value: Any, section: str, keys: Iterable[str]
    ) -> list[tuple[Path, dict[str, Any]]]:
        """The entries of an array of named tables, as (raw path, table); names are unique."""
        entries: list[tuple[Path, dict[str, Any]]] = []
        seen: set[str] = set()
        for index, item in enumerate(self.items(value, (section,))):
            path: Path = (section, index)
            if not isinstance(item, Mapping):
                self.problem(
                    path, _brief(item), "must be a table", "write each entry as a [[table]]"
                )
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name:
                self.problem(
                    (*path, "name"), name, "is missing or not text", 'give it name = "..."'
                )
            else:
                self.index_of.setdefault((section, name), index)
                self.names_of[(section, index)] = name
                if name in seen:
                    # Named as the agreement names it (which finds it too), on the second name.
                    line = self.locate((*path, "name")) if self.locate is not None else None
                    self.place(
                        Problem(
                            f"{section}.{name}",
                            name,
                            "is used twice",
                            "give each entry its own name",
                            line,
                        )
                    )
                seen.add(name)
            self.table(item, path, keys)
            entries.append((path, dict(item)))
        return entries


# ------------------------------------------------------------------------------------------
# The parts.


def agreement_from_data(data: Mapping[str, Any], *, locate: Locate | None = None) -> Agreement:
    """Build an agreement from the file's shape; :class:`AgreementError` lists every problem.

    ``locate`` gives the line of a raw path (see :func:`line_index`) when the data came from a
    file.
    """
    reader = _Reader(locate)
    top = reader.table(data, (), SECTIONS, required=("agreement", "calendars", "teams")) or {}
    head = (
        reader.table(
            top.get("agreement", {}),
            ("agreement",),
            AGREEMENT_KEYS,
            # Without the table at all, that it is missing says it all.
            required=("name", "timezone") if "agreement" in top else (),
        )
        or {}
    )
    here: Path = ("agreement",)
    timezone = _read_timezone(reader.text(head, "timezone", here, default="UTC") or "UTC", reader)
    effective = head.get("effective")
    if effective is not None and (not isinstance(effective, date) or hasattr(effective, "hour")):
        reader.problem(
            (*here, "effective"),
            effective,
            "must be a date",
            f"write it without quotes, e.g. effective = {_date_hint(effective)}",
        )
        effective = None
    fields = _read_fields(top.get("fields"), reader)
    calendars, calendar_owners = _read_calendars(top.get("calendars", {}), timezone, reader)
    teams = _read_teams(top.get("teams", {}), reader)
    people = _read_people(top.get("people"), reader)
    ownership = reader.table(top.get("ownership", {}), ("ownership",), OWNERSHIP_KEYS) or {}
    reassign_when_away = reader.flag(ownership, "reassign_when_away", ("ownership",))
    terms = _read_terms(top.get("terms", {}), reader)
    lifecycle = _read_lifecycle(top.get("lifecycle"), reader)
    if "lifecycle" not in top and lifecycle is not None:
        missing = _check_default_guards(lifecycle, {term.name for term in terms}, fields, reader)
        terms += [Term(name, _PLACEHOLDER_CONDITION) for name in missing]  # reported once
    rules = _read_rules(top.get("rules"), reader)
    obligations = _read_obligations(top.get("obligations"), reader)
    commitments = _read_commitments(top.get("commitments"), reader)
    goal = _read_goal(top.get("goal"), reader)

    agreement = None
    if lifecycle is not None:
        try:
            agreement = Agreement(
                name=reader.text(head, "name", here, default="") or "",
                timezone=timezone,
                calendars=calendars,
                teams=teams,
                terms=terms,
                lifecycle=lifecycle,
                rules=RuleSet(rules, mode=reader.text(head, "rule_mode", here, default="all")),  # type: ignore[arg-type]
                obligations=obligations,
                commitments=commitments,
                goal=goal,
                tracking_period=reader.text(head, "tracking_period", here, default="month"),  # type: ignore[arg-type]
                version=reader.text(head, "version", here, default="1") or "1",
                effective=effective,
                review=reader.text(head, "review", here, default="") or "",
                fields=fields,
                personal=(
                    reader.names(head, "personal", here) if "personal" in head else PERSONAL_FIELDS
                ),
                people=people,
                reassign_when_away=reassign_when_away,
                calendar_owners=calendar_owners,
            )
        except LeadSLAError as error:
            # The agreement's own checks may find what reading found (a name used twice):
            # one report per place is enough.
            found = {problem.field for problem in reader.problems}
            for problem in error.problems:
                placed = attrs.evolve(problem, field=_file_field(problem.field))
                if placed.field not in found:
                    reader.place(placed)
    if reader.problems:
        raise AgreementError(*reader.problems)
    assert agreement is not None
    return agreement


def _file_field(field: str) -> str:
    """Where a field the agreement (or its lifecycle, its workflow) names is in the file."""
    if field in _AGREEMENT_FIELDS:
        return _AGREEMENT_FIELDS[field]
    head = field.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0].split(" ", maxsplit=1)[0]
    if head in ("states", "initial", "transitions"):
        return f"lifecycle.{field}"  # the lifecycle's own names for its parts
    return field


def _read_timezone(timezone: str, reader: _Reader) -> str:
    """The agreement's zone; a bad one is reported once and read as UTC, so the calendars that
    inherit it are not reported as well."""
    try:
        BusinessCalendar.always(timezone)
    except LeadSLAError as error:
        for problem in error.problems:
            reader.problem(("agreement", "timezone"), timezone, problem.message, problem.fix)
        return "UTC"
    return timezone


def _check_default_guards(
    lifecycle: Lifecycle, terms: set[str], fields: Mapping[str, str], reader: _Reader
) -> list[str]:
    """A file without a [lifecycle] table uses the default lifecycle, whose guards name terms
    (mql, sql): a file that leaves those terms out would read them as lead fields that never
    exist, and no lead would ever qualify. Returns the missing names.

    This is the file's own rule, not the agreement's: in Python the lifecycle is always given,
    and a guard naming something that is not a term reads a lead field, by design.
    """
    missing: list[str] = []
    for transition in lifecycle.transitions:
        if transition.guard is None:
            continue
        for name in sorted(transition.guard.names - terms - set(fields)):
            missing.append(name)
            reader.place(
                Problem(
                    f"terms.{name}",
                    None,
                    f"is missing: the default lifecycle's {transition.trigger!r} guard uses it",
                    f"add [terms.{name}] with its condition, or write your own [lifecycle]",
                )
            )
    return missing


def _read_fields(value: Any, reader: _Reader) -> dict[str, Any]:
    """Declared fields and their types, as given: the agreement checks the types."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        reader.problem(
            ("fields",),
            value,
            "must be a table of field = type",
            'write [fields] with score = "number"',
        )
        return {}
    return {str(key): kind for key, kind in value.items()}


def _read_calendars(
    value: Any, timezone: str, reader: _Reader
) -> tuple[dict[str, BusinessCalendar], list[CalendarOwners]]:
    """The calendars, and who works by each (its teams, people and region)."""
    calendars: dict[str, BusinessCalendar] = {}
    owners: list[CalendarOwners] = []
    if not isinstance(value, Mapping):
        reader.problem(
            ("calendars",), value, "must be a table of calendars", "write [calendars.office]"
        )
        return calendars, owners
    for name, spec in value.items():
        path: Path = ("calendars", str(name))
        table = reader.table(spec, path, CALENDAR_KEYS, required=("week",))
        if table is None:
            continue
        if any(key in table for key in ("teams", "people", "region")):
            owners.append(
                CalendarOwners(
                    str(name),
                    reader.names(table, "teams", path),
                    reader.names(table, "people", path),
                    reader.condition(table.get("region"), (*path, "region")),
                )
            )
        data = {"tz": table.get("timezone", timezone), "week": table.get("week", {})}
        data.update(
            {key: table[key] for key in ("holidays", "overrides", "country") if key in table}
        )
        try:
            calendars[str(name)] = BusinessCalendar.from_dict(data)
        except LeadSLAError as error:
            # The calendar calls its zone tz; the file calls it timezone.
            renamed = [
                attrs.evolve(p, field="timezone") if p.field == "tz" else p for p in error.problems
            ]
            reader.adopt(type(error)(*renamed), path)
            # Keep the name known, so what uses the calendar is not reported as well.
            calendars[str(name)] = BusinessCalendar.always("UTC")
    return calendars, owners


def _read_policy(value: Any, path: Path, reader: _Reader) -> AssignmentPolicy | None:
    if value is None:
        return RoundRobin()
    if isinstance(value, str):
        policy_type = _POLICY_NAMES.get(value)
        if policy_type is None:
            reader.problem(
                path,
                value,
                "is not an assignment policy",
                f"use one of {', '.join(_POLICY_NAMES)}, a {{ fixed = ... }} "
                f"or {{ routing = ... }} table{did_you_mean(value, list(_POLICY_NAMES))}",
            )
            return None
        return policy_type()
    table = reader.table(value, path, ASSIGNMENT_KEYS)
    if table is None:
        return None
    if "fixed" in table:
        person = reader.text(table, "fixed", path)
        return FixedOwner(person) if person else None
    routes = []
    for index, route in enumerate(reader.items(table.get("routing"), (*path, "routing"))):
        route_path = (*path, "routing", index)
        route_table = reader.table(route, route_path, ROUTE_KEYS, required=ROUTE_KEYS)
        if route_table is None:
            continue
        condition = reader.condition(route_table.get("when"), (*route_path, "when"))
        person = reader.text(route_table, "person", route_path)
        if condition is not None and person:
            routes.append((condition, person))
    fallback_value = table.get("fallback")
    fallback: AssignmentPolicy | str | None
    if isinstance(fallback_value, str) and fallback_value not in _POLICY_NAMES:
        fallback = fallback_value  # a person's name
    else:
        fallback = _read_policy(fallback_value, (*path, "fallback"), reader)
    return RuleRouting(routes, fallback=fallback)


def _read_teams(value: Any, reader: _Reader) -> list[Team]:
    teams: list[Team] = []
    if not isinstance(value, Mapping):
        reader.problem(("teams",), value, "must be a table of teams", "write [teams.sales]")
        return teams
    for name, spec in value.items():
        path: Path = ("teams", str(name))
        table = reader.table(spec, path, TEAM_KEYS)
        if table is None:
            continue
        members = reader.names(table, "members", path)
        manager = reader.text(table, "manager", path)
        policy = _read_policy(table.get("assignment"), (*path, "assignment"), reader)
        sticky = reader.flag(table, "sticky", path)
        try:
            teams.append(Team(str(name), members, manager, policy or RoundRobin(), sticky))
        except LeadSLAError as error:
            reader.adopt(error, path)
            # A stand-in keeps the team known, so what it owns is not reported as well.
            with contextlib.suppress(LeadSLAError):
                teams.append(Team(str(name), tuple(dict.fromkeys(m for m in members if m))))
    return teams


def _read_people(value: Any, reader: _Reader) -> list[Person]:
    """The people's tables; each :class:`Person` checks its own windows and capacity."""
    people: list[Person] = []
    if value is None:
        return people
    if not isinstance(value, Mapping):
        reader.problem(("people",), value, "must be a table of people", "write [people.aino]")
        return people
    for name, spec in value.items():
        path: Path = ("people", str(name))
        table = reader.table(spec, path, PERSON_KEYS)
        if table is None:
            continue
        away = table.get("away", [])
        if not isinstance(away, list):
            reader.problem(
                (*path, "away"),
                away,
                "must be an array of [first, last] pairs",
                'write away = [["2026-12-21", "2027-01-01"]]',
            )
            continue
        try:
            people.append(
                Person(
                    str(name),
                    away=away,
                    capacity=table.get("capacity"),
                    timezone=reader.text(table, "timezone", path),
                )
            )
        except LeadSLAError as error:
            reader.adopt(error, path)
    return people


def _read_terms(value: Any, reader: _Reader) -> list[Term]:
    terms: list[Term] = []
    if value is None:
        return terms
    if not isinstance(value, Mapping):
        reader.problem(("terms",), value, "must be a table of terms", "write [terms.mql]")
        return terms
    for name, spec in value.items():
        path: Path = ("terms", str(name))
        table = reader.table(spec, path, TERM_KEYS, required=("condition",))
        if table is None:
            continue
        condition = reader.condition(table.get("condition"), (*path, "condition"))
        description = reader.text(table, "description", path, default="") or ""
        # A term whose condition is bad stays known, so what uses it is not reported as well.
        terms.append(Term(str(name), condition or _PLACEHOLDER_CONDITION, description))
    return terms


def _read_lifecycle(value: Any, reader: _Reader) -> Lifecycle | None:
    """The file's lifecycle, read by :meth:`Lifecycle.from_dict`; the default without one."""
    if value is None:
        return Lifecycle.default()
    if not isinstance(value, Mapping):
        reader.problem(("lifecycle",), value, "must be a table", "write [lifecycle]")
        return None
    transitions = value.get("transitions")
    if isinstance(transitions, list):
        for index, spec in enumerate(transitions):
            if isinstance(spec, Mapping) and isinstance(spec.get("trigger"), str):
                reader.triggers.setdefault(spec["trigger"], index)
    try:
        return Lifecycle.from_dict(value)
    except LeadSLAError as error:
        for problem in error.problems:
            reader.place(attrs.evolve(problem, field=f"lifecycle.{problem.field}"))
        return None


def _read_actions(
    value: Any, path: Path, reader: _Reader, *, escalate: bool
) -> list[ObligationAction]:
    actions: list[ObligationAction] = []
    if value is None:
        return actions
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)):
        reader.problem(
            path,
            value,
            "must be a list of actions",
            'write [{ fire = "hand_back", reason = "..." }]',
        )
        return actions
    allowed = ACTION_KEYS if escalate else ACTION_KEYS[:-1]
    for index, item in enumerate(value):
        item_path = (*path, index)
        table = reader.table(item, item_path, (*allowed, "reason", "message"))
        if table is None:
            continue
        kinds = [key for key in allowed if key in table]
        if len(kinds) != 1:
            reader.problem(
                item_path,
                _brief(item),
                "must name exactly one action",
                f"use one of {', '.join(allowed)}",
            )
            continue
        kind = kinds[0]
        argument = table[kind]
        if kind == "reassign":
            if argument is not True:
                reader.problem(
                    (*item_path, kind), argument, "must be true", "write { reassign = true }"
                )
                continue
            actions.append(Assign(None))
            continue
        if not isinstance(argument, str) or not argument:
            reader.problem(
                (*item_path, kind), argument, "must be a name", f'write {{ {kind} = "..." }}'
            )
            continue
        reason = reader.text(table, "reason", item_path)
        message = reader.text(table, "message", item_path, default="") or ""
        if kind == "fire":
            actions.append(Fire(argument, reason))
        elif kind == "assign":
            actions.append(Assign(argument, reason or "assigned by rule"))
        elif kind == "tag":
            actions.append(AddTag(argument))
        elif kind == "untag":
            actions.append(RemoveTag(argument))
        elif kind == "notify":
            actions.append(Notify(argument, message))
        else:
            actions.append(Escalate(argument, message))
    return actions


def _read_rules(value: Any, reader: _Reader) -> list[Rule]:
    rules: list[Rule] = []
    for path, table in reader.named(value, "rules", RULE_KEYS):
        for key in ("when", "then"):
            if key not in table:
                reader.problem((*path, key), None, "is missing", f"add {key} = ...")
        when = reader.condition(table.get("when"), (*path, "when"))
        then = _read_actions(table.get("then"), (*path, "then"), reader, escalate=False)
        on = reader.names(table, "on", path)
        states = reader.names(table, "states", path)
        priority = reader.integer(table, "priority", path)
        description = reader.text(table, "description", path, default="") or ""
        name = table.get("name")
        if when is None or not isinstance(name, str):
            continue
        try:
            rules.append(Rule(name, when, then, on, states, priority, description))  # type: ignore[arg-type]
        except LeadSLAError as error:
            reader.adopt(error, path)
    return rules


def _read_when(value: Any, path: Path, reader: _Reader) -> When | None:
    if value is None:
        return None
    table = reader.table(value, path, WHEN_KEYS)
    if table is None:
        return None
    activity = _read_match(table.get("activity"), (*path, "activity"), reader)
    condition = reader.condition(table.get("condition"), (*path, "condition"))
    return When(
        reader.names(table, "states", path),
        reader.names(table, "leaving", path),
        reader.names(table, "events", path),
        activity,
        condition,
    )


def _read_match(value: Any, path: Path, reader: _Reader) -> ActivityMatch | None:
    if value is None:
        return None
    table = reader.table(value, path, ACTIVITY_KEYS)
    if table is None:
        return None
    kinds = reader.names(table, "kinds", path)
    outcomes = reader.names(table, "outcomes", path)
    by = table.get("by", "anyone")
    try:
        return ActivityMatch(kinds, outcomes, cast("Literal['anyone', 'owner', 'party']", by))
    except LeadSLAError as error:
        reader.adopt(error, path, own=("activity",))
        return ActivityMatch(kinds, outcomes)  # a stand-in: the mistake is reported


def _read_pause(value: Any, path: Path, reader: _Reader) -> PauseWhile | None:
    if value is None:
        return None
    table = reader.table(value, path, PAUSE_KEYS)
    if table is None:
        return None
    return PauseWhile(
        reader.names(table, "states", path),
        reader.condition(table.get("condition"), (*path, "condition")),
    )


def _read_warnings(value: Any, path: Path, reader: _Reader) -> list[Warn]:
    warnings: list[Warn] = []
    for position, item in enumerate(reader.items(value, path)):
        item_path = (*path, position)
        before_problems = len(reader.problems)
        table = reader.table(item, item_path, WARNING_KEYS)
        if table is None or len(reader.problems) > before_problems:
            continue  # a misspelt key: the warning would have neither before nor fraction
        before = reader.duration(table.get("before"), (*item_path, "before"))
        after = reader.duration(table.get("after"), (*item_path, "after"))
        if ("before" in table and before is None) or ("after" in table and after is None):
            continue  # reported
        actions = _read_actions(
            table.get("actions"), (*item_path, "actions"), reader, escalate=True
        )
        try:
            warnings.append(
                Warn(before=before, fraction=table.get("fraction"), after=after, actions=actions)
            )
        except LeadSLAError as error:
            reader.adopt(error, item_path, own=("warning",))
    return warnings


def _read_tiers(value: Any, path: Path, reader: _Reader) -> list[Tier]:
    tiers: list[Tier] = []
    for position, item in enumerate(reader.items(value, path)):
        item_path = (*path, position)
        table = reader.table(item, item_path, TIER_KEYS, required=("name", "when", "within"))
        if table is None:
            continue
        name = reader.text(table, "name", item_path, default="") or ""
        when = reader.condition(table.get("when"), (*item_path, "when"))
        within = reader.duration(table.get("within"), (*item_path, "within"))
        if when is None or within is None:
            continue  # reported
        tiers.append(Tier(name, when, within))
    return tiers


def _read_attempts(value: Any, path: Path, reader: _Reader) -> Attempts | None:
    if value is None:
        return None
    table = reader.table(value, path, ATTEMPTS_KEYS, required=("count", "counts"))
    if table is None:
        return None
    counts = _read_match(table.get("counts", {}), (*path, "counts"), reader) or ActivityMatch()
    reached = _read_match(table.get("reached"), (*path, "reached"), reader)
    on_exhausted = _read_actions(
        table.get("on_exhausted"), (*path, "on_exhausted"), reader, escalate=True
    )
    try:
        return Attempts(table.get("count", 1), counts, reached, on_exhausted)
    except LeadSLAError as error:
        reader.adopt(error, path, own=("attempts",))
        # A stand-in: without attempts, the obligation would be reported as never met too.
        return Attempts(1, counts, reached, on_exhausted)


def _read_obligations(value: Any, reader: _Reader) -> list[ObligationSpec]:
    specs: list[ObligationSpec] = []
    for path, table in reader.named(value, "obligations", OBLIGATION_KEYS):
        for key in ("party", "starts", "within"):
            if key not in table:
                said = "is missing"
                if key == "within" and "tiers" in table:  # tiers, but no target for the rest
                    said += ": a lead no tier holds on would have no target"
                reader.problem((*path, key), None, said, _OBLIGATION_EXAMPLES[key])
        starts = _read_when(table.get("starts"), (*path, "starts"), reader)
        met = _read_when(table.get("met"), (*path, "met"), reader)
        cancelled = _read_when(table.get("cancelled"), (*path, "cancelled"), reader)
        pause = _read_pause(table.get("pause"), (*path, "pause"), reader)
        within = reader.duration(table.get("within"), (*path, "within"))
        grace = reader.duration(table.get("grace"), (*path, "grace")) if "grace" in table else None
        warnings = _read_warnings(table.get("warnings"), (*path, "warnings"), reader)
        tiers = _read_tiers(table.get("tiers"), (*path, "tiers"), reader)
        attempts = _read_attempts(table.get("attempts"), (*path, "attempts"), reader)
        on_met = _read_actions(table.get("on_met"), (*path, "on_met"), reader, escalate=True)
        on_breach = _read_actions(
            table.get("on_breach"), (*path, "on_breach"), reader, escalate=True
        )
        parts: dict[str, Any] = {
            "name": table.get("name"),
            "party": reader.text(table, "party", path, default="") or "",
            "starts": starts,
            "met": met,
            "cancelled": cancelled,
            "pause": pause,
            "calendar": reader.text(table, "calendar", path),
            "warnings": warnings,
            "on_breach": on_breach,
            "on_met": on_met,
            "attempts": attempts,
            "repeat": reader.flag(table, "repeat", path),
            "description": reader.text(table, "description", path, default="") or "",
            "grace": grace,
            "tiers": tiers,
            "retier": reader.flag(table, "retier", path),
        }
        if starts is None or not isinstance(parts["name"], str):
            continue
        if within is None:
            within = Duration(1, "hours")  # reported already; a stand-in to check the rest
        try:
            specs.append(ObligationSpec(within=within, **parts))
        except LeadSLAError as error:
            reader.adopt(error, path)
            # A stand-in with a sound time and no warnings, so the agreement checks the rest.
            stand_in = Duration(1, within.unit, within.business)
            parts = {**parts, "warnings": (), "grace": None, "tiers": (), "retier": False}
            specs.append(ObligationSpec(within=stand_in, **parts))
    return specs


_OBLIGATION_EXAMPLES: Final = {
    "party": 'add party = "sales", the team that makes the promise',
    "starts": 'add starts = { states = ["mql"] }',
    "within": 'add within = "4 business hours" (with tiers: the target for every other lead)',
}


def _read_commitments(value: Any, reader: _Reader) -> list[Commitment]:
    commitments: list[Commitment] = []
    for path, table in reader.named(value, "commitments", COMMITMENT_KEYS):
        for key in ("party", "state", "at_least"):
            if key not in table:
                reader.problem((*path, key), None, "is missing", f"add {key} = ...")
        name = table.get("name")
        party = reader.text(table, "party", path, default="") or ""
        state = reader.text(table, "state", path, default="") or ""
        accepted_state = reader.text(table, "accepted_state", path)
        description = reader.text(table, "description", path, default="") or ""
        if not isinstance(name, str) or "at_least" not in table:
            continue
        # The amounts, the period and the share are the commitment's to check.
        optional = {key: table[key] for key in ("per", "accepted_share") if key in table}
        try:
            commitments.append(
                Commitment(
                    name,
                    party,
                    state,
                    table["at_least"],
                    accepted_state=accepted_state,
                    description=description,
                    **optional,
                )
            )
        except LeadSLAError as error:
            reader.adopt(error, path, own=("commitment",))
    return commitments


def _read_goal(value: Any, reader: _Reader) -> Goal | None:
    if value is None:
        return None
    path: Path = ("goal",)
    table = reader.table(value, path, GOAL_KEYS, required=("customers",))
    if table is None:
        return None
    before = len(reader.problems)
    conversions: list[Any] = []
    for index, item in enumerate(reader.items(table.get("conversions"), (*path, "conversions"))):
        item_path = (*path, "conversions", index)
        conversion = reader.table(item, item_path, CONVERSION_KEYS, required=CONVERSION_KEYS)
        if conversion is None:
            continue
        source = reader.text(conversion, "from", item_path)
        dest = reader.text(conversion, "to", item_path)
        conversions.append((source, dest, conversion.get("rate")))
    description = reader.text(table, "description", path, default="") or ""
    if len(reader.problems) > before or "customers" not in table:
        return None  # checked once its shape is right: a half-read chain would mislead
    # The numbers, the period and the chain's rates are the goal's to check.
    optional = {key: table[key] for key in ("per", "marketing_share") if key in table}
    try:
        return Goal(
            table["customers"], conversions=conversions, description=description, **optional
        )
    except LeadSLAError as error:
        reader.adopt(error, path, own=("goal",))
        return None


def _date_hint(value: object) -> str:
    """The date a quoted ``effective`` meant, as TOML writes a date (else an example)."""
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return "2026-03-01"
