"""Elastic jobs on the Philly sample: rigid policies against the elastic policy, calibrated.

Every job of the bundled Philly trace (virtual cluster b436b2) gets a model from the Gavel profile
(calibrate.speed.assign_models), so its speed on k GPUs follows that model's fitted scaling
curve; then each job becomes elastic between half and twice its requested GPUs (at most one
node). The rigid policies run every job at its requested size; ``elastic`` starts jobs small,
shrinks them to admit the next job and grows them into idle GPUs where they gain most. Every
resize is a checkpoint and restart costing ``--restart-overhead`` seconds. The table gives mean
and 95th-percentile JCT, utilization and resizes; ``--ideal`` replays with ideal (linear)
scaling instead of the calibrated curves, to show how much the curves matter. Only the scaling
changes: each job still runs at its GPU type's calibrated speed on its requested size, so the
rigid policies' rows are the same with and without ``--ideal``.

    .venv/bin/python examples/elastic_jobs.py                 # about 1 s
    .venv/bin/python examples/elastic_jobs.py --ideal --jobs 2000
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import policies
from calibrate.gpu_types import canonical
from calibrate.profile import load
from calibrate.speed import Calibration, assign_models
from sim.engine import simulate
from sim.model import Cluster
from traces.formats import read

SAMPLE = Path(__file__).resolve().parent.parent / "traces" / "samples" / "philly_b436b2.csv"
POLICIES = ("fifo", "fifo-backfill", "tiresias", "elastic")


def elastic_jobs(jobs, cluster: Cluster):
    """Each job elastic between half and twice its size, within one node."""
    node = max(n.num_gpus for n in cluster.nodes)
    return tuple(replace(j, min_gpus=max(1, j.num_gpus // 2), max_gpus=max(j.num_gpus, min(2 * j.num_gpus, node)))
                 for j in jobs)


def ideal_speed(cal: Calibration, cluster: Cluster):
    """Linear scaling from the job's requested size, at the calibrated speed of its GPUs' slowest
    type: a job on k GPUs does k / num_gpus of what it does on num_gpus GPUs of that type on one
    node. Unlike ``speed=None`` (rate 1 on num_gpus GPUs: the profile's reference type, P100 for
    Gavel), this keeps the GPU type's speed, so only the scaling curve differs from ``cal.speed``."""
    type_of_gpu = [canonical(n.gpu_type) for n in cluster.nodes for _ in range(n.num_gpus)]

    def speed(job, gpus):
        if not cal.calibrated(job):
            return len(gpus) / job.num_gpus
        slowest = max(cal.step_time(job.model, t, job.batch_size, job.num_gpus, True)
                      for t in {type_of_gpu[g] for g in gpus})
        return cal.reference_step(job) / slowest * len(gpus) / job.num_gpus

    return speed


def table(jobs: int, cluster_spec: str, overhead: float, ideal: bool) -> list[dict]:
    cluster = Cluster.parse(cluster_spec)
    trace = read(SAMPLE).jobs[:jobs]
    cal = Calibration(load("gavel"), cluster)
    work = elastic_jobs(assign_models(trace, cal), cluster)
    rows = []
    for name in POLICIES:
        result = simulate(work, cluster, policies.make(name), 0, restart_overhead=overhead,
                          speed=ideal_speed(cal, cluster) if ideal else cal.speed)
        s = result.summary()
        rows.append({"policy": name, "avg_jct_h": s["avg_jct"] / 3600, "p95_jct_h": s["p95_jct"] / 3600,
                     "utilization": s["utilization"], "resizes": s.get("resizes", 0),
                     "preemptions": s["preemptions"], "unfinished": s["unfinished"]})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1500, help="the first N jobs of the sample (default 1500)")
    parser.add_argument("--cluster", default="8x8:V100", help="cluster spec (default 8x8:V100)")
    parser.add_argument("--restart-overhead", type=float, default=30.0, help="seconds per restart (default 30)")
    parser.add_argument("--ideal", action="store_true", help="ideal scaling instead of the calibrated curves")
    args = parser.parse_args(argv)
    rows = table(args.jobs, args.cluster, args.restart_overhead, args.ideal)
    scaling = "ideal scaling" if args.ideal else "Gavel-calibrated scaling curves"
    print(f"{args.jobs} Philly jobs (elastic: half to twice their GPUs) on {args.cluster}, {scaling}, "
          f"restart overhead {args.restart_overhead:g} s")
    print(f"{'policy':<15}{'avg JCT (h)':>12}{'p95 JCT (h)':>12}{'util':>7}{'resizes':>9}{'preempt':>9}")
    for r in rows:
        print(f"{r['policy']:<15}{r['avg_jct_h']:>12.2f}{r['p95_jct_h']:>12.2f}{r['utilization']:>7.3f}"
              f"{r['resizes']:>9}{r['preemptions']:>9}")


if __name__ == "__main__":
    main()
