"""The ``leadsla`` command line."""

import io
import pathlib
import subprocess
import sys

import pytest

from leadsla._cli import main


def test_demo_prints_deadlines_on_the_office_calendar() -> None:
    """``leadsla demo`` shows the Friday-afternoon lead's first touch due Monday 12:00."""
    out = io.StringIO()
    assert main(["demo"], out) == 0
    text = out.getvalue()
    assert "Mon–Fri 09:00–17:00, Europe/Helsinki" in text
    friday_row = next(line for line in text.splitlines() if line.startswith("Fri 2026-03-06 16:00"))
    assert friday_row.split("  ")[1].strip() == "Mon 2026-03-09 12:00"


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
    result = subprocess.run(
        [str(script), "demo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "first touch" in result.stdout
