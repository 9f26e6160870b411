"""Records apart from the lifecycle: the ``lead`` term, conversions, merges and erasures.

Theory of operation
===================

Most records a host sends are leads: created, they enter the lifecycle's initial state. Some
stand apart from it (:class:`~leadsla._core.lead.Standing`), and this module says what that
means; the stepper (:mod:`leadsla._core.steps`) asks it before it lets the workflow near such
a record.

* **Outside.** An agreement whose terms define ``lead`` applies it when a record is created:
  a record for which it does not hold (the default agreement's: no email) is kept, fields and
  all, but outside the lifecycle: no state of it, no owner, no clocks, no rules, and a
  :class:`~leadsla.HeldOutside` effect says why. A ``lead_updated`` that makes the term hold
  brings it in at that instant, as a creation would (its owner picked, the creation's rules
  and clocks then); the first move says it ``became a lead``, with the term's explanation.
  Any other event is refused, naming the record, the term and the fix, except a merge (a
  duplicate record without an email, say) and an erasure. An agreement without a ``lead``
  term takes every record as a lead.
* **Closed.** A conversion (``convert``), a merge (``merge``, on the absorbed record) or an
  erasure of an open lead (``erase``) closes it: its clocks still open are cancelled with
  what closed them as their outcome ("converted to opportunity", "merged into L-2",
  "erased"); breached clocks stay breached: the breach happened. Its owner's load of open
  leads goes down by one. A closed lead takes no more events but an erasure.
* **Erased.** An erasure replaces the values of the agreement's personal fields with
  :data:`ERASED` (so ``has(email)`` still holds, and a replay decides as the first run did),
  and scrubs those values from every text the record keeps (the explanations of its moves,
  their causes and reasons, its owners' reasons, its clocks' outcomes). An erased record
  takes no more events at all.

Each of these depends on the record's own events only: partitions, replays and late events
see the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from leadsla._core.agreement import Agreement
from leadsla._core.clocks import ObligationState, step
from leadsla._core.conditions import Check, Explanation, Scope, field_checker
from leadsla._core.effects import (
    Effect,
    Erased,
    HeldOutside,
    Transitioned,
)
from leadsla._core.errors import Problem, WorkflowError
from leadsla._core.events import (
    Event,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadUpdated,
)
from leadsla._core.lead import Lead, Standing, frozen_fields, new_lead
from leadsla._core.ownership import BookDraft
from leadsla._core.workflow import Step

__all__ = ["BECAME", "ERASED", "LEAD_TERM", "OUTSIDE", "Housekeeping", "Scrubber"]

#: What an erased field holds instead of its value: text, so ``has(field)`` still holds.
ERASED: Final = "[erased]"
#: The term that says what a lead is.
LEAD_TERM: Final = "lead"
#: The cause of the first move of a record that became a lead on an update.
BECAME: Final = "became a lead"
#: The state a record outside the lifecycle is said to be in (no lifecycle state is written
#: so: a state's name holds letters, digits, ``_`` and ``-`` only).
OUTSIDE: Final = "(not a lead)"
#: Values shorter than this are erased where they are a field's value, and quoted, but not
#: searched for inside other text (two letters would be found in every word).
_SHORTEST_FOUND: Final = 4


class Housekeeping:
    """What one agreement says of records apart from its lifecycle (see the module's doc)."""

    __slots__ = ("_condition", "_field_check", "_terms", "_types", "personal", "terminal")

    def __init__(self, agreement: Agreement) -> None:
        terms = agreement.workflow.terms
        self._terms = terms
        #: The ``lead`` term's condition (None: the agreement has no such term).
        self._condition = terms[LEAD_TERM].condition if LEAD_TERM in terms else None
        self._types = agreement.field_types
        self._field_check = field_checker(self._types)
        #: The fields an erasure erases.
        self.personal = agreement.personal
        self.terminal = frozenset(s.name for s in agreement.lifecycle.states if s.terminal)

    # -- the lead term --------------------------------------------------------------------------

    def outside(self, lead_id: str, fields: Mapping[str, Any], at: datetime) -> Step | None:
        """None when a record created with ``fields`` is a lead; else the record kept outside
        the lifecycle, and the ``HeldOutside`` effect."""
        explanation = self._not_a_lead(fields, at)
        if explanation is None:
            return None
        if not isinstance(lead_id, str) or not lead_id:
            raise WorkflowError(
                Problem("lead", lead_id, "must be a non-empty string", "give the lead an id")
            )
        kept = new_lead(
            lead_id,
            frozen_fields(fields),
            OUTSIDE,
            None,
            (),
            (),
            frozenset(),
            at,
            (),
            Standing("outside", at, LEAD_TERM),
        )
        return Step(kept, (HeldOutside(lead_id, at, LEAD_TERM, explanation),))

    def update(self, lead: Lead, event: LeadUpdated) -> tuple[Lead, Explanation | None]:
        """A record outside the lifecycle with the update's fields; and, when the ``lead``
        term holds now, its explanation (the record is then to be created a lead)."""
        fields = {**lead.fields, **event.fields}
        still = self._not_a_lead(fields, event.at)
        updated = attrs.evolve(lead, fields=fields, updated_at=event.at)
        if still is not None:
            return updated, None
        assert self._condition is not None
        scope = self._scope(fields, event.at)
        return updated, self._condition.defer(scope, self._terms, label=LEAD_TERM)

    def became(self, created: Step, explanation: Explanation) -> Step:
        """A creation's step told as a record becoming a lead: its first move's cause says so,
        with the ``lead`` term's explanation."""
        lead, effects = created
        first = lead.history[0]
        told = attrs.evolve(first, cause=BECAME, explanations=(explanation,))
        history = (told, *lead.history[1:])
        return Step(
            attrs.evolve(lead, history=history),
            tuple(told if effect is first else effect for effect in effects),
        )

    def _not_a_lead(self, fields: Mapping[str, Any], at: datetime) -> Explanation | None:
        """Why ``fields`` do not make a lead (None: they do, or there is no ``lead`` term);
        values of the wrong type are refused first, as for a lead."""
        condition = self._condition
        if condition is None:
            return None
        problems = self._field_check(fields)
        if problems:
            raise WorkflowError(*problems)
        scope = self._scope(fields, at)
        if scope.term(LEAD_TERM):
            return None
        return condition.defer(scope, self._terms, label=LEAD_TERM)

    def _scope(self, fields: Mapping[str, Any], at: datetime) -> Scope:
        """What the ``lead`` term sees: the fields, the time; no state, no owner."""
        return Scope(fields, at, None, None, None, self._terms.evaluators())

    # -- what a record apart takes ----------------------------------------------------------

    def refusal(self, lead: Lead, event: Event) -> Problem | None:
        """Why a record apart from the lifecycle cannot take ``event`` (None: it can)."""
        standing = lead.standing
        assert standing is not None
        kind = type(event)
        if standing.erased_at is not None:
            if kind is LeadErased:
                return Problem(
                    "lead",
                    lead.id,
                    f"names a record erased already ({standing.erased_at.isoformat()})",
                    "nothing to do: its personal fields hold nothing of the person any more",
                )
            return Problem(
                "lead",
                lead.id,
                f"names a record that was erased ({standing.erased_at.isoformat()}): it takes "
                "no more events",
                "a person who comes back is a new record: give it a new lead id",
            )
        if kind is LeadErased:
            return None
        if standing.kind == "outside":
            if kind in (LeadUpdated, LeadMerged):
                return None
            return Problem(
                "lead",
                lead.id,
                f"names a record that is not a lead: the agreement's {LEAD_TERM!r} term "
                f"({self._condition}) does not hold for it, so it is kept outside the "
                f"lifecycle and takes no {event.type} event",
                "send lead_updated with the fields that make the term hold: it then enters the "
                "lifecycle (until then it takes only lead_updated, merge and erase)",
            )
        if kind is LeadCreated:
            return None  # (refused as a lead that exists, as for any lead)
        what = {
            "converted": f"converted to {standing.detail}",
            "merged": f"merged into {standing.detail}",
            "erased": "erased",
        }[standing.kind]
        return Problem(
            "lead",
            lead.id,
            f"names a lead {what} ({standing.at.isoformat()}): it left the lifecycle and "
            f"takes no {event.type} event",
            "a new sales cycle is a new lead (a new id); only erase applies to this one",
        )

    # -- closing --------------------------------------------------------------------------------

    def close(
        self,
        lead: Lead,
        clocks: list[ObligationState],
        at: datetime,
        standing: Standing,
        outcome: str,
        book: BookDraft | None,
    ) -> tuple[Lead, list[Effect]]:
        """The lead closed (``standing``): its clocks still open cancelled with ``outcome``
        (``clocks`` is changed in place), its owner's load of open leads one less; the
        record and the cancellations."""
        effects: list[Effect] = []
        for index, clock in enumerate(clocks):
            if clock.is_open:
                clocks[index], effect = step(clock, "cancelled", at, outcome=outcome)
                if effect is not None:
                    effects.append(effect)
        owner = lead.owner
        if (
            book is not None
            and lead.standing is None
            and lead.state not in self.terminal
            and owner is not None
            and owner.person is not None
        ):
            book.load(owner.person, -1)  # (a closed lead weighs on no one, as a terminal one)
        return attrs.evolve(lead, standing=standing, updated_at=at), effects

    # -- erasing --------------------------------------------------------------------------------

    def erase(
        self, lead: Lead, clocks: list[ObligationState], event: LeadErased
    ) -> tuple[Lead, Erased]:
        """The record with the values of its personal fields erased, and scrubbed from every
        text it keeps (``clocks`` too, changed in place); the ``Erased`` effect."""
        if not self.personal:
            raise WorkflowError(
                Problem(
                    "lead",
                    lead.id,
                    "cannot be erased: the agreement names no personal fields, so nothing "
                    "would be erased",
                    'name them in the agreement: personal = ["email", "name", "phone"]',
                )
            )
        scrubber = Scrubber(self.personal, self.erased_value)
        scrubber.learn_fields(lead.fields)
        for entry in lead.history:  # the values its moves saw (older ones, too)
            for explanation in entry.explanations:
                scrubber.learn_check(explanation.check)
        history = tuple(scrubber.move(entry) for entry in lead.history)
        fields = scrubber.fields(lead.fields)
        erased = tuple(name for name in self.personal if lead.fields.get(name) is not None)
        ownership = tuple(
            interval
            if (reason := scrubber.text(interval.reason)) == interval.reason
            else attrs.evolve(interval, reason=reason)
            for interval in lead.ownership
        )
        for index, clock in enumerate(clocks):
            if clock.outcome and (said := scrubber.text(clock.outcome)) != clock.outcome:
                clocks[index] = clock._replace(outcome=said)
        at = event.at
        standing = lead.standing
        standing = (
            standing._replace(erased_at=at)
            if standing is not None
            else Standing("erased", at, "", erased_at=at)
        )
        record = attrs.evolve(
            lead,
            fields=fields,
            history=history,
            ownership=ownership,
            standing=standing,
            updated_at=at,
        )
        return record, Erased(lead.id, at, erased, event.by)

    def erased_value(self, name: str, value: Any) -> Any:
        """What a personal field's ``value`` becomes when erased: :data:`ERASED`, or for a
        field of another declared type a fixed value of that type (``0``, ``false``, the
        first choice...), so that an event the engine took is taken again in a replay; and
        a value the engine refused (of the wrong type) becomes one it refuses again."""
        kind = self._types.get(name)
        if kind is None or kind.kind in ("any", "text"):
            return ERASED if kind is None or kind.accepts(value) else _same_kind(value)
        if not kind.accepts(value):
            return _same_kind(value)
        erased = kind.values[0] if kind.kind == "choice" else _ERASED_OF.get(kind.kind, ERASED)
        erased = erased() if callable(erased) else erased
        return erased if kind.accepts(erased) else ERASED


#: What an erased field of a declared type holds (a function: a fresh list or table each).
_ERASED_OF: Final[Mapping[str, Any]] = {
    "number": 0,
    "boolean": False,
    "date": "1970-01-01",
    "datetime": "1970-01-01T00:00:00+00:00",
    "list": list,
    "table": dict,
}


def _same_kind(value: Any) -> Any:
    """An erased value of the JSON kind of ``value``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return 0
    if isinstance(value, (list, tuple)):
        return []
    if isinstance(value, Mapping):
        return {}
    return ERASED


class Scrubber:
    """Finds the values of personal fields in what a record keeps, and replaces them: a
    field by its name, wherever it is (with ``erase(name, value)``, :data:`ERASED` unless
    said); a value it has learnt, inside any text (quoted, always; bare, when it is at least
    four characters long)."""

    __slots__ = ("_erase", "_found", "personal")

    def __init__(
        self, personal: Iterable[str], erase: Callable[[str, Any], Any] | None = None
    ) -> None:
        self.personal = frozenset(personal)
        self._erase = erase or (lambda name, value: ERASED)
        self._found: dict[str, None] = {}  # the texts to look for, in the order learnt

    @property
    def found(self) -> tuple[str, ...]:
        """The texts it looks for, longest first."""
        return tuple(sorted(self._found, key=lambda text: (-len(text), text)))

    def learn(self, value: Any) -> None:
        """Look for ``value`` (a personal field's, or a list or object of them) in texts."""
        for item in _leaves(value):
            if item is None or isinstance(item, bool):
                continue
            text = str(item)
            if not text:
                continue
            if len(text) >= _SHORTEST_FOUND:
                self._found[text] = None
            for quoted in (repr(item), json.dumps(item), json.dumps(item, ensure_ascii=False)):
                self._found[quoted] = None

    def learn_fields(self, fields: Mapping[str, Any]) -> None:
        """Learn the values of the personal fields among ``fields``."""
        for name in self.personal:
            value = fields.get(name)
            if value is not None and value != ERASED:
                self.learn(value)

    def text(self, text: str) -> str:
        """``text`` with every value learnt replaced."""
        for found in self.found:
            if found in text:
                text = text.replace(found, ERASED)
        return text

    def fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``fields`` with each personal one that holds a value erased, and every value
        learnt erased from the others' texts."""
        return {
            name: (
                self._erase(name, value)
                if name in self.personal and value is not None
                else self.data(value)
            )
            for name, value in fields.items()
        }

    def data(self, value: Any, keep: frozenset[str] = frozenset()) -> Any:
        """A JSON value with every text scrubbed (the keys of objects named in ``keep``, such
        as ids, left as they are)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(item, keep) for item in value]
        if isinstance(value, dict):
            return {
                key: item if key in keep else self.data(item, keep) for key, item in value.items()
            }
        return value

    def learn_check(self, check: Check) -> None:
        """Learn the personal fields' values an explanation's part (and its parts) read."""
        for name, value in check.values:
            if name.split(".", 1)[0] in self.personal and value != ERASED:
                self.learn(value)
        for child in check.children:
            self.learn_check(child)

    def check(self, check: Check) -> Check:
        """An explanation's part with the personal fields' values it read erased, and any
        value learnt erased from its note."""
        values = tuple(
            (name, ERASED if name.split(".", 1)[0] in self.personal else value)
            for name, value in check.values
        )
        result = ERASED if check.expression in self.personal else check.result
        children = tuple(self.check(child) for child in check.children)
        note = self.text(check.note) if check.note else check.note
        return attrs.evolve(check, result=result, values=values, children=children, note=note)

    def explanation(self, explanation: Explanation) -> Explanation:
        """An explanation traced now, its personal values erased."""
        return Explanation(explanation.label, self.check(explanation.check))

    def move(self, entry: Transitioned) -> Transitioned:
        """A history entry with its explanations and texts scrubbed (its origin kept)."""
        explanations = tuple(self.explanation(e) for e in entry.explanations)
        told = attrs.evolve(
            entry,
            explanations=explanations,
            cause=self.text(entry.cause),
            reason=self.text(entry.reason) if entry.reason else entry.reason,
        )
        told.stamped(entry.origin, entry.seq)
        return told


def _leaves(value: Any) -> Iterator[Any]:
    """The plain values in ``value`` (itself, or those a list or an object holds)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield value
