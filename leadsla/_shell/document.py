"""The agreement as plain data, and back: the shape of the agreement file.

Theory of operation
===================

:func:`agreement_to_data` turns an :class:`~leadsla.Agreement` into plain values (strings,
numbers, booleans, dates, lists, tables) in the shape of the TOML file; :func:`agreement_from_data`
reads that shape back. Reading never stops at the first mistake: every table is checked for
unknown keys (with a "did you mean"), every value for its type, every part is built and its own
problems are collected under its key path, and only then is the agreement assembled, which adds
the semantic checks (unknown states, teams, calendars, terms and fields; unreachable states;
obligations that can never be met; a goal the commitments do not cover). All problems come out
together in one :class:`~leadsla.AgreementError`. Nothing here reads or writes files: the TOML
text is the business of :mod:`leadsla._shell.toml`.

Paths name where a problem is, TOML-style: ``obligations.first-touch.within`` for the
``within`` key of the obligation named ``first-touch``; ``locate`` maps the raw path (table
names and array positions) to a line of the file when the file is known.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from fractions import Fraction
from typing import Any, Final, Literal, cast

import attrs

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import BusinessCalendar
from leadsla._core.conditions import SIMPLE_FIELD_KINDS, Condition, FieldType, Term
from leadsla._core.duration import Duration
from leadsla._core.errors import AgreementError, LeadSLAError, Problem, closest, did_you_mean
from leadsla._core.funnel import Commitment, Goal, to_fraction
from leadsla._core.lifecycle import Lifecycle, State, Transition
from leadsla._core.obligations import (
    ActivityMatch,
    Attempts,
    Escalate,
    ObligationAction,
    ObligationSpec,
    PauseWhile,
    Warn,
    When,
)
from leadsla._core.ownership import (
    AssignmentPolicy,
    FixedOwner,
    LeastLoaded,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
    Team,
)
from leadsla._core.periods import PERIODS, Period
from leadsla._core.rules import AddTag, Assign, Fire, Notify, RemoveTag, Rule, RuleSet

__all__ = ["FIELD_TYPES", "SECTIONS", "agreement_from_data", "agreement_to_data"]

#: The top-level tables of the file, in the order a reader wants them.
SECTIONS: Final = (
    "agreement",
    "fields",
    "calendars",
    "teams",
    "terms",
    "lifecycle",
    "rules",
    "obligations",
    "commitments",
    "goal",
)

#: The types a declared lead field may have, written as a name; a choice is written as a table,
#: ``{ type = "choice", values = ["FI", "SE"] }``.
FIELD_TYPES: Final = SIMPLE_FIELD_KINDS

Path = tuple[str | int, ...]
Locate = Callable[[Path], int | None]

_POLICY_NAMES: dict[str, type[AssignmentPolicy]] = {
    "round-robin": RoundRobin,
    "strict-round-robin": StrictRoundRobin,
    "least-loaded": LeastLoaded,
}


# ------------------------------------------------------------------------------------------
# Writing.


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop keys whose value says nothing (None, empty, False flags)."""
    return {
        key: value
        for key, value in data.items()
        if value is not None and value is not False and value not in ((), [], "")
    }


def _fraction_out(value: Fraction) -> float | int | str:
    if value.denominator == 1:
        return value.numerator
    as_float = float(value)
    if Fraction(str(as_float)) == value:
        return as_float
    return f"{value.numerator}/{value.denominator}"


def _when_out(when: When | None) -> dict[str, Any] | None:
    if when is None:
        return None
    return _clean(
        {
            "states": list(when.states),
            "leaving": list(when.leaving),
            "events": list(when.events),
            "activity": _match_out(when.activity),
            "condition": when.condition.source if when.condition else None,
        }
    )


def _match_out(match: ActivityMatch | None) -> dict[str, Any] | None:
    if match is None:
        return None
    data = _clean({"kinds": list(match.kinds), "outcomes": list(match.outcomes)})
    if match.by != "anyone":
        data["by"] = match.by
    return data


def _action_out(action: Any) -> dict[str, Any]:
    if isinstance(action, Fire):
        return _clean({"fire": action.trigger, "reason": action.reason})
    if isinstance(action, Assign):
        if action.person is None:
            return {"reassign": True}
        return _clean(
            {
                "assign": action.person,
                "reason": action.reason if action.reason != "assigned by rule" else None,
            }
        )
    if isinstance(action, AddTag):
        return {"tag": action.tag}
    if isinstance(action, RemoveTag):
        return {"untag": action.tag}
    if isinstance(action, Notify):
        return _clean({"notify": action.to, "message": action.message})
    if isinstance(action, Escalate):
        return _clean({"escalate": action.to, "message": action.message})
    raise AgreementError(
        Problem(
            "action", action, "cannot be written to the agreement file", "use a built-in action"
        )
    )


def _policy_out(policy: AssignmentPolicy, team: str) -> Any:
    if type(policy) is RoundRobin:
        return None
    if type(policy) in (StrictRoundRobin,):
        return "strict-round-robin"
    if type(policy) is LeastLoaded and policy.loads is None:
        return "least-loaded"
    if isinstance(policy, FixedOwner):
        return {"fixed": policy.person}
    if isinstance(policy, RuleRouting):
        fallback = policy.fallback
        if isinstance(fallback, AssignmentPolicy):
            fallback_out = _policy_out(fallback, team) or "round-robin"
        else:
            fallback_out = fallback
        return _clean(
            {
                "routing": [
                    {"when": condition.source, "person": person}
                    for condition, person in policy.routes
                ],
                "fallback": fallback_out,
            }
        )
    raise AgreementError(
        Problem(
            f"teams.{team}.assignment",
            type(policy).__name__,
            "is a custom policy, which the agreement file cannot hold",
            "keep it in Python, or use round-robin, strict-round-robin, least-loaded, fixed or "
            "routing",
        )
    )


def agreement_to_data(agreement: Agreement) -> dict[str, Any]:
    """The agreement as plain data in the shape of the file (see :mod:`leadsla._shell.toml`)."""
    data: dict[str, Any] = {
        "agreement": _clean(
            {
                "name": agreement.name,
                "version": agreement.version,
                "effective": agreement.effective,
                "timezone": agreement.timezone,
                "tracking_period": agreement.tracking_period,
                "review": agreement.review,
                "rule_mode": agreement.rules.mode if agreement.rules.mode != "all" else None,
            }
        )
    }
    if agreement.fields:
        data["fields"] = {name: kind.to_data() for name, kind in agreement.fields.items()}
    calendars: dict[str, Any] = {}
    for name, calendar in agreement.calendars.items():
        plain = calendar.to_dict()
        zone = plain.pop("tz")
        entry: dict[str, Any] = {}
        if zone != agreement.timezone:
            entry["timezone"] = zone
        entry["week"] = {
            day: [f"{opening}-{closing}" for opening, closing in hours]
            for day, hours in plain["week"].items()
        }
        if "holidays" in plain:
            entry["holidays"] = plain["holidays"]
        if "overrides" in plain:
            entry["overrides"] = {
                day: [f"{opening}-{closing}" for opening, closing in hours]
                for day, hours in plain["overrides"].items()
            }
        if "country" in plain:
            entry["country"] = plain["country"]
        calendars[name] = entry
    data["calendars"] = calendars
    data["teams"] = {
        team.name: _clean(
            {
                "members": list(team.members),
                "manager": team.manager,
                "assignment": _policy_out(team.policy, team.name),
            }
        )
        for team in agreement.teams
    }
    data["terms"] = {
        term.name: _clean({"description": term.description, "condition": term.condition.source})
        for term in agreement.terms
    }
    if agreement.lifecycle != Lifecycle.default():
        data["lifecycle"] = agreement.lifecycle.to_dict()
    data["rules"] = [
        _clean(
            {
                "name": rule.name,
                "description": rule.description,
                "on": list(rule.on),
                "states": list(rule.states),
                "when": rule.when.source,
                "then": [_action_out(action) for action in rule.then],
                "priority": rule.priority or None,
            }
        )
        for rule in agreement.rules.rules
    ]
    data["obligations"] = [_obligation_out(spec) for spec in agreement.obligations]
    data["commitments"] = [
        _clean(
            {
                "name": commitment.name,
                "description": commitment.description,
                "party": commitment.party,
                "state": commitment.state,
                "at_least": commitment.at_least,
                "per": commitment.per,
                "accepted_state": commitment.accepted_state,
                "accepted_share": _fraction_out(commitment.accepted_share)
                if commitment.accepted_share is not None
                else None,
            }
        )
        for commitment in agreement.commitments
    ]
    if agreement.goal is not None:
        goal = agreement.goal
        data["goal"] = _clean(
            {
                "description": goal.description,
                "customers": goal.customers,
                "per": goal.per,
                "marketing_share": _fraction_out(goal.marketing_share),
                "conversions": [
                    {"from": source, "to": dest, "rate": _fraction_out(rate)}
                    for source, dest, rate in goal.conversions
                ],
            }
        )
    return {key: value for key, value in data.items() if value not in ([], {})}


def _obligation_out(spec: ObligationSpec) -> dict[str, Any]:
    attempts = None
    if spec.attempts is not None:
        attempts = _clean(
            {
                "count": spec.attempts.count,
                "counts": _match_out(spec.attempts.counts) or {},
                "reached": _match_out(spec.attempts.reached),
                "on_exhausted": [_action_out(a) for a in spec.attempts.on_exhausted],
            }
        )
    pause = None
    if spec.pause is not None:
        pause = _clean(
            {
                "states": list(spec.pause.states),
                "condition": spec.pause.condition.source if spec.pause.condition else None,
            }
        )
    return _clean(
        {
            "name": spec.name,
            "description": spec.description,
            "party": spec.party,
            "starts": _when_out(spec.starts),
            "met": _when_out(spec.met),
            "cancelled": _when_out(spec.cancelled),
            "pause": pause,
            "within": str(spec.within),
            "calendar": spec.calendar,
            "warnings": [
                {"before": str(w.before)}
                if w.before is not None
                else {"fraction": _fraction_out(w.fraction or Fraction(0))}
                for w in spec.warnings
            ],
            "attempts": attempts,
            "on_met": [_action_out(a) for a in spec.on_met],
            "on_breach": [_action_out(a) for a in spec.on_breach],
            "repeat": spec.repeat,
        }
    )


# ------------------------------------------------------------------------------------------
# Reading.


# Field names a part reports about itself as a whole: the caller's path replaces them.
_GENERIC_FIELDS = frozenset({"", "calendar", "condition", "duration", "guard", "when", "within"})


class _Reader:
    """Reads plain data, collecting every problem with its path."""

    def __init__(self, locate: Locate | None) -> None:
        self.problems: list[Problem] = []
        self.locate = locate
        # Named entries of arrays: ("obligations", "first-touch") -> ("obligations", 0), so a
        # problem the agreement reports by name can be placed on its line.
        self.named: dict[tuple[str, str], tuple[str, int]] = {}
        self.names_of: dict[tuple[str, int], str] = {}  # and back, to name them in paths
        self.triggers: dict[str, int] = {}  # lifecycle trigger -> its index in the file

    def where(self, path: Path, name: str | None = None) -> str:
        if name is not None:
            return name
        parts: list[str] = []
        for part in path:
            if isinstance(part, int):
                entry = self.names_of.get((parts[-1], part)) if len(parts) == 1 else None
                if entry is not None:
                    parts.append(entry)
                else:
                    parts[-1] = f"{parts[-1]}[{part}]"
            else:
                parts.append(part)
        return ".".join(parts)

    def problem(
        self, path: Path, value: Any, message: str, fix: str, *, display: str | None = None
    ) -> None:
        line = self.locate(path) if self.locate is not None else None
        self.problems.append(Problem(display or self.where(path), value, message, fix, line))

    def adopt(self, error: LeadSLAError, path: Path, *, display: str | None = None) -> None:
        """Take the problems of a part's own error, prefixed with where the part is."""
        prefix = display or self.where(path)
        line = self.locate(path) if self.locate is not None else None
        for problem in error.problems:
            field = problem.field
            if field.startswith(prefix) or field in _GENERIC_FIELDS:
                joined = field if field.startswith(prefix) else prefix
            else:
                joined = f"{prefix}.{field}"
            self.problems.append(
                Problem(joined, problem.value, problem.message, problem.fix, problem.line or line)
            )

    def table(
        self, value: Any, path: Path, known: Iterable[str], *, required: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(path, value, "must be a table", "write it as [table] or { key = value }")
            return None
        known = tuple(known)
        meant: set[str] = set()  # keys a misspelling stands for: not reported missing as well
        for key in value:
            if key not in known:
                match = closest(key, known)
                hint = f" (did you mean {match!r}?)" if match is not None else ""
                meant.update([match] if match is not None else [])
                self.problem(
                    (*path, str(key)),
                    _brief(value[key]),
                    "is not a known key here",
                    f"use {', '.join(known)}{hint}",
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

    def integer(
        self, table: Mapping[str, Any], key: str, path: Path, *, default: int | None = None
    ) -> int | None:
        value = table.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem((*path, key), value, "must be a whole number", f"write {key} = 6")
            return default
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
                path, value, "must be an array of tables", f"write [[{self.where(path)}]] sections"
            )
            return []
        return list(value)

    def fraction(self, table: Mapping[str, Any], key: str, path: Path) -> Fraction | None:
        value = table.get(key)
        if value is None:
            return None
        try:
            return to_fraction(value)
        except AgreementError:
            pass
        self.problem(
            (*path, key), value, "is not a number or share", f'write e.g. {key} = 0.3, or "30%"'
        )
        return None

    def condition(self, value: Any, path: Path, display: str | None = None) -> Condition | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(
                path,
                value,
                "must be a condition written as text",
                'write e.g. "score >= 50"',
                display=display,
            )
            return None
        try:
            return Condition(value, field=display or self.where(path))
        except LeadSLAError as error:
            self.adopt(error, path, display=display)
            return None

    def duration(self, value: Any, path: Path, display: str) -> Duration | None:
        if value is None:
            self.problem(
                path, None, "is missing", 'write e.g. within = "4 business hours"', display=display
            )
            return None
        try:
            return Duration.parse(value, field=display)
        except LeadSLAError as error:
            self.adopt(error, path, display=display)
            return None


def _named(items: list[Any], path: Path, reader: _Reader) -> list[tuple[int, dict[str, Any], str]]:
    """Array entries that are tables with a name, as (index, table, display name)."""
    named: list[tuple[int, dict[str, Any], str]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            reader.problem(
                (*path, index), item, "must be a table", "write each entry as a [[table]]"
            )
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name:
            reader.problem(
                (*path, index, "name"), name, "is missing or not text", 'give it name = "..."'
            )
            display = f"{path[0]}[{index}]"
        else:
            display = f"{path[0]}.{name}"
            reader.named[(str(path[0]), name)] = (str(path[0]), index)
            reader.names_of.setdefault((str(path[0]), index), name)
            if name in seen:
                reader.problem(
                    (*path, index, "name"),
                    name,
                    "is used twice",
                    "give each entry its own name",
                    display=display,
                )
            seen.add(name)
        named.append((index, dict(item), display))
    return named


def agreement_from_data(data: Mapping[str, Any], *, locate: Locate | None = None) -> Agreement:
    """Build an agreement from the file's shape; :class:`AgreementError` lists every problem."""
    reader = _Reader(locate)
    top = (
        reader.table(
            data,
            (),
            SECTIONS,
            required=("agreement", "calendars", "teams"),
        )
        or {}
    )
    head = (
        reader.table(
            top.get("agreement", {}),
            ("agreement",),
            ("name", "version", "effective", "timezone", "tracking_period", "review", "rule_mode"),
            # Without the table at all, that it is missing says it all.
            required=("name", "timezone") if "agreement" in top else (),
        )
        or {}
    )
    name = reader.text(head, "name", ("agreement",), default="") or ""
    timezone = reader.text(head, "timezone", ("agreement",), default="UTC") or "UTC"
    try:
        BusinessCalendar.always(timezone)
    except LeadSLAError as error:
        hint = did_you_mean(timezone, sorted(zoneinfo.available_timezones()))
        for problem in error.problems:
            reader.problem(
                ("agreement", "timezone"),
                timezone,
                problem.message,
                f"use an IANA name such as 'Europe/Helsinki'{hint}",
            )
        timezone = "UTC"  # so the calendars that inherit it are not reported as well
    version = reader.text(head, "version", ("agreement",), default="1") or "1"
    review = reader.text(head, "review", ("agreement",), default="") or ""
    tracking = reader.text(head, "tracking_period", ("agreement",), default="month") or "month"
    if tracking not in PERIODS:
        reader.problem(
            ("agreement", "tracking_period"),
            tracking,
            "is not a period",
            f"use one of {', '.join(PERIODS)}",
        )
        tracking = "month"
    rule_mode = reader.text(head, "rule_mode", ("agreement",), default="all") or "all"
    if rule_mode not in ("all", "first"):
        reader.problem(
            ("agreement", "rule_mode"), rule_mode, "is not a rule mode", 'use "all" or "first"'
        )
        rule_mode = "all"
    effective = head.get("effective")
    if effective is not None and (not isinstance(effective, date) or hasattr(effective, "hour")):
        reader.problem(
            ("agreement", "effective"), effective, "must be a date", "write effective = 2026-03-01"
        )
        effective = None

    fields = _read_fields(top.get("fields"), reader)
    calendars = _read_calendars(top.get("calendars", {}), timezone, reader)
    teams = _read_teams(top.get("teams", {}), reader)
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
                name=name,
                timezone=timezone,
                calendars=calendars,
                teams=teams,
                terms=terms,
                lifecycle=lifecycle,
                rules=RuleSet(rules, mode=rule_mode),  # type: ignore[arg-type]
                obligations=obligations,
                commitments=commitments,
                goal=goal,
                tracking_period=tracking,  # type: ignore[arg-type]
                version=version,
                effective=effective,
                review=review,
                fields=fields,
            )
        except LeadSLAError as error:
            # The agreement's own checks may find what reading found (a name used twice):
            # one report per place is enough.
            found = {problem.field for problem in reader.problems}
            for problem in error.problems:
                if problem.field not in found:
                    reader.problems.append(_placed(problem, reader))
    if reader.problems:
        raise AgreementError(*reader.problems)
    assert agreement is not None
    return agreement


def _placed(problem: Problem, reader: _Reader) -> Problem:
    """Give an agreement-level problem a line, from its dotted path, when the file is known."""
    field = problem.field
    if field.split(".")[0] in ("states", "initial") or field.startswith("transitions"):
        # The lifecycle's own names for its parts: place them in the file's lifecycle table.
        field = f"lifecycle.{field}"
        problem = attrs.evolve(problem, field=field)
    if field.startswith("lifecycle.transitions") and reader.locate is not None:
        # "transitions[4] (win).dest" or "transitions (qualify).guard": by index, or trigger.
        found = re.match(r"lifecycle\.transitions(?:\[(\d+)\])?(?: \(([^)]*)\))?", field)
        index = None
        if found is not None:
            index = int(found[1]) if found[1] else reader.triggers.get(found[2] or "")
        if index is not None and problem.line is None:
            return attrs.evolve(problem, line=reader.locate(("lifecycle", "transitions", index)))
    if problem.line is not None or reader.locate is None:
        return problem
    path: list[str | int] = []
    for part in problem.field.split(" ")[0].split("."):
        head, _, rest = part.partition("[")
        if len(path) == 1 and (str(path[0]), head) in reader.named:
            path = list(reader.named[(str(path[0]), head)])
        else:
            path.append(head)
        if rest.rstrip("]").isdigit():
            path.append(int(rest.rstrip("]")))
    return Problem(
        problem.field, problem.value, problem.message, problem.fix, reader.locate(tuple(path))
    )


def _check_default_guards(
    lifecycle: Lifecycle, terms: set[str], fields: Mapping[str, object], reader: _Reader
) -> list[str]:
    """The default lifecycle's guards name terms (mql, sql): a file that leaves them out would
    read them as lead fields that never exist, and no lead would ever qualify. Returns the
    missing names."""
    missing: list[str] = []
    for transition in lifecycle.transitions:
        if transition.guard is None:
            continue
        for name in sorted(transition.guard.names - terms - set(fields)):
            missing.append(name)
            reader.problem(
                ("terms",),
                None,
                f"is missing: the default lifecycle's {transition.trigger!r} guard uses it",
                f"add [terms.{name}] with its condition, or write your own [lifecycle]",
                display=f"terms.{name}",
            )
    return missing


def _read_fields(value: Any, reader: _Reader) -> dict[str, FieldType]:
    """``name = "type"``, or for a choice ``name = { type = "choice", values = [...] }``."""
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
    fields: dict[str, FieldType] = {}
    for key, written in value.items():
        try:
            fields[str(key)] = FieldType.of(written)
        except AgreementError as error:
            if isinstance(written, Mapping):
                reader.adopt(error, ("fields", key))
            else:
                for problem in error.problems:
                    reader.problem(("fields", key), written, problem.message, problem.fix)
            # A bad type keeps the name declared, so the conditions using it are not reported.
            fields[str(key)] = FieldType("any")
    return fields


def _read_calendars(value: Any, timezone: str, reader: _Reader) -> dict[str, BusinessCalendar]:
    calendars: dict[str, BusinessCalendar] = {}
    if not isinstance(value, Mapping):
        reader.problem(
            ("calendars",), value, "must be a table of calendars", "write [calendars.office]"
        )
        return calendars
    for name, spec in value.items():
        path = ("calendars", str(name))
        table = reader.table(
            spec, path, ("timezone", "week", "holidays", "overrides", "country"), required=("week",)
        )
        if table is None:
            continue
        data = {"tz": table.get("timezone", timezone), "week": table.get("week", {})}
        for key in ("holidays", "overrides", "country"):
            if key in table:
                data[key] = table[key]
        try:
            calendars[str(name)] = BusinessCalendar.from_dict(data)
        except LeadSLAError as error:
            # Keep the name known, so what uses the calendar is not reported as well.
            calendars[str(name)] = BusinessCalendar.always("UTC")
            for problem in error.problems:
                field = "timezone" if problem.field == "tz" else problem.field
                sub: Path = (
                    *path,
                    *[p for p in field.replace("[", ".").replace("]", "").split(".") if p],
                )
                line = reader.locate(sub) if reader.locate is not None else None
                if line is None and reader.locate is not None:
                    line = reader.locate(path)
                reader.problems.append(
                    Problem(
                        f"calendars.{name}.{field}",
                        problem.value,
                        problem.message,
                        problem.fix,
                        line,
                    )
                )
    return calendars


def _read_policy(value: Any, path: Path, reader: _Reader) -> AssignmentPolicy | None:
    if value is None:
        return RoundRobin()
    if isinstance(value, str):
        policy_type = _POLICY_NAMES.get(value)
        if policy_type is None:
            hint = did_you_mean(value, list(_POLICY_NAMES))
            reader.problem(
                path,
                value,
                "is not an assignment policy",
                f"use one of {', '.join(_POLICY_NAMES)}, a {{ fixed = ... }} "
                f"or {{ routing = ... }} table{hint}",
            )
            return None
        return policy_type()
    table = reader.table(value, path, ("fixed", "routing", "fallback"))
    if table is None:
        return None
    if "fixed" in table:
        person = reader.text(table, "fixed", path)
        return FixedOwner(person) if person else None
    routes = []
    for index, route in enumerate(reader.items(table.get("routing"), (*path, "routing"))):
        route_table = reader.table(
            route, (*path, "routing", index), ("when", "person"), required=("when", "person")
        )
        if route_table is None:
            continue
        condition = reader.condition(route_table.get("when"), (*path, "routing", index, "when"))
        person = reader.text(route_table, "person", (*path, "routing", index))
        if condition is not None and person:
            routes.append((condition, person))
    fallback_value = table.get("fallback")
    fallback: AssignmentPolicy | str | None
    if isinstance(fallback_value, str) and fallback_value not in _POLICY_NAMES:
        fallback = fallback_value
    else:
        fallback = _read_policy(fallback_value, (*path, "fallback"), reader)
    return RuleRouting(routes, fallback=fallback)


def _read_teams(value: Any, reader: _Reader) -> list[Team]:
    teams: list[Team] = []
    if not isinstance(value, Mapping):
        reader.problem(("teams",), value, "must be a table of teams", "write [teams.sales]")
        return teams
    for name, spec in value.items():
        path = ("teams", str(name))
        table = reader.table(spec, path, ("members", "manager", "assignment"))
        if table is None:
            continue
        members = reader.names(table, "members", path)
        manager = reader.text(table, "manager", path)
        policy = _read_policy(table.get("assignment"), (*path, "assignment"), reader)
        teams.append(Team(str(name), members, manager, policy or RoundRobin()))
    return teams


def _read_terms(value: Any, reader: _Reader) -> list[Term]:
    terms: list[Term] = []
    if value is None:
        return terms
    if not isinstance(value, Mapping):
        reader.problem(("terms",), value, "must be a table of terms", "write [terms.mql]")
        return terms
    for name, spec in value.items():
        path = ("terms", str(name))
        table = reader.table(spec, path, ("description", "condition"), required=("condition",))
        if table is None:
            continue
        condition = reader.condition(
            table.get("condition"), (*path, "condition"), f"terms.{name}.condition"
        )
        description = reader.text(table, "description", path, default="") or ""
        # A term whose condition is bad stays known, so what uses it is not reported as well.
        terms.append(Term(str(name), condition or _PLACEHOLDER_CONDITION, description))
    return terms


def _read_lifecycle(value: Any, reader: _Reader) -> Lifecycle | None:
    if value is None:
        return Lifecycle.default()
    path: Path = ("lifecycle",)
    table = reader.table(
        value,
        path,
        ("initial", "states", "transitions"),
        required=("initial", "states", "transitions"),
    )
    if table is None:
        return None
    states: list[State] = []
    raw_states = table.get("states", {})
    if not isinstance(raw_states, Mapping):
        reader.problem(
            (*path, "states"),
            raw_states,
            "must be a table of states",
            "write [lifecycle.states.lead]",
        )
        raw_states = {}
    for name, spec in raw_states.items():
        state_path = (*path, "states", str(name))
        state = reader.table(
            spec, state_path, ("owner", "terminal", "stage", "description"), required=("owner",)
        )
        if state is None:
            continue
        states.append(
            State(
                str(name),
                reader.text(state, "owner", state_path, default="") or "",
                reader.flag(state, "terminal", state_path),
                reader.text(state, "description", state_path, default="") or "",
                reader.integer(state, "stage", state_path),
            )
        )
    transitions: list[Transition] = []
    for index, spec in enumerate(reader.items(table.get("transitions"), (*path, "transitions"))):
        transition_path = (*path, "transitions", index)
        transition = reader.table(
            spec,
            transition_path,
            ("trigger", "sources", "dest", "guard", "requires_reason", "description"),
            required=("trigger", "sources", "dest"),
        )
        if transition is None:
            continue
        if isinstance(transition.get("trigger"), str):
            reader.triggers.setdefault(transition["trigger"], index)
        guard_text = transition.get("guard")
        guard = (
            reader.condition(guard_text, (*transition_path, "guard"))
            if guard_text is not None
            else None
        )
        if guard_text is not None and guard is None:
            continue
        transitions.append(
            Transition(
                reader.text(transition, "trigger", transition_path, default="") or "",
                reader.names(transition, "sources", transition_path),
                reader.text(transition, "dest", transition_path, default="") or "",
                guard,
                reader.flag(transition, "requires_reason", transition_path),
                reader.text(transition, "description", transition_path, default="") or "",
            )
        )
    initial = reader.text(table, "initial", path, default="") or ""
    try:
        return Lifecycle(states=states, transitions=transitions, initial=initial)
    except LeadSLAError as error:
        reader.problems += [_placed(problem, reader) for problem in error.problems]
        return None


_ACTION_KEYS = ("fire", "assign", "reassign", "tag", "untag", "notify", "escalate")


def _read_actions(
    value: Any, path: Path, reader: _Reader, *, escalate: bool, display: str
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
            display=display,
        )
        return actions
    allowed = _ACTION_KEYS if escalate else _ACTION_KEYS[:-1]
    for index, item in enumerate(value):
        item_path = (*path, index)
        table = reader.table(item, item_path, (*allowed, "reason", "message"))
        if table is None:
            continue
        kinds = [key for key in allowed if key in table]
        if len(kinds) != 1:
            reader.problem(
                item_path,
                item,
                "must name exactly one action",
                f"use one of {', '.join(allowed)}",
                display=f"{display}[{index}]",
            )
            continue
        kind = kinds[0]
        argument = table[kind]
        if kind == "reassign":
            if argument is not True:
                reader.problem(
                    (*item_path, kind),
                    argument,
                    "must be true",
                    "write { reassign = true }",
                    display=f"{display}[{index}]",
                )
                continue
            actions.append(Assign(None))
            continue
        if not isinstance(argument, str) or not argument:
            reader.problem(
                (*item_path, kind),
                argument,
                "must be a name",
                f'write {{ {kind} = "..." }}',
                display=f"{display}[{index}]",
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
    for index, table, display in _named(reader.items(value, ("rules",)), ("rules",), reader):
        path = ("rules", index)
        reader.table(
            table,
            path,
            ("name", "description", "on", "states", "when", "then", "priority"),
            required=("when", "then"),
        )
        when = reader.condition(table.get("when"), (*path, "when"), f"{display}.when")
        then = _read_actions(
            table.get("then"), (*path, "then"), reader, escalate=False, display=f"{display}.then"
        )
        on = reader.names(table, "on", path)
        states = reader.names(table, "states", path)
        priority = reader.integer(table, "priority", path, default=0) or 0
        description = reader.text(table, "description", path, default="") or ""
        if when is not None and isinstance(table.get("name"), str):
            rules.append(Rule(table["name"], when, then, on, states, priority, description))  # type: ignore[arg-type]
    return rules


def _read_when(value: Any, path: Path, reader: _Reader, display: str) -> When | None:
    if value is None:
        return None
    table = reader.table(value, path, ("states", "leaving", "events", "activity", "condition"))
    if table is None:
        return None
    activity = _read_match(table.get("activity"), (*path, "activity"), reader)
    condition = reader.condition(
        table.get("condition"), (*path, "condition"), f"{display}.condition"
    )
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
    table = reader.table(value, path, ("kinds", "outcomes", "by"))
    if table is None:
        return None
    by = reader.text(table, "by", path, default="anyone") or "anyone"
    if by not in ("anyone", "owner", "party"):
        reader.problem((*path, "by"), by, "is not who may act", 'use "anyone", "owner" or "party"')
        by = "anyone"
    kinds = reader.names(table, "kinds", path)
    outcomes = reader.names(table, "outcomes", path)
    return ActivityMatch(kinds, outcomes, cast("Literal['anyone', 'owner', 'party']", by))


def _read_obligations(value: Any, reader: _Reader) -> list[ObligationSpec]:
    specs: list[ObligationSpec] = []
    keys = (
        "name",
        "description",
        "party",
        "starts",
        "met",
        "cancelled",
        "pause",
        "within",
        "calendar",
        "warnings",
        "attempts",
        "on_met",
        "on_breach",
        "repeat",
    )
    for index, table, display in _named(
        reader.items(value, ("obligations",)), ("obligations",), reader
    ):
        path = ("obligations", index)
        reader.table(table, path, keys, required=("party", "starts", "within"))
        starts = _read_when(table.get("starts"), (*path, "starts"), reader, f"{display}.starts")
        met = _read_when(table.get("met"), (*path, "met"), reader, f"{display}.met")
        cancelled = _read_when(
            table.get("cancelled"), (*path, "cancelled"), reader, f"{display}.cancelled"
        )
        pause = None
        if table.get("pause") is not None:
            pause_table = reader.table(table["pause"], (*path, "pause"), ("states", "condition"))
            if pause_table is not None:
                pause = PauseWhile(
                    reader.names(pause_table, "states", (*path, "pause")),
                    reader.condition(
                        pause_table.get("condition"),
                        (*path, "pause", "condition"),
                        f"{display}.pause.condition",
                    ),
                )
        within = reader.duration(table.get("within"), (*path, "within"), f"{display}.within")
        warnings: list[Warn] = []
        for position, warning in enumerate(
            reader.items(table.get("warnings"), (*path, "warnings"))
        ):
            warning_path = (*path, "warnings", position)
            warning_table = reader.table(warning, warning_path, ("before", "fraction"))
            if warning_table is None:
                continue
            if "before" in warning_table and "fraction" in warning_table:
                reader.problem(
                    warning_path,
                    None,
                    "gives both before and fraction",
                    'keep one: before = "1 business hour" or fraction = 0.75',
                    display=f"{display}.warnings[{position}]",
                )
                continue
            before = None
            if "before" in warning_table:
                before = reader.duration(
                    warning_table["before"],
                    (*warning_path, "before"),
                    f"{display}.warnings[{position}].before",
                )
                if before is None:
                    continue  # reported
            fraction = reader.fraction(warning_table, "fraction", warning_path)
            if "fraction" in warning_table and fraction is None:
                continue  # reported
            try:
                warnings.append(Warn(before=before, fraction=fraction))
            except LeadSLAError as error:
                # Warn names its fields warning.before and warning.fraction: the path has them.
                own = [
                    Problem(p.field.removeprefix("warning").lstrip("."), p.value, p.message, p.fix)
                    for p in error.problems
                ]
                reader.adopt(
                    type(error)(*own), warning_path, display=f"{display}.warnings[{position}]"
                )
        attempts = None
        if table.get("attempts") is not None:
            attempts_path = (*path, "attempts")
            attempts_table = reader.table(
                table["attempts"],
                attempts_path,
                ("count", "counts", "reached", "on_exhausted"),
                required=("count", "counts"),
            )
            if attempts_table is not None:
                counts = _read_match(
                    attempts_table.get("counts", {}), (*attempts_path, "counts"), reader
                )
                attempts = Attempts(
                    reader.integer(attempts_table, "count", attempts_path, default=1) or 0,
                    counts or ActivityMatch(),
                    _read_match(attempts_table.get("reached"), (*attempts_path, "reached"), reader),
                    _read_actions(
                        attempts_table.get("on_exhausted"),
                        (*attempts_path, "on_exhausted"),
                        reader,
                        escalate=True,
                        display=f"{display}.attempts.on_exhausted",
                    ),
                )
        on_met = _read_actions(
            table.get("on_met"),
            (*path, "on_met"),
            reader,
            escalate=True,
            display=f"{display}.on_met",
        )
        on_breach = _read_actions(
            table.get("on_breach"),
            (*path, "on_breach"),
            reader,
            escalate=True,
            display=f"{display}.on_breach",
        )
        party = reader.text(table, "party", path, default="") or ""
        calendar = reader.text(table, "calendar", path)
        repeat = reader.flag(table, "repeat", path)
        description = reader.text(table, "description", path, default="") or ""
        name = table.get("name")
        if starts is None or not isinstance(name, str):
            continue
        if within is None:
            within = Duration(1, "hours")  # reported already; a stand-in to check the rest
        specs.append(
            ObligationSpec(
                name=name,
                party=party,
                starts=starts,
                within=within,
                met=met,
                cancelled=cancelled,
                pause=pause,
                calendar=calendar,
                warnings=warnings,
                on_breach=on_breach,
                on_met=on_met,
                attempts=attempts,
                repeat=repeat,
                description=description,
            )
        )
    return specs


def _read_commitments(value: Any, reader: _Reader) -> list[Commitment]:
    commitments: list[Commitment] = []
    for index, table, display in _named(
        reader.items(value, ("commitments",)), ("commitments",), reader
    ):
        path = ("commitments", index)
        reader.table(
            table,
            path,
            (
                "name",
                "description",
                "party",
                "state",
                "at_least",
                "per",
                "accepted_state",
                "accepted_share",
            ),
            required=("party", "state", "at_least"),
        )
        per = reader.text(table, "per", path, default="month") or "month"
        if per not in PERIODS:
            reader.problem(
                (*path, "per"),
                per,
                "is not a period",
                f"use one of {', '.join(PERIODS)}",
                display=f"{display}.per",
            )
            per = "month"
        before = len(reader.problems)
        at_least = reader.integer(table, "at_least", path, default=0) or 0
        counted = len(reader.problems) == before  # else leave it out of the goal's check
        if at_least < 0:
            reader.problem(
                (*path, "at_least"),
                at_least,
                "must not be negative",
                "give the least number promised",
                display=f"{display}.at_least",
            )
        share = reader.fraction(table, "accepted_share", path)
        if share is not None and not 0 <= share <= 1:
            reader.problem(
                (*path, "accepted_share"),
                table.get("accepted_share"),
                "must be between 0 and 1",
                'write e.g. 0.6 or "60%"',
                display=f"{display}.accepted_share",
            )
            share = None
        name = table.get("name")
        if isinstance(name, str) and counted and at_least >= 0:
            commitments.append(
                Commitment(
                    name,
                    reader.text(table, "party", path, default="") or "",
                    reader.text(table, "state", path, default="") or "",
                    at_least,
                    per,  # type: ignore[arg-type]
                    reader.text(table, "accepted_state", path),
                    share,
                    reader.text(table, "description", path, default="") or "",
                )
            )
    return commitments


def _read_goal(value: Any, reader: _Reader) -> Goal | None:
    if value is None:
        return None
    path: Path = ("goal",)
    table = reader.table(
        value,
        path,
        ("description", "customers", "per", "marketing_share", "conversions"),
        required=("customers",),
    )
    if table is None:
        return None
    customers = reader.integer(table, "customers", path, default=0) or 0
    if customers < 0:
        reader.problem(
            (*path, "customers"),
            customers,
            "must not be negative",
            "give the number of customers wanted",
        )
    per = reader.text(table, "per", path, default="quarter") or "quarter"
    if per not in PERIODS:
        reader.problem((*path, "per"), per, "is not a period", f"use one of {', '.join(PERIODS)}")
        per = "quarter"
    share = reader.fraction(table, "marketing_share", path)
    if share is None and "marketing_share" not in table:
        share = Fraction(1)
    if share is not None and not 0 <= share <= 1:
        reader.problem(
            (*path, "marketing_share"),
            table.get("marketing_share"),
            "must be between 0 and 1",
            'write e.g. 0.6 or "60%"',
        )
        share = None
    conversions: list[tuple[str, str, Fraction]] = []
    for index, item in enumerate(reader.items(table.get("conversions"), (*path, "conversions"))):
        item_path = (*path, "conversions", index)
        conversion = reader.table(
            item, item_path, ("from", "to", "rate"), required=("from", "to", "rate")
        )
        if conversion is None:
            continue
        rate = reader.fraction(conversion, "rate", item_path)
        if rate is not None and not 0 < rate <= 1:
            reader.problem(
                (*item_path, "rate"),
                conversion.get("rate"),
                "must be above 0 and at most 1",
                "write e.g. rate = 0.3",
            )
            rate = None
        source = reader.text(conversion, "from", item_path)
        dest = reader.text(conversion, "to", item_path)
        if rate is not None and source and dest:
            conversions.append((source, dest, rate))
    if share is None:
        return None
    description = reader.text(table, "description", path, default="") or ""
    return Goal(customers, cast("Period", per), share, tuple(conversions), description)


_PLACEHOLDER_CONDITION: Final = Condition("true")

_TABLE_EXAMPLES: Final[dict[str, str]] = {
    "agreement": "add an [agreement] table with name and timezone",
    "calendars": "add a [calendars.NAME] table with the weekday hours (leadsla init writes one)",
    "teams": "add a [teams.NAME] table with members (leadsla init writes one)",
}


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
