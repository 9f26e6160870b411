"""Erasure in the stores: what they keep of an erased lead, scrubbed of its personal data.

An ``erase`` event makes the engine erase the lead's personal fields from its record
(:mod:`leadsla._core.housekeeping`). A store keeps more than the engine: every event of the
lead (the truth a replay starts from), every effect it caused (the outbox, whose explanations
may quote field values), the refusals that stand, and snapshots. In the transaction that keeps
the erasure, a store rewrites the lead's events with their personal fields erased as the
engine erased them (so a replay gives the same states and clocks), scrubs the values those
fields held from every text of the lead's events and effects, and drops its snapshots; after
it, the store writes a fresh snapshot and has its database forget the freed space (SQLite:
``VACUUM``; PostgreSQL: ``VACUUM`` on its tables). An event that comes for the lead
afterwards is refused by the engine, and kept with its personal fields erased.

The functions here are the stores' shared part: which leads a batch erased, and the scrubbed
forms of stored events, effects and refusals. Each store runs its own SQL around them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import attrs

from leadsla._core.effects import Effect, Erased, Rejected, Retracted
from leadsla._core.events import Event
from leadsla._core.housekeeping import Housekeeping, Scrubber
from leadsla._core.versions import Versions

if TYPE_CHECKING:
    from leadsla._core.engine import Engine

__all__ = ["Eraser", "Scrubbed", "erased_in", "needle"]

#: The keys of a stored event or effect that name things, not people: never scrubbed.
_NAMES: Final = frozenset(
    {"id", "type", "lead", "at", "origin", "into", "event", "retracts", "kind", "obligation"}
)


def erased_in(effects: Iterable[Effect]) -> list[str]:
    """The leads an input's effects erased, in order (an erasure a later effect retracts is
    not counted)."""
    erased: dict[str, str] = {}  # lead -> the Erased effect's id
    for effect in effects:
        if type(effect) is Erased:
            erased[effect.lead] = effect.id
        elif type(effect) is Retracted and erased.get(effect.lead) == effect.retracts:
            del erased[effect.lead]
    return list(erased)


def needle(lead: str) -> str:
    """The text every stored event of ``lead`` holds (the events are kept as
    :meth:`Event.to_json` writes them): a database finds the candidates with it, and each is
    read to be sure."""
    return '"lead": ' + json.dumps(lead, ensure_ascii=False)


class Scrubbed(NamedTuple):
    """A lead whose kept rows were scrubbed, and the scrubber that knows its values (for the
    store's refusals, scrubbed once the engine has the erasure too)."""

    lead: str
    scrubber: Scrubber
    #: The partition the lead is in (a partitioned store's; 0 otherwise).
    part: int = 0


class Eraser:
    """Scrubs what a store keeps of the leads it erases, by the agreement's personal fields
    (those of every version: an erasure erases what any of them calls personal)."""

    __slots__ = ("_housekeeping", "personal")

    def __init__(self, versions: Versions) -> None:
        newest = Housekeeping(versions.latest)
        self._housekeeping = newest
        self.personal = tuple(
            dict.fromkeys(name for agreement in versions for name in agreement.personal)
        )

    def scrubber(self) -> Scrubber:
        return Scrubber(self.personal, self._housekeeping.erased_value)

    def events(
        self, lead: str, rows: Sequence[tuple[Any, str]]
    ) -> tuple[Scrubber, list[tuple[str, Any]]]:
        """The kept events of ``lead`` among ``rows`` (each ``(key, body)``, the candidates a
        :func:`needle` found) with their personal fields erased and the values those held
        scrubbed from their texts: a scrubber that knows those values, and the rows to write
        back, ``(body, key)``, for the events that changed."""
        scrubber = self.scrubber()
        events: list[tuple[Any, str, Event]] = []
        for key, body in rows:
            event = Event.from_json(body)
            if event.lead == lead:
                events.append((key, body, event))
                fields = getattr(event, "fields", None)
                if fields is not None:
                    scrubber.learn_fields(fields)
        changed = []
        for key, body, event in events:
            scrubbed = self.event(event, scrubber)
            if scrubbed != body:
                changed.append((scrubbed, key))
        return scrubber, changed

    def event(self, event: Event, scrubber: Scrubber | None = None) -> str:
        """``event`` as a store keeps it once its lead is erased: its personal fields erased,
        and the values ``scrubber`` knows (default: those of the event's own personal fields)
        scrubbed from its other texts."""
        if scrubber is None:
            scrubber = self.scrubber()
            scrubber.learn_fields(getattr(event, "fields", {}))
        data = event.to_dict()
        if isinstance(data.get("fields"), Mapping):
            data["fields"] = scrubber.fields(data["fields"])
        data = {key: value if key in _NAMES or key == "fields" else scrubber.data(value)
                for key, value in data.items()}  # fmt: skip
        return Event.from_json(data).to_json()

    def body(self, engine: Engine, event: Event) -> str:
        """The text a store keeps of ``event``: its JSON form, with its personal fields erased
        when it gives fields to an erased lead (the engine refuses it; the store keeps it)."""
        if hasattr(event, "fields"):
            try:
                erased = engine.lead(event.lead).lead.erased_at is not None
            except KeyError:  # a new lead
                erased = False
            if erased:
                return self.event(event)
        return event.to_json()

    def outbox(
        self, rows: Sequence[tuple[Any, str, str | None]], scrubber: Scrubber
    ) -> list[tuple[str, str | None, Any]]:
        """Outbox rows ``(key, body, error)`` scrubbed: ``(body, error, key)`` for those that
        changed."""
        changed = []
        for key, body, error in rows:
            scrubbed = self.effect(body, scrubber)
            said = scrubber.text(error) if error else error
            if scrubbed != body or said != error:
                changed.append((scrubbed, said, key))
        return changed

    def effect(self, body: str, scrubber: Scrubber) -> str:
        """An outbox body (an effect as JSON) with the values ``scrubber`` knows scrubbed."""
        data = json.loads(body)
        scrubbed = scrubber.data(data, _NAMES)
        return body if scrubbed == data else json.dumps(scrubbed, ensure_ascii=False)

    def refusals(self, refused: dict[str, Any], lead: str, scrubber: Scrubber) -> None:
        """Scrub the refusals of ``lead`` a store keeps (by effect id: each a ``Rejected``, or
        a ``(value, Rejected)`` pair) of the values ``scrubber`` knows."""
        for key, kept in list(refused.items()):
            pair = isinstance(kept, tuple)
            rejected: Rejected = kept[1] if pair else kept
            if rejected.lead != lead:
                continue
            details = rejected.details
            if isinstance(details, tuple):
                details = tuple(
                    attrs.evolve(
                        problem,
                        value=scrubber.data(problem.value),
                        message=scrubber.text(problem.message),
                        fix=scrubber.text(problem.fix),
                    )
                    if attrs.has(type(problem))
                    else problem
                    for problem in details
                )
            scrubbed = Rejected(
                rejected.lead, rejected.at, scrubber.text(rejected.reason), rejected.event, details
            )
            scrubbed.stamped(rejected.origin, rejected.seq)
            refused[key] = (kept[0], scrubbed) if pair else scrubbed
