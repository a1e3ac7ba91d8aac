"""Tests of sim.stats: confidence intervals and paired comparisons worked out by hand, reading a
sweep's results.csv, the renderers, and the ``gpusim summarize`` command's one-line errors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from scipy import stats as sps

from sim import stats
from sim.errors import GpusimError
from sim.metrics import SUMMARY_KEYS
from sim.stats import RUN_COLUMNS, mean_ci, read_results, summarize

# Student-t quantiles t(0.975, df) from a printed table.
T975 = {1: 12.706, 2: 4.303, 4: 2.776}


def run(run_id, policy, seed, status="ok", error="", load="0.5", trace="t.csv", **metrics) -> dict:
    """One results.csv row as text cells; metrics not given are empty."""
    return {"run_id": run_id, "status": status, "error": error, "policy": policy, "trace": trace, "cluster": "8x8",
            "placement": "consolidated", "load": load, "seed": str(seed), "calibration": "",
            **{k: "" for k in SUMMARY_KEYS},
            **{k: str(v) if k in ("jobs", "unfinished", "preemptions") else repr(float(v)) for k, v in metrics.items()}}


def write_sweep(folder: Path, rows: list[dict]) -> Path:
    """A fake sweep folder holding only results.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*RUN_COLUMNS, *SUMMARY_KEYS], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return folder


def typed(rows: list[dict], tmp_path: Path) -> list[dict]:
    return read_results(write_sweep(tmp_path / "sweep", rows))


def record(table, policy, metric="avg_jct", load=0.5) -> dict:
    (r,) = [r for r in table if r["policy"] == policy and r["metric"] == metric and r["load"] == load]
    return r


# --- mean_ci ------------------------------------------------------------------------------


def test_mean_ci_two_values_by_hand():
    """n=2: mean 2, s = sqrt(2), half-width = t(0.975, 1) * s / sqrt(2) = t(0.975, 1)."""
    mean, half, n = mean_ci([1.0, 3.0])
    assert (mean, n) == (2.0, 2)
    assert half == pytest.approx(T975[1], abs=1e-3)
    assert half == pytest.approx(sps.t.ppf(0.975, 1), rel=1e-12)


def test_mean_ci_five_values_by_hand():
    """n=5 of 10,12,9,11,13: mean 11, sum of squares 10, s^2 = 2.5, half = t(0.975, 4) * sqrt(2.5 / 5)."""
    mean, half, n = mean_ci([10, 12, 9, 11, 13])
    assert (mean, n) == (11.0, 5)
    assert half == pytest.approx(T975[4] * math.sqrt(0.5), abs=1e-3)
    lo, hi = sps.t.interval(0.95, 4, loc=11.0, scale=sps.sem([10, 12, 9, 11, 13]))
    assert (mean - half, mean + half) == pytest.approx((lo, hi), rel=1e-12)


def test_mean_ci_other_confidence_and_known_data():
    """A 90% interval on known data matches scipy's t.interval; it is narrower than the 95% one."""
    data = [4.2, 5.1, 3.9, 6.3, 5.5, 4.8, 5.0]
    mean, half, n = mean_ci(data, confidence=0.9)
    lo, hi = sps.t.interval(0.9, len(data) - 1, loc=sum(data) / len(data), scale=sps.sem(data))
    assert n == 7 and mean == pytest.approx(sum(data) / 7)
    assert (mean - half, mean + half) == pytest.approx((lo, hi), rel=1e-12)
    assert half < mean_ci(data)[1]


def test_mean_ci_small_samples():
    """One value has no interval (NaN half-width); none has no mean; equal values a zero half-width."""
    assert mean_ci([7.0])[0] == 7.0 and math.isnan(mean_ci([7.0])[1])
    mean, half, n = mean_ci([])
    assert n == 0 and math.isnan(mean) and math.isnan(half)
    assert mean_ci([3.0, 3.0, 3.0]) == (3.0, 0.0, 3)


def test_mean_ci_rejects_bad_confidence():
    """A confidence outside (0, 1) is a GpusimError."""
    with pytest.raises(GpusimError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=95)


# --- group and summarize ---------------------------------------------------------------------


def test_group_keeps_replications_together_in_order(tmp_path):
    """Runs differing only in seed share a group; groups come in order of first appearance."""
    rows = typed([run("a", "sjf", 0, avg_jct=1), run("b", "fifo", 0, avg_jct=2), run("c", "sjf", 1, avg_jct=3),
                  run("d", "sjf", 0, load="0.9", avg_jct=4)], tmp_path)
    groups = stats.group(rows)
    assert [[r["run_id"] for r in g] for g in groups.values()] == [["a", "c"], ["b"], ["d"]]
    assert list(groups)[0] == ("sjf", "t.csv", "8x8", "consolidated", 0.5, None)
    assert list(stats.group(rows, ("policy",))) == [("sjf",), ("fifo",)]


def test_summarize_means_and_failed_runs(tmp_path):
    """Failed runs are left out of the mean and counted; ok runs without a value count as missing."""
    rows = typed([run("a", "fifo", 0, avg_jct=10), run("b", "fifo", 1, avg_jct=14),
                  run("c", "fifo", 2, status="failed", error="boom"), run("d", "fifo", 3),
                  run("e", "fifo", 4, avg_jct=float("nan"))], tmp_path)
    (r,) = summarize(rows, ["avg_jct"])
    assert (r["n"], r["failed"], r["missing"]) == (2, 1, 2)
    assert r["mean"] == 12.0
    assert r["ci"] == pytest.approx(T975[1] * math.sqrt(8) / math.sqrt(2), abs=1e-2)  # s^2 = (4 + 4) / 1
    assert stats.failures(rows)[0]["error"] == "boom"


def test_paired_comparison_by_hand(tmp_path):
    """Baseline 10,20,30 and policy 12,21,33 on seeds 0..2: differences 2,1,3, mean 2, s = 1,
    half-width t(0.975, 2) / sqrt(3), relative difference 2 / 20 = +10%."""
    rows = typed([run(f"b{s}", "fifo", s, avg_jct=v) for s, v in enumerate((10, 20, 30))]
                 + [run(f"p{s}", "sjf", s, avg_jct=v) for s, v in enumerate((12, 21, 33))], tmp_path)
    table = summarize(rows, ["avg_jct"], baseline="fifo")
    r = record(table, "sjf")
    assert (r["pairs"], r["unpaired"]) == (3, 0)
    assert r["diff"] == pytest.approx(2.0)
    assert r["diff_ci"] == pytest.approx(T975[2] / math.sqrt(3), abs=1e-3)
    assert r["rel_diff_pct"] == pytest.approx(10.0)
    base = record(table, "fifo")
    assert base["baseline"] == "fifo" and base["diff"] is None and base["pairs"] is None


def test_paired_comparison_sees_what_an_unpaired_one_misses(tmp_path):
    """With a strong seed effect (JCT 100..500 by seed) a policy 4-6 s faster on every seed: the
    policies' own intervals overlap widely, yet the paired interval lies below 0."""
    base = [100.0, 200.0, 300.0, 400.0, 500.0]
    better = [b - d for b, d in zip(base, (5.0, 4.0, 6.0, 5.0, 4.5))]
    rows = typed([run(f"b{s}", "fifo", s, avg_jct=v) for s, v in enumerate(base)]
                 + [run(f"p{s}", "sjf", s, avg_jct=v) for s, v in enumerate(better)], tmp_path)
    table = summarize(rows, ["avg_jct"], baseline="fifo")
    fifo, sjf = record(table, "fifo"), record(table, "sjf")
    assert sps.ttest_ind(base, better).pvalue > 0.5  # unpaired: no visible difference
    assert sjf["mean"] + sjf["ci"] > fifo["mean"] - fifo["ci"]  # the intervals overlap
    assert sjf["diff"] == pytest.approx(-4.9)
    assert sjf["diff"] + sjf["diff_ci"] < 0  # paired: clearly faster
    assert sps.ttest_rel(better, base).pvalue < 0.05


def test_seeds_missing_on_one_side_are_excluded_and_counted(tmp_path):
    """Baseline on seeds 0,1,2, the policy on 0,1,3 and failing on 2: only seeds 0 and 1 pair."""
    rows = typed([run("b0", "fifo", 0, avg_jct=10), run("b1", "fifo", 1, avg_jct=20), run("b2", "fifo", 2, avg_jct=30),
                  run("p0", "sjf", 0, avg_jct=11), run("p1", "sjf", 1, avg_jct=23),
                  run("p2", "sjf", 2, status="failed", error="x"), run("p3", "sjf", 3, avg_jct=1000)], tmp_path)
    r = record(summarize(rows, ["avg_jct"], baseline="fifo"), "sjf")
    assert (r["pairs"], r["unpaired"], r["failed"], r["n"]) == (2, 2, 1, 3)
    assert r["diff"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert r["rel_diff_pct"] == pytest.approx(100 * 2.0 / 15.0)


def test_pairs_only_with_equal_other_settings(tmp_path):
    """A policy run at a load the baseline never ran has no pairs and no difference."""
    rows = typed([run("b0", "fifo", 0, avg_jct=10), run("b1", "fifo", 1, avg_jct=12),
                  run("p0", "sjf", 0, avg_jct=9), run("q0", "sjf", 0, load="0.9", avg_jct=50)], tmp_path)
    table = summarize(rows, ["avg_jct"], baseline="fifo")
    assert record(table, "sjf")["diff"] == pytest.approx(-1.0)
    far = record(table, "sjf", load=0.9)
    assert (far["pairs"], far["unpaired"], far["diff"]) == (0, 1, None)


def test_summarize_errors(tmp_path):
    """Unknown metrics and baselines, and two runs of one configuration and seed, are one-line errors."""
    rows = typed([run("a", "fifo", 0, avg_jct=1), run("b", "sjf", 0, avg_jct=2)], tmp_path)
    with pytest.raises(GpusimError, match="unknown metric 'avg_jtc'"):
        summarize(rows, ["avg_jtc"])
    with pytest.raises(GpusimError, match="unknown baseline 'srtf'.*fifo, sjf"):
        summarize(rows, ["avg_jct"], baseline="srtf")
    with pytest.raises(GpusimError, match="runs a and c .* seed 0"):
        summarize(rows + typed([run("c", "fifo", 0, avg_jct=1)], tmp_path / "2"), ["avg_jct"])


# --- read_results ----------------------------------------------------------------------------


def test_read_results_types(tmp_path):
    """Seeds and counts are ints, load and metrics floats, empty cells None, text stays text."""
    (r,) = typed([run("a", "tiresias[thresholds=[100, 200]]", 3, load="", jobs=100, avg_jct=12.5, preemptions=4)],
                 tmp_path)
    assert r["seed"] == 3 and r["jobs"] == 100 and isinstance(r["jobs"], int)
    assert r["avg_jct"] == 12.5 and r["load"] is None and r["calibration"] is None and r["p95_jct"] is None
    assert r["policy"] == "tiresias[thresholds=[100, 200]]" and r["status"] == "ok"


def one_line_error(path, match) -> str:
    with pytest.raises(GpusimError, match=match) as err:
        read_results(path)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_read_results_errors(tmp_path):
    """A missing folder or file, a missing column, a bad number or status: one line naming file:line."""
    one_line_error(tmp_path / "nowhere", "no such folder")
    (tmp_path / "empty").mkdir()
    one_line_error(tmp_path / "empty", r"results.csv: not found")
    (tmp_path / "empty" / "results.csv").write_text("")
    one_line_error(tmp_path / "empty", r"results.csv:1: empty file")
    (tmp_path / "empty" / "results.csv").write_text("run_id,status,policy,seed\n")
    one_line_error(tmp_path / "empty", r"results.csv:1: missing column\(s\) error, trace")
    # the failed run's quoted error spans lines 3-4, so the bad row after it is on line 5
    bad = run("c", "fifo", 2, avg_jct=1)
    ok_rows = [run("a", "fifo", 0, avg_jct=1), run("b", "fifo", 1, status="failed", error="oh\nno")]
    one_line_error(write_sweep(tmp_path / "bad", [*ok_rows, {**bad, "avg_jct": "fast"}]),
                   r"results.csv:5: column 'avg_jct' must be a number, got 'fast'")
    one_line_error(write_sweep(tmp_path / "bad", [*ok_rows, {**bad, "seed": "x"}]),
                   r"results.csv:5: column 'seed' must be an integer, got 'x'")
    one_line_error(write_sweep(tmp_path / "bad", [*ok_rows, {**bad, "status": "done"}]),
                   r"results.csv:5: status must be 'ok' or 'failed', got 'done'")
    one_line_error(write_sweep(tmp_path / "bad", [*ok_rows, {**bad, "policy": ""}]),
                   r"results.csv:5: column 'policy' is empty")
    folder = write_sweep(tmp_path / "bad", ok_rows)
    with (folder / "results.csv").open("a") as f:
        f.write("d,ok\n")
    one_line_error(folder, rf"results.csv:5: 2 fields, the header has {len(RUN_COLUMNS) + len(SUMMARY_KEYS)}")


# --- renderers -----------------------------------------------------------------------------


@pytest.fixture
def table(tmp_path):
    rows = typed([run(f"b{s}", "fifo", s, avg_jct=v) for s, v in enumerate((10, 12, 9, 11, 13))]
                 + [run(f"p{s}", "my_policy 5%", s, avg_jct=v) for s, v in enumerate((8, 11, 7, 10, 12))], tmp_path)
    return summarize(rows, ["avg_jct", "utilization"], baseline="fifo")


def test_markdown_table_shape(table):
    """One header, one alignment row and one row per record, all with the same number of cells;
    the mean 11 of 10,12,9,11,13 shows with its half-width t(0.975, 4) * sqrt(0.5) = 1.96 as 2.0."""
    lines = [line for line in stats.to_markdown(table).splitlines() if line.startswith("|")]
    assert len(lines) == 2 + len(table)
    assert len({line.count("|") for line in lines}) == 1
    assert set(lines[1]) <= set("|:-")
    assert "mean ± 95% CI" in lines[0] and "diff vs fifo" in lines[0]
    assert "| 11.0 ± 2.0 |" in lines[2]
    assert "trace t.csv" in stats.to_markdown(table)


def test_latex_escapes_and_booktabs(table):
    """Underscores and percent signs are escaped; booktabs rules frame the tabular."""
    tex = stats.to_latex(table)
    assert r"my\_policy 5\%" in tex and r"avg\_jct" in tex and r"95\% CI" in tex
    assert "my_policy" not in tex and " 5%" not in tex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\end{tabular}"):
        assert rule in tex
    assert r"11.0 $\pm$ 2.0" in tex
    assert stats.latex_escape("a&b#c$d{e}~^\\") == r"a\&b\#c\$d\{e\}\textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert stats.latex_escape("[x]") == "{[}x]"


def test_csv_round_trip(table, tmp_path):
    """to_csv writes every column; reading it back gives the same numbers exactly, None and NaN (a
    metric no run has) as empty cells."""
    stats.to_csv(table, tmp_path / "t.csv")
    with (tmp_path / "t.csv").open(newline="") as f:
        back = list(csv.DictReader(f))
    assert len(back) == len(table) and list(back[0]) == list(stats.TABLE_COLUMNS)
    for original, text in zip(table, back):
        for key in ("mean", "ci", "diff", "diff_ci", "rel_diff_pct", "load"):
            x = original[key]
            assert (text[key] == "") if x is None or math.isnan(x) else float(text[key]) == x
        assert int(text["n"]) == original["n"] and text["policy"] == original["policy"]
    assert {r["mean"] for r in back if r["metric"] == "utilization"} == {""}


def test_text_table_columns_line_up(table):
    """After a line of shared settings, right-aligned rows end where the header ends (the
    baseline's rows, with empty comparison cells, end sooner)."""
    lines = stats.to_text(table).splitlines()
    assert lines[0] == "trace t.csv, cluster 8x8, placement consolidated, load 0.5"
    assert lines[1].startswith("policy") and "(baseline)" in lines[2]
    assert lines[3].startswith("my_policy 5%") and len(lines[3]) == len(lines[1])
    assert len(lines) == 2 + len(table)


# --- the command -----------------------------------------------------------------------------


def command_error(argv, match):
    with pytest.raises(GpusimError, match=match) as err:
        stats.main([str(a) for a in argv])
    assert "\n" not in str(err.value)


def test_main_one_line_errors(tmp_path):
    """A missing folder, an unknown metric, an unknown baseline and a bad flag are one-line errors."""
    folder = write_sweep(tmp_path / "s", [run("a", "fifo", 0, avg_jct=1), run("b", "sjf", 0, avg_jct=2)])
    command_error([tmp_path / "missing"], "no such folder")
    command_error([folder, "--metrics", "avg_jct,speed"], "unknown metric 'speed'")
    command_error([folder, "--baseline", "srtf"], "unknown baseline 'srtf'")
    command_error([folder, "--format", "xml"], "summarize: argument --format: invalid choice")
    command_error([], "summarize: the following arguments are required: DIR")


def test_main_prints_and_writes(tmp_path, capsys):
    """The table goes to stdout, or to --out (refusing to overwrite without --force); notes to stderr."""
    folder = write_sweep(tmp_path / "s", [run("a", "fifo", 0, avg_jct=10), run("b", "fifo", 1, avg_jct=12),
                                          run("c", "sjf", 0, avg_jct=7), run("d", "sjf", 1, status="failed",
                                                                               error="out of memory")])
    assert stats.main([str(folder), "--baseline", "fifo", "--metrics", "avg_jct"]) == 0
    out, err = capsys.readouterr()
    # 10 and 12: 11 ± t(0.975, 1) * sqrt(2) / sqrt(2) = 12.7, shown to two significant figures
    assert "sjf" in out and "(baseline)" in out and "11 ± 13" in out
    assert "1 of 4 runs failed" in err and "out of memory" in err
    target = tmp_path / "t.tex"
    assert stats.main([str(folder), "--format", "latex", "--out", str(target)]) == 0
    assert r"\toprule" in target.read_text()
    command_error([folder, "--out", target], "exists; use --force")
    assert stats.main([str(folder), "--format", "csv", "--out", str(target), "--force"]) == 0
    assert target.read_text().startswith("policy,trace,")
