"""Tiresias: discretized two-dimensional least-attained-service."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from policies import register
from policies._common import preemptive_plan
from sim.model import Wake

_TOLERANCE = 1e-9  # relative: attained service this close below a threshold counts as crossing it


@register("tiresias")
@dataclass
class Tiresias:
    """Discretized 2D-LAS: queues by attained GPU-seconds, demotion at thresholds, preemptive.

    A new job joins the end of the top queue; a running job whose attained service (executed
    seconds × GPUs) crosses its queue's threshold joins the end of the next queue down. Each
    scheduling point walks the queues top to bottom in list order and gives GPUs to every job that
    fits (by count, then placement); running jobs left out are preempted. Afterwards, in every queue
    the jobs that run move ahead of those that wait, each group keeping its order. The policy asks
    to be woken when the next running job will cross a threshold.

    Inherently O(jobs in the system) per scheduling point: it walks all its queues.
    """

    thresholds: tuple[float, ...] = (3250.0, 7200.0)
    _queues: list[list[str]] = field(default_factory=list, init=False, repr=False)
    _level: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.thresholds or any(t <= 0 for t in self.thresholds) or list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError(f"thresholds must be positive and strictly increasing, got {list(self.thresholds)}")
        self._queues = [[] for _ in range(len(self.thresholds) + 1)]

    def _crossed(self, job, level: int) -> bool:
        return level < len(self.thresholds) and job.attained >= self.thresholds[level] * (1 - _TOLERANCE)

    def schedule(self, view, rng):
        alive = {job.job_id: job for job in view.running}
        alive.update((job.job_id, job) for job in view.pending)
        for queue in self._queues:
            queue[:] = [job_id for job_id in queue if job_id in alive]
        self._level = {job_id: lvl for job_id, lvl in self._level.items() if job_id in alive}
        for job in view.pending:
            if job.job_id not in self._level:
                self._level[job.job_id] = 0
                self._queues[0].append(job.job_id)
        for level, queue in enumerate(self._queues[:-1]):
            for job_id in [j for j in queue if alive[j].is_running and self._crossed(alive[j], level)]:
                queue.remove(job_id)
                lvl = level + 1
                while self._crossed(alive[job_id], lvl):
                    lvl += 1
                self._queues[lvl].append(job_id)
                self._level[job_id] = lvl
        order = [alive[job_id] for queue in self._queues for job_id in queue]
        decisions, runs = preemptive_plan(view, order)
        for queue in self._queues:
            queue[:] = [j for j in queue if j in runs] + [j for j in queue if j not in runs]
        wake = math.inf
        for job_id in runs:
            level = self._level[job_id]
            if level < len(self.thresholds):
                job = alive[job_id]
                wake = min(wake, view.now + (self.thresholds[level] - job.attained) / job.num_gpus)
        if wake < math.inf:
            decisions.append(Wake(max(wake, math.nextafter(view.now, math.inf))))
        return decisions
