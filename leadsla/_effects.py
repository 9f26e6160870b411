"""Effects: what the engine decided, as values the host acts on (sans-io: nothing is sent).

Every effect names the lead and the instant it concerns. Effects from one call come out in a
fixed, documented order, so a replay gives the same list byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attrs import frozen

from leadsla._conditions import Explanation
from leadsla._lead import Because
from leadsla._ownership import Owner

__all__ = [
    "ActionRequested",
    "ActionSkipped",
    "Effect",
    "OwnerChanged",
    "Rejected",
    "RuleFired",
    "Tagged",
    "Transitioned",
]


@frozen
class Effect:
    """Base of every effect: the lead concerned and when."""

    lead: str
    at: datetime


@frozen
class Transitioned(Effect):
    """The lead moved from ``source`` to ``dest``."""

    source: str | None
    dest: str
    trigger: str | None
    by: str | None
    reason: str | None
    because: Because


@frozen
class OwnerChanged(Effect):
    """The lead has a new owner."""

    previous: Owner | None
    owner: Owner
    reason: str


@frozen
class Tagged(Effect):
    """A tag was added to (or removed from) the lead."""

    tag: str
    removed: bool = False


@frozen
class RuleFired(Effect):
    """A rule's condition held and its actions were applied."""

    rule: str
    explanation: Explanation


@frozen
class Rejected(Effect):
    """An input was refused; the lead is unchanged. ``reason`` says why and how to fix it."""

    reason: str
    event: str | None = None
    details: Any = None


@frozen
class ActionRequested(Effect):
    """The agreement asks the host to act: ``action`` (notify, escalate) for ``to``."""

    action: str
    to: str
    message: str
    cause: str


@frozen
class ActionSkipped(Effect):
    """A rule's action could not be applied (say, a move the lead's state no longer allows)."""

    rule: str
    action: str
    reason: str
