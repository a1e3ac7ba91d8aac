"""The resource model (sim.resources): GPU types and memory, shared GPUs, CPU and memory per node.

The properties replay each event log against the cluster and the jobs, independently of the
planner, and check that no constraint is ever broken at any instant.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policies
from sim.engine import check_fits, simulate
from sim.errors import GpusimError, PolicyError
from sim.fragmentation import job_share
from sim.gpu_types import matches
from sim.model import Cluster, Job, NodeSpec, Start
from sim.placement import STRATEGIES
from sim.resources import SHARING, ResourcePlanner

TYPES = ("V100M16", "V100M32", "T4", "G2")
POLICIES = ("fifo", "sjf", "fifo-backfill", "srtf", "tiresias", "random", "fair-share", "edf", "priority-reserve",
            "elastic")


@st.composite
def workloads(draw):
    nodes = []
    for _ in range(draw(st.integers(1, 5))):
        t = draw(st.sampled_from(TYPES))
        nodes.append(NodeSpec(draw(st.sampled_from([1, 2, 4, 8])), t,
                              draw(st.sampled_from([None, 16384, 32768])),
                              draw(st.sampled_from([None, 8000, 32000])),
                              draw(st.sampled_from([None, 65536, 262144]))))
    cluster = Cluster(tuple(nodes))
    present = sorted({n.gpu_type for n in nodes})
    jobs = []
    for i in range(draw(st.integers(1, 25))):
        shared = draw(st.booleans())
        num_gpus = 1 if shared else draw(st.sampled_from([1, 2, 4, 8]))
        jobs.append(Job(
            f"j{i}", draw(st.floats(0, 100).map(round)), num_gpus, draw(st.floats(1, 200).map(round)),
            gpu_type=draw(st.sampled_from([None, *present, "|".join(present[:2])])),
            gpu_milli=draw(st.integers(1, 999)) if shared else draw(st.sampled_from([None, 1000])),
            gpu_memory_mib=draw(st.sampled_from([None, 2000, 8000, 20000])),
            cpu_milli=draw(st.sampled_from([None, 1000, 4000, 8000])),
            memory_mib=draw(st.sampled_from([None, 4096, 65536])),
        ))
    return cluster, jobs


def replay_checks(cluster: Cluster, jobs: list[Job], events) -> None:
    """Fail if, after any instant, a GPU, node or job constraint is broken."""
    node_of, mem_of = [], []
    for i, n in enumerate(cluster.nodes):
        node_of += [i] * n.num_gpus
    by_id = {j.job_id: j for j in jobs}
    held: dict[str, tuple[int, ...]] = {}
    finished = set()

    def check(now):
        share = [0] * len(node_of)
        vram = [0] * len(node_of)
        whole = [0] * len(node_of)
        holders = [0] * len(node_of)
        cpu = [0] * len(cluster.nodes)
        mem = [0] * len(cluster.nodes)
        for job_id, gpus in held.items():
            job = by_id[job_id]
            assert len(gpus) == job.num_gpus
            per_node: dict[int, int] = {}
            for g in gpus:
                node = cluster.nodes[node_of[g]]
                assert job.gpu_type is None or matches(job.gpu_type, node.gpu_type), (now, job, node)
                assert node.gpu_memory_mib is None or (job.gpu_memory_mib or 0) <= node.gpu_memory_mib
                share[g] += job_share(job)
                vram[g] += job.gpu_memory_mib or 0
                whole[g] += job_share(job) == 1000
                holders[g] += 1
                per_node[node_of[g]] = per_node.get(node_of[g], 0) + 1
            for n, k in per_node.items():
                cpu[n] += -(-(job.cpu_milli or 0) * k // job.num_gpus)
                mem[n] += -(-(job.memory_mib or 0) * k // job.num_gpus)
        for g in range(len(node_of)):
            node = cluster.nodes[node_of[g]]
            assert share[g] <= 1000, (now, g, share[g])
            assert not whole[g] or holders[g] == 1, (now, g)
            if node.gpu_memory_mib is not None and holders[g] > 1:
                assert vram[g] <= node.gpu_memory_mib, (now, g)
        for n, node in enumerate(cluster.nodes):
            assert node.cpu_milli is None or cpu[n] <= node.cpu_milli, (now, n)
            assert node.memory_mib is None or mem[n] <= node.memory_mib, (now, n)

    last = None
    for e in events:
        if last is not None and e.time != last:
            check(last)
        last = e.time
        if e.kind == "start":
            held[e.job_id] = tuple(e.gpus)
        elif e.kind in ("finish", "preempt"):
            held.pop(e.job_id)
            if e.kind == "finish":
                assert e.job_id not in finished
                finished.add(e.job_id)
    check(last)
    assert not held


@settings(max_examples=60, deadline=None)
@given(workloads(), st.sampled_from(POLICIES), st.sampled_from(STRATEGIES), st.sampled_from(SHARING))
def test_no_constraint_is_ever_broken(work, policy, placement, sharing):
    cluster, jobs = work
    runnable = [j for j in jobs if j not in check_fits(jobs, cluster, placement, resources=True)]
    if not runnable:
        return
    result = simulate(runnable, cluster, policies.make(policy), placement=placement, resources=True, sharing=sharing)
    replay_checks(cluster, runnable, result.events)
    assert sum(e.kind == "finish" for e in result.events) == len(runnable)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from([1, 2, 4, 8]), st.integers(1, 100)), min_size=1, max_size=30),
       st.sampled_from([p for p in POLICIES if p != "random"]), st.sampled_from(STRATEGIES))
def test_without_demands_the_resource_model_changes_nothing(rows, policy, placement):
    """Jobs with no demands on a plain cluster: the same event log with the model on as off
    (random excepted: under the model it leaves the node to the strategy)."""
    cluster = Cluster.parse("2x8,2x4")
    jobs = [Job(f"j{i}", float(t), n, float(d)) for i, (t, n, d) in enumerate(rows)]
    plain = simulate(jobs, cluster, policies.make(policy), placement=placement)
    model = simulate(jobs, cluster, policies.make(policy), placement=placement, resources=True)
    assert list(model.events) == list(plain.events)


def test_type_constraint_no_node_has_is_an_error_naming_the_job():
    cluster = Cluster.parse("2x4:V100M16")
    with pytest.raises(GpusimError, match=r"j1 \(requires GPU type A100, which no node has"):
        simulate([Job("j0", 0, 1, 5.0), Job("j1", 0, 1, 5.0, gpu_type="A100")], cluster, policies.make("fifo"),
                 resources=True)


def test_memory_demand_above_every_gpu_is_an_error():
    cluster = Cluster((NodeSpec(4, "T4", 16384),))
    with pytest.raises(GpusimError, match="needs 20000 MiB per GPU"):
        simulate([Job("j0", 0, 1, 5.0, gpu_memory_mib=20000)], cluster, policies.make("fifo"), resources=True)


def test_job_runs_only_on_gpus_with_enough_memory():
    cluster = Cluster((NodeSpec(2, "T4", 16384), NodeSpec(2, "V100M32", 32768)))
    result = simulate([Job("big", 0, 1, 5.0, gpu_memory_mib=20000)], cluster, policies.make("fifo"), resources=True)
    assert [e.gpus for e in result.events if e.kind == "start"] == [(2,)]


def test_shared_gpu_best_and_worst_fit():
    """Two shares of 600 and 300 on one GPU node pair: best fit packs, worst fit spreads."""
    cluster = Cluster((NodeSpec(2, "T4"),))
    jobs = [Job("a", 0, 1, 10.0, gpu_milli=600), Job("b", 0, 1, 10.0, gpu_milli=300), Job("c", 0, 1, 10.0, gpu_milli=500)]
    best = simulate(jobs, cluster, policies.make("fifo"), resources=True, sharing="best-fit")
    worst = simulate(jobs, cluster, policies.make("fifo"), resources=True, sharing="worst-fit")
    assert [e.gpus for e in best.events if e.kind == "start"] == [(0,), (0,), (1,)]
    assert [e.gpus for e in worst.events if e.kind == "start"] == [(0,), (1,), (1,)]


def test_whole_gpu_job_never_lands_on_a_shared_gpu():
    planner = ResourcePlanner(Cluster((NodeSpec(2, "T4"),)))
    small, whole = Job("s", 0, 1, 1.0, gpu_milli=100), Job("w", 0, 2, 1.0)
    assert planner.claim_job(small) == (0,)
    assert planner.place_job(whole) is None
    with pytest.raises(ValueError, match="not free"):
        planner.take_job((0, 1), whole)
    with pytest.raises(ValueError, match="holds shares"):
        planner.release((0,))
    planner.release_job((0,), small)
    assert planner.place_job(whole) == (0, 1)


def test_engine_refuses_a_start_on_the_wrong_type():
    class Wrong:
        def schedule(self, view, rng):
            return [Start(j.job_id, (0,)) for j in view.pending]

    cluster = Cluster((NodeSpec(1, "T4"), NodeSpec(1, "V100M32")))
    with pytest.raises(PolicyError, match="node 0 has T4 GPUs; job j requires V100"):
        simulate([Job("j", 0, 1, 1.0, gpu_type="V100")], cluster, Wrong(), resources=True)


def test_cpu_and_memory_split_over_nodes_in_proportion():
    planner = ResourcePlanner(Cluster((NodeSpec(2, "T4", None, 4000, 1000), NodeSpec(2, "T4", None, 4000, 1000))),
                              "spread")
    job = Job("j", 0, 4, 1.0, cpu_milli=6000, memory_mib=1000)
    assert planner.claim_job(job) == (0, 1, 2, 3)
    assert (planner.free_cpu(0), planner.free_memory(1)) == (1000, 500)
    planner.release_job((0, 1, 2, 3), job)
    assert planner.free_cpu(0) == 4000


def test_run_config_with_cluster_file_and_resources(tmp_path):
    """A config names a cluster file and turns the model on; the Alibaba sample's shares then share GPUs."""
    from sim.experiment import RunConfig, run

    nodes = tmp_path / "nodes.csv"
    nodes.write_text("count,num_gpus,gpu_type,cpu_milli,memory_mib\n4,8,G2,96000,786432\n")
    config = RunConfig(trace="traces/samples/alibaba2023/openb_pod_list_sample.csv", cluster=str(nodes),
                       resources=True, sharing="frag", drop_oversize=True)
    result = run(config)
    on: dict[str, tuple[int, ...]] = {}
    shared = False
    for e in result.events:
        if e.kind == "start":
            shared |= any(g in gpus for gpus in on.values() for g in e.gpus)
            on[e.job_id] = e.gpus
        elif e.kind in ("finish", "preempt"):
            del on[e.job_id]
    assert shared
    with pytest.raises(GpusimError, match="unknown GPU sharing placement 'tightest'"):
        RunConfig(sharing="tightest")


def test_a_canonical_trace_gives_gpu_memory_per_gpu(tmp_path):
    """The canonical column gpu_memory_mib is read into the job and enforced: a 40,000 MiB job
    never lands on a 16 GB T4, here even when the T4s are the only free GPUs at first."""
    from traces.formats import read

    path = tmp_path / "jobs.csv"
    path.write_text("job_id,submit_time,num_gpus,duration,gpu_memory_mib\nx,0,2,10,\na,0,1,10,40000\n")
    jobs = read(path).jobs
    assert [j.gpu_memory_mib for j in jobs] == [None, 40000]
    cluster = Cluster((NodeSpec(2, "A100", 81920), NodeSpec(2, "T4", 16384)))
    result = simulate(jobs, cluster, policies.make("fifo"), resources=True)
    starts = {e.job_id: (e.time, e.gpus) for e in result.events if e.kind == "start"}
    assert starts["x"][1] == (0, 1)  # x takes the A100s first (best fit, lowest index)
    assert starts["a"] == (10.0, (0,))  # a waits for an A100 rather than take a free T4
