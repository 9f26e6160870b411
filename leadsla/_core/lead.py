"""The lead record: an immutable value that each decision replaces with an updated copy.

A :class:`Lead` holds what the engine knows of one lead: its fields, its state, the highest
funnel stage it reached, its transition history (the ``Transitioned`` effects of its moves,
each with its cause and explanation), its ownership intervals and its tags. Updates build a new
record sharing everything unchanged with the old one (fields are copied only when they change;
history grows by one entry), so keeping the previous record costs little and "a rejected event
changes nothing" is true by construction.

A record may stand apart from the lifecycle (:class:`Standing`): kept outside it because the
agreement's ``lead`` term does not hold for it, or closed by a conversion, a merge or an
erasure. Nearly every record is in the lifecycle, and has no standing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from attrs import field, frozen

from leadsla._core.effects import Transitioned
from leadsla._core.fast import builder
from leadsla._core.ownership import Owner, OwnershipInterval

__all__ = ["Lead", "Standing", "frozen_fields", "new_lead"]


def frozen_fields(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


class Standing(NamedTuple):
    """How a record stands apart from the lifecycle, and since when.

    ``kind`` is ``"outside"`` (the agreement's ``lead`` term did not hold when the record was
    created, nor since: it has no owner, no clocks, no rules), ``"converted"`` (it became
    ``detail``, a contact or an opportunity), ``"merged"`` (into the lead ``detail``) or
    ``"erased"`` (its personal fields were erased while it was open). ``at`` is when it came
    to stand so (for a record outside: when it was created); ``detail`` names the term, what
    it became, or the surviving lead. ``erased_at`` says when its personal fields were erased
    (a record of any kind may be erased afterwards: it then takes no more events).
    """

    kind: Literal["outside", "converted", "merged", "erased"]
    at: datetime
    detail: str = ""
    erased_at: datetime | None = None


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
    #: How the record stands apart from the lifecycle (None: it is a lead in the lifecycle).
    standing: Standing | None = None

    @property
    def is_lead(self) -> bool:
        """Whether the record entered the lifecycle: the agreement's ``lead`` term held for it
        (when created, or on an update since). A converted, merged or erased lead still is."""
        return self.standing is None or self.standing.kind != "outside"

    @property
    def merged_into(self) -> str | None:
        """The lead this record was merged into, if it was."""
        standing = self.standing
        return standing.detail if standing is not None and standing.kind == "merged" else None

    @property
    def converted_to(self) -> str | None:
        """What the lead was converted to (a contact, an opportunity), if it was."""
        standing = self.standing
        return standing.detail if standing is not None and standing.kind == "converted" else None

    @property
    def erased_at(self) -> datetime | None:
        """When the record's personal fields were erased, if they were."""
        return self.standing.erased_at if self.standing is not None else None

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


#: ``Lead`` from its fields in order, ``fields`` already a read-only mapping, ``standing`` left
#: out for a record in the lifecycle (see leadsla._core.fast).
new_lead = builder(Lead)
