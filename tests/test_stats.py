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


def test_paired_differences_in_the_last_bits_are_no_difference(tmp_path):
    """Two policies with the same utilization summed in another order (0.1 + 0.2 vs 0.3) differ by
    5.6e-17: the paired difference is exactly 0 (shown as "0 ± 0"); a real difference of one part
    in a billion stays."""
    rows = typed([run(f"b{s}", "fifo", s, avg_jct=0.3) for s in range(2)]
                 + [run(f"p{s}", "sjf", s, avg_jct=0.1 + 0.2) for s in range(2)]
                 + [run(f"q{s}", "srtf", s, avg_jct=0.3 * (1 + 1e-9)) for s in range(2)], tmp_path)
    table = summarize(rows, ["avg_jct"], baseline="fifo")
    assert 0.1 + 0.2 != 0.3
    assert record(table, "sjf")["diff"] == 0.0 and record(table, "sjf")["diff_ci"] == 0.0
    assert record(table, "srtf")["diff"] == pytest.approx(0.3e-9)


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


def test_main_output_is_pinned(tmp_path, capsys):
    """The text table of a sweep with only the summary metrics, byte for byte (the output before
    summarize learned the metrics only some runs have)."""
    folder = write_sweep(tmp_path / "s", [
        run("b0", "fifo", 0, avg_jct=1012.5, utilization=0.61), run("b1", "fifo", 1, avg_jct=1500.0, utilization=0.64),
        run("b2", "fifo", 2, avg_jct=1100.0, utilization=0.58), run("p0", "sjf", 0, avg_jct=800.0, utilization=0.61),
        run("p1", "sjf", 1, status="failed", error="boom"), run("p2", "sjf", 2, avg_jct=900.0, utilization=0.59),
        run("p3", "sjf", 3, avg_jct=950.0, utilization=float("nan"))])
    assert stats.main([str(folder), "--baseline", "fifo", "--metrics", "avg_jct,utilization"]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "trace t.csv, cluster 8x8, placement consolidated, load 0.5\n"
        "policy  metric       mean ± 95% CI  n  failed  missing  diff vs fifo ± 95% CI  diff %  pairs  unpaired\n"
        "fifo    avg_jct        1,204 ± 646  3       0        0             (baseline)\n"
        "sjf     avg_jct          883 ± 190  3       1        0              -206 ± 79  -19.5%      2         2\n"
        "fifo    utilization  0.610 ± 0.075  3       0        0             (baseline)\n"
        "sjf     utilization    0.60 ± 0.13  2       1        1          0.005 ± 0.064   +0.8%      2         1\n")
    assert err == ("gpusim: note: 1 of 7 runs failed and are left out (first: p1: boom)\n"
                   "gpusim: note: up to 1 ok run(s) per metric have no finite value (e.g. no job finished) and are "
                   "left out\n"
                   "gpusim: note: up to 2 run(s) per metric have no partner with the same seed on the other side of a "
                   "comparison and are left out of it\n")


# --- metrics only some runs have (faults, autoscaling, shares, resizes) --------------------------

EXTRAS = ("goodput", "resizes", "gpu_share_utilization")


def write_extras(folder: Path, rows: list[dict], extras=EXTRAS) -> Path:
    """A fake sweep folder whose results.csv has ``extras`` after the summary metrics, as
    ``gpusim sweep`` writes them (empty where a run lacks one)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*RUN_COLUMNS, *SUMMARY_KEYS, *extras], restval="", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return folder


# fifo never resizes (its resizes cells are empty, as gpusim sweep writes a run without any);
# one fifo run lacks gpu_share_utilization and one elastic run has NaN there.
FIFO = ((0.9, "", 0.5), (0.8, "", ""), (0.95, "", 0.7))
ELASTIC = ((0.92, 3, 0.6), (0.85, "", 0.65), (0.97, 5, "nan"))


@pytest.fixture
def extra_rows(tmp_path):
    rows = [{**run(f"{p[0]}{s}", p, s, avg_jct=1), **dict(zip(EXTRAS, map(str, values)))}
            for p, runs in (("fifo", FIFO), ("elastic", ELASTIC)) for s, values in enumerate(runs)]
    return read_results(write_extras(tmp_path / "sweep", rows))


def test_read_results_types_extra_metrics(extra_rows, tmp_path):
    """Metric columns beyond the summary's are numbers: counts (resizes, the fault and autoscale
    counts) ints, others floats; empty cells None."""
    fifo0, fifo1, _, elastic0, elastic1, elastic2 = extra_rows
    assert fifo0["goodput"] == 0.9 and isinstance(fifo0["goodput"], float)
    assert elastic0["resizes"] == 3 and isinstance(elastic0["resizes"], int)
    assert fifo0["resizes"] is None and fifo1["gpu_share_utilization"] is None and elastic1["resizes"] is None
    assert math.isnan(elastic2["gpu_share_utilization"])
    counts = ("failures", "kills", "jobs_hit", "peak_nodes")
    (r,) = read_results(write_extras(tmp_path / "counts", [
        {**run("a", "fifo", 0), "failures": "2", "kills": "4.0", "jobs_hit": "3", "peak_nodes": "5", "cost": "7",
         "brand_new": "1"}], extras=(*counts, "cost", "brand_new")))
    assert [r[k] for k in counts] == [2, 4, 3, 5] and all(type(r[k]) is int for k in counts)
    assert type(r["cost"]) is float and type(r["brand_new"]) is float


def test_summarize_extra_metrics_by_hand(extra_rows):
    """goodput: fifo 0.9, 0.8, 0.95 (mean 0.8833, scipy's t interval); elastic − fifo per seed
    0.02, 0.05, 0.02: mean 0.03, s = sqrt(0.0003), half-width t(0.975, 2) * s / sqrt(3)."""
    table = summarize(extra_rows, ["goodput"], baseline="fifo")
    fifo, elastic = record(table, "fifo", "goodput"), record(table, "elastic", "goodput")
    lo, hi = sps.t.interval(0.95, 2, loc=(0.9 + 0.8 + 0.95) / 3, scale=sps.sem([0.9, 0.8, 0.95]))
    assert (fifo["n"], fifo["missing"]) == (3, 0)
    assert (fifo["mean"] - fifo["ci"], fifo["mean"] + fifo["ci"]) == pytest.approx((lo, hi), rel=1e-12)
    assert elastic["mean"] == pytest.approx((0.92 + 0.85 + 0.97) / 3, rel=1e-15)
    assert (elastic["pairs"], elastic["unpaired"]) == (3, 0)
    assert elastic["diff"] == pytest.approx(0.03, rel=1e-12)
    assert elastic["diff_ci"] == pytest.approx(T975[2] * math.sqrt(0.0003) / math.sqrt(3), abs=1e-5)
    assert elastic["rel_diff_pct"] == pytest.approx(100 * 0.03 / (2.65 / 3), rel=1e-12)


def test_runs_without_a_metric_count_as_missing(extra_rows):
    """gpu_share_utilization: fifo has 0.5 and 0.7 (one run without it), elastic 0.6 and 0.65 (one
    NaN); each side 2 values and 1 missing; only seed 0 has a value on both sides (diff 0.1, no
    interval from one pair), seeds 1 and 2 are unpaired."""
    table = summarize(extra_rows, ["gpu_share_utilization"], baseline="fifo")
    fifo, elastic = record(table, "fifo", "gpu_share_utilization"), record(table, "elastic", "gpu_share_utilization")
    assert (fifo["n"], fifo["missing"], fifo["mean"]) == (2, 1, pytest.approx(0.6))
    assert fifo["ci"] == pytest.approx(sps.t.ppf(0.975, 1) * 0.1, rel=1e-12)  # s = 0.1 * sqrt(2)
    assert (elastic["n"], elastic["missing"], elastic["mean"]) == (2, 1, pytest.approx(0.625))
    assert (elastic["pairs"], elastic["unpaired"]) == (1, 2)
    assert elastic["diff"] == pytest.approx(0.1) and math.isnan(elastic["diff_ci"])


def test_resizes_absent_from_a_run_are_zero(extra_rows):
    """A run writes resizes only when it had some (sim.metrics._resizes), so an ok run without one
    had none: elastic 3, 0, 5 (mean 8/3), fifo 0, 0, 0, paired difference 8/3; not missing."""
    table = summarize(extra_rows, ["resizes"], baseline="fifo")
    fifo, elastic = record(table, "fifo", "resizes"), record(table, "elastic", "resizes")
    assert (fifo["n"], fifo["missing"], fifo["mean"], fifo["ci"]) == (3, 0, 0.0, 0.0)
    assert (elastic["n"], elastic["missing"], elastic["mean"]) == (3, 0, pytest.approx(8 / 3))
    assert elastic["ci"] == pytest.approx(sps.t.ppf(0.975, 2) * sps.tstd([3, 0, 5]) / math.sqrt(3), rel=1e-12)
    assert (elastic["pairs"], elastic["diff"]) == (3, pytest.approx(8 / 3))
    assert math.isnan(elastic["rel_diff_pct"])  # the baseline's mean is 0


def test_resizes_of_a_failed_run_are_not_zero(tmp_path):
    """A failed run has no resizes, not 0: it is counted as failed and left out."""
    rows = read_results(write_extras(tmp_path / "s", [{**run("a", "elastic", 0), "resizes": "4"},
                                                      {**run("b", "elastic", 1, status="failed", error="x")}]))
    (r,) = summarize(rows, ["resizes"])
    assert (r["n"], r["failed"], r["missing"], r["mean"]) == (1, 1, 0, 4.0)


def test_unknown_metric_lists_the_extra_metrics(extra_rows, tmp_path):
    """The error for an unknown metric lists every metric of the file, the extra ones last."""
    with pytest.raises(GpusimError) as err:
        summarize(extra_rows, ["goodputt"])
    assert str(err.value) == f"unknown metric 'goodputt'; choose from {', '.join((*SUMMARY_KEYS, *EXTRAS))}"
    command_error([tmp_path / "sweep", "--metrics", "avg_jct,gpu_share"],
                  r"unknown metric 'gpu_share'; choose from .*jain_fairness, goodput, resizes, gpu_share_utilization$")
    # a sweep without them does not offer them
    plain = write_sweep(tmp_path / "plain", [run("a", "fifo", 0, avg_jct=1)])
    command_error([plain, "--metrics", "goodput"], r"unknown metric 'goodput'; choose from .*jain_fairness$")


def test_non_numeric_extra_cell_names_file_line_and_column(tmp_path):
    """A bad cell in an extra column is a one-line error naming file:line and the column."""
    good = {**run("a", "fifo", 0, avg_jct=1), "goodput": "0.9", "resizes": "1", "gpu_share_utilization": ""}
    for column, text, kind in (("goodput", "high", "a number"), ("resizes", "2.5", "an integer"),
                               ("gpu_share_utilization", "50%", "a number")):
        folder = write_extras(tmp_path / column, [good, {**good, "run_id": "b", "seed": "1", column: text}])
        message = one_line_error(folder, rf"results.csv:3: column '{column}' must be {kind}, got '{text}'$")
        assert message.startswith(str(folder / "results.csv"))
        command_error([folder, "--metrics", column], rf"results.csv:3: column '{column}'")


FAULTY = ('seeds = 3\nsynthetic = {jobs = 30, load = 0.9}\nclusters = ["2x4"]\npolicies = ["fifo", "sjf"]\n'
          'faults = {schedule = "outages.csv", checkpoint_interval = 60}\n')


def test_summarize_a_sweep_with_faults_on_goodput(tmp_path, capsys):
    """A real sweep with a node outage: summarize takes goodput, failures and availability from its
    results.csv, and the means, intervals and paired differences are those of the runs' own values
    (the outage costs fifo and sjf the same work, so their goodput differs by 0; availability,
    measured over each run's length, differs)."""
    from sim.sweep import run_sweep

    (tmp_path / "outages.csv").write_text("node,fail_time,repair_time\n0,100,400\n")
    (tmp_path / "sweep.toml").write_text(FAULTY)
    runs = run_sweep(tmp_path / "sweep.toml", tmp_path / "out", progress=False)
    rows = read_results(tmp_path / "out")
    assert [r["goodput"] for r in rows] == [r["goodput"] for r in runs]
    table = summarize(rows, ["goodput", "failures", "availability"], baseline="fifo")
    value = {(m, p): [r[m] for r in runs if r["policy"] == p]
             for m in ("goodput", "availability") for p in ("fifo", "sjf")}
    assert len(set(value["goodput", "fifo"])) == 3  # the seeds differ: a real interval
    for (metric, policy), values in value.items():
        r = record(table, policy, metric, load=None)
        lo, hi = sps.t.interval(0.95, 2, loc=sum(values) / 3, scale=sps.sem(values))
        assert (r["n"], r["missing"], r["failed"]) == (3, 0, 0)
        assert (r["mean"] - r["ci"], r["mean"] + r["ci"]) == pytest.approx((lo, hi), rel=1e-9)
    assert (record(table, "sjf", "goodput", load=None)["pairs"], record(table, "sjf", "goodput", load=None)["diff"]) \
        == (3, 0.0)
    diffs = [s - f for s, f in zip(value["availability", "sjf"], value["availability", "fifo"])]
    sjf = record(table, "sjf", "availability", load=None)
    assert sjf["pairs"] == 3 and sjf["diff"] == pytest.approx(sum(diffs) / 3, rel=1e-9) and sjf["diff"] != 0
    assert sjf["diff_ci"] == pytest.approx(sps.t.ppf(0.975, 2) * sps.sem(diffs), rel=1e-9)
    failures = record(table, "sjf", "failures", load=None)
    assert (failures["mean"], failures["ci"]) == (1.0, 0.0)
    assert stats.main([str(tmp_path / "out"), "--metrics", "goodput", "--baseline", "fifo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trace synthetic, cluster 2x4, placement consolidated, metric goodput\n")
    assert "(baseline)" in out and "sjf" in out
