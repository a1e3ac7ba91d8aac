"""Metrics: pure functions of the job specs and the event log.

Definitions (time 0 is the first submission):
``wait`` = first start − submit; ``jct`` = end − submit; ``slowdown`` = jct / duration;
``bounded_slowdown`` = max(1, jct / max(duration, 10 s)); ``makespan`` = last end − first submit
(the stop time instead when some jobs are unfinished); ``utilization`` = busy GPU-seconds /
(total GPUs × makespan), where a GPU is busy from a job's start to its preemption or end (restart
overheads included). Statistics over jobs cover finished jobs only; unfinished ones are counted.

Deadlines: ``deadline_jobs`` counts finished jobs with a deadline; ``deadline_miss_ratio`` is the
fraction of them that end after their deadline and ``avg_tardiness`` the mean of
max(0, end − deadline) over them (both NaN when there is none). ``jain_fairness`` is Jain's index
(Σx)² / (n·Σx²) over groups — users, or VCs when no job has a user — of each group's mean
duration / JCT over its finished jobs (1 / slowdown: how fast the group's work got done). It is 1
when every group is served alike and tends to 1/n as one group is starved; NaN with fewer than
two groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from sim.model import Event, Job

BOUNDED_SLOWDOWN_FLOOR = 10.0  # seconds

JOB_COLUMNS = ("job_id", "submit_time", "start_time", "end_time", "num_gpus", "duration", "wait", "jct",
               "slowdown", "bounded_slowdown", "preemptions")
SUMMARY_KEYS = ("jobs", "unfinished", "avg_jct", "median_jct", "p95_jct", "p99_jct", "avg_wait", "makespan",
                "utilization", "avg_slowdown", "avg_bounded_slowdown", "preemptions",
                "deadline_jobs", "deadline_miss_ratio", "avg_tardiness", "jain_fairness")
TIMESERIES_COLUMNS = ("time", "busy_gpus", "queue_length")


def job_table(jobs: Sequence[Job], events: Iterable[Event]) -> list[dict]:
    """One flat record per job, in the given job order; fields of unfinished jobs may be None."""
    first_start: dict[str, float] = {}
    end: dict[str, float] = {}
    preemptions: dict[str, int] = {}
    for e in events:
        if e.kind == "start":
            first_start.setdefault(e.job_id, e.time)
        elif e.kind == "finish":
            end[e.job_id] = e.time
        elif e.kind == "preempt":
            preemptions[e.job_id] = preemptions.get(e.job_id, 0) + 1
    rows = []
    for j in jobs:
        start, stop = first_start.get(j.job_id), end.get(j.job_id)
        jct = None if stop is None else stop - j.submit_time
        rows.append({
            "job_id": j.job_id, "submit_time": j.submit_time, "start_time": start, "end_time": stop,
            "num_gpus": j.num_gpus, "duration": j.duration,
            "wait": None if start is None else start - j.submit_time,
            "jct": jct,
            "slowdown": None if jct is None else jct / j.duration,
            "bounded_slowdown": None if jct is None else max(1.0, jct / max(j.duration, BOUNDED_SLOWDOWN_FLOOR)),
            "preemptions": preemptions.get(j.job_id, 0),
        })
    return rows


def busy_gpu_seconds(events: Iterable[Event]) -> float:
    """GPU-seconds held by jobs: each start to its preemption, finish, or the stop event."""
    held: dict[str, tuple[float, int]] = {}
    total = 0.0
    for e in events:
        if e.kind == "start":
            held[e.job_id] = (e.time, len(e.gpus))
        elif e.kind in ("preempt", "finish"):
            t0, n = held.pop(e.job_id)
            total += n * (e.time - t0)
        elif e.kind == "stop":
            total += sum(n * (e.time - t0) for t0, n in held.values())
            held.clear()
    return total


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else math.nan


def _pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(xs, q)) if len(xs) else math.nan


def summary(jobs: Sequence[Job], events: Sequence[Event], num_gpus: int) -> dict:
    """Scalar statistics of one run (see the module docstring); NaN where there is no finished job."""
    rows = [r for r in job_table(jobs, events) if r["end_time"] is not None]
    jct = [r["jct"] for r in rows]
    stops = [e.time for e in events if e.kind == "stop"]
    ends = [r["end_time"] for r in rows]
    first = min((j.submit_time for j in jobs), default=0.0)
    last = stops[-1] if stops else max(ends, default=first)
    makespan = max(0.0, last - first)  # a run stopped before the first submission has none
    return {
        "jobs": len(jobs),
        "unfinished": len(jobs) - len(rows),
        "avg_jct": _mean(jct),
        "median_jct": _pct(jct, 50),
        "p95_jct": _pct(jct, 95),
        "p99_jct": _pct(jct, 99),
        "avg_wait": _mean([r["wait"] for r in rows]),
        "makespan": makespan,
        "utilization": busy_gpu_seconds(events) / (num_gpus * makespan) if makespan > 0 else math.nan,
        "avg_slowdown": _mean([r["slowdown"] for r in rows]),
        "avg_bounded_slowdown": _mean([r["bounded_slowdown"] for r in rows]),
        "preemptions": sum(1 for e in events if e.kind == "preempt"),
        **deadline_stats(jobs, rows),
        "jain_fairness": group_fairness(jobs, events),
    }


def deadline_stats(jobs: Sequence[Job], rows: Sequence[dict]) -> dict:
    """``deadline_jobs``, ``deadline_miss_ratio`` and ``avg_tardiness`` (seconds) over the finished
    ``rows`` of :func:`job_table` whose job has a deadline."""
    deadline = {j.job_id: j.deadline for j in jobs if j.deadline is not None}
    late = [max(0.0, r["end_time"] - deadline[r["job_id"]]) for r in rows
            if r["end_time"] is not None and r["job_id"] in deadline]
    return {
        "deadline_jobs": len(late),
        "deadline_miss_ratio": sum(1 for t in late if t > 0) / len(late) if late else math.nan,
        "avg_tardiness": _mean(late),
    }


def jain_index(xs: Sequence[float]) -> float:
    """Jain's fairness index (Σx)² / (n·Σx²) of non-negative ``xs``: in [1/n, 1]; NaN when n < 2 or all are 0."""
    if len(xs) < 2:
        return math.nan
    squares = sum(x * x for x in xs)
    return sum(xs) ** 2 / (len(xs) * squares) if squares > 0 else math.nan


def group_shares(jobs: Sequence[Job], events: Iterable[Event]) -> dict[str, float]:
    """Per user (per VC when no job has a user; empty when neither): the mean over the group's
    finished jobs of duration / JCT (1 / slowdown: the speed at which the group's work got done,
    1 = never waited). Jain's index over these is 1 when every group is served alike and falls
    towards 1/n as one group is starved. Jobs without a group or unfinished are left out."""
    key = "user" if any(j.user is not None for j in jobs) else "vc"
    rates: dict[str, list[float]] = {}
    for row, job in zip(job_table(jobs, events), jobs):
        group = getattr(job, key)
        if group is not None and row["jct"] is not None and row["jct"] > 0:
            rates.setdefault(group, []).append(job.duration / row["jct"])
    return {g: sum(r) / len(r) for g, r in rates.items()}


def group_fairness(jobs: Sequence[Job], events: Iterable[Event]) -> float:
    """Jain's index over :func:`group_shares` (see the module docstring)."""
    return jain_index(list(group_shares(jobs, events).values()))


def timeseries(events: Iterable[Event], gpus_by_id: Mapping[str, int]) -> list[tuple[float, int, int]]:
    """(time, busy GPUs, queue length) after all events of each instant at which something happened."""
    out: list[tuple[float, int, int]] = []
    busy = queue = 0
    for e in events:
        if e.kind == "submit":
            queue += 1
        elif e.kind == "start":
            queue -= 1
            busy += gpus_by_id[e.job_id]
        elif e.kind == "preempt":
            queue += 1
            busy -= gpus_by_id[e.job_id]
        elif e.kind == "finish":
            busy -= gpus_by_id[e.job_id]
        if out and out[-1][0] == e.time:
            out[-1] = (e.time, busy, queue)
        else:
            out.append((e.time, busy, queue))
    return out
