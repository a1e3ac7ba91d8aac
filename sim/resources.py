"""The resource model: GPU types and memory, shared GPUs, CPU and memory per node, enforced in placement.

In a run with the resource model on, the engine's planner is a ``ResourcePlanner``: placement
and every Start are checked against each job's demands. A job

- runs only on nodes whose GPU type matches its ``gpu_type`` (``sim.gpu_types.matches``) and
  whose GPUs have at least its ``gpu_memory_mib`` (a node of unknown GPU memory never refuses);
- with one GPU and ``gpu_milli`` < 1000 shares a GPU with other such jobs: the shares on a GPU
  never exceed 1000, nor their GPU memory the GPU's; a GPU a share is on is busy to whole-GPU jobs;
- asks the nodes it lands on for its ``cpu_milli`` and ``memory_mib``, in proportion to its GPUs
  on each (rounded up); a node never gives more than it has (unknown capacity: no limit);
- with ``num_gpus == 0`` (CPU-only) takes no GPU: its CPU and memory go to one node (GPU type and
  GPU memory do not apply), a node without GPUs first, then the one left with the least free CPU,
  then memory, then the lowest index, whatever the placement strategy. Its Start names no GPUs;
  the planner keeps which node holds it (``pod_node``), and a node that failed takes none
  (``set_down``).

Whole-GPU jobs are placed by the run's strategy (``sim.placement``) over the nodes that suit
them; with no constraint in play it is exactly the plain planner's choice. Shared jobs go to a
GPU chosen by ``sharing``: ``best-fit`` (the least room left after it), ``worst-fit`` (the most),
or ``frag`` (the least growth of the node's expected fragmentation, ``sim.fragmentation``, in the
spirit of the FGD policy; ties in growth go to the least room left, as in best-fit); remaining ties
go to the lowest GPU index.

Policies get copies through ``View.planner()`` and use the job-aware calls (``place_job``,
``claim_job``, ``take_job``, ``release_job``); a count-only ``place(n)`` ignores the demands, and
the engine refuses a Start that breaks one. A policy decides when a CPU-only job starts, never
where: ``take_job((), job)`` places it by the rule above, so a copy and the engine agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sim.errors import GpusimError
from sim.fragmentation import Classes, job_share, node_fragment, workload_classes
from sim.gpu_types import matches
from sim.model import Cluster, Job
from sim.placement import DEFAULT, Planner, load_fraction

SHARING = ("best-fit", "worst-fit", "frag")
DEFAULT_SHARING = "best-fit"


@dataclass(frozen=True, slots=True)
class Demand:
    """What a job asks of the cluster: the nodes that suit it (bit mask), each GPU's share and
    GPU memory, and the CPU and memory of the whole job."""

    eligible: int
    milli: int
    gpu_memory: int
    cpu: int
    memory: int


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class _Static:
    """What never changes during a run: the nodes' types and capacities and the job demands."""

    __slots__ = ("cluster", "types", "gpu_memory", "cpu", "memory", "caps", "offsets", "sharing", "classes",
                 "demands", "all_nodes", "limited", "pods")

    def __init__(self, cluster: Cluster, sharing: str, classes: Classes) -> None:
        nodes = cluster.nodes
        self.cluster = cluster
        self.types = tuple(n.gpu_type for n in nodes)
        self.gpu_memory = tuple(math.inf if n.gpu_memory_mib is None else n.gpu_memory_mib for n in nodes)
        self.cpu = tuple(math.inf if n.cpu_milli is None else n.cpu_milli for n in nodes)
        self.memory = tuple(math.inf if n.memory_mib is None else n.memory_mib for n in nodes)
        self.limited = any(n.cpu_milli is not None or n.memory_mib is not None for n in nodes)
        self.caps = tuple(n.num_gpus for n in nodes)
        offsets, total = [], 0
        for c in self.caps:
            offsets.append(total)
            total += c
        self.offsets = tuple(offsets)
        self.sharing = sharing
        self.classes = classes
        self.demands: dict[Job, Demand] = {}
        self.all_nodes = (1 << len(nodes)) - 1
        self.pods = False  # whether the run has CPU-only jobs (set by the planner from its workload)

    def demand(self, job: Job) -> Demand:
        d = self.demands.get(job)
        if d is None:
            eligible = 0 if job.num_gpus else self.all_nodes  # a CPU-only job needs no GPU type
            for node, gpu_type in enumerate(self.types if job.num_gpus else ()):
                if job.gpu_type is not None and not matches(job.gpu_type, gpu_type):
                    continue
                if (job.gpu_memory_mib or 0) > self.gpu_memory[node]:
                    continue
                eligible |= 1 << node
            d = self.demands[job] = Demand(eligible, job_share(job), job.gpu_memory_mib or 0,
                                           job.cpu_milli or 0, job.memory_mib or 0)
        return d


class ResourcePlanner(Planner):
    """A ``Planner`` that also enforces the resource model (see the module docstring).

    The base planner's free GPUs are the wholly free ones; a GPU holding shares is busy there and
    its used share and GPU memory are kept here.
    """

    __slots__ = ("_static", "_used", "_vram", "_cpu_free", "_mem_free", "_pods", "_down")

    def __init__(self, cluster: Cluster, strategy: str = DEFAULT, jobs: Sequence[Job] = (),
                 sharing: str = DEFAULT_SHARING) -> None:
        if sharing not in SHARING:
            raise GpusimError(f"unknown GPU sharing placement {sharing!r}; choose one of {', '.join(SHARING)}")
        super().__init__([n.num_gpus for n in cluster.nodes], strategy)
        self._static = _Static(cluster, sharing, workload_classes(jobs) or ((1, 1000, 1.0),))
        self._static.pods = any(j.num_gpus == 0 for j in jobs)
        self._used: dict[int, int] = {}  # shared GPU → thousandths in use
        self._vram: dict[int, int] = {}  # shared GPU → GPU memory in use (MiB)
        self._cpu_free = list(self._static.cpu)
        self._mem_free = list(self._static.memory)
        self._pods: dict[str, int] = {}  # CPU-only job id → the node holding its CPU and memory
        self._down: frozenset[int] = frozenset()  # failed nodes: no CPU-only job goes there

    def copy(self) -> ResourcePlanner:
        other = object.__new__(ResourcePlanner)
        other.strategy, other._split, other._layout = self.strategy, self._split, self._layout
        other._free_mask, other._by_free, other.free_total = self._free_mask, self._by_free[:], self.free_total
        other._static, other._used, other._vram = self._static, dict(self._used), dict(self._vram)
        other._cpu_free, other._mem_free = self._cpu_free[:], self._mem_free[:]
        other._pods, other._down = dict(self._pods), self._down
        return other

    # --- what policies and the engine call ----------------------------------------------------

    def demand(self, job) -> Demand:
        """The demand of a job (a Job or a JobState)."""
        return self._static.demand(getattr(job, "job", job))

    def shares(self, job) -> bool:
        """Whether the job takes a share of one GPU rather than whole GPUs."""
        return self.demand(job).milli < 1000

    @property
    def cpu_only_jobs(self) -> bool:
        """Whether the run's workload has CPU-only jobs (a job of 0 GPUs may fit when no GPU is free)."""
        return self._static.pods

    def has_room(self) -> bool:
        """Whether any job could still start: a GPU has free capacity, whole or shared, or (in a
        run with CPU-only jobs) a node that is up has CPU and memory left."""
        return self.has_gpu_room() or self.has_pod_room()

    def has_gpu_room(self) -> bool:
        """Whether any GPU has free capacity, whole or shared."""
        return self.free_total > 0 or any(u < 1000 for u in self._used.values())

    def has_pod_room(self) -> bool:
        """Whether a CPU-only job of the run could still find CPU and memory (False in a run
        without them). O(nodes)."""
        if not self._static.pods:
            return False
        down, cpu, mem = self._down, self._cpu_free, self._mem_free
        return any(cpu[i] > 0 and mem[i] > 0 and i not in down for i in range(len(cpu)))

    def pod_node(self, job_id: str) -> int | None:
        """The node holding running CPU-only job ``job_id``'s CPU and memory (None if it holds none)."""
        return self._pods.get(job_id)

    def set_down(self, node: int, down: bool) -> None:
        """Mark ``node`` failed (no CPU-only job is placed there) or repaired. Its GPUs are taken
        and released separately (``take``/``release``), as in the plain planner."""
        self._down = self._down | {node} if down else self._down - {node}

    def shared_use(self) -> dict[int, int]:
        """Thousandths in use on each GPU that holds shares (a copy)."""
        return dict(self._used)

    def free_cpu(self, node: int) -> float:
        return self._cpu_free[node]

    def free_memory(self, node: int) -> float:
        return self._mem_free[node]

    def place_job(self, job) -> tuple[int, ...] | None:
        """The GPUs the job would get now, honouring its demands, or None."""
        job = getattr(job, "job", job)
        d = self._static.demand(job)
        if d.eligible == 0:
            return None
        if job.num_gpus == 0:
            return None if self._pod_target(d) is None else ()
        if d.milli < 1000:
            gpu = self._shared_gpu(d)
            return None if gpu is None else (gpu,)
        n = job.num_gpus
        if n > self.free_total:
            return None
        if d.eligible == self._static.all_nodes and not (self._static.limited and (d.cpu or d.memory)):
            return self.place(n)  # nothing constrains it: exactly the plain strategy
        split = self._split_among(d, n)
        if split is None:
            return None
        return tuple(sorted(g for node, k in split for g in self.on_node(node, k)))

    def claim_job(self, job) -> tuple[int, ...] | None:
        gpus = self.place_job(job)
        if gpus is not None:
            self.take_job(gpus, job)
        return gpus

    def take_job(self, gpus: Sequence[int], job) -> None:
        """Give ``gpus`` to the job, all or nothing; ValueError names the demand they break."""
        job = getattr(job, "job", job)
        d = self._static.demand(job)
        gpus = tuple(self._checked(gpus))
        if job.num_gpus == 0 and not gpus:
            self._take_pod(job, d)
            return
        if len(gpus) != job.num_gpus:
            raise ValueError(f"job {job.job_id} needs {job.num_gpus} GPU(s), got {len(gpus)}")
        per_node = self._per_node(gpus)
        for node in per_node:
            if not d.eligible >> node & 1:
                raise ValueError(self._why_not(job, node))
        for node, k in per_node.items():
            cpu, mem = self._node_share(d, job.num_gpus, k)
            if cpu > self._cpu_free[node] or mem > self._mem_free[node]:
                raise ValueError(f"node {node} has {self._cpu_free[node]:g} CPU milli and {self._mem_free[node]:g} "
                                 f"MiB memory free; job {job.job_id} needs {cpu} and {mem} there")
        if d.milli < 1000:
            (g,) = gpus
            if g in self._used:
                if self._used[g] + d.milli > 1000:
                    raise ValueError(f"GPU {g} has {1000 - self._used[g]} thousandths free; job {job.job_id} "
                                     f"needs {d.milli}")
                if self._vram[g] + d.gpu_memory > self._static.gpu_memory[self.node_of(g)]:
                    raise ValueError(f"GPU {g} has not {d.gpu_memory} MiB of GPU memory left for job {job.job_id}")
                self._used[g] += d.milli
                self._vram[g] += d.gpu_memory
            else:
                self.take((g,))
                self._used[g], self._vram[g] = d.milli, d.gpu_memory
        else:
            self.take(gpus)
        for node, k in per_node.items():
            cpu, mem = self._node_share(d, job.num_gpus, k)
            self._cpu_free[node] -= cpu
            self._mem_free[node] -= mem

    def release_job(self, gpus: Sequence[int], job) -> None:
        """Return the job's ``gpus`` (and its CPU and memory) to the free state."""
        job = getattr(job, "job", job)
        d = self._static.demand(job)
        gpus = tuple(gpus)
        if job.num_gpus == 0:
            node = self._pods.get(job.job_id)
            if node is None or gpus:  # checked before anything changes: all or nothing
                raise ValueError(f"CPU-only job {job.job_id} holds no node's CPU and memory" if node is None
                                 else f"CPU-only job {job.job_id} holds no GPUs, not {gpus}")
            del self._pods[job.job_id]
            self._cpu_free[node] += d.cpu
            self._mem_free[node] += d.memory
            return
        if len(gpus) != job.num_gpus:
            raise ValueError(f"job {job.job_id} holds {job.num_gpus} GPU(s), not {len(gpus)}")
        if d.milli < 1000:
            (g,) = gpus
            if self._used.get(g, 0) < d.milli:
                raise ValueError(f"GPU {g} does not hold job {job.job_id}'s share")
            self._used[g] -= d.milli
            self._vram[g] -= d.gpu_memory
            if self._used[g] == 0:
                del self._used[g], self._vram[g]
                super().release((g,))
        else:
            self.release(gpus)  # refuses a GPU that holds shares: it is not this job's whole GPU
        for node, k in self._per_node(gpus).items():
            cpu, mem = self._node_share(d, job.num_gpus, k)
            self._cpu_free[node] += cpu
            self._mem_free[node] += mem

    def release(self, gpus: Sequence[int]) -> None:
        shared = [g for g in gpus if g in self._used]
        if shared:
            raise ValueError(f"GPU {shared[0]} holds shares: release it with release_job(gpus, job)")
        super().release(gpus)

    # --- internals ---------------------------------------------------------------------------

    def _pod_target(self, d: Demand) -> int | None:
        """The node a CPU-only job goes to now (the rule in the module docstring), or None. O(nodes)."""
        caps, cpu, mem, down = self._static.caps, self._cpu_free, self._mem_free, self._down
        best, best_key = None, None
        for node in range(len(caps)):
            if d.cpu <= cpu[node] and d.memory <= mem[node] and node not in down:
                key = (caps[node] > 0, cpu[node] - d.cpu, mem[node] - d.memory)
                if best_key is None or key < best_key:
                    best, best_key = node, key
        return best

    def _take_pod(self, job: Job, d: Demand) -> None:
        if job.job_id in self._pods:
            raise ValueError(f"CPU-only job {job.job_id} already holds node {self._pods[job.job_id]}")
        node = self._pod_target(d)
        if node is None:
            raise ValueError(f"no node that is up has {d.cpu} CPU milli and {d.memory} MiB memory free for "
                             f"CPU-only job {job.job_id}")
        self._pods[job.job_id] = node
        self._cpu_free[node] -= d.cpu
        self._mem_free[node] -= d.memory

    def _per_node(self, gpus: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for g in gpus:
            node = self.node_of(g)
            out[node] = out.get(node, 0) + 1
        return out

    @staticmethod
    def _node_share(d: Demand, num_gpus: int, k: int) -> tuple[int, int]:
        """The CPU and memory a job of ``num_gpus`` asks of a node where it has ``k`` GPUs."""
        if k == num_gpus:
            return d.cpu, d.memory
        return -(-d.cpu * k // num_gpus), -(-d.memory * k // num_gpus)

    def _room(self, d: Demand, node: int, num_gpus: int, k: int) -> bool:
        cpu, mem = self._node_share(d, num_gpus, k)
        return cpu <= self._cpu_free[node] and mem <= self._mem_free[node]

    def _why_not(self, job: Job, node: int) -> str:
        st = self._static
        if job.gpu_type is not None and not matches(job.gpu_type, st.types[node]):
            return f"node {node} has {st.types[node]} GPUs; job {job.job_id} requires {job.gpu_type}"
        return (f"node {node}'s GPUs have {st.gpu_memory[node]:g} MiB; job {job.job_id} needs "
                f"{job.gpu_memory_mib} MiB per GPU")

    def _split_among(self, d: Demand, n: int) -> list[tuple[int, int]] | None:
        """The run's strategy over the nodes that suit the job (``sim.placement``'s rules)."""
        caps = self._static.caps
        free = {node: f for node in _bits(d.eligible) if (f := self.free_on(node))}
        one = [node for node, f in free.items() if f >= n and self._room(d, node, n, n)]
        best = min(one, key=lambda i: (free[i], i)) if one else None
        strategy = self.strategy
        if strategy == "pool":
            return self._walk(d, n, sorted(free), free)
        if strategy == "consolidated":
            if n <= max(caps[i] for i in _bits(d.eligible)):
                return None if best is None else [(best, n)]
            out, left = [], n
            for node in sorted((i for i in free if free[i] == caps[i]), key=lambda i: (-caps[i], i)):
                if caps[node] <= left and self._room(d, node, n, caps[node]):
                    out.append((node, caps[node]))
                    left -= caps[node]
                    if left == 0:
                        return out
            used = {node for node, _ in out}
            rest = [i for i, f in free.items() if f >= left and i not in used and self._room(d, i, n, left)]
            return None if not rest else out + [(min(rest, key=lambda i: (free[i], i)), left)]
        if strategy == "pack" and best is not None:
            return [(best, n)]
        if strategy == "balance":
            by_load = sorted(free, key=lambda i: (load_fraction(caps, self.free_on, i), i))
            fits = set(one)
            return next(([(i, n)] for i in by_load if i in fits), None) or self._walk(d, n, by_load, free)
        return self._walk(d, n, sorted(free, key=lambda i: (-free[i], i)), free)

    def _walk(self, d: Demand, n: int, order: list[int], free: dict[int, int]) -> list[tuple[int, int]] | None:
        out, left = [], n
        for node in order:
            take = min(free[node], left)
            if not self._room(d, node, n, take):
                continue
            out.append((node, take))
            left -= take
            if left == 0:
                return out
        return None

    def _shared_gpu(self, d: Demand) -> int | None:
        """The GPU a shared job goes to under the sharing rule, or None."""
        st = self._static
        candidates: list[tuple[int, int]] = []  # (gpu, room left after the job)
        for g, used in self._used.items():
            node = self.node_of(g)
            if (used + d.milli <= 1000 and d.eligible >> node & 1 and self._vram[g] + d.gpu_memory
                    <= st.gpu_memory[node] and self._room(d, node, 1, 1)):
                candidates.append((g, 1000 - used - d.milli))
        for node in _bits(d.eligible):
            if self.free_on(node) and self._room(d, node, 1, 1):
                candidates.append((self.on_node(node, 1)[0], 1000 - d.milli))
        if not candidates:
            return None
        if st.sharing == "best-fit":
            return min(candidates, key=lambda c: (c[1], c[0]))[0]
        if st.sharing == "worst-fit":
            return min(candidates, key=lambda c: (-c[1], c[0]))[0]
        return min(candidates, key=lambda c: (self._frag_growth(c[0], d.milli), c[1], c[0]))[0]

    def _node_free_shares(self, node: int) -> list[int]:
        lo = self._static.offsets[node]
        return [1000 if self.is_free(g) else 1000 - self._used.get(g, 1000)
                for g in range(lo, lo + self._static.caps[node])]

    def _frag_growth(self, gpu: int, milli: int) -> float:
        node = self.node_of(gpu)
        free = self._node_free_shares(node)
        before = node_fragment(free, self._static.classes)
        free[gpu - self._static.offsets[node]] -= milli
        return node_fragment(free, self._static.classes) - before


def why_never(job: Job, cluster: Cluster) -> str:
    """Why a job can never run on ``cluster`` under the resource model (for error messages)."""
    if job.num_gpus == 0:
        return (f"CPU-only: {job.cpu_milli or 0} CPU milli and {job.memory_mib or 0} MiB memory fit on no "
                "node")
    gpu_nodes = [n for n in cluster.nodes if n.num_gpus]  # a CPU-only node's type is a placeholder
    types = {n.gpu_type for n in gpu_nodes}
    if job.gpu_type is not None and not any(matches(job.gpu_type, t) for t in types):
        return f"requires GPU type {job.gpu_type}, which no node has ({', '.join(sorted(types))})"
    suitable = [n for n in gpu_nodes if job.gpu_type is None or matches(job.gpu_type, n.gpu_type)]
    if job.gpu_memory_mib and all(n.gpu_memory_mib is not None and n.gpu_memory_mib < job.gpu_memory_mib
                                  for n in suitable):
        return f"needs {job.gpu_memory_mib} MiB per GPU, more than any suitable GPU has"
    return f"{job.num_gpus} GPUs" + (f", {job.cpu_milli} CPU milli" if job.cpu_milli else "") + (
        f", {job.memory_mib} MiB memory" if job.memory_mib else "") + " do not fit on the suitable nodes"


def planner_for(cluster: Cluster, placement: str = DEFAULT, jobs: Sequence[Job] = (),
                resources: bool = False, sharing: str = DEFAULT_SHARING) -> Planner:
    """The engine's planner: a ``ResourcePlanner`` with the resource model on, else a plain ``Planner``."""
    if resources:
        return ResourcePlanner(cluster, placement, jobs, sharing)
    return Planner([n.num_gpus for n in cluster.nodes], placement)


def cpu_only_nodes(cluster: Cluster) -> int:
    """How many of the cluster's nodes have no GPUs (CPU and memory only)."""
    return sum(1 for n in cluster.nodes if n.num_gpus == 0)
