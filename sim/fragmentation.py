"""GPU fragmentation with shared GPUs, after the FGD paper (Weng et al., USENIX ATC'23).

A node's free GPU capacity is the free share of each of its GPUs, in thousandths (1000: the GPU
is free, 0: it is fully used). For a job class ``m`` (``num_gpus`` GPUs of ``milli`` each) the
node's fragment ``F_n(m)`` is the free capacity ``m`` cannot use there: all of it if ``m`` does
not fit on the node, else the free capacity on GPUs too full for ``m`` (a whole-GPU class cannot
use a partly used GPU; a class of ``milli`` cannot use a GPU with less than ``milli`` free).
Against a target workload (class → probability) the node's expected fragment is
``F_n = Σ_m p_m F_n(m)`` and the cluster's is the sum over nodes.

A simplification of the paper: there a class also cannot run on a node whose free CPU or memory
is too small for it or whose GPU type it does not accept (so all the node's free GPU capacity is
its fragment); here classes are only (GPUs, share), and CPU, memory and GPU type are left out.

``fragmentation_timeseries`` is a pure function of the event log, like ``sim.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.model import Cluster, Event, Job

Classes = tuple[tuple[int, int, float], ...]  # (num_gpus, milli per GPU, probability)


def job_share(job: Job) -> int:
    """The share of each of its GPUs a job uses, in thousandths: ``gpu_milli`` for a one-GPU job
    that asks for less than a whole GPU, else 1000 (multi-GPU jobs get whole GPUs)."""
    milli = job.gpu_milli
    if job.num_gpus == 1 and milli is not None and 0 < milli < 1000:
        return milli
    return 1000


def workload_classes(jobs: Sequence[Job]) -> Classes:
    """The target workload: each (num_gpus, share) of ``jobs`` with its frequency, largest first.
    CPU-only jobs (no GPUs) use no GPU capacity and are left out; empty if every job is one."""
    counts: dict[tuple[int, int], int] = {}
    for job in jobs:
        if job.num_gpus == 0:
            continue
        key = (job.num_gpus, job_share(job))
        counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    if not total:
        return ()
    return tuple((n, m, c / total) for (n, m), c in sorted(counts.items(), reverse=True))


def node_fragment(free: Sequence[int], classes: Classes) -> float:
    """Expected unusable free capacity of one node (thousandths of a GPU), ``free`` its GPUs' free shares."""
    total = sum(free)
    if total == 0:
        return 0.0
    whole = sum(1 for f in free if f == 1000)
    out = 0.0
    for num_gpus, milli, p in classes:
        if milli == 1000:
            out += p * (total if whole < num_gpus else total - 1000 * whole)
        elif any(f >= milli for f in free):
            out += p * sum(f for f in free if f < milli)
        else:
            out += p * total
    return out


def fragmentation_timeseries(jobs: Sequence[Job], events: Sequence[Event], cluster: Cluster,
                             classes: Classes | None = None) -> list[tuple[float, float, float]]:
    """``(time, fragmented, free)`` after each instant at which a job started, stopped or finished,
    or a node failed, was repaired, or was switched off or on: the cluster's expected unusable free
    capacity and its free capacity, both in GPUs (sums of shares / 1000). The GPUs of a node that
    is down are no free capacity (nor fragments). ``classes`` defaults to the workload of ``jobs``."""
    classes = workload_classes(jobs) if classes is None else classes
    share = {j.job_id: job_share(j) for j in jobs}
    node_of, free = [], []
    for node, spec in enumerate(cluster.nodes):
        node_of.extend([node] * spec.num_gpus)
        free.extend([1000] * spec.num_gpus)
    up = [True] * len(free)
    starts = [sum(s.num_gpus for s in cluster.nodes[:i]) for i in range(len(cluster.nodes))]
    # every node's fragment from the start: free GPUs that no job has touched may be fragments too
    frag = [node_fragment([1000] * spec.num_gpus, classes) for spec in cluster.nodes]
    node_free = [1000 * spec.num_gpus for spec in cluster.nodes]
    held: dict[str, tuple[int, ...]] = {}
    out: list[tuple[float, float, float]] = []
    touched: set[int] = set()

    def flush(time: float) -> None:
        for node in touched:
            lo = starts[node]
            gpus = range(lo, lo + cluster.nodes[node].num_gpus)
            avail = [free[g] if up[g] else 0 for g in gpus]
            frag[node] = node_fragment(avail, classes)
            node_free[node] = sum(avail)
        touched.clear()
        out.append((time, sum(frag) / 1000, sum(node_free) / 1000))

    last = None
    for e in events:
        if last is not None and e.time != last and touched:
            flush(last)
        last = e.time
        if e.kind == "start":
            held[e.job_id] = tuple(e.gpus)
            for g in e.gpus:
                free[g] -= share[e.job_id]
                touched.add(node_of[g])
        elif e.kind in ("finish", "preempt", "resize", "kill"):
            for g in held.pop(e.job_id, ()):
                free[g] += share[e.job_id]
                touched.add(node_of[g])
        elif e.kind in ("fail", "node_off", "repair", "node_on"):
            for g in e.gpus:
                up[g] = e.kind in ("repair", "node_on")
                touched.add(node_of[g])
    if touched:
        flush(last)
    return out


def mean_fragmentation(series: Sequence[tuple[float, float, float]], end: float) -> float:
    """Time-average of the fragmented capacity (GPUs) from the first point to ``end``."""
    if not series:
        return 0.0
    area = 0.0
    for (t, f, _), (t2, _, _) in zip(series, [*series[1:], (end, 0.0, 0.0)]):
        area += f * max(0.0, t2 - t)
    span = end - series[0][0]
    return area / span if span > 0 else series[-1][1]
