"""Building blocks shared by policies: greedy starts and count-based preemptive planning."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from sim.model import JobState, Preempt, Start, View


def greedy_starts(view: View, order: Iterable[JobState], stop_at_first_misfit: bool = False) -> list[Start]:
    """Start each job of ``order`` that the run's placement can place now, on the GPUs it chooses.

    With ``stop_at_first_misfit`` the walk stops at the first job that does not fit (head-of-line
    blocking). O(len(order) × placement cost).
    """
    planner = view.planner()
    starts = []
    for job in order:
        if planner.free_total == 0:
            break  # nothing more can fit
        gpus = planner.place(job.num_gpus) if job.num_gpus <= planner.free_total else None
        if gpus is None:
            if stop_at_first_misfit:
                break
            continue
        planner.take(gpus)
        starts.append(Start(job.job_id, gpus))
    return starts


def preemptive_plan(view: View, order: Iterable[JobState]) -> tuple[list, set[str]]:
    """Give GPUs by count in ``order`` (running and pending jobs alike), preempt the running jobs
    left out, then place the chosen pending jobs in order; one that cannot be placed on nodes is
    skipped. Returns the decisions and the ids of the jobs that run afterwards. O(len(order)).
    """
    budget = view.num_gpus
    chosen: list[JobState] = []
    for job in order:
        if job.num_gpus <= budget:
            chosen.append(job)
            budget -= job.num_gpus
    keep = {job.job_id for job in chosen if job.is_running}
    decisions: list = []
    planner = view.planner()
    for job in view.running:
        if job.job_id not in keep:
            decisions.append(Preempt(job.job_id))
            planner.release(job.gpus)
    runs = set(keep)
    for job in chosen:
        if not job.is_running and job.num_gpus <= planner.free_total:
            gpus = planner.place(job.num_gpus)
            if gpus is not None:
                planner.take(gpus)
                decisions.append(Start(job.job_id, gpus))
                runs.add(job.job_id)
    return decisions, runs


def easy_backfill(view: View, runtime: Callable[[JobState], float],
                  running_end: Callable[[JobState], float]) -> tuple[list[Start], tuple[str, float] | None]:
    """EASY backfilling: start jobs in arrival order while they fit; the first that does not (the
    head) is reserved the earliest time enough GPUs free up, from ``running_end`` of running jobs
    and ``now + runtime`` of jobs started in this pass; a later job then starts only if it fits and
    either ends by then (``now + runtime``) or uses GPUs the head will not need. The reservation
    counts GPUs, not nodes. Returns the starts and (head id, reserved time) or None. O(q + r log r).
    """
    planner, now = view.planner(), view.now
    queue = iter(view.pending)
    starts, ends, head = [], [], None
    for job in queue:
        gpus = planner.place(job.num_gpus)
        if gpus is None:
            head = job
            break
        planner.take(gpus)
        starts.append(Start(job.job_id, gpus))
        ends.append((now + runtime(job), job.num_gpus))
    if head is None:
        return starts, None
    ends.extend((running_end(job), job.num_gpus) for job in view.running)
    free, shadow = planner.free_total, math.inf
    for end, num_gpus in sorted(ends):
        free += num_gpus
        if free >= head.num_gpus:
            shadow = end
            break
    spare = free - head.num_gpus
    for job in queue:
        if job.num_gpus > planner.free_total:
            continue
        ends_in_time = now + runtime(job) <= shadow
        if not ends_in_time and job.num_gpus > spare:
            continue
        gpus = planner.place(job.num_gpus)
        if gpus is None:
            continue
        planner.take(gpus)
        starts.append(Start(job.job_id, gpus))
        if not ends_in_time:
            spare -= job.num_gpus
    return starts, (head.job_id, shadow)
