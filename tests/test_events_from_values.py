"""Events made from values (how an import makes them): the same events as their JSON form reads.

An import holds each event's time as a datetime already, so it builds the event without writing
its time out and reading it back: ``from_values`` (every check of ``Event.from_json``) and, on
the import's hot path, the type's ``maker`` (no checks: the import knows its values are good).
Both must give exactly the event a JSON Lines log gives for the same object, time zone and all.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsla import (
    Agreement,
    CsvMapping,
    Event,
    EventError,
    ImportReport,
    LeadCreated,
    LeadUpdated,
    csv_events_from_text,
)
from leadsla._core.events import EVENT_TYPES, at_offset, from_values, maker, packed, unpacked
from leadsla.testing import aware_datetimes

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
HELSINKI = ZoneInfo("Europe/Helsinki")

texts = st.one_of(st.none(), st.text(min_size=1, max_size=20))

#: One object of each type an import makes, its ``at`` left to the test.
OBJECTS: dict[str, dict[str, Any]] = {
    "lead_created": {"id": "e1", "type": "lead_created", "lead": "L-1", "fields": {"n": 1}},
    "lead_updated": {"id": "e2", "type": "lead_updated", "lead": "L-1", "fields": {"n": None}},
    "activity": {"id": "e3", "type": "activity", "lead": "L-1", "kind": "call", "by": "bob"},
    "transition": {"id": "e4", "type": "transition", "lead": "L-1", "trigger": "accept"},
    "assign": {"id": "e5", "type": "assign", "lead": "L-1", "owner": None, "reason": "rota"},
}


@pytest.mark.parametrize("kind", sorted(OBJECTS))
@given(at=aware_datetimes())
def test_an_event_from_values_is_the_one_its_json_form_reads(kind: str, at: datetime) -> None:
    made = from_values({**OBJECTS[kind], "at": at})
    read = Event.from_json({**OBJECTS[kind], "at": at.isoformat()})
    assert made == read
    assert made.to_json() == read.to_json()
    # Held at its offset, as a line holds it: instants compare as instants.
    assert type(made.at.tzinfo) is timezone
    assert made.at.utcoffset() == at.utcoffset()
    assert made.at.timestamp() == at.timestamp()


def test_times_in_a_zone_with_rules_are_held_at_their_offsets_so_a_fold_orders_right() -> None:
    # São Paulo's clocks went back from 00:00 to 23:00 on 2016-02-21: 23:30 happened twice.
    first = datetime(2016, 2, 20, 23, 30, tzinfo=SAO_PAULO)
    second = datetime(2016, 2, 20, 23, 30, fold=1, tzinfo=SAO_PAULO)
    later_wall_clock = datetime(2016, 2, 20, 23, 45, tzinfo=SAO_PAULO)  # the first 23:45
    events = [
        from_values({**OBJECTS["activity"], "id": f"e{n}", "at": at})
        for n, at in enumerate((first, second, later_wall_clock))
    ]
    assert [event.at.isoformat() for event in events] == [
        "2016-02-20T23:30:00-02:00",
        "2016-02-20T23:30:00-03:00",
        "2016-02-20T23:45:00-02:00",
    ]
    # In one zone with rules, Python compares wall clocks (the second 23:30 would come
    # first); held at their offsets, the second 23:30 comes after the first 23:45.
    assert second < later_wall_clock
    assert events[1].at > events[2].at > events[0].at


def test_offsets_are_shared_by_the_events_that_have_them() -> None:
    one = at_offset(datetime(2026, 3, 2, 9, tzinfo=HELSINKI))
    other = at_offset(datetime(2026, 3, 9, 17, tzinfo=timezone(timedelta(hours=2))))
    assert one.tzinfo is other.tzinfo


def test_a_time_without_an_offset_has_none_to_keep() -> None:
    with pytest.raises(ValueError, match="without a UTC offset"):
        at_offset(datetime(2026, 3, 2, 9))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"kind": None}, "kind", "must be a non-empty string"),
        ({"kind": ""}, "kind", "must be a non-empty string"),
        ({"id": ""}, "id", "must be a non-empty string"),
        ({"at": datetime(2026, 3, 2, 9)}, "at", "must be timezone-aware"),
        ({"at": "2026-03-02T09:00:00+02:00"}, None, None),  # text is read as a line's is
        ({"colour": "red"}, "colour", "is not a key of an activity event"),
    ],
)
def test_from_values_refuses_what_the_log_refuses_naming_the_key(
    change: dict[str, Any], field: str | None, message: str | None
) -> None:
    data = {**OBJECTS["activity"], "at": datetime(2026, 3, 2, 9, tzinfo=HELSINKI), **change}
    if field is None:
        assert from_values(data) == Event.from_json({**data})
        return
    assert message is not None
    with pytest.raises(EventError) as raised:
        from_values(data)
    assert any(
        problem.field == field and message in problem.message for problem in raised.value.problems
    ), raised.value.problems


@pytest.mark.parametrize("kind", ["activity", "transition", "assign"])
@given(values=st.lists(texts, min_size=3, max_size=3), at=aware_datetimes())
def test_a_maker_builds_what_the_constructor_builds(
    kind: str, values: list[str | None], at: datetime
) -> None:
    making = maker(kind)
    assert making is not None
    keys = [key for key, _, _ in making.texts]
    texts_given = [
        value if value is not None or nullable else "x"
        for value, (_, _, nullable) in zip(values, making.texts, strict=True)
    ]
    moment = at_offset(at)
    built = making.build("e1", "L-1", moment, *texts_given)
    made = EVENT_TYPES[kind](
        id="e1", lead="L-1", at=moment, **dict(zip(keys, texts_given, strict=True))
    )
    assert built == made
    assert type(built) is type(made)


@pytest.mark.parametrize("kind", ["merge", "nonsense"])
def test_types_with_cross_checks_have_no_maker(kind: str) -> None:
    assert maker(kind) is None


@pytest.mark.parametrize("kind", ["lead_created", "lead_updated"])
@given(at=aware_datetimes(), value=st.one_of(st.none(), st.integers(), st.text(max_size=5)))
def test_a_maker_of_events_with_fields_builds_what_the_constructor_builds(
    kind: str, at: datetime, value: object
) -> None:
    making = maker(kind)
    assert making is not None
    assert making.texts == ()
    moment = at_offset(at)
    built = making.build("e1", "L-1", moment, MappingProxyType({"score": value}))
    made = (LeadCreated if kind == "lead_created" else LeadUpdated)(
        id="e1", lead="L-1", at=moment, fields={"score": value}
    )
    assert built == made
    assert type(getattr(built, "fields", None)) is MappingProxyType


MAPPING = """
zone = "America/Sao_Paulo"
missing = ["", "?"]

[columns.when]
type = "datetime"
format = "%d/%m/%Y %H:%M"
fold = "later"

[[events]]
type = "lead_created"
once = true
id = "opened-{ticket}"
lead = "{ticket}"
at = "{when}"
fields = { opened_by = "{who}" }

[[events]]
type = "activity"
lead = "{ticket}"
at = "{when}"
kind = "{state}"
by = "{who}"

[[events]]
type = "assign"
when = "has(owner)"
lead = "{ticket}"
at = "{when}"
owner = "{owner}"

[[events]]
type = "transition"
when = "state == 'Resolved'"
lead = "{ticket}"
at = "{when}"
trigger = "resolve"
reason = "{note}"
"""

ROWS = """ticket,when,state,who,owner,note
T1,20/2/2016 23:30,New,ann,?,
T1,20/2/2016 23:40,Active,bob,bob,
T2,21/2/2016 09:00,New,?,?,
T1,21/2/2016 10:00,Resolved,bob,bob,fixed
T2,21/2/2016 11:00,,carol,carol,
"""


def test_imported_events_are_exactly_what_their_json_lines_read_back() -> None:
    report = ImportReport()
    made = csv_events_from_text(
        ROWS, CsvMapping.from_toml_text(MAPPING), Agreement.default(), report=report
    )
    assert made, "the rows make events"
    kinds = {type(event).__name__ for _, event in made}
    assert {"ActivityLogged", "OwnerAssigned", "TransitionRequested"} <= kinds
    # The clocks went back at midnight: the rows' 23:30 and 23:40 are the second ones.
    assert {event.at.isoformat() for row, event in made if row == 3} == {
        "2016-02-20T23:40:00-03:00"
    }
    for _, event in made:
        again = Event.from_json(event.to_json())
        assert event == again
        assert type(event.at.tzinfo) is timezone
        assert event.to_json() == again.to_json()
    # One string per text, as events read from JSON have: records keep them by the thousand.
    bobs = [event for _, event in made if getattr(event, "by", None) == "bob"]
    assert len(bobs) == 2
    assert getattr(bobs[0], "by", None) is getattr(bobs[1], "by", None)
    # The activity of the row with an empty state is refused by the import, with its row and
    # column; the row's other events are kept.
    [(count, first)] = report.groups()
    assert (count, first.row, first.column) == (1, 6, "state")
    assert first.message == "is empty: the event has no kind"
    assert [event.type for row, event in made if row == 6] == ["assign"]


#: One object of each of the other types (an import makes none of them, a sort may hold them).
OTHERS: dict[str, dict[str, Any]] = {
    "migrate": {"id": "e6", "type": "migrate", "lead": "L-1", "to": "v2", "state": None},
    "convert": {"id": "e7", "type": "convert", "lead": "L-1", "to": "contact"},
    "merge": {"id": "e8", "type": "merge", "lead": "L-1", "into": "L-2", "by": "ann"},
    "erase": {"id": "e9", "type": "erase", "lead": "L-1"},
}


@pytest.mark.parametrize("kind", sorted({**OBJECTS, **OTHERS}))
@given(at=aware_datetimes(), by=texts)
def test_an_event_packed_for_a_run_on_disk_unpacks_to_itself(
    kind: str, at: datetime, by: str | None
) -> None:
    data = {**OBJECTS, **OTHERS}[kind]
    if "by" in {a.name for a in attrs.fields(EVENT_TYPES[kind])}:
        data = {**data, "by": by}
    event = from_values({**data, "at": at})
    values = packed(event)
    assert all(type(value) is not MappingProxyType for value in values)  # (pickle refuses it)
    again = unpacked(pickle.loads(pickle.dumps(values)))
    assert again == event
    assert type(again) is type(event)
    assert again.to_json() == event.to_json()
    if hasattr(event, "fields"):  # read-only again, as every event's fields are
        assert type(getattr(again, "fields", None)) is MappingProxyType


class _NoOffset(tzinfo):
    """A zone that knows no offset (an aware-looking time that is not)."""

    def utcoffset(self, moment: datetime | None) -> timedelta | None:
        return None

    def dst(self, moment: datetime | None) -> timedelta | None:
        return None

    def tzname(self, moment: datetime | None) -> str | None:
        return None


def test_a_time_whose_zone_gives_no_offset_is_refused_as_such() -> None:
    with pytest.raises(EventError) as raised:
        from_values({**OBJECTS["activity"], "at": datetime(2026, 3, 2, 9, tzinfo=_NoOffset())})
    assert [problem.field for problem in raised.value.problems] == ["at"]
    assert "timezone-aware" in raised.value.problems[0].message


def test_a_named_fixed_zone_does_not_name_every_later_event_of_its_offset() -> None:
    named = timezone(timedelta(hours=5, minutes=45), "NPT")
    made = from_values({**OBJECTS["activity"], "at": datetime(2026, 3, 2, 9, tzinfo=named)})
    read = Event.from_json({**OBJECTS["activity"], "at": "2026-03-02T09:00:00+05:45"})
    assert made.at.tzinfo is read.at.tzinfo
    assert read.at.tzname() == "UTC+05:45"
    again = at_offset(datetime(2026, 3, 2, 9, fold=1, tzinfo=named))
    assert again.fold == 0
    assert again.tzinfo is read.at.tzinfo


def test_events_unpacked_from_a_run_share_what_events_read_from_json_share() -> None:
    one, other = (
        from_values(
            {**OBJECTS["lead_created"], "id": name, "at": datetime(2026, 3, 2, 9, tzinfo=HELSINKI)}
        )
        for name in ("x1", "x2")
    )
    back = [unpacked(pickle.loads(pickle.dumps(packed(event)))) for event in (one, other)]
    assert back[0].at.tzinfo is back[1].at.tzinfo is one.at.tzinfo
    names = [next(iter(getattr(event, "fields", {}))) for event in back]
    assert names[0] is names[1]
    bys = [
        unpacked(pickle.loads(pickle.dumps(packed(from_values({**OBJECTS["activity"], "at": a})))))
        for a in (one.at, other.at)
    ]
    assert getattr(bys[0], "by", None) is getattr(bys[1], "by", None) == "bob"


ASSIGNS = """
[[events]]
type = "{kind}"
lead = "{ticket}"
at = "{when}"
kind = "call"
"""


def test_an_assign_from_a_template_that_says_no_owner_is_refused_not_left_to_the_policy() -> None:
    # The log's assign must say its owner (null: the policy picks): a template that gives
    # none makes no assign, where one that gives an empty owner lets the policy pick.
    report = ImportReport()
    rows = "ticket,when,kind\nT1,2026-03-02T09:00:00Z,assign\nT1,2026-03-02T10:00:00Z,activity\n"
    made = csv_events_from_text(rows, CsvMapping.from_toml_text(ASSIGNS), report=report)
    assert [(row, event.type) for row, event in made] == [(3, "activity")]
    [(count, first)] = report.groups()
    assert (count, first.row, first.message) == (1, 2, "is empty: the event has no owner")
    with_owner = ASSIGNS + 'owner = ""\n'
    made = csv_events_from_text(rows, CsvMapping.from_toml_text(with_owner))
    assert [(row, event.type, getattr(event, "owner", "-")) for row, event in made] == [
        (2, "assign", None),
        (3, "activity", "-"),
    ]
