"""Crash safety at scale: the kill -9 test run with many more kills than the test suite's.

Runs ``tests/test_crash_safety.py`` (a writer process killed with SIGKILL at random points; each
time the store must open, keep every input and acknowledgement that returned, and hold in its
outbox exactly the effects a fresh engine gives) with ``LEADSLA_KILLS`` set: 1 000 kills in the
full run, 30 in the quick one, on each store (SQLite; PostgreSQL where the test suite can
start a server). Prints how many kills passed and how long they took.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(quick: bool = False) -> dict[str, Any]:
    kills = 30 if quick else 1_000
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "slow",
            "-s",
            "-rs",
            str(ROOT / "tests" / "test_crash_safety.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "LEADSLA_KILLS": str(kills)},
    )
    elapsed = time.perf_counter() - started
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    passed = result.returncode == 0
    stores = [
        json.loads(line[line.index("{") :])["store"]
        for line in result.stdout.splitlines()
        if '{"store"' in line
    ]
    runs = kills * max(len(stores), 1)
    print(
        f"kill -9 at {kills:,} random points on each of {', '.join(stores) or 'no store'}: "
        f"{'all passed' if passed else 'FAILED'} in {elapsed:,.0f} s "
        f"({elapsed / runs * 1e3:,.0f} ms a kill, the check included)"
    )
    if "SKIPPED" in result.stdout:
        print("  " + next(line for line in result.stdout.splitlines() if "SKIPPED" in line))
    if not passed:
        print(last)
        raise SystemExit(1)
    return {"kills": kills, "seconds": elapsed}
