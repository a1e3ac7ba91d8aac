"""Random order, random node."""

from __future__ import annotations

from dataclasses import dataclass

from policies import register
from sim.model import Start
from sim.resources import ResourcePlanner


@register("random")
@dataclass
class RandomOrder:
    """Pending jobs in random order; each that fits starts on a random node that can hold it.

    A job no single node can hold is placed by the run's placement strategy instead. Inherently
    O(q) per scheduling point: it draws a permutation of the whole queue from the policy stream.
    Under the resource model (``sim.resources``) every job is placed by the strategy, honouring its demands.
    """

    def schedule(self, view, rng):
        pending = list(view.pending)
        planner = view.planner()
        starts = []
        for i in rng.permutation(len(pending)):
            if not planner.has_room():
                break  # the rest of the permutation cannot start anyway
            job = pending[i]
            if isinstance(planner, ResourcePlanner):  # the job's demands decide: the strategy's node
                gpus = planner.claim_job(job) if job.num_gpus <= planner.free_total or planner.shares(job) else None
                if gpus is not None:
                    starts.append(Start(job.job_id, gpus))
                continue
            if job.num_gpus > planner.free_total:
                continue
            nodes = planner.nodes_with(job.num_gpus)
            gpus = planner.on_node(nodes[rng.integers(len(nodes))], job.num_gpus) if nodes else planner.place(job.num_gpus)
            if gpus is not None:
                planner.take(gpus)
                starts.append(Start(job.job_id, gpus))
        return starts
