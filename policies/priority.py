"""Priority classes."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from policies._common import chosen_in_order, preemptive_plan, starts_in_order


@register("priority")
@dataclass
class PriorityOrder:
    """Higher priority first, then arrival; each job that fits starts (no head-of-line blocking).

    With ``preemptive=true`` a pending job of a higher class preempts running jobs of lower classes;
    jobs of the same class never preempt each other. The queue is walked in priority order through
    the engine's pending index, not sorted: O((jobs tried + r) × log q) per scheduling point.
    """

    preemptive: bool = False

    def schedule(self, view, rng):
        if not self.preemptive:
            return starts_in_order(view, "priority")
        # Within a class, running jobs come first, so only a higher class can displace them.
        running = sorted(view.running, key=lambda j: (-j.priority, j.index))
        return preemptive_plan(view, chosen_in_order(view, running, "priority", running_first=True))[0]
