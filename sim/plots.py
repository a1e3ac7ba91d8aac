"""Publication figures drawn from the files that runs and sweeps write; never from a new simulation.

Inputs: a sweep folder (``results.csv`` plus ``runs/<run_id>/``), a ``gpusim compare`` folder
(``summary.csv`` plus ``runs/``), a single run folder (``jobs.csv``, ``events.csv``,
``timeseries.csv``, ``config.json``), or, for ``convergence``, a CSV of ``iteration,value[,series]``.
Output format follows the file's extension: pdf and svg are vector, png is 300 dpi. Figures are one
column wide (3.4 in) with 8 pt text. Each policy keeps one colour, marker and line style in every
figure (:func:`policy_style`). matplotlib is imported only when a figure is drawn, through its Agg
canvas, with the style applied in an ``rc_context`` (no global matplotlib state is changed).
This module is the entry point (the kinds registry, :func:`plot`, :func:`standard_figures`, ``gpusim plot``);
sim.plots_data reads the folders and sim.plots_draw draws each kind. Their public names are importable
from here. See docs/plots.md.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sim.errors import GpusimError
from sim.plots_data import CONDITIONS, Interval, Run, _nodes, _varying, gpu_intervals, load_runs
from sim.plots_draw import (FIXED_STYLES, METRIC_LABELS, OKABE_ITO, TIME_METRICS, Style, _draw_bars, _draw_cdf,
                            _draw_convergence, _draw_gantt, _draw_load, _draw_timeseries, _time_unit, mean_ci,
                            policy_style)  # _time_unit: for tests that check the units a figure shows

__all__ = ["CONDITIONS", "FIXED_STYLES", "FORMATS", "HEIGHT", "KINDS", "MAX_CONDITIONS", "METRIC_LABELS",
           "OKABE_ITO", "RC", "STANDARD_METRICS", "TIME_METRICS", "WIDTH", "Interval", "Run", "Style", "build_parser",
           "gpu_intervals", "load_runs", "main", "mean_ci", "plot", "policy_style", "standard_figures"]

FORMATS = ("pdf", "svg", "png")
WIDTH, HEIGHT = 3.4, 2.3  # inches: one column of a two-column paper
RC = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.frameon": False, "lines.linewidth": 1.2, "lines.markersize": 4,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.linewidth": 0.4,
    "grid.alpha": 0.4, "pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "gpusim", "savefig.dpi": 300,
}

STANDARD_METRICS = ("avg_jct", "p95_jct", "avg_wait", "utilization")
MAX_CONDITIONS = 6  # standard_figures draws per-condition figures for at most this many conditions


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
