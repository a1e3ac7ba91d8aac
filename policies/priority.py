"""Priority classes."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

from policies import register
from policies._common import greedy_starts, preemptive_plan


@register("priority")
@dataclass
class PriorityOrder:
    """Higher priority first, then arrival; each job that fits starts (no head-of-line blocking).

    With ``preemptive=true`` a pending job of a higher class preempts running jobs of lower classes;
    jobs of the same class never preempt each other.
    """

    preemptive: bool = False

    def schedule(self, view, rng):
        if not self.preemptive:
            return greedy_starts(view, sorted(view.pending, key=lambda j: (-j.priority, j.index)))
        # Within a class, running jobs come first, so only a higher class can displace them.
        jobs = sorted(chain(view.running, view.pending), key=lambda j: (-j.priority, not j.is_running, j.index))
        return preemptive_plan(view, jobs)[0]
