"""Heterogeneity-aware placement in the spirit of Gavel's max-throughput policy (Narayanan et al., OSDI'20)."""

from __future__ import annotations

from dataclasses import dataclass, field

from calibrate.gpu_types import canonical
from policies import register
from sim.model import Start
from sim.resources import ResourcePlanner

ORDERS = ("fifo", "speedup")


@register("gavel-max-throughput")
@dataclass
class MaxThroughput:
    """Each job on the GPU type where its speedup over the slowest type is highest (profiled speeds).

    A job's step time on each GPU type of the cluster comes from the calibration ``profile`` (a
    bundled name or a file, as ``--calibration``; it should be the run's own) for its model, batch
    size and GPU count; its speedup on a type is the slowest type's step time over that type's.
    The job goes to the type with the highest speedup that has room, else to the next one (so
    slower GPUs are not left idle while jobs wait), never across types (a gang runs at its slowest
    GPU's pace). On a type, it takes one node if one holds it (the fullest that does: best fit),
    else the nodes of that type with the most free GPUs. Jobs without a model the profile knows,
    and (under the resource model) jobs taking a share of one GPU, go anywhere by the run's own
    placement and sharing rule; other demands of the resource model (a ``gpu_type``, CPU,
    memory) narrow the nodes tried.

    ``order``: ``fifo`` walks the queue in arrival order; ``speedup`` walks it by largest best
    speedup first (ties in arrival order), so the jobs that gain most from fast GPUs get them --
    the greedy counterpart of maximizing the cluster's total normalized throughput. Either way a
    job that fits nowhere is skipped and the walk goes on; non-preemptive.
    """

    profile: str = "gavel"
    order: str = "fifo"
    _fits: dict = field(default=None, init=False, repr=False)  # model → fitted speed model
    _reference: str = field(default="", init=False, repr=False)
    _types: dict = field(default=None, init=False, repr=False)  # GPU type → its nodes (the run's cluster)
    _ranks: dict = field(default_factory=dict, init=False, repr=False)  # (model, batch, n) → (best speedup, types)
    _view: object = field(default=None, init=False, repr=False)  # the run _types and _ranks belong to

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"parameter 'order' must be one of {', '.join(ORDERS)}, got {self.order!r}")
        from calibrate.fit import reference_type
        from calibrate.profile import load

        profile = load(self.profile)  # a missing or bad profile is a GpusimError naming it
        if not profile.fits:
            raise ValueError(f"parameter 'profile': {self.profile!r} has no fits (run gpusim calibrate fit)")
        self._fits = profile.fits
        # types the profile has not measured run at its reference type's speed, as in calibrate.speed
        self._reference = canonical(profile.reference_gpu_type or reference_type(profile.measurements))

    def rank(self, job) -> tuple[float, tuple[str, ...]] | None:
        """(best speedup, the cluster's GPU types from fastest to slowest) for the job, or None
        when the profile cannot time it. Speedups are relative to the slowest type present."""
        job = getattr(job, "job", job)  # a JobState's Job
        if job.model not in self._fits or job.batch_size is None:
            return None
        key = (job.model, job.batch_size, job.num_gpus)
        if key not in self._ranks:
            from calibrate.fit import step_time

            fit = self._fits[job.model]
            known = fit.get("per_type", {})
            steps = {t: step_time(fit, t if t in known else self._reference, job.batch_size, job.num_gpus, True)
                     for t in self._types}
            slowest = max(steps.values())
            order = tuple(sorted(steps, key=lambda t: (steps[t], t)))
            self._ranks[key] = (slowest / steps[order[0]], order)
        return self._ranks[key]

    def schedule(self, view, rng):
        if self._view is not view:  # a new run, maybe on another cluster: its own types and ranks
            self._view, self._types, self._ranks = view, {}, {}
            for node, spec in enumerate(view.cluster.nodes):
                self._types.setdefault(canonical(spec.gpu_type), []).append(node)
        planner = view.planner()
        jobs = list(view.pending)
        if self.order == "speedup":
            jobs.sort(key=lambda j: -(self.rank(j) or (1.0,))[0])  # stable: arrival order on ties
        starts = []
        for job in jobs:
            if not planner.has_room():
                break
            gpus = self._place(planner, job)
            if gpus is not None:
                starts.append(Start(job.job_id, gpus))
        return starts

    def _place(self, planner, job) -> tuple[int, ...] | None:
        """Claim GPUs for the job on its best type with room (see the class docstring), or None."""
        rank = self.rank(job)
        if rank is None or planner.shares(job):  # unprofiled jobs and GPU shares: the run's own rules
            return planner.claim_job(job) if job.num_gpus <= planner.free_total or planner.shares(job) else None
        eligible = planner.demand(job).eligible if isinstance(planner, ResourcePlanner) else -1
        for gpu_type in rank[1]:
            nodes = [i for i in self._types[gpu_type] if eligible >> i & 1 and planner.free_on(i)]
            gpus = _on_nodes(planner, nodes, job.num_gpus)
            if gpus is None:
                continue
            try:
                planner.take_job(gpus, job)
            except ValueError:  # a demand of the resource model (CPU, memory) refuses these nodes
                continue
            return gpus
        return None


def _on_nodes(planner, nodes: list[int], n: int) -> tuple[int, ...] | None:
    """``n`` free GPUs on ``nodes``: the fullest node that holds them all, else the nodes with the
    most free GPUs first (lowest index on ties); None if they lack ``n`` free GPUs."""
    free = {i: planner.free_on(i) for i in nodes}
    whole = [i for i in nodes if free[i] >= n]
    if whole:
        return planner.on_node(min(whole, key=lambda i: (free[i], i)), n)
    if sum(free.values()) < n:
        return None
    out: list[int] = []
    for i in sorted(nodes, key=lambda i: (-free[i], i)):
        out += planner.on_node(i, min(free[i], n - len(out)))
        if len(out) == n:
            break
    return tuple(sorted(out))
