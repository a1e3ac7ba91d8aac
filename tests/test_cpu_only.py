"""CPU-only jobs and CPU-only nodes under the resource model (sim.resources).

A job of 0 GPUs asks only for CPU and memory and a node of 0 GPUs offers only CPU and memory;
both exist only with the resource model on. The properties replay each log with an accounting of
their own (``cpu_use``) and with the invariant checker (sim.check).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policies
from sim.check import check, explain, verify
from sim.engine import check_fits, simulate
from sim.errors import GpusimError, PolicyError
from sim.faults import Faults, Outage
from sim.model import Cluster, Event, Job, NodeSpec, Start
from sim.placement import STRATEGIES
from sim.resources import SHARING, ResourcePlanner, planner_for

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted(policies.available())


def cluster_2gpu_and_cpu_node() -> Cluster:
    """Node 0: 2 GPUs, 4,000 CPU milli, 8 GiB; node 1: no GPU, 2,000 CPU milli, 4 GiB."""
    return Cluster((NodeSpec(2, "V100", cpu_milli=4000, memory_mib=8192),
                    NodeSpec(0, cpu_milli=2000, memory_mib=4096)))


# --- the hand-built case ------------------------------------------------------------------------


def test_cpu_only_pods_wait_for_cpu_not_gpus_and_use_the_cpu_node_first():
    """g holds both GPUs (and 1,000 CPU milli of node 0) from 0 to 100 s. Pod p1 (2,000 CPU milli)
    starts at 1 s although no GPU is free, on the CPU-only node 1; p2 (2,000) fits only node 0
    (3,000 left); p3 (2,000) finds neither (node 0 has 1,000 left, node 1 none) and waits for CPU:
    it starts when p1 finishes at 51 s, on node 1 again, long before any GPU frees up."""
    jobs = [Job("g", 0.0, 2, 100.0, cpu_milli=1000), Job("p1", 1.0, 0, 50.0, cpu_milli=2000, memory_mib=1024),
            Job("p2", 2.0, 0, 50.0, cpu_milli=2000, memory_mib=1024), Job("p3", 3.0, 0, 10.0, cpu_milli=2000)]
    result = simulate(jobs, cluster_2gpu_and_cpu_node(), policies.make("fifo"), resources=True)
    assert list(result.events) == [
        Event(0.0, "submit", "g"), Event(0.0, "start", "g", (0, 1)),
        Event(1.0, "submit", "p1"), Event(1.0, "start", "p1"),
        Event(2.0, "submit", "p2"), Event(2.0, "start", "p2"),
        Event(3.0, "submit", "p3"),
        Event(51.0, "finish", "p1"), Event(51.0, "start", "p3"),
        Event(52.0, "finish", "p2"), Event(61.0, "finish", "p3"), Event(100.0, "finish", "g"),
    ]
    rows = {r["job_id"]: r for r in result.job_table()}
    assert (rows["p3"]["wait"], rows["p3"]["jct"]) == (48.0, 58.0)
    s = result.summary()
    assert s["utilization"] == 1.0  # 2 GPUs x 100 s busy over a 100 s makespan: pods add no GPU time
    verify(result)


def test_the_planner_remembers_the_pod_node_and_gives_it_back():
    cluster = cluster_2gpu_and_cpu_node()
    pod = Job("p", 0.0, 0, 5.0, cpu_milli=1500, memory_mib=100)
    planner = planner_for(cluster, resources=True, jobs=[pod])
    assert isinstance(planner, ResourcePlanner) and planner.cpu_only_jobs
    assert planner.claim_job(pod) == ()
    assert planner.pod_node("p") == 1 and planner.free_cpu(1) == 500 and planner.free_memory(1) == 3996
    assert planner.free_total == 2  # no GPU taken
    with pytest.raises(ValueError, match="already holds node 1"):
        planner.take_job((), pod)
    copy = planner.copy()
    copy.release_job((), pod)
    assert planner.pod_node("p") == 1 and copy.pod_node("p") is None  # copies are independent
    planner.release_job((), pod)
    assert planner.free_cpu(1) == 2000 and planner.free_memory(1) == 4096
    with pytest.raises(ValueError, match="holds no node"):
        planner.release_job((), pod)
    with pytest.raises(ValueError, match="needs 0 GPU"):
        planner.take_job((0,), pod)


def test_a_failed_node_takes_no_pod():
    cluster = cluster_2gpu_and_cpu_node()
    pod = Job("p", 0.0, 0, 5.0, cpu_milli=100)
    planner = planner_for(cluster, resources=True, jobs=[pod])
    planner.set_down(1, True)
    assert planner.place_job(pod) == () and planner.claim_job(pod) == () and planner.pod_node("p") == 0
    planner.set_down(0, True)
    assert planner.place_job(Job("q", 0.0, 0, 5.0, cpu_milli=100)) is None


def test_without_gpu_room_a_pod_still_starts_under_every_policy():
    """Both GPUs are held by a long job and a second GPU job waits: every registered policy still
    starts the CPU-only pod that arrives behind it (no policy starves it behind GPU jobs)."""
    jobs = [Job("long", 0.0, 2, 1000.0), Job("wait", 1.0, 2, 10.0), Job("pod", 2.0, 0, 5.0, cpu_milli=500)]
    for name in POLICIES:
        result = simulate(jobs, cluster_2gpu_and_cpu_node(), policies.make(name), resources=True)
        starts = {e.job_id: e.time for e in result.events if e.kind == "start"}
        if name not in ("fifo", "elastic"):
            assert starts["pod"] == 2.0, name
        else:  # strict arrival order: the pod waits behind "wait", with or without a GPU free
            assert starts["pod"] == starts["wait"] == 1000.0, name
            one_free = [replace(jobs[0], num_gpus=1), *jobs[1:]]
            result = simulate(one_free, cluster_2gpu_and_cpu_node(), policies.make(name), resources=True)
            starts = {e.job_id: e.time for e in result.events if e.kind == "start"}
            assert starts["pod"] == starts["wait"] == 1000.0, name
        assert check(result) == [], explain(check(result))


# --- property tests -----------------------------------------------------------------------------


@st.composite
def mixed_workloads(draw):
    nodes = [NodeSpec(draw(st.sampled_from([0, 1, 2, 4])), draw(st.sampled_from(["V100", "T4"])), None,
                      draw(st.sampled_from([None, 4000, 16000])), draw(st.sampled_from([None, 8192, 65536])))
             for _ in range(draw(st.integers(1, 5)))]
    if not any(n.num_gpus for n in nodes):
        nodes.append(NodeSpec(2, "V100", None, 8000, 32768))
    jobs = []
    for i in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["cpu", "cpu", "whole", "shared"]))
        num_gpus = {"cpu": 0, "whole": draw(st.sampled_from([1, 2, 4])), "shared": 1}[kind]
        jobs.append(Job(f"j{i}", float(draw(st.integers(0, 100))), num_gpus, float(draw(st.integers(1, 200))),
                        gpu_milli=draw(st.integers(1, 999)) if kind == "shared" else None,
                        cpu_milli=draw(st.sampled_from([None, 500, 2000, 8000])),
                        memory_mib=draw(st.sampled_from([None, 1024, 16384]))))
    return Cluster(tuple(nodes)), jobs


def cpu_use(cluster: Cluster, jobs: list[Job], result, planner_nodes) -> None:
    """No node's CPU or memory is ever over capacity, counting each CPU-only job on the node the
    engine's planner gave it (``planner_nodes``: job id → nodes in start order)."""
    node_of = [i for i, n in enumerate(cluster.nodes) for _ in range(n.num_gpus)]
    by_id = {j.job_id: j for j in jobs}
    held: dict[str, dict[int, tuple[int, int]]] = {}
    nth = {}
    last = None

    def ok(now):
        cpu = [0] * len(cluster.nodes)
        mem = [0] * len(cluster.nodes)
        for use in held.values():
            for n, (c, m) in use.items():
                cpu[n] += c
                mem[n] += m
        for n, node in enumerate(cluster.nodes):
            assert node.cpu_milli is None or cpu[n] <= node.cpu_milli, (now, n, cpu[n])
            assert node.memory_mib is None or mem[n] <= node.memory_mib, (now, n, mem[n])

    for e in result.events:
        if last is not None and e.time != last:
            ok(last)
        last = e.time
        job = by_id.get(e.job_id)
        if e.kind == "start":
            if job.num_gpus == 0:
                k = nth.get(e.job_id, 0)
                nth[e.job_id] = k + 1
                held[e.job_id] = {planner_nodes[e.job_id][k]: (job.cpu_milli or 0, job.memory_mib or 0)}
            else:
                per: dict[int, int] = {}
                for g in e.gpus:
                    per[node_of[g]] = per.get(node_of[g], 0) + 1
                held[e.job_id] = {n: (-(-(job.cpu_milli or 0) * k // job.num_gpus),
                                      -(-(job.memory_mib or 0) * k // job.num_gpus)) for n, k in per.items()}
        elif e.kind in ("finish", "preempt", "kill"):
            held.pop(e.job_id)
    ok(last)


class _Recording(ResourcePlanner):
    """The engine's planner, noting where each CPU-only job went (its copies are plain ResourcePlanners)."""

    def take_job(self, gpus, job):
        super().take_job(gpus, job)
        job = getattr(job, "job", job)
        if job.num_gpus == 0:
            self.pods_taken.setdefault(job.job_id, []).append(self.pod_node(job.job_id))


def simulate_recording(*args, **kwargs):
    """simulate, and where the engine's planner put each CPU-only job's runs (job id → nodes)."""
    import sim.engine

    made = []

    def planner_for(cluster, placement="consolidated", jobs=(), resources=True, sharing="best-fit"):
        planner = _Recording(cluster, placement, jobs, sharing)
        planner.pods_taken = {}
        made.append(planner)
        return planner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sim.engine, "planner_for", planner_for)
        result = simulate(*args, **kwargs)
    return result, made[-1].pods_taken  # the engine's, made after check_fits's


def pod_nodes_of(result) -> dict[str, list[int]]:
    """Where each CPU-only job's runs were, as the checker's replay finds them."""
    from sim.check import _Replay

    replay = _Replay(result, None)
    out: dict[str, list[int]] = {}
    original = replay._take_resources

    def take(t, s):
        original(t, s)
        if s.job.num_gpus == 0:
            out.setdefault(s.job.job_id, []).append(s.node)

    replay._take_resources = take
    assert replay.run() == []
    return out


JOB_AWARE = POLICIES  # every policy places by the job's own demands under the resource model


@settings(max_examples=80, deadline=None)
@given(mixed_workloads(), st.sampled_from(JOB_AWARE), st.sampled_from(STRATEGIES), st.sampled_from(SHARING))
def test_mixed_workloads_never_overbook_a_node_and_every_job_finishes(work, policy, placement, sharing):
    """Every job finishes, the checker passes, no node's CPU or memory is ever over capacity with
    each pod on the node the engine's planner gave it, the checker's replay finds the same nodes,
    and the same seed repeats the log."""
    cluster, jobs = work
    never = check_fits(jobs, cluster, placement, resources=True)
    runnable = [j for j in jobs if j not in never]
    if not runnable:
        return
    result, taken = simulate_recording(runnable, cluster, policies.make(policy), placement=placement,
                                       resources=True, sharing=sharing)
    assert check(result) == [], explain(check(result))
    assert sum(e.kind == "finish" for e in result.events) == len(runnable)
    cpu_use(cluster, runnable, result, taken)
    assert pod_nodes_of(result) == taken
    again = simulate(runnable, cluster, policies.make(policy), placement=placement, resources=True, sharing=sharing)
    assert result.events == again.events


@settings(max_examples=30, deadline=None)
@given(mixed_workloads(), st.sampled_from(["fifo", "srtf", "tiresias", "fifo-backfill"]), st.integers(0, 3))
def test_mixed_workloads_with_node_failures(work, policy, seed):
    cluster, jobs = work
    runnable = [j for j in jobs if j not in check_fits(jobs, cluster, resources=True)]
    if not runnable:
        return
    faults = Faults({"*": _lifetime("exponential:300")}, {"*": _lifetime("constant:40")}, checkpoint_interval=50.0)
    result = simulate(runnable, cluster, policies.make(policy), seed, resources=True, faults=faults)
    assert check(result) == [], explain(check(result))
    assert sum(e.kind == "finish" for e in result.events) == len(runnable)


def _lifetime(text):
    from sim.faults import Lifetime

    return Lifetime.parse(text)


# --- failures -----------------------------------------------------------------------------------


def test_a_pod_on_a_failed_node_is_killed_and_restarted_elsewhere():
    """The pod sits on node 0 (the CPU-only node 1 is too small for it); node 0 fails at 30 s: the
    pod is killed with it and restarts at once on node 2. The CPU-only node never fails."""
    cluster = Cluster((NodeSpec(1, "V100", cpu_milli=4000), NodeSpec(0, cpu_milli=1000), NodeSpec(1, "V100", cpu_milli=4000)))
    jobs = [Job("pod", 0.0, 0, 100.0, cpu_milli=3000)]
    faults = Faults(schedule=(Outage(0, 30.0, 60.0),))
    result = simulate(jobs, cluster, policies.make("fifo"), resources=True, faults=faults)
    assert list(result.events) == [
        Event(0.0, "submit", "pod"), Event(0.0, "start", "pod"),
        Event(30.0, "fail", "", (0,)), Event(30.0, "kill", "pod"), Event(30.0, "start", "pod"),
        Event(60.0, "repair", "", (0,)), Event(130.0, "finish", "pod"),
    ]
    assert result.summary()["jobs_hit"] == 1
    verify(result)
    with pytest.raises(GpusimError, match="node.s. 1 have no GPUs"):
        simulate(jobs, cluster, policies.make("fifo"), resources=True, faults=Faults(schedule=(Outage(1, 5.0, 9.0),)))


def test_the_checker_catches_a_pod_on_a_node_without_room():
    """Tampered logs: a third 2,000-CPU pod started while both nodes are full, and a pod killed
    though no node failed."""
    cluster = cluster_2gpu_and_cpu_node()
    jobs = [Job("p1", 0.0, 0, 50.0, cpu_milli=2000), Job("p2", 0.0, 0, 50.0, cpu_milli=4000),
            Job("p3", 0.0, 0, 10.0, cpu_milli=2000)]
    result = simulate(jobs, cluster, policies.make("fifo"), resources=True)
    assert check(result) == []
    assert [(e.time, e.kind, e.job_id) for e in result.events if e.kind != "submit"] == [
        (0.0, "start", "p1"), (0.0, "start", "p2"), (50.0, "finish", "p1"), (50.0, "finish", "p2"),
        (50.0, "start", "p3"), (60.0, "finish", "p3")]
    events = [e for e in result.events if e.kind == "submit"] + [
        Event(0.0, "start", "p1"), Event(0.0, "start", "p2"), Event(0.0, "start", "p3"),
        Event(10.0, "finish", "p3"), Event(50.0, "finish", "p1"), Event(50.0, "finish", "p2")]
    tampered = replace(result, events=events, end_time=50.0)
    found = check(tampered)
    assert len(found) == 1, explain(found)
    assert any(v.rule == "gpu" and v.job_id == "p3" and "no node that is up" in v.message for v in found), explain(found)
    killed = [e for e in result.events if e.kind == "submit"] + [
        Event(0.0, "start", "p1"), Event(20.0, "kill", "p1"), Event(20.0, "start", "p1")]
    found = check(replace(result, events=killed, jobs=result.jobs[:1], end_time=20.0))
    assert any(v.job_id == "p1" and "though its node did not fail" in v.message for v in found), explain(found)


# --- errors -------------------------------------------------------------------------------------


def test_cpu_only_jobs_need_the_resource_model():
    pods = [Job("p1", 0.0, 0, 5.0, cpu_milli=10), Job("p2", 0.0, 0, 5.0), Job("g", 0.0, 1, 5.0)]
    with pytest.raises(GpusimError, match=r"^2 CPU-only job\(s\) \(num_gpus 0\) need --resources, the resource model: p1, p2$"):
        simulate(pods, Cluster.parse("1x2"), policies.make("fifo"))
    # a node without GPUs is harmless without the resource model: it holds nothing
    plain = simulate(pods[2:], cluster_2gpu_and_cpu_node(), policies.make("fifo"))
    assert [e.gpus for e in plain.events if e.kind == "start"] == [(0,)]
    with pytest.raises(ValueError, match="non-negative"):
        Job("x", 0.0, -1, 5.0)
    with pytest.raises(ValueError, match="at least one GPU"):
        Cluster((NodeSpec(0, cpu_milli=10),))
    with pytest.raises(GpusimError, match="at least 1 GPU"):
        Cluster.parse("2x0")  # spec strings still name GPU nodes only: a cluster file names CPU-only ones


def test_a_pod_too_big_for_every_node_is_named():
    with pytest.raises(GpusimError, match=r"big \(CPU-only: 9000 CPU milli and 0 MiB memory fit on no node\)"):
        simulate([Job("big", 0.0, 0, 5.0, cpu_milli=9000)], cluster_2gpu_and_cpu_node(), policies.make("fifo"),
                 resources=True)


def test_a_start_naming_gpus_for_a_pod_is_refused():
    class Wrong:
        def schedule(self, view, rng):
            return [Start(j.job_id, (0,)) for j in view.pending]

    with pytest.raises(PolicyError, match="needs 0 GPUs, got 1|job needs 0 GPUs"):
        simulate([Job("p", 0.0, 0, 5.0)], cluster_2gpu_and_cpu_node(), Wrong(), resources=True)


def test_cli_cpu_only_trace_without_resources_is_one_line_and_with_them_runs(tmp_path):
    trace = tmp_path / "jobs.csv"
    trace.write_text("job_id,submit_time,num_gpus,duration,cpu_milli\np1,0,0,10,500\ng1,0,1,20,\n")
    cmd = [sys.executable, "-m", "sim.cli", "run", "--trace", str(trace), "--cluster", "1x2"]
    plain = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert plain.returncode == 0, plain.stderr
    assert "skipped 1 CPU-only job(s) (need --resources)" in plain.stdout + plain.stderr
    full = subprocess.run(cmd + ["--resources", "--check"], capture_output=True, text=True, cwd=ROOT)
    assert full.returncode == 0, full.stderr
    assert "skipped" not in full.stdout + full.stderr


def test_api_run_config_drops_and_counts_cpu_only_jobs_without_resources(tmp_path):
    from sim.experiment import RunConfig, load_jobs

    trace = tmp_path / "jobs.csv"
    trace.write_text("job_id,submit_time,num_gpus,duration\np1,0,0,10\np2,1,0,10\n")
    with pytest.raises(GpusimError, match="every job is CPU-only"):
        load_jobs(RunConfig(trace=str(trace), cluster="1x2"))
    config, jobs, notes = load_jobs(RunConfig(trace=str(trace), cluster="1x2", resources=True))
    assert [j.num_gpus for j in jobs] == [0, 0]


def test_simulate_refuses_an_autoscaler_with_cpu_only_jobs_or_nodes():
    """The autoscaler turns nodes on and off by their GPUs, so it would strand pods: refused by
    simulate itself, not only by gpusim run."""
    from sim.autoscale import from_settings

    scale = from_settings({"min_nodes": 1})
    pod = [Job("p", 0.0, 0, 5.0, cpu_milli=10), Job("g", 0.0, 1, 5.0)]
    with pytest.raises(GpusimError, match="autoscaler cannot run with CPU-only jobs or nodes"):
        simulate(pod, Cluster.parse("2x2"), policies.make("fifo"), resources=True, autoscale=scale)
    with pytest.raises(GpusimError, match="autoscaler cannot run with CPU-only jobs or nodes"):
        simulate(pod[1:], cluster_2gpu_and_cpu_node(), policies.make("fifo"), resources=True, autoscale=scale)


def test_without_the_resource_model_cpu_only_nodes_keep_their_place_in_the_numbering():
    """A failure schedule names nodes by their row in the cluster file: with or without
    --resources the same node fails (CPU-only nodes stay in the cluster, idle without it)."""
    cluster = Cluster((NodeSpec(0, "generic", None, 8000, 32768), NodeSpec(2, "V100"), NodeSpec(4, "V100")))
    jobs = [Job("a", 0.0, 4, 100.0), Job("b", 0.0, 2, 100.0)]
    faults = Faults(schedule=(Outage(1, 5.0, 50.0),))
    for resources in (False, True):
        result = simulate(jobs, cluster, policies.make("fifo"), resources=resources, faults=faults)
        assert [(e.job_id, e.gpus) for e in result.events if e.kind == "kill"] == [("b", (0, 1))], resources
        assert [e.gpus for e in result.events if e.kind == "fail"] == [(0, 1)]
