"""The progress bar of the commands that read a whole log: on a terminal only, never with
--quiet, and gone before the command says anything else on stderr.

The commands run as programs, their stderr on a pseudo-terminal (as a user's terminal is) or
on a pipe (as a script's is), so that ``sys.stderr.isatty()`` is what it is in use.
"""

from __future__ import annotations

import fcntl
import io
import os
import pathlib
import pty
import re
import struct
import subprocess
import sys
import termios
import threading

import pytest
from tqdm import tqdm

from leadsla import Agreement, agreement_to_toml, simulate
from leadsla._shell import cli
from leadsla._shell.cli import main

SCRIPT = pathlib.Path(sys.executable).with_name("leadsla")
# Generous: a run takes about a second; a machine under load may take many times that.
TIMEOUT = 300
# Leads enough that a replay takes well over the bar's delay (0.25 s): about 20 000 events.
LEADS = 3000
BAR = re.compile(r"(\w+): +(\d+)%\|")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A simulated log whose last line is refused, so that stderr has lines after the bar."""
    path = tmp_path_factory.mktemp("progress") / "leads.jsonl"
    text = "".join(event.to_json() + "\n" for event in simulate(LEADS))
    path.write_text(text + "not an event\n", encoding="utf-8")
    return path


def on_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run ``leadsla args`` with stderr on a 24x100 pseudo-terminal and stdout to a pipe: the
    exit code, stdout, and what the terminal showed (its line ends made ``\\n`` again)."""
    assert SCRIPT.exists(), f"no console script next to {sys.executable}"
    master, slave = pty.openpty()
    # A new pseudo-terminal has 0 rows and 0 columns, where tqdm draws nothing.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.Popen(
            [str(SCRIPT), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
    finally:
        os.close(slave)
    shown: list[bytes] = []

    def read() -> None:  # read as it comes: a full terminal would block the command
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command closed the terminal's last other end
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    finally:
        reader.join(TIMEOUT)
        os.close(master)
    text = b"".join(shown).decode("utf-8", errors="replace")
    return process.returncode, out.decode("utf-8"), text.replace("\r\n", "\n")


def on_pipes(args: list[str]) -> tuple[int, str, str]:
    """Run ``leadsla args`` with stdout and stderr to pipes, as a script does."""
    done = subprocess.run(
        [str(SCRIPT), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def terminal(log: pathlib.Path) -> tuple[int, str, str]:
    return on_terminal(["replay", str(log)])


@pytest.fixture(scope="module")
def piped(log: pathlib.Path) -> tuple[int, str, str]:
    return on_pipes(["replay", str(log)])


@pytest.fixture(scope="module")
def quiet(log: pathlib.Path) -> tuple[int, str, str]:
    return on_terminal(["replay", str(log), "--quiet"])


def test_a_terminal_shows_the_bar_in_bytes_of_the_log(
    log: pathlib.Path, terminal: tuple[int, str, str]
) -> None:
    """The bar is named after the command, and its total is the log's size."""
    _, _, shown = terminal
    bars = BAR.findall(shown)
    assert bars, shown
    assert {name for name, _ in bars} == {"replay"}
    percents = [int(percent) for _, percent in bars]
    assert percents == sorted(percents)
    assert percents[-1] > 0  # it moves as the log is read
    size = tqdm.format_sizeof(log.stat().st_size, divisor=1024)
    assert f"/{size} [" in shown


def test_the_bar_is_gone_before_the_refused_lines_are_told(
    terminal: tuple[int, str, str], piped: tuple[int, str, str]
) -> None:
    """The last bar is erased (spaces over it, back to the line's start); what follows on the
    terminal is exactly what a pipe receives."""
    _, _, shown = terminal
    _, _, told = piped
    drawn, _, after = shown.rpartition("\r")
    assert re.search(r"%\|[^\n]*\r +$", drawn), shown[-300:]
    assert after == told


def test_a_pipe_gets_no_bar(log: pathlib.Path, piped: tuple[int, str, str]) -> None:
    code, _, told = piped
    assert code == 1
    assert "\r" not in told
    assert not BAR.search(told)
    number = len(log.read_text(encoding="utf-8").splitlines())
    lines = told.splitlines()
    assert len(lines) == 2, told
    assert lines[0].startswith(f"{log}:{number}: ")
    assert lines[1] == f"1 line refused in {log}"


def test_quiet_shows_no_bar_on_a_terminal(
    quiet: tuple[int, str, str], piped: tuple[int, str, str]
) -> None:
    _, _, shown = quiet
    _, _, told = piped
    assert "\r" not in shown
    assert not BAR.search(shown)
    assert shown == told


def test_stdout_is_the_same_with_or_without_the_bar(
    log: pathlib.Path,
    terminal: tuple[int, str, str],
    piped: tuple[int, str, str],
    quiet: tuple[int, str, str],
) -> None:
    assert terminal[0] == piped[0] == quiet[0] == 1
    assert terminal[1] == piped[1] == quiet[1]
    assert piped[1].startswith(f"{log}: ")


def test_whatif_names_the_bar_of_each_replay(log: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """whatif replays the log twice: first through the current agreement, then the other."""
    alternative = tmp_path / "alternative.toml"
    alternative.write_text(agreement_to_toml(Agreement.default()), encoding="utf-8")
    code, out, shown = on_terminal(["whatif", str(log), str(alternative)])
    names = [name for name, _ in BAR.findall(shown)]
    assert "current" in names
    assert "alternative" in names
    assert names.index("alternative") > max(i for i, n in enumerate(names) if n == "current")
    assert code == 1
    assert "events refused" in out


# In-process, with a stand-in terminal and no delay: every bar is drawn from its first moment,
# whatever the machine's speed.


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal_stderr(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """A stand-in terminal as stderr. (Called in the test: pytest sets its own stderr after the
    fixtures are made.)"""
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(cli, "_PROGRESS_DELAY", 0)
    return stream


def test_a_csv_log_shows_its_bytes_then_its_events(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV file is read whole (a bar in bytes of the file), then its events are replayed (a
    bar in events); both are erased, and the summary is the same as without them."""
    rows = ["Lead ID,Created,Score"]
    rows += [f"{n},2026-03-02T09:{n:02}:00+02:00,{40 + n}" for n in range(60)]
    leads = tmp_path / "leads.csv"
    leads.write_text("\n".join(rows) + "\n", encoding="utf-8")
    mapping = tmp_path / "leads.toml"
    mapping.write_text(
        '[[events]]\ntype = "lead_created"\nlead = "L-{Lead ID}"\nat = "{Created}"\n'
        'fields = {score = "{Score}", email = "l{Lead ID}@example.com"}\n',
        encoding="utf-8",
    )
    stderr = terminal_stderr(monkeypatch)
    out = io.StringIO()
    assert main(["replay", str(leads), "--mapping", str(mapping)], out) == 0
    shown = stderr.getvalue()
    size = tqdm.format_sizeof(leads.stat().st_size, divisor=1024)
    reading = shown.index("replay:   0%|")
    events = tqdm.format_sizeof(60)
    assert shown.index(f"/{size} [", reading) < shown.index(f"/{events} [", reading)
    assert " events/s]" in shown
    assert shown.endswith("\r")  # erased: nothing is left on the line
    quiet = io.StringIO()
    assert main(["replay", str(leads), "--mapping", str(mapping), "-q"], quiet) == 0
    assert stderr.getvalue() == shown  # --quiet added nothing
    assert quiet.getvalue() == out.getvalue()


def test_no_bar_while_the_effects_stream_to_the_terminal(
    log: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """replay --effects - on a terminal: the bar would tear the effects' lines apart."""
    small = log.with_name("small.jsonl")
    small.write_text("".join(event.to_json() + "\n" for event in simulate(5)), encoding="utf-8")
    stderr = terminal_stderr(monkeypatch)
    stdout = Terminal()
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["replay", str(small), "--effects", "-"]) == 0
    assert stderr.getvalue().startswith(f"{small}: ")  # the summary, no bar
    assert "\r" not in stderr.getvalue()
    assert stdout.getvalue().startswith("{")
    assert main(["replay", str(small), "--effects", str(log.with_name("effects.jsonl"))]) == 0
    assert BAR.search(stderr.getvalue())  # a file: the bar is back
