"""Effects: what the engine decided, as values the host acts on (sans-io: nothing is sent).

Every effect names the lead and the instant it concerns. Effects from one call come out in a
fixed, documented order, so a replay gives the same list byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from attrs import field, fields, frozen

from leadsla._core.conditions import Explanation
from leadsla._core.errors import Problem
from leadsla._core.fast import builder
from leadsla._core.ownership import Owner

__all__ = [
    "ActionRequested",
    "ActionSkipped",
    "Because",
    "Converted",
    "Duplicate",
    "Effect",
    "Erased",
    "HeldOutside",
    "Merged",
    "Migrated",
    "ObligationBreached",
    "ObligationCancelled",
    "ObligationEscalated",
    "ObligationMet",
    "ObligationOpened",
    "ObligationPaused",
    "ObligationResumed",
    "ObligationRetargeted",
    "ObligationWarned",
    "OwnerChanged",
    "Rejected",
    "Retracted",
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


#: Fields that explain an effect but are not what it says: left out of its id.
_NOT_CONTENT: Final = frozenset(
    {"_origin", "_by_event", "seq", "_key", "explanations", "explanation", "details"}
)
#: Fields added to an effect after its first release: they count in its id only when given
#: (not None), so an effect that does not use them keeps the id it had before.
_ADDED: Final = frozenset({"tier", "calendar"})


@frozen
class Effect:
    """Base of every effect: the lead concerned and when.

    The engine stamps each effect it emits with its ``origin``, the input that caused it
    (``"event:<event id>"``, or ``"timer:<obligation>#<number>:deadline"`` and
    ``":warning<n>"`` for a clock's timers), and ``seq``, its position among the effects of
    that input on that lead. :attr:`id` is derived from the lead, the origin, the position
    and what the effect says, so it is the same in every process and every replay of the same
    log. An effect built by hand has an empty origin.
    """

    lead: str
    at: datetime
    # An event's effects keep its id, shared with the engine's record of ids seen, and say
    # ``"event:"`` when asked: a string per effect less for the effects a lead keeps.
    _origin: str = field(default="", init=False, eq=False, repr=False)
    seq: int = field(default=0, init=False, eq=False, repr=False)
    _key: str = field(default="", init=False, eq=False, repr=False)
    _by_event: bool = field(default=False, init=False, eq=False, repr=False)

    @property
    def origin(self) -> str:
        """The input that caused the effect (see the class)."""
        origin = self._origin
        return "event:" + origin if self._by_event else origin

    @property
    def id(self) -> str:
        """A deterministic id: 16 hex digits of a hash of the lead, origin, position and
        content (the explanations aside). Hosts use it as an idempotency key."""
        if not self._key:
            content = json.dumps(
                [
                    _plain(_in_utc(getattr(self, a.name)))
                    for a in fields(type(self))
                    if a.name not in _NOT_CONTENT
                    and (a.name not in _ADDED or getattr(self, a.name) is not None)
                ],
                default=str,
                ensure_ascii=False,
                separators=(",", ":"),
            )
            text = (
                f"{self.lead}\x1f{self.origin}\x1f{self.seq}\x1f{type(self).__name__}\x1f{content}"
            )
            digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8)
            object.__setattr__(self, "_key", digest.hexdigest())
        return self._key

    def stamped(self, origin: str, seq: int) -> None:
        """Set the effect's origin and position (the engine does, once, when it emits it)."""
        by_event = origin.startswith("event:")
        object.__setattr__(self, "_origin", origin[6:] if by_event else origin)
        object.__setattr__(self, "_by_event", by_event)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "_key", "")


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
class Migrated(Effect):
    """The lead is judged by another version of the agreement from now on (a migration):
    ``previous`` and ``version`` are the versions' names."""

    previous: str
    version: str


@frozen
class HeldOutside(Effect):
    """The record was created while the agreement's ``term`` (``lead``) did not hold: it is
    kept, fields and all, outside the lifecycle (no owner, no clocks, no rules) until an
    update makes the term hold. ``explanation`` says why the term did not hold."""

    term: str
    explanation: Explanation


@frozen
class Converted(Effect):
    """The lead became ``to`` (a contact, an opportunity) and left the lifecycle; its clocks
    still open were closed first."""

    to: str
    by: str | None = None


@frozen
class Merged(Effect):
    """The record was merged ``into`` another lead (two records, one person) and left the
    lifecycle; the surviving lead's view shows its history."""

    into: str
    by: str | None = None


@frozen
class Erased(Effect):
    """The record's personal ``fields`` (their names) were erased, and the lead left the
    lifecycle if it was still in it. The values are gone: the host erases its own copies."""

    fields: tuple[str, ...]
    by: str | None = None


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
    """A clock started: ``party`` owes the lead something by ``due_at``; ``tier`` is the
    target's tier (None: the obligation has no tiers) and ``calendar`` the calendar its time
    counts on when the obligation chooses one by owner, team or region (None: its own)."""

    obligation: str
    number: int
    party: str
    due_at: datetime
    tier: str | None = None
    calendar: str | None = None


@frozen
class ObligationWarned(Effect):
    """A warning before the deadline (a step of the obligation's ladder: its origin says
    which, ``warning1`` first); ``owner`` is who owns the lead now."""

    obligation: str
    number: int
    due_at: datetime
    owner: Owner | None


@frozen
class ObligationEscalated(Effect):
    """A step of the escalation ladder after the deadline (the clock is still breached):
    ``step`` is its position in the obligation's ladder, from 1."""

    obligation: str
    number: int
    due_at: datetime
    owner: Owner | None
    step: int


@frozen
class ObligationRetargeted(Effect):
    """A running clock's tier was chosen again (the lead's fields changed and the obligation
    says ``retier``): its deadline is now ``due_at``."""

    obligation: str
    number: int
    tier: str
    previous: str
    due_at: datetime


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


@frozen
class Retracted(Effect):
    """An effect emitted earlier no longer holds: a late event changed the lead's history.

    ``retracts`` is the :attr:`~Effect.id` of the withdrawn effect and ``kind`` its type (as in
    :func:`effect_to_dict`); ``at`` is the instant the withdrawn effect concerned. The effects
    that hold instead follow in the same call. ``reason`` names the late event.
    """

    retracts: str
    kind: str
    reason: str


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    """A JSON-ready dict of an effect: its type, id and origin, then its fields in declaration
    order.

    Explanations are rendered as lines of text; instants in ISO 8601; durations in seconds.
    """
    data: dict[str, Any] = {
        "type": kind_of(effect),
        "id": effect.id,
        "origin": effect.origin,
    }
    for name in _said(type(effect)):
        value = getattr(effect, name)
        if value is not None or name not in _ADDED:  # (see _ADDED)
            data[name] = _plain(value)
    return data


def _said(kind: type[Effect]) -> tuple[str, ...]:
    """The names of an effect type's fields, in declaration order (worked out once a type)."""
    names = _SAID.get(kind)
    if names is None:
        names = _SAID[kind] = tuple(a.name for a in fields(kind) if a.init)
    return names


_SAID: Final[dict[type[Effect], tuple[str, ...]]] = {}


def kind_of(effect: Effect) -> str:
    """The effect's type as :func:`effect_to_dict` names it (``obligation_breached``)."""
    return kind_of_type(type(effect))


def kind_of_type(kind: type[Effect]) -> str:
    """An effect type's name as :func:`effect_to_dict` gives it (worked out once a type)."""
    name = _KINDS.get(kind)
    if name is None:
        name = _KINDS[kind] = _snake(kind.__name__)
    return name


_KINDS: Final[dict[type[Effect], str]] = {}


def _in_utc(value: Any) -> Any:
    """An instant in UTC, so an effect's id does not depend on the zone it is told in (an
    instant at the very edge of the calendar that has no UTC form stays as it is)."""
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC)
        except OverflowError:
            return value
    return value


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
new_obligation_escalated = builder(ObligationEscalated)
new_obligation_breached = builder(ObligationBreached)
new_obligation_cancelled = builder(ObligationCancelled)
