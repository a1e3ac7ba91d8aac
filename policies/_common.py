"""Building blocks shared by policies: greedy starts and count-based preemptive planning."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from heapq import merge

from sim.model import JobState, Preempt, Start, View
from sim.placement import Planner
from sim.resources import ResourcePlanner


def greedy_starts(view: View, order: Iterable[JobState], stop_at_first_misfit: bool = False) -> list[Start]:
    """Start each job of ``order`` that the run's placement can place now, on the GPUs it chooses.

    With ``stop_at_first_misfit`` the walk stops at the first job that does not fit (head-of-line
    blocking). O(len(order) × placement cost).
    """
    planner = view.planner()
    if isinstance(planner, ResourcePlanner):
        return _greedy_resources(planner, order, stop_at_first_misfit)
    starts = []
    for job in order:
        if planner.free_total == 0:
            break  # nothing more can fit
        gpus = planner.claim(job.num_gpus) if job.num_gpus <= planner.free_total else None
        if gpus is None:
            if stop_at_first_misfit:
                break
            continue
        starts.append(Start(job.job_id, gpus))
    return starts


def _greedy_resources(planner: ResourcePlanner, order: Iterable[JobState], stop_at_first_misfit: bool) -> list[Start]:
    """``greedy_starts`` under the resource model: each job placed by its own demands. A CPU-only
    job may still start when every GPU is busy: the walk goes on while CPU-only jobs could fit."""
    starts = []
    for job in order:
        gpu_room = planner.has_gpu_room()
        if not gpu_room and not planner.has_pod_room():
            break
        if job.num_gpus and not gpu_room:  # only CPU-only jobs can start now
            if stop_at_first_misfit:
                break  # strict order: nothing passes a GPU job that does not fit
            continue
        fits = job.num_gpus <= planner.free_total or planner.shares(job)
        gpus = planner.claim_job(job) if fits else None
        if gpus is None:
            if stop_at_first_misfit:
                break
            continue
        starts.append(Start(job.job_id, gpus))
    return starts


def preemptive_plan(view: View, order: Iterable[JobState]) -> tuple[list, list[JobState]]:
    """Give GPUs by count in ``order`` (running and pending jobs alike), preempt the running jobs
    left out, then place the chosen pending jobs in order; one that cannot be placed on nodes is
    skipped. Returns the decisions and the jobs that run afterwards (those kept, in start order,
    then those started). O(r + the jobs of ``order`` walked before the GPUs run out), so ``order``
    is best a lazy iterable. CPU-only jobs (resource model) cost no budget: every one is chosen,
    and those pending start where CPU and memory allow.
    """
    budget = view.num_gpus
    chosen: list[JobState] = []
    planner = view.planner()
    cpu_only = getattr(planner, "cpu_only_jobs", False)
    for job in order:
        if job.num_gpus <= budget:
            chosen.append(job)
            budget -= job.num_gpus
            if budget == 0 and not cpu_only:
                break  # no later job fits
    keep = {job.job_id for job in chosen if job.is_running}
    decisions: list = []
    runs: list[JobState] = []
    for job in view.running:
        if job.job_id in keep:
            runs.append(job)
        else:
            decisions.append(Preempt(job.job_id))
            planner.release_job(job.gpus, job)
    for job in chosen:
        if not job.is_running and (job.num_gpus <= planner.free_total or planner.shares(job)):
            gpus = planner.claim_job(job)
            if gpus is not None:
                decisions.append(Start(job.job_id, gpus))
                runs.append(job)
    return decisions, runs


def easy_backfill(view: View, runtime: Callable[[JobState], float] | None = None,
                  running_end: Callable[[JobState], float] | None = None) -> tuple[list[Start], tuple[str, float] | None]:
    """EASY backfilling: start jobs in arrival order while they fit; the first that does not (the
    head) is reserved the earliest time enough GPUs free up, from ``running_end`` of running jobs
    and ``now + runtime`` of jobs started in this pass; a later job then starts only if it fits and
    either ends by then (``now + runtime``) or uses GPUs the head will not need. Returns the starts
    and (head id, reserved time) or None.

    On a pool the reservation counts GPUs. Under a placement that respects nodes it is where the
    head can be placed: the running jobs' GPUs are given back in order of their ends until the
    placement finds the head a place (the reserved time), and a later job that would still run
    then starts only if the head can still be placed with that job's GPUs held. Under the resource
    model the reservation counts GPUs (the index below cannot see demands).

    ``runtime`` and ``running_end`` default to the oracle: a job's remaining work and a running
    job's expected end. The oracle needs no scan: the reservation walks the running jobs by end
    (``view.running_by_end``) only until it is found, and the later jobs that may start are looked
    up by GPU count and remaining work (``view.pending_by_gpus``), O(GPU counts × log q) per job
    started. Other estimates change between passes and cannot be indexed: O(q + r log r).
    """
    oracle = runtime is None
    resources = isinstance(view.planner(), ResourcePlanner)  # the GPU-count index cannot see demands
    by_nodes = not resources and view.placement != "pool"
    if oracle:
        runtime, running_end = _remaining, _expected_end
    planner, now = view.planner(), view.now
    queue = iter(view.pending)
    starts, ends, head = [], [], None
    for job in queue:
        gpus = planner.claim_job(job)
        if gpus is None:
            head = job
            break
        starts.append(Start(job.job_id, gpus))
        ends.append((now + runtime(job), job.num_gpus, job.index, gpus))
    if head is None:
        return starts, None
    if oracle:
        ends = merge(sorted(ends), ((job.expected_end, job.num_gpus, job.index, job.gpus) for job in view.running_by_end()))
    else:
        ends = sorted(ends + [(running_end(job), job.num_gpus, job.index, job.gpus) for job in view.running])
    future = planner.copy() if by_nodes else None  # the free GPUs at the reserved time
    free, shadow = planner.free_total, math.inf
    for end, num_gpus, _, gpus in ends:
        free += num_gpus
        if future is not None:
            future.release(gpus)
        if free >= head.num_gpus and (future is None or future.place(head.num_gpus) is not None):
            shadow = end
            break
    spare = free - head.num_gpus
    if oracle and not resources:
        _backfill_indexed(view, planner, head, shadow, spare, starts, future)
    else:
        _backfill_scan(queue, planner, now, runtime, shadow, spare, starts, head, future)
    return starts, (head.job_id, shadow)


def _leaves_room(future: Planner | None, head: JobState, gpus: tuple[int, ...]) -> bool:
    """Whether the head can still be placed at its reserved time with ``gpus`` held then (kept
    held in ``future`` if so); always, when the reservation counts GPUs (``future`` None)."""
    if future is None:
        return True
    future.take(gpus)
    if future.place(head.num_gpus) is not None:
        return True
    future.release(gpus)
    return False


def _remaining(job: JobState) -> float:
    return job.remaining


def _expected_end(job: JobState) -> float:
    return job.expected_end


def _backfill_scan(later: Iterable[JobState], planner: Planner, now: float, runtime: Callable[[JobState], float],
                   shadow: float, spare: int, starts: list[Start], head: JobState, future: Planner | None) -> None:
    """Backfill from ``later`` (the jobs behind the head, in arrival order), each checked in turn."""
    for job in later:
        if not planner.has_room():
            break  # nothing more can start
        if job.num_gpus > planner.free_total and not planner.shares(job):
            continue
        ends_in_time = now + runtime(job) <= shadow
        if not ends_in_time and job.num_gpus > spare:
            continue
        gpus = planner.claim_job(job)
        if gpus is None:
            continue
        if not ends_in_time and not _leaves_room(future, head, gpus):
            planner.release_job(gpus, job)
            continue
        starts.append(Start(job.job_id, gpus))
        if not ends_in_time:
            spare -= job.num_gpus


def _backfill_indexed(view: View, planner: Planner, head: JobState, shadow: float, spare: int,
                      starts: list[Start], future: Planner | None) -> None:
    """``_backfill_scan`` with the oracle runtime, jumping from one job that passes its checks to the
    next: per GPU count that still fits, the first later job that may start (any job when the count
    is within the spare GPUs, else one that ends by the shadow time), earliest arrival first. A
    count whose placement failed is left out until the next start changes the free GPUs."""
    index, now = view.pending_by_gpus(), view.now
    counts = index.gpu_counts()
    after, unplaceable = head.index, set()
    while planner.free_total:
        job = None
        for n in counts:
            if n > planner.free_total:
                break
            if n not in unplaceable:
                found = index.first(n, after, math.inf if n <= spare else shadow)
                if found is not None and (job is None or found.index < job.index):
                    job = found
        if job is None:
            return
        after = job.index
        gpus = planner.claim(job.num_gpus)
        if gpus is None:
            unplaceable.add(job.num_gpus)
            continue
        ends_in_time = now + job.remaining <= shadow
        if not ends_in_time and not _leaves_room(future, head, gpus):
            planner.release(gpus)  # it would take the head's place: the next job, if any
            continue
        unplaceable.clear()
        starts.append(Start(job.job_id, gpus))
        if not ends_in_time:
            spare -= job.num_gpus


# --- walks over the engine's pending index (sim.queues) instead of a sorted copy of the queue ---


#: A job's value in each order of the pending index (sim.queues.ORDERS), read through its public
#: properties: for a running job, remaining work is the work left now.
_VALUE = {
    "remaining": lambda job: job.remaining,
    "duration": lambda job: job.duration,
    "deadline": lambda job: math.inf if job.job.deadline is None else job.job.deadline,
    "priority": lambda job: -job.priority,
}


def _push(heap: list, jobs: Iterator[JobState], key: str, rank: int = 0) -> None:
    """Put the next job of ``jobs`` (one source of a merge) on ``heap``, keyed by (``key``, ``rank``,
    arrival)."""
    job = next(jobs, None)
    if job is not None:
        heapq.heappush(heap, (_VALUE[key](job), rank, job.index, job.num_gpus, jobs, job))


def starts_in_order(view: View, key: str) -> list[Start]:
    """``greedy_starts`` over the pending jobs in order of (``key``, arrival), ``key`` naming an
    order of the pending index (``sim.queues.ORDERS``), without sorting the queue: a merge of the
    index's walks, one per GPU count. A count that no longer fits the free GPUs leaves the merge
    (free GPUs only shrink); one whose placement failed waits for the next start (until then its
    jobs would fail too). O((jobs tried + GPU counts) × log q), against O(q log q) for a sort.
    """
    planner = view.planner()
    if type(planner) is not Planner:  # another resource model: placing decides, not the count
        return greedy_starts(view, sorted(view.pending, key=lambda j: (_VALUE[key](j), j.index)))
    index, starts, heap, parked = view.pending_by_gpus(), [], [], []
    for n in index.gpu_counts():
        _push(heap, index.in_order(n, key), key)
    while heap and planner.free_total:
        value, _, arrival, n, jobs, job = heapq.heappop(heap)
        if n > planner.free_total:
            continue
        gpus = planner.claim(n)
        if gpus is None:
            parked.append(n)
            continue
        starts.append(Start(job.job_id, gpus))
        _push(heap, jobs, key)
        for n in parked:  # the free GPUs changed: their jobs after this one may place again
            _push(heap, index.in_order(n, key, (value, arrival)), key)
        parked.clear()
    return starts


def chosen_in_order(view: View, running: list[JobState], key: str, running_first: bool = False) -> Iterator[JobState]:
    """The jobs ``preemptive_plan`` takes from the merged order of ``running`` and the pending jobs
    by (``key``, arrival), or by (``key``, running before pending, arrival) with ``running_first``,
    without sorting the queue: ``running`` must come sorted by (``key``, arrival); a merge of it and
    the pending index's walks (one per GPU count) yields each job that fits the GPUs not yet given,
    and drops a GPU count once it no longer fits (the budget only shrinks). Pass it as
    ``preemptive_plan``'s order. O((r + jobs taken + GPU counts) × log q). With CPU-only jobs
    (resource model; they fit any budget) the merge goes on once the GPUs are given.
    """
    index, budget, heap = view.pending_by_gpus(), view.num_gpus, []
    cpu_only = getattr(view.planner(), "cpu_only_jobs", False)
    running_jobs = iter(running)
    _push(heap, running_jobs, key)
    pending_rank = 1 if running_first else 0
    for n in index.gpu_counts():
        _push(heap, index.in_order(n, key), key, pending_rank)
    while heap and (budget or cpu_only):
        _, rank, _, n, jobs, job = heapq.heappop(heap)
        if n <= budget:
            budget -= n
            yield job
        elif jobs is not running_jobs:
            continue  # every later job of this count is as large
        _push(heap, jobs, key, rank)
