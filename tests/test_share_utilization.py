"""Share-weighted utilization (sim.metrics.share_summary, the busy_gpu_share time series) on a
hand-built shared-GPU run, and unchanged figures for runs without shares."""

from __future__ import annotations

import csv
import json

import pytest

import policies
from sim.engine import simulate
from sim.experiment import write_result
from sim.metrics import SHARE_COLUMN, TIMESERIES_COLUMNS, share_gpu_seconds, shares
from sim.model import Cluster, Job, NodeSpec

# Two T4s. a (600/1000 of a GPU, 10 s) and b (300/1000, 20 s) share GPU 0 from t=0; c takes
# GPU 1 whole from t=5 to 15. Makespan 20 s on 2 GPUs = 40 GPU-seconds.
CLUSTER = Cluster((NodeSpec(2, "T4"),))
JOBS = [Job("a", 0, 1, 10.0, gpu_milli=600), Job("b", 0, 1, 20.0, gpu_milli=300), Job("c", 5, 1, 10.0)]


def test_share_weighted_utilization_by_hand():
    """Share-weighted: 0.6·10 + 0.3·20 + 1·10 = 22 GPU-s of 40, so 0.55; the whole-GPU count
    (10 + 20 + 10 = 40 GPU-s) stays utilization 1.0."""
    result = simulate(JOBS, CLUSTER, policies.make("fifo"), resources=True)
    assert [(e.job_id, e.gpus) for e in result.events if e.kind == "start"] == [("a", (0,)), ("b", (0,)), ("c", (1,))]
    summary = result.summary()
    assert summary["utilization"] == 1.0
    assert summary["gpu_share_utilization"] == pytest.approx(22 / 40, abs=1e-15)
    assert share_gpu_seconds(result.events, shares(JOBS)) == pytest.approx(22.0, abs=1e-12)
    assert result.timeseries() == [(0.0, 2, 0, 0.9), (5.0, 3, 0, 1.9), (10.0, 2, 0, 1.3), (15.0, 1, 0, 0.3),
                                   (20.0, 0, 0, 0.0)]


def test_timeseries_file_has_the_share_column_only_with_shares(tmp_path):
    """timeseries.csv gains busy_gpu_share under the resource model with shares, and nothing else changes."""
    result = simulate(JOBS, CLUSTER, policies.make("fifo"), resources=True)
    write_result(result, tmp_path)
    with (tmp_path / "timeseries.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == [*TIMESERIES_COLUMNS, SHARE_COLUMN] and rows[2] == ["5.0", "3", "0", "1.9"]
    assert json.loads((tmp_path / "summary.json").read_text())["gpu_share_utilization"] == pytest.approx(0.55)


@pytest.mark.parametrize("resources, jobs", [(False, JOBS), (True, [Job("a", 0, 1, 10.0), Job("b", 0, 2, 5.0)])])
def test_runs_without_shares_keep_their_figures(tmp_path, resources, jobs):
    """Without the resource model (shares are not honoured), or with it but no job asking for a
    share, the summary and the time series have exactly the old keys and columns."""
    result = simulate(jobs, CLUSTER, policies.make("fifo"), resources=resources)
    assert "gpu_share_utilization" not in result.summary()
    assert all(len(row) == 3 for row in result.timeseries())
    write_result(result, tmp_path)
    assert (tmp_path / "timeseries.csv").read_text().splitlines()[0] == ",".join(TIMESERIES_COLUMNS)


def test_multi_gpu_jobs_with_a_share_count_whole_gpus():
    """gpu_milli on a multi-GPU job is not a share (sim.fragmentation.job_share): it counts whole."""
    assert shares([Job("m", 0, 2, 1.0, gpu_milli=500), Job("s", 0, 1, 1.0, gpu_milli=250),
                   Job("w", 0, 1, 1.0, gpu_milli=1000)]) == {"s": 250}
