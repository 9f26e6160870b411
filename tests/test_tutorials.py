"""The monthly-review tutorial's commands print what the tutorial shows, byte for byte."""

from __future__ import annotations

import io
import pathlib
import re
import shlex
import shutil

import pytest

from leadsla._shell.cli import main

TUTORIAL = pathlib.Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "first-review.md"


def sessions(text: str) -> list[tuple[str, str]]:
    """Each ``$ command`` of the console blocks, with the output shown under it."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        parts = re.split(r"^\$ (.*)\n", block, flags=re.MULTILINE)
        found += list(zip(parts[1::2], parts[2::2], strict=True))
    return found


def test_the_tutorial_shows_every_step() -> None:
    commands = [command.split()[1] for command, _ in sessions(TUTORIAL.read_text("utf-8"))]
    assert commands == [
        "simulate",
        "init",
        "replay",
        "report",
        "report",
        "lead",
        "agreement.toml",
        "whatif",
    ]


def test_the_monthly_review_tutorial_runs_as_written(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command, shown in sessions(TUTORIAL.read_text(encoding="utf-8")):
        words = shlex.split(command)
        if words[0] == "cp":
            shutil.copy(words[1], words[2])
            # What the tutorial asks the reader to change in the copy.
            copy = pathlib.Path(words[2])
            text = copy.read_text(encoding="utf-8")
            assert text.count('within = "4 business hours"') == 1
            copy.write_text(
                text.replace('within = "4 business hours"', 'within = "2 business hours"'),
                encoding="utf-8",
            )
            continue
        assert words[0] == "leadsla"
        out = io.StringIO()
        assert main(words[1:], out) == 0, command
        assert out.getvalue() == shown, command
        if "-o" in words:  # what it wrote, such as the scorecard's HTML page, is there
            assert pathlib.Path(words[words.index("-o") + 1]).stat().st_size > 0, command
