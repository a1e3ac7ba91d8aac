"""Figures from run and sweep folders: formats, styles, intervals, error bars, bad inputs, lazy imports."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from sim import plots
from sim.errors import GpusimError
from sim.experiment import RunConfig, compare, run, write_compare, write_config, write_result
from sim.metrics import SUMMARY_KEYS
from traces.synthetic import Workload

SETTINGS = ("run_id", "status", "error", "policy", "trace", "cluster", "placement", "load", "seed", "calibration")
MAGIC = {"pdf": (b"%PDF",), "svg": (b"<?xml", b"<svg"), "png": (b"\x89PNG\r\n\x1a\n",)}


def _cell(x) -> str:
    return "" if x is None else repr(x) if isinstance(x, float) else str(x)


def make_sweep(root: Path, policies=("fifo", "srtf"), loads=(0.5, 0.9), seeds=(0, 1, 2), failed=(), columns=SETTINGS):
    """A sweep folder as `gpusim sweep` writes it: results.csv plus runs/<run_id>/ for ok runs."""
    rows = []
    for load in loads:
        for policy in policies:
            for seed in seeds:
                run_id = f"{policy}-load{load}-seed{seed}"
                setting = {"run_id": run_id, "policy": policy, "trace": "", "cluster": "2x4",
                           "placement": "consolidated", "load": load, "seed": seed, "calibration": ""}
                if policy in failed:
                    rows.append({**setting, "status": "failed", "error": "boom"})
                    continue
                config = RunConfig(synthetic=Workload(jobs=20, load=load), cluster="2x4", policy=policy, seed=seed)
                result = run(config)
                folder = root / "runs" / run_id
                folder.mkdir(parents=True)
                write_result(result, folder)
                write_config(config, folder)
                rows.append({**setting, "status": "ok", "error": "", **result.summary()})
    root.mkdir(parents=True, exist_ok=True)
    with (root / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*columns, *SUMMARY_KEYS])
        w.writerows([_cell(r.get(c)) for c in (*columns, *SUMMARY_KEYS)] for r in rows)
    return root


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("sweep"), policies=("fifo", "srtf", "sjf"), failed=("sjf",))


@pytest.fixture(scope="module")
def one_load(tmp_path_factory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("one"), loads=(0.8,), seeds=(0, 1))


@pytest.fixture(scope="module")
def convergence(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conv") / "ga.csv"
    lines = ["iteration,value,series"] + [f"{i},{100 / (i + 1) + s},{name}" for name in ("ga", "rl")
                                          for s in range(3) for i in range(10)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def _source(kind, sweep, one_load, convergence):
    return {"jct-cdf": (one_load, {}), "bars": (sweep, {"metric": "p95_jct"}), "load": (sweep, {}),
            "timeseries": (sweep, {"run": "srtf-load0.9-seed1"}), "gantt": (sweep, {"max_jobs": 5}),
            "convergence": (convergence, {})}[kind]


@pytest.mark.parametrize("fmt", plots.FORMATS)
@pytest.mark.parametrize("kind", list(plots.KINDS))
def test_each_kind_writes_requested_format(mpl, tmp_path, sweep, one_load, convergence, kind, fmt):
    """Every kind writes a non-empty file whose first bytes are those of the requested format."""
    source, options = _source(kind, sweep, one_load, convergence)
    out = plots.plot(source, kind, tmp_path / f"fig.{fmt}", **options)
    data = out.read_bytes()
    assert out == tmp_path / f"fig.{fmt}" and len(data) > 500
    head = data[:1024]
    assert head.startswith(MAGIC[fmt][0]) and all(m in head for m in MAGIC[fmt])


def test_registered_policies_have_distinct_styles():
    """Every registered policy has its own (colour, marker) from the Okabe-Ito palette, and the seven
    baselines each a colour and a marker of their own, drawn solid."""
    import policies

    styles = [plots.policy_style(name) for name in policies.available()]
    assert len({(s.color, s.marker) for s in styles}) == len(styles)
    assert all(s.color in plots.OKABE_ITO for s in styles)
    base = [plots.policy_style(n) for n in ("fifo", "fifo-backfill", "sjf", "srtf", "tiresias", "priority", "random")]
    assert len({s.color for s in base}) == 7 and len({s.marker for s in base}) == 7
    assert all(s.linestyle == "-" for s in base)


def test_style_depends_on_label_only():
    """A label's style is the same whatever other labels share the figure, and stable across calls."""
    first = {p: plots.policy_style(p) for p in ("srtf", "my.pkg:Greedy", "ga")}
    second = {p: plots.policy_style(p) for p in ("ga", "fifo", "srtf", "tiresias", "my.pkg:Greedy")}
    assert all(first[p] == second[p] for p in first)
    assert plots.policy_style("srtf") == plots.Style("#D55E00", "^", "-")
    unknown = plots.policy_style("my.pkg:Greedy")
    solid = {style[1] for style in plots.FIXED_STYLES.values() if len(style) == 2}
    assert unknown.linestyle == "--" and unknown.marker not in solid  # never drawn like a registered policy


def test_figures_with_different_subsets_draw_a_policy_alike(mpl, sweep):
    """srtf's bar has the same colour in a figure of {srtf} and one of {fifo, srtf}."""
    from matplotlib.colors import to_hex
    from matplotlib.container import BarContainer

    draw = plots.KINDS["bars"][0]
    with mpl.rc_context(plots.RC):
        alone = draw(sweep, 3.4, 2.3, policies=["srtf"], where={"load": 0.5})
        both = draw(sweep, 3.4, 2.3, policies=["fifo", "srtf"], where={"load": 0.5})
    def colours(fig):
        return {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in fig.axes[0].containers
                if isinstance(c, BarContainer)}

    colour = list(colours(alone).values())
    colours = colours(both)
    assert colour == [colours["srtf"]] == [plots.policy_style("srtf").color.lower()]
    assert colours["fifo"] == plots.policy_style("fifo").color.lower()


def test_mean_ci_matches_hand_computed_t_interval():
    """mean_ci gives the mean and t_{0.975,n-1}·s/√n (t values from tables)."""
    mean, half = plots.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(3.182446305284263 * math.sqrt(5 / 3) / 2, rel=1e-12)
    mean, half = plots.mean_ci([10.0, 12.0, 17.0], level=0.9)
    sd = math.sqrt(((10 - 13) ** 2 + (12 - 13) ** 2 + (17 - 13) ** 2) / 2)
    assert mean == 13.0 and half == pytest.approx(2.919985580355516 * sd / math.sqrt(3), rel=1e-12)
    assert plots.mean_ci([5.0])[0] == 5.0 and math.isnan(plots.mean_ci([5.0])[1])
    assert all(math.isnan(x) for x in plots.mean_ci([]))


def test_bar_error_bars_are_the_t_intervals_of_the_seeds(mpl, sweep):
    """Each bar's height and error bar are the seeds' mean and t-interval of the metric (in minutes)."""
    rows = [r for r in csv.DictReader((sweep / "results.csv").open()) if r["status"] == "ok" and r["load"] == "0.9"]
    with mpl.rc_context(plots.RC):
        fig = plots.KINDS["bars"][0](sweep, 3.4, 2.3, metric="avg_wait", where={"load": "0.9"})
    unit, size = plots._time_unit(max(plots.mean_ci([float(r["avg_wait"]) for r in rows if r["policy"] == p])[0]
                                      for p in ("fifo", "srtf")))
    assert fig.axes[0].get_ylabel().startswith(f"Mean wait ({unit})")
    from matplotlib.container import BarContainer

    checked = 0
    for bars in fig.axes[0].containers:
        if not isinstance(bars, BarContainer):
            continue
        checked += 1
        values = [float(r["avg_wait"]) for r in rows if r["policy"] == bars.get_label()]
        mean, half = plots.mean_ci(values)
        assert bars.patches[0].get_height() == pytest.approx(mean / size)
        (segment,) = bars.errorbar.lines[2][0].get_segments()
        assert segment[:, 1] == pytest.approx([(mean - half) / size, (mean + half) / size])
    assert checked == 2


def _events(*rows: str) -> list[dict[str, str]]:
    return list(csv.DictReader(["time,kind,job_id,gpus,nodes", *rows]))


def test_gpu_intervals_from_hand_written_events():
    """Starts open per-GPU intervals; preempt, finish and stop close them; a restart opens new ones."""
    rows = _events("0.0,submit,a,,", "0.0,start,a,0 1,0", "5.0,submit,b,,", "5.0,start,b,2,0",
                   "10.0,preempt,a,0 1,0", "10.0,start,b2,0,0", "12.0,start,a,3 4,0 1", "20.0,finish,b,,",
                   "25.0,finish,a,,", "30.0,stop,,,")
    I = plots.Interval
    assert plots.gpu_intervals(rows) == [
        I("a", 0, 0.0, 10.0, "preempt"), I("a", 1, 0.0, 10.0, "preempt"), I("b", 2, 5.0, 20.0, "finish"),
        I("b2", 0, 10.0, 30.0, "stop"), I("a", 3, 12.0, 25.0, "finish"), I("a", 4, 12.0, 25.0, "finish")]


def test_gpu_intervals_open_at_end_of_log():
    """A job still holding GPUs when the log ends (no stop event) is closed at the last event's time."""
    rows = _events("0.0,start,a,1,0", "4.0,submit,b,,")
    assert plots.gpu_intervals(rows) == [plots.Interval("a", 1, 0.0, 4.0, "end")]


@pytest.mark.parametrize("rows", [("1.0,finish,a,,",), ("0.0,start,a,0,0", "1.0,start,a,1,0"),
                                  ("x,start,a,0,0",), ("0.0,start,a,zero,0",)])
def test_gpu_intervals_reject_inconsistent_logs(rows):
    """A finish without a start, a double start or an unreadable cell is a one-line GpusimError."""
    with pytest.raises(GpusimError, match="events.csv"):
        plots.gpu_intervals(_events(*rows))


def test_gantt_draws_one_bar_per_interval_in_the_window(mpl, sweep):
    """The gantt shows one bar per GPU interval of the first max_jobs jobs, clipped to the window."""
    folder = sweep / "runs" / "fifo-load0.5-seed0"
    intervals = plots.gpu_intervals(csv.DictReader((folder / "events.csv").open()))
    jobs = list(dict.fromkeys(i.job_id for i in intervals))[:3]
    with mpl.rc_context(plots.RC):
        fig = plots.KINDS["gantt"][0](folder, 3.4, 2.6, max_jobs=3)
    assert len(fig.axes[0].collections) == sum(1 for i in intervals if i.job_id in jobs)
    assert "first 3 of" in fig.axes[0].get_title()


def test_timeseries_utilization_is_busy_over_cluster_gpus(mpl, sweep):
    """The upper panel plots busy GPUs / 8 for a 2x4 cluster; the lower one the queue length."""
    folder = sweep / "runs" / "srtf-load0.9-seed1"
    rows = list(csv.DictReader((folder / "timeseries.csv").open()))
    with mpl.rc_context(plots.RC):
        fig = plots.KINDS["timeseries"][0](sweep, 3.4, 3.0, run="srtf-load0.9-seed1")
    top, bottom = fig.axes
    assert list(top.lines[0].get_ydata()) == [int(r["busy_gpus"]) / 8 for r in rows]
    assert list(bottom.lines[0].get_ydata()) == [int(r["queue_length"]) for r in rows]


def test_jct_cdf_pools_all_seeds(mpl, one_load):
    """One CDF line per policy, pooling the finished jobs of every seed."""
    with mpl.rc_context(plots.RC):
        fig = plots.KINDS["jct-cdf"][0](one_load, 3.4, 2.3)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert set(lines) == {"fifo", "srtf"} and fig.axes[0].get_xscale() == "log"
    jct = sorted(float(r["jct"]) for seed in (0, 1)
                 for r in csv.DictReader((one_load / "runs" / f"fifo-load0.8-seed{seed}" / "jobs.csv").open()))
    assert len(lines["fifo"].get_xdata()) == len(jct) == 40 and lines["fifo"].get_ydata()[-1] == 1.0


def test_standard_figures_for_a_sweep_of_two_loads(mpl, tmp_path, sweep):
    """A two-load sweep gets a CDF per load, grouped bars, load curves, timeseries and gantt."""
    made = plots.standard_figures(sweep, tmp_path / "figs", fmt="png")
    metrics = plots.STANDARD_METRICS
    assert set(made) == {"jct-cdf-load0.5", "jct-cdf-load0.9", *(f"bars-{m}" for m in metrics),
                         *(f"load-{m}" for m in metrics), "timeseries", "gantt"}
    assert all(p.read_bytes().startswith(MAGIC["png"][0]) for p in made.values())


def test_standard_figures_and_bars_for_a_compare_folder(mpl, tmp_path):
    """A `gpusim compare` folder (summary.csv, runs/POLICY-seedN) is read like a sweep of one setting."""
    config = RunConfig(synthetic=Workload(jobs=15, sizes=((1, 0.5), (2, 0.5))), cluster="1x4")
    rows, _ = compare(config, ["fifo", "sjf"], seeds=2)
    write_compare(rows, tmp_path)
    write_config(config, tmp_path, {"policies": ["fifo", "sjf"], "seeds": 2})  # as `gpusim compare --out` does
    made = plots.standard_figures(tmp_path, tmp_path / "figs")
    assert {"jct-cdf", "bars-avg_jct", "timeseries", "gantt"} <= set(made) and "load-avg_jct" not in made


def _results_only(root: Path, header: str, *rows: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("case", ["kind", "folder", "no-ok", "no-load-column", "conv-columns", "extension",
                                  "no-jobs-csv", "metric", "option", "several-loads", "where", "run", "width"])
def test_bad_inputs_are_gpusim_errors(mpl, tmp_path, sweep, case):
    """Each unusable input is a one-line GpusimError, and no figure file is written."""
    head = ",".join([*SETTINGS, *SUMMARY_KEYS])
    blank = "," * len(SUMMARY_KEYS)
    cases = {
        "kind": (sweep, "pie", {}),
        "folder": (tmp_path / "nowhere", "bars", {}),
        "no-ok": (_results_only(tmp_path / "f", head, f"r1,failed,boom,fifo,,2x4,consolidated,0.5,0,{blank}"),
                  "bars", {}),
        "no-load-column": (_results_only(tmp_path / "n", "run_id,status,policy,seed,avg_jct", "r1,ok,fifo,0,5.0"),
                           "load", {}),
        "conv-columns": (_write(tmp_path / "c.csv", "step,value\n1,2\n"), "convergence", {}),
        "extension": (sweep, "bars", {}),
        "no-jobs-csv": (_results_only(tmp_path / "j", head, f"r1,ok,,fifo,,2x4,consolidated,0.5,0,{blank}"),
                        "jct-cdf", {}),
        "metric": (sweep, "bars", {"metric": "speed"}),
        "option": (sweep, "gantt", {"metric": "avg_jct"}),
        "several-loads": (sweep, "jct-cdf", {}),
        "where": (sweep, "bars", {"where": {"load": 0.7}}),
        "run": (sweep, "timeseries", {"run": "sjf-load0.5-seed0"}),  # a failed run has no files
        "width": (sweep, "bars", {"width": 0}),
    }
    source, kind, options = cases[case]
    out = tmp_path / ("fig.jpg" if case == "extension" else "fig.pdf")
    with pytest.raises(GpusimError) as err:
        plots.plot(source, kind, out, **options)
    assert "\n" not in str(err.value) and not out.exists()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_main_writes_figure_and_refuses_to_overwrite(mpl, tmp_path, sweep, capsys):
    """`gpusim plot` writes the figure, refuses to overwrite without --force, and errors in one line."""
    out = tmp_path / "bars.svg"
    argv = [str(sweep), "--kind", "bars", "--out", str(out), "--metric", "avg_wait", "--where", "load=0.5"]
    assert plots.main(argv) == 0 and out.read_bytes().startswith(b"<?xml")
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(GpusimError, match="exists; use --force"):
        plots.main(argv)
    assert plots.main([*argv, "--force", "--policies", "srtf"]) == 0
    with pytest.raises(GpusimError, match="^plot: .*--kind"):
        plots.main([str(sweep), "--kind", "pie", "--out", str(out)])
    with pytest.raises(GpusimError, match="COLUMN=VALUE"):
        plots.main([str(sweep), "--kind", "bars", "--out", str(tmp_path / "x.pdf"), "--where", "load"])


def test_import_does_not_load_matplotlib(mpl, tmp_path, convergence):
    """Importing sim.plots (and parsing arguments) leaves matplotlib unloaded until a figure is drawn."""
    code = (
        "import sys, sim.plots\n"
        "assert 'matplotlib' not in sys.modules, 'imported at module load'\n"
        "try:\n    sim.plots.main(['x', '--kind', 'pie', '--out', 'y.pdf'])\nexcept Exception:\n    pass\n"
        "assert 'matplotlib' not in sys.modules, 'imported by a failed command'\n"
        f"sim.plots.plot({str(convergence)!r}, 'convergence', {str(tmp_path / 'c.png')!r})\n"
        "assert 'matplotlib' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_same_inputs_give_identical_vector_files(mpl, tmp_path, one_load):
    """Drawing the same figure twice gives byte-identical PDF and SVG files (no dates embedded)."""
    for fmt in ("pdf", "svg"):
        a = plots.plot(one_load, "jct-cdf", tmp_path / f"a.{fmt}").read_bytes()
        assert a == plots.plot(one_load, "jct-cdf", tmp_path / f"b.{fmt}").read_bytes()


def test_convergence_reads_a_ga_folders_history(mpl, tmp_path, convergence):
    """`gpusim plot DIR --kind convergence` on a `gpusim ga --out DIR` folder reads its history.csv;
    a folder with neither file names convergence.csv in a one-line error."""
    folder = tmp_path / "ga"
    folder.mkdir()
    (folder / "history.csv").write_bytes(convergence.read_bytes())
    direct = plots.plot(convergence, "convergence", tmp_path / "a.svg")
    via_folder = plots.plot(folder, "convergence", tmp_path / "b.svg")
    assert via_folder.read_bytes() == direct.read_bytes()
    (tmp_path / "empty").mkdir()
    with pytest.raises(GpusimError, match="convergence.csv"):
        plots.plot(tmp_path / "empty", "convergence", tmp_path / "c.svg")
