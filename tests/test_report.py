"""Tests of sim.report: the HTML and Markdown report of a fake sweep folder, embedded figures, and
the ``gpusim report`` command with and without sim.plots."""

from __future__ import annotations

import base64
import csv
import json
import struct
import sys
import types
import zlib
from pathlib import Path

import pytest

from sim import report
from sim.errors import GpusimError
from sim.metrics import SUMMARY_KEYS
from sim.stats import RUN_COLUMNS

NAME = "load_sweep_2024"
SPEC_TEXT = f'name = "{NAME}"\nseeds = 5\npolicies = ["fifo", "sjf"]\n'
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def png_bytes() -> bytes:
    """A valid 1×1 grey PNG, built by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


def sweep(folder: Path, manifest: bool = True) -> Path:
    """fifo with JCTs 10,12,9,11,13 (mean 11 ± 2.0) and sjf 1 s faster on every seed, one failed run."""
    folder.mkdir(parents=True)
    rows = []
    for policy, values in (("fifo", (10, 12, 9, 11, 13)), ("sjf", (9, 11, 8, 10, 12))):
        for seed, v in enumerate(values):
            rows.append({"run_id": f"{policy}{seed}", "status": "ok", "policy": policy, "trace": "t.csv",
                         "cluster": "8x8", "placement": "consolidated", "seed": seed, "avg_jct": repr(float(v))})
    rows.append({"run_id": "sjf9", "status": "failed", "error": "x < y\nTraceback line", "policy": "sjf",
                 "trace": "t.csv", "cluster": "8x8", "placement": "consolidated", "seed": 9})
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*RUN_COLUMNS, *SUMMARY_KEYS], lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(rows)
    if manifest:
        data = {"name": NAME, "spec": {"name": NAME, "seeds": 5}, "spec_text": SPEC_TEXT, "spec_sha256": "ab12",
                "gpusim_version": "0.1.0", "git_commit": "c0ffee1234", "libraries": {"numpy": "2.0.1"},
                "runs": [{"run_id": r["run_id"], "seed": r["seed"]} for r in rows]}
        (folder / "manifest.json").write_text(json.dumps(data))
    return folder


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "cdf.png"
    path.write_bytes(png_bytes())
    return path


def test_html_report_holds_spec_tables_failures_and_image(tmp_path, png):
    """The HTML names the experiment, shows its spec and commit, the mean 11.0 ± 2.0, the paired
    difference -1 ± 0 (sjf one second faster on every seed), the escaped error, and the PNG."""
    out = report.write_report(sweep(tmp_path / "s"), tmp_path / "r.html", {"JCT CDF": png}, baseline="fifo",
                              metrics=["avg_jct"])
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and f"<title>gpusim report: {NAME}</title>" in text
    assert f"<h1>{NAME}</h1>" in text and "seeds = 5" in text
    assert "c0ffee1234" in text and "libraries.numpy" in text and "11 runs: 10 ok, 1 failed." in text
    assert "11.0 ± 2.0" in text and "diff vs fifo" in text and "-1 ± 0" in text and "-9.1%" in text
    assert "<td><pre>x &lt; y\nTraceback line</pre></td>" in text and "sjf9" in text
    assert f'src="data:image/png;base64,{base64.b64encode(png_bytes()).decode()}"' in text
    assert "<figcaption>JCT CDF</figcaption>" in text
    assert "src=\"" + str(png) not in text  # embedded, not linked


def test_markdown_report(tmp_path, png):
    """An output ending in .md gives Markdown: a title, the TOML spec in a code block, tables, the image."""
    text = report.write_report(sweep(tmp_path / "s"), tmp_path / "r.md", {"cdf": png}, metrics=["avg_jct"]).read_text()
    assert text.startswith(f"# {NAME}\n")
    assert f"```toml\n{SPEC_TEXT}```" in text
    assert "| 11.0 ± 2.0 |" in text and "| sjf9 |" in text and "x < y Traceback line" in text
    assert "![cdf](data:image/png;base64," in text


def test_svg_figure_and_no_manifest(tmp_path):
    """An SVG is embedded as data; without manifest.json the folder's name is the title."""
    (tmp_path / "f.svg").write_text(SVG)
    text = report.write_report(sweep(tmp_path / "plain", manifest=False), tmp_path / "r.html",
                               {"g": tmp_path / "f.svg"}).read_text()
    assert "<h1>plain</h1>" in text and "No manifest.json" in text
    assert f"data:image/svg+xml;base64,{base64.b64encode(SVG.encode()).decode()}" in text


def test_bad_figures_are_one_line_errors(tmp_path):
    """A figure in a format a browser cannot show, or a missing one, is a one-line GpusimError."""
    folder = sweep(tmp_path / "s")
    (tmp_path / "f.pdf").write_bytes(b"%PDF-1.4")
    for figure, match in ((tmp_path / "f.pdf", "figure 'f': .*f.pdf: not a"), (tmp_path / "no.png", "cannot read")):
        with pytest.raises(GpusimError, match=match) as err:
            report.write_report(folder, tmp_path / "r.html", {"f": figure})
        assert "\n" not in str(err.value)


def fake_plots(monkeypatch, module: types.ModuleType | None) -> None:
    monkeypatch.setitem(sys.modules, "sim.plots", module)


def test_main_embeds_standard_figures(tmp_path, monkeypatch, capsys):
    """gpusim report asks sim.plots.standard_figures for SVG figures and embeds them in DIR/report.html."""
    calls = []

    def standard_figures(dir, outdir, fmt="pdf"):
        calls.append((Path(dir), fmt))
        (Path(outdir) / "bars.svg").write_text(SVG)
        return {"bars": Path(outdir) / "bars.svg"}

    fake_plots(monkeypatch, types.SimpleNamespace(standard_figures=standard_figures))
    folder = sweep(tmp_path / "s")
    assert report.main([str(folder), "--baseline", "fifo"]) == 0
    assert calls == [(folder, "svg")]
    text = (folder / "report.html").read_text()
    assert "data:image/svg+xml;base64," in text and "<figcaption>bars</figcaption>" in text
    assert f"wrote {folder / 'report.html'}" in capsys.readouterr().out


@pytest.mark.parametrize("module, note", [
    (None, "sim.plots cannot be imported"),
    (types.SimpleNamespace(), "sim.plots has no standard_figures yet"),
    (types.SimpleNamespace(standard_figures=lambda d, o: (_ for _ in ()).throw(ImportError("no matplotlib"))),
     "figures left out: no matplotlib"),
])
def test_main_without_figures_says_why(tmp_path, monkeypatch, capsys, module, note):
    """Without sim.plots, its standard_figures, or matplotlib, the report is written with a note."""
    fake_plots(monkeypatch, module)
    folder = sweep(tmp_path / "s")
    assert report.main([str(folder), "--out", str(tmp_path / "r.md")]) == 0
    assert note in capsys.readouterr().err
    text = (tmp_path / "r.md").read_text()
    assert "No figures." in text and note in text and "| 11.0 ± 2.0 |" in text


def test_main_one_line_errors(tmp_path, monkeypatch):
    """A missing folder, an unknown baseline (caught before any figure is drawn) and an existing
    output without --force are one-line errors."""
    drawn = []
    fake_plots(monkeypatch, types.SimpleNamespace(standard_figures=lambda d, o: drawn.append(d) or {}))
    folder = sweep(tmp_path / "s")
    (tmp_path / "old.html").write_text("old")
    for argv, match in (([tmp_path / "missing"], "no such folder"),
                        ([folder, "--baseline", "srtf"], "unknown baseline 'srtf'"),
                        ([folder, "--metrics", "speed"], "unknown metric 'speed'"),
                        ([folder, "--out", tmp_path / "old.html"], "exists; use --force"),
                        ([folder, "--bogus"], "report: unrecognized arguments: --bogus")):
        with pytest.raises(GpusimError, match=match) as err:
            report.main([str(a) for a in argv])
        assert "\n" not in str(err.value)
    assert drawn == [] and (tmp_path / "old.html").read_text() == "old"
