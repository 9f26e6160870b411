"""``leadsla diff OLD NEW``: what a new version of an agreement changes, in the one-pager's words.

Each test writes the default agreement as its file, edits the text as a person would, and
checks the changes reported, word for word, and that nothing else is.
"""

import io
import pathlib

import pytest

from leadsla import Agreement
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla._shell.cli import main
from leadsla._shell.diff import Change, agreement_diff, render_diff
from leadsla._shell.summary import summary_sections

DEFAULT = agreement_to_toml(Agreement.default())

# The one-pager's sentences for the default agreement's parts, and the new versions'.
FIRST_TOUCH = (
    "Sales logs a call, email, meeting or message within {} (Mon–Fri 09:00–17:00, "
    "Europe/Helsinki) of a lead entering MQL. Warning 1 business hour before the deadline. "
    "On breach: escalate to the sales manager (sam)."
)
MQL = "Meaning: Marketing-qualified lead: the lead scored at least 50. Rule: score >= {}"
ATTEMPTS = (
    "Sales makes at least 6 attempts (call, email, meeting or message) unless the lead is "
    "reached (with outcome connected) within 10 business days (Mon–Fri 09:00–17:00, "
    "Europe/Helsinki) of a lead entering MQL. After 6 attempts without reaching the lead, the "
    "lead goes to handback (reason no-contact-after-6-attempts). On breach: escalate to the "
    "sales manager (sam)."
)
GOAL_20 = (
    "The goal: 20 new customers a quarter, 60% of them from marketing (12 a quarter). "
    "The goal needs 48 marketing SQLs a quarter (16 a month). "
    "The goal needs 160 marketing MQLs a quarter (54 a month). "
    "Marketing commits 150 MQLs a month: covered."
)
GOAL_24 = (
    "The goal: 24 new customers a quarter, 60% of them from marketing (15 a quarter). "
    "The goal needs 58 marketing SQLs a quarter (20 a month). "
    "The goal needs 192 marketing MQLs a quarter (64 a month). "
    "Marketing commits 150 MQLs a month: covered."
)
SALES = "Sales: alice, bob, carol{}, manager sam, leads assigned in turn"

WITHIN_2 = ('within = "4 business hours"', 'within = "2 business hours"')
MQL_60 = ('condition = "score >= 50"', 'condition = "score >= 60"')
DAVE = ('members = ["alice", "bob", "carol"]', 'members = ["alice", "bob", "carol", "dave"]')
GOAL = ("customers = 20", "customers = 24")

CHANGED_FIRST_TOUCH = Change(
    "obligation first-touch",
    "changed",
    FIRST_TOUCH.format("4 business hours"),
    FIRST_TOUCH.format("2 business hours"),
)
CHANGED_MQL = Change("term MQL", "changed", MQL.format(50), MQL.format(60))
ADDED_DAVE = Change("team sales", "changed", SALES.format(""), SALES.format(", dave"))
REMOVED_ATTEMPTS = Change("obligation attempts", "removed", ATTEMPTS, None)
CHANGED_GOAL = Change("goal", "changed", GOAL_20, GOAL_24)


def edited(*replacements: tuple[str, str], text: str = DEFAULT) -> str:
    """``text`` with each (old, new) replaced; each old text must be there exactly once."""
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def without_attempts(text: str = DEFAULT) -> str:
    """The text without the ``attempts`` obligation's table."""
    start = text.index('[[obligations]]\nname = "attempts"')
    end = text.index("[[obligations]]", start + 1)
    return text[:start] + text[end:]


def diff(new: str, old: str = DEFAULT) -> list[Change]:
    return agreement_diff(Agreement.from_toml_text(old), Agreement.from_toml_text(new))


@pytest.fixture
def here(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A folder of the test's own as the working directory: the files' names are short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files(new: str, old: str = DEFAULT) -> tuple[str, str]:
    """``old.toml`` and ``new.toml`` in the working directory."""
    pathlib.Path("old.toml").write_text(old, encoding="utf-8")
    pathlib.Path("new.toml").write_text(new, encoding="utf-8")
    return "old.toml", "new.toml"


def run(arguments: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(arguments, out)
    return code, out.getvalue()


# ------------------------------------------------------------------------------------------
# The changes, word for word.


def test_first_touch_from_4_to_2_business_hours() -> None:
    assert diff(edited(WITHIN_2)) == [CHANGED_FIRST_TOUCH]


def test_the_mql_threshold_from_50_to_60() -> None:
    """The row says the rule changed while its meaning still says 50: the reader sees both."""
    assert diff(edited(MQL_60)) == [CHANGED_MQL]


def test_a_team_member_added() -> None:
    assert diff(edited(DAVE)) == [ADDED_DAVE]


def test_an_obligation_removed() -> None:
    assert diff(without_attempts()) == [REMOVED_ATTEMPTS]


def test_the_goal_changed() -> None:
    assert diff(edited(GOAL)) == [CHANGED_GOAL]


def test_all_at_once_in_the_one_pagers_order() -> None:
    """The goal, the definitions, the commitments, who owns a lead: the page's order, the
    agreement's within a part; and nothing else."""
    new = without_attempts(edited(DAVE, GOAL, WITHIN_2, MQL_60))
    assert diff(new) == [
        CHANGED_GOAL,
        CHANGED_MQL,
        CHANGED_FIRST_TOUCH,
        REMOVED_ATTEMPTS,
        ADDED_DAVE,
    ]


def test_the_order_is_the_old_versions_then_what_the_new_one_adds() -> None:
    """An obligation added is listed after the old ones it sits among."""
    start = DEFAULT.index('[[obligations]]\nname = "attempts"')
    end = DEFAULT.index("[[obligations]]", start + 1)
    renamed = DEFAULT[:start] + DEFAULT[start:end].replace('"attempts"', '"tries"') + DEFAULT[end:]
    changes = diff(edited(WITHIN_2, text=renamed))
    assert [(c.part, c.kind) for c in changes] == [
        ("obligation first-touch", "changed"),
        ("obligation attempts", "removed"),
        ("obligation tries", "added"),
    ]
    assert changes[2].after == ATTEMPTS


def test_what_the_one_pager_does_not_say_is_given_as_its_value() -> None:
    """An obligation's description, when it stops and its grace are not on the page: each is
    a part of its own, with its value; the obligation's sentence is unchanged, so not listed."""
    new = edited(
        (
            'description = "Marketing reviews every nurture lead at least every 30 calendar days."',
            'description = "Marketing reviews every nurture lead monthly."',
        ),
        (
            'cancelled = { leaving = ["nurture"] }',
            'cancelled = { leaving = ["nurture"], states = ["disqualified"] }\n'
            'grace = "15 minutes"',
        ),
    )
    assert diff(new) == [
        Change(
            "obligation nurture-review description",
            "changed",
            "Marketing reviews every nurture lead at least every 30 calendar days.",
            "Marketing reviews every nurture lead monthly.",
        ),
        Change(
            "obligation nurture-review stops on",
            "changed",
            "a lead leaving nurture",
            "a lead entering disqualified or a lead leaving nurture",
        ),
        Change("obligation nurture-review grace", "added", None, "15 minutes"),
    ]


def test_a_change_the_sentence_hides_is_given_beside_it() -> None:
    """The page says "logs a call" for anyone and for the party alike: with the target changed
    too, the sentence shows the target, and the other change comes as its value."""
    met = 'met = { activity = { kinds = ["call", "email", "meeting", "message"]{} } }'
    new = edited(WITHIN_2, (met.replace("{}", ', by = "party"'), met.replace("{}", "")))
    assert diff(new) == [
        CHANGED_FIRST_TOUCH,
        Change(
            "obligation first-touch met",
            "changed",
            '{ activity = { kinds = ["call", "email", "meeting", "message"], by = "party" } }',
            '{ activity = { kinds = ["call", "email", "meeting", "message"] } }',
        ),
    ]


FRIDAY = 'fri = ["09:00-17:00"]\n'
QUALIFY = 'then = [{ fire = "qualify", reason = "mql-term-holds" }]'


def test_rules_hours_and_tracking() -> None:
    """How leads move, then the working hours and tracking: a rule's priority (0 when the file
    leaves it out), a calendar's holiday dates (the page only counts them), the period."""
    new = edited(
        (QUALIFY, f"{QUALIFY}\npriority = 5"),
        (FRIDAY, f'{FRIDAY}\n[calendars.office]\nholidays = ["2026-12-24"]\n'),
        ('tracking_period = "month"', 'tracking_period = "quarter"'),
    )
    assert diff(new) == [
        Change("rule auto-qualify priority", "changed", "0", "5"),
        Change("calendar office holidays", "added", None, "2026-12-24"),
        Change(
            "tracking",
            "changed",
            "Results are tracked per month in Europe/Helsinki time.",
            "Results are tracked per quarter in Europe/Helsinki time.",
        ),
    ]


def test_the_words_are_the_one_pagers() -> None:
    """The sentences the diff gives are the ones the summary prints for the same agreement."""
    sections = summary_sections(Agreement.default())
    page = " ".join(
        " ".join([*section.paragraphs, *section.bullets, *(" ".join(r) for r in section.table)])
        for section in sections
    )
    assert f"first-touch: {CHANGED_FIRST_TOUCH.before}" in page
    assert f"attempts: {ATTEMPTS}" in page
    assert SALES.format("") in page
    # The page's goal opens with its description, then the funnel's sentences.
    assert GOAL_20.split(". ", 1)[1] in page
    assert "MQL Marketing-qualified lead: the lead scored at least 50. score >= 50" in page


# ------------------------------------------------------------------------------------------
# The command.


@pytest.mark.usefixtures("here")
def test_identical_files_say_so() -> None:
    old, new = files(DEFAULT)
    said = "No differences: old.toml and new.toml say the same.\n"
    assert run(["diff", old, new]) == (0, said)
    assert run(["diff", old, new, "--exit-code"]) == (0, said)
    assert run(["diff", old, new, "--format", "md"]) == (0, said)


@pytest.mark.usefixtures("here")
def test_the_exit_code_is_0_unless_asked() -> None:
    """As git diff --exit-code: 1 when they differ, only when asked."""
    old, new = files(edited(WITHIN_2))
    assert run(["diff", old, new])[0] == 0
    assert run(["diff", old, new, "--exit-code"])[0] == 1
    assert run(["diff", old, old, "--exit-code"])[0] == 0


@pytest.mark.usefixtures("here")
def test_the_text_for_the_quarterly_review() -> None:
    """First touch 4 -> 2 business hours, the MQL threshold 50 -> 60: the whole output."""
    old, new = files(edited(WITHIN_2, MQL_60))
    code, said = run(["diff", old, new])
    assert code == 0
    expected = f"""\
2 changes from {old} to {new}:

- term MQL: changed
    before: Meaning: Marketing-qualified lead: the lead scored at least 50. Rule: score >= 50
    after:  Meaning: Marketing-qualified lead: the lead scored at least 50. Rule: score >= 60

- obligation first-touch: changed
    before: Sales logs a call, email, meeting or message within 4 business hours (Mon–Fri
            09:00–17:00, Europe/Helsinki) of a lead entering MQL. Warning 1 business hour before
            the deadline. On breach: escalate to the sales manager (sam).
    after:  Sales logs a call, email, meeting or message within 2 business hours (Mon–Fri
            09:00–17:00, Europe/Helsinki) of a lead entering MQL. Warning 1 business hour before
            the deadline. On breach: escalate to the sales manager (sam).
"""
    assert said == expected


@pytest.mark.usefixtures("here")
def test_the_text_stays_within_100_columns() -> None:
    old, new = files(without_attempts(edited(DAVE, GOAL, WITHIN_2, MQL_60)))
    said = run(["diff", old, new])[1]
    assert said.count("\n- ") == 5
    assert max(len(line) for line in said.splitlines()) <= 100


@pytest.mark.usefixtures("here")
def test_markdown_escapes_what_people_wrote() -> None:
    """Markdown passes HTML through: a ``<script>`` in a description comes out as text."""
    new = edited(
        (
            'description = "Marketing reviews every nurture lead at least every 30 calendar days."',
            'description = "Marketing reviews <script>alert(1)</script> *each* lead."',
        )
    )
    old_path, new_path = files(new)
    code, said = run(["diff", old_path, new_path, "--format", "md"])
    assert code == 0
    assert "<script>" not in said
    assert "  - after: Marketing reviews &lt;script>alert(1)&lt;/script> \\*each\\* lead.\n" in said
    assert "- **obligation nurture-review description**: changed\n" in said
    # The plain text keeps the words as written.
    assert "<script>alert(1)</script>" in run(["diff", old_path, new_path])[1]


def test_output_to_a_file(here: pathlib.Path) -> None:
    old, new = files(edited(WITHIN_2))
    target = here / "changes.md"
    code, said = run(["diff", old, new, "--format", "md", "-o", str(target)])
    assert (code, said) == (0, "")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Changes from old.toml to new.toml\n\n")
    assert "\n1 change.\n" in text
    assert "- **obligation first-touch**: changed\n" in text


@pytest.mark.usefixtures("here")
@pytest.mark.parametrize("broken", ["old", "new"])
def test_a_broken_file_is_reported_with_its_line(
    capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    bad = edited(('within = "4 business hours"', 'within = "4 buisness hours"'))
    line = bad.splitlines().index('within = "4 buisness hours"') + 1
    old, new = files(bad) if broken == "new" else files(DEFAULT, old=bad)
    path = new if broken == "new" else old
    code, said = run(["diff", old, new, "--exit-code"])
    assert (code, said) == (1, "")
    assert capsys.readouterr().err.startswith(
        f"leadsla: {path}:{line}: 'obligations.first-touch.within' has an unknown kind of time"
    )


def test_render_diff_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="not a diff format"):
        render_diff([], "html")  # type: ignore[arg-type]
