"""Declarative sweeps: spec expansion, per-run folders, results table, resume, failures, backends."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from sim import cli, experiment
from sim.errors import GpusimError
from sim.sweep import RESULT_COLUMNS, expand, load_spec, run_sweep

TINY = """
name = "tiny"
seeds = 2
synthetic = { jobs = 60, sizes = "1:0.7,2:0.3", durations = "exponential:600" }
clusters = ["2x4"]
loads = [0.5, 0.9]
policies = ["fifo", "srtf"]
"""


def spec(tmp_path, text=TINY, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def results(out):
    with (Path(out) / "results.csv").open() as f:
        return list(csv.DictReader(f))


def test_product_of_settings_times_seeds(tmp_path):
    """The sweep is the product of its lists times the seeds, each run with a distinct id."""
    text = TINY.replace('clusters = ["2x4"]', 'clusters = ["2x4", "1x8"]').replace("seeds = 2", "seeds = [3, 5, 7]")
    runs = expand(*load_spec(spec(tmp_path, text))[:1], spec(tmp_path, text))
    assert len(runs) == 2 * 2 * 2 * 3  # clusters × loads × policies × seeds
    assert len({r.run_id for r in runs}) == len(runs)
    assert sorted({r.labels["seed"] for r in runs}) == [3, 5, 7]
    assert {(r.config.cluster, r.config.synthetic.load) for r in runs} == {
        (c, lo) for c in ("2x4", "1x8") for lo in (0.5, 0.9)}


def test_explicit_combinations_replace_the_product(tmp_path):
    """With 'combinations', only the listed settings run (each over every seed)."""
    text = TINY + 'combinations = [{ policy = "fifo", load = 0.9 }, { policy = "srtf" }]\n'
    runs = expand(load_spec(spec(tmp_path, text))[0], spec(tmp_path, text))
    assert sorted((r.labels["policy"], r.labels["load"], r.labels["seed"]) for r in runs) == [
        ("fifo", 0.9, 0), ("fifo", 0.9, 1), ("srtf", 0.5, 0), ("srtf", 0.5, 1)]


@pytest.mark.parametrize("text, key", [
    (TINY + "colour = 1\n", "colour"),
    (TINY.replace("seeds = 2", "seeds = 0"), "seeds"),
    (TINY.replace('policies = ["fifo", "srtf"]', 'policies = [{ name = "fifo", argz = {} }]'), "policies[0].argz"),
    (TINY + 'combinations = [{ policy = "lifo" }]\n', "lifo"),
    (TINY + "trim = { first = -1 }\n", "trim"),
    (TINY + "trim = { start = \"x\" }\n", "trim"),
    (TINY.replace('clusters = ["2x4"]', 'clusters = ["2y4"]'), "2y4"),
    (TINY.replace('clusters = ["2x4"]', 'clusters = []'), "clusters"),
    ("name = \n", "not valid TOML"),
])
def test_bad_specs_name_the_key(tmp_path, text, key):
    """An unknown key, a bad value or bad TOML is one error naming the file and the key."""
    path = spec(tmp_path, text)
    with pytest.raises(GpusimError, match="exp.toml") as err:
        expand(load_spec(path)[0], path)
    assert key in str(err.value)


def test_each_run_matches_the_same_gpusim_run(tmp_path):
    """A sweep run's files are byte-identical to simulating its settings directly."""
    path = spec(tmp_path)
    out = tmp_path / "out"
    rows = run_sweep(path, out, workers=2, progress=False)
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    run = expand(load_spec(path)[0], path)[3]
    config, jobs, _ = experiment.load_jobs(run.config)
    direct = tmp_path / "direct"
    direct.mkdir()
    experiment.write_result(experiment.run(config, jobs), direct)
    for name in ("events.csv", "jobs.csv", "timeseries.csv"):
        assert (out / "runs" / run.run_id / name).read_bytes() == (direct / name).read_bytes()
    table = results(out)
    assert list(table[0]) == list(RESULT_COLUMNS) and len(table) == 8
    row = next(r for r in table if r["run_id"] == run.run_id)
    summary = json.loads((direct / "summary.json").read_text())
    assert float(row["avg_jct"]) == summary["avg_jct"]


def test_same_spec_same_results_whatever_the_worker_count(tmp_path):
    """One worker and two workers produce the same results table."""
    path = spec(tmp_path)
    run_sweep(path, tmp_path / "a", workers=1, progress=False)
    run_sweep(path, tmp_path / "b", workers=2, progress=False)
    assert (tmp_path / "a" / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()


def test_resume_runs_only_what_is_missing(tmp_path):
    """After losing runs (and a half-written one), --resume redoes exactly those; results match."""
    path = spec(tmp_path)
    out = tmp_path / "out"
    run_sweep(path, out, progress=False)
    before = (out / "results.csv").read_bytes()
    gone = sorted((out / "runs").iterdir())[:3]
    for folder in gone:
        shutil.rmtree(folder)
    (out / "runs" / ".half.tmp").mkdir()  # what a killed process leaves behind
    kept = {f.name: f.stat().st_mtime_ns for f in (out / "runs").iterdir() if not f.name.startswith(".")}
    rows = run_sweep(path, out, resume=True, progress=False)
    assert len(rows) == 8 and (out / "results.csv").read_bytes() == before
    for name, mtime in kept.items():
        assert (out / "runs" / name).stat().st_mtime_ns == mtime  # untouched
    assert all((out / "runs" / f.name).is_dir() for f in gone)


def test_resume_refuses_another_spec_and_non_empty_out_needs_a_flag(tmp_path):
    """A folder made from another spec cannot be resumed; a non-empty folder needs --resume or --force."""
    out = tmp_path / "out"
    run_sweep(spec(tmp_path), out, progress=False)
    with pytest.raises(GpusimError, match="not empty"):
        run_sweep(spec(tmp_path), out, progress=False)
    other = spec(tmp_path, TINY.replace("seeds = 2", "seeds = 1"), "other.toml")
    with pytest.raises(GpusimError, match="another spec"):
        run_sweep(other, out, resume=True, progress=False)
    assert len(run_sweep(other, out, force=True, progress=False)) == 4


def test_a_failed_run_is_recorded_and_does_not_stop_the_others(tmp_path, capsys):
    """A run whose policy rejects its parameters fails alone, with its error in the results."""
    text = TINY.replace('policies = ["fifo", "srtf"]',
                        'policies = ["fifo", { name = "tiresias", args = { thresholds = [-5] }, label = "bad" }]')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(spec(tmp_path, text)), "--out", str(out), "--quiet"]) == 1
    table = results(out)
    bad = [r for r in table if r["policy"] == "bad"]
    assert len(bad) == 4 and all(r["status"] == "failed" and "thresholds" in r["error"] for r in bad)
    assert all(r["status"] == "ok" and r["avg_jct"] for r in table if r["policy"] == "fifo")
    assert "failed" in capsys.readouterr().err


def test_manifest_records_how_results_were_made(tmp_path):
    """manifest.json has the spec, its hash, versions and every run's seed."""
    import hashlib

    path = spec(tmp_path)
    out = tmp_path / "out"
    run_sweep(path, out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["name"] == "tiny" and manifest["python"] and manifest["libraries"]["numpy"]
    assert sorted(r["seed"] for r in manifest["runs"]) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_trimming_leaves_warm_up_and_cool_down_jobs_out(tmp_path):
    """trim.first/last drop that many jobs (by submission) from the job statistics."""
    text = TINY + "trim = { first = 10, last = 5 }\n"
    out = tmp_path / "out"
    run_sweep(spec(tmp_path, text), out, progress=False)
    for row in results(out):
        assert int(row["jobs"]) == 60 - 15
        jobs = list(csv.DictReader((out / "runs" / row["run_id"] / "jobs.csv").open()))
        kept = sorted(jobs, key=lambda j: float(j["submit_time"]))[10:-5]
        mean = sum(float(j["jct"]) for j in kept) / len(kept)
        assert float(row["avg_jct"]) == pytest.approx(mean, rel=1e-12)


def test_breakdown_by_job_size_class(tmp_path):
    """breakdown.csv averages JCT per GPU-count class, matching the run's own jobs.csv."""
    out = tmp_path / "out"
    run_sweep(spec(tmp_path), out, progress=False)
    folder = next((out / "runs").iterdir())
    jobs = list(csv.DictReader((folder / "jobs.csv").open()))
    rows = {r["group"]: r for r in csv.DictReader((folder / "breakdown.csv").open()) if r["by"] == "gpus"}
    for group, n in (("1", 1), ("2-4", 2)):
        mine = [float(j["jct"]) for j in jobs if int(j["num_gpus"]) == n]
        assert int(rows[group]["jobs"]) == len(mine)
        assert float(rows[group]["avg_jct"]) == pytest.approx(sum(mine) / len(mine))


def test_trace_sweep_with_load_scaling(tmp_path):
    """A trace sweep replays the trace at each load; relative trace paths are from the spec's folder."""
    sample = Path(__file__).resolve().parents[1] / "traces" / "samples" / "philly_b436b2.csv"
    (tmp_path / "t.csv").write_text("".join(sample.open().readlines()[:301]))
    text = ('name = "t"\ntraces = [{ path = "t.csv", window_end = 2000000 }]\nclusters = ["2x8"]\n'
            'loads = [0.5, 1.0]\npolicies = ["fifo"]\nplacements = ["pool"]\ndrop_oversize = true\n')
    out = tmp_path / "out"
    rows = run_sweep(spec(tmp_path, text), out, progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    assert rows[0]["makespan"] > rows[1]["makespan"]  # lower load: arrivals spread further apart


def test_ray_backend_gives_the_local_results(tmp_path, ray_session):
    """The ray backend produces byte-identical results to the local one for the same spec."""
    path = spec(tmp_path)
    run_sweep(path, tmp_path / "local", workers=2, progress=False)
    run_sweep(path, tmp_path / "ray", workers=2, backend="ray", progress=False)
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / "ray" / "results.csv").read_bytes()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the tests that need it (2 CPUs, no dashboard)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("argv, word", [
    (["sweep", "nope.toml", "--out", "{tmp}/o"], "nope.toml"),
    (["sweep", "{spec}", "--out", "{tmp}/o", "--workers", "0"], "--workers"),
    (["sweep", "{spec}"], "--out"),
])
def test_sweep_cli_errors_are_one_line(capsys, tmp_path, argv, word):
    """Bad sweep invocations exit 2 with one error line naming the problem."""
    path = spec(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{spec}", str(path)) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpusim: error:") and word in err[0]


def test_trimming_by_submit_time_window(tmp_path):
    """trim.start/end keep only jobs submitted in [start, end) in the job statistics."""
    text = TINY + "trim = { start = 1000, end = 20000 }\n"
    out = tmp_path / "out"
    run_sweep(spec(tmp_path, text), out, progress=False)
    for row in results(out):
        jobs = list(csv.DictReader((out / "runs" / row["run_id"] / "jobs.csv").open()))
        kept = [j for j in jobs if 1000 <= float(j["submit_time"]) < 20000]
        assert int(row["jobs"]) == len(kept) < len(jobs)
        assert float(row["avg_jct"]) == pytest.approx(sum(float(j["jct"]) for j in kept) / len(kept), rel=1e-12)
