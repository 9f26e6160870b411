"""What the engine answers when asked: a lead with its clocks, and what comes due next."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from attrs import field, frozen

from leadsla._core.calendar import instant_us
from leadsla._core.clocks import ObligationState
from leadsla._core.effects import Transitioned
from leadsla._core.lead import Lead, Standing
from leadsla._core.ownership import Owner

__all__ = ["Due", "LeadView", "merge_order"]


@frozen
class Due:
    """An upcoming warning, deadline or escalation, as :meth:`Engine.due
    <leadsla.Engine.due>` lists them."""

    at: datetime
    kind: Literal["warning", "deadline", "escalation"]
    lead: str
    obligation: str
    number: int
    due_at: datetime
    owner: Owner | None


@frozen
class LeadView:
    """What the engine knows of one lead: its record and its obligations' clocks; and the
    views of the records merged into it (``merged``, in the order they were merged: their
    histories joined to its own in :attr:`history`)."""

    lead: Lead
    obligations: tuple[ObligationState, ...]
    #: (Not part of a view's equality: the lead's own record and clocks are its state, and
    #: the records merged into it have theirs.)
    merged: tuple[LeadView, ...] = field(default=(), eq=False)

    @property
    def history(self) -> tuple[Transitioned, ...]:
        """The lead's moves, and those of the records merged into it (each move names its
        record: ``move.lead``), in time order."""
        if not self.merged:
            return self.lead.history
        moves = [*self.lead.history]
        pending = list(self.merged)
        while pending:
            view = pending.pop()
            moves.extend(view.lead.history)
            pending.extend(view.merged)
        return tuple(sorted(moves, key=lambda move: instant_us(move.at)))

    @property
    def standing(self) -> Standing | None:
        """How the record stands apart from the lifecycle (None: it is a lead in it)."""
        return self.lead.standing

    @property
    def state(self) -> str:
        return self.lead.state

    @property
    def owner(self) -> Owner | None:
        return self.lead.owner

    @property
    def fields(self) -> Mapping[str, Any]:
        return self.lead.fields

    def obligation(self, name: str) -> ObligationState | None:
        """The latest clock of obligation ``name``, or None."""
        return next((o for o in reversed(self.obligations) if o.name == name), None)

    @property
    def open_obligations(self) -> tuple[ObligationState, ...]:
        """The clocks still running or paused."""
        return tuple(o for o in self.obligations if o.is_open)


def merge_order(view: LeadView) -> tuple[int, str]:
    """Records merged into one lead, in the order they were merged (then by id)."""
    standing = view.lead.standing
    return (instant_us(standing.at) if standing is not None else 0, view.lead.id)
