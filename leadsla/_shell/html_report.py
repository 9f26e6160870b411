"""The scorecard as one HTML page that needs nothing else: styles inline, charts as inline SVG,
no script, and no reference to the network (no link, no web font, no image to fetch).

A shell-side module, like :mod:`leadsla._shell.report`, whose :class:`PeriodCard` values it
renders: per period the same sections as the text scorecard (their cells and sentences come
from the same helpers, so the two never disagree), then the conversion funnel, the goal's
volumes, the leads that bounced between teams, the leads entering each state and the reasons.
Four kinds of chart sit beside them: attainment week by week, the time to meet each obligation
against its target, the leads entering the goal's states against what the goal needs, and each
commitment's volume against its target. Every chart has its numbers in a table under it, so
the page says everything without the charts too (read aloud, or printed in black and white).

The charts are drawn by matplotlib, an optional dependency (the ``report`` extra), imported
only when a page is rendered. Without it the page has the tables and a note saying how to get
the charts. The SVG draws text as paths (no font to fetch or embed) and is deterministic: the
same cards give the same page, byte for byte, so a report can be kept and compared.

The page prints on A4: each period starts a new page, tables and charts are not split across
pages, and the charts scale to the width of the page.
"""

from __future__ import annotations

import io
import itertools
import re
import warnings
from bisect import bisect_left
from collections.abc import Callable, Container, Iterable, Sequence
from html import escape
from math import ceil
from typing import TYPE_CHECKING, Final

from leadsla._core.tally import Volume
from leadsla._shell.report import (
    _OWNER_HEADER,
    OUTCOMES,
    GoalVolume,
    ObligationScore,
    PeriodCard,
    _amount,
    _change,
    _outcome_cells,
    _previous_cards,
    _spans,
    _units_said,
    _whose,
    not_leads_said,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CHARTS_NEED", "render_html"]

#: The note a page shows in place of its charts when matplotlib cannot be imported.
CHARTS_NEED: Final = "Charts need the report extra: pip install 'leadsla[report]'"

_WIDTH: Final = 7.0  # inches: the charts are drawn at about the width of an A4 page's text
_BINS: Final = 12  # about how many bars a histogram of times to meet has

_STYLE: Final = """\
:root { color-scheme: light; }
body {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.45; color: #1b1b1b; background: #fff;
  max-width: 60rem; margin: 0 auto; padding: 1.5rem;
}
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 0.6rem; padding-bottom: 0.2rem;
  border-bottom: 2px solid #444; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
p, ul { margin: 0.3rem 0 0.8rem; }
.wide { overflow-x: auto; }  /* a wide table scrolls on a narrow screen, not the page */
table { border-collapse: collapse; margin: 0.3rem 0 1rem; font-size: 0.93rem;
  font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-size: 0.9rem; color: #444;
  padding-bottom: 0.2rem; }
th, td { padding: 0.2rem 0.45rem; border-bottom: 1px solid #ddd; text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid #999; }
.num { text-align: right; white-space: nowrap; }
tbody th[scope="rowgroup"] { background: #f2f2f2; }
tbody td.who { padding-left: 1.4rem; }
figure.chart { margin: 1rem 0 0.4rem; }
figure.chart svg { display: block; width: 100%; max-width: 46rem; height: auto; }
figure.chart svg * { stroke-linejoin: round; stroke-linecap: butt; }
figcaption { font-size: 0.9rem; color: #444; margin-top: 0.2rem; }
.note { border-left: 4px solid #b7791f; background: #fdf6e3; padding: 0.5rem 0.8rem; }
.none { color: #666; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  main > section + section.period { break-before: page; }
  .wide { overflow: visible; }
  table, figure, ul, .note, .keep { break-inside: avoid; }
  h2, h3, figure.chart { break-after: avoid; }
  figure.chart svg { max-width: 100%; }
}
"""


def render_html(cards: Sequence[PeriodCard], *, title: str) -> str:
    """The scorecard ``cards`` as one self-contained HTML5 page titled ``title``: the charts
    across the periods first, then a section per period (see the module's doc).

    >>> page = render_html([], title="March <review>")
    >>> page.startswith("<!DOCTYPE html>"), "<h1>March &lt;review&gt;</h1>" in page
    (True, True)
    >>> "No events: nothing to score." in page
    True
    """
    charts = _Charts()
    body: list[str] = []
    if not cards:
        body.append('<p class="none">No events: nothing to score.</p>\n')
    else:
        body.extend(_overview(cards, charts))
        pairs = zip(_previous_cards(cards), cards, strict=True)
        for number, (previous, card) in enumerate(pairs, 1):
            body.extend(_period(card, previous, number, charts))
    note = f'<p class="note" role="note">{_text(CHARTS_NEED)}</p>\n' if charts.missing else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n<style>\n{_STYLE}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{_text(title)}</h1>\n{note}</header>\n<main>\n"
        + "".join(body)
        + "</main>\n</body>\n</html>\n"
    )


def _text(text: str) -> str:
    """User text (a name, a reason, a lead id) as HTML text: nothing in it is markup."""
    return escape(text, quote=False)


# -- the periods ---------------------------------------------------------------------------------


def _period(
    card: PeriodCard, previous: PeriodCard | None, number: int, charts: _Charts
) -> list[str]:
    """One period's section, in the text scorecard's order, then the funnel, the goal, the
    bounced leads, the leads entering each state and the reasons."""
    out = [f'<section class="period" id="period-{number}">\n<h2>{_text(card.period)}</h2>\n']
    out.append("<h3>Commitments</h3>\n")
    if card.volumes:
        out.append(_commitments(card))
    else:
        out.append('<p class="none">Nothing delivered.</p>\n')
    out.append("<h3>Obligations (clocks opened in the period)</h3>\n")
    header = ("obligation", "opened", *OUTCOMES, "attainment", "median", "p90", "target")
    rows = [
        (
            score.obligation,
            str(score.opened),
            *_outcome_cells(score),
            *_spans(score),
            "-" if score.target is None else _amount(score.target, score.unit),
        )
        for score in card.obligations
    ]
    out.append(_table(header, rows, css="obligations"))
    said = _units_said(card.obligations)
    if said:
        out.append(f"<p>{_text(said)}</p>\n")
    if card.by_owner:
        out.append("<h3>By owner (who had the lead when each clock was decided)</h3>\n")
        out.append(_owners(card.by_owner))
    if card.by_version:
        out.append("<h3>By agreement version (the one judging each lead)</h3>\n")
        out.append(_owners(card.by_version))
    breaches = [score for score in card.obligations if score.breaches_by_owner]
    if breaches:
        out.append("<h3>Deadlines missed (met late or breached), by owner</h3>\n")
        out.append(
            _list(
                f"{score.obligation}: "
                + ", ".join(f"{who} {count}" for who, count in score.breaches_by_owner)
                for score in breaches
            )
        )
    if previous is not None and (card.obligations or card.volumes):
        out.append(f"<h3>Against {_text(previous.period)}</h3>\n")
        out.append(_list(_change(previous, card)))
    if card.funnel:
        out.append("<h3>Conversion (leads that entered each step's first state)</h3>\n")
        out.append(_funnel(card))
    if card.goal:
        out.append(_KEEP + "<h3>Against the goal (leads entering each state of its funnel)</h3>\n")
        out.append(_goal_chart(card, charts))
        out.append(_goal_table(card.goal) + "</div>\n")
    if card.bounced:
        out.append("<h3>Leads that went between teams more than twice</h3>\n")
        out.append(
            f'<p class="bounced">{len(card.bounced)}: {_text(", ".join(card.bounced))}</p>\n'
        )
    if card.entered:
        out.append("<h3>Leads entering each state</h3>\n")
        entered = [(state, str(count)) for state, count in card.entered]
        out.append(_table(("state", "leads"), entered, css="entered"))
    if card.reasons:
        out.append("<h3>Why leads went back or were lost</h3>\n")
        reasons = [(r.trigger, r.state, r.reason, str(r.count)) for r in card.reasons]
        out.append(
            _table(("move", "to", "reason", "leads"), reasons, text=(0, 1, 2), css="reasons")
        )
    if card.not_leads:
        out.append("<h3>Records not leads (the lead term did not hold)</h3>\n")
        out.append(f'<p class="not-leads">{_text(not_leads_said(card.not_leads))}</p>\n')
    out.append("</section>\n")
    return out


def _commitments(card: PeriodCard) -> str:
    """The commitments' table: delivered against the target, the accepted share against its
    own target, and the result (for a period still running, the pace instead)."""
    rows = []
    for volume in card.volumes:
        share = volume.accepted_share
        taken = "-"
        if share is not None:
            quality = volume.quality_target
            wanted = "" if quality is None else f", target {quality:.0%}"
            taken = f"{volume.accepted} ({share:.0%}{wanted})"
        if card.elapsed is None:
            result = "met" if volume.met else "not met"
        else:
            expected = volume.target * card.elapsed
            side = "ahead" if volume.delivered >= expected else "behind"
            result = (
                f"{side}: pace {round(expected)} by now ({card.elapsed:.0%} of the period gone)"
            )
        rows.append((volume.commitment, str(volume.delivered), str(volume.target), taken, result))
    header = ("commitment", "delivered", "target", "accepted", "result")
    return _table(header, rows, text=(0, 4), css="commitments")


def _owners(scores: Sequence[ObligationScore]) -> str:
    """The per-owner table: a group of rows per obligation, an owner a row."""
    head = "".join(
        f'<th scope="col"{"" if i == 0 else _NUM}>{_text(name)}</th>'
        for i, name in enumerate(_OWNER_HEADER)
    )
    out = [f'<div class="wide"><table class="owners">\n<thead><tr>{head}</tr></thead>\n']
    for obligation, group in itertools.groupby(scores, key=lambda score: score.obligation):
        out.append(
            f'<tbody><tr><th scope="rowgroup" colspan="{len(_OWNER_HEADER)}">'
            f"{_text(obligation)}</th></tr>\n"
        )
        for score in group:
            who = _whose(score)
            worst = score.lateness_worst
            cells = (
                *_outcome_cells(score),
                _spans(score)[0],
                "-" if worst is None else _amount(worst, score.unit),
            )
            out.append(
                f'<tr><td class="who">{_text(who)}</td>'
                + "".join(f'<td class="num">{_text(cell)}</td>' for cell in cells)
                + "</tr>\n"
            )
        out.append("</tbody>\n")
    out.append("</table></div>\n")
    return "".join(out)


def _funnel(card: PeriodCard) -> str:
    """The funnel's steps: how many of the leads that entered a state reached the next, the
    rate against the rate the goal assumes."""
    rows = []
    for step in card.funnel:
        rate, assumed = step.rate, step.assumed
        against = "-"
        if rate is not None and assumed is not None:
            against = f"{round((rate - assumed) * 100):+d} pp"
        rows.append(
            (
                f"{step.source} → {step.dest}",
                str(step.entered),
                str(step.reached),
                str(step.in_flight),
                "-" if rate is None else f"{rate:.0%}",
                "-" if assumed is None else f"{assumed:.0%}",
                against,
            )
        )
    header = ("step", "entered", "reached", "in flight", "rate", "assumed", "against assumed")
    caption = "A rate is a floor while leads are in flight: they may still get there."
    return _table(header, rows, css="funnel", caption=caption)


def _goal_table(goal: Sequence[GoalVolume]) -> str:
    rows = [
        (
            volume.state,
            str(volume.entered),
            str(volume.needed),
            f"{volume.entered / volume.needed:.0%}" if volume.needed else "-",
        )
        for volume in goal
    ]
    return _table(("state", "entered", "needed", "of needed"), rows, css="goal")


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    text: Container[int] = (0,),
    css: str = "",
    caption: str = "",
) -> str:
    """A table of text cells (escaped here), the first a row header: the columns numbered in
    ``text`` left-aligned, the others (numbers) right-aligned. No rows: a line saying none."""
    if not rows:
        return '<p class="none">none</p>\n'
    klass = f' class="{css}"' if css else ""
    out = [f'<div class="wide"><table{klass}>\n']
    if caption:
        out.append(f"<caption>{_text(caption)}</caption>\n")
    out.append(
        "<thead><tr>"
        + "".join(
            f'<th scope="col"{"" if i in text else _NUM}>{_text(name)}</th>'
            for i, name in enumerate(header)
        )
        + "</tr></thead>\n<tbody>\n"
    )
    for row in rows:
        cells = [
            f'<th scope="row">{_text(cell)}</th>'
            if i == 0
            else f"<td{'' if i in text else _NUM}>{_text(cell)}</td>"
            for i, cell in enumerate(row)
        ]
        out.append("<tr>" + "".join(cells) + "</tr>\n")
    out.append("</tbody>\n</table></div>\n")
    return "".join(out)


_NUM: Final = ' class="num"'
#: A chart, its heading and its table: printed on one page when they fit on one.
_KEEP: Final = '<div class="keep">\n'


def _list(items: Iterable[str]) -> str:
    return "<ul>\n" + "".join(f"<li>{_text(item)}</li>\n" for item in items) + "</ul>\n"


# -- across the periods ----------------------------------------------------------------------


def _overview(cards: Sequence[PeriodCard], charts: _Charts) -> list[str]:
    """The charts across the periods, each with its table: attainment week by week, the time
    to meet each obligation, each commitment's volumes. Nothing when there is nothing to draw."""
    out: list[str] = []
    weeks, obligations, merged = _weekly(cards)
    if weeks:
        out.append(_KEEP + "<h3>Attainment per ISO week</h3>\n")
        out.append(_weekly_chart(weeks, obligations, merged, charts))
        rows = [
            (
                week,
                *(
                    f"{merged[week, name][0] / merged[week, name][1]:.0%} "
                    f"({merged[week, name][0]} of {merged[week, name][1]})"
                    if (week, name) in merged
                    else "-"
                    for name in obligations
                ),
            )
            for week in weeks
        ]
        caption = "On time of the clocks due, by the week they opened in"
        out.append(_table(("week", *obligations), rows, css="weekly", caption=caption) + "</div>\n")
    for (obligation, unit), (times, target) in _times(cards).items():
        out.append(f"{_KEEP}<h3>Time to meet {_text(obligation)}</h3>\n")
        edges = _bins(times, target)
        counts = _counts(times, edges)
        out.append(_times_chart(obligation, unit, edges, counts, target, charts))
        within = sum(1 for time in times if target is not None and time <= target)
        said = f"{len(times)} clocks met, times in {unit}"
        if target is not None:
            said += f"; target {_amount(target, unit)}, {within} took no longer than it"
        rows = [
            (f"{low:.2f}", f"{high:.2f}", str(count))
            for low, high, count in zip(edges, edges[1:], counts, strict=False)
        ]
        out.append(
            _table((f"over ({unit})", f"up to ({unit})", "clocks met"), rows, css="times")
            + f"<p>{_text(said)}.</p>\n</div>\n"
        )
    for commitment, found in _commitment_volumes(cards).items():
        out.append(f"{_KEEP}<h3>Volume: {_text(commitment)}</h3>\n")
        out.append(_volume_chart(commitment, [volume for volume, _ in found], charts))
        rows = [
            (
                volume.period,
                str(volume.delivered),
                str(volume.target),
                str(volume.accepted),
                _verdict(volume, elapsed),
            )
            for volume, elapsed in found
        ]
        header = ("period", "delivered", "target", "accepted", "result")
        out.append(_table(header, rows, text=(0, 4), css="volumes") + "</div>\n")
    if not out:
        return []
    return ['<section class="overview">\n<h2>Across the periods</h2>\n', *out, "</section>\n"]


def _weekly(
    cards: Sequence[PeriodCard],
) -> tuple[list[str], list[str], dict[tuple[str, str], tuple[int, int]]]:
    """The weeks (in order), the obligations (in the cards' order) and each week's and
    obligation's (on time, due) over all the cards: a week that straddles two periods has a
    part in each, added up here. Weeks and obligations with nothing due are left out."""
    sums: dict[tuple[str, str], tuple[int, int]] = {}
    for card in cards:
        for score in card.weeks:
            on_time, due = sums.get((score.week, score.obligation), (0, 0))
            sums[score.week, score.obligation] = (on_time + score.on_time, due + score.due)
    merged = {key: value for key, value in sums.items() if value[1]}
    weeks = sorted({week for week, _ in merged})
    obligations = list(dict.fromkeys(name for _, name in merged))
    return weeks, obligations, merged


def _times(cards: Sequence[PeriodCard]) -> dict[tuple[str, str], tuple[list[float], float | None]]:
    """Every met clock's time to meet per obligation (and unit) over all the periods, with the
    target (the latest period's, should the agreement have changed it)."""
    found: dict[tuple[str, str], tuple[list[float], float | None]] = {}
    for card in cards:
        for score in card.obligations:
            times, target = found.get((score.obligation, score.unit), ([], None))
            times.extend(score.times)
            found[score.obligation, score.unit] = (
                times,
                score.target if score.target is not None else target,
            )
    return {key: value for key, value in found.items() if value[0]}


def _bins(times: Sequence[float], target: float | None) -> list[float]:
    """The edges of a histogram of ``times``: about a dozen bins from 0, with the target on an
    edge when that leaves not too many of them."""
    top = max([*times, target or 0.0])
    if top <= 0:
        return [0.0, 1.0]
    if target is not None and target > 0:
        below = max(1, round(_BINS * target / top))
        width = target / below
        count = max(below, ceil(top / width))
        if count <= 3 * _BINS:
            edges = [width * i for i in range(count + 1)]
            edges[below] = target
            edges[-1] = max(edges[-1], top)
            return edges
    edges = [top * i / _BINS for i in range(_BINS + 1)]
    edges[-1] = top
    return edges


def _counts(times: Iterable[float], edges: Sequence[float]) -> list[int]:
    """How many of ``times`` fall in each bin, a bin holding its upper edge (so the bins up to
    the target hold the times within it); the first holds 0 too."""
    counts = [0] * (len(edges) - 1)
    for time in times:
        counts[min(max(bisect_left(edges, time) - 1, 0), len(counts) - 1)] += 1
    return counts


def _verdict(volume: Volume, elapsed: float | None) -> str:
    """Met or not; for a period still running and not met yet, how much of it has gone."""
    if volume.met or elapsed is None:
        return "met" if volume.met else "not met"
    return f"running ({elapsed:.0%} of the period gone)"


def _commitment_volumes(
    cards: Sequence[PeriodCard],
) -> dict[str, list[tuple[Volume, float | None]]]:
    """Each commitment's volumes, period by period in the cards' order, with how much of the
    period had passed (None: all of it)."""
    found: dict[str, list[tuple[Volume, float | None]]] = {}
    for card in cards:
        for volume in card.volumes:
            found.setdefault(volume.commitment, []).append((volume, card.elapsed))
    return found


# -- the charts ----------------------------------------------------------------------------------


class _Charts:
    """Draws a page's charts, numbered in page order (the number keeps each chart's SVG ids
    apart from the other charts'). Without matplotlib it draws nothing and counts what it
    left out, for the note at the top of the page."""

    def __init__(self) -> None:
        self.available: bool | None = None  # asked at the first chart: a page may have none
        self.count = 0
        self.missing = 0

    def chart(self, label: str, caption: str, draw: Callable[[Figure], None], height: float) -> str:
        """A ``<figure>`` with the chart that ``draw`` draws on a figure of ``height`` inches,
        ``label`` its accessible name and ``caption`` its caption (both plain text)."""
        if self.available is None:
            self.available = _matplotlib_present()
        if not self.available:
            self.missing += 1
            return ""
        self.count += 1
        name = f"chart-{self.count}"
        svg = _inline(_svg(draw, height), name, label)
        return (
            f'<figure class="chart" id="{name}">\n{svg}\n'
            f"<figcaption>{_text(caption)}</figcaption>\n</figure>\n"
        )


def _matplotlib_present() -> bool:
    """Whether matplotlib can be imported (imported here, not when leadsla is)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _svg(draw: Callable[[Figure], None], height: float) -> str:
    """The SVG of a figure ``draw`` draws on: matplotlib's Figure on its own (never pyplot's
    global figures), its settings in a context that ends with the drawing."""
    import matplotlib
    from matplotlib.figure import Figure

    # A fixed salt for the SVG ids and no date (the same cards give the same bytes), text as
    # paths (no font to fetch), matplotlib's own font (the same shapes on every machine).
    with (
        matplotlib.rc_context(
            {
                "svg.hashsalt": "leadsla",
                "svg.fonttype": "path",
                "font.family": ["DejaVu Sans"],
                "font.size": 9.0,
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.grid": True,
                "axes.axisbelow": True,
                "grid.alpha": 0.35,
            }
        ),
        warnings.catch_warnings(),
    ):
        # A name in a script DejaVu Sans lacks: drawn as boxes, no need to say so each time.
        warnings.filterwarnings("ignore", "Glyph .* missing from", UserWarning)
        figure = Figure(figsize=(_WIDTH, height), layout="constrained")
        draw(figure)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


_VIEWBOX: Final = re.compile(r'viewBox="([^"]*)"')
_DROPPED: Final = re.compile(
    r"<metadata>.*?</metadata>\s*|<!--.*?-->\s*|<style[^>]*>.*?</style>\s*", re.DOTALL
)
_ID: Final = re.compile(r'\bid="([^"]+)"')
_REFERENCE: Final = re.compile(r'(href="#|url\(#)([^")]+)')


def _inline(svg: str, name: str, label: str) -> str:
    """matplotlib's SVG made fit to sit in a page: no XML prolog, DOCTYPE, metadata,
    comments (the text of each label, already drawn) or global style; every id prefixed by
    ``name`` (each chart would otherwise define ``figure_1``, its glyphs...); sized by the
    page's CSS; named ``label`` for assistive technology."""
    start = svg.index("<svg")
    opening_end = svg.index(">", start) + 1
    viewbox = _VIEWBOX.search(svg[start:opening_end])
    inner = _DROPPED.sub("", svg[opening_end:])
    inner = _ID.sub(lambda found: f'id="{name}-{found[1]}"', inner)
    inner = _REFERENCE.sub(lambda found: f"{found[1]}{name}-{found[2]}", inner)
    said = escape(label)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{viewbox[1] if viewbox else "0 0 504 216"}" role="img" aria-label="{said}">'
        f"\n<title>{said}</title>\n{inner.strip()}"
    )


def _plain(text: str) -> str:
    """User text for matplotlib, which would read ``$...$`` as mathematics."""
    return text.replace("$", r"\$")


def _weekly_chart(
    weeks: Sequence[str],
    obligations: Sequence[str],
    merged: dict[tuple[str, str], tuple[int, int]],
    charts: _Charts,
) -> str:
    def draw(figure: Figure) -> None:
        from matplotlib.ticker import PercentFormatter

        axes = figure.add_subplot()
        for name in obligations:
            points = [
                (x, 100 * merged[week, name][0] / merged[week, name][1])
                for x, week in enumerate(weeks)
                if (week, name) in merged
            ]
            axes.plot(
                [x for x, _ in points], [y for _, y in points], marker="o", label=_plain(name)
            )
        axes.set_ylim(0, 105)
        axes.yaxis.set_major_formatter(PercentFormatter(100))
        step = max(1, ceil(len(weeks) / 14))
        axes.set_xticks(
            range(0, len(weeks), step),
            [weeks[i] for i in range(0, len(weeks), step)],
            rotation=30 if len(weeks) > 6 else 0,
            ha="right" if len(weeks) > 6 else "center",
        )
        axes.set_ylabel("on time of those due")
        figure.legend(loc="outside upper center", ncols=min(4, len(obligations)), frameon=False)

    return charts.chart(
        "Attainment per ISO week, per obligation: "
        + ", ".join(obligations)
        + f", weeks {weeks[0]} to {weeks[-1]}",
        "Attainment per ISO week: clocks met on time of those that came due, by the week "
        "they opened in (a week split between two periods counted whole). The numbers are "
        "in the table below.",
        draw,
        3.2,
    )


def _times_chart(
    obligation: str,
    unit: str,
    edges: Sequence[float],
    counts: Sequence[int],
    target: float | None,
    charts: _Charts,
) -> str:
    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.stairs(counts, edges, fill=True, alpha=0.8, label="clocks met")
        if target is not None:
            axes.axvline(
                target,
                color="#c0392b",
                linestyle="--",
                linewidth=1.5,
                label=_plain(f"target {_amount(target, unit)}"),
            )
        axes.set_xlim(0, edges[-1] * 1.02)  # a target at the last edge stays in sight
        axes.set_xlabel(_plain(f"time to meet ({unit})"))
        axes.set_ylabel("clocks met")
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))

    target_said = "" if target is None else f" against its target of {_amount(target, unit)}"
    return charts.chart(
        f"Histogram of the time to meet {obligation}, in {unit}{target_said}",
        f"Time to meet {obligation}, in {unit}, over all the periods{target_said} (the dashed "
        "line). The numbers are in the table below.",
        draw,
        2.8,
    )


def _volume_chart(commitment: str, volumes: Sequence[Volume], charts: _Charts) -> str:
    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        xs = range(len(volumes))
        bars = axes.bar(xs, [v.delivered for v in volumes], 0.6, label="delivered")
        axes.bar_label(bars, fontsize=8)
        axes.hlines(
            [v.target for v in volumes],
            [x - 0.4 for x in xs],
            [x + 0.4 for x in xs],
            colors="#c0392b",
            linewidth=2,
            label="target",
        )
        axes.set_xticks(xs, [_plain(v.period) for v in volumes])
        axes.set_ylabel("leads delivered")
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))

    return charts.chart(
        f"Bar chart of {commitment} delivered per period against its target",
        f"{commitment}: delivered per period (bars) against the target (the red line). The "
        "numbers are in the table below.",
        draw,
        2.6,
    )


def _goal_chart(card: PeriodCard, charts: _Charts) -> str:
    goal = card.goal

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        xs = range(len(goal))
        entered = axes.bar([x - 0.2 for x in xs], [v.entered for v in goal], 0.4, label="entered")
        needed = axes.bar(
            [x + 0.2 for x in xs], [v.needed for v in goal], 0.4, label="needed", color="#bbbbbb"
        )
        axes.bar_label(entered, fontsize=8)
        axes.bar_label(needed, fontsize=8)
        axes.set_xticks(xs, [_plain(v.state) for v in goal])
        axes.set_ylabel("leads")
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))

    return charts.chart(
        f"Bar chart of the leads entering each state of the goal's funnel in {card.period}, "
        "against what the goal needs",
        f"{card.period}: leads entering each state of the goal's funnel (entered) against what "
        "the goal needs in a period (needed). The numbers are in the table below.",
        draw,
        2.6,
    )
