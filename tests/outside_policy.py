"""Policies that live outside the ``policies`` package, loaded as ``"outside_policy:Class"`` by the tests."""

from __future__ import annotations

from dataclasses import dataclass

from sim.model import Start, Wake


class LowestFirst:
    """Starts pending jobs in arrival order on the lowest-indexed free GPUs, ignoring node boundaries."""

    def schedule(self, view, rng):
        planner = view.planner()
        free = [g for g in range(view.num_gpus) if planner.is_free(g)]
        starts = []
        for job in view.pending:
            if job.num_gpus > len(free):
                break
            starts.append(Start(job.job_id, tuple(free[: job.num_gpus])))
            free = free[job.num_gpus:]
        return starts


@dataclass
class Patient:
    """Starts a job (engine-placed) only once it has waited ``delay`` seconds; wakes itself for that."""

    delay: float = 1.0

    def schedule(self, view, rng):
        starts, wake = [], None
        free = view.free_gpus
        for job in view.pending:
            ready_at = job.submit_time + self.delay
            if ready_at > view.now:
                wake = ready_at if wake is None else min(wake, ready_at)
            elif job.num_gpus <= free:
                starts.append(Start(job.job_id))
                free -= job.num_gpus
        return starts + ([Wake(wake)] if wake is not None else [])


class Overeager:
    """Starts every pending job on GPU 0: illegal as soon as two jobs are pending or one is running."""

    def schedule(self, view, rng):
        return [Start(job.job_id, (0,) * job.num_gpus) for job in view.pending]
