"""Writing an agreement: an :class:`~leadsla.Agreement` out as plain data, and as commented TOML.

:func:`agreement_to_data` turns an agreement into plain values (strings, numbers, booleans,
dates, lists, tables) in the shape of the agreement file (:mod:`leadsla._shell.agreement_shape`).
It leaves out what says nothing: empty lists and text, false flags, the round-robin assignment,
``rule_mode = "all"`` and a lifecycle equal to the default one.

:func:`agreement_to_toml` writes that data as TOML, the tables in the order a reader wants them,
with a comment before each table when ``comments`` is true. The standard library reads TOML but
does not write it, and the writers on PyPI drop comments, so this small writer covers the values
the agreement uses: text, numbers, booleans, dates, arrays and inline tables.

Reading the result back (:mod:`leadsla._shell.agreement_read`) gives an equal agreement. An
agreement built in Python with a custom assignment policy or a custom action has no form in the
file: writing it raises :class:`~leadsla.AgreementError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from typing import Any, Final

from leadsla._core.agreement import Agreement
from leadsla._core.defaults import PERSONAL_FIELDS
from leadsla._core.errors import AgreementError, Problem
from leadsla._core.lifecycle import Lifecycle
from leadsla._core.obligations import ActivityMatch, Escalate, ObligationSpec, Warn, When
from leadsla._core.ownership import (
    AssignmentPolicy,
    FixedOwner,
    LeastLoaded,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
)
from leadsla._core.rules import AddTag, Assign, Fire, Notify, RemoveTag
from leadsla._shell.agreement_shape import SECTIONS

__all__ = ["agreement_to_data", "agreement_to_toml"]


# ------------------------------------------------------------------------------------------
# Plain data.


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


def _step_out(step: Warn) -> dict[str, Any]:
    """A step of an obligation's ladder: when, then its actions."""
    if step.before is not None:
        data: dict[str, Any] = {"before": str(step.before)}
    elif step.after is not None:
        data = {"after": str(step.after)}
    else:
        data = {"fraction": _fraction_out(step.fraction or Fraction(0))}
    if step.actions:
        data["actions"] = [_action_out(action) for action in step.actions]
    return data


def _policy_out(policy: AssignmentPolicy, team: str) -> Any:
    if type(policy) is RoundRobin:
        return None
    if type(policy) in (StrictRoundRobin,):
        return "strict-round-robin"
    if type(policy) is LeastLoaded and policy.loads is None:
        return "least-loaded-working-hours" if policy.working_hours else "least-loaded"
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
    """The agreement as plain data in the shape of its file (the tables and keys of
    docs/reference/agreement-file.md)."""
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
    if agreement.personal != PERSONAL_FIELDS:  # (an empty list says: none)
        data["agreement"]["personal"] = list(agreement.personal)
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
        for owners in agreement.calendar_owners:
            if owners.calendar == name:
                entry.update(
                    _clean(
                        {
                            "teams": list(owners.teams),
                            "people": list(owners.people),
                            "region": owners.region.source if owners.region else None,
                        }
                    )
                )
        calendars[name] = entry
    data["calendars"] = calendars
    data["teams"] = {
        team.name: _clean(
            {
                "members": list(team.members),
                "manager": team.manager,
                "assignment": _policy_out(team.policy, team.name),
                "sticky": team.sticky,
            }
        )
        for team in agreement.teams
    }
    data["people"] = {
        person.name: _clean(
            {
                "away": [list(window) for window in person.away],
                "capacity": person.capacity,
                "timezone": person.timezone if person.timezone != agreement.timezone else None,
            }
        )
        for person in agreement.people
    }
    data["ownership"] = _clean({"reassign_when_away": agreement.reassign_when_away})
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
            "tiers": [
                {"name": tier.name, "when": tier.when.source, "within": str(tier.within)}
                for tier in spec.tiers
            ],
            "retier": spec.retier,
            "calendar": spec.calendar,
            "warnings": [_step_out(step) for step in spec.warnings],
            "attempts": attempts,
            "on_met": [_action_out(a) for a in spec.on_met],
            "on_breach": [_action_out(a) for a in spec.on_breach],
            "grace": str(spec.grace) if spec.grace is not None else None,
            "repeat": spec.repeat,
        }
    )


# ------------------------------------------------------------------------------------------
# TOML text.

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")

_COMMENTS: Final[dict[str, str]] = {
    "agreement": (
        "The service level agreement between marketing and sales, as leadsla enforces it.\n"
        "Check it:            leadsla check FILE\n"
        "Print the one-pager: leadsla summary FILE --format html -o agreement.html\n"
        "tracking_period is week, month, quarter or year; rule_mode is all (every matching\n"
        "rule fires, by priority) or first (only the first)."
    ),
    "fields": (
        "The lead fields the conditions below may use, and their types (text, number, boolean,\n"
        'date, datetime, list, table, any, or { type = "choice", values = [...] }). A condition\n'
        "naming anything else, or using a field against its type, is reported: it catches typos."
    ),
    "calendars": (
        'When each team works. Each weekday lists opening intervals "HH:MM-HH:MM" (several\n'
        "make breaks; one closing at or before its opening runs past midnight; 24:00 is\n"
        "midnight). holidays takes ISO dates and RFC 5545 rules such as\n"
        '"FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25" or "FREQ=YEARLY;BYEASTER=-2";\n'
        'overrides replaces one date\'s hours; country = "FI" adds national holidays.'
    ),
    "teams": (
        "Who is responsible. assignment: round-robin (the default; by a stable hash of the lead\n"
        'id), strict-round-robin, least-loaded, least-loaded-working-hours, { fixed = "name" } or\n'
        '{ routing = [{ when = "condition", person = "name" }], fallback = ... }; sticky = true.'
    ),
    "people": (
        "The people who own leads, when they are away and how many open leads they take.\n"
        "away lists [first, last] days, both included, in the agreement's time zone (or\n"
        "date-times with their UTC offset, the end excluded); capacity is the most open\n"
        "leads. Assignment skips whoever is away or at capacity; an explicit assign does not."
    ),
    "ownership": (
        "reassign_when_away: when an owner's time away starts, their leads with open clocks\n"
        "go to someone else in the team (by default they stay)."
    ),
    "terms": (
        "The agreed definitions. Conditions are expressions over lead fields:\n"
        "comparisons, in, and/or/not, functions such as has(x), lower(x), domain(email).\n"
        "A missing field makes a comparison false. Terms may use other terms by name."
    ),
    "lifecycle": "The lead lifecycle: states with their owning team, and transitions.",
    "rules": (
        "When something happens (on: lead_created, lead_updated, activity, assign,\n"
        "transitioned) to a lead in one of states and the condition holds: then. Actions:\n"
        '{ fire = "trigger", reason = "..." }, { assign = "name" }, { reassign = true },\n'
        '{ tag = "x" }, { untag = "x" }, { notify = "who", message = "..." }.'
    ),
    "obligations": (
        "Timed promises. starts/met/cancelled take states (entering), leaving, events,\n"
        "activity = { kinds, outcomes, by = anyone | owner | party } and a condition.\n"
        'within is business time on the calendar ("4 business hours", "1 business day")\n'
        'or calendar time ("30 days"); tiers give other targets by a condition, the first\n'
        "that holds (retier = true chooses again when the lead's fields change). calendar is\n"
        "a calendar's name, or owner, team or region (whose calendar counts). warnings, the\n"
        'escalation ladder: { before = "..." }, { fraction = 0.75 } or { after = "..." },\n'
        "each with actions = [...]. on_breach / on_met take actions, and\n"
        '{ escalate = "manager" }.'
    ),
    "commitments": "Volume promises per tracking period.",
    "goal": (
        "The business goal the agreement serves; the conversions turn it into the volumes\n"
        "each stage must produce (see leadsla summary)."
    ),
}


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    escaped = []
    for character in text:
        code = ord(character)
        if character == "\\":
            escaped.append("\\\\")
        elif character == '"':
            escaped.append('\\"')
        elif character == "\n":
            escaped.append("\\n")
        elif character == "\t":
            escaped.append("\\t")
        elif code < 0x20 or code == 0x7F:
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        items = [_value(item) for item in value]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= 72:
            return one_line
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())


def _table(lines: list[str], header: str, data: Mapping[str, Any], *, inline_below: bool) -> None:
    """Write ``[header]`` with its plain keys, then its sub-tables as their own sections."""
    plain = {k: v for k, v in data.items() if inline_below or not isinstance(v, Mapping)}
    nested = {k: v for k, v in data.items() if not inline_below and isinstance(v, Mapping)}
    if plain or not nested:
        lines.append(f"[{header}]\n")
        lines.extend(f"{_key(str(k))} = {_value(v)}\n" for k, v in plain.items())
        lines.append("\n")
    for key, value in nested.items():
        _table(lines, f"{header}.{_key(str(key))}", value, inline_below=inline_below)


def agreement_to_toml(agreement: Agreement, *, comments: bool = True) -> str:
    """The agreement file, with explanatory comments unless ``comments`` is false."""
    data = agreement_to_data(agreement)
    lines: list[str] = []
    for section in SECTIONS:
        if section not in data:
            continue
        value = data[section]
        if comments:
            lines.append(_comment(_COMMENTS[section]))
        if section in ("rules", "obligations", "commitments"):
            for entry in value:
                lines.append(f"[[{section}]]\n")
                lines.extend(f"{_key(str(k))} = {_value(v)}\n" for k, v in entry.items())
                lines.append("\n")
        elif section == "lifecycle":
            lines.append("[lifecycle]\n")
            lines.append(f"initial = {_value(value['initial'])}\n\n")
            for name, state in value["states"].items():
                _table(lines, f"lifecycle.states.{_key(name)}", state, inline_below=True)
            for transition in value["transitions"]:
                lines.append("[[lifecycle.transitions]]\n")
                lines.extend(f"{_key(str(k))} = {_value(v)}\n" for k, v in transition.items())
                lines.append("\n")
        elif section in ("calendars", "teams", "people", "terms"):
            for name, entry in value.items():
                _table(lines, f"{section}.{_key(name)}", entry, inline_below=section != "calendars")
        else:
            _table(lines, section, value, inline_below=True)
    return "".join(lines).rstrip("\n") + "\n"
