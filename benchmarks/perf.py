"""Benchmarks of the simulator's speed (issue 8): one command runs them all and prints a table.

    .venv/bin/python benchmarks/perf.py                          # everything (about 8 minutes)
    .venv/bin/python benchmarks/perf.py --only philly,floor      # some: philly, million, scaling, floor
    .venv/bin/python benchmarks/perf.py --million-jobs 100000    # the "million" runs on fewer jobs

- ``philly``: ``gpusim run`` on the bundled Philly b436b2 sample (7,423 jobs) on 8x8 with
  ``--placement pool``, a whole command each (start-up included), median of ``--repeats`` runs;
  and the modules the run path imports (none of pandas, scipy, matplotlib, pyarrow).
- ``million``: 1,000,000 synthetic jobs on 1,024 nodes × 8 GPUs, Poisson arrivals at offered load
  0.9, 1/2/4/8/16 GPUs with probabilities 0.7/0.1/0.1/0.07/0.03, lognormal durations (log-mean 7,
  log-sd 1.5, seconds) clipped to [10 s, 10 days], default (consolidated) placement; generation,
  simulation and summary timed apart, peak memory of the whole process.
- ``scaling``: seconds per event against the number of jobs (10k → 1M, the million workload) and
  against the queue length (``backlog_jobs``: a backlog of whole-cluster jobs that must stay
  queued while a stream of short jobs runs), for policies that should stay flat, and Tiresias,
  which walks all its jobs when GPUs are short.
- ``floor``: strict FIFO on a pool through the engine against benchmarks/reference_loop.py, a bare
  heapq loop, on the same jobs in the same process (and the same loop on SimPy alone, to show
  what the calendar costs, and the least engine of gpusim's shape on SimPy: a policy asked at
  every instant, checked decisions, GPU ids, an event log); their per-job times must agree.

Every measurement runs in a fresh Python process. A missed target is marked in the table and makes
the exit status 1. Not part of CI.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLE = ROOT / "traces" / "samples" / "philly_b436b2.csv"
PHILLY_TARGETS = {"fifo": 0.6, "srtf": 3.8, "tiresias": 3.3, "fifo-backfill": 3.0}  # seconds, whole command
MILLION_LIMIT_S, MILLION_LIMIT_GB = 60.0, 2.0  # fifo-backfill
FLOOR_RATIO = 5.0
FLAT_RATIO = 2.0  # largest over smallest seconds per event along a curve that should be flat
HEAVY = ("pandas", "scipy", "matplotlib", "pyarrow")
SECTIONS = ("philly", "million", "scaling", "floor")


# --- workers: each runs in its own process and prints one JSON object -----------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def million_jobs(n: int, seed: int = 0):
    from traces.synthetic import Durations, Workload

    workload = Workload(jobs=n, load=0.9, sizes=((1, 0.7), (2, 0.1), (4, 0.1), (8, 0.07), (16, 0.03)),
                        durations=Durations("lognormal", (7.0, 1.5), 10.0, 10 * 86_400.0))
    return workload.generate(8192, seed)


def backlog_jobs(stream: int, backlog: int):
    """``backlog`` jobs that stay queued while ``stream`` short jobs run on 64x8 GPUs (pool).

    At time 0 a 1-GPU job takes its GPU to the end (1e9 s) and ``backlog`` whole-cluster jobs queue
    behind it (the first is the head: it cannot start, and no job that would delay it may); then the
    stream arrives at offered load 0.8 of the other 511 GPUs. Policies that order by length keep the
    one-GPU job (shorter) and skip the backlog (it never fits). Returns the jobs and the time the
    stream is over (simulate until then)."""
    import numpy as np

    from sim.model import Job
    from sim.rng import stream as rng_stream

    jobs = [Job("blocker", 0.0, 1, 1e9)] + [Job(f"b{i}", 0.0, 512, 2e9) for i in range(backlog)]
    sizes = rng_stream(0, "sizes").choice([1, 2, 4, 8], size=stream, p=[0.55, 0.2, 0.15, 0.1])
    durations = rng_stream(0, "durations").lognormal(np.log(300.0), 1.0, size=stream)
    rate = 0.8 * 511 / (float(np.mean(sizes)) * 300.0 * np.exp(0.5))
    submits = 1.0 + np.cumsum(rng_stream(0, "arrivals").exponential(1 / rate, size=stream))
    jobs += [Job(f"s{i}", float(submits[i]), int(sizes[i]), float(durations[i])) for i in range(stream)]
    return jobs, float(submits[-1])


def worker_million(policy: str, n: int, placement: str) -> dict:
    import policies
    from sim.engine import simulate
    from sim.model import Cluster

    t0 = time.perf_counter()
    jobs = million_jobs(n)
    t1 = time.perf_counter()
    result = simulate(jobs, Cluster.parse("1024x8"), policies.make(policy), 0, placement=placement)
    t2 = time.perf_counter()
    summary = result.summary()
    t3 = time.perf_counter()
    return {"generate_s": t1 - t0, "simulate_s": t2 - t1, "summary_s": t3 - t2, "events": len(result.events),
            "log_mb": result.events.nbytes / 2**20, "peak_mb": _peak_mb(), "unfinished": summary["unfinished"],
            "utilization": summary["utilization"]}


def worker_backlog(policy: str, stream: int, backlog: int) -> dict:
    """Seconds per event after time 0 (the backlog's one-off arrival is left out)."""
    import policies
    from sim.engine import simulate
    from sim.model import Cluster

    from sim.model import START

    jobs, until = backlog_jobs(stream, backlog)
    marks: list[float] = []

    def progress(now: float, done: int, total: int) -> None:
        if not marks:
            marks.append(time.perf_counter())  # the end of the pass at time 0

    args = {"thresholds": [1e12, 2e12]} if policy == "tiresias" else {}  # one busy queue: no demotion
    result = simulate(jobs, Cluster.parse("64x8"), policies.make(policy, args), 0, placement="pool", until=until,
                      progress=progress)
    elapsed = time.perf_counter() - marks[0]
    later = sum(1 for t in result.events.times if t > 0.0)
    starts = sum(1 for t, k in zip(result.events.times, result.events.kinds) if t > 0.0 and k == START)
    return {"simulate_s": elapsed, "events": later, "starts": starts, "peak_mb": _peak_mb()}


def worker_floor(workload: str, n: int) -> dict:
    import policies
    from sim.engine import simulate
    from sim.model import Cluster

    sys.path.insert(0, str(HERE))
    from reference_loop import fifo_pool, fifo_pool_least_engine, fifo_pool_simpy

    if workload == "philly":
        from traces.formats import read

        jobs, cluster = read(SAMPLE).jobs, Cluster.parse("8x8")
    else:
        jobs, cluster = million_jobs(n), Cluster.parse("1024x8")
    engine_s, simpy_s, least_s, bare_s = [], [], [], []
    def timed(fn, *args, **kwargs):  # each loop after a full collection: none pays for another's garbage
        gc.collect()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        return out, time.perf_counter() - t0

    # Alternate, so that all see the same machine. On Philly (milliseconds) the first five rounds are
    # warm-up, left out: CPython 3.11 specializes a function's bytecode only after several calls,
    # and one loop may take up to seven calls to reach its steady speed (1.5x faster).
    warmup = 5 if workload == "philly" else 0
    for _ in range(warmup + (5 if workload == "philly" else 1)):
        result, t = timed(simulate, jobs, cluster, policies.make("fifo"), 0, placement="pool")
        engine_s.append(t)
        on_simpy, t = timed(fifo_pool_simpy, jobs, cluster.num_gpus)
        simpy_s.append(t)
        least, t = timed(fifo_pool_least_engine, jobs, cluster.num_gpus)
        least_s.append(t)
        (start, end), t = timed(fifo_pool, jobs, cluster.num_gpus)
        bare_s.append(t)
    del engine_s[:warmup], simpy_s[:warmup], least_s[:warmup], bare_s[:warmup]
    rows = result.job_table()
    agree = on_simpy == (start, end) == least and all(r["start_time"] == s and r["end_time"] == e
                                             for r, s, e in zip(rows, start, end))
    return {"engine_s": statistics.median(engine_s), "simpy_s": statistics.median(simpy_s),
            "least_s": statistics.median(least_s), "bare_s": statistics.median(bare_s), "agree": agree, "jobs": len(jobs), "events": len(result.events)}


def worker_imports(policy: str) -> dict:
    from sim.cli import main

    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            main(["run", "--trace", str(SAMPLE), "--cluster", "8x8", "--placement", "pool", "--policy", policy])
        finally:
            sys.stdout = stdout
    return {"heavy": sorted(m for m in HEAVY if m in sys.modules)}


WORKERS = {"million": worker_million, "backlog": worker_backlog, "floor": worker_floor, "imports": worker_imports}


def spawn(kind: str, *args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"worker {kind} {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


# --- the benchmarks -------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.missed = 0

    def add(self, name: str, measured: str, target: str = "", ok: bool | None = None) -> None:
        status = "" if ok is None else ("ok" if ok else "MISSED")
        self.missed += ok is False
        self.rows.append((name, measured, target, status))
        print(f"  {name}: {measured}  {target}  {status}", file=sys.stderr, flush=True)

    def render(self) -> str:
        widths = [max(len(r[i]) for r in self.rows + [("benchmark", "measured", "target", "")]) for i in range(4)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([line(("benchmark", "measured", "target", "")), line(tuple("-" * w for w in widths))]
                         + [line(r) for r in self.rows])


def bench_philly(table: Table, repeats: int) -> None:
    gpusim = Path(sys.executable).parent / "gpusim"
    for policy, limit in PHILLY_TARGETS.items():
        command = [str(gpusim), "run", "--trace", str(SAMPLE), "--cluster", "8x8", "--placement", "pool",
                   "--policy", policy]
        times, cpu = [], []
        for _ in range(repeats):
            c0, t0 = _children_cpu(), time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
            cpu.append(_children_cpu() - c0)
        median = statistics.median(times)
        table.add(f"philly {policy} (gpusim run, median of {repeats})",
                  f"{median:.2f} s ({7423 / median:,.0f} jobs/s; min {min(times):.2f}, max {max(times):.2f}; "
                  f"CPU {statistics.median(cpu):.2f} s)", f"<= {limit} s", median <= limit)
    heavy = {policy: spawn("imports", policy)["heavy"] for policy in PHILLY_TARGETS}
    loaded = sorted({m for ms in heavy.values() for m in ms})
    table.add("run path imports " + "/".join(HEAVY), "none" if not loaded else ", ".join(loaded), "none", not loaded)


def bench_million(table: Table, n: int) -> dict:
    out = {}
    for policy in ("fifo-backfill", "tiresias"):
        r = out[policy] = spawn("million", policy, n, "consolidated")
        total = r["generate_s"] + r["simulate_s"] + r["summary_s"]
        measured = (f"{total:.1f} s (generate {r['generate_s']:.1f}, simulate {r['simulate_s']:.1f}, summary "
                    f"{r['summary_s']:.1f}); {r['events']:,} events, {r['events'] / r['simulate_s']:,.0f} events/s; "
                    f"peak {r['peak_mb'] / 1024:.2f} GB (log {r['log_mb']:.0f} MB)")
        if policy == "fifo-backfill":
            ok = total < MILLION_LIMIT_S and r["peak_mb"] / 1024 < MILLION_LIMIT_GB and r["unfinished"] == 0
            target = f"< {MILLION_LIMIT_S:.0f} s, < {MILLION_LIMIT_GB:.0f} GB" + ("" if n == 1_000_000 else " (at 1M)")
            table.add(f"{n:,} jobs {policy}", measured, target, ok if n == 1_000_000 else None)
        else:
            table.add(f"{n:,} jobs {policy}", measured, "no target")
    return out


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def bench_scaling(table: Table, million: dict | None, largest: int) -> None:
    sizes = [s for s in (10_000, 30_000, 100_000, 300_000, 1_000_000) if s <= largest]
    per_event = []
    for n in sizes:
        r = million["fifo-backfill"] if million and n == largest else spawn("million", "fifo-backfill", n, "consolidated")
        per_event.append(r["simulate_s"] / r["events"] * 1e6)
    spread = max(per_event) / min(per_event)
    table.add("scaling: fifo-backfill µs/event vs jobs " + "/".join(_count(s) for s in sizes),
              " ".join(f"{x:.1f}" for x in per_event), f"flat (max/min <= {FLAT_RATIO})", spread <= FLAT_RATIO)
    backlogs = (1, 1_000, 10_000, 100_000)
    for policy in ("fifo", "fifo-backfill", "sjf", "srtf", "tiresias"):
        per_event = []
        for q in backlogs if policy != "tiresias" else backlogs[:3]:
            r = spawn("backlog", policy, 10_000, q)
            per_event.append(r["simulate_s"] / r["events"] * 1e6)
        spread = max(per_event) / min(per_event)
        flat = policy != "tiresias"
        table.add(f"scaling: {policy} µs/event vs queue " + "/".join(_count(q) for q in backlogs[:len(per_event)]),
                  " ".join(f"{x:.1f}" for x in per_event),
                  f"flat (max/min <= {FLAT_RATIO})" if flat else "O(queue) by design", spread <= FLAT_RATIO if flat else None)


def bench_floor(table: Table, n: int) -> None:
    for workload in ("philly", "million"):
        r = spawn("floor", workload, n)
        ratio = r["engine_s"] / r["bare_s"]
        table.add(f"floor: fifo on a pool, {workload} ({r['jobs']:,} jobs)",
                  f"engine {r['engine_s']:.3f} s / bare heapq loop {r['bare_s']:.3f} s = {ratio:.1f}x "
                  f"(the same loop on SimPy alone: {r['simpy_s'] / r['bare_s']:.1f}x; the least engine of this "
                  f"shape on SimPy, reference_loop.fifo_pool_least_engine: {r['least_s'] / r['bare_s']:.1f}x)"
                  + ("" if r["agree"] else "; PER-JOB TIMES DIFFER"),
                  f"<= {FLOOR_RATIO:.0f}x", ratio <= FLOOR_RATIO and r["agree"])


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; load average {load}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each gpusim command (median reported)")
    parser.add_argument("--million-jobs", type=int, default=1_000_000, help="jobs in the 'million' workload")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        fn = WORKERS[kind]
        print(json.dumps(fn(*[int(a) if a.isdigit() else a for a in rest])))
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    print(f"gpusim benchmarks on {machine()}", file=sys.stderr)
    table, million = Table(), None
    if "philly" in only:
        bench_philly(table, args.repeats)
    if "million" in only:
        million = bench_million(table, args.million_jobs)
    if "scaling" in only:
        bench_scaling(table, million, args.million_jobs)
    if "floor" in only:
        bench_floor(table, args.million_jobs)
    print(f"gpusim benchmarks on {machine()}\n")
    print(table.render())
    if table.missed:
        print(f"\n{table.missed} target(s) missed")
    sys.stdout.flush()
    return 1 if table.missed else 0


if __name__ == "__main__":
    sys.exit(main())
