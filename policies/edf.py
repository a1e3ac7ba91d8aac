"""Earliest deadline first."""

from __future__ import annotations

import math
from dataclasses import dataclass

from policies import register
from policies._common import chosen_in_order, preemptive_plan, starts_in_order


def _deadline(job) -> float:
    return math.inf if job.job.deadline is None else job.job.deadline


@register("edf")
@dataclass
class EarliestDeadlineFirst:
    """Earliest deadline first; jobs without a deadline after all others, in arrival order.

    Each job that fits starts (no head-of-line blocking). With ``preemptive=true`` a pending job with
    an earlier deadline preempts running jobs with later ones (or none); among equal deadlines running
    jobs come first, so they never preempt each other. The queue is walked in deadline order through
    the engine's pending index, not sorted: O((jobs tried + r) × log q) per scheduling point.
    """

    preemptive: bool = False

    def schedule(self, view, rng):
        if not self.preemptive:
            return starts_in_order(view, "deadline")
        running = sorted(view.running, key=lambda j: (_deadline(j), j.index))
        return preemptive_plan(view, chosen_in_order(view, running, "deadline", running_first=True))[0]
