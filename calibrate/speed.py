"""Calibrated running times in simulation: a fitted profile → job durations and a speed model.

A job's ``duration`` is its work measured at the profile's reference: its whole gang on the
reference GPU type, on one node. A job that carries ``model``, ``batch_size`` and ``iterations``
gets ``duration = iterations × step_time(reference, batch, num_gpus, consolidated)``. While it
runs on GPUs of types T over k nodes, one second of running does

    rate = step_time(reference, B, n, consolidated) / max_T step_time(T, B, n, k == 1)

seconds of that work (synchronous data parallelism: the slowest GPU type sets the pace, and a
job split across nodes pays the inter-node all-reduce). GPU types the profile has not measured
(and ``generic``) run at the reference type's speed; jobs whose model the profile lacks, or that
have no batch size, run at rate 1. Without a profile nothing changes.

For traces with durations only (Philly, SWF), ``assign_models`` gives each job a model from the
profile by GPU-time bucket (see its docstring) and converts its duration into iterations at the
reference, so placement and heterogeneity affect it during replay.

GPU memory: where the profile records it (version 2), a job with ``model`` and ``batch_size`` but
no ``gpu_memory_mib`` gets the memory one GPU needs for its share of the batch
(:meth:`Calibration.memory_mib`): data parallel, every GPU holds the whole model and
``ceil(batch_size / num_gpus)`` samples. A value from the trace always wins. The resource model
(``--resources``) then keeps the job off GPUs with less memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from calibrate.gpu_types import canonical
from calibrate.memory import demand_mib, per_gpu_batch
from calibrate.profile import Profile
from sim.errors import GpusimError
from sim.model import Cluster, Job, ideal_rate
from sim.placement import Planner


class Calibration:
    """A fitted profile bound to a cluster: durations for jobs and the engine's speed function."""

    def __init__(self, profile: Profile, cluster: Cluster) -> None:
        if not profile.fits:
            raise GpusimError("the calibration profile has no fits: run `gpusim calibrate fit` on it first")
        from calibrate.fit import step_time

        self._step_time = step_time
        self.fits = profile.fits
        self.reference = canonical(profile.reference_gpu_type or _most_measured(profile))
        self._node_of = Planner([n.num_gpus for n in cluster.nodes]).node_of
        self._type_of_node = [canonical(n.gpu_type) for n in cluster.nodes]
        self._cache: dict = {}
        self.batches: dict[str, list[int]] = {}
        self._memory: dict[str, list[tuple[int, int]]] = {}  # model → (per-GPU batch, MiB)
        for m in profile.measurements:
            self.batches.setdefault(m.model, []).append(m.batch_size)
            if m.gpu_memory_mib is not None:
                point = (per_gpu_batch(m.batch_size, m.num_gpus), m.gpu_memory_mib)
                self._memory.setdefault(m.model, []).append(point)

    def measured_types(self) -> list[str]:
        """The GPU types some model of the profile was measured on."""
        return sorted({t for fit in self.fits.values() for t in fit.get("per_type", {})})

    def unmeasured_types(self) -> list[str]:
        """The cluster's named GPU types (not ``generic``) that no model of the profile was measured
        on: jobs there run at the reference type's speed, which a run must say."""
        measured, generic = set(self.measured_types()), canonical("generic")
        return sorted({t for t in self._type_of_node if t != generic and t not in measured})

    def _known_type(self, model: str, gpu_type: str) -> str:
        return gpu_type if gpu_type in self.fits[model].get("per_type", {}) else self.reference

    def step_time(self, model: str, gpu_type: str, batch: int, num_gpus: int, consolidated: bool) -> float:
        key = (model, gpu_type, batch, num_gpus, consolidated)
        if key not in self._cache:
            fit = self.fits[model]
            self._cache[key] = self._step_time(fit, self._known_type(model, gpu_type), batch, num_gpus, consolidated)
        return self._cache[key]

    def reference_step(self, job: Job) -> float:
        return self.step_time(job.model, self.reference, job.batch_size, job.num_gpus, True)

    def calibrated(self, job: Job) -> bool:
        """Whether the profile times the job: a GPU job with a profiled model and a batch size
        (a CPU-only job, ``num_gpus == 0``, never: it runs at rate 1)."""
        return job.num_gpus > 0 and job.model in self.fits and job.batch_size is not None

    def durations(self, jobs: Sequence[Job]) -> tuple[Job, ...]:
        """Fill the duration of every job given as model/batch_size/iterations; refuse unknown models."""
        out = []
        for job in jobs:
            if job.iterations is not None and job.model is not None and job.batch_size is not None:
                if job.model not in self.fits:
                    raise GpusimError(f"job {job.job_id}: model {job.model!r} is not in the calibration profile "
                                      f"(it has {', '.join(sorted(self.fits))})")
                if job.num_gpus == 0:
                    if job.duration is not None:
                        out.append(job)
                        continue
                    raise GpusimError(f"job {job.job_id}: a CPU-only job (num_gpus 0) has no GPU step time; "
                                      "give it a duration")
                job = replace(job, duration=job.iterations * self.reference_step(job))
            out.append(job)
        return tuple(out)

    def memory_mib(self, model: str, batch_size: int, num_gpus: int) -> int | None:
        """GPU memory (MiB) each of ``num_gpus`` GPUs needs to train ``model`` at global batch
        ``batch_size``: the profile's value at the per-GPU batch ``ceil(batch_size / num_gpus)``
        (the largest over GPU types), interpolated linearly between measured per-GPU batches
        (``calibrate.memory.demand_mib``); None when the profile has no memory for the model, or
        for a job without GPUs."""
        points = self._memory.get(model)
        if points is None or num_gpus < 1:
            return None
        return demand_mib(points, per_gpu_batch(batch_size, num_gpus))

    def memory(self, jobs: Sequence[Job]) -> tuple[Job, ...]:
        """Give every job with a model and a batch size, but no ``gpu_memory_mib``, the profile's
        memory demand; a job that has one (from its trace) keeps it."""
        if not self._memory:
            return tuple(jobs)
        out = []
        for job in jobs:
            if job.gpu_memory_mib is None and job.model is not None and job.batch_size is not None:
                need = self.memory_mib(job.model, job.batch_size, job.num_gpus)
                if need is not None:
                    job = replace(job, gpu_memory_mib=need)
            out.append(job)
        return tuple(out)

    def speed(self, job: Job, gpus: tuple[int, ...]) -> float:
        """The engine's rate: reference step time over the step time on these GPUs (the slowest
        GPU type among them sets the pace)."""
        return self._rate(job, gpus, max)

    def fastest_speed(self, job: Job, gpus: tuple[int, ...]) -> float:
        """The rate if every worker were as fast as the fastest GPU type among ``gpus``: what the
        job would do without stragglers (sim.metrics.straggler_gpu_seconds)."""
        return self._rate(job, gpus, min)

    def _rate(self, job: Job, gpus: tuple[int, ...], pick) -> float:
        if not self.calibrated(job):
            return ideal_rate(job, gpus)
        nodes = {self._node_of(g) for g in gpus}
        types = {self._type_of_node[n] for n in nodes}
        run = pick(self.step_time(job.model, t, job.batch_size, len(gpus), len(nodes) == 1) for t in types)
        return self.reference_step(job) / run


def _most_measured(profile: Profile) -> str:
    counts: dict[str, int] = {}
    for m in profile.measurements:
        counts[canonical(m.gpu_type)] = counts.get(canonical(m.gpu_type), 0) + 1
    if not counts:
        raise GpusimError("the calibration profile has no measurements and no reference_gpu_type")
    return min(counts, key=lambda t: (-counts[t], t))


def assign_models(jobs: Sequence[Job], calibration: Calibration) -> tuple[Job, ...]:
    """Give every job without a model one from the profile, and iterations that keep its duration.

    Method: the profile's models are ranked by their reference step time per sample at their
    smallest fitted batch size (light to heavy) and the jobs by GPU-time (num_gpus × duration); the
    jobs are cut into as many equal-count buckets as there are models, and bucket i gets model i
    (longer jobs ↔ heavier models). Deterministic: no randomness is needed. ``batch_size`` is that
    smallest batch size; ``iterations = duration / reference step time``, so a job replayed on its
    reference placement keeps its exact duration. CPU-only jobs (``num_gpus == 0``) get no model
    and are left out of the buckets.
    """
    models = sorted(calibration.fits, key=lambda m: (_per_sample(calibration, m), m))
    gpu_jobs = [i for i in range(len(jobs)) if jobs[i].num_gpus > 0]
    order = sorted(gpu_jobs, key=lambda i: (jobs[i].num_gpus * jobs[i].duration, i))
    out = list(jobs)
    for rank, i in enumerate(order):
        job = jobs[i]
        if job.model is not None and job.model in calibration.fits and job.batch_size is not None:
            continue
        model = models[rank * len(models) // len(order)]
        batch = _batch(calibration, model)
        step = calibration.step_time(model, calibration.reference, batch, job.num_gpus, True)
        memory = job.gpu_memory_mib
        if memory is None:
            memory = calibration.memory_mib(model, batch, job.num_gpus)
        out[i] = replace(job, model=model, batch_size=batch, iterations=job.duration / step, gpu_memory_mib=memory)
    return tuple(out)


def _batch(calibration: Calibration, model: str) -> int:
    """The smallest batch size the profile measured for ``model``."""
    return min(calibration.batches.get(model, [32]))


def _per_sample(calibration: Calibration, model: str) -> float:
    batch = _batch(calibration, model)
    return calibration.step_time(model, calibration.reference, batch, 1, True) / batch
