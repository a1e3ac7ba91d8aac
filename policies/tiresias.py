"""Tiresias: discretized two-dimensional least-attained-service."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain

from policies import register
from policies._common import preemptive_plan
from sim.model import JobState, Wake

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

    Inherently O(jobs in the system) per scheduling point: it walks its queues until the GPUs run
    out and keeps them in order. The per-job work is done only for running jobs (demotion, the
    wake-up) and for new and finished ones; the rest is list operations.
    """

    thresholds: tuple[float, ...] = (3250.0, 7200.0)
    _queues: list[list[JobState]] = field(default_factory=list, init=False, repr=False)
    _level: dict[JobState, int] = field(default_factory=dict, init=False, repr=False)
    _runs: list[JobState] = field(default_factory=list, init=False, repr=False)  # running after the last pass
    _newest: int = field(default=-1, init=False, repr=False)  # highest arrival index queued so far

    def __post_init__(self) -> None:
        if not self.thresholds or any(t <= 0 for t in self.thresholds) or list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError(f"thresholds must be positive and strictly increasing, got {list(self.thresholds)}")
        self._queues = [[] for _ in range(len(self.thresholds) + 1)]

    def _crossed(self, job, level: int) -> bool:
        return level < len(self.thresholds) and job.attained >= self.thresholds[level] * (1 - _TOLERANCE)

    def schedule(self, view, rng):
        self._forget_finished()
        self._queue_arrivals(view.pending)
        self._demote(view.running)
        decisions, self._runs = preemptive_plan(view, chain.from_iterable(self._queues))
        self._runs_first()
        wake = math.inf
        for job in self._runs:
            level = self._level[job]
            if level < len(self.thresholds):
                wake = min(wake, view.now + (self.thresholds[level] - job.attained) / job.num_gpus)
        if wake < math.inf:
            decisions.append(Wake(max(wake, math.nextafter(view.now, math.inf))))
        return decisions

    def _forget_finished(self) -> None:
        """Drop the jobs that ran after the last pass and have finished since (only running jobs end)."""
        for job in self._runs:
            if job.end_time is not None:
                self._queues[self._level.pop(job)].remove(job)

    def _queue_arrivals(self, pending) -> None:
        """New jobs, in arrival order, to the end of the top queue. They are the pending jobs that
        arrived after every job already queued: the tail of the pending queue."""
        new = []
        for job in reversed(pending):
            if job.index <= self._newest:
                break
            new.append(job)
        for job in reversed(new):
            self._level[job] = 0
            self._queues[0].append(job)
        if new:
            self._newest = new[0].index

    def _demote(self, running) -> None:
        """Running jobs that crossed their queue's threshold go down, top queue first, each queue in
        its order, to the first queue whose threshold they have not crossed."""
        crossed = [(self._level[job], job) for job in running if self._crossed(job, self._level[job])]
        if len(crossed) > 1:
            crossed.sort(key=lambda lj: (lj[0], self._queues[lj[0]].index(lj[1])))
        for level, job in crossed:
            self._queues[level].remove(job)
            while self._crossed(job, level):
                level += 1
            self._queues[level].append(job)
            self._level[job] = level

    def _runs_first(self) -> None:
        """In every queue, the running jobs move ahead of the waiting ones, each group keeping its order."""
        by_level: dict[int, set[JobState]] = {}
        for job in self._runs:
            by_level.setdefault(self._level[job], set()).add(job)
        for level, runs in by_level.items():
            queue = self._queues[level]
            front = 0
            while front < len(queue) and queue[front] in runs:
                front += 1
            if front < len(runs):  # some run behind a waiting job: a stable partition
                queue[:] = [j for j in queue if j in runs] + [j for j in queue if j not in runs]
        # Queues with no running job keep their order.
