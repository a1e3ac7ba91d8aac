"""Heterogeneous and shared clusters (issue 10, part 2): the --resources/--sharing flags, the
invariant checker on shared GPUs, the heterogeneity-aware policy and the ``balance`` placement."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import policies
from sim.check import check, explain
from sim.cli import main
from sim.engine import simulate
from sim.model import Cluster, Job, NodeSpec

SHARED_TRACE = """job_id,submit_time,num_gpus,duration,gpu_milli
a,0,1,100,600
b,0,1,100,300
c,0,1,100,500
d,0,1,100,200
e,0,2,50,
"""


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def starts(events) -> dict[str, tuple[int, ...]]:
    return {e.job_id: tuple(e.gpus) for e in events if e.kind == "start"}


def shared_at_once(events) -> bool:
    """Whether two jobs ever held one GPU at the same time."""
    on: dict[str, tuple[int, ...]] = {}
    shared = False
    for e in events:
        if e.kind == "start":
            shared |= any(g in gpus for gpus in on.values() for g in e.gpus)
            on[e.job_id] = tuple(e.gpus)
        elif e.kind in ("finish", "preempt"):
            del on[e.job_id]
    return shared


@pytest.fixture
def shared_trace(tmp_path: Path) -> Path:
    path = tmp_path / "shared.csv"
    path.write_text(SHARED_TRACE, encoding="utf-8")
    return path


# --- part 1: --resources and --sharing -------------------------------------------------------------


@pytest.mark.parametrize("sharing, packed", [("best-fit", True), ("worst-fit", False)])
def test_sharing_flag_turns_the_resource_model_on_and_picks_the_rule(capsys, tmp_path, shared_trace, sharing, packed):
    """--sharing implies --resources (written to config.json) and its rule decides where shares go:
    best fit puts a and b (600 + 300) on one GPU, worst fit spreads them."""
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "run", "--trace", shared_trace, "--cluster", "1x4", "--sharing", sharing, "--out", out)
    assert rc == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["resources"] is True and config["sharing"] == sharing
    from sim.experiment import RunConfig, run

    result = run(RunConfig(trace=str(shared_trace), cluster="1x4", resources=True, sharing=sharing))
    placed = starts(result.events)
    assert (placed["a"] == placed["b"]) is packed


def test_resources_flag_without_sharing_uses_the_default_rule(capsys, tmp_path, shared_trace):
    """--resources alone: shared GPUs with best fit; without it every job takes a whole GPU."""
    for flags, resources in ((("--resources",), True), ((), False)):
        out = tmp_path / f"run{resources}"
        rc, _, err = cli(capsys, "run", "--trace", shared_trace, "--cluster", "1x4", *flags, "--out", out)
        assert rc == 0, err
        config = json.loads((out / "config.json").read_text())
        assert config["resources"] is resources and config["sharing"] == "best-fit"


def test_flags_override_the_config_file(capsys, tmp_path, shared_trace):
    """A config with resources = true and sharing = "frag": --sharing worst-fit wins, --no-resources
    turns the model off, and --sharing with --no-resources is a one-line error naming both."""
    config = tmp_path / "c.toml"
    config.write_text('resources = true\nsharing = "frag"\n', encoding="utf-8")
    out = tmp_path / "a"
    assert cli(capsys, "run", "--config", config, "--trace", shared_trace, "--cluster", "1x4", "--sharing",
               "worst-fit", "--out", out)[0] == 0
    assert json.loads((out / "config.json").read_text())["sharing"] == "worst-fit"
    out = tmp_path / "b"
    assert cli(capsys, "run", "--config", config, "--trace", shared_trace, "--cluster", "1x4", "--no-resources",
               "--out", out)[0] == 0
    assert json.loads((out / "config.json").read_text())["resources"] is False
    rc, _, err = cli(capsys, "run", "--trace", shared_trace, "--sharing", "frag", "--no-resources")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--sharing frag" in err and "--no-resources" in err


def test_unknown_sharing_rule_is_a_one_line_error(capsys):
    rc, _, err = cli(capsys, "run", "--sharing", "tightest")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--sharing" in err and "tightest" in err


def test_compare_takes_the_flags(capsys, shared_trace):
    """compare runs every policy under the resource model; with sharing, the four shared jobs fit on
    two GPUs and the 2-GPU job starts at once on a 1x4 node (it waits without the model)."""
    rc, out, err = cli(capsys, "compare", "--policies", "fifo,sjf", "--trace", shared_trace, "--cluster", "1x4",
                       "--sharing", "best-fit", "--check")
    assert rc == 0, err
    assert "check passed" in err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split() and line.split()[0] in ("fifo", "sjf")}
    assert set(rows) == {"fifo", "sjf"}


# --- part 2: the checker knows shared GPUs ---------------------------------------------------------


def shared_run(sharing="best-fit"):
    jobs = [Job("a", 0, 1, 100.0, gpu_milli=600), Job("b", 0, 1, 100.0, gpu_milli=300),
            Job("c", 0, 1, 100.0, gpu_milli=500), Job("d", 0, 1, 80.0, gpu_milli=100),
            Job("g", 1, 1, 60.0, gpu_milli=400),
            Job("e", 5, 2, 50.0), Job("f", 10, 1, 30.0, gpu_milli=700)]
    return simulate(jobs, Cluster((NodeSpec(4, "T4"),)), policies.make("fifo"), resources=True, sharing=sharing)


@pytest.mark.parametrize("sharing", ["best-fit", "worst-fit", "frag"])
def test_a_sharing_run_passes_the_check(sharing):
    """A run where shares sit on one GPU together is sound; the result records the resource model."""
    result = shared_run(sharing)
    assert result.resources is True
    assert shared_at_once(result.events), "the test needs two jobs sharing a GPU"
    assert check(result) == [], explain(check(result))


def test_the_same_log_without_the_resource_model_is_double_booked():
    """Shares are legal only under the resource model: the same log read as a plain run is flagged."""
    result = dataclasses.replace(shared_run(), resources=False)
    found = check(result)
    assert any(v.rule == "gpu" and "double-booked" in v.message for v in found), explain(found)


def test_an_over_shared_gpu_is_flagged():
    """Moving a share onto a GPU whose shares then exceed 1000 thousandths is caught (rule gpu)."""
    result = shared_run()
    events = list(result.events)
    placed = starts(events)
    # c (500) moved onto a's GPU, which already holds a (600) and b (300) under best fit
    assert placed["a"] == placed["b"] != placed["c"]
    i = next(i for i, e in enumerate(events) if e.kind == "start" and e.job_id == "c")
    events[i] = events[i]._replace(gpus=placed["a"])
    found = check(dataclasses.replace(result, events=events))
    assert any(v.rule == "gpu" and v.job_id == "c" and "over-shared" in v.message and "1400" in v.message
               for v in found), explain(found)


def test_a_whole_gpu_job_on_a_shared_gpu_is_flagged():
    """A whole-GPU job started on a GPU that holds shares is double-booked."""
    result = shared_run()
    events = list(result.events)
    placed = starts(events)
    i = next(i for i, e in enumerate(events) if e.kind == "start" and e.job_id == "e")
    events[i] = events[i]._replace(gpus=(placed["a"][0], placed["e"][1]))
    found = check(dataclasses.replace(result, events=events))
    assert any(v.rule == "gpu" and v.job_id == "e" and "double-booked" in v.message for v in found), explain(found)


# --- part 3: the heterogeneity-aware policy --------------------------------------------------------

MIXED = "2x4:K80,2x4:V100"


def hetero_config(policy, seed=0, **args):
    from sim.experiment import RunConfig, synthetic_workload

    return RunConfig(synthetic=synthetic_workload(300, load=0.9), cluster=MIXED, calibration="gavel",
                     assign_models=True, policy=policy, policy_args=args, seed=seed)


@pytest.mark.parametrize("order", ["fifo", "speedup"])
def test_max_throughput_beats_fifo_on_a_mixed_cluster(order):
    """On K80 and V100 nodes with Gavel-profiled models, placing each job on its fastest type cuts
    the average JCT below fifo's (which best-fits onto the K80 nodes first) on every seed, and the
    calibrated runs keep every invariant."""
    from calibrate.profile import load
    from calibrate.speed import Calibration
    from sim.experiment import run

    speed = Calibration(load("gavel"), Cluster.parse(MIXED)).speed
    for seed in range(3):
        fifo = run(hetero_config("fifo", seed))
        hetero = run(hetero_config("gavel-max-throughput", seed, order=order))
        assert hetero.summary()["unfinished"] == 0
        assert hetero.summary()["avg_jct"] < fifo.summary()["avg_jct"], seed
        assert check(hetero, speed) == []


def test_jobs_land_on_their_fastest_type_when_it_is_free():
    """Jobs that arrive one at a time on an empty cluster start on the GPUs where the run's own
    speed model (calibrate.speed) is fastest, never across types."""
    from calibrate.profile import load
    from calibrate.speed import Calibration
    from sim.experiment import run

    cluster = Cluster.parse("1x4:K80,1x4:P100,1x4:V100")
    cal = Calibration(load("gavel"), cluster)
    models = sorted(cal.fits)
    jobs = [Job(f"j{i}", 1000.0 * i, 1 + (i % 2) * 3, None, model=m, batch_size=min(cal.batches[m]),
                iterations=50.0) for i, m in enumerate(models * 2)]
    jobs = list(cal.durations(jobs))
    result = simulate(jobs, cluster, policies.make("gavel-max-throughput"), speed=cal.speed)
    placed = starts(result.events)
    assert len(placed) == len(jobs)
    types = [n.gpu_type for n in cluster.nodes]
    for job in jobs:
        gpus = placed[job.job_id]
        assert len({types[g // 4] for g in gpus}) == 1, (job.job_id, gpus)
        best = max(cal.speed(job, tuple(range(4 * k, 4 * k + job.num_gpus))) for k in range(3))
        assert cal.speed(job, gpus) == pytest.approx(best), (job.model, gpus)


def test_speedup_order_gives_the_fast_gpu_to_the_job_that_gains_most():
    """One V100 and one K80 free, two jobs at once: in fifo order the first job takes the V100; in
    speedup order the job with the larger V100/K80 speedup does, whatever its arrival."""
    from calibrate.profile import load
    from calibrate.speed import Calibration

    cluster = Cluster.parse("1x1:K80,1x1:V100")
    cal = Calibration(load("gavel"), cluster)
    probe = {m: Job("x", 0, 1, 1.0, model=m, batch_size=min(cal.batches[m])) for m in cal.fits}
    gain = {m: cal.speed(job, (1,)) / cal.speed(job, (0,)) for m, job in probe.items()}
    faster = [m for m in gain if gain[m] > 1]  # models the V100 runs faster (not all: Recommendation)
    low, high = min(faster, key=gain.get), max(faster, key=gain.get)
    assert gain[high] > gain[low]
    jobs = list(cal.durations([Job(name, 0, 1, None, model=m, batch_size=min(cal.batches[m]), iterations=20.0)
                               for name, m in (("first", low), ("second", high))]))
    fifo = starts(simulate(jobs, cluster, policies.make("gavel-max-throughput"), speed=cal.speed).events)
    ranked = starts(simulate(jobs, cluster, policies.make("gavel-max-throughput", {"order": "speedup"}),
                             speed=cal.speed).events)
    assert fifo["first"] == (1,) and fifo["second"] == (0,)
    assert ranked["second"] == (1,) and ranked["first"] == (0,)


def test_max_throughput_bad_parameters_are_one_line_errors():
    from sim.errors import GpusimError

    with pytest.raises(GpusimError, match="parameter 'order'.*'fastest'"):
        policies.make("gavel-max-throughput", {"order": "fastest"})
    with pytest.raises(GpusimError, match="no-such-profile"):
        policies.make("gavel-max-throughput", {"profile": "no-such-profile"})


# --- part 4: the balance placement -----------------------------------------------------------------


def balanced(caps, busy=()):
    from sim.placement import Planner

    p = Planner(caps, "balance")
    p.take(sorted(busy))
    return p


def test_balance_picks_the_least_loaded_node_by_fraction_not_by_free_count():
    """On an 8-GPU node with 2 busy (load 1/4) and an idle 2-GPU node, a 1-GPU job goes to the idle
    small node (spread would pick the 8-GPU node, which has more free GPUs); the next to the big one."""
    p = balanced([8, 2], busy=(0, 1))
    assert p.claim(1) == (8,)  # node 1 now at 1/2, node 0 at 1/4
    assert p.claim(1) == (2,)


def test_balance_ties_go_to_the_lowest_index():
    p = balanced([4, 4, 4])
    assert p.claim(1) == (0,)
    assert p.claim(1) == (4,)
    assert p.claim(1) == (8,)
    assert p.claim(1) == (1,)


def test_balance_puts_a_job_on_the_least_loaded_node_that_holds_it():
    """A job that fits on one node stays on one: the least loaded that holds it, even if a less
    loaded node lacks room."""
    p = balanced([4, 8], busy=(0, 4, 5, 6, 7))  # node 0: load 1/4, 3 free; node 1: load 1/2, 4 free
    assert p.place(2) == (1, 2)
    assert p.place(4) == (8, 9, 10, 11)


def test_balance_spans_the_least_loaded_nodes_first():
    """A job no node holds takes the least-loaded nodes first: idle node 1 (2 GPUs), node 2 at 1/4
    (3 GPUs), then node 0 at 1/2 for the rest; spread would start on node 0 (most free)."""
    busy = (0, 1, 2, 3, 10)
    assert balanced([8, 2, 4], busy).place(7) == (4, 5, 8, 9, 11, 12, 13)
    from sim.placement import Planner

    spread = Planner([8, 2, 4], "spread")
    spread.take(busy)
    assert spread.place(7) != (4, 5, 8, 9, 11, 12, 13)
    assert balanced([8, 2, 4], busy).place(10) is None


def test_balance_under_the_resource_model_balances_the_eligible_nodes():
    """With a GPU-type constraint, balance chooses among the nodes of that type by load fraction."""
    from sim.resources import ResourcePlanner

    cluster = Cluster((NodeSpec(8, "T4"), NodeSpec(2, "V100"), NodeSpec(4, "V100")))
    p = ResourcePlanner(cluster, "balance")
    p.take((10,))  # node 2 at 1/4; node 1 idle
    job = Job("j", 0, 1, 1.0, gpu_type="V100")
    assert p.claim_job(job) == (8,)
    assert p.claim_job(job) == (11,)  # node 1 now at 1/2
    assert p.place_job(Job("k", 0, 1, 1.0)) == (0,)  # unconstrained: the idle T4 node


def test_balance_on_the_command_line(capsys):
    rc, out, err = cli(capsys, "run", "--synthetic", "100", "--cluster", "2x4,1x8", "--placement", "balance", "--check")
    assert rc == 0, err
    assert "placement balance" in out
