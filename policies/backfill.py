"""EASY backfilling."""

from __future__ import annotations

import math
from dataclasses import dataclass

from policies import register
from sim.model import Start


@register("fifo-backfill")
@dataclass
class EasyBackfill:
    """FIFO with EASY backfilling: later jobs may start only if they do not delay the head's reservation.

    The head of the queue is reserved the earliest time enough GPUs free up, from running jobs'
    known (oracle) remaining times; a later job starts now if it fits and either ends by then or
    uses only GPUs the head will not need. The reservation counts GPUs, not nodes. O(q + r log r).
    """

    def schedule(self, view, rng):
        planner = view.planner()
        now = view.now
        queue = iter(view.pending)
        starts, ends, head = [], [], None
        for job in queue:
            gpus = planner.place(job.num_gpus)
            if gpus is None:
                head = job
                break
            planner.take(gpus)
            starts.append(Start(job.job_id, gpus))
            ends.append((now + job.remaining, job.num_gpus))
        if head is None:
            return starts
        ends.extend((job.expected_end, job.num_gpus) for job in view.running)
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
            ends_in_time = now + job.remaining <= shadow
            if not ends_in_time and job.num_gpus > spare:
                continue
            gpus = planner.place(job.num_gpus)
            if gpus is None:
                continue
            planner.take(gpus)
            starts.append(Start(job.job_id, gpus))
            if not ends_in_time:
                spare -= job.num_gpus
        return starts
