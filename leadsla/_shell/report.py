"""The review-meeting scorecard: what an agreement made of the events, per tracking period.

A shell-side module: it reads an engine after a replay (its leads, their clocks and history,
the commitment tallies) and changes nothing. Each period of the agreement's tracking period
gets a :class:`PeriodCard`: the commitments, every obligation's clocks opened in the period and
how they ended (with the median time to meet them, in the obligation's own kind of time), the
breaches by owner, how many leads entered each state, and why leads went back. Records the
agreement's ``lead`` term kept outside the lifecycle are counted apart, in the period they
were created (:attr:`PeriodCard.not_leads`): they are in no other figure.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from fractions import Fraction
from math import ceil
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import attrs
from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import instant_us, span_us
from leadsla._core.clocks import ObligationState
from leadsla._core.duration import Duration
from leadsla._core.effects import Transitioned
from leadsla._core.engine import Engine, tally_of
from leadsla._core.errors import Problem, UsageError, unknown
from leadsla._core.funnel import Funnel
from leadsla._core.obligations import CALENDAR_CHOICES, DEFAULT_TIER, ObligationSpec
from leadsla._core.ownership import Owner
from leadsla._core.periods import PERIODS, Period, before, chronological, label
from leadsla._core.tally import Volume, contribution, period_of, volumes
from leadsla._core.versions import Versions
from leadsla._core.views import LeadView
from leadsla._shell.keeping import gc_paused
from leadsla._shell.render import accepted, markdown_text, owner_name

__all__ = [
    "CSV_COLUMNS",
    "OUTCOMES",
    "ObligationScore",
    "Outcome",
    "PeriodCard",
    "ScorecardParts",
    "TimeToMeet",
    "accountable",
    "outcome_of",
    "render_scorecard",
    "scorecard",
    "scorecard_data",
    "scorecard_of_parts",
    "scorecard_parts",
]

ReportFormat = Literal["text", "md", "json", "csv", "html"]

#: How a clock ends, in the words of every report: met on time; met after its deadline;
#: breached and never met; cancelled (the lead moved on before it came due); still open.
Outcome = Literal["on time", "met late", "breached", "cancelled", "open"]
OUTCOMES: tuple[Outcome, ...] = ("on time", "met late", "breached", "cancelled", "open")
_OUTCOME: dict[str, Outcome] = {
    "met": "on time",
    "met_late": "met late",
    "breached": "breached",
    "cancelled": "cancelled",
    "open": "open",
    "paused": "open",
}


def outcome_of(clock: ObligationState) -> Outcome:
    """How ``clock`` ended (so far), in the reports' words (see :data:`OUTCOMES`)."""
    return _OUTCOME[clock.status]


@frozen
class TimeToMeet:
    """How long the clocks that were met took, from opening to meeting, in the obligation's
    own unit (:attr:`ObligationScore.unit`): ``median`` (of an even count, the mean of the
    middle two), ``p90`` (the nearest rank: the smallest time at or under which 90 % of them
    fall) and ``max``, of ``count`` clocks."""

    median: float
    p90: float
    max: float
    count: int


@frozen
class ObligationScore:
    """One obligation's clocks opened in a period, by how they ended (so far): ``on_time``,
    ``met_late``, ``breached`` (and never met), ``cancelled`` and ``open`` add up to
    ``opened``.

    Times are in the obligation's own ``unit``: ``"business days"`` for a deadline in
    business days (working days, as its calendar counts them), ``"business hours"`` for one in
    business hours or minutes, ``"days"`` or ``"hours"`` for a deadline in calendar time.
    ``to_meet``: how long the met clocks took from opening to meeting, pauses included (None:
    none was met). ``lateness_total`` and
    ``lateness_worst``: how far past their deadlines the clocks met late were met (0 and
    None when none was). ``breaches_by_owner`` counts the breaches (met late ones included)
    by the person who owned the lead at the deadline, or the team when no person did, most
    first.

    ``team`` and ``person`` say whose clocks these are, in the per-owner rows of a
    :class:`PeriodCard` (None and None: everyone's). A clock counts for the owner who had
    the lead when it was decided: at the deadline for a breached or late one, just before it
    was met on time or cancelled (a rejection meets acceptance and hands the lead back at
    once: it counts for the rep who rejected), and now for an open one. (When a reassignment
    and the event that meets the clock share one instant, the owner just before is the one
    the lead was taken from.)
    """

    obligation: str
    party: str
    opened: int
    on_time: int
    met_late: int
    breached: int
    cancelled: int
    open: int
    unit: str
    to_meet: TimeToMeet | None
    lateness_total: float
    lateness_worst: float | None
    breaches_by_owner: tuple[tuple[str, int], ...]
    team: str | None = None
    person: str | None = None
    #: The obligation's target, in ``unit`` (4 for "4 business hours"; 0.5 for "30 business
    #: minutes", in business hours).
    target: float | None = None
    #: Every met clock's time to meet, in ``unit``, shortest first (what ``to_meet``
    #: summarises, and what the HTML report draws).
    times: tuple[float, ...] = attrs.field(default=(), repr=False)
    #: In the rows of :attr:`PeriodCard.by_version`: the agreement version judging these
    #: clocks' leads (None: every version's).
    version: str | None = None
    #: In the rows of :attr:`PeriodCard.by_tier`: the tier whose target set these clocks'
    #: deadlines (``target`` is that tier's; None: every tier's).
    tier: str | None = None

    @property
    def attainment(self) -> float | None:
        """Met on time among the clocks that came due (on time, met late, breached): None
        when none did."""
        due = self.on_time + self.met_late + self.breached
        return self.on_time / due if due else None


@frozen
class WeekScore:
    """One obligation's clocks opened in one ISO week (of a period: a week that straddles two
    months has a part in each), for the chart of attainment week by week: ``on_time`` of the
    ``due`` clocks (on time, met late, breached)."""

    week: str
    obligation: str
    on_time: int
    due: int


@frozen
class FunnelStep:
    """How the leads that entered ``source`` in a period went on to ``dest`` (at any time
    after, by any path): ``reached`` of ``entered`` so far; ``in_flight`` have not reached it
    and are not in a terminal state (they still may); the rest ended without reaching it.
    ``assumed`` is the agreement goal's conversion rate for the step (None: the goal names no
    rate for it)."""

    source: str
    dest: str
    entered: int
    reached: int
    in_flight: int
    assumed: float | None

    @property
    def rate(self) -> float | None:
        """``reached`` of ``entered`` (None when none entered): a floor while leads are in
        flight."""
        return self.reached / self.entered if self.entered else None


@frozen
class GoalVolume:
    """How many leads entered a state of the goal's funnel in a period (each lead once),
    against what the goal needs of it per period (``needed``: the goal's volume pro rata to
    the period, rounded up)."""

    state: str
    entered: int
    needed: int


@frozen
class Reason:
    """How many backward moves and losses gave one reason: ``trigger`` (``reject``,
    ``hand_back``, ``lose``...) to ``state``."""

    trigger: str
    state: str
    reason: str
    count: int


@frozen
class PeriodCard:
    """The scorecard of one tracking period."""

    period: str
    volumes: tuple[Volume, ...]
    obligations: tuple[ObligationScore, ...]
    entered: tuple[tuple[str, int], ...]
    reasons: tuple[Reason, ...]
    #: The same scores per obligation, team and person (see :class:`ObligationScore`), by
    #: obligation in the agreement's order, then team and person.
    by_owner: tuple[ObligationScore, ...] = ()
    #: Leads that went between teams more than twice, counted in the period of the third
    #: change (a lead bounced back and forth: worth a word in the meeting).
    bounced: tuple[str, ...] = ()
    #: How much of the period had passed at the engine's clock, 0 to 1 (None: all of it), for
    #: the pace of a period still running.
    elapsed: float | None = None
    #: Attainment per obligation and ISO week (see :class:`WeekScore`).
    weeks: tuple[WeekScore, ...] = ()
    #: Conversion actuals from the leads that entered each step's first state in the period
    #: (see :class:`FunnelStep`): every step between the lifecycle's staged states, and every
    #: conversion of the agreement's goal.
    funnel: tuple[FunnelStep, ...] = ()
    #: Leads entering each state of the goal's funnel, against what the goal needs.
    goal: tuple[GoalVolume, ...] = ()
    #: When the period's clocks belong to leads judged by different agreement versions: each
    #: obligation's scores per version (see :attr:`ObligationScore.version`), each by its
    #: version's own target and unit.
    by_version: tuple[ObligationScore, ...] = ()
    #: For obligations with targets by tier: each one's scores per tier (see
    #: :attr:`ObligationScore.tier`), in the obligation's order of tiers, then the default.
    by_tier: tuple[ObligationScore, ...] = ()
    #: Records created in the period that are not leads (the agreement's ``lead`` term did
    #: not hold, and has not since): kept outside the lifecycle, and in no other figure.
    not_leads: int = 0


def scorecard(
    engine: Engine, *, per: Period | None = None, between: tuple[date, date] | None = None
) -> list[PeriodCard]:
    """The scorecard of every tracking period the engine has seen, oldest first.

    Clocks count in the period they opened, moves in the period they happened. Commitments are
    tallied per their own period (``Commitment.per``); when that is not the tracking period,
    their periods get cards of their own, with the commitments only.

    ``per`` counts by another period than the agreement's tracking period (``"week"``,
    ``"month"``, ``"quarter"``, ``"year"``). ``between`` gives one card for a date range
    instead, first and last day included, on the agreement's wall clock; its commitments and
    goal volumes are the periods' targets pro rata to the share of each period the range
    covers (rounded up), and it is compared with nothing.

    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> from leadsla import Engine, LeadCreated
    >>> engine = Engine()
    >>> at = datetime(2026, 3, 6, 16, tzinfo=ZoneInfo("Europe/Helsinki"))
    >>> _ = engine.apply(LeadCreated(id="e1", lead="L-1", at=at,
    ...                              fields={"email": "ann@acme.fi", "score": 62}))
    >>> _ = engine.advance(datetime(2026, 3, 9, 17, tzinfo=ZoneInfo("Europe/Helsinki")))
    >>> [card] = scorecard(engine)
    >>> card.period, [(score.obligation, score.breached) for score in card.obligations]
    ('2026-03', [('first-touch', 1), ('accept-or-reject', 1), ('attempts', 0)])
    """
    # One walk over every lead: the garbage collector, which would scan the engine's millions
    # of records again and again for the little this makes, waits until it is done.
    with gc_paused():
        return _cards(engine, per, between)


@attrs.define(eq=False)
class ScorecardParts:
    """What a scorecard is made of, gathered from one engine's leads: everything counted per
    period, each clock with its times, and the commitments' sums. The parts of engines that
    hold different leads (the partitions of one log) add up (:meth:`merge`) to the parts of
    one engine holding them all, and :func:`scorecard_of_parts` makes the same cards of
    either: what a partitioned replay uses (see :mod:`leadsla.distributed`)."""

    per: Period | None
    between: tuple[date, date] | None
    clocks: dict[str, dict[str, list[_Timed]]] = attrs.field(factory=dict)
    weeks: dict[str, Counter[tuple[str, str, bool]]] = attrs.field(factory=dict)
    entered: dict[str, Counter[str]] = attrs.field(factory=dict)
    reached: dict[str, Counter[tuple[str, str, str]]] = attrs.field(factory=dict)
    reasons: dict[str, Counter[tuple[str, str, str]]] = attrs.field(factory=dict)
    bounced: dict[str, list[tuple[datetime, str]]] = attrs.field(factory=dict)
    outside: Counter[str] = attrs.field(factory=Counter)
    sums: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)
    tally: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)
    clock: datetime | None = None

    def merge(self, other: ScorecardParts) -> ScorecardParts:
        """These parts with ``other``'s added (both gathered for the same periods)."""
        if (self.per, self.between) != (other.per, other.between):
            raise UsageError(
                Problem(
                    "parts",
                    f"per={other.per}, between={other.between}",
                    f"were gathered for other periods than per={self.per}, between={self.between}",
                    "gather every part with the same per and between",
                )
            )
        for when, named in other.clocks.items():
            mine = self.clocks.setdefault(when, {})
            for name, timed in named.items():
                mine.setdefault(name, []).extend(timed)
        for field in ("weeks", "entered", "reached", "reasons"):
            ours, theirs = getattr(self, field), getattr(other, field)
            for when, counts in theirs.items():
                ours.setdefault(when, Counter()).update(counts)
        for when, leads in other.bounced.items():
            self.bounced.setdefault(when, []).extend(leads)
        self.outside.update(other.outside)
        self.sums.update(other.sums)
        self.tally.update(other.tally)
        if other.clock is not None and (self.clock is None or other.clock > self.clock):
            self.clock = other.clock
        return self


def scorecard_parts(
    engine: Engine, *, per: Period | None = None, between: tuple[date, date] | None = None
) -> ScorecardParts:
    """The parts of ``engine``'s scorecard (see :class:`ScorecardParts`), for
    :func:`scorecard_of_parts`."""
    with gc_paused():
        return _gather(engine, per, between)


def scorecard_of_parts(parts: ScorecardParts, agreement: Agreement | Versions) -> list[PeriodCard]:
    """The scorecard of ``parts`` (merged from every partition), under the ``agreement`` (or
    versions) that made them: the cards :func:`scorecard` gives of one engine holding every
    lead."""
    versions = agreement if isinstance(agreement, Versions) else Versions([agreement])
    with gc_paused():
        return _finish(parts, versions)


class _Periods:
    """How a scorecard names periods: the agreement's tracking period, ``per``, or one
    range (``between``)."""

    def __init__(
        self, agreement: Agreement, per: Period | None, between: tuple[date, date] | None
    ) -> None:
        self.zone = ZoneInfo(agreement.timezone)
        self.kind: Period = per or agreement.tracking_period
        if per is not None and per not in PERIODS:
            raise UsageError(unknown("per", per, PERIODS, "per"))
        self.window = None if between is None else _Window.of(between, self.zone)

    def __call__(self, moment: datetime) -> str | None:
        if self.window is not None:
            return self.window.name if self.window.holds(moment) else None
        return period_of(moment, self.kind, self.zone)


def _specs(versions: Versions) -> dict[str, ObligationSpec]:
    """Every obligation of every version: the newest version's first, in its order."""
    specs: dict[str, ObligationSpec] = {}
    for version in reversed(versions.agreements):
        for spec in version.obligations:
            specs.setdefault(spec.name, spec)
    return specs


def _cards(
    engine: Engine, per: Period | None, between: tuple[date, date] | None
) -> list[PeriodCard]:
    """The cards of :func:`scorecard`."""
    return _finish(_gather(engine, per, between), engine.versions)


def _gather(
    engine: Engine, per: Period | None, between: tuple[date, date] | None
) -> ScorecardParts:
    """The parts of :func:`scorecard_parts`: one walk over the engine's leads."""
    agreement = engine.agreement
    zone = ZoneInfo(agreement.timezone)
    period = _Periods(agreement, per, between)
    window = period.window
    versions = engine.versions
    multi = len(versions) > 1
    specs = _specs(versions)
    terminal = {state.name for state in agreement.lifecycle.states if state.terminal}
    steps = _funnel_steps(agreement)
    funnel = agreement.funnel()
    goal_states = [stage.state for stage in reversed(funnel.stages)] if funnel else []
    # The moves that must say why (backward moves, losses): their reasons are worth a line.
    explained = {t.trigger for t in agreement.lifecycle.transitions if t.requires_reason}
    measures = {name: _measure(spec, agreement) for name, spec in specs.items()}
    pinned: str | None = None
    parts = ScorecardParts(per, between, clock=engine.clock)
    clocks, weeks, bounced = parts.clocks, parts.weeks, parts.bounced
    entered: dict[str, Counter[str]] = defaultdict(Counter)
    reached: dict[str, Counter[tuple[str, str, str]]] = defaultdict(Counter)
    reasons: dict[str, Counter[tuple[str, str, str]]] = defaultdict(Counter)
    outside, sums = parts.outside, parts.sums
    for lead_id in engine.leads():
        view = engine.lead(lead_id)
        if not view.lead.is_lead:  # counted apart, in no other figure (it has none)
            assert view.lead.standing is not None
            when = period(view.lead.standing.at)
            if when is not None:
                outside[when] += 1
            continue
        if multi:
            pinned = versions.of(view.lead).version
        for clock in view.obligations:
            when = period(clock.opened_at)
            if when is None:
                continue
            if multi and view.lead.migrations:
                pinned = _judged_by(versions, view, clock)
            owner, measure = accountable(view, clock), measures[clock.name][1]
            if clock.calendar is not None:  # counted on the calendar it opened with
                measured = f"{clock.name}\x00{clock.calendar}"
                if measured not in measures:
                    measures[measured] = _measure(specs[clock.name], agreement, clock.calendar)
                measure = measures[measured][1]
            timed = _Timed.of(clock, owner, measure, pinned)
            clocks.setdefault(when, {}).setdefault(clock.name, []).append(timed)
            outcome = outcome_of(clock)
            if outcome in ("on time", "met late", "breached"):
                week = period_of(clock.opened_at, "week", zone)
                weeks.setdefault(when, Counter())[(week, clock.name, outcome == "on time")] += 1
        third = _third_team_change(view)
        when = None if third is None else period(third)
        if when is not None:
            assert third is not None
            bounced.setdefault(when, []).append((third, lead_id))
        history = view.lead.history
        labels = [period(move.at) for move in history]
        for move, when in zip(history, labels, strict=True):
            if when is None:
                continue
            entered[when][move.dest] += 1
            if move.reason and move.trigger in explained:
                assert move.trigger is not None
                reasons[when][(move.trigger, move.dest, move.reason)] += 1
        open_ = view.state not in terminal
        _reached(history, labels, steps, goal_states, open_, reached)
        if window is not None:
            sums.update(
                contribution(
                    history,
                    agreement.commitments,
                    zone,
                    lambda moment, _commitment: period(moment),
                )
            )
    parts.entered, parts.reached, parts.reasons = dict(entered), dict(reached), dict(reasons)
    if window is None:
        parts.tally.update(engine.state().ledger.tally.snapshot())
    return parts


def _finish(parts: ScorecardParts, versions: Versions) -> list[PeriodCard]:
    """The cards of gathered ``parts``."""
    agreement = versions.latest
    zone = ZoneInfo(agreement.timezone)
    window = _Periods(agreement, parts.per, parts.between).window
    multi = len(versions) > 1
    specs = _specs(versions)
    steps = _funnel_steps(agreement)
    funnel = agreement.funnel()
    goal_states = [stage.state for stage in reversed(funnel.stages)] if funnel else []
    units = {name: _measure(spec, agreement)[0] for name, spec in specs.items()}
    clocks, weeks, outside = parts.clocks, parts.weeks, parts.outside
    entered, reached, reasons = parts.entered, parts.reached, parts.reasons
    # Bounced leads by when they bounced, then by id: the same whichever engine held them.
    bounced = {when: [lead for _, lead in sorted(leads)] for when, leads in parts.bounced.items()}
    if window is None:
        tally = tally_of(versions)
        tally.absorb(parts.tally)
        found = tally.volumes()
    else:
        sums = Counter(parts.sums)
        # A range asked for gets its card, and each commitment its line, even when empty.
        for commitment in agreement.commitments:
            sums[("delivered", commitment.name, window.name)] += 0
        found = volumes(
            sums,
            agreement.commitments,
            lambda commitment, _name: window.pro_rata(
                Fraction(commitment.at_least), commitment.per
            ),
        )
    volumes_in: dict[str, list[Volume]] = defaultdict(list)
    for volume in found:
        volumes_in[volume.period].append(volume)
    order = {name: position for position, name in enumerate(agreement.lifecycle.state_names)}
    cards = []
    names = {
        *clocks,
        *entered,
        *volumes_in,
        *bounced,
        *outside,
        *([window.name] if window else []),
    }
    for when in sorted(names, key=chronological) if window is None else sorted(names):
        scores, by_owner, by_version, by_tier = [], [], [], []
        for name, spec in specs.items():
            found_clocks = clocks.get(when, {}).get(name, [])
            if not found_clocks:
                continue
            unit = units[name]
            scores.append(_score(spec, unit, found_clocks))
            owners: dict[tuple[str, str], list[_Timed]] = defaultdict(list)
            for timed in found_clocks:
                owner = timed.owner
                key = (owner.team, owner.person or "") if owner else ("", "")
                owners[key].append(timed)
            for (team, person), mine in sorted(owners.items()):
                score = _score(spec, unit, mine)
                by_owner.append(attrs.evolve(score, team=team or None, person=person or None))
            if multi and len({timed.version for timed in found_clocks}) > 1:
                by_version.extend(_by_version(versions, name, found_clocks))
            if spec.tiers:
                by_tier.extend(_by_tier(spec, unit, found_clocks))
        counts = reached.get(when, Counter())
        cards.append(
            PeriodCard(
                when,
                tuple(volumes_in.get(when, ())),
                tuple(scores),
                tuple(
                    sorted(
                        entered.get(when, Counter()).items(),
                        key=lambda item: order.get(item[0], len(order)),
                    )
                ),
                tuple(
                    Reason(trigger, state, reason, count)
                    for (trigger, state, reason), count in sorted(
                        reasons.get(when, Counter()).items(),
                        key=lambda item: (
                            order.get(item[0][1], len(order)),
                            item[0][0],
                            -item[1],
                            item[0][2],
                        ),
                    )
                ),
                tuple(by_owner),
                tuple(bounced.get(when, ())),
                window.elapsed(parts.clock) if window else _elapsed(when, parts.clock, zone),
                tuple(
                    WeekScore(week, name, on_time, due)
                    for week, name, on_time, due in _weeks(weeks.get(when, Counter()), specs)
                ),
                tuple(
                    FunnelStep(
                        source,
                        dest,
                        counts[("entered", source, dest)],
                        counts[("reached", source, dest)],
                        counts[("in flight", source, dest)],
                        None if assumed is None else float(assumed),
                    )
                    for source, dest, assumed in steps
                    if counts[("entered", source, dest)]
                ),
                tuple(
                    GoalVolume(
                        state,
                        counts[("goal", state, "")],
                        _needed(funnel, state, when, window),
                    )
                    for state in goal_states
                )
                if funnel is not None and entered.get(when)
                else (),
                tuple(by_version),
                tuple(by_tier),
                outside[when],
            )
        )
    return cards


def _by_tier(spec: ObligationSpec, unit: str, timed: Sequence[_Timed]) -> list[ObligationScore]:
    """One obligation's clocks of a period split by the tier that set their deadlines, each
    scored against that tier's target (a clock of a tier the obligation no longer has, under
    its name)."""
    targets = {name or DEFAULT_TIER: within for within, name in spec.targets}
    tiers: dict[str, list[_Timed]] = defaultdict(list)
    for item in timed:
        tiers[item.clock.tier or DEFAULT_TIER].append(item)
    order = list(targets)
    scores = []
    for tier in sorted(
        tiers, key=lambda name: (order.index(name) if name in order else len(order), name)
    ):
        score = _score(spec, unit, tiers[tier])
        within = targets.get(tier)
        target = _target(spec, within) if within else None
        scores.append(attrs.evolve(score, tier=tier, target=target))
    return scores


def _judged_by(versions: Versions, view: LeadView, clock: ObligationState) -> str:
    """The version that judged a migrated lead's clock: the one judging the lead when the
    clock opened; for a clock a migration opened again, that migration's."""
    lead = view.lead
    created = lead.created_at
    version = versions.in_force(created).version if created else versions.latest.version
    for twin in view.obligations:
        if (
            twin.name == clock.name
            and twin.number == clock.number - 1
            and (twin.outcome or "").endswith(": recomputed")
        ):
            for when, name in lead.migrations:
                if when == twin.cancelled_at:
                    return name
    for when, name in lead.migrations:
        if when <= clock.opened_at:
            version = name
    return version


def _by_version(versions: Versions, name: str, timed: Sequence[_Timed]) -> list[ObligationScore]:
    """One obligation's clocks of a period split by the version judging their leads, each
    scored by its own version's obligation (its target, its unit), oldest version first."""
    scores = []
    for agreement in versions:
        mine = [item for item in timed if item.version == agreement.version]
        spec = next((spec for spec in agreement.obligations if spec.name == name), None)
        if not mine or spec is None:
            continue
        again = [
            _Timed.of(
                item.clock,
                item.owner,
                _measure(spec, agreement, item.clock.calendar)[1],
                item.version,
            )
            for item in mine
        ]
        unit = _measure(spec, agreement)[0]
        scores.append(attrs.evolve(_score(spec, unit, again), version=agreement.version))
    return scores


def _weeks(
    counts: Counter[tuple[str, str, bool]], specs: dict[str, ObligationSpec]
) -> list[tuple[str, str, int, int]]:
    """(week, obligation, on time, due), in week and agreement order, from counts of the due
    clocks by (week, obligation, on time)."""
    order = {name: position for position, name in enumerate(specs)}
    due: Counter[tuple[str, str]] = Counter()
    for (week, name, _), count in counts.items():
        due[(week, name)] += count
    return [
        (week, name, counts[(week, name, True)], total)
        for (week, name), total in sorted(
            due.items(), key=lambda item: (chronological(item[0][0]), order[item[0][1]])
        )
    ]


def _funnel_steps(agreement: Agreement) -> list[tuple[str, str, Fraction | None]]:
    """The funnel's steps: each staged state to the next (lead -> mql -> sal -> sql -> won),
    with the goal's rate where it names that step, then the goal's conversions that skip a
    stage (mql -> sql), in the order of their first state."""
    staged = sorted(
        (state for state in agreement.lifecycle.states if state.stage is not None),
        key=lambda state: state.stage or 0,
    )
    rates = {
        (source, dest): rate
        for source, dest, rate in (agreement.goal.conversions if agreement.goal else ())
    }
    steps: list[tuple[str, str, Fraction | None]] = [
        (earlier.name, later.name, rates.pop((earlier.name, later.name), None))
        for earlier, later in itertools.pairwise(staged)
    ]
    rank = {state.name: state.stage or 0 for state in staged}
    steps.extend((source, dest, rate) for (source, dest), rate in rates.items())
    return sorted(steps, key=lambda step: (rank.get(step[0], 99), rank.get(step[1], 99)))


def _reached(
    history: Sequence[Transitioned],
    labels: Sequence[str | None],
    steps: Sequence[tuple[str, str, Fraction | None]],
    goal_states: Sequence[str],
    open_: bool,
    found: dict[str, Counter[tuple[str, str, str]]],
) -> None:
    """One lead's part in the funnel, per period: for each step whose first state it entered
    in the period (the first such entry counts), ``entered``, then ``reached`` (it entered the
    step's last state later) or ``in flight`` (it did not, and is in no terminal state); and
    ``goal`` for each goal state it entered in the period: added to ``found``."""
    entries: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for index, (move, when) in enumerate(zip(history, labels, strict=True)):
        entries[move.dest].append((index, when))
    for source, dest, _ in steps:
        seen: set[str] = set()
        last = entries[dest][-1][0] if dest in entries else -1
        for index, when in entries.get(source, ()):
            if when is None or when in seen:
                continue
            seen.add(when)
            counts = found[when]
            counts[("entered", source, dest)] += 1
            if last > index:
                counts[("reached", source, dest)] += 1
            elif open_:
                counts[("in flight", source, dest)] += 1
    for state in goal_states:
        for when in {when for _, when in entries.get(state, ()) if when is not None}:
            found[when][("goal", state, "")] += 1


def _needed(funnel: Funnel, state: str, when: str, window: _Window | None) -> int:
    """What the goal needs of ``state`` in the period or range named ``when``."""
    stage = funnel.stage(state)
    assert stage is not None
    if window is not None:
        return window.pro_rata(stage.per_goal_period, funnel.goal.per)
    return stage.needed(funnel.goal.per, _kind(when))


def _is_range(name: str) -> bool:
    """Whether a card's name is a date range's (``2026-03-01 to 2026-03-15``)."""
    return " to " in name


def _kind(name: str) -> Period:
    """The kind of period a label names (``2026-03``: a month)."""
    rest = name[5:]
    if not rest:
        return "year"
    return "quarter" if rest[0] == "Q" else "week" if rest[0] == "W" else "month"


@frozen
class _Window:
    """A date range of a report: first and last day included, on the agreement's wall clock."""

    first: date
    last: date
    start: datetime
    end: datetime  # exclusive: midnight after the last day

    @classmethod
    def of(cls, between: tuple[date, date], zone: ZoneInfo) -> _Window:
        first, last = between
        if last < first:
            raise UsageError(
                Problem(
                    "between",
                    f"{first.isoformat()} to {last.isoformat()}",
                    "ends before it starts",
                    "give the first day, then the last day (both included)",
                )
            )
        following = last + timedelta(days=1)
        return cls(
            first,
            last,
            datetime(first.year, first.month, first.day, tzinfo=zone),
            datetime(following.year, following.month, following.day, tzinfo=zone),
        )

    @property
    def name(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def elapsed(self, clock: datetime | None) -> float | None:
        """How much of the range had passed at ``clock`` (None: all of it, or no clock)."""
        if clock is None or clock >= self.end:
            return None
        now_us, start_us, end_us = (instant_us(t, "clock") for t in (clock, self.start, self.end))
        return max(0.0, (now_us - start_us) / (end_us - start_us))

    def pro_rata(self, amount: Fraction, kind: Period) -> int:
        """``amount`` per ``kind`` of period, over the range: each period's share of it by the
        days the range covers, summed, rounded up."""
        total = Fraction(0)
        day = self.first
        while day <= self.last:
            name = label(datetime(day.year, day.month, day.day), kind)
            first, _ = chronological(name)
            following = _following(name, first)
            covered = (min(following, self.last + timedelta(days=1)) - day).days
            total += amount * Fraction(covered, (following - first).days)
            day = following
        return ceil(total)


def _third_team_change(view: LeadView) -> datetime | None:
    """When a lead's owning team changed for the third time (None: it did not)."""
    changes = 0
    ownership = view.lead.ownership
    for earlier, later in itertools.pairwise(ownership):
        if later.owner.team != earlier.owner.team:
            changes += 1
            if changes == 3:
                return later.start
    return None


def _elapsed(name: str, clock: datetime | None, zone: ZoneInfo) -> float | None:
    """How much of period ``name`` had passed at ``clock`` (None: all of it, or no clock)."""
    if clock is None:
        return None
    first, _ = chronological(name)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    following = _following(name, first)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    now_us, start_us, end_us = (instant_us(t, "clock") for t in (clock, start, end))
    if now_us >= end_us:
        return None
    return max(0.0, (now_us - start_us) / (end_us - start_us))


def _following(name: str, first: date) -> date:
    """The first day of the period after the one named ``name`` (which starts on ``first``)."""
    rest = name[5:]
    if not rest:
        return date(first.year + 1, 1, 1)
    if rest.startswith("W"):
        return first + timedelta(days=7)
    months = 3 if rest.startswith("Q") else 1
    month = first.month + months
    return date(first.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def accountable(view: LeadView, clock: ObligationState) -> Owner | None:
    """Who a clock counts for: the owner when it was decided (see ObligationScore)."""
    if clock.breached_at is not None:
        return clock.breach_owner
    decided = clock.met_at or clock.cancelled_at
    if decided is None:
        return view.owner
    # The owner just before: the move that met or cancelled the clock (a rejection, a
    # handback) may hand the lead over at that very instant.
    if decided > clock.opened_at:
        before = view.lead.owner_at(decided - timedelta(microseconds=1))
        if before is not None:
            return before
    return view.lead.owner_at(decided)


@frozen
class _Timed:
    """A clock, who it counts for, and its times measured once in its obligation's unit: to
    meet it (None: not met) and past its deadline (None: not met late)."""

    clock: ObligationState
    owner: Owner | None
    to_meet: Fraction | None
    late: Fraction | None
    version: str | None  # of the agreement judging the lead (None: it has one version)

    @classmethod
    def of(
        cls,
        clock: ObligationState,
        owner: Owner | None,
        measure: Callable[[datetime, datetime], Fraction],
        version: str | None,
    ) -> _Timed:
        met = clock.met_at
        if met is None:
            return cls(clock, owner, None, None, version)
        late = measure(clock.due_at, met) if clock.status == "met_late" else None
        return cls(clock, owner, measure(clock.opened_at, met), late, version)


def _score(spec: ObligationSpec, unit: str, timed: Sequence[_Timed]) -> ObligationScore:
    outcomes = Counter(outcome_of(item.clock) for item in timed)
    owners: Counter[str] = Counter()
    for item in timed:
        if item.clock.breached_at is not None:
            owners[owner_name(item.clock.breach_owner)] += 1
    # Sorted by their floats (one division each, where comparing fractions costs several),
    # the exact values kept for the median.
    met = sorted((item.to_meet for item in timed if item.to_meet is not None), key=float)
    late = [item.late for item in timed if item.late is not None]
    return ObligationScore(
        spec.name,
        spec.party,
        len(timed),
        outcomes["on time"],
        outcomes["met late"],
        outcomes["breached"],
        outcomes["cancelled"],
        outcomes["open"],
        unit,
        _spread(met) if met else None,
        float(sum(late, Fraction(0))),
        float(max(late)) if late else None,
        tuple(sorted(owners.items(), key=lambda item: (-item[1], item[0]))),
        target=_target(spec),
        times=tuple(map(float, met)),
    )


#: A deadline's unit in hours, for a target in hours (business minutes are a share of a
#: business hour).
_IN_HOURS: Final[dict[str, Fraction]] = {
    "seconds": Fraction(1, 3600),
    "minutes": Fraction(1, 60),
    "hours": Fraction(1),
}


def _target(spec: ObligationSpec, within: Duration | None = None) -> float:
    """The obligation's target (or a tier's, ``within``) in the obligation's own unit (see
    :func:`_measure`): days for a deadline in days or weeks, else hours. (A tier counts
    business days where its obligation does, and the same for hours; in calendar time, a day
    is 24 hours.)"""
    target = spec.within if within is None else within
    in_days = target.unit in ("days", "weeks")
    if in_days:
        amount = target.amount * (7 if target.unit == "weeks" else 1)
    else:
        amount = target.amount * _IN_HOURS[target.unit]
    if spec.within.unit in ("days", "weeks"):
        return float(amount if in_days else amount / 24)
    return float(amount * 24 if in_days else amount)


def _measure(
    spec: ObligationSpec, agreement: Agreement, calendar_name: str | None = None
) -> tuple[str, Callable[[datetime, datetime], Fraction]]:
    """The obligation's unit of time, and how to measure a span in it: on ``calendar_name``
    (the one a clock opened with), else the obligation's own, else the default one."""
    within = spec.within
    days = within.unit in ("days", "weeks")
    if within.business:
        name = calendar_name or spec.calendar
        if name in CALENDAR_CHOICES or name not in agreement.calendars:
            name = agreement.default_calendar
        calendar = agreement.calendar(name)
        if days:
            return "business days", calendar.elapsed_days
        return "business hours", lambda start, end: _hours(calendar.elapsed(start, end))
    if days:
        return "days", lambda start, end: _between(start, end) / 24
    return "hours", _between


def _spread(ordered: list[Fraction]) -> TimeToMeet:
    """Median, p90 (nearest rank) and max of sorted values."""
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    p90 = ordered[ceil(Fraction(9, 10) * len(ordered)) - 1]
    return TimeToMeet(float(median), float(p90), float(ordered[-1]), len(ordered))


def _between(start: datetime, end: datetime) -> Fraction:
    """Hours from ``start`` to ``end`` as instants (not wall clocks: a day of a daylight-saving
    change has 23 or 25 hours)."""
    return Fraction(instant_us(end, "end") - instant_us(start, "start"), 3_600_000_000)


def _hours(span: timedelta) -> Fraction:
    return Fraction(span_us(span), 3_600_000_000)


def _amount(value: float, unit: str) -> str:
    """An amount of time in a table cell: ``1.5 d``, ``5.1 h`` (the unit said under it)."""
    return f"{value:.1f} {'d' if unit.endswith('days') else 'h'}"


_OWNER_HEADER: Final = (
    "obligation, owner",
    *OUTCOMES,
    "attainment",
    "median",
    "worst late",
)


def _whose(score: ObligationScore) -> str:
    """Whose clocks a row of the per-owner or per-version table scores: ``carol (sales)``, a
    team, ``nobody``, or ``version 2 (2.0 h)`` with the version's own target, short."""
    if score.version is not None or score.tier is not None:
        target = "" if score.target is None else f" ({_amount(score.target, score.unit)})"
        if score.tier is not None:
            return f"tier {score.tier}{target}"
        return f"version {score.version}{target}"
    who = score.person or score.team or "nobody"
    return f"{who} ({score.team})" if score.person and score.team else who


def _owner_rows(scores: Sequence[ObligationScore], markdown: bool) -> list[tuple[str, ...]]:
    """The per-owner table: each obligation's name on a row of its own, its owners under it
    (in Markdown, the name on every row)."""
    rows: list[tuple[str, ...]] = []
    for obligation, group in itertools.groupby(scores, key=lambda score: score.obligation):
        if not markdown:
            rows.append((obligation, *[""] * (len(_OWNER_HEADER) - 1)))
        for score in group:
            who = _whose(score)
            worst = score.lateness_worst
            rows.append(
                (
                    f"{obligation}: {who}" if markdown else f"  {who}",
                    *_outcome_cells(score),
                    _spans(score)[0],
                    "-" if worst is None else _amount(worst, score.unit),
                )
            )
    return rows


def _units_said(scores: Sequence[ObligationScore]) -> str:
    """The sentence under the table that says each obligation's unit of time."""
    by_unit: dict[str, list[str]] = defaultdict(list)
    for score in scores:
        if score.to_meet is not None:
            by_unit[score.unit].append(score.obligation)
    parts = [
        f"in {unit} ({'d' if unit.endswith('days') else 'h'}): {', '.join(names)}"
        for unit, names in sorted(by_unit.items())
    ]
    return "Time to meet, from opening, " + "; ".join(parts) + "." if parts else ""


def _outcome_cells(score: ObligationScore) -> tuple[str, ...]:
    """The clocks by outcome (in :data:`OUTCOMES`' order), then the attainment."""
    counts = (score.on_time, score.met_late, score.breached, score.cancelled, score.open)
    attainment = f"{score.attainment:.0%}" if score.attainment is not None else "-"
    return (*map(str, counts), attainment)


def _spans(score: ObligationScore) -> tuple[str, str]:
    to_meet = score.to_meet
    if to_meet is None:
        return "-", "-"
    return _amount(to_meet.median, score.unit), _amount(to_meet.p90, score.unit)


_FORMATS: Final = ("text", "md", "json", "csv", "html")


def render_scorecard(
    cards: Sequence[PeriodCard], format: ReportFormat = "text", *, title: str = "Scorecard"
) -> str:
    """The scorecard as plain text, Markdown, JSON (every figure, as :func:`scorecard_data`
    gives it), CSV (a row per period, obligation and owner, the figures in columns: see
    :data:`CSV_COLUMNS`) or HTML (one self-contained page with charts, drawn when the
    ``report`` extra is installed)."""
    if format not in _FORMATS:
        raise UsageError(unknown("format", format, _FORMATS, "format"))
    if format == "html":
        from leadsla._shell.html_report import render_html

        with gc_paused():  # beside a large engine's records (see scorecard)
            return render_html(cards, title=title)
    if format == "json":
        return json.dumps(scorecard_data(cards, title=title), ensure_ascii=False, indent=1) + "\n"
    if format == "csv":
        return _csv(cards)
    markdown = format == "md"
    bullet = "- " if markdown else "  "
    lines = [f"# {_md(title, True)}" if markdown else title]
    if not cards:
        lines.extend(["", "No events: nothing to score."])
    for previous, card in zip(_previous_cards(cards), cards, strict=True):
        lines.append("")
        lines.append(f"## {_md(card.period, True)}" if markdown else card.period)
        lines.extend(_section("Commitments", markdown))
        if card.volumes:
            for volume in card.volumes:
                pace = ""
                if card.elapsed is not None:
                    expected = volume.target * card.elapsed
                    side = "ahead" if volume.delivered >= expected else "behind"
                    pace = (
                        f" so far ({card.elapsed:.0%} of the period gone: pace "
                        f"{round(expected)} by now, {side})"
                    )
                lines += _bullet(
                    f"{volume.commitment}: {volume.delivered} of {volume.target} delivered"
                    + accepted(volume)
                    + (pace or f": {'met' if volume.met else 'not met'}"),
                    markdown,
                )
        else:
            lines.append(f"{bullet}nothing delivered")
        lines.extend(_section("Obligations (clocks opened in the period)", markdown))
        header = ("obligation", "opened", *OUTCOMES, "attainment", "median", "p90")
        rows = [
            (
                score.obligation,
                str(score.opened),
                *_outcome_cells(score),
                *_spans(score),
            )
            for score in card.obligations
        ]
        lines.extend(_table(header, rows, markdown))
        said = _units_said(card.obligations)
        if said and markdown:
            lines += ["", _md(said, True)]
        elif said:
            lines += textwrap.wrap(said, 98, initial_indent="  ", subsequent_indent="  ")
        if card.by_owner:
            lines.extend(
                _section("By owner (who had the lead when each clock was decided)", markdown)
            )
            lines.extend(_table(_OWNER_HEADER, _owner_rows(card.by_owner, markdown), markdown))
        if card.by_version:
            lines.extend(_section("By agreement version (the one judging each lead)", markdown))
            header = ("obligation, version", *_OWNER_HEADER[1:])
            lines.extend(_table(header, _owner_rows(card.by_version, markdown), markdown))
        if card.by_tier:
            lines.extend(_section("By tier (the target each clock opened with)", markdown))
            header = ("obligation, tier", *_OWNER_HEADER[1:])
            lines.extend(_table(header, _owner_rows(card.by_tier, markdown), markdown))
        breaches = [score for score in card.obligations if score.breaches_by_owner]
        if breaches:
            lines.extend(_section("Deadlines missed (met late or breached), by owner", markdown))
            for score in breaches:
                owners = ", ".join(f"{who} {count}" for who, count in score.breaches_by_owner)
                lines += _bullet(f"{score.obligation}: {owners}", markdown)
        if previous is not None and (card.obligations or card.volumes):
            change = _change(previous, card)
            lines.extend(_section(f"Against {previous.period}", markdown))
            for said in change:
                lines += _bullet(said, markdown)
        if card.goal:
            lines.extend(_section("The goal's volumes (leads entering each state)", markdown))
            lines.extend(_table(*_goal_rows(card), markdown))
        if card.funnel:
            said = "Conversion (of the leads entering each step's first state in the period)"
            lines.extend(_section(said, markdown))
            lines.extend(_table(*_funnel_rows(card), markdown))
        if card.bounced:
            lines.extend(_section("Leads that went between teams more than twice", markdown))
            lines += _bullet(f"{len(card.bounced)}: " + ", ".join(card.bounced), markdown)
        if card.entered:
            lines.extend(_section("Leads entering each state", markdown))
            entered = ", ".join(f"{state} {count}" for state, count in card.entered)
            lines.append(f"{bullet}{_md(entered, markdown)}")
        if card.reasons:
            lines.extend(_section("Why leads went back or were lost", markdown))
            for item in card.reasons:
                said = f"{item.state} ({item.trigger}): {item.reason} {item.count}"
                lines.append(f"{bullet}{_md(said, markdown)}")
        if card.not_leads:
            lines.extend(_section("Records not leads (the lead term did not hold)", markdown))
            lines += _bullet(not_leads_said(card.not_leads), markdown)
    return "\n".join(lines) + "\n"


def not_leads_said(count: int) -> str:
    """The scorecard's line on the records kept outside the lifecycle."""
    return (
        f"{count} {'record' if count == 1 else 'records'} created in the period, kept outside "
        "the lifecycle (in no other figure)"
    )


def _goal_rows(card: PeriodCard) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The goal's states: leads entering each, what the goal needs (and the pace by now)."""
    header: tuple[str, ...] = ("state", "entered", "needed")
    if card.elapsed is not None:
        header += ("pace by now",)
    rows = []
    for volume in card.goal:
        row: tuple[str, ...] = (volume.state, str(volume.entered), str(volume.needed))
        if card.elapsed is not None:
            row += (str(round(volume.needed * card.elapsed)),)
        rows.append(row)
    return header, rows


def _funnel_rows(card: PeriodCard) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The funnel's steps: entered, reached, in flight, the rate so far, the goal's rate."""
    header: tuple[str, ...] = ("step", "entered", "reached", "in flight", "rate", "assumed")
    rows: list[tuple[str, ...]] = [
        (
            f"{step.source} -> {step.dest}",
            str(step.entered),
            str(step.reached),
            str(step.in_flight),
            "-" if step.rate is None else f"{step.rate:.0%}",
            "-" if step.assumed is None else f"{step.assumed:.0%}",
        )
        for step in card.funnel
    ]
    return header, rows


#: The columns of the CSV scorecard: one row per period and obligation (``team`` and
#: ``person`` empty: everyone), then one per period, obligation and owner. Times are in
#: ``unit``; empty cells are figures that do not exist (no clock met, none due).
CSV_COLUMNS: Final = (
    "period",
    "obligation",
    "party",
    "team",
    "person",
    "version",
    "tier",
    "opened",
    "on_time",
    "met_late",
    "breached",
    "cancelled",
    "open",
    "attainment",
    "unit",
    "target",
    "met",
    "median_to_meet",
    "p90_to_meet",
    "max_to_meet",
    "lateness_total",
    "lateness_worst",
    "not_leads",
)


def _score_data(score: ObligationScore) -> dict[str, Any]:
    to_meet = score.to_meet
    return {
        "obligation": score.obligation,
        "party": score.party,
        "team": score.team,
        "person": score.person,
        "version": score.version,
        "tier": score.tier,
        "opened": score.opened,
        "on_time": score.on_time,
        "met_late": score.met_late,
        "breached": score.breached,
        "cancelled": score.cancelled,
        "open": score.open,
        "attainment": score.attainment,
        "unit": score.unit,
        "target": score.target,
        "met": 0 if to_meet is None else to_meet.count,
        "median_to_meet": None if to_meet is None else to_meet.median,
        "p90_to_meet": None if to_meet is None else to_meet.p90,
        "max_to_meet": None if to_meet is None else to_meet.max,
        "lateness_total": score.lateness_total,
        "lateness_worst": score.lateness_worst,
        "breaches_by_owner": dict(score.breaches_by_owner),
    }


def scorecard_data(cards: Sequence[PeriodCard], *, title: str = "Scorecard") -> dict[str, Any]:
    """The scorecard as plain data (what ``--format json`` writes): the title and, per
    period, the commitments (``volumes``), the obligations' scores (``obligations``, the
    same per owner in ``by_owner``), the leads entering each state and the reasons."""
    return {
        "title": title,
        "periods": [
            {
                "period": card.period,
                "volumes": [{**attrs.asdict(volume), "met": volume.met} for volume in card.volumes],
                "obligations": [_score_data(score) for score in card.obligations],
                "by_owner": [_score_data(score) for score in card.by_owner],
                "by_version": [_score_data(score) for score in card.by_version],
                "by_tier": [_score_data(score) for score in card.by_tier],
                "entered": dict(card.entered),
                "reasons": [attrs.asdict(reason) for reason in card.reasons],
                "funnel": [{**attrs.asdict(step), "rate": step.rate} for step in card.funnel],
                "goal": [attrs.asdict(volume) for volume in card.goal],
                "weeks": [attrs.asdict(week) for week in card.weeks],
                "bounced": list(card.bounced),
                "not_leads": card.not_leads,
                "elapsed": card.elapsed,
                "change": None if previous is None else _change_data(previous, card),
            }
            for previous, card in zip(_previous_cards(cards), cards, strict=True)
        ],
    }


def _previous_cards(cards: Sequence[PeriodCard]) -> list[PeriodCard | None]:
    """For each card, the card of the period just before it, of the same kind (a month's the
    month before; a week's the week before): an empty card when that period had no events,
    None when the scorecard does not reach back so far."""
    if any(_is_range(card.period) for card in cards):
        return [None for _ in cards]
    by_period = {card.period: card for card in cards}
    earliest: dict[int, tuple[date, int]] = {}
    for card in cards:
        key = chronological(card.period)
        earliest[key[1]] = min(earliest.get(key[1], key), key)
    found: list[PeriodCard | None] = []
    for card in cards:
        name = before(card.period)
        if name in by_period:
            found.append(by_period[name])
        elif chronological(name) >= earliest[chronological(card.period)[1]]:
            found.append(PeriodCard(name, (), (), (), ()))
        else:
            found.append(None)
    return found


def _pairs(
    previous: PeriodCard, card: PeriodCard
) -> tuple[list[tuple[ObligationScore, ObligationScore]], list[tuple[Volume, Volume]]]:
    """The obligations and commitments scored in both periods, paired."""
    before = {score.obligation: score for score in previous.obligations}
    volumes = {volume.commitment: volume for volume in previous.volumes}
    return (
        [(before[s.obligation], s) for s in card.obligations if s.obligation in before],
        [(volumes[v.commitment], v) for v in card.volumes if v.commitment in volumes],
    )


def _median(score: ObligationScore) -> float | None:
    return None if score.to_meet is None else score.to_meet.median


def _difference(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else now - then


def _change_data(previous: PeriodCard, card: PeriodCard) -> dict[str, Any]:
    """What changed since the period before (``now - then``; None where either is missing)."""
    scores, volumes = _pairs(previous, card)
    return {
        "against": previous.period,
        "obligations": [
            {
                "obligation": now.obligation,
                "opened": now.opened - then.opened,
                "breached": now.breached - then.breached,
                "attainment": _difference(now.attainment, then.attainment),
                "median_to_meet": _difference(_median(now), _median(then)),
            }
            for then, now in scores
        ],
        "volumes": [
            {
                "commitment": later.commitment,
                "delivered": later.delivered - earlier.delivered,
                "accepted": later.accepted - earlier.accepted,
            }
            for earlier, later in volumes
        ],
    }


def _change(previous: PeriodCard, card: PeriodCard) -> list[str]:
    """The change since the period before, a line per obligation and commitment."""
    if not (previous.obligations or previous.volumes or previous.entered):
        return [f"no events in {previous.period}"]
    scores, volumes = _pairs(previous, card)
    lines = []
    for then, now in scores:
        parts = []
        if now.attainment is not None:
            moved = _difference(now.attainment, then.attainment)
            parts.append(
                f"attainment {now.attainment:.0%}"
                + ("" if moved is None else f" ({round(moved * 100):+d} pp)")
            )
        if now.to_meet is not None:
            median = now.to_meet.median
            moved = _difference(median, _median(then))
            unit = "d" if now.unit.endswith("days") else "h"
            parts.append(
                f"median {_amount(median, now.unit)}"
                + ("" if moved is None else f" ({moved:+.1f} {unit})")
            )
        parts.append(f"breached {now.breached} ({now.breached - then.breached:+d})")
        lines.append(f"{now.obligation}: " + ", ".join(parts))
    for earlier, later in volumes:
        moved = later.delivered - earlier.delivered
        lines.append(f"{later.commitment}: {later.delivered} delivered ({moved:+d})")
    return lines


def _csv(cards: Sequence[PeriodCard]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for card in cards:
        scores = (*card.obligations, *card.by_owner, *card.by_version, *card.by_tier)
        for score in scores:
            row = {"period": card.period, **_score_data(score), "not_leads": card.not_leads}
            writer.writerow({key: _cell(value) for key, value in row.items()})
        if not scores and card.not_leads:  # a period with records that are not leads only
            writer.writerow({"period": card.period, "not_leads": card.not_leads})
    return out.getvalue()


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as written: text that it would take for a formula (a
    name from a web form such as ``=HYPERLINK(...)``) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _bullet(text: str, markdown: bool) -> list[str]:
    """A bullet line: in Markdown one line, in text wrapped within 100 columns."""
    if markdown:
        return [f"- {_md(text, True)}"]
    return textwrap.wrap(_md(text, False), 98, initial_indent="  ", subsequent_indent="    ")


def _section(name: str, markdown: bool) -> list[str]:
    return ["", f"### {name}", ""] if markdown else [f" {name}"]


def _md(text: str, markdown: bool) -> str:
    """Text for one line (a reason may hold line breaks); for Markdown, HTML-escaped too, and
    Markdown's own characters backslashed."""
    text = " ".join(text.split())
    if not markdown:
        return text
    return markdown_text(text)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], markdown: bool) -> list[str]:
    if not rows:
        return ["- none" if markdown else "  none"]
    if markdown:
        return [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(_md(cell, True) for cell in row) + " |" for row in rows),
        ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(1, len(header))]
    # The first column gets what the figures leave of 100 columns; a longer first cell (a
    # name from a CRM) goes on a line of its own, its figures on the next.
    room = max(len(header[0]), 100 - 2 - sum(width + 2 for width in widths))
    first = min(room, max(len(row[0]) for row in (header, *rows)))
    lines = []
    for name, *figures in (header, *rows):
        if len(name) > first:
            lines.append(f"  {name}")
            name = ""  # noqa: PLW2901 (its figures follow on a line of their own)
        cells = [name.ljust(first), *map(str.rjust, figures, widths)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines
