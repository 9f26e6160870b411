"""Quiet leads held packed: a lead's record and clocks as one ``bytes`` value.

Theory of operation
===================

A long replay holds every lead it has seen, and nearly all of them are *quiet*: no event has
come for them for longer than the allowed lateness, so they keep no journal (a late event can
still reach one only if it is dated after the lead's last step). Held as objects, a quiet lead
costs about 3 KB: its record, the ``Transitioned`` effects of its history with their
explanations, its ownership intervals, its clocks, and the datetimes, strings and tuples in
each. Most of those bytes are object headers
and pointers.

:class:`Packer` turns a record and its clocks into plain values (strings, numbers, ``bytes``)
and those into one ``bytes`` value with :mod:`marshal`, about a quarter of the size; and back,
into records equal to the ones packed, with the same effect origins (so the same effect ids).
A datetime is kept as its exact ten-byte state (the wall clock and the fold, as pickling keeps
it) and the position of its time zone in the packer's table; the conditions and terms an
explanation refers to, which belong to the agreement (and are values: equal copies find
the same place), by their position in another table. A packed lead is read back whenever it is
asked for (a query, a timer, an event); one that takes an event or a timer step is a record of
objects again from then on.

Only the usual shapes are packed: a record whose fields hold strings, numbers, booleans,
None, dates or datetimes, whose explanations were not traced yet, made of leadsla's own
classes. Anything else is left as it is (:meth:`Packer.pack` says None, and never raises: it
runs after the engine committed a step): packing saves memory, it never changes what a lead
is.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any, Final

from leadsla._core.clocks import Ending, ObligationState
from leadsla._core.conditions import Explanation
from leadsla._core.effects import Effect, Transitioned, new_transitioned
from leadsla._core.lead import Lead, Standing, new_lead
from leadsla._core.ownership import Owner, OwnershipInterval, new_interval

__all__ = ["Packer"]

#: The most time zones and shared objects (an agreement's conditions and terms) one packer
#: tells apart; a lead that would need more is not packed.
_MOST: Final = 255
_ATOMS: Final = frozenset({str, int, float, bool, type(None)})

_SET_ORIGIN: Final = Effect._origin.__set__  # type: ignore[attr-defined]
_SET_BY_EVENT: Final = Effect._by_event.__set__  # type: ignore[attr-defined]
_SET_SEQ: Final = Effect.seq.__set__  # type: ignore[attr-defined]
_new_tuple: Final = tuple.__new__
#: A datetime from its pickled state and zone (what unpickling calls).
_from_state: Final[Callable[[bytes, tzinfo], datetime]] = datetime  # type: ignore[assignment]
_When = Callable[[datetime | None], bytes | None]
_Read = Callable[[bytes | None], datetime | None]


def _like(zone: tzinfo) -> tuple[type, str]:
    """What tells zones apart as values: their type and repr (name, offset or key; a zone
    class of the host's own with the default repr shows its address: it is its own twin)."""
    return type(zone), repr(zone)


class _Unpackable(Exception):
    """A part of the lead has a shape the packer does not keep: the lead stays as it is."""


class Packer:
    """Packs quiet leads and reads them back (see the module's documentation). It keeps the
    time zones and the agreement's objects the packed leads refer to, so it belongs to one
    engine, and is kept with it."""

    __slots__ = (
        "_kept",
        "_last",
        "_refs",
        "_refs_at",
        "_refs_by_id",
        "_zones",
        "_zones_at",
        "_zones_like",
    )

    def __init__(self) -> None:
        self._zones: list[tzinfo] = []
        #: Each zone's position, as one byte, by the zone's id (the zones are kept in _zones,
        #: alive): a zone need not be hashable (dateutil's are not), and two zones equal as
        #: values may still differ (``timezone(+2h)`` and ``timezone(+2h, "EET")`` have other
        #: names), so a zone comes back as the very zone that was packed, or its twin...
        self._zones_at: dict[int, bytes] = {}
        #: ...found by type and repr, so that zones made anew for each event (a fixed offset
        #: read from text) do not each take a place.
        self._zones_like: dict[tuple[type, str], bytes] = {}
        self._refs: list[object] = []
        #: The agreement's objects by value (conditions and terms are values: the copies a
        #: snapshot holds, or an agreement read again, find the place of the first).
        self._refs_at: dict[object, int] = {}
        #: The same by id, asked first (hashing the agreement's terms walks them all), for
        #: the objects met so far, kept alive in _kept so that their ids stay theirs.
        self._refs_by_id: dict[int, int] = {}
        self._kept: list[object] = []
        #: The last value read back: its record is read, then its clocks, one after the other.
        self._last: tuple[bytes, Lead, tuple[ObligationState, ...]] | None = None

    def __getstate__(self) -> tuple[list[tzinfo], list[object]]:
        return self._zones, self._refs

    def __setstate__(self, state: tuple[list[tzinfo], list[object]]) -> None:
        self._zones, self._refs = state
        self._zones_at = {id(zone): bytes((index,)) for index, zone in enumerate(self._zones)}
        self._zones_like = {_like(zone): self._zones_at[id(zone)] for zone in self._zones}
        self._refs_at = {ref: index for index, ref in enumerate(self._refs)}
        self._refs_by_id = {id(ref): index for index, ref in enumerate(self._refs)}
        self._kept = list(self._refs)
        self._last = None

    # -- packing ------------------------------------------------------------------------------

    def pack(self, lead: Lead, clocks: tuple[ObligationState, ...]) -> bytes | None:
        """``lead`` and its ``clocks`` as one value; None when some part has a shape the
        packer does not keep (the lead is then kept as it is)."""
        # One lead's datetimes are often the same objects (a step's time is the move's, the
        # clock's start, the owner's start): each is made once, and marshal keeps it once.
        made: dict[int, bytes] = {}
        zones = self._zones_at

        def when(value: datetime | None) -> bytes | None:
            """A datetime as its ten-byte state and its zone's position, in eleven bytes."""
            if value is None:
                return None
            key = id(value)  # (every value is alive while the lead is packed: ids are unique)
            found = made.get(key)
            if found is None:
                if type(value) is not datetime:
                    raise _Unpackable
                # (bytes, tzinfo): exact, the fold too (pickle protocol 4); a naive one has no zone
                # (ValueError)
                reduced: Any = value.__reduce_ex__(4)
                state, zone = reduced[1]
                found = made[key] = state + (zones.get(id(zone)) or self._zone(zone))
            return found

        try:
            value = (
                self._lead(lead, when),
                tuple([self._clock(clock, lead.id, when) for clock in clocks]),
            )
            return marshal.dumps(value)
        except (_Unpackable, ValueError):  # (marshal: a value of a type it does not write)
            return None
        except Exception:  # (a host's odd value, an unhashable zone: packing saves memory, it
            return None  # must never stop the engine, which has committed the step already)

    def _zone(self, zone: tzinfo) -> bytes:
        """The position of a zone not met before (by its id), as one byte."""
        like = _like(zone)
        position = self._zones_like.get(like)
        if position is None:
            if len(self._zones) >= _MOST:
                raise _Unpackable
            position = self._zones_like[like] = bytes((len(self._zones),))
            self._zones.append(zone)
        elif self._zones[position[0]] is not zone:  # its twin stands in (zone is not kept)
            return position
        self._zones_at[id(zone)] = position
        return position

    def _ref(self, value: object) -> int:
        """The position of one of the agreement's objects in the table of shared ones."""
        index = self._refs_by_id.get(id(value))
        if index is not None:
            return index
        index = self._refs_at.get(value)  # (TypeError for an unhashable one: not packed)
        if index is None:
            if len(self._refs) >= _MOST:
                raise _Unpackable
            index = self._refs_at[value] = len(self._refs)
            self._refs.append(value)
        self._refs_by_id[id(value)] = index
        self._kept.append(value)
        return index

    def _fields(self, fields: Mapping[str, Any], when: _When) -> Any:
        """A record's fields: a dict of plain values, or ``(dict,)`` when dates were tagged."""
        for value in fields.values():
            if type(value) not in _ATOMS:
                break
        else:
            return dict(fields)
        tagged: dict[str, Any] = {}
        for name, value in fields.items():
            kind = type(value)
            if kind in _ATOMS:
                tagged[name] = value
            elif kind is datetime:
                tagged[name] = ("t", when(value))
            elif kind is date:
                tagged[name] = ("d", value.toordinal())
            else:
                raise _Unpackable
        return (tagged,)

    def _owner(self, owner: Owner | None) -> tuple[str, str | None] | None:
        if owner is None:
            return None
        if type(owner) is not Owner:
            raise _Unpackable
        return owner.team, owner.person

    def _explanation(
        self, explanation: Explanation, fields: Mapping[str, Any], when: _When
    ) -> tuple[Any, ...]:
        if (
            type(explanation) is not Explanation
            or explanation._check is not None
            or explanation._inputs is None
        ):
            raise _Unpackable  # (traced already: the trace is not kept)
        seen, now, state, owner, team = explanation._inputs
        if type(state) not in _ATOMS or type(owner) not in _ATOMS or type(team) not in _ATOMS:
            raise _Unpackable
        terms = explanation._terms
        return (
            explanation.label,
            self._ref(explanation._condition),
            None if seen is fields else self._fields(seen, when),  # (often the lead's own)
            when(now),
            state,
            owner,
            team,
            -1 if terms is None else self._ref(terms),
        )

    def _lead(self, lead: Lead, when: _When) -> tuple[Any, ...]:
        if type(lead) is not Lead:
            raise _Unpackable
        fields = lead.fields
        history = []
        for moved in lead.history:
            if type(moved) is not Transitioned:
                raise _Unpackable
            history.append(
                (
                    None if moved.lead == lead.id else moved.lead,
                    when(moved.at),
                    moved._origin,
                    moved.seq,
                    moved._by_event,
                    moved.source,
                    moved.dest,
                    moved.trigger,
                    moved.by,
                    moved.reason,
                    moved.cause,
                    tuple([self._explanation(e, fields, when) for e in moved.explanations])
                    if moved.explanations
                    else (),
                )
            )
        ownership = []
        for interval in lead.ownership:
            if type(interval) is not OwnershipInterval:
                raise _Unpackable
            owner = self._owner(interval.owner)
            end = interval.end
            ownership.append((owner, when(interval.start), end and when(end), interval.reason))
        standing = lead.standing
        return (
            lead.id,
            self._fields(fields, when),
            lead.state,
            lead.highest_stage,
            tuple(history),
            tuple(ownership),
            lead.tags,
            when(lead.updated_at),
            tuple([(when(at), version) for at, version in lead.migrations])
            if lead.migrations
            else (),
            None
            if standing is None
            else (standing.kind, when(standing.at), standing.detail, when(standing.erased_at)),
        )

    def _clock(self, clock: ObligationState, lead_id: str, when: _When) -> tuple[Any, ...]:
        if type(clock) is not ObligationState:
            raise _Unpackable
        ending = clock.ending
        packed_ending = None
        if ending is not None:
            lateness = ending.lateness
            packed_ending = (
                ending.met_at and when(ending.met_at),
                ending.breached_at and when(ending.breached_at),
                ending.cancelled_at and when(ending.cancelled_at),
                None
                if lateness is None
                else (lateness.days, lateness.seconds, lateness.microseconds),
                self._owner(ending.breach_owner),
            )
        return (
            clock.name,
            None if clock.lead == lead_id else clock.lead,
            clock.number,
            clock.party,
            clock.status,
            when(clock.opened_at),
            when(clock.due_at),
            clock.paused_since and when(clock.paused_since),
            tuple([(when(start), when(end)) for start, end in clock.pauses])
            if clock.pauses
            else (),
            clock.attempts,
            clock.warned,
            clock.outcome,
            clock.version,
            packed_ending,
            clock.tier,
            clock.calendar,
        )

    # -- reading back -------------------------------------------------------------------------

    def unpack(self, packed: bytes) -> tuple[Lead, tuple[ObligationState, ...]]:
        """The record and clocks ``packed`` holds (equal to those packed, effect origins
        included)."""
        last = self._last
        if last is not None and last[0] is packed:
            return last[1], last[2]
        packed_lead, packed_clocks = marshal.loads(packed)
        zones = self._zones
        made: dict[bytes, datetime] = {}  # equal datetimes are one object again

        def when(packed: bytes | None) -> datetime | None:
            if packed is None:
                return None
            found = made.get(packed)
            if found is None:
                found = made[packed] = _from_state(packed[:10], zones[packed[10]])
            return found

        lead = self._read_lead(packed_lead, when)
        clocks = tuple([self._read_clock(clock, lead.id, when) for clock in packed_clocks])
        self._last = (packed, lead, clocks)
        return lead, clocks

    def _read_fields(self, packed: Any, when: _Read) -> Mapping[str, Any]:
        if type(packed) is dict:
            return MappingProxyType(packed)
        fields = packed[0]
        for name, value in fields.items():
            if type(value) is tuple:
                kind, held = value
                fields[name] = when(held) if kind == "t" else date.fromordinal(held)
        return MappingProxyType(fields)

    def _read_owner(self, packed: tuple[str, str | None] | None) -> Owner | None:
        return None if packed is None else Owner(packed[0], packed[1])

    def _read_explanation(
        self, packed: tuple[Any, ...], fields: Mapping[str, Any], when: _Read
    ) -> Explanation:
        label, condition, seen, now, state, owner, team, terms = packed
        inputs = (
            fields if seen is None else self._read_fields(seen, when),
            when(now),
            state,
            owner,
            team,
        )
        refs = self._refs
        return Explanation(
            label,
            None,
            refs[condition],
            inputs,
            None if terms < 0 else refs[terms],
        )

    def _read_lead(self, packed: tuple[Any, ...], when: _Read) -> Lead:
        (
            lead_id,
            packed_fields,
            state,
            highest,
            packed_history,
            packed_ownership,
            tags,
            updated_at,
            migrations,
            standing,
        ) = packed
        fields = self._read_fields(packed_fields, when)
        history = []
        for moved in packed_history:
            (lead, at, origin, seq, by_event, source, dest, trigger, by, reason, cause, why) = moved
            effect = new_transitioned(
                lead_id if lead is None else lead,
                when(at),
                source,
                dest,
                trigger,
                by,
                reason,
                cause,
                tuple([self._read_explanation(e, fields, when) for e in why]),
            )
            _SET_ORIGIN(effect, origin)
            _SET_BY_EVENT(effect, by_event)
            _SET_SEQ(effect, seq)
            history.append(effect)
        ownership = tuple(
            [
                new_interval(self._read_owner(owner), when(start), when(end), reason)
                for owner, start, end, reason in packed_ownership
            ]
        )
        return new_lead(
            lead_id,
            fields,
            state,
            highest,
            tuple(history),
            ownership,
            tags,
            when(updated_at),
            tuple([(when(at), version) for at, version in migrations]),
            None
            if standing is None
            else _new_tuple(
                Standing, (standing[0], when(standing[1]), standing[2], when(standing[3]))
            ),
        )

    def _read_clock(self, packed: tuple[Any, ...], lead_id: str, when: _Read) -> ObligationState:
        ending = packed[13]
        if ending is not None:
            lateness = ending[3]
            ending = _new_tuple(
                Ending,
                (
                    when(ending[0]),
                    when(ending[1]),
                    when(ending[2]),
                    None if lateness is None else timedelta(*lateness),
                    self._read_owner(ending[4]),
                ),
            )
        return _new_tuple(
            ObligationState,
            (
                packed[0],
                lead_id if packed[1] is None else packed[1],
                packed[2],
                packed[3],
                packed[4],
                when(packed[5]),
                when(packed[6]),
                when(packed[7]),
                tuple([(when(start), when(end)) for start, end in packed[8]]),
                packed[9],
                packed[10],
                packed[11],
                packed[12],
                ending,
                packed[14],
                packed[15],
            ),
        )
