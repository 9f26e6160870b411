"""What a new version of an agreement changes, said in the one-pager's words.

An agreement is renegotiated after a review: first touch goes from 4 to 2 business hours, the
MQL threshold from 50 to 60. :func:`agreement_diff` finds what differs between the two versions
by comparing them as they are written (:func:`~leadsla._shell.agreement_write.agreement_to_data`,
the tables of the agreement file, keyed by name), and says each differing part with the
sentence the one-page summary (:mod:`leadsla._shell.summary`) uses for it, before and after.

A part is an item of the one-pager: an obligation's bullet, a term's row, a team's line, a
calendar's hours. Where the one-pager says nothing of what changed (an obligation's
description, when it stops, a rule's priority, a calendar's holiday dates), the change is
given as the short value of that key, as a part of its own (``obligation first-touch
description``). Each difference is told once, at the part that changed: new working hours are
the calendar's change, not one for every obligation whose sentence names the hours.

The changes come in the one-pager's order of parts (the name and version, the goal, the
definitions, the commitments, who owns a lead, how leads move, the working hours, tracking and
review), and within a part in the agreement's order: the old version's, then what the new one
adds. :func:`render_diff` writes them as plain text (wrapped within 100 columns) or Markdown
(every piece of the agreement's text escaped).

Agreements the file cannot hold (a custom assignment policy or action, built in Python) cannot
be compared: :func:`agreement_diff` raises :class:`~leadsla.AgreementError` for them, as
writing them does.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date
from typing import Any, Final, Literal, TypeVar

import attrs
from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import BusinessCalendar
from leadsla._core.conditions import Term
from leadsla._core.errors import AgreementError, LeadSLAError, Problem
from leadsla._core.funnel import Commitment, Goal, goal_funnel
from leadsla._core.lifecycle import ANY_STATE, State
from leadsla._core.obligations import ObligationSpec
from leadsla._core.ownership import Person, Team
from leadsla._core.periods import per
from leadsla._core.rules import Rule
from leadsla._shell.agreement_write import agreement_to_data
from leadsla._shell.render import markdown_text, plural
from leadsla._shell.summary import (
    _either,
    _state,
    _when_start,
    commitment_sentence,
    obligation_sentence,
    rule_sentence,
    team_sentence,
    tracking_sentence,
)

__all__ = ["Change", "DiffFormat", "agreement_diff", "render_diff"]

DiffFormat = Literal["text", "md"]
ChangeKind = Literal["added", "removed", "changed"]

_T = TypeVar("_T")


@frozen
class Change:
    """One part of the agreement that a new version adds, removes or changes.

    ``part`` names it (``obligation first-touch``, ``term MQL``, ``team sales``, ``version``);
    ``before`` and ``after`` are what the one-pager says of it in the old and the new version
    (a sentence, or a short value where the page says nothing of it), None on the side where
    the part is not there.
    """

    part: str
    kind: ChangeKind
    before: str | None
    after: str | None


# ------------------------------------------------------------------------------------------
# Short values: what the one-pager does not say, as the file writes it.

# Keys said with other words than their own, when a change is given as a value.
_WORDS: Final[Mapping[str, str]] = {"cancelled": "stops on", "on": "events"}
# What a key the file leaves out stands for, where that is not nothing (flags are false).
_ABSENT: Final[Mapping[str, Any]] = {"priority": 0}


def _inline(value: Any) -> str:
    """A value as one line of the agreement file's syntax; text inside a list or table quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_inline(item)}" for key, item in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    return str(value)


def _short(value: Any) -> str | None:
    """A value for a reader: text as it is, a list of texts as a list in words, anything else
    in the file's syntax."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    return value if isinstance(value, str) else _inline(value)


def _value_change(part: str, before: Any, after: Any) -> Change:
    # A flag left out of the file is false: switching one on changes it, it adds nothing.
    if isinstance(before, bool) or isinstance(after, bool):
        before, after = bool(before), bool(after)
    return _change(part, _short(before), _short(after))


def _change(part: str, before: str | None, after: str | None) -> Change:
    kind: ChangeKind = "added" if before is None else "removed" if after is None else "changed"
    return Change(part, kind, before, after)


# ------------------------------------------------------------------------------------------
# One part: compared as written, said with its sentence.


def _evolve(old: Any, new: Any, key: str) -> Any:
    """``old`` with the value of ``key`` taken from ``new`` (the file's ``assignment`` is a
    team's ``policy``)."""
    name = "policy" if key == "assignment" else key
    return attrs.evolve(old, **{name: getattr(new, name)})


@frozen
class _Side:
    """One version: the agreement, and its parts as written, by section and name."""

    agreement: Agreement
    data: Mapping[str, Any]


def _side(agreement: Agreement) -> _Side:
    data = agreement_to_data(agreement)
    lifecycle = agreement.lifecycle.to_dict()  # the file leaves out the default lifecycle
    return _Side(
        agreement,
        {
            "goal": data.get("goal"),
            "terms": data.get("terms", {}),
            "fields": data.get("fields", {}),
            "commitments": {item["name"]: item for item in data.get("commitments", [])},
            "obligations": {item["name"]: item for item in data.get("obligations", [])},
            "teams": data.get("teams", {}),
            "people": data.get("people", {}),
            "states": lifecycle["states"],
            "rules": {item["name"]: item for item in data.get("rules", [])},
            "transitions": _by_trigger(lifecycle["transitions"]),
            # with their time zone, which the file leaves out when it is the agreement's
            "calendars": {
                name: {**c.to_dict(), **_owners_of(agreement, name)}
                for name, c in agreement.calendars.items()
            },
        },
    )


def _by_trigger(transitions: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The lifecycle's transitions by trigger (``hand_back (2)`` for a trigger's second)."""
    named: dict[str, Mapping[str, Any]] = {}
    for transition in transitions:
        trigger = transition["trigger"]
        name, number = trigger, 1
        while name in named:
            number += 1
            name = f"{trigger} ({number})"
        named[name] = transition
    return named


def _compare(
    part: str,
    old: _T | None,
    new: _T | None,
    data: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None],
    say: tuple[Callable[[_T], str], Callable[[_T], str]],
    mix: Callable[[_T, _T, str], _T] = _evolve,
    listed: Collection[str] = (),
    phrases: Mapping[str, Callable[[_T], str | None]] | None = None,
) -> list[Change]:
    """The changes of one part: its sentence before and after when a differing key shows in
    it, and each differing key the sentence does not show as a value of its own.

    Whether a key shows is tried: the old part with that key's new value (``mix``) said in the
    old version's words must read differently. Keys in ``listed`` are given as values, not
    through the sentence (a calendar says how many holidays, not which); ``phrases``
    words a key's value instead of writing it as the file does.
    """
    say_old, say_new = say
    if old is None or new is None:
        if old is not None:
            return [Change(part, "removed", say_old(old), None)]
        return [Change(part, "added", None, say_new(new))] if new is not None else []
    old_data, new_data = data[0] or {}, data[1] or {}
    keys = [
        key
        for key in dict.fromkeys([*old_data, *new_data])
        if old_data.get(key) != new_data.get(key)
    ]
    if not keys:
        return []
    before, after = say_old(old), say_new(new)

    def shows(key: str) -> bool:
        try:
            return say_old(mix(old, new, key)) != before
        except (LeadSLAError, TypeError, ValueError, KeyError, AttributeError):
            return True  # the key cannot change alone: count it as shown by the sentence

    spoken = [key for key in keys if before != after and key not in listed and shows(key)]
    changes = [Change(part, "changed", before, after)] if spoken else []
    for key in keys:
        if key in spoken:
            continue
        label = f"{part} {_WORDS.get(key, key.replace('_', ' '))}"
        phrase = (phrases or {}).get(key)
        if phrase is not None:
            changes.append(_change(label, phrase(old), phrase(new)))
        else:
            absent = _ABSENT.get(key)
            changes.append(
                _value_change(label, old_data.get(key, absent), new_data.get(key, absent))
            )
    return changes


def _named(
    kind: str,
    sides: tuple[_Side, _Side],
    section: str,
    items: Callable[[_Side], Iterable[tuple[str, _T]]],
    say: Callable[[Agreement, _T], str],
    title: Callable[[str], str] = str,
    **options: Any,
) -> list[Change]:
    """The changes of a section's named parts (obligations, teams, terms...): the old
    version's order, then what the new one adds. ``title`` says a name as the page does
    (``mql`` is the term MQL)."""
    old, new = sides
    before, after = dict(items(old)), dict(items(new))
    changes: list[Change] = []
    for name in dict.fromkeys([*before, *after]):
        changes += _compare(
            f"{kind} {title(name)}",
            before.get(name),
            after.get(name),
            (old.data[section].get(name), new.data[section].get(name)),
            (lambda item: say(old.agreement, item), lambda item: say(new.agreement, item)),
            **options,
        )
    return changes


# ------------------------------------------------------------------------------------------
# The one-pager's sentences that summary.py builds inline, one part at a time.


def _goal_sentence(agreement: Agreement, goal: Goal) -> str:
    """The goal's funnel in words, as ``leadsla check`` and the page's goal say it."""
    funnel = goal_funnel(goal, agreement.commitments, agreement.tracking_period)
    if funnel is not None:
        return " ".join(funnel.sentences())
    share = f"{float(goal.marketing_share):.0%}"
    return (
        f"The goal: {goal.customers} new customers {per(goal.per)}, {share} of them from marketing."
    )


def _row(cells: Iterable[tuple[str, str]]) -> str:
    """A table row of the page as ``Header: cell.`` for each cell that says something."""
    said = [f"{header}: {cell}" for header, cell in cells if cell]
    return " ".join(
        text if text.endswith((".", "!", "?")) or number == len(said) - 1 else text + "."
        for number, text in enumerate(said)
    )


def _term_sentence(_: Agreement, term: Term) -> str:
    return _row((("Meaning", term.description), ("Rule", term.condition.source)))


def _state_sentence(_: Agreement, state: State) -> str:
    return _row((("Owner", state.owner), ("Meaning", state.description)))


def _transition_sentence(_: Agreement, transition: Mapping[str, Any]) -> str:
    """A move of the lifecycle (the page lists only those that need a reason)."""
    sources = transition.get("sources", [])
    where = (
        "every state that is not final"
        if list(sources) == [ANY_STATE]
        else _either([_state(source) for source in sources])
    )
    text = f"From {where} to {_state(transition.get('dest', ''))}"
    if transition.get("guard"):
        text += f", only while {transition['guard']}"
    if transition.get("requires_reason"):
        text += ", with a reason"
    return text + "."


def _mix_data(old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    mixed = {**old, key: new.get(key)}
    return {name: value for name, value in mixed.items() if value is not None}


# ------------------------------------------------------------------------------------------
# The agreement, part by part in the one-pager's order.


def agreement_diff(old: Agreement, new: Agreement) -> list[Change]:
    """What ``new`` changes of ``old``, part by part, in the one-pager's words.

    >>> import attrs
    >>> from leadsla import Agreement
    >>> old = Agreement.default()
    >>> agreement_diff(old, attrs.evolve(old, version="2"))
    [Change(part='version', kind='changed', before='1', after='2')]
    >>> agreement_diff(old, old)
    []
    """
    sides = (_side(old), _side(new))
    return [
        *_header(old, new),
        *_compare(
            "goal",
            old.goal,
            new.goal,
            (sides[0].data["goal"], sides[1].data["goal"]),
            (lambda goal: _goal_sentence(old, goal), lambda goal: _goal_sentence(new, goal)),
        ),
        *_named("term", sides, "terms", _terms, _term_sentence, title=_state),
        *_values("field", sides, "fields"),
        *_said(
            "personal fields",
            ", ".join(old.personal) or "none",
            ", ".join(new.personal) or "none",
        ),
        *_named(
            "commitment",
            sides,
            "commitments",
            _commitments,
            lambda _, commitment: commitment_sentence(commitment),
        ),
        *_named(
            "obligation",
            sides,
            "obligations",
            _obligations,
            obligation_sentence,
            phrases={"cancelled": _stops},
        ),
        *_named("team", sides, "teams", _teams, lambda _, team: team_sentence(team)),
        *_named("person", sides, "people", _people, lambda _, person: person.describe()),
        *_said(
            "reassign when away",
            _yes_no(old.reassign_when_away),
            _yes_no(new.reassign_when_away),
        ),
        *_said("initial state", _state(old.lifecycle.initial), _state(new.lifecycle.initial)),
        *_named("state", sides, "states", _states, _state_sentence, title=_state),
        *_named("rule", sides, "rules", _rules, rule_sentence),
        *_said("rule mode", old.rules.mode, new.rules.mode),
        *_named(
            "transition",
            sides,
            "transitions",
            lambda side: side.data["transitions"].items(),
            _transition_sentence,
            mix=_mix_data,
        ),
        *_named(
            "calendar",
            sides,
            "calendars",
            lambda side: side.data["calendars"].items(),
            _calendar_sentence,
            mix=_mix_data,
            listed=("holidays", "overrides"),
        ),
        *_said("tracking", tracking_sentence(old), tracking_sentence(new)),
        *_said("review", old.review or None, new.review or None),
    ]


def _header(old: Agreement, new: Agreement) -> list[Change]:
    return [
        *_said("name", old.name, new.name),
        *_said("version", old.version, new.version),
        *_said("effective date", _short(old.effective), _short(new.effective)),
    ]


def _said(part: str, before: str | None, after: str | None) -> list[Change]:
    return [] if before == after else [_change(part, before, after)]


def _values(kind: str, sides: tuple[_Side, _Side], section: str) -> list[Change]:
    """A section's parts by name, each given as its value (the page does not say them)."""
    before, after = sides[0].data[section], sides[1].data[section]
    return [
        _value_change(f"{kind} {name}", before.get(name), after.get(name))
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


def _terms(side: _Side) -> Iterable[tuple[str, Term]]:
    return [(term.name, term) for term in side.agreement.terms]


def _commitments(side: _Side) -> Iterable[tuple[str, Commitment]]:
    return [(commitment.name, commitment) for commitment in side.agreement.commitments]


def _obligations(side: _Side) -> Iterable[tuple[str, ObligationSpec]]:
    return [(spec.name, spec) for spec in side.agreement.obligations]


def _teams(side: _Side) -> Iterable[tuple[str, Team]]:
    return [(team.name, team) for team in side.agreement.teams]


def _people(side: _Side) -> Iterable[tuple[str, Person]]:
    return [(person.name, person) for person in side.agreement.people]


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _states(side: _Side) -> Iterable[tuple[str, State]]:
    return [(state.name, state) for state in side.agreement.lifecycle.states]


def _rules(side: _Side) -> Iterable[tuple[str, Rule]]:
    return [(rule.name, rule) for rule in side.agreement.rules.ordered]


def _stops(spec: ObligationSpec) -> str | None:
    return _when_start(spec.cancelled) if spec.cancelled is not None else None


def _owners_of(agreement: Agreement, name: str) -> dict[str, Any]:
    """Who works by calendar ``name``: its teams, people and region, as the file says them."""
    for owners in agreement.calendar_owners:
        if owners.calendar == name:
            found = {
                "teams": list(owners.teams),
                "people": list(owners.people),
                "region": owners.region.source if owners.region is not None else None,
            }
            return {key: value for key, value in found.items() if value}
    return {}


_OWNER_KEYS: Final = ("teams", "people", "region")


def _calendar_sentence(_: Agreement, calendar: Mapping[str, Any]) -> str:
    hours = {key: value for key, value in calendar.items() if key not in _OWNER_KEYS}
    whose = [
        *(f"team {team}" for team in calendar.get("teams", ())),
        *calendar.get("people", ()),
        *([f"leads with {calendar['region']}"] if calendar.get("region") else []),
    ]
    said = BusinessCalendar.from_dict(hours).describe()
    return f"{said}, for {', '.join(whose)}" if whose else said


# ------------------------------------------------------------------------------------------
# Rendering.


def render_diff(
    changes: Iterable[Change],
    format: DiffFormat = "text",
    old_label: str = "OLD",
    new_label: str = "NEW",
) -> str:
    """The changes as plain text wrapped within 100 columns, or as Markdown (``md``).

    ``old_label`` and ``new_label`` name the two versions (the CLI gives the file names). No
    changes make one line: ``No differences: OLD and NEW say the same.``
    """
    if format not in ("text", "md"):
        raise AgreementError(Problem("format", format, "is not a diff format", "use text or md"))
    changes = list(changes)
    if format == "md":
        return _markdown(changes, old_label, new_label)
    return _text(changes, old_label, new_label)


_WIDTH: Final = 96


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text, _WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def _sides(change: Change) -> list[tuple[str, str]]:
    return [
        (label, text)
        for label, text in (("before", change.before), ("after", change.after))
        if text is not None
    ]


def _text(changes: list[Change], old_label: str, new_label: str) -> str:
    if not changes:
        said = f"No differences: {old_label} and {new_label} say the same."
        return "\n".join(_wrap(said, "", "")) + "\n"
    lines = _wrap(f"{plural(len(changes), 'change')} from {old_label} to {new_label}:", "", "")
    for change in changes:
        lines += ["", *_wrap(f"{change.part}: {change.kind}", "- ", "  ")]
        for label, text in _sides(change):
            lines += _wrap(text, f"    {label + ':':<8}", " " * 12)
    return "\n".join(lines) + "\n"


def _markdown(changes: list[Change], old_label: str, new_label: str) -> str:
    md = markdown_text  # the parts and sentences come from the agreement's authors
    if not changes:
        return f"No differences: {md(old_label)} and {md(new_label)} say the same.\n"
    lines = [
        f"# Changes from {md(old_label)} to {md(new_label)}",
        "",
        f"{plural(len(changes), 'change')}.",
        "",
    ]
    for change in changes:
        lines.append(f"- **{md(change.part)}**: {change.kind}")
        lines += [f"  - {label}: {md(text)}" for label, text in _sides(change)]
    return "\n".join(lines) + "\n"
