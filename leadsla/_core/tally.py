"""Tallies: tracking periods, and the volumes delivered against each commitment.

Theory of operation
===================

A tracking period (a week, a month, a quarter, a year) is read on the wall clock of the
agreement's time zone: a lead that enters ``mql`` at 00:30 on 1 April in Helsinki counts for
April, even though it is still March in UTC. :func:`period_of` is the one function that says
which period an instant falls in; the engine's tallies and the scorecard both use it.

A commitment ("marketing delivers at least 150 MQLs a month, 60 % of them accepted") is tallied
from each lead's own history, never from a running counter:

* a lead is *delivered* in every period in which it entered the commitment's state, once per
  period however often it entered;
* it is *accepted* in the period it was delivered in when it then moved from that state to the
  accepted state (again once per period).

So a lead's contribution is a pure function of its history (:func:`contribution`), and the
tally of a period is the sum of the contributions. When a lead changes, the engine replaces its
old contribution by its new one (:meth:`Tally.replace`). Sums do not depend on the order in
which leads change, and a lead's contribution can be withdrawn as easily as added.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from attrs import frozen

from leadsla._core.calendar import instant_us
from leadsla._core.effects import Transitioned
from leadsla._core.funnel import Commitment
from leadsla._core.periods import Period, chronological, label

__all__ = ["Contribution", "Eras", "Tally", "Volume", "contribution", "period_of", "volumes"]

#: What one lead adds to the tallies: ("delivered" | "accepted", commitment, period) items.
Contribution = frozenset[tuple[str, str, str]]
_NOTHING: Contribution = frozenset()


def period_of(moment: datetime, period: Period, zone: tzinfo | str) -> str:
    """The label of the ``period`` holding the instant ``moment``, on ``zone``'s wall clock:
    ``2026-03``, ``2026-Q1``, ``2026-W10``, ``2026``."""
    return label(moment.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone), period)


@frozen
class Volume:
    """A commitment's tally for one tracking period."""

    commitment: str
    period: str
    delivered: int
    target: int
    accepted: int
    accepted_share: float | None
    quality_target: float | None

    @property
    def met(self) -> bool:
        """Whether the period delivered enough, and enough of it was accepted."""
        quality_ok = self.quality_target is None or (
            self.accepted_share is not None and self.accepted_share >= self.quality_target
        )
        return self.delivered >= self.target and quality_ok


@frozen
class Eras:
    """The commitments of each agreement version, from the instant it takes effect (``starts``,
    µs since the epoch; the first from always), by name: what counts at a moment (see
    :class:`Tally`)."""

    starts: tuple[int, ...]
    commitments: tuple[Mapping[str, Commitment], ...]

    def at(self, at_us: int) -> Mapping[str, Commitment]:
        """The commitments in force at ``at_us``."""
        return self.commitments[max(0, bisect.bisect_right(self.starts, at_us) - 1)]


def contribution(
    history: Sequence[Transitioned],
    commitments: Sequence[Commitment],
    zone: tzinfo,
    label: Callable[[datetime, Commitment], str | None] | None = None,
    eras: Eras | None = None,
) -> Contribution:
    """What a lead with this history adds to the commitments' tallies.

    ``label`` names the period an entry counts in (None: in none); by default, the
    commitment's own period (:func:`period_of`). A report over a date range passes its own.
    With ``eras``, each move counts by the definition of its commitment in force when it was
    made (none: it counts for nothing).
    """
    items: set[tuple[str, str, str]] = set()
    for commitment in commitments:
        credited: str | None = None  # the period of the latest entry into ``state``
        for entry in history:
            if eras is not None:
                found = eras.at(instant_us(entry.at, "at")).get(commitment.name)
                if found is None:
                    continue
                commitment = found  # noqa: PLW2901 (the definition in force then)
            state, accepted_state = commitment.state, commitment.accepted_state
            if entry.dest == state:
                credited = (
                    period_of(entry.at, commitment.per, zone)
                    if label is None
                    else label(entry.at, commitment)
                )
                if credited is not None:
                    items.add(("delivered", commitment.name, credited))
            elif entry.dest == accepted_state and entry.source == state and credited is not None:
                items.add(("accepted", commitment.name, credited))
    return frozenset(items) if items else _NOTHING


class Tally:
    """The commitments' running sums, per (commitment, period).

    ``counted`` is the set of states whose entry or leaving can change a contribution: a move
    between other states cannot, and the engine skips the tally for it.
    """

    __slots__ = ("_known", "_sums", "commitments", "counted", "eras", "zone")

    def __init__(
        self, commitments: Sequence[Commitment], zone: tzinfo, eras: Eras | None = None
    ) -> None:
        """``eras``: with several agreement versions, each one's commitments from when it
        takes effect: a move counts by the definition in force when it was made, and a
        period is judged (its target, its quality bar) by the one in force when it began."""
        self.commitments = tuple(commitments)
        self.zone = zone
        self.eras = eras
        eras_defined = (c for era in eras.commitments for c in era.values()) if eras else ()
        defined = [*self.commitments, *eras_defined]
        self.counted = frozenset(
            state
            for commitment in defined
            for state in (commitment.state, commitment.accepted_state)
            if state is not None
        )
        self._sums: dict[tuple[str, str, str], int] = {}
        # Contributions made once: many leads contribute the same items, so they share one
        # set, and a lead can keep its own at the cost of a reference.
        self._known: dict[Contribution, Contribution] = {_NOTHING: _NOTHING}

    def of(self, history: Sequence[Transitioned]) -> Contribution:
        """The contribution of a lead with this history (one shared value per distinct
        contribution)."""
        if not self.commitments:
            return _NOTHING
        found = contribution(history, self.commitments, self.zone, eras=self.eras)
        return self._known.setdefault(found, found)

    def replace(self, old: Contribution, new: Contribution) -> None:
        """A lead's contribution changed from ``old`` to ``new``."""
        if old == new:
            return
        sums = self._sums
        for item in old - new:
            sums[item] -= 1
            if not sums[item]:
                del sums[item]
        for item in new - old:
            sums[item] = sums.get(item, 0) + 1

    def absorb(self, sums: Mapping[tuple[str, str, str], int]) -> None:
        """Add another tally's sums (a :meth:`snapshot`) to these: the tallies of engines
        holding different leads add up to the tally of one engine holding them all."""
        for item, count in sums.items():
            if count:
                self._sums[item] = self._sums.get(item, 0) + count

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """A copy of the sums, for comparing two tallies."""
        return dict(self._sums)

    def volumes(self) -> list[Volume]:
        """The tally of every commitment for every period with a lead in it, oldest first."""
        eras = self.eras
        if eras is None:
            return volumes(self._sums, self.commitments)
        zone = self.zone

        def judged_by(commitment: Commitment, period: str) -> Commitment:
            first, _ = chronological(period)
            began = datetime(first.year, first.month, first.day, tzinfo=zone)
            return eras.at(instant_us(began, "period")).get(commitment.name, commitment)

        return volumes(self._sums, self.commitments, definition=judged_by)


def volumes(
    sums: Mapping[tuple[str, str, str], int],
    commitments: Sequence[Commitment],
    target: Callable[[Commitment, str], int] | None = None,
    definition: Callable[[Commitment, str], Commitment] | None = None,
) -> list[Volume]:
    """The volumes of summed contributions, per commitment and period (oldest first; periods
    sort by :func:`~leadsla._core.periods.chronological` unless they are all one); ``target``
    gives a commitment's target in a period (by default its ``at_least``), ``definition`` the
    commitment that judges a period (by default itself)."""
    results = []
    for named in commitments:
        periods = sorted({period for kind, name, period in sums if name == named.name})
        if len(periods) > 1:
            periods.sort(key=chronological)
        for period in periods:
            commitment = named if definition is None else definition(named, period)
            delivered = sums.get(("delivered", commitment.name, period), 0)
            accepted = sums.get(("accepted", commitment.name, period), 0)
            share = accepted / delivered if delivered and commitment.accepted_state else None
            quality = float(commitment.accepted_share) if commitment.accepted_share else None
            results.append(
                Volume(
                    commitment.name,
                    period,
                    delivered,
                    commitment.at_least if target is None else target(commitment, period),
                    accepted,
                    share,
                    quality,
                )
            )
    return results
