"""The review-meeting scorecard: what an agreement made of the events, per tracking period.

A shell-side module: it reads an engine after a replay (its leads, their clocks and history,
the commitment tallies) and changes nothing. Each period of the agreement's tracking period
gets a :class:`PeriodCard`: the commitments, every obligation's clocks opened in the period and
how they ended (with the median time to meet them, in the obligation's own kind of time), the
breaches by owner, how many leads entered each state, and why leads went back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from attrs import frozen

from leadsla._core.calendar import BusinessCalendar
from leadsla._core.clocks import ObligationState
from leadsla._core.engine import Engine
from leadsla._core.errors import UsageError, unknown
from leadsla._core.periods import chronological
from leadsla._core.tally import Volume, period_of
from leadsla._shell.render import accepted, format_span, markdown_text, owner_name

__all__ = ["ObligationScore", "PeriodCard", "render_scorecard", "scorecard"]

ReportFormat = Literal["text", "md"]


@frozen
class ObligationScore:
    """One obligation's clocks opened in a period, by how they ended (so far).

    ``met`` counts clocks met on time, ``met_late`` those met after their deadline, ``breached``
    those breached and not met (yet); ``median_to_meet`` is the median time from opening to
    meeting, in business time for a business-time obligation. ``breaches_by_owner`` counts the
    breaches (met late ones included) by the person who owned the lead at the deadline, or the
    team when no person did, most first.
    """

    obligation: str
    party: str
    opened: int
    met: int
    met_late: int
    breached: int
    cancelled: int
    running: int
    median_to_meet: timedelta | None
    breaches_by_owner: tuple[tuple[str, int], ...]

    @property
    def on_time_rate(self) -> float | None:
        """Met on time among the clocks that came due: None when none did."""
        due = self.met + self.met_late + self.breached
        return self.met / due if due else None


@frozen
class PeriodCard:
    """The scorecard of one tracking period."""

    period: str
    volumes: tuple[Volume, ...]
    obligations: tuple[ObligationScore, ...]
    entered: tuple[tuple[str, int], ...]
    reasons: tuple[tuple[str, str, int], ...]


def scorecard(engine: Engine) -> list[PeriodCard]:
    """The scorecard of every tracking period the engine has seen, oldest first.

    Clocks count in the period they opened, moves in the period they happened. Commitments are
    tallied per their own period (``Commitment.per``); when that is not the tracking period,
    their periods get cards of their own, with the commitments only.

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
    agreement = engine.agreement
    zone = ZoneInfo(agreement.timezone)
    per = agreement.tracking_period

    def period(moment: datetime) -> str:
        return period_of(moment, per, zone)

    specs = {spec.name: spec for spec in agreement.obligations}
    # The moves that must say why (backward moves, losses): their reasons are worth a line.
    explained = {t.trigger for t in agreement.lifecycle.transitions if t.requires_reason}
    clocks: dict[str, dict[str, list[ObligationState]]] = defaultdict(lambda: defaultdict(list))
    entered: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for lead_id in engine.leads():
        view = engine.lead(lead_id)
        for clock in view.obligations:
            clocks[period(clock.opened_at)][clock.name].append(clock)
        for move in view.lead.history:
            when = period(move.at)
            entered[when][move.dest] += 1
            if move.reason and move.trigger in explained:
                reasons[when][(move.dest, move.reason)] += 1
    volumes: dict[str, list[Volume]] = defaultdict(list)
    for volume in engine.volumes():
        volumes[volume.period].append(volume)
    order = {name: position for position, name in enumerate(agreement.lifecycle.state_names)}
    cards = []
    for when in sorted({*clocks, *entered, *volumes}, key=chronological):
        scores = []
        for name, spec in specs.items():
            found = clocks[when].get(name, [])
            if found:
                calendar = agreement.calendar(spec.calendar) if spec.within.business else None
                scores.append(_score(name, spec.party, found, calendar))
        cards.append(
            PeriodCard(
                when,
                tuple(volumes.get(when, ())),
                tuple(scores),
                tuple(
                    sorted(entered[when].items(), key=lambda item: order.get(item[0], len(order)))
                ),
                tuple(
                    (state, reason, count)
                    for (state, reason), count in sorted(
                        reasons[when].items(), key=lambda item: (item[0][0], -item[1], item[0][1])
                    )
                ),
            )
        )
    return cards


def _score(
    name: str,
    party: str,
    states: Sequence[ObligationState],
    calendar: BusinessCalendar | None,
) -> ObligationScore:
    status = Counter(state.status for state in states)
    spans = []
    for state in states:
        if state.met_at is None:
            continue
        if calendar is not None:
            spans.append(calendar.elapsed(state.opened_at, state.met_at))
        else:
            spans.append(state.met_at - state.opened_at)
    owners: Counter[str] = Counter()
    for state in states:
        if state.breached_at is not None:
            owners[owner_name(state.breach_owner)] += 1
    return ObligationScore(
        name,
        party,
        len(states),
        status["met"],
        status["met_late"],
        status["breached"],
        status["cancelled"],
        status["open"] + status["paused"],
        _median(spans),
        tuple(sorted(owners.items(), key=lambda item: (-item[1], item[0]))),
    )


def _median(spans: list[timedelta]) -> timedelta | None:
    if not spans:
        return None
    ordered = sorted(spans)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def render_scorecard(
    cards: Sequence[PeriodCard], format: ReportFormat = "text", *, title: str = "Scorecard"
) -> str:
    """The scorecard as plain text or Markdown."""
    if format not in ("text", "md"):
        raise UsageError(unknown("format", format, ("text", "md"), "format"))
    markdown = format == "md"
    bullet = "- " if markdown else "  "
    lines = [f"# {_md(title, True)}" if markdown else title]
    if not cards:
        lines.extend(["", "No events: nothing to score."])
    for card in cards:
        lines.append("")
        lines.append(f"## {_md(card.period, True)}" if markdown else card.period)
        lines.extend(_section("Commitments", markdown))
        if card.volumes:
            for volume in card.volumes:
                lines.append(
                    f"{bullet}{_md(volume.commitment, markdown)}: "
                    f"{volume.delivered} of {volume.target} delivered{accepted(volume)}: "
                    f"{'met' if volume.met else 'not met'}"
                )
        else:
            lines.append(f"{bullet}nothing delivered")
        lines.extend(_section("Obligations (clocks opened in the period)", markdown))
        header = (
            "obligation",
            "opened",
            "on time",
            "late",
            "breached",
            "cancelled",
            "running",
            "on-time rate",
            "median to meet",
        )
        rows = [
            (
                f"{score.obligation} ({score.party})",
                str(score.opened),
                str(score.met),
                str(score.met_late),
                str(score.breached),
                str(score.cancelled),
                str(score.running),
                f"{score.on_time_rate:.0%}" if score.on_time_rate is not None else "-",
                format_span(score.median_to_meet) if score.median_to_meet is not None else "-",
            )
            for score in card.obligations
        ]
        lines.extend(_table(header, rows, markdown))
        breaches = [score for score in card.obligations if score.breaches_by_owner]
        if breaches:
            lines.extend(_section("Breaches by owner", markdown))
            for score in breaches:
                owners = ", ".join(f"{who} {count}" for who, count in score.breaches_by_owner)
                lines.append(f"{bullet}{_md(f'{score.obligation}: {owners}', markdown)}")
        if card.entered:
            lines.extend(_section("Leads entering each state", markdown))
            entered = ", ".join(f"{state} {count}" for state, count in card.entered)
            lines.append(f"{bullet}{_md(entered, markdown)}")
        if card.reasons:
            lines.extend(_section("Why leads went back or were lost", markdown))
            for state, reason, count in card.reasons:
                lines.append(f"{bullet}{_md(f'{state}: {reason} {count}', markdown)}")
    return "\n".join(lines) + "\n"


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
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  "
        + "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in (header, *rows)
    ]
