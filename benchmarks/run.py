"""Run leadsla's benchmarks: ``python benchmarks/run.py [--quick] [NAME ...]``.

Each benchmark measures leadsla and its named baselines in the same run and prints per-call
medians and ratios. ``--against [REV]`` adds to the engine benchmark the replay throughput of
another git revision (by default the last commit before the engine was split), the two taking
turns; give it last (``run.py engine --against``). Names: calendar, lifecycle, engine, store,
postgres, crash, report, stream, import, dask.
"""

from __future__ import annotations

import argparse
import platform
import sys

import bench_calendar
import bench_crash
import bench_dask
import bench_engine
import bench_import
import bench_lifecycle
import bench_postgres
import bench_report
import bench_store
import bench_stream
from _against import BEFORE_THE_SPLIT

BENCHMARKS = {
    "calendar": bench_calendar.run,
    "lifecycle": bench_lifecycle.run,
    "engine": bench_engine.run,
    "store": bench_store.run,
    "postgres": bench_postgres.run,
    "crash": bench_crash.run,
    "report": bench_report.run,
    "stream": bench_stream.run,
    "dask": bench_dask.run,
    "import": bench_import.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="which to run (all)")
    parser.add_argument("--quick", action="store_true", help="fewer batches, for a smoke run")
    parser.add_argument(
        "--against",
        metavar="REV",
        nargs="?",
        const=BEFORE_THE_SPLIT,
        help="engine: also replay the log with the leadsla of git revision REV, in turns with "
        f"this tree (default REV: {BEFORE_THE_SPLIT}, the last commit before the "
        "split)",
    )
    arguments = parser.parse_args()
    if arguments.against and arguments.names and "engine" not in arguments.names:
        parser.error("--against measures the engine: name engine among the benchmarks")
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    for name in arguments.names or BENCHMARKS:
        print()
        if name == "engine":
            bench_engine.run(quick=arguments.quick, against=arguments.against)
        else:
            BENCHMARKS[name](quick=arguments.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
