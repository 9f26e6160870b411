"""What the engine answers when asked: a lead with its clocks, and what comes due next."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from attrs import frozen

from leadsla._core.clocks import ObligationState
from leadsla._core.lead import Lead
from leadsla._core.ownership import Owner

__all__ = ["Due", "LeadView"]


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
    """What the engine knows of one lead: its record and its obligations' clocks."""

    lead: Lead
    obligations: tuple[ObligationState, ...]

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
