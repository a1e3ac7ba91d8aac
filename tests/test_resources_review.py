"""A review of the resource model's bookkeeping (sim.resources, sim.fragmentation).

The property test drives a ``ResourcePlanner`` through random take/release/copy/fail sequences
and, after every step, rebuilds the expected state from the jobs it holds, independently of the
planner: shares and GPU memory per GPU, CPU and memory per node (each node's part of a job's
demand rounded up), and which GPUs are wholly free, shared or wholly taken. The other tests are
hand-computed cases of the defects the review found.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fragmentation import fragmentation_timeseries
from sim.gpu_types import matches
from sim.model import Cluster, Event, Job, NodeSpec
from sim.placement import STRATEGIES
from sim.resources import SHARING, ResourcePlanner, why_never

TYPES = ("V100M16", "V100M32", "T4")


def _snapshot(p: ResourcePlanner) -> tuple:
    """Everything a planner holds, through its own accessors (the GPU memory of shares is private)."""
    nodes = range(len(p._static.caps))
    return (tuple(p.is_free(g) for g in range(p.num_gpus)), p.free_per_node(), p.free_total, p.shared_use(),
            dict(p._vram), tuple(p.free_cpu(n) for n in nodes), tuple(p.free_memory(n) for n in nodes),
            dict(p._pods), p._down)


def _expected(cluster: Cluster, held: dict[str, tuple[Job, tuple[int, ...], int | None]]):
    """Per GPU (share, GPU memory, whole holders, holders) and per node (CPU, memory) in use."""
    node_of = [i for i, n in enumerate(cluster.nodes) for _ in range(n.num_gpus)]
    share, vram, whole, holders = ([0] * len(node_of) for _ in range(4))
    cpu, mem = [0] * len(cluster.nodes), [0] * len(cluster.nodes)
    for job, gpus, pod_node in held.values():
        if job.num_gpus == 0:
            cpu[pod_node] += job.cpu_milli or 0
            mem[pod_node] += job.memory_mib or 0
            continue
        milli = job.gpu_milli if job.num_gpus == 1 and job.gpu_milli and job.gpu_milli < 1000 else 1000
        per_node: dict[int, int] = {}
        for g in gpus:
            share[g] += milli
            vram[g] += job.gpu_memory_mib or 0
            whole[g] += milli == 1000
            holders[g] += 1
            per_node[node_of[g]] = per_node.get(node_of[g], 0) + 1
        for n, k in per_node.items():
            cpu[n] += ceil(Fraction(job.cpu_milli or 0) * k / job.num_gpus)
            mem[n] += ceil(Fraction(job.memory_mib or 0) * k / job.num_gpus)
    return node_of, share, vram, whole, holders, cpu, mem


def _check(p: ResourcePlanner, cluster: Cluster, held, down: set[int]) -> None:
    node_of, share, vram, whole, holders, cpu, mem = _expected(cluster, held)
    used = p.shared_use()
    for g, n in enumerate(node_of):
        spec = cluster.nodes[n]
        assert share[g] <= 1000, (g, share[g])
        assert spec.gpu_memory_mib is None or vram[g] <= spec.gpu_memory_mib, (g, vram[g])
        assert not whole[g] or holders[g] == 1, g
        free, shared = p.is_free(g), g in used
        taken = not free and not shared
        assert free + shared + taken == 1, g  # exactly one of the three states
        if holders[g] == 0:
            assert free or n in down, g  # a down node's GPUs are taken by the failure, not by a job
        elif whole[g]:
            assert taken, g
        else:
            assert shared and used[g] == share[g] and p._vram[g] == vram[g], (g, used.get(g), share[g])
    assert p.free_total == sum(p.is_free(g) for g in range(len(node_of)))
    for n, spec in enumerate(cluster.nodes):
        cap_cpu = float("inf") if spec.cpu_milli is None else spec.cpu_milli
        cap_mem = float("inf") if spec.memory_mib is None else spec.memory_mib
        assert cpu[n] <= cap_cpu and mem[n] <= cap_mem, n
        assert p.free_cpu(n) == cap_cpu - cpu[n] and p.free_memory(n) == cap_mem - mem[n], n
        assert p.free_cpu(n) >= 0 and p.free_memory(n) >= 0
    for job_id, (job, gpus, pod_node) in held.items():
        assert p.pod_node(job_id) == pod_node
        for g in gpus:
            spec = cluster.nodes[node_of[g]]
            assert job.gpu_type is None or matches(job.gpu_type, spec.gpu_type)
            assert spec.gpu_memory_mib is None or (job.gpu_memory_mib or 0) <= spec.gpu_memory_mib


@st.composite
def _setups(draw):
    nodes = [NodeSpec(draw(st.sampled_from([0, 1, 2, 4, 8])), draw(st.sampled_from(TYPES)),
                      draw(st.sampled_from([None, 16384, 32768])), draw(st.sampled_from([None, 4000, 16000])),
                      draw(st.sampled_from([None, 8192, 65536]))) for _ in range(draw(st.integers(1, 4)))]
    nodes.append(NodeSpec(draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from(TYPES)), 16384, 16000, 65536))
    cluster = Cluster(tuple(nodes))
    jobs = []
    for i in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["shared", "whole", "pod"]))
        num_gpus = {"shared": 1, "pod": 0}[kind] if kind != "whole" else draw(st.sampled_from([1, 2, 3, 4, 8]))
        jobs.append(Job(f"j{i}", 0.0, num_gpus, 1.0,
                        gpu_type=None if kind == "pod" else draw(st.sampled_from([None, *TYPES, "V100"])),
                        gpu_milli=draw(st.integers(1, 999)) if kind == "shared" else None,
                        gpu_memory_mib=None if kind == "pod" else draw(st.sampled_from([None, 2000, 9000, 20000])),
                        cpu_milli=draw(st.sampled_from([None, 500, 1000, 3000, 7000])),
                        memory_mib=draw(st.sampled_from([None, 1024, 5000, 30000]))))
    return cluster, jobs


@settings(max_examples=300, deadline=None)
@given(_setups(), st.sampled_from(STRATEGIES), st.sampled_from(SHARING), st.data())
def test_bookkeeping_is_conserved_under_random_take_release_copy_and_failures(setup, strategy, sharing, data):
    """After every step the planner's state is exactly what the held jobs imply; a copy never
    shares state with its original; a down node takes no pod; releasing everything (and
    repairing every node) gives back the initial state."""
    cluster, jobs = setup
    p = ResourcePlanner(cluster, strategy, jobs, sharing)
    initial = _snapshot(p)
    held: dict[str, tuple[Job, tuple[int, ...], int | None]] = {}
    down: dict[int, tuple[int, ...]] = {}  # failed node → the GPUs the failure took
    gpu_nodes = [n for n, spec in enumerate(cluster.nodes) if spec.num_gpus]
    for _ in range(data.draw(st.integers(1, 40))):
        op = data.draw(st.sampled_from(["claim", "claim", "claim", "release", "copy", "fail", "repair"]))
        if op == "claim":
            job = data.draw(st.sampled_from([j for j in jobs if j.job_id not in held] or jobs))
            if job.job_id in held:
                continue
            gpus = p.claim_job(job)
            if gpus is not None:
                pod = p.pod_node(job.job_id) if job.num_gpus == 0 else None
                assert pod is None or pod not in down
                held[job.job_id] = (job, gpus, pod)
        elif op == "release" and held:
            job_id = data.draw(st.sampled_from(sorted(held)))
            job, gpus, _ = held.pop(job_id)
            p.release_job(gpus, job)
        elif op == "copy":
            before = _snapshot(p)
            other = p.copy()
            for job in jobs:  # fill the copy as far as it goes, then empty it again
                if job.job_id not in held:
                    other.claim_job(job)
            for job_id, (job, gpus, _) in list(held.items())[:3]:
                other.release_job(gpus, job)
            other.set_down(gpu_nodes[0], True)
            assert _snapshot(p) == before
            twin = p.copy()
            assert _snapshot(twin) == before
            extra = [(job, gpus) for job in jobs if job.job_id not in held and (gpus := p.claim_job(job)) is not None]
            p.set_down(gpu_nodes[-1], True)
            assert _snapshot(twin) == before  # the original changed, its copy did not
            p.set_down(gpu_nodes[-1], gpu_nodes[-1] in down)
            for job, gpus in extra:
                p.release_job(gpus, job)
            assert _snapshot(p) == before
        elif op == "fail":
            node = data.draw(st.sampled_from(gpu_nodes))
            if node in down:
                continue
            for job_id in [i for i, (job, gpus, pod) in held.items()
                           if pod == node or any(p.node_of(g) == node for g in gpus)]:
                job, gpus, _ = held.pop(job_id)
                p.release_job(gpus, job)
            lo = sum(s.num_gpus for s in cluster.nodes[:node])
            taken = tuple(g for g in range(lo, lo + cluster.nodes[node].num_gpus) if p.is_free(g))
            p.take(taken)
            p.set_down(node, True)
            down[node] = taken
        elif op == "repair" and down:
            node = data.draw(st.sampled_from(sorted(down)))
            p.release(down.pop(node))
            p.set_down(node, False)
        _check(p, cluster, held, set(down))
    for job_id, (job, gpus, _) in list(held.items()):
        p.release_job(gpus, job)
        del held[job_id]
        _check(p, cluster, held, set(down))
    for node, taken in list(down.items()):
        p.release(taken)
        p.set_down(node, False)
    assert _snapshot(p) == initial


def test_releasing_a_whole_gpu_job_from_a_shared_gpu_is_refused():
    """A GPU holding shares is not wholly taken: giving it back as a whole-GPU job's must fail
    (as ``release`` does), not mark it free while its shares are still in use."""
    p = ResourcePlanner(Cluster((NodeSpec(2, "T4"),)))
    shared, whole = Job("s", 0, 1, 1.0, gpu_milli=500), Job("w", 0, 1, 1.0)
    assert p.claim_job(shared) == (0,)
    before = _snapshot(p)
    with pytest.raises(ValueError, match="holds shares"):
        p.release_job((0,), whole)
    assert _snapshot(p) == before
    assert not p.is_free(0) and p.shared_use() == {0: 500}


def test_why_never_ignores_cpu_only_nodes_for_gpu_memory():
    """A CPU-only node (no GPUs, so no GPU memory) is no suitable node for a GPU job: the reason
    a 20,000 MiB job never fits on 16,384 MiB GPUs is its GPU memory."""
    cluster = Cluster((NodeSpec(2, "T4", 16384), NodeSpec(0, "generic", None, 8000, 8000)))
    job = Job("big", 0, 1, 10.0, gpu_memory_mib=20000)
    assert why_never(job, cluster) == "needs 20000 MiB per GPU, more than any suitable GPU has"


def test_why_never_names_only_gpu_types_of_gpu_nodes():
    """The type a job asks for is looked up among the GPU nodes: a CPU-only node's placeholder
    type (``generic``) neither satisfies it nor shows in the list of types the cluster has."""
    cluster = Cluster((NodeSpec(2, "T4", 16384), NodeSpec(0, "generic", None, 8000, 8000)))
    assert why_never(Job("a", 0, 1, 1.0, gpu_type="A100"), cluster) == \
        "requires GPU type A100, which no node has (T4)"
    assert why_never(Job("g", 0, 1, 1.0, gpu_type="generic"), cluster) == \
        "requires GPU type generic, which no node has (T4)"


def test_fragmentation_counts_nodes_no_job_has_touched():
    """Free capacity a class cannot use is a fragment on every node, touched or not.

    Classes: (4 GPUs, whole) and (1 GPU, whole), 1/2 each. Job b takes GPU 2 (node 1's first).
    Node 0 (2 GPUs, both free): the 4-GPU class cannot fit, 1/2 · 2000; the 1-GPU class can, 0.
    Node 1 (4 GPUs, 3 free): the 4-GPU class cannot fit, 1/2 · 3000; the 1-GPU class, 0.
    Fragmented 2,500 thousandths = 2.5 GPUs, of 5 free."""
    cluster = Cluster((NodeSpec(2, "T4"), NodeSpec(4, "T4")))
    jobs = [Job("a", 0, 4, 10.0), Job("b", 0, 1, 10.0)]
    series = fragmentation_timeseries(jobs, [Event(0.0, "start", "b", (2,))], cluster)
    assert series == [(0.0, 2.5, 5.0)]


def test_frag_sharing_takes_the_gpu_whose_node_fragments_least():
    """Classes (1 GPU, 600) and (1 GPU, 300), 1/2 each; GPU 0 holds 400 (600 free), GPU 1 is free.
    A 300 share on GPU 0 leaves [300, 1000]: the 600 class cannot use the 300, growth 1/2 · 300;
    on GPU 1 it leaves [600, 700]: both classes fit everywhere, growth 0. Best fit takes GPU 0."""
    cluster = Cluster((NodeSpec(2, "T4"),))
    workload = [Job("x", 0, 1, 1.0, gpu_milli=600), Job("y", 0, 1, 1.0, gpu_milli=300)]
    first, new = Job("f", 0, 1, 1.0, gpu_milli=400), Job("n", 0, 1, 1.0, gpu_milli=300)
    chosen = {}
    for sharing in SHARING:
        p = ResourcePlanner(cluster, jobs=workload, sharing=sharing)
        p.take_job((0,), first)
        chosen[sharing] = p.place_job(new)
    assert chosen == {"best-fit": (0,), "worst-fit": (1,), "frag": (1,)}


def test_pods_never_go_to_a_failed_node():
    """The CPU node (preferred) is down: pods go to the GPU node with the least CPU left after."""
    cluster = Cluster((NodeSpec(0, "generic", None, 8000, 8000), NodeSpec(2, "T4", None, 4000, 8000),
                       NodeSpec(2, "T4", None, 6000, 8000)))
    p = ResourcePlanner(cluster, jobs=[Job("p", 0, 0, 1.0, cpu_milli=1000, memory_mib=100)])
    p.set_down(0, True)
    pods = [Job(f"p{i}", 0, 0, 1.0, cpu_milli=1000, memory_mib=100) for i in range(10)]
    nodes = []
    for pod in pods:
        if p.claim_job(pod) is None:
            break
        nodes.append(p.pod_node(pod.job_id))
    assert nodes == [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]


def test_fragmentation_leaves_failed_nodes_out_of_the_free_capacity():
    """GPUs of a failed (or switched-off) node are no free capacity until it comes back.

    Two 2-GPU nodes, one class (1 GPU, whole). a runs on GPU 0 from t=0; node 0 fails at t=1 (a is
    killed) and is repaired at t=2. Free GPUs: 3 at t=0, 2 at t=1 (node 1 only), 4 at t=2; a
    1-GPU class can use every free whole GPU, so nothing is ever fragmented."""
    cluster = Cluster((NodeSpec(2, "T4"), NodeSpec(2, "T4")))
    jobs = [Job("a", 0, 1, 10.0)]
    events = [Event(0.0, "start", "a", (0,)), Event(1.0, "fail", "", (0, 1)), Event(1.0, "kill", "a", (0,)),
              Event(2.0, "repair", "", (0, 1))]
    assert fragmentation_timeseries(jobs, events, cluster) == [(0.0, 0.0, 3.0), (1.0, 0.0, 2.0), (2.0, 0.0, 4.0)]
    off = [Event(0.0, "node_off", "", (2, 3)), Event(5.0, "node_on", "", (2, 3))]
    assert fragmentation_timeseries(jobs, off, cluster) == [(0.0, 0.0, 2.0), (5.0, 0.0, 4.0)]


def test_a_refused_release_changes_nothing():
    """release_job is all or nothing, like take_job: a CPU-only job named with GPUs, or a job
    given back with fewer GPUs than it holds, is refused and the planner keeps its state."""
    cluster = Cluster((NodeSpec(0, "generic", None, 8000, 8000), NodeSpec(2, "T4", None, 8000, 8000)))
    p = ResourcePlanner(cluster)
    pod, pair = Job("p", 0, 0, 1.0, cpu_milli=1000, memory_mib=100), Job("w", 0, 2, 1.0, cpu_milli=2000)
    assert p.claim_job(pod) == () and p.claim_job(pair) == (0, 1)
    before = _snapshot(p)
    with pytest.raises(ValueError, match="CPU-only job p holds no GPUs"):
        p.release_job((0,), pod)
    assert _snapshot(p) == before and p.pod_node("p") == 0
    with pytest.raises(ValueError, match="job w holds 2 GPU"):
        p.release_job((0,), pair)
    assert _snapshot(p) == before
