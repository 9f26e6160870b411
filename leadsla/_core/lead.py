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
from typing import Any

from attrs import field, frozen

from leadsla._core.effects import Transitioned
from leadsla._core.fast import builder
from leadsla._core.ownership import Owner, OwnershipInterval

__all__ = ["Lead", "frozen_fields", "new_lead"]


def frozen_fields(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


@frozen(weakref_slot=False)
class Lead:
    """What is known of one lead, as an immutable value.

    (No ``__weakref__`` slot: a record is 8 bytes smaller, and :func:`new_lead` builds it
    about twice as fast, see :mod:`leadsla._core.fast`.)
    """

    id: str
    fields: Mapping[str, Any] = field(converter=frozen_fields)
    state: str
    highest_stage: str | None
    history: tuple[Transitioned, ...]
    ownership: tuple[OwnershipInterval, ...]
    tags: frozenset[str] = frozenset()
    updated_at: datetime | None = None
    #: The migrations that moved the lead to other agreement versions: (when, version name),
    #: oldest first (none: it is judged by the version in force when it was created).
    migrations: tuple[tuple[datetime, str], ...] = ()

    @property
    def created_at(self) -> datetime | None:
        """When the lead was created: the time of its first history entry."""
        return self.history[0].at if self.history else None

    @property
    def version(self) -> str | None:
        """The agreement version the lead's last migration moved it to (None: none did)."""
        return self.migrations[-1][1] if self.migrations else None

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


#: ``Lead`` from all nine fields, ``fields`` already a read-only mapping (see leadsla._core.fast).
new_lead = builder(Lead)
