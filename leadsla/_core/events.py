"""Events: facts from outside, each with its own id and timezone-aware time.

Events are immutable values with keyword-only constructors, checked when made. Their JSON form
(the event log, one object per line) is::

    {"id": "e1", "type": "lead_created", "lead": "L-1", "at": "2026-03-02T09:15:00+02:00",
     "fields": {"email": "ann@acme.com", "score": 62}}

Types: ``lead_created`` and ``lead_updated`` (``fields``), ``activity`` (``kind``, ``outcome``,
``by``), ``transition`` (``trigger``, ``by``, ``reason``), ``assign`` (``owner``, ``by``,
``reason``), ``migrate`` (``to``, ``state``, ``by``), and the housekeeping events ``convert``
(``to``, ``by``), ``merge`` (``into``, ``by``) and ``erase`` (``by``). :meth:`Event.from_json`
reads that form and reports every problem of a line at once; :meth:`Event.to_json` writes it
back, byte for byte the same for the same event.

Reading is the hot path of a replay, so :meth:`Event.from_json` first checks the shape nearly
every line has (a known type, exactly its keys, text where text goes, a time with an offset,
flat field values) and builds the event from the checked values at once; anything else goes
to the full checker, which lists every problem of the line. A field value may nest lists and
objects :data:`MAX_DEPTH` levels deep; a deeper one, or a line too deeply nested for the
``json`` module to read, is refused like any other bad value, never with a ``RecursionError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from sys import intern
from types import MappingProxyType
from typing import Any, ClassVar, Final, NamedTuple, Self

import attrs
from attrs import field, frozen

from leadsla._core.errors import EventError, Problem, did_you_mean
from leadsla._core.fast import builder

__all__ = [
    "SHORT",
    "ActivityLogged",
    "Event",
    "EventError",
    "LeadConverted",
    "LeadCreated",
    "LeadErased",
    "LeadMerged",
    "LeadMigrated",
    "LeadUpdated",
    "Maker",
    "OwnerAssigned",
    "TransitionRequested",
    "at_offset",
    "from_values",
    "maker",
    "packed",
    "unpacked",
    "zone_at",
    "zone_reduced",
]

#: How many levels of lists and objects a field value may nest (``[[1]]`` has two).
MAX_DEPTH: Final = 100
#: The types of values that nest nothing.
_FLAT: Final = frozenset({str, int, float, bool, type(None)})


def _too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists, tuples or mappings more than ``limit`` levels deep.

    Checked without recursion, depth first, so a value of any depth (or one that holds
    itself) is answered as soon as one branch goes too deep.
    """
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children: Any
        if isinstance(item, (list, tuple)):
            children = item
        elif isinstance(item, Mapping):
            children = item.values()
        else:
            continue
        if level > limit:
            return True
        pending.extend((child, level + 1) for child in children if type(child) not in _FLAT)
    return False


def _outline(value: object, width: int = 80) -> str:
    """The start of a deeply nested value, written without recursion, clipped to ``width``."""
    parts: list[str] = []
    size = 0
    item = value
    while size < width:
        if isinstance(item, (list, tuple)):
            brackets = "[]" if isinstance(item, list) else "()"
            if not item:
                parts.append(brackets)
                break
            parts.append(brackets[0])
            item = item[0]
        elif isinstance(item, Mapping):
            if not item:
                parts.append("{}")
                break
            key = next(iter(item))
            parts.append("{" + (repr(key) if type(key) in _FLAT else "...") + ": ")
            item = item[key]
        else:
            parts.append(repr(item) if type(item) in _FLAT else f"<{type(item).__name__}>")
            break
        size += len(parts[-1])
    text = "".join(parts)
    return text[: width - 3] + "..."


def _shown(value: object) -> object:
    """``value`` as a problem shows it: itself, or the start of it when it nests too deeply
    to be written out (a ``repr`` of it would overflow the stack)."""
    if type(value) in _FLAT or not _too_deep(value):
        return value
    return _outline(value)


def _check_text(name: str, value: object, *, optional: bool = False) -> list[Problem]:
    if value is None and optional:
        return []
    if not isinstance(value, str) or not value:
        expected = "a non-empty string" + (" or null" if optional else "")
        return [Problem(name, _shown(value), f"must be {expected}", f"give '{name}' as text")]
    return []


def _check_at(value: object) -> list[Problem]:
    if not isinstance(value, datetime):
        return [
            Problem(
                "at", _shown(value), "must be a datetime", "give an ISO 8601 time with an offset"
            )
        ]
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
    #: Whether the event checks its values against each other (read with every check, then).
    cross_checked: ClassVar[bool] = False

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
        """The event's JSON object, as the event log writes it (keys in a fixed order)."""
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
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Self:
        """Read an event from its JSON form: one line of text (``str`` or UTF-8 ``bytes``) or
        the object it parses to. :class:`EventError` lists every problem of the line at once.

        ``Event.from_json`` reads any type of event; on a subclass, such as
        ``LeadCreated.from_json``, a line of another type is refused.
        """
        event = _read(data)
        if not isinstance(event, cls):
            raise EventError(
                Problem(
                    "type",
                    event.type,
                    f"is not {_a(cls.type)} event",
                    f"give {_a(cls.type)} event, or read any event with Event.from_json",
                )
            )
        return event


def _check_fields(value: object) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [
            Problem(
                "fields", _shown(value), "must be an object", 'write e.g. "fields": {"score": 62}'
            )
        ]
    problems = []
    bad = [_shown(key) for key in value if not isinstance(key, str) or not key]
    if bad:
        problems.append(Problem("fields", bad, "has keys that are not names", "use text keys"))
    problems.extend(
        Problem(
            f"fields.{key}",
            _outline(item),
            f"nests lists or objects more than {MAX_DEPTH} levels deep",
            "flatten it: keep one value per field, or split it into several fields",
        )
        for key, item in value.items()
        if type(item) not in _FLAT and isinstance(key, str) and _too_deep(item)
    )
    return problems


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


@frozen(kw_only=True)
class LeadMigrated(Event):
    """The lead moves to a newer version of the agreement (``to``, a version's name) from
    ``at`` on; ``state`` is the state it takes there, when its own is not in that version's
    lifecycle (see :func:`leadsla.migrate`)."""

    type: ClassVar[str] = "migrate"
    to: str
    state: str | None = None
    by: str | None = None

    def _check(self) -> list[Problem]:
        return [
            *_check_text("to", self.to),
            *_check_text("state", self.state, optional=True),
            *_check_text("by", self.by, optional=True),
        ]

    def _payload(self) -> dict[str, Any]:
        return {"to": self.to, "state": self.state, "by": self.by}


@frozen(kw_only=True)
class LeadConverted(Event):
    """The lead became a contact or an opportunity (``to``) and leaves the lifecycle: its open
    clocks close, and it takes no more events but an erasure."""

    type: ClassVar[str] = "convert"
    to: str = "opportunity"
    by: str | None = None

    def _check(self) -> list[Problem]:
        return [*_check_text("to", self.to), *_check_text("by", self.by, optional=True)]

    def _payload(self) -> dict[str, Any]:
        return {"to": self.to, "by": self.by}


@frozen(kw_only=True)
class LeadMerged(Event):
    """Two records were one person: this lead (``lead``) is absorbed ``into`` the surviving
    one. It closes as a conversion does; the survivor's view shows its history."""

    type: ClassVar[str] = "merge"
    cross_checked: ClassVar[bool] = True
    into: str
    by: str | None = None

    def _check(self) -> list[Problem]:
        problems = [*_check_text("into", self.into), *_check_text("by", self.by, optional=True)]
        if not problems and self.into == self.lead:
            problems.append(
                Problem(
                    "into",
                    self.into,
                    "is the lead itself: a lead cannot be merged into itself",
                    "name the surviving lead, the one this record is a duplicate of",
                )
            )
        return problems

    def _payload(self) -> dict[str, Any]:
        return {"into": self.into, "by": self.by}


@frozen(kw_only=True)
class LeadErased(Event):
    """A request to erase the person's data (GDPR): the agreement's personal fields are
    erased from the lead and from what the stores keep of it; its states, clocks and tallies
    stay, and it takes no more events."""

    type: ClassVar[str] = "erase"
    by: str | None = None

    def _check(self) -> list[Problem]:
        return _check_text("by", self.by, optional=True)

    def _payload(self) -> dict[str, Any]:
        return {"by": self.by}


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        LeadCreated,
        LeadUpdated,
        ActivityLogged,
        TransitionRequested,
        OwnerAssigned,
        LeadMigrated,
        LeadConverted,
        LeadMerged,
        LeadErased,
    )
}
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional) payload keys
    "lead_created": ((), ("fields",)),
    "lead_updated": (("fields",), ()),
    "activity": (("kind",), ("outcome", "by")),
    "transition": (("trigger",), ("by", "reason")),
    "assign": (("owner",), ("by", "reason")),
    "migrate": (("to",), ("state", "by")),
    "convert": ((), ("to", "by")),
    "merge": (("into",), ("by",)),
    "erase": ((), ("by",)),
}


#: Required keys whose value may be null (an ``assign`` to whoever the team's policy picks).
_MAY_BE_NULL: Final = frozenset({"owner"})


class _Shape(NamedTuple):
    """What a well-formed line of one type looks like, for the fast path of :func:`_read` and
    :func:`from_values`, and how to build its event (see :class:`Maker`)."""

    allowed: frozenset[str]  # every key it may have
    # Its text keys in the class's order, each with whether it may be null and the value it
    # takes when left out.
    texts: tuple[tuple[str, bool, str | None], ...]
    required: tuple[str, ...]  # the keys besides id, type, lead and at it must have
    has_fields: bool  # (then ``fields`` is its only other key)
    build: Callable[..., Event]  # the event from its attributes in order, unchecked


def _shape(kind: str) -> _Shape:
    event_type = EVENT_TYPES[kind]
    required, optional = _KEYS[kind]
    payload = (*required, *optional)
    order = [a.name for a in attrs.fields(event_type) if a.init]
    # The fast path builds the event from its attributes: the keys must be the attributes,
    # ``fields`` with no others.
    assert order[:3] == ["id", "lead", "at"]
    assert set(order[3:]) == set(payload)
    assert "fields" not in payload or len(payload) == 1
    return _Shape(
        frozenset({"id", "type", "lead", "at", *payload}),
        tuple(
            (key, _nullable(event_type, key, optional), _default(event_type, key))
            for key in order[3:]
            if key != "fields"
        ),
        required,
        "fields" in payload,
        builder(event_type),
    )


def _default(event_type: type[Event], key: str) -> str | None:
    """The value an optional text key takes when a line leaves it out (its class default)."""
    default = getattr(attrs.fields(event_type), key).default
    return default if isinstance(default, str) else None


def _nullable(event_type: type[Event], key: str, optional: tuple[str, ...]) -> bool:
    """Whether a text key may be null: an optional key whose class default is None, or a
    required key that says null (an ``assign`` to whoever the team's policy picks)."""
    return (key in optional and _default(event_type, key) is None) or key in _MAY_BE_NULL


_SHAPES: Final = {kind: _shape(kind) for kind in _KEYS}


def _read(data: str | bytes | Mapping[str, Any]) -> Event:
    """Read one event; the well-formed shape is checked and built at once (see the module's
    documentation), anything else goes to :func:`_read_checked`."""
    if isinstance(data, str):
        text = data
        try:
            data, end = _raw_decode(text)  # json.loads without its wrappers and blank checks
        except (ValueError, RecursionError):
            end = -1
        if end != len(text):  # blanks around the object, or an error to report
            data = _parse(text)
    elif isinstance(data, bytes):
        data = _parse(data)
    if type(data) is not dict:
        return _read_checked(data)
    at = data.get("at")
    if type(at) is not str:
        return _read_checked(data)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return _read_checked(data)
    event = _built(data, moment)
    return event if event is not None else _read_checked(data)


def from_values(data: Mapping[str, Any]) -> Event:
    """An event from its JSON object with ``at`` already a timezone-aware
    :class:`~datetime.datetime` (how an import makes its events: no text to write and read
    back). The event is the one :meth:`Event.from_json` reads from the object with ``at``
    written in ISO 8601: its time at its UTC offset, checked alike, :class:`EventError`
    listing every problem."""
    at = data.get("at")
    if type(data) is dict and type(at) is datetime and at.utcoffset() is not None:
        event = _built(data, at_offset(at))
        if event is not None:
            return event
    if isinstance(at, datetime):  # (one without an offset is refused as such)
        data = {**data, "at": at.isoformat()}
    return _read_checked(data)


class Maker(NamedTuple):
    """How to make events of one type from values already checked (an import's hot path):
    ``build(id, lead, at, *texts)`` takes the type's text keys in the order of ``texts``, each
    with its default (the value it takes when left out), and whether it may be None; it checks
    nothing. A key in ``required`` may not be left out (an ``assign``'s ``owner``: it may be
    None, for the team's policy to pick, but must be said). A value that could be wrong goes
    through :func:`from_values` instead, which says what is wrong. ``at`` must be held at its
    offset (:func:`at_offset`)."""

    texts: tuple[tuple[str, str | None, bool], ...]  # (key, default, whether it may be None)
    required: frozenset[str]
    build: Callable[..., Event]


def maker(kind: str) -> Maker | None:
    """The :class:`Maker` of the events of type ``kind``; None for a type whose values are
    checked against each other (build those with :func:`from_values`). A type with fields has
    no text keys: its ``build(id, lead, at, fields)`` takes them as a read-only mapping of
    names (interned) to values that nest nothing."""
    shape = _SHAPES.get(kind)
    if shape is None or EVENT_TYPES[kind].cross_checked:
        return None
    return Maker(
        tuple((key, default, nullable) for key, nullable, default in shape.texts),
        frozenset(shape.required),
        shape.build,
    )


#: An event as plain values (see :func:`packed`): its type, id, lead, time, then its other
#: attributes in its class's order (the fields as a dict).
Packed = tuple[Any, ...]


def packed(event: Event) -> Packed:
    """``event`` as a tuple of plain values, which :func:`unpacked` makes into the same event
    again: how a sort keeps events on disk (pickled, an event is a third of the cost of the
    event itself, whose class ``pickle`` rebuilds attribute by attribute)."""
    shape = _SHAPES[event.type]
    values = [event.type, event.id, event.lead, event.at]
    if shape.has_fields:
        values.append(dict(event.fields))  # type: ignore[attr-defined]
    else:
        values.extend(getattr(event, key) for key, _, _ in shape.texts)
    return tuple(values)


def unpacked(values: Packed) -> Event:
    """The event :func:`packed` gave ``values`` for, sharing what events read from JSON share
    (the field names, short texts; and a zone per offset, when the values were pickled with
    :func:`zone_reduced` for zones)."""
    shape = _SHAPES[values[0]]
    moment = values[3]
    if _ZONES.get(moment.tzinfo) is not moment.tzinfo:
        moment = at_offset(moment)
    if shape.has_fields:
        named = {intern(name): value for name, value in values[4].items()}
        return shape.build(values[1], values[2], moment, MappingProxyType(named))
    texts = [
        _shared(text) if text is not None and len(text) <= SHORT else text for text in values[4:]
    ]
    return shape.build(values[1], values[2], moment, *texts)


def at_offset(moment: datetime) -> datetime:
    """``moment`` (timezone-aware) at its UTC offset, as an event read from JSON holds its
    time: one zone object shared per offset (a long log keeps millions of instants), unnamed,
    ``fold`` 0. Times in a zone with rules, such as ``ZoneInfo("America/Sao_Paulo")``, compare
    by their wall clocks when they share the zone; at their offsets they compare as
    instants."""
    zone = moment.tzinfo
    if zone is not None and _ZONES.get(zone) is zone:
        return moment.replace(fold=0) if moment.fold else moment
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a time without a UTC offset has no offset to keep")
    fixed = timezone(offset)  # (unnamed: a zone named "EET" is not what every line shares)
    return moment.replace(tzinfo=_ZONES.setdefault(fixed, fixed), fold=0)


def zone_at(offset: timedelta) -> timezone:
    """The zone every event at UTC offset ``offset`` shares (see :func:`at_offset`)."""
    fixed = timezone(offset)
    zone = _ZONES.setdefault(fixed, fixed)
    assert isinstance(zone, timezone)  # (every zone kept is one)
    return zone


def zone_reduced(zone: timezone) -> tuple[Callable[[timedelta], timezone], tuple[timedelta]]:
    """How to pickle a zone of an event's time (a ``copyreg`` reducer): unpickled, it is the
    zone every event at its offset shares, not one of its own."""
    offset = zone.utcoffset(None)
    return zone_at, (offset,)


def _built(data: dict[str, Any], moment: datetime) -> Event | None:
    """The event of a parsed object of the well-formed shape, its time ``moment``; None when
    the object is not of that shape (the full checker then says why)."""
    kind = data.get("type")
    shape = _SHAPES.get(kind) if type(kind) is str else None
    if shape is None:
        return None
    allowed, texts, required, has_fields, build = shape
    event_id, lead = data.get("id"), data.get("lead")
    if (
        not allowed.issuperset(data)
        or type(event_id) is not str
        or not event_id
        or type(lead) is not str
        or not lead
        or moment.tzinfo is None
    ):
        return None
    # Every "+02:00" parses into a timezone object of its own; a long log keeps millions of
    # instants, so they share one per offset (from_values hands over a shared one already).
    zone = moment.tzinfo
    shared_zone = _ZONES.setdefault(zone, zone)
    if shared_zone is not zone:
        moment = moment.replace(tzinfo=shared_zone)
    for key in required:
        if key not in data:
            return None
    if not has_fields:
        values: list[str | None] = []
        for key, nullable, default in texts:
            value = data.get(key, default)
            if type(value) is str and value:
                values.append(_shared(value) if len(value) <= SHORT else value)
            elif value is None and nullable:
                values.append(None)
            else:
                return None
        event = build(event_id, lead, moment, *values)
    else:
        fields = data.get("fields", _NO_FIELDS)
        if type(fields) is not dict:
            return None
        named: dict[str, Any] = {}  # the names interned: every lead's record keeps its fields
        for name, value in fields.items():
            if type(name) is not str or not name:
                return None
            if type(value) not in _FLAT and _too_deep(value):
                return None
            short = type(value) is str and len(value) <= SHORT
            named[intern(name)] = _shared(value) if short else value
        event = build(event_id, lead, moment, MappingProxyType(named))
    # Every check of the constructor is done (but the cross-checks of a few types).
    if event.cross_checked and event._check():
        return None  # (the full checker lists the problems)
    return event


_NO_FIELDS: Final[dict[str, Any]] = {}
_ZONES: Final[dict[tzinfo, tzinfo]] = {}
#: Short texts read from JSON (who, why, a country code), one string per distinct value: a long
#: log's records keep them by the million ("bob" in every history entry of bob's). At most
#: ``_MAX_SHARED`` of them; a value of more than ``SHORT`` characters is kept as read (ids,
#: emails: mostly one of a kind).
_SHARED: Final[dict[str, str]] = {}
SHORT: Final = 16
_MAX_SHARED: Final = 1 << 16


def _shared(text: str) -> str:
    """The one string kept for ``text`` (``text`` itself once the table is full)."""
    shared = _SHARED.get(text)
    if shared is None:
        if len(_SHARED) >= _MAX_SHARED:
            return text
        shared = _SHARED[text] = text
    return shared


_raw_decode: Final = json.JSONDecoder().raw_decode


def _parse(text: str | bytes) -> Any:
    """``json.loads(text)``, its errors as :class:`EventError`."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise EventError(
            Problem(
                "event", _clip(text), f"is not JSON ({error})", "write one JSON object per line"
            )
        ) from None
    except RecursionError:
        raise EventError(
            Problem(
                "event",
                _clip(text),
                "nests lists or objects too deeply to be read",
                f"write one JSON object per line, its values at most {MAX_DEPTH} levels deep",
            )
        ) from None


def _read_checked(data: object) -> Event:
    """Read one parsed event the slow way, listing every problem at once."""
    if not isinstance(data, Mapping):
        raise EventError(
            Problem(
                "event", _shown(data), "must be a JSON object", 'write {"id": ..., "type": ...}'
            )
        )
    problems: list[Problem] = []
    kind = data.get("type")
    known_type = isinstance(kind, str) and kind in EVENT_TYPES
    if not known_type:
        hint = did_you_mean(kind, list(EVENT_TYPES)) if isinstance(kind, str) else ""
        problems.append(
            Problem(
                "type",
                _shown(kind),
                "is not an event type",
                f"use one of {', '.join(EVENT_TYPES)}{hint}",
            )
        )
        required: tuple[str, ...] = ()
        optional: tuple[str, ...] = ()
    else:
        required, optional = _KEYS[str(kind)]
    for key in ("id", "lead", "at", *required):
        if key not in data:
            problems.append(Problem(key, None, "is missing", f"add '{key}' to the event"))
    known = {"id", "type", "lead", "at", *required, *optional}
    for key in data:
        if key not in known and known_type:
            hint = did_you_mean(str(key), sorted(known))
            problems.append(
                Problem(
                    str(key),
                    _shown(data[key]),
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
        problems.append(
            Problem("at", _shown(at), "must be text", "write e.g. 2026-03-02T09:15:00+02:00")
        )
    if problems:
        if known_type:
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
