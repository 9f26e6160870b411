"""Effects: what the engine decided, as values the host acts on (sans-io: nothing is sent).

Every effect names the lead and the instant it concerns. Effects from one call come out in a
fixed, documented order, so a replay gives the same list byte for byte.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from attrs import fields, frozen

from leadsla._core.conditions import Explanation
from leadsla._core.errors import Problem
from leadsla._core.fast import builder
from leadsla._core.ownership import Owner

__all__ = [
    "ActionRequested",
    "ActionSkipped",
    "Because",
    "Duplicate",
    "Effect",
    "ObligationBreached",
    "ObligationCancelled",
    "ObligationMet",
    "ObligationOpened",
    "ObligationPaused",
    "ObligationResumed",
    "ObligationWarned",
    "OwnerChanged",
    "Rejected",
    "RuleFired",
    "Tagged",
    "Transitioned",
    "effect_to_dict",
]


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
class Effect:
    """Base of every effect: the lead concerned and when."""

    lead: str
    at: datetime


@frozen
class Transitioned(Effect):
    """The lead moved from ``source`` to ``dest``.

    ``cause`` says who or what asked ("requested by bob", "rule need-over-6-months");
    ``explanations`` are the conditions that decided (traced when read); ``because`` has both.
    """

    source: str | None
    dest: str
    trigger: str | None
    by: str | None
    reason: str | None
    cause: str
    explanations: tuple[Explanation, ...] = ()

    @property
    def because(self) -> Because:
        """Why the lead moved: the cause and the explanations together."""
        return Because(self.cause, self.explanations)


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
    """An action the agreement asked for could not be applied (a move the lead's state no
    longer allows); ``cause`` names the rule or obligation that asked."""

    cause: str
    action: str
    reason: str


@frozen
class ObligationOpened(Effect):
    """A clock started: ``party`` owes the lead something by ``due_at``."""

    obligation: str
    number: int
    party: str
    due_at: datetime


@frozen
class ObligationWarned(Effect):
    """A warning before the deadline; ``owner`` is who owns the lead now."""

    obligation: str
    number: int
    due_at: datetime
    owner: Owner | None


@frozen
class ObligationMet(Effect):
    """The promise was kept (``late`` when after a breach, by ``lateness`` of business time)."""

    obligation: str
    number: int
    outcome: str
    late: bool = False
    lateness: timedelta | None = None


@frozen
class ObligationBreached(Effect):
    """The deadline passed; the breach belongs to ``owner``, who owned the lead at that moment."""

    obligation: str
    number: int
    due_at: datetime
    owner: Owner | None


@frozen
class ObligationCancelled(Effect):
    """The clock no longer applies (the lead moved on); not a breach."""

    obligation: str
    number: int
    reason: str


@frozen
class ObligationPaused(Effect):
    """The clock stands still."""

    obligation: str
    number: int


@frozen
class ObligationResumed(Effect):
    """The clock runs again; the deadline moved to ``due_at``."""

    obligation: str
    number: int
    due_at: datetime


@frozen
class Duplicate(Effect):
    """An event id seen before: acknowledged and ignored."""

    event: str


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    """A JSON-ready dict of an effect: its type, then its fields in declaration order.

    Explanations are rendered as lines of text; instants in ISO 8601; durations in seconds.
    """
    data: dict[str, Any] = {"type": _snake(type(effect).__name__)}
    for attribute in fields(type(effect)):
        data[attribute.name] = _plain(getattr(effect, attribute.name))
    return data


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Owner):
        return {"team": value.team, "person": value.person}
    if isinstance(value, Because):
        return {"cause": value.cause, "explanations": [e.lines() for e in value.explanations]}
    if isinstance(value, Explanation):
        return value.lines()
    if isinstance(value, Problem):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


# Positional constructors for the effects the engine makes for nearly every event.
new_transitioned = builder(Transitioned)
new_owner_changed = builder(OwnerChanged)
new_rule_fired = builder(RuleFired)
new_obligation_opened = builder(ObligationOpened)
new_obligation_met = builder(ObligationMet)
new_obligation_warned = builder(ObligationWarned)
new_obligation_breached = builder(ObligationBreached)
new_obligation_cancelled = builder(ObligationCancelled)
