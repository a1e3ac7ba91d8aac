"""Publication figures drawn from the files that runs and sweeps write; never from a new simulation.

Inputs: a sweep folder (``results.csv`` plus ``runs/<run_id>/``), a ``gpusim compare`` folder
(``summary.csv`` plus ``runs/``), a single run folder (``jobs.csv``, ``events.csv``,
``timeseries.csv``, ``config.json``), or, for ``convergence``, a CSV of ``iteration,value[,series]``.
Output format follows the file's extension: pdf and svg are vector, png is 300 dpi. Figures are one
column wide (3.4 in) with 8 pt text. Each policy keeps one colour, marker and line style in every
figure (:func:`policy_style`). matplotlib is imported only when a figure is drawn, through its Agg
canvas, with the style applied in an ``rc_context`` (no global matplotlib state is changed).
See docs/plots.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.errors import GpusimError

FORMATS = ("pdf", "svg", "png")
WIDTH, HEIGHT = 3.4, 2.3  # inches: one column of a two-column paper
RC = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.frameon": False, "lines.linewidth": 1.2, "lines.markersize": 4,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.linewidth": 0.4,
    "grid.alpha": 0.4, "pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "gpusim", "savefig.dpi": 300,
}

#: Okabe & Ito's colour-blind-safe palette.
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
#: Fixed styles for the registered policies (colour, marker), solid lines.
FIXED_STYLES = {
    "fifo": ("#000000", "o"), "sjf": ("#0072B2", "s"), "srtf": ("#D55E00", "^"),
    "fifo-backfill": ("#009E73", "D"), "tiresias": ("#CC79A7", "v"), "priority": ("#56B4E9", "P"),
    "random": ("#E69F00", "X"),
    # the later policies reuse the palette with markers of their own and a dotted line
    "edf": ("#000000", "*", ":"), "fair-share": ("#0072B2", "h", ":"), "priority-reserve": ("#56B4E9", "p", ":"),
    "sjf-predicted": ("#0072B2", "<", ":"), "srtf-predicted": ("#D55E00", ">", ":"),
    "backfill-predicted": ("#009E73", "d", ":"), "ga-score": ("#F0E442", "8", ":"), "rl": ("#CC79A7", "H", "-."),
}
_HASH_MARKERS = ("*", "h", "p", "<", ">", "d", "8")  # not used by the solid-line FIXED_STYLES

CONDITIONS = ("trace", "cluster", "placement", "calibration", "load")  # results.csv columns a run's setting lives in
TIME_METRICS = ("avg_jct", "median_jct", "p95_jct", "p99_jct", "avg_wait", "makespan")
METRIC_LABELS = {
    "jobs": "Jobs", "unfinished": "Unfinished jobs", "avg_jct": "Mean JCT", "median_jct": "Median JCT",
    "p95_jct": "95th-percentile JCT", "p99_jct": "99th-percentile JCT", "avg_wait": "Mean wait",
    "makespan": "Makespan", "utilization": "GPU utilization (fraction)", "avg_slowdown": "Mean slowdown (ratio)",
    "avg_bounded_slowdown": "Mean bounded slowdown (ratio)", "preemptions": "Preemptions (count)",
}
STANDARD_METRICS = ("avg_jct", "p95_jct", "avg_wait", "utilization")
MAX_CONDITIONS = 6  # standard_figures draws per-condition figures for at most this many conditions


@dataclass(frozen=True)
class Style:
    """How one policy is drawn: a hex colour, a matplotlib marker and a line style."""

    color: str
    marker: str
    linestyle: str


def policy_style(label: str) -> Style:
    """The fixed style of a policy label: a table for registered policies, else a CRC-32 hash.

    A label outside FIXED_STYLES gets colour ``OKABE_ITO[h % 8]``, marker ``_HASH_MARKERS[(h // 8) % 7]``
    and a dashed line (h = CRC-32 of the label), so it never matches a registered policy in all three.
    It depends on the label alone, never on which other policies a figure shows.
    """
    if label in FIXED_STYLES:
        color, marker, *line = FIXED_STYLES[label]
        return Style(color, marker, line[0] if line else "-")
    h = zlib.crc32(label.encode("utf-8"))
    return Style(OKABE_ITO[h % len(OKABE_ITO)], _HASH_MARKERS[(h // len(OKABE_ITO)) % len(_HASH_MARKERS)], "--")


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided Student-t confidence interval at ``level``
    (``sim.stats.mean_ci``, the one definition the tables use too); NaN half-width below two values."""
    from sim.stats import mean_ci as stats_mean_ci

    mean, half, _ = stats_mean_ci(values, level)
    return mean, half


@dataclass(frozen=True)
class Interval:
    """GPU ``gpu`` held by job ``job_id`` from ``start`` to ``end`` (seconds); ``until`` says what ended
    it: ``preempt``, ``finish``, ``stop`` (the run was stopped) or ``end`` (the log ended)."""

    job_id: str
    gpu: int
    start: float
    end: float
    until: str


def gpu_intervals(rows: Iterable[Mapping[str, str]]) -> list[Interval]:
    """Per-GPU holding intervals from events.csv rows (time, kind, job_id, gpus), sorted by start, GPU.

    A start opens one interval per listed GPU; the job's next preempt or finish closes them; a stop
    event closes everything open. Raises GpusimError on a close without an open or a double start.
    """
    held: dict[str, tuple[float, tuple[int, ...]]] = {}
    out: list[Interval] = []
    last = 0.0
    for row in rows:
        try:
            time, kind, job = float(row["time"]), row["kind"], row["job_id"]
            gpus = tuple(int(g) for g in (row.get("gpus") or "").split())
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise GpusimError(f"events.csv: bad row {dict(row)!r}: {err}") from None
        last = max(last, time)
        if kind == "start":
            if job in held:
                raise GpusimError(f"events.csv: job {job} starts at {time} while already running")
            held[job] = (time, gpus)
        elif kind in ("preempt", "resize", "kill", "finish"):
            if job not in held:
                raise GpusimError(f"events.csv: job {job} has a {kind} at {time} but is not running")
            t0, started = held.pop(job)
            out += [Interval(job, g, t0, time, kind) for g in started]
        elif kind == "stop":
            out += [Interval(j, g, t0, time, "stop") for j, (t0, gs) in held.items() for g in gs]
            held.clear()
    out += [Interval(j, g, t0, last, "end") for j, (t0, gs) in held.items() for g in gs]
    return sorted(out, key=lambda i: (i.start, i.gpu))


# --- reading folders -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One ok run: its id, policy label, results row (text cells as written) and its folder."""

    run_id: str
    policy: str
    row: Mapping[str, str]
    folder: Path


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except FileNotFoundError:
        raise GpusimError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise GpusimError(f"{path}: cannot read: {err}") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise GpusimError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise GpusimError(f"{path}: cannot read: {err}") from None
    return data if isinstance(data, dict) else {}


def _is_run(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("jobs.csv", "events.csv", "timeseries.csv", "summary.json"))


def _text(data: Mapping) -> dict[str, str]:
    return {k: "" if v is None else repr(v) if isinstance(v, float) else str(v) for k, v in data.items()}


def _setting(config: Mapping) -> dict[str, str]:
    """The CONDITIONS columns of a run or compare folder's config.json (load: synthetic, else scale_load)."""
    synthetic = config.get("synthetic")
    load = synthetic.get("load") if isinstance(synthetic, dict) else config.get("scale_load")
    return _text({**{c: config.get(c) for c in CONDITIONS}, "load": load})


def _run_from_folder(folder: Path) -> Run:
    config = _read_json(folder / "config.json")
    row = {"run_id": folder.name, "status": "ok", "policy": str(config.get("policy") or folder.name),
           "seed": _text({"s": config.get("seed")})["s"], **_setting(config),
           **_text(_read_json(folder / "summary.json"))}
    return Run(folder.name, row["policy"], row, folder)


def load_runs(path: str | Path) -> list[Run]:
    """The ok runs of a sweep folder, a ``gpusim compare`` folder, or a single run folder, in file order."""
    path = Path(path)
    if not path.is_dir():
        raise GpusimError(f"{path}: no such folder")
    if (path / "results.csv").is_file():
        rows = _read_csv(path / "results.csv", ("run_id", "status", "policy"))
        runs = [Run(r["run_id"], r["policy"], r, path / "runs" / r["run_id"]) for r in rows if r["status"] == "ok"]
    elif (path / "summary.csv").is_file():  # gpusim compare: run folders are named POLICY-seedN
        rows = _read_csv(path / "summary.csv", ("policy", "seed"))
        setting = _setting(_read_json(path / "config.json"))
        runs = []
        for r in rows:
            run_id = f"{r['policy'].replace(':', '_')}-seed{r['seed']}"
            runs.append(Run(run_id, r["policy"], {"run_id": run_id, "status": "ok", **setting, **r},
                            path / "runs" / run_id))
    elif _is_run(path):
        return [_run_from_folder(path)]
    else:
        raise GpusimError(f"{path}: not a sweep, compare or run folder (no results.csv, summary.csv or jobs.csv)")
    if not runs:
        raise GpusimError(f"{path}: no run finished ok")
    return runs


def _num(cell: str | None) -> float:
    try:
        return float(cell) if cell not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _matches(cell: str | None, value: object) -> bool:
    a, b = _num(cell), _num(str(value))
    if not (math.isnan(a) or math.isnan(b)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return (cell or "") == str(value)


def _select(runs: list[Run], where: Mapping[str, object] | None, policies: Sequence[str] | None) -> list[Run]:
    for key, value in (where or {}).items():
        if key not in runs[0].row:
            raise GpusimError(f"where: unknown column {key!r} (columns: {', '.join(runs[0].row)})")
        runs = [r for r in runs if _matches(r.row.get(key), value)]
        if not runs:
            raise GpusimError(f"where: no ok run has {key}={value}")
    if policies:
        unknown = [p for p in policies if p not in {r.policy for r in runs}]
        if unknown:
            raise GpusimError(f"policies: no ok run of {', '.join(unknown)}")
        runs = sorted((r for r in runs if r.policy in policies), key=lambda r: list(policies).index(r.policy))
    return runs


def _varying(runs: Sequence[Run], skip: Sequence[str] = ()) -> list[str]:
    """Setting columns that take more than one value among ``runs``."""
    return [c for c in CONDITIONS if c not in skip and len({r.row.get(c, "") for r in runs}) > 1]


def _single_condition(runs: Sequence[Run], kind: str, skip: Sequence[str] = ()) -> None:
    for col in _varying(runs, skip):
        values = ", ".join(sorted({r.row.get(col, "") for r in runs}))
        raise GpusimError(f"{kind}: the runs differ in {col} ({values}); choose one with where={{{col!r}: ...}} "
                          f"(--where {col}=VALUE)")


def _by_policy(runs: Iterable[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.policy, []).append(r)
    return out


def _one_run(path: Path, run: str | None) -> Run:
    runs = load_runs(path)
    if run is None:
        return runs[0]
    for r in runs:
        if r.run_id == run:
            return r
    raise GpusimError(f"{path}: no ok run {run!r}")


def _nodes(r: Run):
    """The run's cluster nodes (from config.json, else the results row), or None when unknown."""
    from sim.model import Cluster

    spec = _read_json(r.folder / "config.json").get("cluster") or r.row.get("cluster")
    try:
        return Cluster.parse(spec).nodes if spec else None
    except (GpusimError, ValueError):
        return None


def _time_unit(seconds: float) -> tuple[str, float]:
    """A readable unit for times up to ``seconds``: (name, seconds per unit)."""
    for name, size, limit in (("s", 1.0, 600.0), ("min", 60.0, 36000.0), ("h", 3600.0, 4 * 86400.0)):
        if seconds <= limit:
            return name, size
    return "days", 86400.0


def _metric_label(metric: str, unit: str | None) -> str:
    label = METRIC_LABELS.get(metric, metric)
    return f"{label} ({unit})" if unit else label


def _metric_values(runs: Sequence[Run], metric: str) -> list[float]:
    if runs and metric not in runs[0].row:
        known = [k for k in runs[0].row if k in METRIC_LABELS] or list(runs[0].row)
        raise GpusimError(f"unknown metric {metric!r}; choose one of {', '.join(known)}")
    return [v for v in (_num(r.row.get(metric)) for r in runs) if math.isfinite(v)]


# --- drawing ---------------------------------------------------------------------------------


def _figure(width: float, height: float, rows: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _draw_cdf(path: Path, width: float, height: float, where=None, policies=None):
    runs = _select(load_runs(path), where, policies)
    _single_condition(runs, "jct-cdf")
    series = {}
    for policy, group in _by_policy(runs).items():
        jct = []
        for r in group:
            rows = _read_csv(r.folder / "jobs.csv", ("jct",))
            jct += [v for v in (_num(x["jct"]) for x in rows) if math.isfinite(v) and v > 0]
        if jct:
            series[policy] = sorted(jct)
    if not series:
        raise GpusimError(f"{path}: no finished job with a positive JCT in any jobs.csv")
    unit, size = _time_unit(max(max(v) for v in series.values()))
    fig, (ax,) = _figure(width, height)
    for policy, jct in series.items():
        s, n = policy_style(policy), len(jct)
        marks = sorted({min(n - 1, int(q * n)) for q in (0.1, 0.3, 0.5, 0.7, 0.9)})
        ax.step([v / size for v in jct], [(i + 1) / n for i in range(n)], where="post", color=s.color,
                linestyle=s.linestyle, marker=s.marker, markevery=marks, label=policy)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"Job completion time ({unit}, log scale)")
    ax.set_ylabel("Fraction of jobs")
    ax.legend(loc="lower right")
    return fig


def _draw_bars(path: Path, width: float, height: float, metric="avg_jct", where=None, policies=None, level=0.95):
    runs = _select(load_runs(path), where, policies)
    _metric_values(runs, metric)  # unknown metric fails here
    varying = _varying(runs)
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(", ".join(f"{c}={r.row.get(c, '')}" for c in varying), []).append(r)
    labels = list(_by_policy(runs))
    stats = {(g, p): mean_ci(_metric_values([r for r in group if r.policy == p], metric), level)
             for g, group in groups.items() for p in labels}
    if not any(math.isfinite(m) for m, _ in stats.values()):
        raise GpusimError(f"bars: no ok run has a value for {metric}")
    top = max(m for m, _ in stats.values() if math.isfinite(m))
    unit, size = _time_unit(top) if metric in TIME_METRICS else (None, 1.0)
    fig, (ax,) = _figure(width, height)
    w = 0.8 / len(labels)
    for j, p in enumerate(labels):
        s = policy_style(p)
        xs = [i + (j - (len(labels) - 1) / 2) * w for i in range(len(groups))]
        means = [stats[g, p][0] / size for g in groups]
        errs = [stats[g, p][1] / size if math.isfinite(stats[g, p][1]) else 0.0 for g in groups]
        ax.bar(xs, means, w * 0.9, yerr=errs, color=s.color, edgecolor="black", linewidth=0.5, label=p,
               error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "black"})
    if len(groups) == 1:
        ax.set_xticks([(j - (len(labels) - 1) / 2) * w for j in range(len(labels))], labels,
                      rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    else:
        ax.set_xticks(range(len(groups)), list(groups))
        ax.legend(ncols=min(len(labels), 3), loc="upper left")
    ax.grid(axis="x", visible=False)
    ax.set_ylabel(_metric_label(metric, unit) + f", mean ± {level:.0%} CI")
    return fig


def _draw_load(path: Path, width: float, height: float, metric="avg_jct", where=None, policies=None, level=0.95,
               logy=None):
    runs = _select(load_runs(path), where, policies)
    if "load" not in runs[0].row:
        raise GpusimError(f"{path}: load: the results have no load column")
    runs = [r for r in runs if math.isfinite(_num(r.row.get("load")))]
    if not runs:
        raise GpusimError(f"{path}: load: no ok run has a load")
    _single_condition(runs, "load", skip=("load",))
    _metric_values(runs, metric)
    curves = {}
    for policy, group in _by_policy(runs).items():
        loads = sorted({_num(r.row["load"]) for r in group})
        points = [(x, *mean_ci(_metric_values([r for r in group if _num(r.row["load"]) == x], metric), level))
                  for x in loads]
        curves[policy] = [pt for pt in points if math.isfinite(pt[1])]
    top = max((m for pts in curves.values() for _, m, _ in pts), default=math.nan)
    if not math.isfinite(top):
        raise GpusimError(f"load: no ok run has a value for {metric}")
    unit, size = _time_unit(top) if metric in TIME_METRICS else (None, 1.0)
    fig, (ax,) = _figure(width, height)
    for policy, pts in curves.items():
        s = policy_style(policy)
        xs, ms = [x for x, _, _ in pts], [m / size for _, m, _ in pts]
        hs = [h / size if math.isfinite(h) else 0.0 for _, _, h in pts]
        ax.plot(xs, ms, color=s.color, marker=s.marker, linestyle=s.linestyle, label=policy)
        ax.fill_between(xs, [m - h for m, h in zip(ms, hs)], [m + h for m, h in zip(ms, hs)], color=s.color,
                        alpha=0.2, linewidth=0)
    if logy if logy is not None else (metric in TIME_METRICS or "slowdown" in metric):
        ax.set_yscale("log")  # a band reaching zero or below is cut off below the lowest positive bound
        lows = [(m - h if math.isfinite(h) and m - h > 0 else m) / size for pts in curves.values() for _, m, h in pts]
        if any(v > 0 for v in lows):
            ax.set_ylim(bottom=min(v for v in lows if v > 0) / 1.5)
    ax.set_xlabel("Offered load (fraction of cluster GPUs)")
    ax.set_ylabel(_metric_label(metric, unit) + f", mean ± {level:.0%} CI")
    ax.legend(loc="upper left")
    return fig


def _draw_timeseries(path: Path, width: float, height: float, run=None, gpus=None):
    r = _one_run(path, run)
    rows = _read_csv(r.folder / "timeseries.csv", ("time", "busy_gpus", "queue_length"))
    if not rows:
        raise GpusimError(f"{r.folder / 'timeseries.csv'}: no rows")
    nodes = _nodes(r)
    total = gpus or (sum(n.num_gpus for n in nodes) if nodes else None)
    if not total:
        raise GpusimError(f"{r.folder}: cluster size unknown (no cluster in config.json); give gpus=N (--gpus)")
    t = [_num(x["time"]) for x in rows]
    unit, size = _time_unit(t[-1])
    fig, (top, bottom) = _figure(width, height, rows=2)
    top.step([v / size for v in t], [_num(x["busy_gpus"]) / total for x in rows], where="post", color=OKABE_ITO[5])
    top.set_ylim(0, 1.05)
    top.set_ylabel("Utilization\n(busy / all GPUs)")
    bottom.step([v / size for v in t], [_num(x["queue_length"]) for x in rows], where="post", color=OKABE_ITO[6])
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("Queue length\n(jobs)")
    bottom.set_xlabel(f"Time ({unit})")
    bottom.set_xlim(t[0] / size, t[-1] / size if t[-1] > t[0] else None)
    return fig


def _draw_gantt(path: Path, width: float, height: float, run=None, max_jobs=40, start=None, end=None):
    r = _one_run(path, run)
    intervals = gpu_intervals(_read_csv(r.folder / "events.csv", ("time", "kind", "job_id", "gpus")))
    lo, hi = start if start is not None else -math.inf, end if end is not None else math.inf
    intervals = [i for i in intervals if i.end > lo and i.start < hi]
    if not intervals:
        raise GpusimError(f"{r.folder / 'events.csv'}: no GPU allocation in the chosen time window")
    order = {job: k for k, job in enumerate(dict.fromkeys(i.job_id for i in intervals))}  # by first start
    shown = {job for job, k in order.items() if k < max_jobs}
    intervals = [i for i in intervals if i.job_id in shown]
    t0, t1 = max(lo, min(i.start for i in intervals)), min(hi, max(i.end for i in intervals))
    unit, size = _time_unit(t1)
    nodes = _nodes(r)
    total = sum(n.num_gpus for n in nodes) if nodes else max(i.gpu for i in intervals) + 1
    fig, (ax,) = _figure(width, height)
    colours = OKABE_ITO[1:]  # black would hide the job boundaries
    for i in intervals:
        a, b = max(i.start, lo), min(i.end, hi)
        ax.broken_barh([(a / size, (b - a) / size)], (i.gpu - 0.4, 0.8),
                       facecolors=colours[order[i.job_id] % len(colours)], edgecolor="white", linewidth=0.3)
    if nodes and len(nodes) <= 64:
        edge = 0
        for n in nodes[:-1]:
            edge += n.num_gpus
            ax.axhline(edge - 0.5, color="0.5", linewidth=0.4)
    ax.set_ylim(total - 0.5, -0.5)
    ax.set_xlim(t0 / size, t1 / size)
    ax.grid(False)
    ax.set_xlabel(f"Time ({unit})")
    ax.set_ylabel("GPU index")
    if len(order) > max_jobs:
        ax.set_title(f"first {max_jobs} of {len(order)} jobs", fontsize=7)
    return fig


def _draw_convergence(path: Path, width: float, height: float, xlabel="Iteration", ylabel="Value", logy=False,
                      level=0.95):
    path = path / "convergence.csv" if path.is_dir() else path
    rows = _read_csv(path, ("iteration", "value"))
    series: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        x, y = _num(row["iteration"]), _num(row["value"])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise GpusimError(f"{path}: iteration and value must be numbers, "
                              f"got {row['iteration']!r}, {row['value']!r}")
        series.setdefault(row.get("series") or "", {}).setdefault(x, []).append(y)
    if not series:
        raise GpusimError(f"{path}: no rows")
    fig, (ax,) = _figure(width, height)
    for name, points in series.items():
        s = policy_style(name) if name else Style("#000000", "", "-")
        xs = sorted(points)
        stats = [mean_ci(points[x], level) for x in xs]
        ms = [m for m, _ in stats]
        ax.plot(xs, ms, color=s.color, linestyle=s.linestyle, marker=s.marker, markevery=max(1, len(xs) // 8),
                label=name or None)
        if any(math.isfinite(h) for _, h in stats):  # repeated iterations: several seeds
            hs = [h if math.isfinite(h) else 0.0 for _, h in stats]
            ax.fill_between(xs, [m - h for m, h in zip(ms, hs)], [m + h for m, h in zip(ms, hs)], color=s.color,
                            alpha=0.2, linewidth=0)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if any(series):
        ax.legend()
    return fig


#: kind → (drawing function, its default figure height in inches).
KINDS = {"jct-cdf": (_draw_cdf, HEIGHT), "bars": (_draw_bars, HEIGHT), "load": (_draw_load, HEIGHT),
         "timeseries": (_draw_timeseries, 3.0), "gantt": (_draw_gantt, 2.6), "convergence": (_draw_convergence, HEIGHT)}


def _options(kind: str) -> list[str]:
    import inspect

    return [p for p in inspect.signature(KINDS[kind][0]).parameters if p not in ("path", "width", "height")]


def _check(**options) -> None:
    """Fail with one line on an option value no figure can use."""
    def real(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    for name in ("width", "height"):
        if not (real(options[name]) and options[name] > 0):
            raise GpusimError(f"{name} must be a positive number of inches, got {options[name]!r}")
    for name in ("max_jobs", "gpus"):
        value = options.get(name, 1)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise GpusimError(f"{name} must be a positive integer, got {value!r}")
    level = options.get("level", 0.95)
    if not (real(level) and 0 < level < 1):
        raise GpusimError(f"level must be a confidence level between 0 and 1, got {level!r}")
    start, end = options.get("start"), options.get("end")
    for name, value in (("start", start), ("end", end)):
        if value is not None and not real(value):
            raise GpusimError(f"{name} must be a number of seconds, got {value!r}")
    if start is not None and end is not None and start >= end:
        raise GpusimError(f"start ({start}) must be before end ({end})")
    if not isinstance(options.get("where") or {}, Mapping):
        raise GpusimError(f"where must map column names to values, got {options['where']!r}")
    policies = options.get("policies")
    if policies is not None and (isinstance(policies, str) or not all(isinstance(p, str) for p in policies)):
        raise GpusimError(f"policies must be a list of policy labels, got {policies!r}")


def plot(dir_or_run: str | Path, kind: str, out: str | Path, **options) -> Path:
    """Draw figure ``kind`` from the files under ``dir_or_run`` into ``out`` (.pdf, .svg or .png); returns ``out``.

    Options (see docs/plots.md): width, height (inches) for every kind; where (column → value) and
    policies for jct-cdf, bars and load; metric and level for bars and load; logy for load and
    convergence; run for timeseries and gantt; gpus for timeseries; max_jobs, start, end for gantt;
    xlabel, ylabel for convergence. Raises GpusimError for anything it cannot draw.
    """
    if kind not in KINDS:
        raise GpusimError(f"unknown plot kind {kind!r}; choose one of {', '.join(KINDS)}")
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GpusimError(f"{out}: write a .pdf, .svg or .png file")
    width, height = options.pop("width", WIDTH), options.pop("height", KINDS[kind][1])
    bad = sorted(set(options) - set(_options(kind)))
    if bad:
        raise GpusimError(f"{kind}: unknown option(s) {', '.join(bad)}; it takes width, height, "
                          + ", ".join(_options(kind)))
    _check(width=width, height=height, **options)
    source = Path(dir_or_run)
    if not source.exists():
        raise GpusimError(f"{source}: no such file or folder")
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = KINDS[kind][0](source, width, height, **options)
        out.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}[fmt]
        try:
            fig.savefig(out, format=fmt, metadata=metadata)
        except OSError as err:
            raise GpusimError(f"{out}: cannot write: {err.strerror or err}") from None
    return out


def standard_figures(dir: str | Path, outdir: str | Path, fmt: str = "pdf") -> dict[str, Path]:
    """Every figure that fits a sweep folder, written into ``outdir``; name → path.

    jct-cdf and bars for STANDARD_METRICS per setting (one set when all runs share trace, cluster,
    placement, calibration and load; per setting, suffixed, for up to MAX_CONDITIONS of them, else
    none); load curves of STANDARD_METRICS when there are several loads; timeseries and gantt of the
    first ok run. Figures whose input files are absent are left out.
    """
    runs, outdir = load_runs(dir), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}

    def draw(name: str, kind: str, **options) -> None:
        made[name] = plot(dir, kind, outdir / f"{name}.{fmt}", **options)

    varying = _varying(runs)
    settings = list(dict.fromkeys(tuple((c, r.row.get(c, "")) for c in varying) for r in runs))
    if len(settings) <= MAX_CONDITIONS:
        for setting in settings:
            suffix = "".join("-" + re.sub(r"[^A-Za-z0-9.]+", "_", f"{c}{v}") for c, v in setting)
            chosen = [r for r in runs if all(r.row.get(c, "") == v for c, v in setting)]
            if all((r.folder / "jobs.csv").is_file() for r in chosen):
                draw(f"jct-cdf{suffix}", "jct-cdf", where=dict(setting))
        for metric in STANDARD_METRICS:  # one figure, grouped by setting when there are several
            if metric in runs[0].row:
                draw(f"bars-{metric}", "bars", metric=metric)
    if "load" in varying and not _varying(runs, skip=("load",)):
        for metric in STANDARD_METRICS:
            if metric in runs[0].row:
                draw(f"load-{metric}", "load", metric=metric)
    first = runs[0]
    if (first.folder / "timeseries.csv").is_file() and _nodes(first):
        draw("timeseries", "timeseries", run=first.run_id)
    if (first.folder / "events.csv").is_file():
        draw("gantt", "gantt", run=first.run_id)
    return made


# --- command line ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise GpusimError(f"plot: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gpusim plot", description="Draw a figure from a sweep, compare or run folder (no simulation).")
    p.add_argument("path", metavar="DIR", help="sweep/compare/run folder, or a convergence CSV")
    p.add_argument("--kind", required=True, choices=list(KINDS))
    p.add_argument("--out", required=True, metavar="FIG", help="figure file: .pdf, .svg or .png")
    p.add_argument("--metric", help="summary metric for bars and load (default avg_jct)")
    p.add_argument("--run", metavar="RUN_ID", help="run for timeseries and gantt (default: the first ok run)")
    p.add_argument("--where", action="append", default=[], metavar="COL=VALUE", help="keep runs with this setting")
    p.add_argument("--policies", help="comma-separated policies to show, in this order")
    p.add_argument("--gpus", type=int, help="cluster GPUs for timeseries when config.json lacks the cluster")
    p.add_argument("--max-jobs", type=int, help="gantt: at most this many jobs (default 40)")
    p.add_argument("--start", type=float, help="gantt: window start, seconds")
    p.add_argument("--end", type=float, help="gantt: window end, seconds")
    p.add_argument("--logy", action=argparse.BooleanOptionalAction, help="log y axis (load, convergence)")
    p.add_argument("--xlabel", help="convergence: x axis label")
    p.add_argument("--ylabel", help="convergence: y axis label")
    p.add_argument("--width", type=float, help=f"inches (default {WIDTH})")
    p.add_argument("--height", type=float, help="inches")
    p.add_argument("--force", action="store_true", help="overwrite FIG")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``gpusim plot DIR --kind K --out FIG [options]``; returns the exit status, raises GpusimError."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise GpusimError(f"{out}: exists; use --force to overwrite")
    if not out.parent.is_dir():
        raise GpusimError(f"{out}: folder {out.parent} does not exist")
    where = {}
    for pair in args.where:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise GpusimError(f"--where {pair!r}: expected COLUMN=VALUE")
        where[key.strip()] = value.strip()
    options = {"metric": args.metric, "run": args.run, "where": where or None, "gpus": args.gpus,
               "policies": [p.strip() for p in args.policies.split(",") if p.strip()] if args.policies else None,
               "max_jobs": args.max_jobs, "start": args.start, "end": args.end, "logy": args.logy,
               "xlabel": args.xlabel, "ylabel": args.ylabel, "width": args.width, "height": args.height}
    options = {k: v for k, v in options.items() if v is not None}
    plot(args.path, args.kind, out, **options)
    print(f"wrote {out}")
    return 0
