"""Reading events: Event.from_json, its fast path for well-formed lines and its refusals."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla import (
    ActivityLogged,
    Event,
    EventError,
    LeadCreated,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
)
from leadsla._core.events import MAX_DEPTH

AT = "2026-03-02T09:15:00+02:00"
HELSINKI = ZoneInfo("Europe/Helsinki")

#: One well-formed line of each type, as a parsed object.
GOOD: dict[str, dict[str, Any]] = {
    "lead_created": {
        "id": "e1",
        "type": "lead_created",
        "lead": "L-1",
        "at": AT,
        "fields": {"email": "ann@acme.fi", "score": 62, "tags": ["a", {"b": [1]}]},
    },
    "lead_updated": {
        "id": "e2",
        "type": "lead_updated",
        "lead": "L-1",
        "at": AT,
        "fields": {"phone": None},
    },
    "activity": {
        "id": "e3",
        "type": "activity",
        "lead": "L-1",
        "at": AT,
        "kind": "call",
        "outcome": "connected",
        "by": "bob",
    },
    "transition": {
        "id": "e4",
        "type": "transition",
        "lead": "L-1",
        "at": AT,
        "trigger": "accept",
        "by": None,
        "reason": "fits",
    },
    "assign": {"id": "e5", "type": "assign", "lead": "L-1", "at": AT, "owner": None},
}


def nested(depth: int) -> object:
    """A value of ``depth`` levels of lists: [[...[1]...]]."""
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def problem_of(data: str | dict[str, Any]) -> str:
    with pytest.raises(EventError) as raised:
        Event.from_json(data)
    return str(raised.value)


# -- the one way to read: the fast path gives what the constructors give ----------------------


@pytest.mark.parametrize("kind", list(GOOD))
def test_a_well_formed_line_reads_as_the_constructor_builds_it(kind: str) -> None:
    """Each type's line reads to the event its constructor makes of the same values."""
    data = GOOD[kind]
    event = Event.from_json(json.dumps(data))
    values = {key: value for key, value in data.items() if key != "type"}
    values["at"] = datetime.fromisoformat(AT)
    built = type(event)(**values)
    assert event == built
    assert type(event).type == kind
    assert event.to_json() == built.to_json()


def test_read_fields_are_read_only_and_a_parsed_object_is_copied() -> None:
    """The fields of an event read from an object are its own: changing the object later
    does not change the event, and the event's fields cannot be changed."""
    data = json.loads(json.dumps(GOOD["lead_created"]))
    event = Event.from_json(data)
    data["fields"]["score"] = 0
    assert isinstance(event, LeadCreated)
    assert event.fields["score"] == 62
    with pytest.raises(TypeError):
        event.fields["score"] = 1  # type: ignore[index]


def test_blanks_around_a_line_and_bytes_are_read() -> None:
    """A line with blanks around its object, or as UTF-8 bytes, reads as the plain line."""
    line = json.dumps(GOOD["activity"], ensure_ascii=False)
    assert Event.from_json(f"  {line}\n") == Event.from_json(line)
    assert Event.from_json(line.encode()) == Event.from_json(line)


def test_a_lead_created_line_without_fields_has_none() -> None:
    """``fields`` is optional on a lead_created line: left out, the lead has no fields."""
    data = {key: value for key, value in GOOD["lead_created"].items() if key != "fields"}
    event = Event.from_json(json.dumps(data))
    assert isinstance(event, LeadCreated)
    assert dict(event.fields) == {}


@given(
    st.sampled_from(list(GOOD)),
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=6,
        ),
        max_size=3,
    ),
)
def test_events_made_by_constructors_read_back_the_same(kind: str, fields: dict[str, Any]) -> None:
    """Whatever JSON values its fields hold, an event read from its line is the event."""
    at = datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)
    event: Event
    if kind == "lead_created":
        event = LeadCreated(id="e", lead="L", at=at, fields=fields)
    elif kind == "lead_updated":
        event = LeadUpdated(id="e", lead="L", at=at, fields=fields)
    elif kind == "activity":
        event = ActivityLogged(id="e", lead="L", at=at, kind="call")
    elif kind == "transition":
        event = TransitionRequested(id="e", lead="L", at=at, trigger="win", by="bob")
    else:
        event = OwnerAssigned(id="e", lead="L", at=at, owner="carol")
    assert Event.from_json(event.to_json()) == event


# -- every defect of a line is refused, whichever path reads it ------------------------------


def changed(event_type: str, /, **changes: Any) -> str:
    data = dict(GOOD[event_type])
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (changed("activity", outcom="x"), "'outcom' is not a key of an activity event (got 'x')"),
        (changed("lead_updated", fields=KeyError), "'fields' is missing"),
        (changed("assign", owner=KeyError), "'owner' is missing"),
        (changed("activity", kind=KeyError), "'kind' is missing"),
        (changed("activity", id=KeyError), "'id' is missing"),
        (changed("activity", id=""), "'id' must be a non-empty string (got '')"),
        (changed("activity", id=7), "'id' must be a non-empty string (got 7)"),
        (changed("activity", lead=""), "'lead' must be a non-empty string (got '')"),
        (changed("activity", lead=42), "'lead' must be a non-empty string (got 42)"),
        (changed("activity", lead=None), "'lead' must be a non-empty string; give 'lead' as text"),
        (changed("activity", at=1772435700), "'at' must be text (got 1772435700)"),
        (changed("activity", at="Monday"), "'at' is not an ISO 8601 time (got 'Monday')"),
        (changed("activity", at="2026-03-02T09:15:00"), "'at' must be timezone-aware"),
        (changed("activity", kind=""), "'kind' must be a non-empty string (got '')"),
        (changed("activity", kind=None), "'kind' must be a non-empty string; give 'kind' as text"),
        (changed("transition", trigger=["win"]), "'trigger' must be a non-empty string"),
        (changed("activity", outcome=""), "'outcome' must be a non-empty string or null"),
        (changed("transition", by=3), "'by' must be a non-empty string or null (got 3)"),
        (changed("assign", owner=""), "'owner' must be a non-empty string or null (got '')"),
        (changed("lead_created", fields=None), "'fields' must be an object; write e.g."),
        (changed("lead_updated", fields=["a"]), "'fields' must be an object (got ['a'])"),
        (changed("lead_updated", fields={"": 1}), "'fields' has keys that are not names"),
        (changed("activity", type="activty"), "(did you mean 'activity'?)"),
    ],
)
def test_each_defect_of_a_line_is_refused(line: str, message: str) -> None:
    """One defect in an otherwise good line is refused, naming the field, value and fix."""
    assert message in problem_of(line)


def test_every_problem_of_a_line_is_listed_at_once() -> None:
    """Key problems and value problems come in one message."""
    line = changed("activity", id=7, kind="", outcom="x", at="Monday")
    assert problem_of(line).splitlines() == [
        "4 problems:",
        "  - 'outcom' is not a key of an activity event (got 'x'); remove it "
        "(did you mean 'outcome'?)",
        "  - 'at' is not an ISO 8601 time (got 'Monday'); write e.g. 2026-03-02T09:15:00+02:00",
        "  - 'id' must be a non-empty string (got 7); give 'id' as text",
        "  - 'kind' must be a non-empty string (got ''); give 'kind' as text",
    ]


@pytest.mark.parametrize("kind", [[], {}, ["activity"]])
def test_a_type_that_is_not_text_is_refused(kind: object) -> None:
    """A list or an object as the type is an event problem, not a crash of the reader."""
    message = problem_of(json.dumps({**GOOD["activity"], "type": kind}))
    assert f"'type' is not an event type (got {kind!r}); use one of lead_created" in message


def test_a_field_name_that_is_not_text_is_refused_from_an_object() -> None:
    """A parsed object may have keys JSON cannot: a number as a field name is refused."""
    data = {**GOOD["lead_updated"], "fields": {1: "x"}}
    assert "'fields' has keys that are not names (got [1]); use text keys" in problem_of(data)


def test_a_subclass_reads_only_its_own_type() -> None:
    """``LeadCreated.from_json`` reads a lead_created line and refuses another type."""
    created = LeadCreated.from_json(json.dumps(GOOD["lead_created"]))
    assert created.lead == "L-1"
    with pytest.raises(EventError) as raised:
        LeadCreated.from_json(json.dumps(GOOD["activity"]))
    assert str(raised.value) == (
        "'type' is not a lead_created event (got 'activity'); give a lead_created event, "
        "or read any event with Event.from_json"
    )


# -- deeply nested input is refused, never a RecursionError ---------------------------------


def test_a_line_too_deeply_nested_to_parse_is_an_event_error() -> None:
    """100 000 levels of ``[`` are refused as the event, the value clipped, with the fix."""
    line = "[" * 100_000
    assert problem_of(line) == (
        f"'event' nests lists or objects too deeply to be read (got '{'[' * 77}...'); "
        f"write one JSON object per line, its values at most {MAX_DEPTH} levels deep"
    )


def test_a_field_value_nested_too_deeply_in_a_valid_object_is_refused() -> None:
    """A field value deeper than MAX_DEPTH levels is refused with its field, clipped."""
    line = changed("lead_updated", fields={"history": nested(MAX_DEPTH + 1), "score": 5})
    assert problem_of(line) == (
        f"'fields.history' nests lists or objects more than {MAX_DEPTH} levels deep "
        f"(got '{'[' * 77}...'); "
        "flatten it: keep one value per field, or split it into several fields"
    )


def test_a_field_value_at_the_depth_limit_is_kept() -> None:
    """MAX_DEPTH levels are allowed: the value reads back as written."""
    event = Event.from_json(changed("lead_updated", fields={"history": nested(MAX_DEPTH)}))
    assert isinstance(event, LeadUpdated)
    assert event.fields["history"] == nested(MAX_DEPTH)


def test_a_deep_value_where_text_belongs_is_shown_clipped() -> None:
    """A deeply nested kind is refused as not text, and the message shows only its start."""
    message = problem_of(changed("activity", kind=nested(900)))
    assert message == (
        f"'kind' must be a non-empty string (got '{'[' * 77}...'); give 'kind' as text"
    )


def test_a_deep_value_under_an_unknown_key_is_shown_clipped() -> None:
    """An unknown key holding a deep object is named, its value clipped."""
    value: object = {"a": nested(900)}
    message = problem_of(changed("activity", extra=value))
    assert message.startswith(
        "'extra' is not a key of an activity event (got \"{'a': [[[[[[[[[[[[[[[["
    )
    assert len(message) < 250


def test_the_constructor_refuses_a_field_value_nested_too_deeply() -> None:
    """Events made in Python are checked too."""
    at = datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)
    with pytest.raises(EventError) as raised:
        LeadCreated(id="e1", lead="L-1", at=at, fields={"x": {"y": nested(MAX_DEPTH)}})
    assert str(raised.value).startswith(
        f"'fields.x' nests lists or objects more than {MAX_DEPTH} levels deep "
        "(got \"{'y': [[[[[[[[[[[["
    )


def test_a_field_value_that_holds_itself_is_refused() -> None:
    """A list holding itself is infinitely deep: refused, not a hang or a crash."""
    loop: list[object] = [1]
    loop.append(loop)
    at = datetime(2026, 3, 2, 9, 15, tzinfo=HELSINKI)
    with pytest.raises(EventError, match=r"'fields.x' nests lists or objects more than 100"):
        LeadCreated(id="e1", lead="L-1", at=at, fields={"x": loop})


def test_events_read_from_json_share_their_offsets_and_field_names() -> None:
    """A long log keeps millions of instants and field names: read from JSON, the same UTC
    offset is one tzinfo object and a field name one string, whichever line they came from."""
    first = Event.from_json(
        '{"id": "e1", "type": "lead_created", "lead": "L-1", "at": "2026-03-02T09:00:00+02:00",'
        ' "fields": {"score": 62}}'
    )
    second = Event.from_json(
        '{"id": "e2", "type": "lead_updated", "lead": "L-2", "at": "2026-03-03T10:00:00+02:00",'
        ' "fields": {"score": 70}}'
    )
    assert first.at.tzinfo is second.at.tzinfo
    [name_one] = first.fields  # type: ignore[attr-defined]
    [name_two] = second.fields  # type: ignore[attr-defined]
    assert name_one is name_two
