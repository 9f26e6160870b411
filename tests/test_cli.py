"""The ``leadsla`` command line."""

import io
import json
import pathlib
import re
import subprocess
import sys
import tempfile

import pytest

from leadsla._shell.cli import main


def demo_output(report: pathlib.Path | None = None) -> str:
    """What ``leadsla demo`` prints, its report written to ``report`` (else a temporary
    file, and the line naming it left out)."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        path = report or pathlib.Path(folder, "report.html")
        assert main(["demo", "--report", str(path)], out) == 0
    text = out.getvalue()
    return text if report else text.replace(str(path), "REPORT")


def test_demo_ends_with_the_html_report_of_its_week(tmp_path: pathlib.Path) -> None:
    """The last line names the file; the file is the week's scorecard as one HTML page."""
    report = tmp_path / "week.html"
    text = demo_output(report)
    assert text.endswith(f"\nThe week's scorecard, with its charts: {report}\n")
    page = report.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Scorecard: Marketing–sales SLA, the demo week" in page
    assert "2026-03" in page
    assert "first-touch" in page


def test_demo_says_when_its_report_cannot_be_written(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert main(["demo", "--report", str(tmp_path / "nowhere" / "week.html")], out) == 1
    assert "'--report' cannot be written" in capsys.readouterr().err


def test_demo_replays_a_week_through_the_engine() -> None:
    """``leadsla demo`` shows the Friday MQL's first touch due Monday 12:00, the breach and
    the escalation, the six-call handback and the nurture move."""
    text = demo_output()
    assert "first-touch opened for sales, due Mon 2026-03-09 12:00" in text
    assert "first-touch BREACHED, owner bob (sales)" in text
    assert "escalate sam: lead L-1: obligation first-touch breached" in text
    assert "reason no-contact-after-6-attempts" in text
    assert "mql -> nurture (nurture, rule need-over-6-months" in text
    assert "MQLs delivered in 2026-03: 4 of 150 committed; 2 accepted by sales." in text


def test_demo_explains_why_a_lead_is_not_an_sql() -> None:
    """The demo ends with an explanation of the sql term for a lead."""
    text = demo_output()
    assert "sql: budget_confirmed == true and need_months <= 6 -> False" in text
    assert "budget_confirmed == true -> False (budget_confirmed is missing)" in text


def test_demo_is_deterministic() -> None:
    """Two runs print the same bytes."""
    assert demo_output() == demo_output()


def test_version() -> None:
    """``leadsla --version`` prints the version and exits 0."""
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0


def test_unknown_command_is_a_usage_error() -> None:
    """An unknown subcommand exits with status 2."""
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


def test_console_script_is_installed() -> None:
    """The ``leadsla`` entry point runs as a program."""
    script = pathlib.Path(sys.executable).with_name("leadsla")
    assert script.exists(), f"no console script next to {sys.executable}"
    result = subprocess.run([str(script), "demo"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "first-touch" in result.stdout


# -- init, check, summary, diagram ----------------------------------------------------------


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, out), out.getvalue()


def test_init_check_summary_on_a_new_file(tmp_path: pathlib.Path) -> None:
    """``init`` writes the default agreement; ``check`` finds it valid; ``summary`` renders it."""
    from leadsla import Agreement

    path = tmp_path / "agreement.toml"
    code, said = run(["init", str(path)])
    assert code == 0
    assert f"leadsla check {path}" in said
    assert Agreement.from_toml(path) == Agreement.default()
    code, said = run(["check", str(path)])
    assert code == 0
    assert "is valid: 9 states, 4 obligations, 2 rules, 1 commitment." in said
    assert "Marketing commits 150 MQLs a month: covered." in said
    page = tmp_path / "agreement.html"
    code, said = run(["summary", str(path), "--format", "html", "-o", str(page)])
    assert (code, said) == (0, "")
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, said = run(["summary", str(path), "--format", "md"])
    assert code == 0
    assert said.startswith("# Marketing–sales SLA")


def test_init_does_not_overwrite_without_force(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing file is kept unless --force is given."""
    path = tmp_path / "agreement.toml"
    path.write_text("mine", encoding="utf-8")
    assert run(["init", str(path)])[0] == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "mine"
    assert run(["init", str(path), "--force"])[0] == 0
    assert path.read_text(encoding="utf-8") != "mine"


def test_init_to_stdout() -> None:
    """``init -`` prints the file instead of writing it."""
    code, said = run(["init", "-"])
    assert code == 0
    assert said.startswith("# The service level agreement")


def test_check_lists_every_problem_with_file_and_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Problems go to stderr as FILE:LINE: ..., sorted by line, then a count; exit code 1."""
    from leadsla import Agreement, agreement_to_toml

    text = agreement_to_toml(Agreement.default())
    text = text.replace('tracking_period = "month"', 'tracking_perod = "month"', 1)
    text = text.replace('within = "4 business hours"\n', 'within = "4 hurs"\n', 1)
    path = tmp_path / "agreement.toml"
    path.write_text(text, encoding="utf-8")
    code, said = run(["check", str(path)])
    err = capsys.readouterr().err.splitlines()
    assert (code, said) == (1, "")
    lines = text.splitlines()
    first = next(n for n, line in enumerate(lines, 1) if "tracking_perod" in line)
    second = next(n for n, line in enumerate(lines, 1) if '"4 hurs"' in line)
    assert err[0].startswith(f"{path}:{first}: 'agreement.tracking_perod' is not a known key")
    assert err[0].endswith("(did you mean 'tracking_period'?)")
    assert err[1].startswith(f"{path}:{second}: 'obligations.first-touch.within'")
    assert err[2] == f"2 problems in {path}"


def test_diagram_in_both_formats(tmp_path: pathlib.Path) -> None:
    """``diagram`` draws the lifecycle of the file as Mermaid or DOT."""
    path = tmp_path / "agreement.toml"
    run(["init", str(path)])
    code, mermaid = run(["diagram", str(path)])
    assert code == 0
    assert mermaid.startswith("stateDiagram-v2")
    assert "mql --> sal: accept" in mermaid
    code, dot = run(["diagram", str(path), "--format", "dot"])
    assert code == 0
    assert dot.startswith("digraph")


@pytest.mark.parametrize(
    "command",
    ["demo", "init", "check", "summary", "diagram", "replay", "report", "due", "lead", "whatif"],
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``leadsla COMMAND --help`` describes the command and exits 0."""
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    assert f"usage: leadsla {command}" in capsys.readouterr().out


def test_a_bad_format_is_a_usage_error() -> None:
    """An unknown --format exits with status 2."""
    with pytest.raises(SystemExit) as caught:
        main(["summary", "agreement.toml", "--format", "pdf"])
    assert caught.value.code == 2


def test_a_missing_folder_is_a_clean_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Writing into a folder that does not exist exits 1 with a message, not a traceback."""
    path = tmp_path / "agreement.toml"
    run(["init", str(path)])
    assert run(["init", str(tmp_path / "nowhere" / "a.toml")])[0] == 1
    assert "'path' cannot be written" in capsys.readouterr().err
    assert run(["summary", str(path), "-o", str(tmp_path / "nowhere" / "a.html")])[0] == 1
    assert "'output' cannot be written" in capsys.readouterr().err


def test_a_closed_pipe_ends_the_demo_quietly() -> None:
    """When the reader goes away (``leadsla demo | head -1``) the command stops, exit 1."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    assert main(["demo"], ClosedPipe()) == 1


def _line(**event: object) -> str:
    return json.dumps(event)


LOG = "\n".join(
    [
        _line(
            id="e1",
            type="lead_created",
            lead="L-1",
            at="2026-03-06T16:00:00+02:00",
            fields={"email": "ann@acme.fi", "score": 62},
        ),
        _line(
            id="e2",
            type="lead_created",
            lead="L-2",
            at="2026-03-09T09:10:00+02:00",
            fields={"email": "bo@beta.se", "score": 70},
        ),
        "",
        _line(
            id="e3",
            type="transition",
            lead="L-2",
            at="2026-03-09T09:30:00+02:00",
            trigger="acept",
            by="bob",
        ),
        _line(
            id="e4",
            type="activity",
            lead="L-2",
            at="2026-03-09T10:00:00+02:00",
            kind="call",
            outcome="connected",
            by="carol",
        ),
    ]
)


def replay_run(tmp_path: pathlib.Path, *arguments: str, log: str = LOG) -> tuple[int, str]:
    path = tmp_path / "events.jsonl"
    path.write_text(log, encoding="utf-8")
    out = io.StringIO()
    code = main(["replay", str(path), *arguments], out)
    return code, out.getvalue()


def test_replay_reports_what_the_agreement_made_of_a_log(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary counts the clocks and breaches (by owner) and the commitment; a refused
    line is reported on stderr with its line number, and the exit code is 1."""
    code, text = replay_run(tmp_path, "--until", "2026-03-10T17:00:00+02:00")
    errors = capsys.readouterr().err
    path = tmp_path / "events.jsonl"
    assert code == 1
    assert f"{path}:4: 'trigger' is not a known trigger (got 'acept')" in errors
    assert "did you mean 'accept'?" in errors
    assert f"1 line refused in {path}" in errors
    assert f"{path}: 4 events on Marketing–sales SLA, 1 refused, 0 duplicates; 2 leads" in text
    assert "clock at Tue 2026-03-10 17:00" in text
    # L-1 (bob's) misses its first touch and acceptance; L-2 is carol's: her connected call
    # meets its first touch and its attempts, but nobody accepts it within a business day.
    assert "Obligations: 6 clocks: 2 on time, 0 met late, 3 breached, 0 cancelled, 1 open" in text
    assert "  accept-or-reject: 2 (bob 1, carol 1)\n  first-touch: 1 (bob 1)\n" in text
    assert "  mql-volume 2026-03: 2 of 150, 0% accepted: not met" in text


def test_replay_of_a_clean_log_exits_0_and_can_write_the_effects(tmp_path: pathlib.Path) -> None:
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    effects = tmp_path / "effects.jsonl"
    code, text = replay_run(tmp_path, "--effects", str(effects), log=clean)
    assert code == 0
    assert "3 events on Marketing–sales SLA, 0 refused" in text
    written = [json.loads(line) for line in effects.read_text(encoding="utf-8").splitlines()]
    assert written[0]["type"] == "transitioned"
    assert sum(effect["type"] == "obligation_opened" for effect in written) == 6


def test_replay_with_an_agreement_file(tmp_path: pathlib.Path) -> None:
    agreement = tmp_path / "agreement.toml"
    assert main(["init", str(agreement)], io.StringIO()) == 0
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    code, text = replay_run(tmp_path, "--agreement", str(agreement), log=clean)
    assert code == 0
    assert "3 events" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--until", "2026-03-10 17:00"],
            "leadsla: '--until' is not a time with its UTC offset (got '2026-03-10 17:00'); "
            "write e.g. 2026-03-31T17:00:00+03:00",
        ),
        (["--until", "soon"], "'--until' is not a time with its UTC offset (got 'soon')"),
    ],
)
def test_replay_refuses_a_bad_until(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    code, _ = replay_run(tmp_path, *arguments)
    assert code == 1
    assert message in capsys.readouterr().err


def test_replay_of_a_missing_log_names_it(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.jsonl"
    assert main(["replay", str(missing)], io.StringIO()) == 1
    error = capsys.readouterr().err
    assert f"'log' cannot be read (No such file or directory) (got '{missing}')" in error
    assert "give the path of a JSON Lines file" in error


def test_due_lists_what_comes_up_in_firing_order(tmp_path: pathlib.Path) -> None:
    """From the last event (Mon 10:00) for one business day: L-1's warning and deadlines,
    then L-2's acceptance deadline; the refused line still makes the exit code 1."""
    code, _ = replay_run(tmp_path)
    out = io.StringIO()
    assert main(["due", str(tmp_path / "events.jsonl")], out) == code == 1
    assert out.getvalue() == (
        "Due from Mon 2026-03-09 10:00 to Tue 2026-03-10 10:00 (1 business day):\n"
        "Mon 2026-03-09 11:00  warning   L-1     first-touch #1, due Mon 2026-03-09 12:00, "
        "owner bob (sales)\n"
        "Mon 2026-03-09 12:00  deadline  L-1     first-touch #1, due Mon 2026-03-09 12:00, "
        "owner bob (sales)\n"
        "Mon 2026-03-09 16:00  deadline  L-1     accept-or-reject #1, due Mon 2026-03-09 16:00, "
        "owner bob (sales)\n"
        "Tue 2026-03-10 09:10  deadline  L-2     accept-or-reject #1, due Tue 2026-03-10 09:10, "
        "owner carol (sales)\n"
    )


def test_due_at_a_later_time_and_for_a_span(tmp_path: pathlib.Path) -> None:
    """At 12:30 the first touch has breached: only the acceptance deadlines are left, and a
    span of two business hours holds none of them."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    replay_run(tmp_path, log=clean)
    log = str(tmp_path / "events.jsonl")
    out = io.StringIO()
    assert main(["due", log, "--at", "2026-03-09T12:30:00+02:00", "--within", "2 hours"], out) == 0
    assert out.getvalue() == (
        "Nothing due from Mon 2026-03-09 12:30 to Mon 2026-03-09 14:30 (2 hours).\n"
    )
    out = io.StringIO()
    until = ["--until", "2026-03-10T12:00:00+02:00"]
    assert main(["due", log, "--at", "2026-03-09T12:30:00+02:00", *until], out) == 0
    assert [line.split("  ")[2] for line in out.getvalue().splitlines()[1:]] == ["L-1", "L-2"]


def test_due_refuses_a_bad_span(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay_run(tmp_path)
    assert main(["due", str(tmp_path / "events.jsonl"), "--within", "soon"], io.StringIO()) == 1
    assert "leadsla: '--within' " in capsys.readouterr().err


def test_lead_tells_the_story_of_one_lead(tmp_path: pathlib.Path) -> None:
    """State and owner, fields, each move with its explanation, owners, clocks."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    replay_run(tmp_path, log=clean)
    out = io.StringIO()
    log = str(tmp_path / "events.jsonl")
    assert main(["lead", log, "L-2", "--at", "2026-03-10T17:00:00+02:00"], out) == 0
    text = out.getvalue()
    assert text.startswith("L-2: mql, owner carol (sales)\nFields: email='bo@beta.se', score=70\n")
    assert "lead -> mql (qualify, rule auto-qualify, reason mql-term-holds)" in text
    assert "        mql: score >= 50 -> True (score = 70)" in text
    assert "  from Mon 2026-03-09 09:10 on: carol (sales) (qualify: entered mql)" in text
    assert "  first-touch #1: met; opened Mon 2026-03-09 09:10; due Mon 2026-03-09 13:10; " in text
    assert "  accept-or-reject #1: breached; " in text
    # --as-of is the same option.
    again = io.StringIO()
    assert main(["lead", log, "L-2", "--as-of", "2026-03-10T17:00:00+02:00"], again) == 0
    assert again.getvalue() == text


def test_lead_names_an_unknown_lead(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay_run(tmp_path)
    assert main(["lead", str(tmp_path / "events.jsonl"), "L-3"], io.StringIO()) == 1
    assert (
        "leadsla: 'lead' is not in the log (got 'L-3'); the log has 2 leads "
        "(did you mean 'L-2'?); give the id as the events write it"
    ) in capsys.readouterr().err


def test_whatif_compares_two_agreements_on_one_log(tmp_path: pathlib.Path) -> None:
    """With first touch due in 1 business hour instead of 4, carol's 50-minute call is late:
    one more breach, on her, and one clock met late instead of on time."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    replay_run(tmp_path, log=clean)
    current = tmp_path / "current.toml"
    assert main(["init", str(current)], io.StringIO()) == 0
    text = current.read_text(encoding="utf-8")
    assert text.count('within = "4 business hours"') == 1
    tighter = tmp_path / "tighter.toml"
    tighter.write_text(
        text.replace('within = "4 business hours"', 'within = "50 business minutes"').replace(
            'before = "1 business hour"', 'before = "10 business minutes"'
        ),
        encoding="utf-8",
    )
    out = io.StringIO()
    log = str(tmp_path / "events.jsonl")
    until = "2026-03-10T17:00:00+02:00"
    arguments = ["whatif", log, str(tighter), "--agreement", str(current), "--until", until]
    assert main(arguments, out) == 0
    rows = {line[:40].strip(): line[40:].split() for line in out.getvalue().splitlines()[1:]}
    assert rows["clocks on time"] == ["2", "1", "-1"]
    assert rows["clocks met late"] == ["0", "1", "+1"]
    assert rows["missed: first-touch"] == ["1", "2", "+1"]
    assert rows["missed, owner carol"] == ["1", "2", "+1"]
    assert rows["clocks opened"] == ["6", "6"]


def test_whatif_of_an_agreement_with_itself_changes_nothing(tmp_path: pathlib.Path) -> None:
    replay_run(tmp_path)
    same = tmp_path / "same.toml"
    assert main(["init", str(same)], io.StringIO()) == 0
    out = io.StringIO()
    assert main(["whatif", str(tmp_path / "events.jsonl"), str(same)], out) == 1  # a refused line
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["default", "agreement", str(same), "change"]
    assert all(len(line.split()) >= 2 for line in lines[1:])
    assert not any(line.rstrip().endswith(("+1", "-1")) for line in lines[1:])


def test_a_log_with_a_byte_order_mark_reads_its_first_line(tmp_path: pathlib.Path) -> None:
    """Some Windows tools start UTF-8 files with a byte-order mark; it is not part of line 1."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + clean.replace("\n", "\r\n").encode("utf-8"))
    out = io.StringIO()
    assert main(["replay", str(path)], out) == 0
    assert "3 events on Marketing–sales SLA, 0 refused" in out.getvalue()


def test_effects_to_stdout_keep_stdout_json_lines(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --effects -, every stdout line is an effect; the summary goes to stderr."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    code, text = replay_run(tmp_path, "--effects", "-", log=clean)
    assert code == 0
    assert [json.loads(line)["type"] for line in text.splitlines()][:2] == [
        "transitioned",
        "owner_changed",
    ]
    assert "3 events on Marketing–sales SLA" in capsys.readouterr().err


def test_an_empty_log_writes_no_effects(tmp_path: pathlib.Path) -> None:
    code, text = replay_run(tmp_path, "--effects", "-", log="\n\n")
    assert code == 0
    assert text == ""


def test_due_until_before_now_is_refused(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A list that ends before it starts would silently be empty: an input problem (exit 1)."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    path = tmp_path / "events.jsonl"
    path.write_text(clean, encoding="utf-8")
    assert main(["due", str(path), "--until", "2026-03-09T09:00:00+02:00"], io.StringIO()) == 1
    assert "'--until' is before now (2026-03-09T10:00:00+02:00)" in capsys.readouterr().err


# -- a time before the log's last event: the log up to it ----------------------------------

BEFORE_THE_CALL = "2026-03-09T09:30:00+02:00"  # after L-2's creation, before carol's call


def clean_log(tmp_path: pathlib.Path) -> str:
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    path = tmp_path / "events.jsonl"
    path.write_text(clean + "\n", encoding="utf-8")
    return str(path)


def test_replay_until_before_the_last_event_replays_the_log_up_to_it(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The events after --until are not applied, and stderr says how many; exit 0."""
    log = clean_log(tmp_path)
    out = io.StringIO()
    assert main(["replay", log, "--until", BEFORE_THE_CALL], out) == 0
    text = out.getvalue()
    assert f"{log}: 3 events on Marketing–sales SLA, 0 refused, 0 duplicates; 2 leads" in text
    assert "clock at Mon 2026-03-09 09:30" in text
    assert "Obligations: 6 clocks: 0 on time, 0 met late, 0 breached, 0 cancelled, 6 open" in text
    assert capsys.readouterr().err == (
        f"1 event in {log} came after --until {BEFORE_THE_CALL} and was not applied\n"
    )


def test_report_until_before_the_last_event_says_how_many_were_left_out(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report counts the clocks up to --until: none met before carol's call."""
    log = clean_log(tmp_path)
    out = io.StringIO()
    assert main(["report", log, "--until", "2026-03-09T09:00:00+02:00"], out) == 0
    assert "  lead 1, mql 1" in out.getvalue()  # only L-1, created on Friday
    assert capsys.readouterr().err == (
        f"2 events in {log} came after --until 2026-03-09T09:00:00+02:00 and were not applied\n"
    )


def test_whatif_until_before_the_last_event_says_it_once(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both agreements replay the same log: the events left out are told once."""
    log = clean_log(tmp_path)
    same = tmp_path / "same.toml"
    assert main(["init", str(same)], io.StringIO()) == 0
    capsys.readouterr()
    out = io.StringIO()
    assert main(["whatif", log, str(same), "--until", BEFORE_THE_CALL], out) == 0
    assert "clocks on time" in out.getvalue()
    assert capsys.readouterr().err == (
        f"1 event in {log} came after --until {BEFORE_THE_CALL} and was not applied\n"
    )


def test_lead_at_a_time_before_the_last_event_tells_the_story_so_far(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 09:30 carol has not called yet: L-2's first touch is still running."""
    log = clean_log(tmp_path)
    out = io.StringIO()
    assert main(["lead", log, "L-2", "--at", BEFORE_THE_CALL], out) == 0
    assert "  first-touch #1: open; opened Mon 2026-03-09 09:10; due Mon 2026-03-09 13:10" in (
        out.getvalue()
    )
    assert capsys.readouterr().err == (
        f"1 event in {log} came after --at {BEFORE_THE_CALL} and was not applied\n"
    )


def test_due_at_a_time_before_the_last_event_lists_what_was_due_then(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 09:30 L-2's first touch (met by the later call) is still to come."""
    log = clean_log(tmp_path)
    out = io.StringIO()
    assert main(["due", log, "--at", BEFORE_THE_CALL, "--within", "4 hours"], out) == 0
    assert "Mon 2026-03-09 13:10  deadline  L-2     first-touch #1" in out.getvalue()
    assert "came after --at" in capsys.readouterr().err


def test_a_log_line_nested_too_deeply_is_refused_with_its_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line of 100 000 ``[`` is reported as LOG:LINE and the other lines are replayed."""
    clean = [line for line in LOG.splitlines() if "acept" not in line]
    code, text = replay_run(tmp_path, log="\n".join([clean[0], "[" * 100_000, *clean[1:]]))
    path = tmp_path / "events.jsonl"
    assert code == 1
    assert f"{path}: 4 events on Marketing–sales SLA, 1 refused" in text
    error = capsys.readouterr().err
    assert f"{path}:2: 'event' nests lists or objects too deeply to be read" in error
    assert f"1 line refused in {path}" in error


def test_an_agreement_with_problems_is_named_with_its_lines(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Which file is wrong, and where, as ``check`` says it."""
    replay_run(tmp_path)
    good = tmp_path / "good.toml"
    assert main(["init", str(good)], io.StringIO()) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        good.read_text(encoding="utf-8").replace('"4 business hours"', '"4 bizness hours"'),
        encoding="utf-8",
    )
    log = str(tmp_path / "events.jsonl")
    assert main(["whatif", log, str(good), "--agreement", str(bad)], io.StringIO()) == 1
    error = capsys.readouterr().err
    where = re.escape(str(bad))
    assert re.search(rf"leadsla: {where}:\d+: 'obligations.first-touch.within'", error)


def test_whatif_keeps_each_section_together(tmp_path: pathlib.Path) -> None:
    """Rows only the alternative has (a new breach, a new owner breaching) sit in their
    section, not after the commitments."""
    clean = "\n".join(line for line in LOG.splitlines() if "acept" not in line)
    replay_run(tmp_path, log=clean)
    current = tmp_path / "current.toml"
    assert main(["init", str(current)], io.StringIO()) == 0
    text = current.read_text(encoding="utf-8")
    strict = tmp_path / "strict.toml"
    # First touch within 30 business minutes: carol's call, 50 minutes in, is late.
    strict.write_text(
        text.replace('within = "4 business hours"', 'within = "30 business minutes"').replace(
            'before = "1 business hour"', 'before = "10 business minutes"'
        ),
        encoding="utf-8",
    )
    out = io.StringIO()
    log = str(tmp_path / "events.jsonl")
    until = "2026-03-09T12:00:00+02:00"
    assert (
        main(["whatif", log, str(strict), "--agreement", str(current), "--until", until], out) == 0
    )
    labels = [line[:40].strip() for line in out.getvalue().splitlines()[1:]]
    assert labels.index("missed: first-touch") < labels.index("missed, owner carol")
    assert labels.index("missed, owner carol") < labels.index("leads now in mql")
