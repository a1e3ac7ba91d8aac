"""Elastic jobs sized to the cluster's idle GPUs, in the spirit of Optimus and Pollux (their
allocation step, without their throughput models: the run's own speed model stands in)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from policies import register
from sim.model import Resize, Start


@register("elastic")
@dataclass
class Elastic:
    """Admits jobs in arrival order at their smallest size, then gives idle GPUs to the elastic jobs they speed up most.

    Pending jobs are admitted in arrival order, elastic ones at ``min_gpus`` and others at
    ``num_gpus``. When the next job does not fit, running elastic jobs above their minimum shrink
    (the most recently started first, down to their minimum) if that makes room for it; otherwise
    admission stops there (no backfilling: no job is passed over, so none starves).

    GPUs still free then go one at a time to the elastic job (just admitted, or running) whose
    rate grows most, relative to its rate, for one more GPU (``View.rate``: the calibrated scaling
    curve of its model, types and nodes included, or ideal scaling without a profile), up to its
    ``max_gpus`` and only while that gain is at least ``min_gain``. The extra GPU is a free one on
    a node the job already uses, else the one the run's placement picks. With ideal scaling this
    evens out job sizes (the gain of a k-GPU job is 1/k); with a calibrated curve, jobs that scale
    poorly (communication-bound, spread over nodes) get fewer. A job just admitted starts at its
    grown size; a running job's new size is a ``Resize`` (a checkpoint and a restart, paying the
    run's restart overhead), and a running job grows at most once per ``resize_interval`` seconds
    so it does not thrash. Rigid jobs are never resized.

    Cost per pass: O(pending jobs walked + running jobs) for admission, and
    O(GPUs given × log elastic jobs) speed-model calls for growth (lazy greedy on a heap).
    """

    min_gain: float = 0.05
    resize_interval: float = 300.0
    _grown_at: dict = field(default_factory=dict, init=False, repr=False)  # job id → last growth
    _view: object = field(default=None, init=False, repr=False)  # the run _grown_at belongs to

    def __post_init__(self) -> None:
        for name in ("min_gain", "resize_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"parameter {name!r} must be a non-negative number, got {value!r}")

    def schedule(self, view, rng):
        if view is not self._view:  # a new run (the instance reused): last run's growth times do not apply
            self._view, self._grown_at = view, {}
        planner = view.planner()
        now = view.now
        sizes = {job.job_id: tuple(job.gpus) for job in view.running}  # GPUs each running job ends with
        shrunk: set[str] = set()
        admitted = []  # (job, GPUs)
        for job in view.pending:
            gpus = _claim(planner, job)
            if gpus is None:
                gpus = self._shrink_for(view, planner, job, sizes, shrunk)
            if gpus is None:
                break
            admitted.append((job, gpus))
        grown = self._grow(view, planner, admitted, sizes, shrunk, now)
        decisions = [Resize(job_id, sizes[job_id]) for job_id in sorted(shrunk, key=self._started(view))]
        decisions += [Resize(job_id, sizes[job_id]) for job_id in grown]
        decisions += [Start(job.job_id, sizes.get(job.job_id, gpus)) for job, gpus in admitted]
        return decisions

    @staticmethod
    def _started(view):
        order = {job.job_id: k for k, job in enumerate(view.running)}
        return order.__getitem__

    def _shrink_for(self, view, planner, head, sizes: dict, shrunk: set) -> tuple[int, ...] | None:
        """Shrink running elastic jobs (newest first) until ``head`` can be placed at its smallest
        size; return the GPUs claimed for it, or None with every shrink undone. Each step frees the
        GPUs still missing in number, or one more GPU when there are enough in number but not where
        the placement needs them (on one node, under ``consolidated``). Once ``head`` is placed, each
        shrunk job takes back the GPUs it freed that ``head`` did not get (on another node, they did
        not help), and a job that gets all of them back is not resized."""
        need = head.job.gpu_range[0]
        changes, freed = {}, []
        for job in reversed(list(view.running)):
            low = job.job.gpu_range[0]
            held = sizes[job.job_id]
            while len(held) > low:
                keep = held[:max(low, len(held) - max(1, need - planner.free_total))]
                planner.release(held[len(keep):])
                freed.append(held[len(keep):])
                held = changes[job.job_id] = keep
                gpus = _claim(planner, head)
                if gpus is not None:
                    for job_id, kept in changes.items():
                        back = tuple(g for g in sizes[job_id][len(kept):] if g not in gpus)
                        planner.take(back)
                        if len(kept) + len(back) < len(sizes[job_id]):
                            sizes[job_id] = kept + back
                            shrunk.add(job_id)
                    return gpus
        for gpus in freed:
            planner.take(gpus)
        return None

    def _grow(self, view, planner, admitted: list, sizes: dict, shrunk: set, now: float) -> list[str]:
        """Give free GPUs one at a time to the elastic job with the largest relative gain (see the
        class docstring); returns the running jobs that grew, in start order."""
        if not planner.free_total:
            return []
        if len(self._grown_at) > 2 * len(view.running) + 64:  # forget jobs that have stopped running
            running = {job.job_id for job in view.running}
            self._grown_at = {k: t for k, t in self._grown_at.items() if k in running}
        candidates = [(job, gpus) for job, gpus in admitted if job.job.elastic]
        candidates += [(job, job.gpus) for job in view.running
                       if job.job.elastic and job.job_id not in shrunk
                       and now - self._grown_at.get(job.job_id, -float("inf")) >= self.resize_interval]
        jobs = {job.job_id: job for job, _ in candidates}
        for job, gpus in candidates:
            sizes[job.job_id] = tuple(gpus)
        heap = []
        for k, (job, _) in enumerate(candidates):
            offer = self._offer(view, planner, job, sizes[job.job_id])
            if offer is not None:
                heap.append((-offer[0], k, job.job_id, offer[1]))
        heapq.heapify(heap)
        changed = set()
        while heap and planner.free_total:
            _, k, job_id, gpu = heapq.heappop(heap)
            offer = self._offer(view, planner, jobs[job_id], sizes[job_id])
            if offer is None:
                continue
            if offer[1] != gpu or (heap and -heap[0][0] > offer[0]):  # stale: queue it at its new gain
                heapq.heappush(heap, (-offer[0], k, job_id, offer[1]))
                continue
            planner.take((gpu,))
            sizes[job_id] = tuple(sorted(sizes[job_id] + (gpu,)))
            changed.add(job_id)
            offer = self._offer(view, planner, jobs[job_id], sizes[job_id])
            if offer is not None:
                heapq.heappush(heap, (-offer[0], k, job_id, offer[1]))
        grown = [job.job_id for job in view.running if job.job_id in changed]
        for job_id in grown:
            self._grown_at[job_id] = now
        return grown

    def _offer(self, view, planner, job, gpus: tuple[int, ...]) -> tuple[float, int] | None:
        """(relative gain, the GPU) of one more GPU for ``job`` on ``gpus``, or None."""
        if len(gpus) >= job.job.gpu_range[1] or not planner.free_total:
            return None
        gpu = next((planner.on_node(node, 1)[0] for node in sorted({planner.node_of(g) for g in gpus})
                    if planner.free_on(node)), None)
        if gpu is None:
            placed = planner.place(1)
            if placed is None:
                return None
            gpu = placed[0]
        before = view.rate(job, gpus)
        gain = (view.rate(job, tuple(sorted(gpus + (gpu,)))) - before) / before
        return (gain, gpu) if gain >= self.min_gain and gain > 0 else None


def _claim(planner, job) -> tuple[int, ...] | None:
    """Claim GPUs for a pending job at its smallest size (rigid jobs: by their own demands)."""
    if job.job.elastic:
        low = job.job.gpu_range[0]
        return planner.claim(low) if low <= planner.free_total else None
    return planner.claim_job(job) if job.num_gpus <= planner.free_total or planner.shares(job) else None

