"""Benchmark: reading real traces into the canonical job table.

Targets (issue 3): the full Philly CSV (82,247 jobs) and a 200k-job SWF log each read in a few
seconds at most. Prints the median of several reads per file; exits 1 when a target is missed,
2 when ../shared/traces is absent. Not part of CI.

    .venv/bin/python benchmarks/read_traces.py [--repeats 3] [--limit 5.0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from traces.formats import read

SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
FILES = [
    ("philly/philly.csv", "philly"),
    ("swf/HPC2N-2002-2.2-cln.swf.gz", "swf"),
    ("swf/SDSC-BLUE-2000-4.2-cln.swf.gz", "swf"),
    ("alibaba-gpu-2023/openb_pod_list_default.csv", "alibaba2023"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=float, default=5.0, help="seconds allowed per file (median)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} not found: nothing to benchmark", file=sys.stderr)
        return 2
    print(f"{'file':48} {'format':12} {'jobs':>8} {'median s':>9} {'jobs/s':>10}  target")
    missed = 0
    for rel, fmt in FILES:
        times, jobs = [], 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jobs = len(read(SHARED / rel).jobs)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        ok = median <= args.limit
        missed += not ok
        print(f"{rel:48} {fmt:12} {jobs:8,} {median:9.2f} {jobs / median:10,.0f}  {'ok' if ok else 'MISSED'} (<= {args.limit:g} s)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
