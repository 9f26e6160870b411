"""The HTML scorecard (leadsla._shell.html_report.render_html): one self-contained page with
inline SVG charts, checked on hand-built cards (the numbers shown are the numbers put in), on
a simulated log end to end, without matplotlib, and in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from leadsla import replay, simulate
from leadsla._core.tally import Volume
from leadsla._shell.html_report import CHARTS_NEED, render_html
from leadsla._shell.report import (
    FunnelStep,
    GoalVolume,
    ObligationScore,
    PeriodCard,
    Reason,
    TimeToMeet,
    WeekScore,
    scorecard,
)

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
HOSTILE = f"{SCRIPT}{IMAGE}"

# -- reading the page ----------------------------------------------------------------------------


class Node:
    """An element of the page: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def all(self, tag: str, css: str | None = None) -> list[Node]:
        """The descendants with this tag (and this class, when given), in document order."""
        return [
            node
            for node in self.iter()
            if node is not self
            and node.tag == tag
            and (css is None or css in node.attrs.get("class", "").split())
        ]

    def text(self) -> str:
        return " ".join(
            "".join(
                child if isinstance(child, str) else child.text() for child in self.children
            ).split()
        )

    def rows(self) -> list[list[str]]:
        """A table's rows (head and body), each a list of its cells' text."""
        return [
            [cell.text() for cell in row.iter() if cell.tag in ("td", "th")]
            for row in self.all("tr")
        ]


class Tree(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(node)

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"</{tag}> closes nothing"
        assert node.parent is not None, f"</{tag}> closes the document"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(page: str) -> Node:
    tree = Tree()
    tree.feed(page)
    tree.close()
    assert tree.current is tree.root, f"<{tree.current.tag}> is not closed"
    return tree.root


def table(scope: Node, css: str) -> list[list[str]]:
    [found] = scope.all("table", css)
    return found.rows()


def row(rows: list[list[str]], first: str) -> list[str]:
    [found] = [cells for cells in rows if cells[0] == first]
    return found


# -- hand-built cards ----------------------------------------------------------------------------


def score(
    obligation: str = "first-touch",
    *,
    counts: tuple[int, int, int, int, int] = (6, 2, 1, 1, 2),
    unit: str = "business hours",
    times: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 3.5, 4.0, 6.0),
    target: float | None = 4.0,
    team: str | None = None,
    person: str | None = None,
    breaches: tuple[tuple[str, int], ...] = (),
) -> ObligationScore:
    on_time, met_late, breached, cancelled, still_open = counts
    ordered = sorted(times)
    to_meet = (
        TimeToMeet(ordered[len(ordered) // 2], ordered[-2], ordered[-1], len(ordered))
        if ordered
        else None
    )
    return ObligationScore(
        obligation,
        "sales",
        sum(counts),
        on_time,
        met_late,
        breached,
        cancelled,
        still_open,
        unit,
        to_meet,
        1.5 if met_late else 0.0,
        1.0 if met_late else None,
        breaches,
        team,
        person,
        target,
        tuple(ordered),
    )


def march() -> PeriodCard:
    return PeriodCard(
        "2026-03",
        (Volume("mql-volume", "2026-03", 140, 150, 100, 100 / 140, 0.6),),
        (
            score(breaches=((HOSTILE, 2), ("bob", 1))),
            score(
                "accept-or-reject",
                counts=(3, 0, 0, 1, 0),
                unit="business days",
                times=(0.2, 0.5, 0.7),
                target=1.0,
            ),
        ),
        (("lead", 30), ("mql", 20), ("sal", 12)),
        (
            Reason("reject", "handback", HOSTILE, 3),
            Reason("lose", "lost", "budget", 2),
        ),
        by_owner=(
            score(counts=(4, 2, 1, 0, 0), team="sales", person=HOSTILE),
            score(counts=(2, 0, 0, 1, 2), team="sales", person="bob"),
        ),
        bounced=("L-7", HOSTILE),
        weeks=(
            WeekScore("2026-W10", "first-touch", 3, 4),
            WeekScore("2026-W14", "first-touch", 2, 3),  # Monday 30 March: the week goes on
            WeekScore("2026-W14", "accept-or-reject", 1, 1),
            WeekScore("2026-W13", "accept-or-reject", 0, 0),  # nothing due: not drawn
        ),
        funnel=(
            FunnelStep("mql", "sal", 20, 12, 5, 0.7),
            FunnelStep("sal", "sql", 12, 3, 6, None),
        ),
        goal=(GoalVolume("mql", 20, 54), GoalVolume("sql", 3, 16)),
    )


def april() -> PeriodCard:
    return PeriodCard(
        "2026-04",
        (Volume("mql-volume", "2026-04", 60, 150, 40, 40 / 60, 0.6),),
        (score(counts=(4, 1, 0, 0, 3), times=(1.0, 2.0, 9.0)),),
        (("lead", 10), ("mql", 6)),
        (),
        weeks=(
            WeekScore("2026-W14", "first-touch", 4, 5),  # to 5 April: the rest of the week
            WeekScore("2026-W15", "first-touch", 1, 2),
        ),
        goal=(GoalVolume("mql", 6, 54), GoalVolume("sql", 1, 16)),
        elapsed=0.4,
    )


def cards() -> list[PeriodCard]:
    return [march(), april()]


#: The charts the two cards make: attainment by week; time to meet first-touch and
#: accept-or-reject; the commitment's volumes; each period's goal.
CHARTS = 1 + 2 + 1 + 2


@pytest.fixture
def with_matplotlib() -> None:
    pytest.importorskip("matplotlib", reason="the charts need matplotlib (the report extra)")


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib as if it were not installed: importing it raises ImportError."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)


# -- what the page says --------------------------------------------------------------------------


def test_the_obligations_table_shows_the_counts_and_the_attainment() -> None:
    page = parse(render_html(cards(), title="Review"))
    first, second = page.all("section", "period")
    assert first.all("h2")[0].text() == "2026-03"
    rows = table(first, "obligations")
    assert rows[0][:9] == [
        "obligation",
        "opened",
        "on time",
        "met late",
        "breached",
        "cancelled",
        "open",
        "attainment",
        "median",
    ]
    # 6 on time of 9 due (6 + 2 + 1): 67 %; median and p90 of the met clocks; the target.
    assert row(rows, "first-touch") == [
        "first-touch",
        "12",
        "6",
        "2",
        "1",
        "1",
        "2",
        "67%",
        "3.0 h",
        "4.0 h",
        "4.0 h",
    ]
    assert row(rows, "accept-or-reject")[1:8] == ["4", "3", "0", "0", "1", "0", "100%"]
    assert row(table(second, "obligations"), "first-touch")[1:8] == [
        "8",
        "4",
        "1",
        "0",
        "0",
        "3",
        "80%",
    ]
    assert "in business days (d): accept-or-reject" in first.text()


def test_the_weekly_chart_merges_the_parts_of_a_week_two_periods_share() -> None:
    """2026-W14 runs from 30 March to 5 April: March's 2 of 3 and April's 4 of 5 are one
    week's 6 of 8; a week with nothing due is left out."""
    page = parse(render_html(cards(), title="Review"))
    [overview] = page.all("section", "overview")
    rows = table(overview, "weekly")
    assert rows[0] == ["week", "first-touch", "accept-or-reject"]
    assert [cells[0] for cells in rows[1:]] == ["2026-W10", "2026-W14", "2026-W15"]
    assert row(rows, "2026-W14") == ["2026-W14", "75% (6 of 8)", "100% (1 of 1)"]
    assert row(rows, "2026-W10") == ["2026-W10", "75% (3 of 4)", "-"]
    assert row(rows, "2026-W15") == ["2026-W15", "50% (1 of 2)", "-"]


def test_the_time_to_meet_table_counts_every_met_clock_of_every_period() -> None:
    """first-touch: March's eight times and April's three, in bins up to and including their
    upper edge, the target (4 h) on an edge: 7 and 2 within it."""
    page = parse(render_html(cards(), title="Review"))
    [overview] = page.all("section", "overview")
    first_touch, accept = overview.all("table", "times")
    rows = first_touch.rows()
    assert rows[0] == ["over (business hours)", "up to (business hours)", "clocks met"]
    assert sum(int(cells[2]) for cells in rows[1:]) == 11
    assert "4.00" in [cells[1] for cells in rows[1:]]
    within = sum(int(cells[2]) for cells in rows[1:] if float(cells[1]) <= 4.0)
    assert within == 9
    assert "11 clocks met, times in business hours; target 4.0 h, 9 took no longer than it." in (
        overview.text()
    )
    assert sum(int(cells[2]) for cells in accept.rows()[1:]) == 3


def test_commitments_show_the_result_or_the_pace_and_the_volumes_chart_its_numbers() -> None:
    page = parse(render_html(cards(), title="Review"))
    first, second = page.all("section", "period")
    assert row(table(first, "commitments"), "mql-volume") == [
        "mql-volume",
        "140",
        "150",
        "100 (71%, target 60%)",
        "not met",
    ]
    # 40 % of April gone: 60 by now of 150, delivered 60: ahead.
    assert row(table(second, "commitments"), "mql-volume")[4] == (
        "ahead: pace 60 by now (40% of the period gone)"
    )
    [overview] = page.all("section", "overview")
    assert table(overview, "volumes")[1:] == [
        ["2026-03", "140", "150", "100", "not met"],
        ["2026-04", "60", "150", "40", "running (40% of the period gone)"],
    ]


def test_owners_misses_change_funnel_goal_states_and_reasons() -> None:
    page = parse(render_html(cards(), title="Review"))
    first, second = page.all("section", "period")
    owners = table(first, "owners")
    assert ["first-touch"] in owners
    assert owners[owners.index(["first-touch"]) + 1] == [
        f"{HOSTILE} (sales)",
        "4",
        "2",
        "1",
        "0",
        "0",
        "57%",
        "3.0 h",
        "1.0 h",
    ]
    assert f"first-touch: {HOSTILE} 2, bob 1" in [item.text() for item in first.all("li")]
    assert row(table(first, "funnel"), "mql → sal") == [
        "mql → sal",
        "20",
        "12",
        "5",
        "60%",
        "70%",
        "-10 pp",
    ]
    assert row(table(first, "funnel"), "sal → sql")[4:] == ["25%", "-", "-"]
    assert row(table(first, "goal"), "mql") == ["mql", "20", "54", "37%"]
    assert row(table(first, "reasons"), "reject") == ["reject", "handback", HOSTILE, "3"]
    assert f"2: L-7, {HOSTILE}" in first.text()
    assert table(first, "entered") == [
        ["state", "leads"],
        ["lead", "30"],
        ["mql", "20"],
        ["sal", "12"],
    ]
    # April against March, as the text scorecard says it.
    headings = [heading.text() for heading in second.all("h3")]
    assert "Against 2026-03" in headings
    assert "first-touch: attainment 80% (+13 pp), median 2.0 h (-1.0 h), breached 0 (-1)" in [
        item.text() for item in second.all("li")
    ]
    assert "mql-volume: 60 delivered (-80)" in [item.text() for item in second.all("li")]
    assert not [heading for heading in first.all("h3") if heading.text().startswith("Against 2")]


def test_no_cards_and_empty_sections() -> None:
    empty = parse(render_html([], title="Nothing"))
    assert "No events: nothing to score." in empty.text()
    assert not empty.all("section")
    assert not empty.all("table")
    [card] = parse(render_html([PeriodCard("2026-05", (), (), (), ())], title="May")).all(
        "section", "period"
    )
    assert "Nothing delivered." in card.text()
    assert [p.text() for p in card.all("p", "none")] == ["Nothing delivered.", "none"]
    assert not card.all("figure")


# -- the charts ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("with_matplotlib")
def test_each_chart_is_an_inline_svg_in_a_figure_with_a_caption_and_a_name() -> None:
    page = render_html(cards(), title="Review")
    tree = parse(page)
    figures = tree.all("figure", "chart")
    assert len(figures) == CHARTS
    for figure in figures:
        [svg] = figure.all("svg")
        assert svg.attrs["role"] == "img"
        assert svg.attrs["aria-label"]
        assert svg.all("title")[0].text() == svg.attrs["aria-label"]
        assert len(svg.all("path")) + len(svg.all("use")) > 10
        assert figure.all("figcaption")[0].text()
        assert "width" not in svg.attrs  # sized by the page's CSS, to the width of the page
    assert page.count("<svg") == CHARTS
    assert "<?xml" not in page
    assert "<!DOCTYPE svg" not in page
    assert "<metadata" not in page
    # One goal chart in each period, next to its table.
    for period in tree.all("section", "period"):
        assert len(period.all("figure", "chart")) == 1


@pytest.mark.usefixtures("with_matplotlib")
def test_the_ids_of_the_charts_are_unique_in_the_page() -> None:
    """Every chart defines its glyphs and clip paths: prefixed by the chart, they do not
    collide, and every reference finds its own chart's."""
    page = render_html(cards(), title="Review")
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    for found in re.finditer(r'(?:href="#|url\(#)([^")]+)', page):
        assert found[1] in ids
    for number, figure in enumerate(parse(page).all("figure", "chart"), 1):
        for node in figure.all("svg")[0].iter():
            if "id" in node.attrs:
                assert node.attrs["id"].startswith(f"chart-{number}-")


@pytest.mark.usefixtures("with_matplotlib")
def test_the_page_is_the_same_for_the_same_cards() -> None:
    assert render_html(cards(), title="Review") == render_html(cards(), title="Review")


def test_without_matplotlib_the_page_has_the_tables_and_says_how_to_get_the_charts(
    without_matplotlib: None,
) -> None:
    page = render_html(cards(), title="Review")
    assert "<svg" not in page
    assert "<figure" not in page
    assert CHARTS_NEED == "Charts need the report extra: pip install 'leadsla[report]'"
    tree = parse(page)
    [note] = tree.all("p", "note")
    assert note.text() == CHARTS_NEED
    [overview] = tree.all("section", "overview")
    assert row(table(overview, "weekly"), "2026-W14")[1] == "75% (6 of 8)"
    assert len(overview.all("table", "times")) == 2
    for period in tree.all("section", "period"):
        assert period.all("table", "obligations")
        assert period.all("table", "goal")


@pytest.mark.usefixtures("with_matplotlib")
def test_with_matplotlib_there_is_no_note() -> None:
    assert CHARTS_NEED not in render_html(cards(), title="Review")


def test_nothing_is_fetched_from_the_network() -> None:
    """No http(s) in a src, an href or a url(); no script, stylesheet link or web font. (The
    SVG's xmlns attributes name namespaces, not things to fetch.)"""
    for page in (render_html(cards(), title="Review"), render_html([], title="Nothing")):
        assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
        assert not re.search(r"""url\(\s*["']?\s*(?:https?:)?//""", page, re.I)
        assert not re.search(r"<script|<link|@import|@font-face|<iframe|<img", page, re.I)
        without_namespaces = re.sub(r'xmlns(?::\w+)?="[^"]*"', "", page)
        assert "http://" not in without_namespaces
        assert "https://" not in without_namespaces


def test_user_text_is_escaped_everywhere() -> None:
    """An owner, a reason, a lead id, the title (and the names in the charts' labels) cannot
    put markup in the page."""
    page = render_html(cards(), title=f"Review {HOSTILE}")
    for raw in (SCRIPT, IMAGE, "<script", "<img"):
        assert raw not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert f"<title>Review {escaped}</title>" in page
    assert f"<h1>Review {escaped}</h1>" in page
    assert f'<td class="who">{escaped} (sales)</td>' in page  # the owner
    assert f"<td>{escaped}</td>" in page  # the reason
    assert f"2: L-7, {escaped}" in page  # the lead id


def test_user_text_is_escaped_in_the_charts_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chart's accessible name holds a period's and a commitment's names: escaped too."""
    pytest.importorskip("matplotlib")
    hostile = [
        PeriodCard(
            "2026-03",
            (Volume(f'{HOSTILE}"', "2026-03", 5, 10, 0, None, None),),
            (),
            (),
            (),
        )
    ]
    page = render_html(hostile, title="Review")
    assert "<script" not in page
    assert "<img" not in page
    assert 'aria-label="Bar chart of &lt;script&gt;' in page
    assert "&quot; delivered per period" in page


def test_the_page_prints_on_a4_a_period_a_page() -> None:
    page = render_html(cards(), title="Review")
    assert "@page { size: A4; margin: 14mm; }" in page
    [media] = re.findall(r"@media print \{(.*?)\n\}", page, re.DOTALL)
    assert "break-before: page" in media
    assert re.search(r"table, figure[^{]*\{ break-inside: avoid; \}", media)
    assert "figure.chart svg { max-width: 100%; }" in media
    assert "font-family: system-ui" in page


def test_a_simulated_log_end_to_end() -> None:
    """Two months of a simulated log, scored and rendered: a section per period, its
    obligations' rows the scorecard's numbers, a chart for each thing to draw."""
    events = simulate(60, spacing=timedelta(hours=13))
    found = scorecard(replay(events).engine)
    assert [card.period for card in found] == ["2026-03", "2026-04"]
    page = render_html(found, title="Simulated")
    tree = parse(page)
    sections = tree.all("section", "period")
    assert [section.all("h2")[0].text() for section in sections] == ["2026-03", "2026-04"]
    for card, section in zip(found, sections, strict=True):
        rows = table(section, "obligations")
        for each in card.obligations:
            cells = row(rows, each.obligation)
            assert cells[1] == str(each.opened)
            assert cells[2:7] == [
                str(n)
                for n in (each.on_time, each.met_late, each.breached, each.cancelled, each.open)
            ]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    weeks = any(week.due for card in found for week in card.weeks)
    times = {(s.obligation, s.unit) for card in found for s in card.obligations if s.times}
    commitments = {volume.commitment for card in found for volume in card.volumes}
    goals = sum(1 for card in found if card.goal)
    expected = int(weeks) + len(times) + len(commitments) + goals
    assert len(tree.all("figure", "chart")) == expected == page.count("<svg")


def test_leadsla_does_not_import_matplotlib() -> None:
    """matplotlib is imported when a page is drawn, never when leadsla (or this module) is."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, leadsla, leadsla._shell.html_report, leadsla._shell.cli; "
            "print('matplotlib' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False"


# -- in a real browser ---------------------------------------------------------------------------

#: Appended to the test's copy of the page (never to the product): after loading, each
#: chart's size on the page and how many of its drawing elements were laid out with a size,
#: in a data- attribute of the body, which --dump-dom then shows.
MEASURE = """
<script>
window.addEventListener("load", () => {
  const drawing = "path, use, text, line, polyline, polygon, rect, circle, ellipse";
  const charts = [...document.querySelectorAll("figure.chart")].map((figure) => {
    const svg = figure.querySelector("svg");
    if (!svg) return { width: 0, height: 0, drawn: 0, viewBox: "" };
    const box = svg.getBoundingClientRect();
    const drawn = [...svg.querySelectorAll(drawing)]
      .filter((element) => !element.closest("defs, clipPath"))
      .filter((element) => {
        const size = element.getBoundingClientRect();
        return size.width > 0 || size.height > 0;
      }).length;
    return { width: box.width, height: box.height, drawn, viewBox: svg.getAttribute("viewBox") };
  });
  document.body.setAttribute("data-charts", JSON.stringify(charts));
});
</script>
"""


def run_chromium(binary: str, folder: Path, *arguments: str) -> tuple[str, float]:
    """Chromium run headless on its own fresh profile, bounded to 60 s: its output, and how
    long it took."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=folder)
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *arguments,
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout, seconds


@pytest.mark.usefixtures("with_matplotlib")
def test_chromium_draws_every_chart(chromium: str, tmp_path: Path) -> None:
    page = render_html(cards(), title="Review")
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dumped, seconds = run_chromium(chromium, tmp_path, "--dump-dom", path.as_uri())
    print(f"chromium --dump-dom took {seconds:.2f} s")  # shown by pytest -rP
    [body] = parse(dumped).all("body")
    assert "data-charts" in body.attrs, "the measuring script did not run"
    measured = json.loads(body.attrs["data-charts"])
    assert len(measured) == page.count('<figure class="chart"') == CHARTS
    for chart in measured:
        assert chart["width"] > 0
        assert chart["height"] > 0
        assert chart["drawn"] > 10
        # Scaled to the width it is given, the chart keeps its proportions.
        _, _, width, height = map(float, chart["viewBox"].split())
        assert chart["height"] / chart["width"] == pytest.approx(height / width, rel=0.02)


def test_chromium_prints_two_periods_on_more_than_one_a4_page(
    chromium: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(cards(), title="Review"), encoding="utf-8")
    pdf = tmp_path / "out.pdf"
    _, seconds = run_chromium(
        chromium, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", path.as_uri()
    )
    print(f"chromium --print-to-pdf took {seconds:.2f} s")
    assert pdf.exists()
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = re.findall(rb"/Type\s*/Page\b", data)
    assert len(pages) > 1
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert len(boxes) == len(pages)
    for width, height in boxes:  # A4: 210 mm by 297 mm, 595 by 842 points
        assert float(width) == pytest.approx(595.3, abs=1)
        assert float(height) == pytest.approx(841.9, abs=1)
