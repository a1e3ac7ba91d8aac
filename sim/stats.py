"""Statistics over a sweep's replications, and the ``gpusim summarize`` command.

A sweep folder's ``results.csv`` holds one row per run (see docs/experiments.md). Runs that differ
only in their seed are replications of one *configuration* (policy, trace, cluster, placement,
load, calibration). :func:`summarize` gives, per configuration and metric, the mean over the ok
runs with a Student-t confidence interval; with a baseline policy it also compares every policy
with the baseline *on the same seeds* (a paired comparison: with common random numbers, each seed
gives both policies the same jobs, so the seed-to-seed spread cancels out of the differences).

The summary is a list of flat records (one per configuration and metric, in :data:`TABLE_COLUMNS`);
the renderers turn it into text, Markdown, LaTeX, HTML or CSV. Pure functions; scipy loads only
when an interval is computed.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sim.errors import GpusimError
from sim.metrics import SUMMARY_KEYS

RUN_COLUMNS = ("run_id", "status", "error", "policy", "trace", "cluster", "placement", "load", "seed", "calibration")
CONFIG_KEYS = ("policy", "trace", "cluster", "placement", "load", "calibration")
DEFAULT_METRICS = ("avg_jct", "p95_jct", "avg_wait", "utilization", "avg_bounded_slowdown")
TABLE_COLUMNS = (*CONFIG_KEYS, "metric", "n", "mean", "ci", "failed", "missing",
                 "baseline", "pairs", "unpaired", "diff", "diff_ci", "rel_diff_pct")
#: Metric columns that count something, read as ints (``sim.metrics``: ``summary``, ``fault_summary``,
#: ``autoscale_summary``, ``_resizes``); every other metric column is read as a float.
COUNT_METRICS = frozenset({"jobs", "unfinished", "preemptions", "failures", "kills", "jobs_hit", "peak_nodes",
                           "resizes"})
#: Metrics that a run leaves out when they are zero (``sim.metrics._resizes``): an ok run without
#: one had none, so it counts as 0, not as missing.
ZERO_WHEN_ABSENT = frozenset({"resizes"})
_INTS = {"seed"} | COUNT_METRICS  # deadline_jobs, a count too, has always been read as a float
CONFIDENCE = 0.95


# --- reading ---------------------------------------------------------------------------------


def read_results(folder: str | Path) -> list[dict]:
    """The runs of a sweep folder's results.csv, typed: seed and counts int, load and metrics float,
    empty cells None, other columns text. Every column after :data:`RUN_COLUMNS` and the summary
    metrics is a metric only some runs have (``sim.sweep.result_columns``: faults, autoscaling,
    shares, stragglers, resizes), read the same way: ints for :data:`COUNT_METRICS`, floats
    otherwise. A missing or malformed file is a one-line GpusimError naming file:line (and the
    column, for a bad cell)."""
    folder = Path(folder)
    path = folder if folder.name == "results.csv" and folder.is_file() else folder / "results.csv"
    if not folder.exists():
        raise GpusimError(f"{folder}: no such folder")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GpusimError(f"{path}: not found; is {folder} a sweep folder (gpusim sweep)?") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GpusimError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise GpusimError(f"{path}:1: empty file; expected a header with {', '.join(RUN_COLUMNS)}, ...") from None
    except csv.Error as err:
        raise GpusimError(f"{path}:1: {err}") from None
    missing = [c for c in (*RUN_COLUMNS, *SUMMARY_KEYS) if c not in header]
    if missing:
        raise GpusimError(f"{path}:1: missing column(s) {', '.join(missing)}")
    rows, line = [], reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num  # a quoted error text may span lines
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise GpusimError(f"{path}:{start}: {len(cells)} fields, the header has {len(header)}")
            rows.append(_typed(dict(zip(header, cells)), f"{path}:{start}"))
    except csv.Error as err:
        raise GpusimError(f"{path}:{reader.line_num}: {err}") from None
    return rows


def _int(text: str) -> int:
    """An integer cell; ``4.0`` too (a table tool may have rewritten the file)."""
    try:
        return int(text)
    except ValueError:
        x = float(text)
        if not x.is_integer():
            raise
        return int(x)


def _typed(raw: dict[str, str], where: str) -> dict:
    row: dict = {}
    for key, text in raw.items():
        text = text.strip()
        if not text:
            row[key] = None
        elif key in ("seed", "load") or key not in RUN_COLUMNS:  # every other column is a metric
            try:
                row[key] = _int(text) if key in _INTS else float(text)
            except ValueError:
                kind = "an integer" if key in _INTS else "a number"
                raise GpusimError(f"{where}: column {key!r} must be {kind}, got {text!r}") from None
        else:
            row[key] = text
    if row["status"] not in ("ok", "failed"):
        raise GpusimError(f"{where}: status must be 'ok' or 'failed', got {row['status']!r}")
    for key in ("run_id", "policy", "seed"):
        if row[key] is None:
            raise GpusimError(f"{where}: column {key!r} is empty")
    return row


# --- statistics ------------------------------------------------------------------------------


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> tuple[float, float, int]:
    """(mean, half-width, n): the mean of ``values`` and the half-width of its two-sided Student-t
    confidence interval, ``t(1 - (1 - confidence)/2, n - 1) * s / sqrt(n)`` with ``s`` the sample
    standard deviation. Mean NaN for n = 0; half-width NaN for n < 2."""
    if not 0 < confidence < 1:
        raise GpusimError(f"confidence must be between 0 and 1, got {confidence!r}")
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0
    if n >= 2 and min(xs) == max(xs):  # identical replications (a deterministic policy on a fixed trace)
        return xs[0], 0.0, n
    mean = math.fsum(xs) / n
    if n < 2:
        return mean, math.nan, n
    from scipy.stats import t

    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    return mean, float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n), n


def group(rows: Iterable[Mapping], by: Sequence[str] = CONFIG_KEYS) -> dict[tuple, list[Mapping]]:
    """Rows by the values of the ``by`` columns (replications of one configuration), keys in order
    of first appearance."""
    out: dict[tuple, list[Mapping]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in by), []).append(r)
    return out


def _value(row: Mapping, metric: str) -> float | None:
    """The metric of an ok run, or None when the run failed or the value is missing or not finite
    (0 when missing for a metric of :data:`ZERO_WHEN_ABSENT`)."""
    x = row.get(metric)
    if x is None and metric in ZERO_WHEN_ABSENT:
        x = 0
    return float(x) if row.get("status") == "ok" and x is not None and math.isfinite(x) else None


def _by_seed(runs: Sequence[Mapping], metric: str) -> dict[int, float]:
    return {r["seed"]: v for r in runs if (v := _value(r, metric)) is not None}


def metric_columns(rows: Sequence[Mapping]) -> list[str]:
    """The metrics ``rows`` have: the summary metrics, then every other column but
    :data:`RUN_COLUMNS` (the metrics only some runs have) in order of first appearance; the summary
    metrics alone when there are no rows."""
    if not rows:
        return list(SUMMARY_KEYS)
    present = dict.fromkeys(k for r in rows for k in r if k not in RUN_COLUMNS)
    return [k for k in SUMMARY_KEYS if k in present] + [k for k in present if k not in SUMMARY_KEYS]


def _check_metrics(rows: Sequence[Mapping], metrics: Sequence[str]) -> None:
    if not metrics:
        raise GpusimError("give at least one metric")
    known = metric_columns(rows)
    for m in metrics:
        if m not in known:
            raise GpusimError(f"unknown metric {m!r}; choose from {', '.join(known)}")


def _check_unique(configs: Mapping[tuple, Sequence[Mapping]]) -> None:
    for runs in configs.values():
        seen: dict[int, str] = {}
        for r in runs:
            if r["seed"] in seen:
                raise GpusimError(f"runs {seen[r['seed']]} and {r['run_id']} have the same configuration and "
                                  f"seed {r['seed']}; they differ in a setting results.csv does not show")
            seen[r["seed"]] = r["run_id"]


def summarize(rows: Sequence[Mapping], metrics: Sequence[str] = DEFAULT_METRICS,
              baseline: str | None = None) -> list[dict]:
    """One record per metric and configuration (metric-major, configurations in order of first
    appearance), with the columns of :data:`TABLE_COLUMNS`:

    ``metrics``: any of :func:`metric_columns` (the summary metrics and those only some runs have).
    ``n``, ``mean``, ``ci``: the ok runs with a finite value, their mean and 95 % half-width;
    ``failed``: failed runs of the configuration; ``missing``: ok runs without a value. With
    ``baseline`` (a policy label), every configuration is paired with the baseline's configuration
    that has the same other settings: ``pairs`` seeds with a value on both sides, ``unpaired`` seeds
    with a value on one side only (left out); ``diff`` and ``diff_ci``: the mean of the per-seed
    differences (this policy − baseline) and its t half-width; ``rel_diff_pct``: ``100 * diff /``
    the baseline's mean over the same seeds. These are None on the baseline's own records and where
    no baseline configuration matches.
    """
    rows = list(rows)
    _check_metrics(rows, metrics)
    configs = group(rows)
    _check_unique(configs)
    if baseline is not None and not any(r["policy"] == baseline for r in rows):
        labels = ", ".join(dict.fromkeys(r["policy"] for r in rows)) or "none"
        raise GpusimError(f"unknown baseline {baseline!r}; policies in the results: {labels}")
    table = []
    for metric in metrics:
        for key, runs in configs.items():
            config = dict(zip(CONFIG_KEYS, key))
            mean, ci, n = mean_ci(v for r in runs if (v := _value(r, metric)) is not None)
            failed = sum(1 for r in runs if r["status"] == "failed")
            record = {**config, "metric": metric, "n": n, "mean": mean, "ci": ci, "failed": failed,
                      "missing": len(runs) - failed - n, "baseline": baseline, "pairs": None, "unpaired": None,
                      "diff": None, "diff_ci": None, "rel_diff_pct": None}
            if baseline is not None and config["policy"] != baseline:
                record.update(_paired(runs, configs.get((baseline, *key[1:]), []), metric))
            table.append(record)
    return table


def _paired(runs: Sequence[Mapping], base_runs: Sequence[Mapping], metric: str) -> dict:
    mine, base = _by_seed(runs, metric), _by_seed(base_runs, metric)
    seeds = sorted(mine.keys() & base.keys())
    unpaired = len(mine.keys() ^ base.keys())
    if not seeds:
        return {"pairs": 0, "unpaired": unpaired}
    diff, diff_ci, pairs = mean_ci(_difference(mine[s], base[s]) for s in seeds)
    base_mean = math.fsum(base[s] for s in seeds) / pairs
    rel = 100 * diff / base_mean if base_mean != 0 else math.nan
    return {"pairs": pairs, "unpaired": unpaired, "diff": diff, "diff_ci": diff_ci, "rel_diff_pct": rel}


def _difference(a: float, b: float) -> float:
    """``a - b``, exactly 0 when the two agree to 12 significant digits: the same quantity summed in
    another order (utilization of two policies that keep the same GPUs busy) differs in its last
    bits, and "-3.33e-16 ± 0" would read as a finding."""
    d = a - b
    return 0.0 if abs(d) <= 1e-12 * max(abs(a), abs(b)) else d


def failures(rows: Iterable[Mapping]) -> list[Mapping]:
    """The failed runs, in file order."""
    return [r for r in rows if r["status"] == "failed"]


# --- rendering -------------------------------------------------------------------------------


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, int):
        return str(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def _pm(mean: float | None, half: float | None) -> str:
    """``mean ± half`` to the decimal place of ``half``'s second significant figure (whole numbers at
    least); just the mean when there is no interval."""
    if half is None or not math.isfinite(half) or mean is None or not math.isfinite(mean):
        return _num(mean)
    if half == 0:
        return f"{_num(mean)} ± 0"
    places = min(6, max(0, 1 - math.floor(math.log10(half))))
    return f"{mean:,.{places}f} ± {half:,.{places}f}"


def constants(table: Sequence[Mapping]) -> dict[str, object]:
    """The configuration settings (other than policy) and the metric shared by every record."""
    out = {}
    for key in (*CONFIG_KEYS[1:], "metric"):
        values = {r[key] for r in table}
        if len(values) == 1:
            out[key] = values.pop()
    return out


def cells(table: Sequence[Mapping]) -> tuple[list[str], list[list[str]], int]:
    """The table for people: header, rows of text (intervals as ``mean ± half-width``), and how many
    leading columns are labels rather than numbers. Columns
    shared by every record (see :func:`constants`) and settings never given are left out; policy
    always shows; failed/missing and unpaired counts show only when some are not zero."""
    shared = constants(table)
    keys = [k for k in (*CONFIG_KEYS, "metric")
            if k == "policy" or (k not in shared and any(r[k] is not None for r in table))]
    show_failed = any(r["failed"] or r["missing"] for r in table)
    compare = any(r["baseline"] is not None for r in table)
    show_unpaired = any(r["unpaired"] for r in table)
    header = [*keys, "mean ± 95% CI", "n"] + (["failed", "missing"] if show_failed else [])
    if compare:
        header += [f"diff vs {table[0]['baseline']} ± 95% CI", "diff %", "pairs"]
        header += ["unpaired"] if show_unpaired else []
    rows = []
    for r in table:
        row = [_num(r[k]) if isinstance(r[k], float) else ("-" if r[k] is None else str(r[k])) for k in keys]
        row += [_pm(r["mean"], r["ci"]), str(r["n"])]
        row += [str(r["failed"]), str(r["missing"])] if show_failed else []
        if compare and r["policy"] == r["baseline"]:
            row += ["(baseline)", "", ""] + ([""] if show_unpaired else [])
        elif compare:
            pct = r["rel_diff_pct"]
            row += [_pm(r["diff"], r["diff_ci"]), "-" if pct is None or math.isnan(pct) else f"{pct:+.1f}%",
                    str(r["pairs"])] + ([str(r["unpaired"])] if show_unpaired else [])
        rows.append(row)
    return header, rows, len(keys)


def _context(table: Sequence[Mapping]) -> str:
    return ", ".join(f"{k} {_num(v) if isinstance(v, float) else v}" for k, v in constants(table).items() if v is not None)


def to_text(table: Sequence[Mapping]) -> str:
    """Aligned columns for the terminal, after a line naming the settings shared by every row."""
    header, rows, labels = cells(table)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [_context(table)] if _context(table) else []
    for r in [header, *rows]:
        lines.append("  ".join(c.ljust(w) if i < labels else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(table: Sequence[Mapping]) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), after a line naming the shared
    settings."""
    header, rows, labels = cells(table)
    context = _context(table)
    lines = [context, ""] if context else []
    lines.append("| " + " | ".join(map(_md_cell, header)) + " |")
    lines.append("|" + "|".join(":---" if i < labels else "---:" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (a leading ``[`` braced, so that it is not
    read as the optional argument of the previous row's ``\\\\``)."""
    out = "".join(_LATEX.get(c, c) for c in text)
    return "{[}" + out[1:] if out.startswith("[") else out


def to_latex(table: Sequence[Mapping]) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); the shared settings as a comment."""
    header, rows, labels = cells(table)

    def esc(text: str) -> str:
        return latex_escape(text).replace("±", r"$\pm$")

    context = _context(table)
    lines = [f"% {latex_escape(context)}"] if context else []
    lines += [r"\begin{tabular}{" + "l" * labels + "r" * (len(header) - labels) + "}", r"\toprule",
              " & ".join(map(esc, header)) + r" \\", r"\midrule"]
    lines += [" & ".join(map(esc, r)) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_html(table: Sequence[Mapping]) -> str:
    """An HTML ``<table>`` (numbers right-aligned), after a paragraph naming the shared settings."""
    header, rows, labels = cells(table)
    context = _context(table)
    out = [f"<p>{html.escape(context)}</p>"] if context else []
    out.append("<table>\n<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" if i < labels else f'<td class="num">{html.escape(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody>\n</table>")
    return "\n".join(out) + "\n"


def csv_text(table: Sequence[Mapping]) -> str:
    """The records as CSV with every column of :data:`TABLE_COLUMNS`; floats as repr, None and NaN
    empty."""
    def cell(x):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return ""
        return repr(x) if isinstance(x, float) else x

    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    w.writerow(TABLE_COLUMNS)
    for r in table:
        w.writerow(cell(r[k]) for k in TABLE_COLUMNS)
    return f.getvalue()


def to_csv(table: Sequence[Mapping], path: str | Path) -> None:
    """Write :func:`csv_text` to ``path``."""
    try:
        Path(path).write_text(csv_text(table), encoding="utf-8")
    except OSError as err:
        raise GpusimError(f"{path}: cannot write: {err.strerror}") from None


# --- the command -----------------------------------------------------------------------------

RENDERERS = {"text": to_text, "markdown": to_markdown, "latex": to_latex, "csv": csv_text}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line GpusimErrors naming the command."""

    def error(self, message: str):  # one line, not usage + message
        command = self.prog.partition(" ")[2]
        raise GpusimError(f"{command}: {message}" if command else message)


def metric_list(text: str) -> list[str]:
    """``avg_jct,p95_jct`` as a list (the ``--metrics`` flag)."""
    return [m.strip() for m in text.split(",") if m.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="gpusim summarize", description="Means with 95% confidence intervals over a sweep's seeds, "
                "and paired comparisons against a baseline policy.")
    p.add_argument("dir", metavar="DIR", help="a sweep folder (with results.csv)")
    p.add_argument("--metrics", type=metric_list, default=list(DEFAULT_METRICS), metavar="M1,M2",
                   help=f"metrics to summarize (default {','.join(DEFAULT_METRICS)}; any of {', '.join(SUMMARY_KEYS)}, "
                   "or another metric column of results.csv, such as goodput in a sweep with faults)")
    p.add_argument("--baseline", metavar="POLICY", help="compare every policy with this one on the same seeds")
    p.add_argument("--format", choices=tuple(RENDERERS), default="text", help="output format (default text)")
    p.add_argument("--out", metavar="FILE", help="write the table to FILE instead of printing it")
    p.add_argument("--force", action="store_true", help="overwrite FILE")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``gpusim summarize DIR ...``; returns the exit status. User errors raise GpusimError (one line)
    for the caller to report; notes about failed and unpaired runs go to stderr."""
    args = build_parser().parse_args(argv)
    rows = read_results(args.dir)
    table = summarize(rows, args.metrics, args.baseline)
    text = RENDERERS[args.format](table)
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            raise GpusimError(f"{out}: exists; use --force to overwrite")
        if not out.parent.is_dir():
            raise GpusimError(f"{out}: folder {out.parent} does not exist")
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    else:
        sys.stdout.write(text)
    for note in notes(rows, table):
        print(f"gpusim: note: {note}", file=sys.stderr)
    return 0


def notes(rows: Sequence[Mapping], table: Sequence[Mapping]) -> list[str]:
    """What a reader of the table should know: failed runs, runs without a value, unpaired seeds, and
    runs stopped with unfinished jobs (their job statistics are censored)."""
    out = []
    failed = failures(rows)
    if failed:
        first = (failed[0].get("error") or "no error text").splitlines()[0]
        out.append(f"{len(failed)} of {len(rows)} runs failed and are left out (first: {failed[0]['run_id']}: {first})")
    per_metric = group(table, ("metric",)).values()
    missing = max((sum(r["missing"] for r in rs) for rs in per_metric), default=0)
    if missing:
        out.append(f"up to {missing} ok run(s) per metric have no finite value (e.g. no job finished) and are left out")
    unpaired = max((sum(r["unpaired"] or 0 for r in rs) for rs in per_metric), default=0)
    if unpaired:
        out.append(f"up to {unpaired} run(s) per metric have no partner with the same seed on the other side of a "
                   "comparison and are left out of it")
    if any(r["baseline"] is not None and r["policy"] != r["baseline"] and not r["pairs"] for r in table):
        out.append("some configurations have no baseline run with the same settings and seeds")
    stopped = [r["unfinished"] for r in rows if r["status"] == "ok" and r.get("unfinished")]
    if stopped:  # censored: the jobs left running at the stop are not in the averages
        ok = sum(1 for r in rows if r["status"] == "ok")
        out.append(f"{len(stopped)} of {ok} ok runs stopped with unfinished jobs (up to {max(stopped)}); their job "
                   "statistics (JCT, wait, slowdown) cover finished jobs only and understate")
    return out
