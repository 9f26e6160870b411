"""Events: facts from outside, each with its own id and timezone-aware time.

Events are immutable values with keyword-only constructors, checked when made. Their JSON form
(SPEC §7) is one object per line::

    {"id": "e1", "type": "lead_created", "lead": "L-1", "at": "2026-03-02T09:15:00+02:00",
     "fields": {"email": "ann@acme.com", "score": 62}}

Types: ``lead_created`` and ``lead_updated`` (``fields``), ``activity`` (``kind``, ``outcome``,
``by``), ``transition`` (``trigger``, ``by``, ``reason``), ``assign`` (``owner``, ``by``,
``reason``). :func:`event_from_json` reads that form and reports every problem of a line at once;
:meth:`Event.to_json` writes it back, byte for byte the same for the same event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final

from attrs import field, frozen

from leadsla._core.errors import EventError, Problem, did_you_mean

__all__ = [
    "ActivityLogged",
    "Event",
    "EventError",
    "LeadCreated",
    "LeadUpdated",
    "OwnerAssigned",
    "TransitionRequested",
    "event_from_json",
]


def _check_text(name: str, value: object, *, optional: bool = False) -> list[Problem]:
    if value is None and optional:
        return []
    if not isinstance(value, str) or not value:
        expected = "a non-empty string" + (" or null" if optional else "")
        return [Problem(name, value, f"must be {expected}", f"give '{name}' as text")]
    return []


def _check_at(value: object) -> list[Problem]:
    if not isinstance(value, datetime):
        return [Problem("at", value, "must be a datetime", "give an ISO 8601 time with an offset")]
    if value.tzinfo is None or value.utcoffset() is None:
        return [
            Problem("at", value, "must be timezone-aware", "add a UTC offset such as +02:00 or Z")
        ]
    return []


def _frozen_fields(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(value, MappingProxyType) or not isinstance(value, Mapping):
        return value  # not a mapping: the event's check reports it
    return MappingProxyType(dict(value))


@frozen(kw_only=True)
class Event:
    """Base of all events: its id, the lead it is about, and when it happened."""

    type: ClassVar[str] = ""

    id: str
    lead: str
    at: datetime

    def __attrs_post_init__(self) -> None:
        problems = [
            *_check_text("id", self.id),
            *_check_text("lead", self.lead),
            *_check_at(self.at),
            *self._check(),
        ]
        if problems:
            raise EventError(*problems)

    def _check(self) -> list[Problem]:
        return []

    def _payload(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of SPEC §7 (keys in a fixed order)."""
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "lead": self.lead,
            "at": self.at.isoformat(),
        }
        data.update(self._payload())
        return data

    def to_json(self) -> str:
        """One line of JSON; the same event always gives the same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(", ", ": "), default=str)

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Event:
        """Read an event from its JSON form (text or an already parsed object)."""
        return event_from_json(data)


def _check_fields(value: object) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [Problem("fields", value, "must be an object", 'write e.g. "fields": {"score": 62}')]
    bad = [key for key in value if not isinstance(key, str) or not key]
    if bad:
        return [Problem("fields", bad, "has keys that are not names", "use text keys")]
    return []


@frozen(kw_only=True)
class LeadCreated(Event):
    """A new lead, with its fields."""

    type: ClassVar[str] = "lead_created"
    fields: Mapping[str, Any] = field(factory=dict, converter=_frozen_fields)

    def _check(self) -> list[Problem]:
        return _check_fields(self.fields)

    def _payload(self) -> dict[str, Any]:
        return {"fields": dict(self.fields)}


@frozen(kw_only=True)
class LeadUpdated(Event):
    """New values for some fields (``None`` makes a field missing)."""

    type: ClassVar[str] = "lead_updated"
    fields: Mapping[str, Any] = field(converter=_frozen_fields)

    def _check(self) -> list[Problem]:
        return _check_fields(self.fields)

    def _payload(self) -> dict[str, Any]:
        return {"fields": dict(self.fields)}


@frozen(kw_only=True)
class ActivityLogged(Event):
    """Someone did something with the lead: a call, an email, a meeting; and how it went."""

    type: ClassVar[str] = "activity"
    kind: str
    outcome: str | None = None
    by: str | None = None

    def _check(self) -> list[Problem]:
        return [
            *_check_text("kind", self.kind),
            *_check_text("outcome", self.outcome, optional=True),
            *_check_text("by", self.by, optional=True),
        ]

    def _payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "outcome": self.outcome, "by": self.by}


@frozen(kw_only=True)
class TransitionRequested(Event):
    """Someone asks to move the lead with a lifecycle trigger."""

    type: ClassVar[str] = "transition"
    trigger: str
    by: str | None = None
    reason: str | None = None

    def _check(self) -> list[Problem]:
        return [
            *_check_text("trigger", self.trigger),
            *_check_text("by", self.by, optional=True),
            *_check_text("reason", self.reason, optional=True),
        ]

    def _payload(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "by": self.by, "reason": self.reason}


@frozen(kw_only=True)
class OwnerAssigned(Event):
    """Someone gives the lead to a person (``None``: to whoever the team's policy picks)."""

    type: ClassVar[str] = "assign"
    owner: str | None
    by: str | None = None
    reason: str | None = None

    def _check(self) -> list[Problem]:
        return [
            *_check_text("owner", self.owner, optional=True),
            *_check_text("by", self.by, optional=True),
            *_check_text("reason", self.reason, optional=True),
        ]

    def _payload(self) -> dict[str, Any]:
        return {"owner": self.owner, "by": self.by, "reason": self.reason}


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (LeadCreated, LeadUpdated, ActivityLogged, TransitionRequested, OwnerAssigned)
}
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional) payload keys
    "lead_created": ((), ("fields",)),
    "lead_updated": (("fields",), ()),
    "activity": (("kind",), ("outcome", "by")),
    "transition": (("trigger",), ("by", "reason")),
    "assign": (("owner",), ("by", "reason")),
}


def event_from_json(data: str | bytes | Mapping[str, Any]) -> Event:
    """Read one event from its JSON form; :class:`EventError` lists every problem at once."""
    if isinstance(data, (str, bytes)):
        text = data
        try:
            data = json.loads(text)
        except ValueError as error:
            raise EventError(
                Problem(
                    "event", _clip(text), f"is not JSON ({error})", "write one JSON object per line"
                )
            ) from None
    if not isinstance(data, Mapping):
        raise EventError(
            Problem("event", data, "must be a JSON object", 'write {"id": ..., "type": ...}')
        )
    problems: list[Problem] = []
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        hint = did_you_mean(str(kind), list(EVENT_TYPES))
        problems.append(
            Problem(
                "type", kind, "is not an event type", f"use one of {', '.join(EVENT_TYPES)}{hint}"
            )
        )
        required: tuple[str, ...] = ()
        optional: tuple[str, ...] = ()
    else:
        required, optional = _KEYS[kind]
    for key in ("id", "lead", "at", *required):
        if key not in data:
            problems.append(Problem(key, None, "is missing", f"add '{key}' to the event"))
    known = {"id", "type", "lead", "at", *required, *optional}
    for key in data:
        if key not in known and kind in EVENT_TYPES:
            hint = did_you_mean(str(key), sorted(known))
            problems.append(
                Problem(
                    str(key),
                    data[key],
                    f"is not a key of {_a(str(kind))} event",
                    f"remove it{hint}",
                )
            )
    at: Any = data.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            problems.append(
                Problem("at", at, "is not an ISO 8601 time", "write e.g. 2026-03-02T09:15:00+02:00")
            )
            at = None
        else:
            if at.tzinfo is None:
                problems.append(
                    Problem(
                        "at",
                        data["at"],
                        "must be timezone-aware",
                        "add a UTC offset such as +02:00 or Z",
                    )
                )
    elif "at" in data:
        problems.append(Problem("at", at, "must be text", "write e.g. 2026-03-02T09:15:00+02:00"))
    if problems:
        if kind in EVENT_TYPES:
            problems += _value_problems(EVENT_TYPES[str(kind)], data, required, problems)
        raise EventError(*problems)
    payload = {key: data[key] for key in (*required, *optional) if key in data}
    event_type = EVENT_TYPES[str(kind)]
    return event_type(id=data["id"], lead=data["lead"], at=at, **payload)


_PLACEHOLDER_AT: Final = datetime(2000, 1, 1, tzinfo=UTC)


def _value_problems(
    event_type: type[Event],
    data: Mapping[str, Any],
    required: tuple[str, ...],
    found: list[Problem],
) -> list[Problem]:
    """The value problems not yet found: build the event with stand-ins for the bad keys.

    So one message lists every problem, not the key problems first and the values next time.
    """
    seen = {problem.field for problem in found}
    known = {"id", "lead", *required, *_KEYS[event_type.type][1]}
    values = {key: data[key] for key in known if key in data and key not in seen}
    values.update({key: "x" for key in ("id", "lead", *required) if key in seen or key not in data})
    try:
        event_type(at=_PLACEHOLDER_AT, **values)
    except EventError as error:
        return [problem for problem in error.problems if problem.field not in seen]
    return []


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _clip(data: str | bytes) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= 80 else text[:77] + "..."
