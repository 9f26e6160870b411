"""Rules: when something happens and a condition holds, then do something.

A :class:`Rule` reacts to event kinds (a lead created, its fields updated, an activity logged,
an owner assigned, the lead moved), optionally only in some states, when its condition holds;
its actions are data: fire a transition with a reason, assign, tag, notify.

Conflict policy, explicit in :class:`RuleSet.mode`:

* rules are tried in priority order (higher first; equal priorities in the order written);
* ``"all"`` (the default): every rule whose condition holds fires, in that order; each rule sees
  the lead as the rules before it left it (a rule that moved the lead to another state is followed
  by rules that check the new state);
* ``"first"``: only the first rule whose condition holds fires.

After a pass in which a rule moved the lead, the rules run again for the kind ``transitioned``,
so a rule can react to a move made by another (a lead auto-qualified into ``mql`` whose need is
nine months away goes on to ``nurture``). A chain longer than :data:`MAX_CASCADE` passes is
refused as a loop in the agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from attrs import field, frozen

from leadsla._core.conditions import Condition

__all__ = [
    "EVENT_KINDS",
    "Action",
    "AddTag",
    "Assign",
    "Fire",
    "Notify",
    "RemoveTag",
    "Rule",
    "RuleSet",
]

#: The kinds of events rules and obligations react to: rules to all but ``lead_converted`` (a
#: converted lead runs no rules), obligations' ``When.events`` to all but ``transitioned``.
EVENT_KINDS: Final = (
    "lead_created",
    "lead_updated",
    "activity",
    "assign",
    "lead_converted",
    "transitioned",
)
#: The longest chain of rule passes one event may cause.
MAX_CASCADE: Final = 8


@frozen
class Fire:
    """Fire a lifecycle trigger, with a reason (required for backward moves)."""

    trigger: str
    reason: str | None = None

    def describe(self) -> str:
        reason = f" (reason {self.reason!r})" if self.reason else ""
        return f"fire {self.trigger}{reason}"


@frozen
class Assign:
    """Give the lead to a person, or (``person=None``) to whoever the team's policy picks."""

    person: str | None = None
    reason: str = "assigned by rule"

    def describe(self) -> str:
        return f"assign to {self.person}" if self.person else "reassign through the team policy"


@frozen
class AddTag:
    """Add a tag to the lead."""

    tag: str

    def describe(self) -> str:
        return f"tag {self.tag!r}"


@frozen
class RemoveTag:
    """Remove a tag from the lead."""

    tag: str

    def describe(self) -> str:
        return f"untag {self.tag!r}"


@frozen
class Notify:
    """Ask the host to notify someone (a person, a team, or "manager" of the owning team)."""

    to: str
    message: str = ""

    def describe(self) -> str:
        return f"notify {self.to}"


Action = Fire | Assign | AddTag | RemoveTag | Notify


def _condition(value: str | Condition) -> Condition:
    return value if isinstance(value, Condition) else Condition(value, field="when")


def _tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _actions(value: Action | Iterable[Action]) -> tuple[Action, ...]:
    if isinstance(value, (Fire, Assign, AddTag, RemoveTag, Notify)):
        return (value,)
    return tuple(value)


@frozen
class Rule:
    """When one of ``on`` happens to a lead in one of ``states`` and ``when`` holds: ``then``.

    Empty ``on`` or ``states`` mean any.
    """

    name: str
    when: Condition = field(converter=_condition)
    then: tuple[Action, ...] = field(converter=_actions)
    on: tuple[str, ...] = field(default=(), converter=_tuple)
    states: tuple[str, ...] = field(default=(), converter=_tuple)
    priority: int = 0
    description: str = ""

    def reacts_to(self, kind: str, state: str) -> bool:
        return (not self.on or kind in self.on) and (not self.states or state in self.states)


def _rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(value)


@frozen
class RuleSet:
    """Rules and the conflict policy between them (see the module's documentation)."""

    rules: tuple[Rule, ...] = field(default=(), converter=_rules)
    mode: Literal["all", "first"] = "all"
    _ordered: tuple[Rule, ...] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        order = sorted(
            range(len(self.rules)), key=lambda index: (-self.rules[index].priority, index)
        )
        object.__setattr__(self, "_ordered", tuple(self.rules[index] for index in order))

    @property
    def ordered(self) -> tuple[Rule, ...]:
        """The rules in the order they are tried."""
        return self._ordered
