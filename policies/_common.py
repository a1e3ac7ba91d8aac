"""Building blocks shared by policies: greedy starts and count-based preemptive planning."""

from __future__ import annotations

from collections.abc import Iterable

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
