"""The ``leadsla`` command line."""

import io
import pathlib
import subprocess
import sys

import pytest

from leadsla._cli import main


def demo_output() -> str:
    out = io.StringIO()
    assert main(["demo"], out) == 0
    return out.getvalue()


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
