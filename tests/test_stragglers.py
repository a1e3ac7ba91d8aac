"""Stragglers: data skew slows multi-GPU jobs; mixed GPU types go at the slowest worker's pace."""

from __future__ import annotations

import pytest

from sim import cli
from sim.experiment import RunConfig, run
from sim.model import Job


def test_skew_slows_multi_gpu_jobs_only_and_the_loss_is_reported():
    jobs = [Job("a", 0.0, 4, 100.0), Job("b", 0.0, 1, 100.0)]
    r = run(RunConfig(trace="unused.csv", cluster="1x8", skew=0.25), jobs)
    ends = {e.job_id: e.time for e in r.events if e.kind == "finish"}
    assert ends == {"a": pytest.approx(125.0), "b": pytest.approx(100.0)}
    # 4 GPUs × 125 s × (1 − 1/1.25) = 100 GPU-seconds waited on the largest shard
    assert r.summary()["straggler_gpu_hours"] == pytest.approx(100 / 3600)
    plain = run(RunConfig(trace="unused.csv", cluster="1x8"), jobs)
    assert "straggler_gpu_hours" not in plain.summary()


def test_a_job_across_gpu_types_goes_at_its_slowest_workers_pace():
    from calibrate.profile import load
    from calibrate.speed import Calibration
    from sim.model import Cluster

    config = RunConfig(trace="unused.csv", cluster="1x1:K80,1x1:V100", calibration="gavel", placement="pool")
    cal = Calibration(load("gavel"), Cluster.parse(config.cluster))
    model = sorted(cal.fits)[0]
    job = Job("x", 0.0, 2, 1000.0, model=model, batch_size=cal.batches[model][0] if model in cal.batches else 32)
    r = run(config, [job])
    start, end = [e.time for e in r.events if e.kind in ("start", "finish")]
    slow, fast = cal.speed(job, (0, 1)), cal.fastest_speed(job, (0, 1))
    assert slow < fast  # K80 is the straggler
    assert end - start == pytest.approx(1000.0 / slow)
    assert r.summary()["straggler_gpu_hours"] == pytest.approx(2 * (end - start) * (1 - slow / fast) / 3600)


def test_skew_from_the_command_line_passes_the_checker(capsys):
    assert cli.main(["run", "--synthetic", "60", "--cluster", "2x8", "--skew", "0.3", "--check"]) == 0
    out = capsys.readouterr()
    assert "straggler_gpu_hours" in out.out and "check passed" in out.err
    assert cli.main(["run", "--synthetic", "10", "--skew", "-1"]) == 2
    assert "skew" in capsys.readouterr().err
