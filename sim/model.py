"""The simulation's data model: jobs, the cluster, what a policy sees, and what it may decide.

All times are plain floats in seconds. Specs and decisions are frozen dataclasses; the only
mutable objects are the engine's per-job states, which policies see through read-only properties.
"""

from __future__ import annotations

import math
import operator
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import TYPE_CHECKING, NamedTuple, Protocol, Union, overload, runtime_checkable

from sim.errors import GpusimError

if TYPE_CHECKING:
    import numpy as np

    from sim.placement import Planner
    from sim.queues import Indexes, PendingIndex


@dataclass(frozen=True, slots=True)
class Job:
    """One job of a workload: a row of the canonical job table.

    ``duration`` is the job's work: the seconds it runs on its full gang of ``num_gpus`` GPUs
    (all or nothing). ``deadline`` is on the same clock as ``submit_time``. The fields after it
    are kept from real traces for analysis and for policies that want them (the engine itself
    ignores them): ``estimate`` is the user's requested run time (SWF), ``status`` the trace's
    final state, ``gpu_type`` a required GPU model (alternatives separated by ``|``), ``gpu_milli``
    the share of one GPU per GPU in thousandths (1000 = whole), ``cpu_milli`` and ``memory_mib``
    the CPU and memory requests of the whole job, ``gpu_memory_mib`` the GPU memory it needs on
    each of its GPUs, and ``censored`` marks a job still running when the trace ended (its
    duration is a lower bound). A job with ``num_gpus == 0`` is CPU-only (an Alibaba CPU pod): it
    asks only for ``cpu_milli`` and ``memory_mib`` and runs only under the resource model, which
    puts it on one node (``simulate`` refuses it otherwise). ``batch_size`` and ``iterations`` (global batch and training
    steps) let a calibration profile turn ``model`` into running times. The engine enforces
    ``gpu_type``, ``gpu_milli``, ``gpu_memory_mib``, ``cpu_milli`` and ``memory_mib`` only in a
    run with the resource model on (``sim.resources``); otherwise every job gets whole GPUs.
    ``min_gpus`` and ``max_gpus`` make a job elastic: a policy may start or resize it on any
    number of GPUs in that range (``num_gpus`` stays the size its ``duration`` is measured at, and
    the size every policy that does not resize uses); see ``Resize``.
    """

    job_id: str
    submit_time: float
    num_gpus: int
    duration: float | None  # None only with model, batch_size and iterations, for a calibration to fill
    model: str | None = None
    user: str | None = None
    vc: str | None = None
    priority: int = 0
    deadline: float | None = None
    estimate: float | None = None
    status: str | None = None
    gpu_type: str | None = None
    gpu_milli: int | None = None
    cpu_milli: int | None = None
    memory_mib: int | None = None
    censored: bool = False
    batch_size: int | None = None
    iterations: float | None = None
    gpu_memory_mib: int | None = None
    min_gpus: int | None = None
    max_gpus: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_gpus, int) or isinstance(self.num_gpus, bool) or self.num_gpus < 0:
            raise ValueError(f"job {self.job_id}: num_gpus must be a non-negative integer, got {self.num_gpus!r}")
        if self.duration is None:  # to be computed by a calibration profile
            if self.model is None or self.batch_size is None or self.iterations is None:
                raise ValueError(f"job {self.job_id}: without a duration it needs model, batch_size and iterations")
        elif not (math.isfinite(self.duration) and self.duration > 0):
            raise ValueError(f"job {self.job_id}: duration must be a positive number of seconds, got {self.duration!r}")
        if self.iterations is not None and not (math.isfinite(self.iterations) and self.iterations > 0):
            raise ValueError(f"job {self.job_id}: iterations must be positive, got {self.iterations!r}")
        if self.batch_size is not None and not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"job {self.job_id}: batch_size must be a positive integer, got {self.batch_size!r}")
        if not (math.isfinite(self.submit_time) and self.submit_time >= 0):
            raise ValueError(f"job {self.job_id}: submit_time must be a non-negative number, got {self.submit_time!r}")
        if self.min_gpus is not None or self.max_gpus is not None:
            low, high = self.gpu_range
            if not all(isinstance(n, int) and not isinstance(n, bool) for n in (low, high)) \
                    or not 1 <= low <= self.num_gpus <= high:
                raise ValueError(f"job {self.job_id}: an elastic job needs 1 <= min_gpus <= num_gpus <= max_gpus, "
                                 f"got {self.min_gpus!r} <= {self.num_gpus!r} <= {self.max_gpus!r}")

    @property
    def elastic(self) -> bool:
        """Whether the job may run on a number of GPUs other than ``num_gpus`` (``gpu_range``)."""
        return self.min_gpus is not None or self.max_gpus is not None

    @property
    def gpu_range(self) -> tuple[int, int]:
        """The GPU counts the job may run on, ``(min_gpus, max_gpus)``; a missing bound is ``num_gpus``."""
        return (self.num_gpus if self.min_gpus is None else self.min_gpus,
                self.num_gpus if self.max_gpus is None else self.max_gpus)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A machine: ``num_gpus`` GPUs of one ``gpu_type``, each with ``gpu_memory_mib`` of memory, and
    ``cpu_milli`` CPU (thousandths of a core) and ``memory_mib`` main memory; None means unknown,
    which the resource model treats as no limit. A node with ``num_gpus == 0`` (CPU and memory
    only) exists only for the resource model's CPU-only jobs."""

    num_gpus: int
    gpu_type: str = "generic"
    gpu_memory_mib: int | None = None
    cpu_milli: int | None = None
    memory_mib: int | None = None
    name: str | None = None


_GROUP = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*(?::\s*([A-Za-z0-9_.\-]+)\s*)?$")


@dataclass(frozen=True, slots=True)
class Cluster:
    """An ordered tuple of nodes. GPUs are numbered globally: node 0's first, then node 1's, ...

    ``source`` is the cluster file it was read from (None for a spec string); it is what
    ``str()`` gives back, so a resolved configuration names the file again. Nodes may have zero
    GPUs (CPU-only nodes, for the resource model; a spec string cannot name them, a cluster file
    can), but the cluster as a whole has at least one GPU.
    """

    nodes: tuple[NodeSpec, ...]
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a cluster needs at least one node")
        for node in self.nodes:
            if not isinstance(node.num_gpus, int) or node.num_gpus < 0:
                raise ValueError(f"a node's num_gpus must be a non-negative integer, got {node.num_gpus!r}")
        if not any(node.num_gpus for node in self.nodes):
            raise ValueError("a cluster needs at least one GPU (every node has zero)")

    @classmethod
    def parse(cls, spec: str) -> Cluster:
        """Build a cluster from ``NODESxGPUS[:TYPE]`` groups, comma-separated (``4x8:A100,8x4:V100``),
        or read it from a cluster file (``.csv`` or ``.toml``, see ``sim.cluster_file``)."""
        from sim import cluster_file

        if cluster_file.is_file_spec(spec):
            return cluster_file.read(spec)
        nodes: list[NodeSpec] = []
        for group in spec.split(","):
            match = _GROUP.match(group)
            if match is None:
                raise GpusimError(
                    f"cluster spec {spec!r}: group {group.strip()!r} is not NODESxGPUS[:TYPE], e.g. 8x8:V100"
                )
            count, gpus, gpu_type = int(match[1]), int(match[2]), match[3] or "generic"
            if count < 1 or gpus < 1:
                raise GpusimError(f"cluster spec {spec!r}: group {group.strip()!r} needs at least 1 node of at least 1 GPU")
            nodes.extend(NodeSpec(gpus, gpu_type) for _ in range(count))
        return cls(tuple(nodes))

    @property
    def num_gpus(self) -> int:
        return sum(node.num_gpus for node in self.nodes)

    def summary(self) -> str:
        """Short human description: the spec itself when short, else nodes and GPUs per GPU type."""
        spec = str(self)
        if len(spec) <= 60:
            return f"{spec} ({self.num_gpus} GPUs)"
        by_type: dict[str, int] = {}
        for node in self.nodes:
            if node.num_gpus:
                by_type[node.gpu_type] = by_type.get(node.gpu_type, 0) + node.num_gpus
        kinds = ", ".join(f"{t} {n}" for t, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])))
        cpu_only = sum(1 for node in self.nodes if not node.num_gpus)
        bare = f", {cpu_only} without GPUs" if cpu_only else ""
        return f"{len(self.nodes)} nodes{bare}, {self.num_gpus} GPUs ({kinds})"

    def __str__(self) -> str:
        if self.source is not None:
            return self.source
        groups: list[list] = []
        for node in self.nodes:
            if groups and groups[-1][1:] == [node.num_gpus, node.gpu_type]:
                groups[-1][0] += 1
            else:
                groups.append([1, node.num_gpus, node.gpu_type])
        return ",".join(f"{n}x{g}:{t}" for n, g, t in groups)


def ideal_rate(job: Job, gpus: Sequence[int]) -> float:
    """A job's rate on ``gpus`` without a speed model: 1 on its own ``num_gpus`` GPUs, in
    proportion to the number otherwise (an elastic job's ideal, linear scaling)."""
    return 1.0 if len(gpus) == job.num_gpus else len(gpus) / job.num_gpus


# --- Decisions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Start (or resume) pending job ``job_id``.

    ``gpus`` are global GPU indices (one per GPU of the job); ``None`` lets the engine place the job
    with the run's placement strategy, and a job the strategy cannot place is skipped.
    """

    job_id: str
    gpus: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Preempt:
    """Stop running job ``job_id``; it keeps its progress and returns to the pending queue."""

    job_id: str


@dataclass(frozen=True, slots=True)
class Resize:
    """Move running job ``job_id`` onto ``gpus`` (it may keep some of its own): a checkpoint and a
    restart, so it pays the run's restart overhead; it is logged as a ``resize`` (with the GPUs left)
    and a ``start`` (with the new ones) at the same instant, and is not a preemption. The number of GPUs must lie in the job's ``gpu_range`` (an elastic job may
    grow or shrink; any job may move to other GPUs of its size). Its GPUs are released before the
    new ones are taken, so a shrinking job may keep a subset of its own.
    """

    job_id: str
    gpus: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Wake:
    """Run the scheduler again at simulated time ``at`` (> now). Each pass's Wake replaces the last."""

    at: float


Decision = Union[Start, Preempt, Resize, Wake]


# --- What a policy sees ---------------------------------------------------------------------


class Clock:
    """The engine's current time, shared read-only with job states."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0


class JobState:
    """The engine's live record of one job, exposed to policies through read-only properties.

    Progress is stored lazily (remaining work at the last checkpoint plus the time progress resumed),
    so no per-event update of running jobs is needed.
    """

    __slots__ = (
        "job", "index", "_clock", "_remaining", "_progress_from", "_attained", "_running",
        "_gpus", "_start_time", "_first_start", "_end_time", "_expected_end", "_preemptions", "_run", "_rate",
        "_slot",
    )

    def __init__(self, job: Job, index: int, clock: Clock) -> None:
        self.job = job
        self.index = index  # position in the trace (arrival order)
        self._clock = clock
        self._remaining = job.duration
        self._progress_from = math.inf
        self._attained = 0.0
        self._running = False
        self._gpus: tuple[int, ...] = ()
        self._start_time: float | None = None
        self._first_start: float | None = None
        self._end_time: float | None = None
        self._expected_end: float | None = None
        self._preemptions = 0
        self._run = 0  # incremented at every start/stop, so stale completion events are ignored
        self._rate = 1.0  # seconds of work done per second of running, on the current placement
        self._slot = -1  # its place in the pending index's group for its GPU count, once indexed

    job_id = property(lambda self: self.job.job_id)
    num_gpus = property(lambda self: self.job.num_gpus)
    submit_time = property(lambda self: self.job.submit_time)
    duration = property(lambda self: self.job.duration)
    priority = property(lambda self: self.job.priority)

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def executed(self) -> float:
        """Seconds of work done so far (restart overheads excluded), in ``duration``'s units."""
        return self.job.duration - self.remaining

    @property
    def remaining(self) -> float:
        """Seconds of work left, in ``duration``'s units (the job's reference speed), overhead excluded."""
        if not self._running:
            return self._remaining
        return max(0.0, self._remaining - self._rate * max(0.0, self._clock.now - self._progress_from))

    @property
    def rate(self) -> float:
        """Work seconds done per second of running on the current placement (1 without calibration)."""
        return self._rate

    @property
    def attained(self) -> float:
        """Attained service in GPU-seconds: seconds spent making progress × GPUs (overheads excluded)."""
        if not self._running:
            return self._attained
        return self._attained + len(self._gpus) * max(0.0, self._clock.now - self._progress_from)

    @property
    def gpus(self) -> tuple[int, ...]:
        """Global GPU indices held now (empty unless running)."""
        return self._gpus

    @property
    def start_time(self) -> float | None:
        """When the current run began (None unless running)."""
        return self._start_time

    @property
    def first_start(self) -> float | None:
        return self._first_start

    @property
    def end_time(self) -> float | None:
        """When the job finished (None until it has)."""
        return self._end_time

    @property
    def expected_end(self) -> float | None:
        """When the current run will complete if left alone (None unless running)."""
        return self._expected_end

    @property
    def preemptions(self) -> int:
        return self._preemptions

    def __repr__(self) -> str:
        state = "running" if self._running else "pending"
        return f"<JobState {self.job.job_id} {state} gpus={self.job.num_gpus} remaining={self.remaining:g}>"


class View:
    """The read-only picture of the cluster a policy decides from.

    ``pending`` is in arrival (trace) order, preempted jobs included at their arrival position;
    ``running`` is in start order. Both are live read-only sequences: take a list if you need one
    that outlives the call. ``pending_by_gpus()`` and ``running_by_end()`` are indexes the engine
    keeps for policies that would otherwise scan a long queue (built on first use).
    """

    __slots__ = ("_clock", "_pending", "_running", "_planner", "_indexes", "cluster", "placement", "_rate")

    def __init__(self, clock: Clock, pending: Sequence[JobState], running, planner: Planner,
                 indexes: Indexes, cluster: Cluster, placement: str,
                 rate: Callable[[Job, tuple[int, ...]], float] | None = None) -> None:
        self._rate = rate
        self._clock = clock
        self._pending = pending
        self._running = running
        self._planner = planner
        self._indexes = indexes
        self.cluster = cluster
        self.placement = placement

    @property
    def now(self) -> float:
        return self._clock.now

    @property
    def pending(self) -> Sequence[JobState]:
        return self._pending

    @property
    def running(self):
        """Running jobs in start order (a read-only view)."""
        return self._running

    @property
    def num_gpus(self) -> int:
        return self._planner.num_gpus

    @property
    def free_gpus(self) -> int:
        return self._planner.free_total

    def free_per_node(self) -> tuple[int, ...]:
        return self._planner.free_per_node()

    def planner(self) -> Planner:
        """A private copy of the free-GPU state, to try placements while building decisions."""
        return self._planner.copy()

    def rate(self, job: JobState | Job, gpus: Sequence[int]) -> float:
        """Seconds of ``job``'s work one second of running on ``gpus`` would do (the run's speed
        model; without one, 1 on ``num_gpus`` GPUs and in proportion to the number of GPUs otherwise:
        ideal scaling). For policies that size elastic jobs or compare placements."""
        job = job.job if isinstance(job, JobState) else job
        return ideal_rate(job, gpus) if self._rate is None else self._rate(job, tuple(gpus))

    def pending_by_gpus(self) -> PendingIndex:
        """The pending jobs grouped by GPU count, each group searchable in arrival order by
        remaining work (``first(num_gpus, after, done_by)``, O(log jobs))."""
        return self._indexes.pending_by_gpus()

    def running_by_end(self) -> Iterator[JobState]:
        """The running jobs in order of ``expected_end``, then fewer GPUs, then arrival."""
        return iter(self._indexes.running_by_end())


@runtime_checkable
class Policy(Protocol):
    """A scheduling policy: any object with this method.

    It may also have ``round_interval`` (seconds, or None) to be woken periodically. It must not
    draw randomness from anywhere but ``rng`` (the run's ``policy`` stream). A policy object may
    keep state between calls (tiresias, elastic do), so it serves one run: give each run a fresh
    one (``policies.make``).
    """

    def schedule(self, view: View, rng: np.random.Generator) -> Sequence[Decision]: ...


# --- What the engine records ----------------------------------------------------------------

#: Event kinds, in the order they are applied within one instant. ``repair``, ``fail`` (a node;
#: ``gpus`` are its GPUs, ``job_id`` empty) and ``kill`` (a job on a failed node, with its GPUs)
#: occur only in runs with faults (sim.faults); ``node_on`` and ``node_off`` (a node's GPUs join or
#: leave the pool) only in runs with an autoscaler (sim.autoscale). ``resize`` (a job leaving its
#: GPUs, with them, to restart at once on others: the ``start`` that follows) only where a policy
#: gives ``Resize`` decisions.
EVENT_KINDS = ("finish", "repair", "fail", "kill", "submit", "node_on", "node_off", "preempt", "resize", "start",
               "stop")


class Event(NamedTuple):
    """One row of the event log; ``gpus`` is empty except for start, preempt, resize, kill and the
    node events (fail, repair, node_on, node_off)."""

    time: float
    kind: str
    job_id: str
    gpus: tuple[int, ...] = ()


FINISH, REPAIR, FAIL, KILL, SUBMIT, NODE_ON, NODE_OFF, PREEMPT, RESIZE, START, STOP = range(len(EVENT_KINDS))


class EventLog(Sequence[Event]):
    """The event log, stored by column rather than as one object per event.

    Times, kinds (codes into ``EVENT_KINDS``), job numbers (into ``job_ids``; -1 for none) and a
    flat column of GPU ids with each event's offset into it, all in typed arrays: about 30 bytes
    an event plus 8 per GPU. It reads as a sequence of ``Event`` built on access, and compares
    equal to any sequence of the same events.
    """

    __slots__ = ("job_ids", "_ids", "times", "kinds", "jobs", "_gpus_at", "_gpus")

    def __init__(self, job_ids: Sequence[str]) -> None:
        self.job_ids = tuple(job_ids)
        self._ids = (*self.job_ids, "")  # job number -1: the stop event's empty id
        self.times = array("d")
        self.kinds = array("b")
        self.jobs = array("q")
        self._gpus_at = array("q")
        self._gpus = array("q")

    def add(self, time: float, kind: int, job: int, gpus: Iterable[int] = ()) -> None:
        """Append one event: ``kind`` a code (``START``, ...), ``job`` a job number (-1 for none)."""
        self.times.append(time)
        self.kinds.append(kind)
        self.jobs.append(job)
        self._gpus_at.append(len(self._gpus))
        if gpus:
            self._gpus.extend(gpus)

    def gpus(self, i: int) -> tuple[int, ...]:
        """The GPUs of event ``i`` (empty but for start, preempt, kill, fail and repair)."""
        lo = self._gpus_at[i]
        hi = self._gpus_at[i + 1] if i + 1 < len(self._gpus_at) else len(self._gpus)
        return tuple(self._gpus[lo:hi]) if hi > lo else ()

    def job_id_column(self) -> list[str]:
        """Each event's job id ("" for none), in log order."""
        return list(map(self._ids.__getitem__, self.jobs))

    def gpu_counts(self) -> array:
        """Each event's number of GPUs, in log order."""
        ends = chain(islice(self._gpus_at, 1, None), (len(self._gpus),))
        return array("q", map(operator.sub, ends, self._gpus_at))

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        return sum(len(a) * a.itemsize for a in (self.times, self.kinds, self.jobs, self._gpus_at, self._gpus))

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, i: int) -> Event: ...

    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("event log index out of range")
        return Event(self.times[i], EVENT_KINDS[self.kinds[i]], self._ids[self.jobs[i]], self.gpus(i))

    def __iter__(self) -> Iterator[Event]:
        ids, gpus, at = self._ids, self._gpus, self._gpus_at
        ends = chain(islice(at, 1, None), (len(gpus),))
        for time, kind, job, lo, hi in zip(self.times, self.kinds, self.jobs, at, ends):
            yield Event(time, EVENT_KINDS[kind], ids[job], tuple(gpus[lo:hi]) if hi > lo else ())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # it grows

    def __repr__(self) -> str:
        return f"<EventLog of {len(self)} events>"
