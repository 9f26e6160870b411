"""Replay throughput of another revision of leadsla, on the same log, in the same run.

The throughput target of the engine is relative: no slower than the last commit before the
engine was split into its modules (``9aaf155``; there was no release in between). Absolute
figures on a shared machine move by a third from one hour to the next, so the only honest
comparison is the two versions measured in turns, in one session. :func:`rates_against`
exports the revision's ``leadsla`` package from this repository (``git archive``) into a
temporary directory, and times :func:`leadsla.replay` of the same events in fresh processes,
the two versions taking turns; each process reads the log from JSON Lines with its own reader
before the clock starts, so only the replay is timed.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from leadsla import Event

#: The revision whose throughput the engine must keep: the last commit before the split.
BEFORE_THE_SPLIT = "9aaf155"

# Run in a fresh process with the version to measure first on the path. Older versions read
# events with ``event_from_json``; both have ``replay``.
_SCRIPT = """
import gc, json, sys, time
import leadsla
read = getattr(leadsla.Event, "from_json", None) or leadsla.event_from_json
with open(sys.argv[1], encoding="utf-8") as lines:
    log = [read(line) for line in lines]
gc.collect()
started = time.perf_counter()
result = leadsla.replay(log)
elapsed = time.perf_counter() - started
assert result.rejected == 0, "the synthetic log is all good"
print(json.dumps({"rate": len(log) / elapsed, "file": leadsla.__file__}))
"""


def _export(revision: str, into: pathlib.Path) -> pathlib.Path | str:
    """The revision's ``leadsla`` package under ``into``; a reason when it cannot be had."""
    root = pathlib.Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        return "not a git checkout"
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", revision, "leadsla"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return archive.stderr.decode(errors="replace").strip() or f"no revision {revision}"
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _rate(path: pathlib.Path, log: pathlib.Path) -> float | str:
    """Events per second of one replay of ``log`` by the ``leadsla`` found under ``path``
    (resolved: no symbolic links); the reason when it could not be measured."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(log)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(path)},
        cwd=path,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"the replay under {path} failed: {lines[-1] if lines else done.returncode}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    found = pathlib.Path(answer["file"]).resolve()
    if not found.is_relative_to(path):  # another leadsla (an installed one) was imported
        return f"the replay under {path} imported {found} instead"
    return float(answer["rate"])


def rates_against(
    revision: str, log: Sequence[Event], runs: int = 3
) -> tuple[list[float], list[float]] | str:
    """Replay rates of this working tree and of ``revision`` on ``log`` (``runs`` each, taking
    turns, one fresh process per run), or the reason they could not be measured."""
    here = pathlib.Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="leadsla-against-") as scratch:
        folder = pathlib.Path(scratch).resolve()  # (a temporary folder may be behind a link)
        (folder / "then").mkdir()
        exported = _export(revision, folder / "then")
        if isinstance(exported, str):
            return exported
        path = folder / "log.jsonl"
        with path.open("w", encoding="utf-8") as lines:
            for event in log:
                lines.write(event.to_json() + "\n")
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(runs):
            for rate, rates in ((_rate(here, path), ours), (_rate(exported, path), theirs)):
                if isinstance(rate, str):
                    return rate
                rates.append(rate)
    return ours, theirs
