"""The lead record: an immutable value that each decision replaces with an updated copy.

A :class:`Lead` holds what the engine knows of one lead: its fields, its state, the highest
funnel stage it reached, its transition history (the ``Transitioned`` effects of its moves,
each with its cause and explanation), its ownership intervals and its tags. Updates build a new
record sharing everything unchanged with the old one (fields are copied only when they change;
history grows by one entry), so keeping the previous record costs little and "a rejected event
changes nothing" is true by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from attrs import field, frozen

from leadsla._conditions import Explanation
from leadsla._fast import builder
from leadsla._ownership import Owner, OwnershipInterval

if TYPE_CHECKING:
    from leadsla._effects import Transitioned

__all__ = ["Because", "Lead"]


def _frozen_fields(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


class Because(NamedTuple):
    """Why something happened: who or what caused it, and the explanations of the checks.

    ``cause`` reads like "requested by alice", "rule need-over-6-months" or "obligation
    attempts breached"; ``explanations`` are the conditions that decided (computed when read).
    """

    cause: str
    explanations: tuple[Explanation, ...] = ()

    def lines(self) -> list[str]:
        lines = [self.cause]
        for explanation in self.explanations:
            lines.extend("  " + line for line in explanation.lines())
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


@frozen
class Lead:
    """What is known of one lead, as an immutable value."""

    id: str
    fields: Mapping[str, Any] = field(converter=_frozen_fields)
    state: str
    highest_stage: str | None
    history: tuple[Transitioned, ...]
    ownership: tuple[OwnershipInterval, ...]
    tags: frozenset[str] = frozenset()
    updated_at: datetime | None = None

    @property
    def created_at(self) -> datetime | None:
        """When the lead was created: the time of its first history entry."""
        return self.history[0].at if self.history else None

    @property
    def owner(self) -> Owner | None:
        """The current owner: the open ownership interval's team and person."""
        return self.ownership[-1].owner if self.ownership else None

    def owner_at(self, at: datetime) -> Owner | None:
        """Who owned the lead at ``at``."""
        for interval in reversed(self.ownership):
            if interval.covers(at):
                return interval.owner
        return None


#: ``Lead`` from all eight fields, ``fields`` already a read-only mapping (see leadsla._fast).
new_lead = builder(Lead)
