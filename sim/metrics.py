"""Metrics: pure functions of the job specs and the event log.

Definitions (time 0 is the first submission):
``wait`` = first start − submit; ``jct`` = end − submit; ``slowdown`` = jct / duration;
``bounded_slowdown`` = max(1, jct / max(duration, 10 s)); ``makespan`` = last end − first submit
(the stop time instead when some jobs are unfinished); ``utilization`` = busy GPU-seconds /
(total GPUs × makespan), where a GPU is busy from a job's start to its preemption or end (restart
overheads included). Statistics over jobs cover finished jobs only (those unfinished at a stop are
censored: left out, so the averages understate); unfinished ones are counted. Percentiles
(``median_jct``, ``p95_jct``, ``p99_jct``) interpolate linearly between the sorted JCTs (numpy's
default, Hyndman and Fan's type 7). ``preemptions`` counts those of the jobs passed in, finished
or not. ``makespan``, ``utilization`` and ``resizes`` are whole-run figures (from the whole log):
pass every job for them (a sweep's trim takes makespan and utilization from the whole run).

Deadlines: ``deadline_jobs`` counts finished jobs with a deadline; ``deadline_miss_ratio`` is the
fraction of them that end after their deadline and ``avg_tardiness`` the mean of
max(0, end − deadline) over them (both NaN when there is none; a job unfinished at a stop is left
out even when its deadline has passed). ``jain_fairness`` is Jain's index
(Σx)² / (n·Σx²) over groups — users, or VCs when no job has a user — of each group's mean
duration / JCT over its finished jobs (1 / slowdown: how fast the group's work got done). It is 1
when every group is served alike and k/n when k of the n groups are served alike and the others
get next to nothing (1/n: one group takes all); NaN with fewer than two groups. A group none of
whose jobs finished is left out, so a group starved until a stop does not lower it.

Shared GPUs (the resource model with ``gpu_milli`` < 1000 on one-GPU jobs): ``utilization`` and
``busy_gpus`` count every job as holding its whole GPUs, so a GPU shared by k jobs counts k times
and ``utilization`` can exceed 1. Runs with the resource model in which some
job asks for a share also report ``gpu_share_utilization`` = share-weighted busy GPU-seconds /
(total GPUs × makespan), where a job holds ``gpu_milli / 1000`` of its GPU (whole GPUs for every
other job, as ``sim.fragmentation.job_share`` says), and the time series the share-weighted busy
GPUs (``busy_gpu_share``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from sim.fragmentation import job_share
from sim.model import (EVENT_KINDS, FAIL, FINISH, KILL, NODE_OFF, NODE_ON, PREEMPT, REPAIR, RESIZE, START, STOP,
                       SUBMIT, Event, EventLog, Job)

BOUNDED_SLOWDOWN_FLOOR = 10.0  # seconds

JOB_COLUMNS = ("job_id", "submit_time", "start_time", "end_time", "num_gpus", "duration", "wait", "jct",
               "slowdown", "bounded_slowdown", "preemptions")
SUMMARY_KEYS = ("jobs", "unfinished", "avg_jct", "median_jct", "p95_jct", "p99_jct", "avg_wait", "makespan",
                "utilization", "avg_slowdown", "avg_bounded_slowdown", "preemptions",
                "deadline_jobs", "deadline_miss_ratio", "avg_tardiness", "jain_fairness")
TIMESERIES_COLUMNS = ("time", "busy_gpus", "queue_length")
SHARE_KEYS = ("gpu_share_utilization",)
SHARE_COLUMN = "busy_gpu_share"  # timeseries column of runs with shared GPUs
_CODE = {kind: code for code, kind in enumerate(EVENT_KINDS)}


def _columns(events: Iterable[Event]) -> tuple[Sequence[float], Sequence[int], Sequence[str], Sequence[int]]:
    """The log as columns: times, kind codes (positions in ``EVENT_KINDS``), job ids, GPU counts.
    An ``EventLog`` already is columns; any other sequence of events is split into them."""
    if isinstance(events, EventLog):
        return events.times, events.kinds, events.job_id_column(), events.gpu_counts()
    rows = list(events)
    return ([e.time for e in rows], [_CODE[e.kind] for e in rows], [e.job_id for e in rows],
            [len(e.gpus) for e in rows])


def _per_job(jobs: Sequence[Job], columns):
    """Per job, in job order: first start, end and preemptions (None, None, 0 if it never ran),
    from the log's ``_columns`` (a resize is not a preemption)."""
    first_start: dict[str, float] = {}
    end: dict[str, float] = {}
    preemptions: dict[str, int] = {}
    times, kinds, ids, _ = columns
    for t, k, job_id in zip(times, kinds, ids):
        if k == START:
            if job_id not in first_start:
                first_start[job_id] = t
        elif k == FINISH:
            end[job_id] = t
        elif k == PREEMPT:
            preemptions[job_id] = preemptions.get(job_id, 0) + 1
    return ([first_start.get(j.job_id) for j in jobs], [end.get(j.job_id) for j in jobs],
            [preemptions.get(j.job_id, 0) for j in jobs])


def job_table(jobs: Sequence[Job], events: Iterable[Event]) -> list[dict]:
    """One flat record per job, in the given job order; fields of unfinished jobs may be None."""
    rows = []
    for j, start, stop, preempted in zip(jobs, *_per_job(jobs, _columns(events))):
        jct = None if stop is None else stop - j.submit_time
        rows.append({
            "job_id": j.job_id, "submit_time": j.submit_time, "start_time": start, "end_time": stop,
            "num_gpus": j.num_gpus, "duration": j.duration,
            "wait": None if start is None else start - j.submit_time,
            "jct": jct,
            "slowdown": None if jct is None else jct / j.duration,
            "bounded_slowdown": None if jct is None else max(1.0, jct / max(j.duration, BOUNDED_SLOWDOWN_FLOOR)),
            "preemptions": preempted,
        })
    return rows


def busy_gpu_seconds(events: Iterable[Event]) -> float:
    """GPU-seconds held by jobs: each start to its preemption, finish, kill (a node failed under
    it), or the stop event."""
    return _busy(_columns(events))


def _busy(columns, weight=None) -> float:
    """Σ over runs of (GPUs held × seconds), each run weighted by ``weight(job_id, gpus)``
    instead of its GPU count when given."""
    held: dict[str, tuple[float, int]] = {}
    total = 0.0
    for t, k, job_id, n in zip(*columns):
        if k == START:
            held[job_id] = (t, n if weight is None else weight(job_id, n))
        elif k == PREEMPT or k == RESIZE or k == FINISH or k == KILL:
            t0, n = held.pop(job_id)
            total += n * (t - t0)
        elif k == STOP:
            total += sum(n * (t - t0) for t0, n in held.values())
            held.clear()
    return total


def shares(jobs: Iterable[Job]) -> dict[str, int]:
    """Job id → thousandths of each of its GPUs, for the jobs that use less than a whole GPU
    (``sim.fragmentation.job_share``); empty when no job shares a GPU."""
    out = {}
    for job in jobs:
        milli = job_share(job)
        if milli < 1000:
            out[job.job_id] = milli
    return out


def share_gpu_seconds(events: Iterable[Event], milli_by_id: Mapping[str, int]) -> float:
    """Busy GPU-seconds weighted by the share of each GPU a job uses: as ``busy_gpu_seconds``, but
    a job in ``milli_by_id`` counts ``milli / 1000`` of each of its GPUs (others count whole)."""
    milli = lambda job_id, n: n * milli_by_id.get(job_id, 1000)  # noqa: E731 - thousandths of a GPU
    return _busy(_columns(events), milli) / 1000


def share_summary(jobs: Sequence[Job], events: Iterable[Event], num_gpus: int, makespan: float) -> dict:
    """``gpu_share_utilization`` (see the module docstring) when some job shares a GPU, else {}:
    for runs under the resource model only (without it, shares are not honoured)."""
    milli = shares(jobs)
    if not milli:
        return {}
    busy = share_gpu_seconds(events, milli)
    return {"gpu_share_utilization": busy / (num_gpus * makespan) if makespan > 0 else math.nan}


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else math.nan


def _pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(xs, q)) if len(xs) else math.nan


def summary(jobs: Sequence[Job], events: Sequence[Event], num_gpus: int) -> dict:
    """Scalar statistics of one run (see the module docstring); NaN where there is no finished job."""
    columns = _columns(events)  # read once, used twice
    starts, ends, preempted = _per_job(jobs, columns)
    done = [j for j, end in zip(jobs, ends) if end is not None]  # parallel lists, no tuple per job
    done_starts = [start for start, end in zip(starts, ends) if end is not None]
    done_ends = [end for end in ends if end is not None]
    jct = [end - j.submit_time for j, end in zip(done, done_ends)]
    times, kinds, _, _ = columns
    stops = [t for t, k in zip(times, kinds) if k == STOP] if kinds.count(STOP) else []
    first = min((j.submit_time for j in jobs), default=0.0)
    last = stops[-1] if stops else max(done_ends, default=first)
    makespan = max(0.0, last - first)  # a run stopped before the first submission has none
    return {
        "jobs": len(jobs),
        "unfinished": len(jobs) - len(done),
        "avg_jct": _mean(jct),
        "median_jct": _pct(jct, 50),
        "p95_jct": _pct(jct, 95),
        "p99_jct": _pct(jct, 99),
        "avg_wait": _mean([start - j.submit_time for j, start in zip(done, done_starts)]),
        "makespan": makespan,
        "utilization": _busy(columns) / (num_gpus * makespan) if makespan > 0 else math.nan,
        "avg_slowdown": _mean([c / j.duration for j, c in zip(done, jct)]),
        "avg_bounded_slowdown": _mean([max(1.0, c / max(j.duration, BOUNDED_SLOWDOWN_FLOOR)) for j, c in zip(done, jct)]),
        "preemptions": sum(preempted),  # of these jobs: a sweep's trim passes only some
        **_deadline_stats(zip((j.deadline for j in done), done_ends)),
        "jain_fairness": jain_index(list(_group_shares(jobs, zip(done, jct)).values())),
        **_resizes(kinds.count(RESIZE)),
    }


def _resizes(n: int) -> dict:
    """``resizes`` (elastic jobs' resizes and moves, ``sim.model.Resize``), only in runs that had any."""
    return {"resizes": n} if n else {}


def deadline_stats(jobs: Sequence[Job], rows: Sequence[dict]) -> dict:
    """``deadline_jobs``, ``deadline_miss_ratio`` and ``avg_tardiness`` (seconds) over the finished
    ``rows`` of :func:`job_table` whose job has a deadline."""
    by_id = {j.job_id: j for j in jobs}
    return _deadline_stats((by_id[r["job_id"]].deadline, r["end_time"]) for r in rows if r["end_time"] is not None)


def _deadline_stats(finished: Iterable[tuple[float | None, float]]) -> dict:
    """The deadline statistics over (deadline, end time) pairs of finished jobs."""
    late = [max(0.0, end - deadline) for deadline, end in finished if deadline is not None]
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
    1 = never waited). Jain's index over these is 1 when every group is served alike and k/n when
    only k of the n groups are served. Jobs without a group or unfinished are left out (so is a
    group with no finished job)."""
    _, ends, _ = _per_job(jobs, _columns(events))
    return _group_shares(jobs, [(j, end - j.submit_time) for j, end in zip(jobs, ends) if end is not None])


def _group_shares(jobs: Sequence[Job], finished: Iterable[tuple[Job, float]]) -> dict[str, float]:
    """:func:`group_shares` from (job, JCT) pairs of the finished jobs, in job order."""
    key = "user" if any(j.user is not None for j in jobs) else "vc"
    rates: dict[str, list[float]] = {}
    for job, jct in finished:
        group = getattr(job, key)
        if group is not None and jct > 0:
            rates.setdefault(group, []).append(job.duration / jct)
    return {g: sum(r) / len(r) for g, r in rates.items()}


def group_fairness(jobs: Sequence[Job], events: Iterable[Event]) -> float:
    """Jain's index over :func:`group_shares` (see the module docstring)."""
    return jain_index(list(group_shares(jobs, events).values()))


FAULT_KEYS = ("failures", "kills", "jobs_hit", "gpu_hours_lost", "goodput", "availability")


def availability(events: Iterable[Event], num_gpus: int) -> list[tuple[float, int]]:
    """(time, GPUs in the pool) from time 0 (``num_gpus`` then) and after each instant at which a
    node failed or was repaired, or an autoscaler turned one on or off."""
    out = [(0.0, num_gpus)]
    up = num_gpus
    times, kinds, _, counts = _columns(events)
    for t, k, n in zip(times, kinds, counts):
        if k == FAIL or k == REPAIR or k == NODE_ON or k == NODE_OFF:
            up += n if k == REPAIR or k == NODE_ON else -n
            if out[-1][0] == t:
                out[-1] = (t, up)
            else:
                out.append((t, up))
    return out


def fault_summary(events: Sequence[Event], stats: Mapping, num_gpus: int) -> dict:
    """A faulty run's statistics: node ``failures``; ``kills`` of jobs and distinct ``jobs_hit``;
    ``gpu_hours_lost`` (work thrown away by kills, restart and checkpoint time); ``goodput``
    (useful / busy GPU-seconds); ``availability`` (mean fraction of GPUs up from the first event
    to the last)."""
    busy = busy_gpu_seconds(events)
    lost = stats["lost_work_gpu_s"] + stats["overhead_gpu_s"]
    times = events.times if isinstance(events, EventLog) else [e.time for e in events]
    start, end = (times[0], times[-1]) if len(times) else (0.0, 0.0)
    up_seconds, timeline = 0.0, availability(events, num_gpus)
    for (t, up), (t_next, _) in zip(timeline, [*timeline[1:], (end, 0)]):
        lo, hi = max(t, start), min(t_next, end)
        if hi > lo:
            up_seconds += up * (hi - lo)
    return {
        "failures": stats["failures"], "kills": stats["kills"], "jobs_hit": len(stats["jobs_hit"]),
        "gpu_hours_lost": lost / 3600.0,
        "goodput": (busy - lost) / busy if busy > 0 else math.nan,
        "availability": up_seconds / (num_gpus * (end - start)) if end > start else 1.0,
    }


def straggler_gpu_seconds(events: Iterable[Event], jobs: Sequence[Job], speed, ideal) -> float:
    """GPU-seconds lost to stragglers: over every run (start to its finish, preemption, kill or
    the stop), GPUs × time × (1 − rate / ideal rate), where ``speed(job, gpus)`` is the rate the
    run had (its slowest worker) and ``ideal(job, gpus)`` the rate with no straggler."""
    by_id = {j.job_id: j for j in jobs}
    held: dict[str, tuple[float, tuple[int, ...]]] = {}
    lost = 0.0

    def close(job_id: str, t: float) -> float:
        t0, gpus = held.pop(job_id)
        job = by_id[job_id]
        return len(gpus) * (t - t0) * (1.0 - speed(job, gpus) / ideal(job, gpus))

    for e in events:
        if e.kind == "start":
            held[e.job_id] = (e.time, tuple(e.gpus))
        elif e.kind in ("finish", "preempt", "resize", "kill") and e.job_id in held:
            lost += close(e.job_id, e.time)
        elif e.kind == "stop":
            for job_id in list(held):
                lost += close(job_id, e.time)
    return lost


AUTOSCALE_KEYS = ("cost", "node_hours", "peak_nodes", "provisioned_utilization")


def autoscale_summary(events: Sequence[Event], stats: Mapping) -> dict:
    """An elastic run's statistics: ``cost`` (node-hours × each node's hourly cost, provisioning
    included), ``node_hours``, ``peak_nodes`` (on or booting), ``provisioned_utilization`` (busy /
    GPU-seconds of nodes that were on)."""
    on = stats["on_gpu_seconds"]
    return {"cost": stats["cost"], "node_hours": stats["node_seconds"] / 3600.0, "peak_nodes": stats["peak_nodes"],
            "provisioned_utilization": busy_gpu_seconds(events) / on if on > 0 else math.nan}


def timeseries(events: Iterable[Event], gpus_by_id: Mapping[str, int],
               milli_by_id: Mapping[str, int] | None = None) -> list[tuple]:
    """(time, busy GPUs, queue length) after all events of each instant at which something happened.

    With ``milli_by_id`` (``shares``: job → thousandths of each of its GPUs, others whole) each
    row also has the share-weighted busy GPUs (``SHARE_COLUMN``), a float counted exactly in
    thousandths."""
    if milli_by_id is not None:
        return _share_timeseries(events, gpus_by_id, milli_by_id)
    out: list[tuple[float, int, int]] = []
    busy = queue = 0
    held: dict[str, int] = {}  # GPUs per running job: its start's (an elastic job's may differ)
    times, kinds, ids, counts = _columns(events)
    for t, k, job_id, n in zip(times, kinds, ids, counts):
        if k == SUBMIT:
            queue += 1
        elif k == START:
            queue -= 1
            held[job_id] = n = n or gpus_by_id[job_id]
            busy += n
        elif k == PREEMPT or k == RESIZE or k == KILL:
            queue += 1
            busy -= held.pop(job_id, gpus_by_id[job_id])
        elif k == FINISH:
            busy -= held.pop(job_id, gpus_by_id[job_id])
        if out and out[-1][0] == t:
            out[-1] = (t, busy, queue)
        else:
            out.append((t, busy, queue))
    return out


def _share_timeseries(events, gpus_by_id, milli_by_id) -> list[tuple[float, int, int, float]]:
    """:func:`timeseries` with the share-weighted busy GPUs as a fourth value: its rows, each
    with the thousandths of GPU capacity held by the running jobs at that time."""
    if not isinstance(events, EventLog):
        events = list(events)  # read twice: a one-pass iterable would give the second reading nothing
    plain = timeseries(events, gpus_by_id)
    used, held, at = 0, {}, iter(plain)
    out = []
    row = next(at, None)
    times, kinds, ids, counts = _columns(events)
    for i, (t, k, job_id, n) in enumerate(zip(times, kinds, ids, counts)):
        if k == START:
            held[job_id] = (n or gpus_by_id[job_id]) * milli_by_id.get(job_id, 1000)
            used += held[job_id]
        elif k == PREEMPT or k == RESIZE or k == KILL or k == FINISH:
            used -= held.pop(job_id, 0)
        if i + 1 == len(times) or times[i + 1] != t:  # the instant's last event: its row
            out.append((*row, used / 1000))
            row = next(at, None)
    return out
