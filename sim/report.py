"""One self-contained report of a sweep folder, and the ``gpusim report`` command.

The report (HTML, or Markdown when the output ends with ``.md``) holds the experiment (its name,
specification and versions, from manifest.json when present), the summary table of every metric
(means with 95 % intervals over the seeds, and the paired comparison with a baseline policy when
one is given; see :mod:`sim.stats`), the failed runs with their errors, and the given figures,
embedded as base64 data so that the file stands alone. Nothing here re-runs a simulation.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from sim import stats
from sim.errors import GpusimError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml"}
STYLE = """body{font-family:system-ui,sans-serif;max-width:75rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}th{border-bottom:2px solid #444}
pre{background:#f6f6f6;padding:.75rem;overflow-x:auto}figure{margin:1rem 0}img{max-width:100%}
.note{color:#555}"""


# --- what goes in --------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict | None:
    """manifest.json of a sweep folder, or None when it has none; malformed JSON is a GpusimError."""
    path = folder / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise GpusimError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    except json.JSONDecodeError as err:
        raise GpusimError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise GpusimError(f"{path}: expected a JSON object")
    return data


def _spec(manifest: Mapping | None) -> tuple[str | None, str, str]:
    """(the experiment's name, the specification as text, its language for a code block): the spec
    file's own text (``spec_text``) when the manifest has it, else its parsed ``spec`` as JSON."""
    manifest = manifest or {}
    spec, text = manifest.get("spec"), manifest.get("spec_text")
    names = [manifest.get("name"), spec.get("name") if isinstance(spec, Mapping) else None]
    if isinstance(text, str) and text.strip():
        try:
            names.append(tomllib.loads(text).get("name"))
        except tomllib.TOMLDecodeError:
            pass
        body, language = text, "toml"
    elif isinstance(spec, Mapping):
        body, language = json.dumps(spec, indent=2, default=str), "json"
    else:
        body, language = "", ""
    name = next((n for n in names if isinstance(n, str) and n.strip()), None)
    return name, body, language


def _facts(manifest: Mapping) -> list[tuple[str, str]]:
    """Everything in the manifest but the spec and the runs (counted), flattened to (key, text) pairs."""
    facts = []
    for key, value in manifest.items():
        if key in ("spec", "spec_text", "name"):
            continue
        if key == "runs" and isinstance(value, (list, dict)):
            facts.append(("runs", str(len(value))))
        elif isinstance(value, Mapping):
            facts += [(f"{key}.{k}", v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in value.items()]
        else:
            facts.append((key, value if isinstance(value, str) else json.dumps(value, default=str)))
    return facts


def _image(name: str, path: Path) -> tuple[str, str]:
    """(MIME type, base64 data) of a figure file."""
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise GpusimError(f"figure {name!r}: {path}: not a {', '.join(sorted(IMAGE_TYPES))} file")
    try:
        return mime, base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as err:
        raise GpusimError(f"figure {name!r}: {path}: cannot read: {err.strerror}") from None


# --- writing ---------------------------------------------------------------------------------


def write_report(folder: str | Path, out_path: str | Path, figures: Mapping[str, Path] | None = None, *,
                 baseline: str | None = None, metrics: Sequence[str] = stats.DEFAULT_METRICS,
                 notes: Sequence[str] = ()) -> Path:
    """Write the report of the sweep in ``folder`` to ``out_path`` (Markdown if it ends with .md,
    else HTML) and return its path. ``figures`` maps a caption to a PNG, JPEG, GIF or SVG file,
    embedded in that order; ``notes`` are shown in the figures section (e.g. why there are none).
    SVG is embedded as a data URI rather than inline, so that the ids inside two figures cannot
    clash."""
    folder, out_path = Path(folder), Path(out_path)
    rows = stats.read_results(folder)
    table = stats.summarize(rows, metrics, baseline)
    manifest = read_manifest(folder)
    images = [(name, *_image(name, Path(path))) for name, path in (figures or {}).items()]
    write = _markdown if out_path.suffix.lower() == ".md" else _html
    text = write(folder, manifest, rows, table, baseline, images, list(notes) + stats.notes(rows, table))
    try:
        out_path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise GpusimError(f"{out_path}: cannot write: {err.strerror}") from None
    return out_path


def _title(folder: Path, manifest: Mapping | None) -> str:
    return _spec(manifest)[0] or folder.resolve().name


def _counts(rows: Sequence[Mapping]) -> str:
    failed = len(stats.failures(rows))
    return f"{len(rows)} runs: {len(rows) - failed} ok, {failed} failed."


_EXPLAIN = ("Each cell is the mean over the seeds (replications) of one configuration with the half-width of "
            "its 95% Student-t confidence interval; n counts the ok runs used.")
_EXPLAIN_PAIRED = (" 'diff' is the mean over seeds of (policy − {b}) on the same seeds, with its paired 95% "
                   "interval; 'diff %' is it relative to {b}'s mean on those seeds. A difference whose interval "
                   "excludes 0 is significant at the 5% level.")


def _failed_table(rows: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    keys = [k for k in stats.CONFIG_KEYS if any(r.get(k) is not None for r in rows)]
    return (["run", *keys, "seed", "error"],
            [[r["run_id"], *(str(r.get(k) if r.get(k) is not None else "-") for k in keys), str(r["seed"]),
              r.get("error") or ""] for r in stats.failures(rows)])


def _html(folder, manifest, rows, table, baseline, images, notes) -> str:
    e = html.escape
    title = _title(folder, manifest)
    out = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
           f"<title>gpusim report: {e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
           f"<h1>{e(title)}</h1>", f"<p>Sweep folder <code>{e(str(folder))}</code>. {e(_counts(rows))}</p>",
           "<h2>Experiment</h2>"]
    if manifest is None:
        out.append('<p class="note">No manifest.json in the folder.</p>')
    else:
        out.append("<table>\n" + "\n".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _facts(manifest))
                   + "\n</table>")
        spec_text = _spec(manifest)[1]
        if spec_text:
            out.append(f"<h3>Specification</h3>\n<pre>{e(spec_text)}</pre>")
    out.append(f"<h2>Results</h2>\n<p>{e(_EXPLAIN + (_EXPLAIN_PAIRED.format(b=baseline) if baseline else ''))}</p>")
    for metric, part in stats.group(table, ("metric",)).items():
        out += [f"<h3>{e(metric[0])}</h3>", stats.to_html(part)]
    header, failed = _failed_table(rows)
    out.append("<h2>Failed runs</h2>")
    if failed:
        out.append("<table>\n<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>\n"
                   + "\n".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r[:-1])
                               + f"<td><pre>{e(r[-1])}</pre></td></tr>" for r in failed) + "\n</table>")
    else:
        out.append("<p>None.</p>")
    out.append("<h2>Figures</h2>")
    for name, mime, data in images:
        out.append(f'<figure><img src="data:{mime};base64,{data}" alt="{e(name)}">'
                   f"<figcaption>{e(name)}</figcaption></figure>")
    if not images:
        out.append('<p class="note">No figures.</p>')
    out += [f'<p class="note">Note: {e(n)}</p>' for n in notes]
    out.append("</body>\n</html>")
    return "\n".join(out) + "\n"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return " ".join(text.splitlines()).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(cell, r)) + " |" for r in rows]) + "\n"


def _markdown(folder, manifest, rows, table, baseline, images, notes) -> str:
    out = [f"# {_title(folder, manifest)}", "", f"Sweep folder `{folder}`. {_counts(rows)}", "", "## Experiment", ""]
    if manifest is None:
        out += ["No manifest.json in the folder.", ""]
    else:
        out += [_md_table(("key", "value"), _facts(manifest))]
        spec_text, language = _spec(manifest)[1:]
        if spec_text:
            out += ["### Specification", "", f"```{language}", spec_text.rstrip("\n"), "```", ""]
    out += ["## Results", "", _EXPLAIN + (_EXPLAIN_PAIRED.format(b=baseline) if baseline else ""), ""]
    for metric, part in stats.group(table, ("metric",)).items():
        out += [f"### {metric[0]}", "", stats.to_markdown(part)]
    header, failed = _failed_table(rows)
    out += ["## Failed runs", "", _md_table(header, failed) if failed else "None.\n", "## Figures", ""]
    out += [f"![{name}](data:{mime};base64,{data})\n\n*{name}*\n" for name, mime, data in images]
    out += [] if images else ["No figures.", ""]
    out += [f"Note: {n}\n" for n in notes]
    return "\n".join(out)


# --- the command -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = stats.OneLineParser(prog="gpusim report", description="Write one self-contained HTML (or Markdown) report of "
                      "a sweep folder: the experiment, summary tables, failed runs and figures.")
    p.add_argument("dir", metavar="DIR", help="a sweep folder (with results.csv)")
    p.add_argument("--baseline", metavar="POLICY", help="compare every policy with this one on the same seeds")
    p.add_argument("--metrics", type=stats.metric_list, default=list(stats.DEFAULT_METRICS), metavar="M1,M2",
                   help=f"metrics to tabulate (default {','.join(stats.DEFAULT_METRICS)})")
    p.add_argument("--out", metavar="FILE", help="report.html or report.md (default DIR/report.html)")
    p.add_argument("--force", action="store_true", help="overwrite FILE")
    return p


def standard_figures(folder: Path, outdir: Path) -> tuple[dict[str, Path], list[str]]:
    """sim.plots.standard_figures(folder, outdir), as SVG when it takes ``fmt``, and notes. Without
    sim.plots or its standard_figures, or when drawing fails (matplotlib missing, no run finished
    ok), the report goes without figures and says why; figures a browser cannot show are left out."""
    import importlib
    import inspect

    try:
        plots = importlib.import_module("sim.plots")
    except ImportError as err:
        return {}, [f"figures left out: sim.plots cannot be imported ({err})"]
    make = getattr(plots, "standard_figures", None)
    if make is None:
        return {}, ["figures left out: sim.plots has no standard_figures yet"]
    svg = {"fmt": "svg"} if "fmt" in inspect.signature(make).parameters else {}
    try:
        made = dict(make(folder, outdir, **svg))
    except (ImportError, GpusimError) as err:
        return {}, [f"figures left out: {err}"]
    shown = {name: Path(path) for name, path in made.items() if Path(path).suffix.lower() in IMAGE_TYPES}
    left = sorted(set(made) - set(shown))
    return shown, [f"figures left out (not an image a browser shows): {', '.join(left)}"] if left else []


def main(argv: Sequence[str] | None = None) -> int:
    """``gpusim report DIR ...``; returns the exit status. User errors raise GpusimError (one line)
    for the caller to report; notes go to stderr."""
    args = build_parser().parse_args(argv)
    folder = Path(args.dir)
    # a missing or malformed folder, metric or baseline fails before any figure is drawn
    stats.summarize(stats.read_results(folder), args.metrics, args.baseline)
    out = Path(args.out) if args.out else folder / "report.html"
    if out.exists() and not args.force:
        raise GpusimError(f"{out}: exists; use --force to overwrite")
    if not out.parent.is_dir():
        raise GpusimError(f"{out}: folder {out.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix="gpusim-report-") as tmp:
        figures, notes = standard_figures(folder, Path(tmp))
        write_report(folder, out, figures, baseline=args.baseline, metrics=args.metrics, notes=notes)
    for note in notes:
        print(f"gpusim: note: {note}", file=sys.stderr)
    print(f"wrote {out}")
    return 0
