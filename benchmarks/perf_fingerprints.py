"""Fingerprints of event logs: proof that a speed-up changed no result.

Runs every registered policy on the bundled Philly sample and on seeded synthetic workloads, under
every placement, with and without a restart overhead, a stop time and a speed model, and prints
one sha256 per case over the whole event log (times written with ``repr``, so exactly). Record the
fingerprints before an optimisation, then compare after it:

    .venv/bin/python benchmarks/perf_fingerprints.py --out /tmp/before.json
    .venv/bin/python benchmarks/perf_fingerprints.py --check /tmp/before.json

``--check`` exits 1 naming every case whose log differs. ``--quick`` leaves out the Philly runs
of the slow (preemptive, O(queue)) policies. Not part of CI (tests/test_reference_engine.py is).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator

import numpy as np

import policies
import traces
from sim.engine import simulate
from sim.model import Cluster, Job
from sim.placement import STRATEGIES, Planner
from sim.rng import stream
from traces.formats import read

PREEMPTIVE = {"srtf", "tiresias", "srtf-predicted", "priority", "edf", "fair-share", "priority-reserve"}
# Arguments that make each policy's less common code paths run.
VARIANTS = {
    "tiresias": [{}, {"thresholds": [60.0, 400.0]}],
    "priority": [{}, {"preemptive": True}],
    "edf": [{}, {"preemptive": True}],
    "fair-share": [{}, {"preemptive": True}, {"by": "vc"}],
    "priority-reserve": [{}, {"reserve": "1:4,2:2"}, {"reserve": "2:4", "borrow": False}],
}


def fingerprint(result) -> str:
    h = hashlib.sha256()
    for e in result.events:
        h.update(repr((e.time, e.kind, e.job_id, tuple(e.gpus))).encode())
    h.update(repr(result.end_time).encode())
    return h.hexdigest()


def synthetic(seed: int, num_gpus: int, n: int, load: float, big: bool = False) -> list[Job]:
    """Poisson arrivals at ``load``, lognormal durations; odd seeds on a whole-second grid (ties)."""
    sizes, probs = ([1, 2, 4, 8, 16], [0.7, 0.1, 0.1, 0.07, 0.03]) if big else ([1, 2, 4, 8], [0.4, 0.3, 0.2, 0.1])
    gpus = stream(seed, "sizes").choice(sizes, size=n, p=probs)
    durations = np.clip(stream(seed, "durations").lognormal(np.log(60.0), 1.2, size=n), 1.0, None)
    mean_work = float(np.dot(sizes, probs)) * 60.0 * np.exp(0.72)
    gaps = stream(seed, "arrivals").exponential(mean_work / (load * num_gpus), size=n)
    submits = np.cumsum(gaps) - gaps[0]
    priority = stream(seed, "priorities").integers(0, 3, size=n)
    users = stream(seed, "users").integers(0, 4, size=n)
    deadline = submits + durations * stream(seed, "deadlines").uniform(1.0, 4.0, size=n)
    if seed % 2:
        submits, durations = np.floor(submits), np.maximum(1.0, np.round(durations))
    return [Job(f"j{i}", float(submits[i]), int(gpus[i]), float(durations[i]), priority=int(priority[i]),
                user=f"u{users[i]}", vc=f"vc{users[i] % 2}", deadline=float(deadline[i]) if i % 3 else None)
            for i in range(n)]


def spread_penalty(cluster: Cluster):
    """A speed model: 1.0 on one node, slower the more nodes a job spans (a stand-in for calibration)."""
    planner = Planner([n.num_gpus for n in cluster.nodes])

    def speed(job: Job, gpus: tuple[int, ...]) -> float:
        nodes = len({planner.node_of(g) for g in gpus})
        return 1.0 / (1.0 + 0.25 * (nodes - 1)) * (1.1 if gpus[0] % 2 else 1.0)
    return speed


def usable(name: str) -> bool:
    """Whether the policy can be made with its defaults here (a learned one may lack its model)."""
    try:
        policies.make(name)
    except Exception as err:  # noqa: BLE001 - any failure means: leave it out, and say so
        print(f"left out {name}: {err}", file=sys.stderr)
        return False
    return True


def cases(quick: bool) -> Iterator[tuple[str, dict]]:
    names = [name for name in sorted(policies.available()) if usable(name)]
    for seed in range(4):
        for spec in ("2x8", "4x4", "1x2,2x4", "3x8:A,2x4:B"):
            cluster = Cluster.parse(spec)
            jobs = synthetic(seed, cluster.num_gpus, 120, 1.3)
            for name in names:
                for args in VARIANTS.get(name, [{}]):
                    for placement in STRATEGIES:
                        for overhead in (0.0, 5.0) if name in PREEMPTIVE else (0.0,):
                            key = f"syn s{seed} {spec} {name} {json.dumps(args)} {placement} oh{overhead}"
                            yield key, dict(jobs=jobs, cluster=cluster, policy=(name, args), seed=seed,
                                            placement=placement, restart_overhead=overhead)
            for name in ("fifo", "fifo-backfill", "srtf", "tiresias", "random"):
                yield (f"syn-until s{seed} {spec} {name}",
                       dict(jobs=jobs, cluster=cluster, policy=(name, {}), seed=seed, placement="consolidated",
                            until=float(np.median([j.submit_time for j in jobs]))))
                yield (f"syn-speed s{seed} {spec} {name}",
                       dict(jobs=jobs, cluster=cluster, policy=(name, {}), seed=seed, placement="spread",
                            restart_overhead=2.0, speed=spread_penalty(cluster)))
    big = Cluster.parse("64x8")
    for seed in (0, 1):
        jobs = synthetic(seed, big.num_gpus, 3000, 0.95, big=True)
        for name in ("fifo", "fifo-backfill", "sjf", "srtf", "tiresias", "random", "backfill-predicted", "priority"):
            for placement in ("pool", "consolidated"):
                yield (f"big s{seed} {name} {placement}",
                       dict(jobs=jobs, cluster=big, policy=(name, {}), seed=seed, placement=placement))
    philly = read(traces.SAMPLE).jobs
    cluster = Cluster.parse("8x8")
    for name in names:
        if quick and name in PREEMPTIVE | {"fifo-backfill", "backfill-predicted", "ga-score", "sjf-predicted"}:
            continue
        for placement in ("pool", "consolidated"):
            yield (f"philly {name} {placement}",
                   dict(jobs=philly, cluster=cluster, policy=(name, {}), seed=1, placement=placement))
    if not quick:
        for name in ("srtf", "tiresias"):
            yield (f"philly {name} pool oh30",
                   dict(jobs=philly, cluster=cluster, policy=(name, {}), seed=1, placement="pool", restart_overhead=30.0))
        for name in ("fifo", "fifo-backfill", "random"):
            for placement in ("pack", "spread"):
                yield (f"philly {name} {placement}",
                       dict(jobs=philly, cluster=cluster, policy=(name, {}), seed=2, placement=placement))


def run(case: dict) -> str:
    case = dict(case)
    name, args = case.pop("policy")
    return fingerprint(simulate(policy=policies.make(name, args), **case))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", help="write the fingerprints to this JSON file")
    group.add_argument("--check", help="compare with fingerprints written by --out")
    parser.add_argument("--quick", action="store_true", help="leave out the slow Philly runs")
    parser.add_argument("--match", default="", help="only cases whose key contains this text")
    args = parser.parse_args()
    t0 = time.perf_counter()
    got = {key: run(case) for key, case in cases(args.quick) if args.match in key}
    print(f"{len(got)} cases in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(got, f, indent=0, sort_keys=True)
        return 0
    with open(args.check, encoding="utf-8") as f:
        want = json.load(f)
    bad = [key for key in got if key in want and want[key] != got[key]]
    for key in bad:
        print(f"DIFFERS: {key}")
    new = sum(1 for key in got if key not in want)
    print(f"{len(got) - len(bad) - new}/{len(got) - new} identical" + (f", {new} new" if new else ""), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
