"""Max-min fair share of GPUs across users or virtual clusters."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain

from policies import register
from policies._common import preemptive_plan
from sim.model import Start


def water_fill(capacity: float, demand: Mapping[str, float]) -> dict[str, float]:
    """Max-min fair shares of ``capacity`` among groups with the given demands (water-filling).

    Groups are served smallest demand first: each gets min(its demand, an equal split of what is left
    among the groups not yet served). Shares sum to min(capacity, total demand). O(G log G).
    """
    share: dict[str, float] = {}
    left, todo = float(capacity), sorted(demand, key=lambda g: (demand[g], g))
    for i, g in enumerate(todo):
        share[g] = min(float(demand[g]), left / (len(todo) - i))
        left -= share[g]
    return share


@register("fair-share")
@dataclass
class FairShare:
    """Max-min fair GPU shares across users (``by="user"``) or VCs (``by="vc"``); most-deprived group first.

    At each scheduling point every group's demand is the GPUs of its pending and running jobs, and
    its fair share the max-min (water-filling) split of the cluster's GPUs over those demands. Jobs
    are then offered group by group, always to the group furthest below its share in GPUs (share −
    GPUs it holds, counting the starts already chosen), in arrival order within a group; a job that
    cannot be placed is skipped. Jobs without a user (VC) form one group. Non-preemptive by default;
    with ``preemptive=true`` the same walk, counted from zero and taking running jobs first within a
    group, orders every job and running jobs left out (those of groups above their share) are
    preempted. Cost per scheduling point: O(J + G log G + J log G) for J jobs in the system and G
    groups, plus one placement attempt per pending job.
    """

    by: str = "user"
    preemptive: bool = False

    def __post_init__(self) -> None:
        if self.by not in ("user", "vc"):
            raise ValueError(f"by must be 'user' or 'vc', got {self.by!r}")

    def _group(self, job) -> str:
        value = getattr(job.job, self.by)
        return "" if value is None else str(value)

    def schedule(self, view, rng):
        queues: dict[str, list] = {}
        held: dict[str, int] = {}
        for job in chain(view.running, sorted(view.pending, key=lambda j: j.index)):
            queues.setdefault(self._group(job), []).append(job)
        for job in view.running:
            held[self._group(job)] = held.get(self._group(job), 0) + job.num_gpus
        demand = {g: sum(j.num_gpus for j in jobs) for g, jobs in queues.items()}
        share = water_fill(view.num_gpus, demand)
        if self.preemptive:
            return preemptive_plan(view, self._walk(queues, share, dict.fromkeys(queues, 0)))[0]
        pending = {g: [j for j in jobs if not j.is_running] for g, jobs in queues.items()}
        return self._starts(view, pending, share, held)

    @staticmethod
    def _walk(queues, share, held):
        """Every job, each step taking the next job of the group furthest below its share."""
        first = {g: jobs[0].index for g, jobs in queues.items()}
        heap = [(-(share[g] - held[g]), first[g], g, 0) for g in queues]
        heapq.heapify(heap)
        order = []
        while heap:
            _, _, g, i = heapq.heappop(heap)
            job = queues[g][i]
            order.append(job)
            held[g] += job.num_gpus
            if i + 1 < len(queues[g]):
                heapq.heappush(heap, (-(share[g] - held[g]), first[g], g, i + 1))
        return order

    @staticmethod
    def _starts(view, pending, share, held):
        planner = view.planner()
        heap = [(-(share[g] - held.get(g, 0)), jobs[0].index, g, 0) for g, jobs in pending.items() if jobs]
        heapq.heapify(heap)
        starts = []
        while heap and planner.has_room():
            _, _, g, i = heapq.heappop(heap)
            jobs = pending[g]
            # Free GPUs only shrink during the walk, so a job that does not fit now never will: skip it.
            while i < len(jobs):
                job = jobs[i]
                i += 1
                fits = job.num_gpus <= planner.free_total or planner.shares(job)
                gpus = planner.claim_job(job) if fits else None
                if gpus is not None:
                    starts.append(Start(job.job_id, gpus))
                    held[g] = held.get(g, 0) + job.num_gpus
                    break
            if i < len(jobs):
                heapq.heappush(heap, (-(share[g] - held[g]), jobs[i].index, g, i))
        return starts
