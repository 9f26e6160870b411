"""What a replay came to, in counts that add up across engines holding different leads.

The summary ``leadsla replay`` prints and the table ``leadsla whatif`` compares are counts over
every lead and clock: clocks by how they ended, deadlines missed by obligation and owner, on
time among the clocks that came due, where the leads ended, and the commitments' sums. Made
from one engine in one walk over its leads (:meth:`Totals.of`), they are plain counters, so the
totals of the partitions of a log (each an engine of its own leads) merge by addition
(:meth:`Totals.merge`) into exactly the totals of one engine holding every lead.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import attrs

from leadsla._core.engine import Engine, tally_of
from leadsla._core.tally import Volume
from leadsla._core.versions import Versions
from leadsla._shell.render import owner_name
from leadsla._shell.report import Outcome, accountable, outcome_of

__all__ = ["Totals"]


@attrs.define(eq=False)
class Totals:
    """Counts over every lead and clock of an engine (see the module's documentation).

    ``on_time`` and ``due`` count the clocks that came due (met on time, met late or breached),
    per obligation (``("obligation", name)``) and per owner when each was decided
    (``("owner", name)``), as the scorecard attributes them.
    """

    leads: int = 0
    clock: datetime | None = None
    outcomes: Counter[Outcome] = attrs.field(factory=Counter)
    breaches: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    on_time: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    due: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    states: Counter[str] = attrs.field(factory=Counter)
    tally: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)

    @classmethod
    def of(cls, engine: Engine) -> Totals:
        """The totals of ``engine``, in one walk over its leads."""
        totals = cls(len(engine), engine.clock)
        outcomes, breaches, on_time, due = (
            totals.outcomes,
            totals.breaches,
            totals.on_time,
            totals.due,
        )
        for lead in engine.leads():
            view = engine.lead(lead)
            totals.states[view.state] += 1
            for clock in view.obligations:
                outcome = outcome_of(clock)
                outcomes[outcome] += 1
                if clock.breached_at is not None:
                    breaches[(clock.name, owner_name(clock.breach_owner))] += 1
                if outcome not in ("on time", "met late", "breached"):
                    continue
                owner = owner_name(accountable(view, clock))
                for key in (("obligation", clock.name), ("owner", owner)):
                    due[key] += 1
                    on_time[key] += outcome == "on time"
        totals.tally.update(engine.state().ledger.tally.snapshot())
        return totals

    def merge(self, other: Totals) -> Totals:
        """These totals with ``other``'s added (the totals of engines holding other leads)."""
        self.leads += other.leads
        if other.clock is not None and (self.clock is None or other.clock > self.clock):
            self.clock = other.clock
        self.outcomes.update(other.outcomes)
        self.breaches.update(other.breaches)
        self.on_time.update(other.on_time)
        self.due.update(other.due)
        self.states.update(other.states)
        self.tally.update(other.tally)
        return self

    def volumes(self, versions: Versions) -> list[Volume]:
        """The commitments' volumes of these totals, under the ``versions`` that made them."""
        tally = tally_of(versions)
        tally.absorb(self.tally)
        return tally.volumes()
