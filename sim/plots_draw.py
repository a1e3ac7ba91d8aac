"""The drawing behind each figure kind: one policy style everywhere, a one-column matplotlib figure,
and a function per kind (jct-cdf, bars, load, timeseries, gantt, convergence) that turns what
sim.plots_data reads into a figure. matplotlib is imported inside :func:`_figure` only; sim.plots
applies the rc style and saves. See docs/plots.md.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.errors import GpusimError
from sim.plots_data import (Run, _by_policy, _nodes, _num, _one_run, _read_csv, _select, _single_condition,
                            _varying, gpu_intervals, load_runs)

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

TIME_METRICS = ("avg_jct", "median_jct", "p95_jct", "p99_jct", "avg_wait", "makespan")
METRIC_LABELS = {
    "jobs": "Jobs", "unfinished": "Unfinished jobs", "avg_jct": "Mean JCT", "median_jct": "Median JCT",
    "p95_jct": "95th-percentile JCT", "p99_jct": "99th-percentile JCT", "avg_wait": "Mean wait",
    "makespan": "Makespan", "utilization": "GPU utilization (fraction)", "avg_slowdown": "Mean slowdown (ratio)",
    "avg_bounded_slowdown": "Mean bounded slowdown (ratio)", "preemptions": "Preemptions (count)",
}


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
    if path.is_dir():  # a folder: its convergence.csv, or the history.csv `gpusim ga --out` writes
        path = next((path / n for n in ("convergence.csv", "history.csv") if (path / n).exists()), path / "convergence.csv")
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
