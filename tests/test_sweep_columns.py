"""results.csv of a sweep: fault, autoscale, share and straggler metrics as extra columns, only
when some run has them."""

from __future__ import annotations

import csv

from sim.metrics import FAULT_KEYS
from sim.sweep import RESULT_COLUMNS, result_columns, run_sweep, write_results

BASE = 'seeds = 1\nsynthetic = {jobs = 30, load = 0.9}\nclusters = ["2x4"]\npolicies = ["fifo", "sjf"]\n'


def header(path):
    with path.open() as f:
        return next(csv.reader(f))


def test_fault_metrics_become_columns(tmp_path):
    """A sweep with faults has the fault metrics in results.csv, equal to each run's summary."""
    (tmp_path / "outages.csv").write_text("node,fail_time,repair_time\n0,100,400\n")
    spec = tmp_path / "sweep.toml"
    spec.write_text(BASE + 'faults = {schedule = "outages.csv", checkpoint_interval = 60}\n'
                    + "trim = { first = 2 }\n")
    rows = run_sweep(spec, tmp_path / "out", progress=False)
    assert header(tmp_path / "out" / "results.csv") == [*RESULT_COLUMNS, *FAULT_KEYS]
    with (tmp_path / "out" / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    for row, got in zip(rows, table):
        assert row["failures"] == 1 and got["failures"] == "1"
        assert float(got["gpu_hours_lost"]) == row["gpu_hours_lost"]
        assert got["availability"] == repr(row["availability"])


def test_sweep_without_optional_metrics_keeps_its_columns(tmp_path):
    """No run with faults, autoscaling, shares or stragglers: exactly RESULT_COLUMNS, as before."""
    spec = tmp_path / "sweep.toml"
    spec.write_text(BASE)
    run_sweep(spec, tmp_path / "out", progress=False)
    assert header(tmp_path / "out" / "results.csv") == list(RESULT_COLUMNS)


def test_column_order_and_empty_cells(tmp_path):
    """Optional metrics come in a fixed order whatever order the runs give them, others after them
    in order of appearance; a run without one (or a failed run) has an empty cell."""
    base = {c: "" for c in RESULT_COLUMNS}
    rows = [{**base, "run_id": "r1", "straggler_gpu_hours": 0.5, "new_metric": 1},
            {**base, "run_id": "r2", "cost": 2.0, "failures": 3},
            {"run_id": "r3", "status": "failed", "error": "boom"}]
    columns = result_columns(rows)
    assert columns == (*RESULT_COLUMNS, "failures", "cost", "straggler_gpu_hours", "new_metric")
    write_results(tmp_path, rows)
    with (tmp_path / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [(t["failures"], t["cost"], t["straggler_gpu_hours"]) for t in table] == [
        ("", "", "0.5"), ("3", "2.0", ""), ("", "", "")]


def test_autoscale_resources_and_skew_are_spec_keys_and_their_metrics_columns(tmp_path):
    """A spec may turn on an autoscaler, the resource model and data skew for every run; the
    autoscale and straggler metrics then appear as columns, equal to each run's summary."""
    from sim.metrics import AUTOSCALE_KEYS

    spec = tmp_path / "sweep.toml"
    spec.write_text(BASE + 'autoscale = {min_nodes = 1, provisioning_delay = 60}\nresources = true\n'
                    'sharing = "frag"\nskew = 0.2\n')
    rows = run_sweep(spec, tmp_path / "out", progress=False)
    assert all(r["status"] == "ok" for r in rows), rows
    assert header(tmp_path / "out" / "results.csv") == [*RESULT_COLUMNS, *AUTOSCALE_KEYS, "straggler_gpu_hours"]
    assert all(r["straggler_gpu_hours"] > 0 and r["cost"] > 0 for r in rows)
