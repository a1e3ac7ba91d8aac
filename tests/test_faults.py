"""The fault model: distributions, schedules (drawn and from files), checkpoint arithmetic, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.errors import GpusimError
from sim.faults import Faults, Lifetime, Outage, from_settings, read_schedule


def test_lifetimes_parse_sample_and_refuse_bad_text():
    exp, wei = Lifetime.parse("exponential:100"), Lifetime.parse("weibull:0.7,1000")
    rng = np.random.default_rng(0)
    xs = [exp.sample(rng) for _ in range(20000)]
    assert np.mean(xs) == pytest.approx(100, rel=0.03)
    ys = [wei.sample(rng) for _ in range(20000)]
    assert np.mean(ys) == pytest.approx(wei.mean, rel=0.05) and wei.mean == pytest.approx(1000 * math.gamma(1 + 1 / 0.7))
    assert Lifetime.parse("constant:5").sample(rng) == 5.0
    for bad in ("normal:1,2", "exponential:", "weibull:1", "exponential:-3", "constant:x"):
        with pytest.raises(GpusimError):
            Lifetime.parse(bad)


def test_drawn_outages_are_per_node_streams_by_type():
    faults = Faults({"V100": Lifetime.parse("exponential:1000")}, {"*": Lifetime.parse("constant:50")})
    a = faults.outages(["V100", "K80", "V100"], seed=3)
    b = faults.outages(["V100", "K80", "V100"], seed=3)
    first = [next(a[0]) for _ in range(5)]
    assert first == [next(b[0]) for _ in range(5)]  # same seed, same outages
    assert list(a[1]) == []  # K80 has no failure distribution: never fails
    assert first != [next(a[2]) for _ in range(5)]  # each node its own stream
    for o, p in zip(first, first[1:]):
        assert o.repair_time == pytest.approx(o.fail_time + 50) and p.fail_time > o.repair_time
    # drawing node 0 further does not shift node 2 (independent streams)
    c, d = faults.outages(["V100", "K80", "V100"], 3), faults.outages(["V100", "K80", "V100"], 3)
    for _ in range(10):
        next(c[0])
    assert [next(c[2]) for _ in range(3)] == [next(d[2]) for _ in range(3)]


def test_schedules_check_nodes_and_overlaps(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("node,fail_time,repair_time\n1,100,200\n0,50,60\n1,300,400\n")
    schedule = read_schedule(path)
    its = Faults(schedule=schedule).outages(["a", "a"], 0)
    assert list(its[0]) == [Outage(0, 50.0, 60.0)]
    assert list(its[1]) == [Outage(1, 100.0, 200.0), Outage(1, 300.0, 400.0)]
    with pytest.raises(GpusimError, match="node 1 does not exist"):
        Faults(schedule=schedule).outages(["a"], 0)
    with pytest.raises(GpusimError, match="already down"):
        Faults(schedule=(Outage(0, 0, 10), Outage(0, 5, 20))).outages(["a"], 0)
    for text, line in (("node,fail_time\n", 1), ("node,fail_time,repair_time\n0,5,3\n", 2),
                       ("node,fail_time,repair_time\n0,1,2\nx,1,2\n", 3), ("node,fail_time,repair_time\n0,1\n", 2)):
        path.write_text(text)
        with pytest.raises(GpusimError, match=rf"f.csv:{line}:"):
            read_schedule(path)


def test_checkpoint_arithmetic():
    f = Faults(schedule=(), checkpoint_interval=100.0, checkpoint_cost=25.0)
    assert f.slowdown == pytest.approx(0.8)
    assert f.saved(0.0, 250.0) == 200.0 and f.saved(30.0, 250.0) == 230.0 and f.saved(30.0, 129.0) == 30.0
    assert Faults(schedule=()).saved(40.0, 500.0) == 40.0  # no checkpoints: back to where the run began
    assert Faults(schedule=()).slowdown == 1.0


def test_settings_tables_and_errors(tmp_path):
    f = from_settings({"mtbf": {"V100": "exponential:86400", "*": "weibull:0.8,50000"}, "repair": "constant:3600",
                       "checkpoint_interval": 1800, "restart_cost": 60})
    assert set(f.mtbf) == {"V100", "*"} and f.repair["*"].kind == "constant" and f.restart_cost == 60
    for settings, message in (({"mtbf": "exponential:10"}, "no time to repair"), ({}, "either distributions"),
                              ({"mtbf": "exponential:10", "repair": "constant:1", "bogus": 1}, "faults.bogus"),
                              ({"schedule": str(tmp_path / "none.csv")}, "cannot read"),
                              ({"mtbf": "exponential:10", "repair": "constant:1", "checkpoint_interval": 0}, "checkpoint_interval"),
                              ({"mtbf": "exponential:10", "repair": "constant:1", "checkpoint_cost": 5}, "needs a checkpoint_interval")):
        with pytest.raises(GpusimError, match=message):
            from_settings(settings)


# --- in the engine ------------------------------------------------------------------------------

from sim.engine import simulate  # noqa: E402
from sim.model import Cluster, Event, Job  # noqa: E402
import policies  # noqa: E402
from sim.check import check, verify  # noqa: E402


def fifo():
    return policies.make("fifo", {})


def test_a_hand_built_failure_and_repair():
    """Node 0 fails at 350 s under a 4-GPU job checkpointing every 100 s: it loses 50 s of work,
    waits for the repair at 400 s (node 1 is busy), pays 10 s to restart and finishes at 1,110 s."""
    jobs = [Job("a", 0.0, 4, 1000.0), Job("b", 0.0, 4, 500.0)]
    faults = Faults(schedule=(Outage(0, 350.0, 400.0),), checkpoint_interval=100.0, restart_cost=10.0)
    r = simulate(jobs, Cluster.parse("2x4"), fifo(), faults=faults)
    assert list(r.events) == [
        Event(0.0, "submit", "a"), Event(0.0, "submit", "b"),
        Event(0.0, "start", "a", (0, 1, 2, 3)), Event(0.0, "start", "b", (4, 5, 6, 7)),
        Event(350.0, "fail", "", (0, 1, 2, 3)), Event(350.0, "kill", "a", (0, 1, 2, 3)),
        Event(400.0, "repair", "", (0, 1, 2, 3)), Event(400.0, "start", "a", (0, 1, 2, 3)),
        Event(500.0, "finish", "b"), Event(1110.0, "finish", "a"),
    ]
    s = r.summary()
    assert (s["failures"], s["kills"], s["jobs_hit"]) == (1, 1, 1)
    assert s["gpu_hours_lost"] == pytest.approx((4 * 50 + 4 * 10) / 3600)
    assert s["goodput"] == pytest.approx(6000 / 6240)
    assert s["availability"] == pytest.approx((8 * 1110 - 4 * 50) / (8 * 1110))
    assert r.availability() == [(0.0, 8), (350.0, 4), (400.0, 8)]
    assert [row["preemptions"] for row in r.job_table()] == [0, 0]  # a kill is not a preemption
    verify(r)


def test_multi_node_jobs_die_with_any_node_and_without_checkpoints_start_over():
    jobs = [Job("big", 0.0, 8, 600.0)]
    faults = Faults(schedule=(Outage(1, 200.0, 250.0),))
    r = simulate(jobs, Cluster.parse("2x4"), fifo(), faults=faults)
    kinds = [(e.time, e.kind) for e in r.events]
    assert (200.0, "kill") in kinds and (250.0, "start") in kinds
    assert r.events[-1] == Event(850.0, "finish", "big")  # all 200 s lost: 250 + 600
    assert r.summary()["gpu_hours_lost"] == pytest.approx(8 * 200 / 3600)


def test_a_completion_at_the_failure_instant_counts_and_a_down_node_gets_no_job():
    jobs = [Job("a", 0.0, 4, 100.0), Job("b", 50.0, 4, 100.0), Job("c", 60.0, 4, 10.0)]
    faults = Faults(schedule=(Outage(0, 100.0, 300.0),))
    r = simulate(jobs, Cluster.parse("2x4"), fifo(), faults=faults)
    ev = list(r.events)
    assert Event(100.0, "finish", "a") in ev and not any(e.kind == "kill" for e in ev)
    # b runs on node 1 from 50; c must wait for it (node 0 is down from 100 to 300)
    starts = {e.job_id: (e.time, e.gpus) for e in ev if e.kind == "start"}
    assert starts["c"] == (150.0, (4, 5, 6, 7))


def test_no_outage_means_the_run_without_faults():
    from traces.synthetic import Workload

    jobs = Workload(jobs=80, load=0.9).generate(16, 2)
    plain = simulate(jobs, Cluster.parse("2x8"), policies.make("tiresias", {}), seed=2)
    faulty = simulate(jobs, Cluster.parse("2x8"), policies.make("tiresias", {}), seed=2,
                      faults=Faults(schedule=(), checkpoint_interval=50.0))
    assert list(faulty.events) == list(plain.events)
    assert faulty.summary()["goodput"] == pytest.approx(1.0)


@pytest.mark.parametrize("policy", ["fifo", "fifo-backfill", "srtf", "tiresias", "sjf"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_work_is_conserved_and_every_policy_sees_the_same_failures(policy, seed):
    """busy GPU-seconds (from the event log) = useful work (Σ GPUs × duration) + what the engine
    says was lost (killed work, restart and checkpoint time); the failures depend only on the seed."""
    from traces.synthetic import Workload

    jobs = Workload(jobs=60, load=0.9).generate(16, seed)
    cost = 5.0 if seed == 2 else 0.0
    faults = Faults({"*": Lifetime.parse("exponential:20000")}, {"*": Lifetime.parse("weibull:1.5,2000")},
                    checkpoint_interval=600.0, checkpoint_cost=cost, restart_cost=30.0)
    r = simulate(jobs, Cluster.parse("4x4"), policies.make(policy, {}), seed=seed, faults=faults,
                 restart_overhead=20.0)
    s = r.summary()
    assert s["unfinished"] == 0 and s["failures"] > 0
    from sim.metrics import busy_gpu_seconds

    verify(r)
    busy = busy_gpu_seconds(r.events)
    useful = sum(j.num_gpus * j.duration for j in jobs)
    lost = r.faults["lost_work_gpu_s"] + r.faults["overhead_gpu_s"]
    assert busy == pytest.approx(useful + lost, rel=1e-9)
    outages = [(e.time, e.kind, e.gpus) for e in r.events if e.kind in ("fail", "repair")]
    other = simulate(jobs, Cluster.parse("4x4"), policies.make("fifo", {}), seed=seed, faults=faults,
                     restart_overhead=20.0)
    theirs = [(e.time, e.kind, e.gpus) for e in other.events if e.kind in ("fail", "repair")]
    n = min(len(outages), len(theirs))  # runs end at different times; the common part is identical
    assert n > 0 and outages[:n] == theirs[:n]


def test_the_checker_catches_fault_mistakes():
    """A start on a failed node, a node's job left running, a kill with no failure, an unrepaired
    repair, and a killed job that resumed with more work than its checkpoint kept."""
    from dataclasses import replace

    jobs = [Job("a", 0.0, 4, 1000.0), Job("b", 0.0, 4, 500.0)]
    faults = Faults(schedule=(Outage(0, 350.0, 400.0),), checkpoint_interval=100.0, restart_cost=10.0)
    good = simulate(jobs, Cluster.parse("2x4"), fifo(), faults=faults)
    assert check(good) == []
    ev = list(good.events)

    def broken(events):
        return [v.message for v in check(replace(good, events=events))]

    early = [e if not (e.kind == "start" and e.time == 400.0) else e._replace(time=380.0) for e in ev]
    assert any("failed node" in m for m in broken(sorted(early, key=lambda e: e.time)))
    assert any("still holds GPU" in m for m in broken([e for e in ev if e.kind != "kill"]))
    assert any("none of its GPUs' nodes failed" in m for m in broken([e for e in ev if e.kind != "fail"]))
    assert any("were not down" in m for m in broken([e for e in ev if e.kind != "fail" and e.kind != "kill"]))
    # claim a checkpoint every 50 s: the kill at 350 s would keep all 350 s, so a finish at 1,110 s is late
    assert any("of work" in m for m in [v.message for v in check(replace(good, faults={**good.faults, "model":
                                        Faults(schedule=(), checkpoint_interval=50.0, restart_cost=10.0)}))])


def test_faults_from_the_command_line_a_config_file_and_a_sweep(tmp_path, capsys):
    from sim import cli
    from sim.sweep import run_sweep

    schedule = tmp_path / "outages.csv"
    schedule.write_text("node,fail_time,repair_time\n0,100,400\n")
    out = tmp_path / "run"
    assert cli.main(["run", "--synthetic", "40", "--cluster", "2x4", "--failures", str(schedule),
                     "--checkpoint-interval", "60", "--check", "--out", str(out)]) == 0
    assert "failures" in capsys.readouterr().out
    assert (out / "availability.csv").read_text().splitlines()[:3] == ["time,available_gpus", "0.0,8", "100.0,4"]
    config = tmp_path / "run.toml"
    config.write_text('cluster = "2x4"\n[synthetic]\njobs = 30\n[faults]\nschedule = "outages.csv"\nrestart_cost = 5\n')
    assert cli.main(["run", "--config", str(config)]) == 0
    config.write_text('cluster = "2x4"\n[synthetic]\njobs = 30\n[faults]\nmtbf = "exponential:1000"\n')
    assert cli.main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.toml" in err[-1] and "no time to repair" in err[-1]
    spec = tmp_path / "sweep.toml"
    spec.write_text('seeds = 2\nsynthetic = {jobs = 30, load = 0.9}\nclusters = ["2x4"]\npolicies = ["fifo", "sjf"]\n'
                    'faults = {schedule = "outages.csv", checkpoint_interval = 60}\n')
    rows = run_sweep(spec, tmp_path / "sweep", workers=1, progress=False)
    assert all(r["status"] == "ok" for r in rows) and len(rows) == 4


def test_a_run_whose_jobs_cannot_outlast_the_failures_says_so(tmp_path, capsys):
    """A job whose unbroken work is many times the nodes' mean time between failures would restart
    forever: the run's notes say so before it starts (so the user can stop it and give a checkpoint
    interval or --until); a short enough checkpoint interval, --until, a schedule or a node type
    that never fails give no such note. exp(1 node × 2000 s / 100 s) = e^20 > a million tries."""
    from sim.experiment import RunConfig, load_jobs
    from sim.faults import Faults, Lifetime

    trace = tmp_path / "jobs.csv"
    trace.write_text("job_id,submit_time,num_gpus,duration\nshort,0,1,50\nlong,0,2,2000\n", encoding="utf-8")
    faults = {"mtbf": "exponential:100", "repair": "constant:10"}

    def notes(**changes):
        config = RunConfig(trace=str(trace), cluster="2x4", faults={**faults, **changes.pop("faults", {})}, **changes)
        return [n for n in load_jobs(config)[2] if n.startswith("faults:")]

    (said,) = notes()
    assert "1 job(s)" in said and "job long: 2000 s of unbroken work on 1 node(s)" in said and "every 100 s" in said
    assert "about 10^9 tries" in said  # e^20 = 4.9e8
    assert notes(faults={"checkpoint_interval": 60}) == []  # 60 s stretches: e^0.6 tries
    assert notes(until=5000.0) == []
    (said,) = notes(faults={"restart_cost": 1000, "checkpoint_interval": 400})  # 1400 s: e^14
    assert "1400 s" in said
    # The most reliable node sets the bound; a node type that never fails ends the worry.
    lives = {"A": Lifetime.parse("exponential:100"), "B": Lifetime.parse("exponential:1e6")}
    model = Faults(mtbf=lives, repair={"*": Lifetime.parse("constant:1")})
    jobs = load_jobs(RunConfig(trace=str(trace), cluster="2x4"))[1]
    assert [j.job_id for j, *_ in model.hopeless(jobs, ["A", "A"], [4, 4])] == ["long"]
    assert model.hopeless(jobs, ["A", "B"], [4, 4]) == []
    assert model.hopeless(jobs, ["A", "generic"], [4, 4]) == []


def test_a_sweep_records_a_run_that_would_never_end_as_failed(tmp_path):
    """In a sweep a run that would need over 10^8 tries is failed with the reason instead of
    holding a worker for hours or for good (e^30 = 1e13 here); the same spec with until runs."""
    from sim.sweep import run_sweep

    trace = tmp_path / "jobs.csv"
    trace.write_text("job_id,submit_time,num_gpus,duration\nshort,0,1,50\nlong,0,2,3000\n", encoding="utf-8")
    spec = tmp_path / "sweep.toml"
    body = (f'traces = ["{trace}"]\nclusters = ["2x4"]\npolicies = ["fifo"]\n'
            'faults = {mtbf = "exponential:100", repair = "constant:10"}\n')
    spec.write_text(body, encoding="utf-8")
    (row,) = run_sweep(spec, tmp_path / "a", workers=1, progress=False)
    assert row["status"] == "failed" and "may never end" in row["error"] and "job long" in row["error"]
    spec.write_text(body + "until = 1e5\n", encoding="utf-8")
    (row,) = run_sweep(spec, tmp_path / "b", workers=1, progress=False)
    assert row["status"] == "ok"
