"""Calibrated running times in simulation: profile durations, GPU-type and node-spread speeds."""

import json
from pathlib import Path

import pytest

import traces

from calibrate.profile import Measurement, Profile, save
from calibrate.speed import Calibration, assign_models
from policies import make
from sim import cli
from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Cluster, Job, Start

GAVEL = Path(__file__).resolve().parents[1] / "calibrate" / "profiles" / "gavel.json"

# One model, two GPU types: on "FAST" a step of global batch B on n GPUs takes 0.1 + 0.01·B/n s,
# on "SLOW" 0.2 + 0.02·B/n s; an all-reduce costs 0.05 s inside a node and 0.5 s across nodes.
FIT = {"params": None,
       "per_type": {"FAST": {"a": 0.1, "b": 0.01}, "SLOW": {"a": 0.2, "b": 0.02}},
       "comm": {"intra_s": 0.05, "inter_s": 0.5}}


def profile(reference="FAST"):
    points = (Measurement("net", "FAST", 32, 1, 0.42), Measurement("net", "SLOW", 32, 1, 0.84),
              Measurement("big", "FAST", 64, 1, 1.0))
    fits = {"net": FIT, "big": {"params": None, "per_type": {"FAST": {"a": 0.2, "b": 0.05}}, "comm": {}}}
    return Profile("test", {"gpu_type": "mixed"}, points, fits=fits, reference_gpu_type=reference)


def expected_step(gpu_type, batch, n, consolidated):
    p = FIT["per_type"][gpu_type]
    comm = 0.0 if n == 1 else 2 * (n - 1) / n * FIT["comm"]["intra_s" if consolidated else "inter_s"]
    return p["a"] + p["b"] * batch / n + comm


def ends(result):
    return {e.job_id: e.time for e in result.events if e.kind == "finish"}


class Script:
    name = "script"

    def __init__(self, plan):
        self.plan = plan

    def schedule(self, view, rng):
        return list(self.plan.get(view.now, []))


def test_duration_is_iterations_times_the_reference_step():
    """A job given as model/batch/iterations lasts iterations × the reference step time."""
    cal = Calibration(profile(), Cluster.parse("1x4:FAST"))
    (job,) = cal.durations([Job("a", 0.0, 2, None, model="net", batch_size=32, iterations=100.0)])
    assert job.duration == pytest.approx(100 * expected_step("FAST", 32, 2, True))


def test_slower_gpu_type_runs_slower_by_the_step_time_ratio():
    """On SLOW GPUs the same job takes (SLOW step / FAST step) times longer than on FAST ones."""
    cluster = Cluster.parse("1x1:FAST,1x1:SLOW")
    cal = Calibration(profile(), cluster)
    jobs = cal.durations([Job(n, 0.0, 1, None, model="net", batch_size=32, iterations=50.0) for n in "ab"])
    result = simulate(jobs, cluster, Script({0.0: [Start("a", (0,)), Start("b", (1,))]}), speed=cal.speed)
    fast, slow = expected_step("FAST", 32, 1, True), expected_step("SLOW", 32, 1, True)
    assert ends(result)["a"] == pytest.approx(50 * fast)
    assert ends(result)["b"] == pytest.approx(50 * slow)


def test_a_job_split_across_nodes_pays_the_inter_node_all_reduce():
    """Two GPUs on two nodes are slower than two GPUs on one node, by the all-reduce difference."""
    cluster = Cluster.parse("2x2:FAST")
    cal = Calibration(profile(), cluster)
    jobs = cal.durations([Job(n, 0.0, 2, None, model="net", batch_size=32, iterations=10.0) for n in "ab"])
    # a runs on node 0 (GPUs 0, 1); when it ends, b runs on GPU 1 (node 0) and GPU 2 (node 1).
    a_end = 10 * expected_step("FAST", 32, 2, True)
    plan = {0.0: [Start("a", (0, 1))], a_end: [Start("b", (1, 2))]}
    result = simulate(jobs, cluster, Script(plan), speed=cal.speed)
    assert ends(result)["a"] == pytest.approx(10 * expected_step("FAST", 32, 2, True))
    b_time = ends(result)["b"] - 10 * expected_step("FAST", 32, 2, True)
    assert b_time == pytest.approx(10 * expected_step("FAST", 32, 2, False))
    assert b_time > 10 * expected_step("FAST", 32, 2, True)


def test_on_mixed_types_the_slowest_sets_the_pace():
    """A job on one FAST and one SLOW GPU (one node each) runs at the SLOW type's cross-node speed."""
    cluster = Cluster.parse("1x1:FAST,1x1:SLOW")
    cal = Calibration(profile(), cluster)
    jobs = cal.durations([Job("a", 0.0, 2, None, model="net", batch_size=32, iterations=10.0)])
    result = simulate(jobs, cluster, make("fifo"), placement="pool", speed=cal.speed)
    assert ends(result)["a"] == pytest.approx(10 * expected_step("SLOW", 32, 2, False))


def test_uncalibrated_jobs_and_unknown_types_keep_their_speed():
    """Jobs without a model run at rate 1; an unmeasured GPU type runs at the reference speed."""
    cluster = Cluster.parse("1x1:H200,1x1:FAST")
    cal = Calibration(profile(), cluster)
    assert cal.speed(Job("p", 0.0, 1, 7.0), (0,)) == 1.0
    job = Job("q", 0.0, 1, 7.0, model="net", batch_size=32)
    assert cal.speed(job, (0,)) == pytest.approx(1.0) and cal.speed(job, (1,)) == pytest.approx(1.0)


def test_unknown_model_is_an_error_naming_the_job():
    """A job whose model the profile lacks cannot get a duration from it."""
    cal = Calibration(profile(), Cluster.parse("1x1:FAST"))
    with pytest.raises(GpusimError, match="job z.*'bert'"):
        cal.durations([Job("z", 0.0, 1, None, model="bert", batch_size=8, iterations=3.0)])


def test_assign_models_keeps_durations_and_gives_heavier_models_to_longer_jobs():
    """Assigned models preserve each duration at the reference and follow GPU-time order."""
    cal = Calibration(profile(), Cluster.parse("1x4:FAST"))
    jobs = [Job(str(i), float(i), 1, float(d)) for i, d in enumerate([5, 500, 50, 5000])]
    out = assign_models(jobs, cal)
    assert [j.duration for j in out] == [j.duration for j in jobs]
    for j in out:
        step = cal.step_time(j.model, "FAST", j.batch_size, j.num_gpus, True)
        assert j.iterations * step == pytest.approx(j.duration)
    # "net" costs 0.42/32 s per sample, "big" 3.4/64: the two shortest jobs get net, the longest big.
    by_id = {j.job_id: j.model for j in out}
    assert by_id == {"0": "net", "2": "net", "1": "big", "3": "big"}
    assert assign_models(jobs, cal) == out


def test_reference_cluster_reproduces_the_uncalibrated_run():
    """On the reference GPU type, with jobs that fit one node, calibration changes no event."""
    jobs = [Job(str(i), float(i * 3), 1 + i % 2, 10.0 + i) for i in range(30)]
    cluster = Cluster.parse("2x4:FAST")
    cal = Calibration(profile(), cluster)
    plain = simulate(jobs, cluster, make("tiresias", {"thresholds": (20.0,)}), seed=2)
    calibrated = simulate(assign_models(jobs, cal), cluster, make("tiresias", {"thresholds": (20.0,)}), seed=2,
                          speed=cal.speed)
    for a, b in zip(plain.events, calibrated.events, strict=True):
        assert (a.kind, a.job_id, a.gpus) == (b.kind, b.job_id, b.gpus)
        assert a.time == pytest.approx(b.time, rel=1e-12, abs=1e-9)


def test_profile_without_fits_is_refused():
    """A profile that was never fitted cannot drive simulation."""
    raw = Profile("test", {}, (Measurement("net", "FAST", 32, 1, 0.4),))
    with pytest.raises(GpusimError, match="calibrate fit"):
        Calibration(raw, Cluster.parse("1x1"))


def test_cli_calibration_on_gavel_types(capsys, tmp_path):
    """With Gavel's profile the same replay finishes sooner on V100s than on K80s."""
    jct = {}
    for gpu in ("K80", "V100"):
        out = tmp_path / gpu
        rc = cli.main(["run", "--cluster", f"2x8:{gpu}", "--calibration", str(GAVEL), "--assign-models",
                       "--synthetic", "150", "--sizes", "1:0.8,2:0.2", "--placement", "pool", "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        jct[gpu] = json.loads((out / "summary.json").read_text())["avg_jct"]
        assert json.loads((out / "config.json").read_text())["calibration"] == str(GAVEL)
    assert jct["V100"] < jct["K80"]


def test_cli_calibration_errors(capsys, tmp_path):
    """--assign-models without a profile, and an unreadable profile, are one-line errors."""
    assert cli.main(["run", "--assign-models", "--calibration", "none"]) == 2
    bad = tmp_path / "p.json"
    bad.write_text("{}")
    assert cli.main(["run", "--calibration", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("gpusim: error:") for line in err)


def test_cli_calibration_with_jobs_given_as_iterations(capsys, tmp_path):
    """A canonical trace with model/batch_size/iterations and no duration runs with a profile, not without."""
    prof = tmp_path / "p.json"
    save(profile(), prof)
    trace = tmp_path / "t.csv"
    trace.write_text("job_id,submit_time,num_gpus,model,batch_size,iterations\na,0,1,net,32,100\nb,5,2,net,32,10\n")
    assert cli.main(["run", "--trace", str(trace), "--cluster", "1x4:FAST"]) == 2
    assert "calibration" in capsys.readouterr().err
    out = tmp_path / "o"
    assert cli.main(["run", "--trace", str(trace), "--cluster", "1x4:FAST", "--calibration", str(prof),
                     "--out", str(out)]) == 0
    rows = (out / "jobs.csv").read_text().splitlines()
    header = rows[0].split(",")
    durations = {r.split(",")[0]: float(r.split(",")[header.index("duration")]) for r in rows[1:]}
    assert durations["a"] == pytest.approx(100 * expected_step("FAST", 32, 1, True))
    assert durations["b"] == pytest.approx(10 * expected_step("FAST", 32, 2, True))


def test_demo_is_calibrated_by_default_and_none_turns_it_off():
    """The bundled sample runs with the bundled Gavel profile and models assigned; ``none`` is the
    uncalibrated replay, and a trace given by path is not calibrated unless asked."""
    from sim.experiment import RunConfig, load_jobs, run

    demo = RunConfig(placement="pool")
    assert demo.calibration == "gavel" and demo.assign_models
    _, jobs, notes = load_jobs(demo)
    assert all(j.model is not None and j.iterations > 0 for j in jobs)
    assert any("calibrated with gavel" in n for n in notes)
    plain = RunConfig(placement="pool", calibration="none")
    assert not plain.calibrated and not plain.assign_models
    assert all(j.model is None for j in load_jobs(plain)[1])
    assert RunConfig(trace=str(traces.SAMPLE)).calibration is None
    # Under pool placement jobs may span nodes and pay Gavel's measured cross-node cost: the
    # calibrated demo must differ from the plain replay (and never be faster in total work).
    cal, base = run(RunConfig(placement="pool", policy="fifo")), run(plain)
    work = lambda r: sum(row["end_time"] - row["start_time"] for row in r.job_table())  # noqa: E731
    assert work(cal) > work(base)


def test_cpu_only_jobs_get_no_model_and_run_at_rate_one():
    """assign_models leaves CPU-only jobs (num_gpus 0) out of its buckets, a CPU-only job never
    counts as calibrated (rate 1, no GPU step time), and one given only as model/batch/iterations
    is a one-line error asking for its duration."""
    from sim.model import Cluster, Job
    from calibrate.profile import load

    cal = Calibration(load("gavel"), Cluster.parse("1x4:V100"))
    jobs = [Job("g1", 0.0, 1, 100.0), Job("pod", 0.0, 0, 50.0, cpu_milli=500), Job("g2", 0.0, 2, 400.0)]
    out = assign_models(jobs, cal)
    assert out[1] == jobs[1]
    assert out[0].model is not None and out[2].model is not None
    assert not cal.calibrated(Job("p", 0.0, 0, 5.0, model=out[0].model, batch_size=32))
    assert cal.speed(out[1], ()) == 1.0
    with pytest.raises(GpusimError, match="CPU-only job .* give it a duration"):
        cal.durations([Job("p", 0.0, 0, None, model=out[0].model, batch_size=32, iterations=10.0)])


@pytest.mark.parametrize("cluster, named", [("8x8:A100", "A100"), ("4x8:V10O,4x8:V100", "V10O"),
                                            ("8x8:V100", None), ("8x8", None)])
def test_a_gpu_type_the_profile_never_measured_is_said(cluster, named):
    """A named GPU type no model of the profile was measured on runs at the reference type's speed
    (a typo or an A100 replayed as a P100): the run's notes name it; measured and untyped nodes
    give no such note."""
    from sim.experiment import RunConfig, load_jobs

    _, _, notes = load_jobs(RunConfig(placement="pool", cluster=cluster))
    said = [n for n in notes if "no measurements on GPU type" in n]
    if named is None:
        assert said == []
    else:
        assert len(said) == 1 and f"type(s) {named} " in said[0] and "K80, P100, V100" in said[0]
        assert "at P100's speed" in said[0]
