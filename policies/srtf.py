"""Shortest remaining time first."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

from policies import register
from policies._common import preemptive_plan


@register("srtf")
@dataclass
class ShortestRemainingTimeFirst:
    """Preemptive shortest remaining time first (oracle); ties by arrival order.

    At every scheduling point all jobs, running and pending, are ordered by remaining time and
    given GPUs greedily; running jobs left out are preempted. O((q + r) log(q + r)) per point.
    """

    def schedule(self, view, rng):
        jobs = sorted(chain(view.running, view.pending), key=lambda j: (j.remaining, j.index))
        return preemptive_plan(view, jobs)[0]
