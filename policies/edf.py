"""Earliest deadline first."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain

from policies import register
from policies._common import greedy_starts, preemptive_plan


def _deadline(job) -> float:
    return math.inf if job.job.deadline is None else job.job.deadline


@register("edf")
@dataclass
class EarliestDeadlineFirst:
    """Earliest deadline first; jobs without a deadline after all others, in arrival order.

    Each job that fits starts (no head-of-line blocking). With ``preemptive=true`` a pending job with
    an earlier deadline preempts running jobs with later ones (or none); among equal deadlines running
    jobs come first, so they never preempt each other. O(jobs in the system × log) per scheduling point.
    """

    preemptive: bool = False

    def schedule(self, view, rng):
        if not self.preemptive:
            return greedy_starts(view, sorted(view.pending, key=lambda j: (_deadline(j), j.index)))
        jobs = sorted(chain(view.running, view.pending), key=lambda j: (_deadline(j), not j.is_running, j.index))
        return preemptive_plan(view, jobs)[0]
