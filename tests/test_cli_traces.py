"""Tests of the trace tools on the command line: ``gpusim trace info|convert|fit|synth``, the reader
options (--format, --vc, --window, --on-error, --procs-per-gpu) on run, compare and trace alike,
--scale-load, implied clusters, TOML settings and format detection.

Expected values are computed here from the files themselves (csv module, the documented mappings of
docs/formats/*.md, the real trace's STATS.md), never copied from the program's output.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import textwrap
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import pytest

import traces
from sim.cli import main
from traces.formats import FORMATS, detect
from traces.table import COLUMNS

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
ALIBABA_SAMPLE = traces.SAMPLE.parent / "alibaba2023" / "openb_pod_list_sample.csv"
FIXTURES = {
    "philly": DATA / "philly" / "jobs.csv",
    "tiresias": DATA / "tiresias" / "jobs.csv",
    "helios": DATA / "helios" / "cluster_log.csv",
    "pai2020": DATA / "pai2020" / "pai_task_table.csv",
    "alibaba2023": DATA / "alibaba2023" / "openb_pod_list_small.csv",
    "swf": DATA / "swf" / "small.swf",
    "canonical": traces.SAMPLE,
}
SMALL = [f for f in FIXTURES if f != "canonical"]  # the hand-made fixtures (the sample has 7,423 jobs)
COMMANDS = ("run", "compare", "trace")


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *words: str) -> None:
    assert "Traceback" not in err
    assert rc == 2, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpusim: error:"), err
    for word in words:
        assert word in lines[0], (word, lines[0])


# --- what each fixture holds, read here by the documented mappings --------------------------


class Row(NamedTuple):
    job_id: str
    submit: float  # on the file's own clock
    num_gpus: int
    duration: float
    user: str | None = None
    vc: str | None = None
    status: str | None = None


def _utc(text: str) -> float:
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def _dict_rows(path: Path):
    """(line, {column: text}) of a CSV with a header; blank lines skipped."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        for cells in reader:
            if any(c.strip() for c in cells):
                yield reader.line_num, dict(zip(header, cells))


def philly_rows(path: Path) -> list[Row]:
    return [Row(f"philly-{line}", _utc(r["timestamp"]), int(float(r["num_gpus"])), float(r["duration"]),
                vc=r["cluster"]) for line, r in _dict_rows(path)]


def tiresias_rows(path: Path) -> list[Row]:
    return [Row(r["job_id"], float(r["submit_time"]), int(r["num_gpu"]), float(r["duration"]))
            for _, r in _dict_rows(path)]


def helios_rows(path: Path) -> list[Row]:
    out = []
    for _, r in _dict_rows(path):
        if int(r["gpu_num"]) == 0 or not r["start_time"]:
            continue  # CPU-only, never ran
        d = float(r["duration"]) if r["duration"] else _utc(r["end_time"]) - _utc(r["start_time"])
        if d > 0:
            out.append(Row(r["job_id"], _utc(r["submit_time"]), int(r["gpu_num"]), d, r["user"], r["vc"], r["state"]))
    return out


def pai_rows(path: Path) -> list[Row]:
    out = []
    for cells in csv.reader(path.open(newline="", encoding="utf-8")):
        job, task, inst, status, start, end, _cpu, _mem, gpu, _type = cells
        if not gpu or float(gpu) == 0 or not start or not end or float(end) <= float(start):
            continue  # zero GPUs, never started, still running, zero seconds
        gpus = math.ceil(round(float(inst) * float(gpu) / 100, 9))
        out.append(Row(f"{job}/{task}", float(start), gpus, float(end) - float(start), status=status))
    return out


def alibaba_rows(path: Path) -> list[Row]:
    return [Row(r["name"], float(r["creation_time"]), int(r["num_gpu"]),
                float(r["deletion_time"]) - float(r["scheduled_time"]), status=r["pod_phase"])
            for _, r in _dict_rows(path) if r["scheduled_time"]]  # CPU-only pods (num_gpu 0) are kept


def swf_rows(path: Path, procs_per_gpu: int = 1) -> list[Row]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if not f or line.lstrip().startswith(";"):
            continue
        procs = int(f[4]) if f[4] != "-1" else int(f[7])
        if f[1] == "-1" or float(f[3]) <= 0 or procs <= 0:
            continue  # unknown submit, unknown/zero run time, no processors
        out.append(Row(f[0], float(f[1]), math.ceil(procs / procs_per_gpu), float(f[3]),
                       user=None if f[11] == "-1" else f[11], status=None if f[10] == "-1" else f[10]))
    return out


def swf_header(path: Path) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^;\s*(MaxProcs|MaxNodes):\s*(\d+)", path.read_text(), re.M)}


def canonical_rows(path: Path) -> list[Row]:
    return [Row(r["job_id"], float(r["submit_time"]), int(r["num_gpus"]), float(r["duration"]),
                vc=r.get("vc") or None) for _, r in _dict_rows(path)]


PARSERS = {"philly": philly_rows, "tiresias": tiresias_rows, "helios": helios_rows, "pai2020": pai_rows,
           "alibaba2023": alibaba_rows, "swf": swf_rows, "canonical": canonical_rows}


def expected(fmt: str) -> list[Row]:
    return PARSERS[fmt](FIXTURES[fmt])


def select(rows: list[Row], vcs=(), lo: float | None = None, hi: float | None = None) -> dict[str, tuple]:
    """{job_id: (rebased submit, num_gpus, duration)} of the rows a reader should keep: --vc first,
    then the window counted from the first kept submission, then rebased to the first job left."""
    rows = [r for r in rows if not vcs or r.vc in vcs]
    t0 = min(r.submit for r in rows)
    rows = [r for r in rows if (lo is None or r.submit - t0 >= lo) and (hi is None or r.submit - t0 < hi)]
    t1 = min(r.submit for r in rows)
    return {r.job_id: (r.submit - t1, r.num_gpus, r.duration) for r in rows}


def load_of(jobs, gpus: int) -> float:
    """Offered load: GPU-seconds / (GPUs × span of submissions); ``jobs`` are (submit, gpus, duration)."""
    submits = [j[0] for j in jobs]
    return math.fsum(j[1] * j[2] for j in jobs) / (gpus * (max(submits) - min(submits)))


def read_jobs(path: Path) -> dict[str, tuple]:
    """{job_id: (submit_time, num_gpus, duration)} of a canonical CSV or a run's jobs.csv."""
    return {r["job_id"]: (float(r["submit_time"]), int(r["num_gpus"]), float(r["duration"]))
            for _, r in _dict_rows(path)}


def assert_same_jobs(got: dict[str, tuple], want: dict[str, tuple]) -> None:
    assert got.keys() == want.keys()
    for job_id, values in want.items():
        assert got[job_id] == pytest.approx(values, rel=1e-12, abs=1e-6), job_id


# --- running one command the same way for run, compare and trace ----------------------------


def argv(command: str, trace: Path, out: Path, *opts) -> list:
    """``run``/``compare`` write a run folder to ``out``; ``trace`` converts into ``out/x.csv``."""
    if command == "run":
        return ["run", "--trace", trace, "--policy", "fifo", "--placement", "pool", *opts, "--out", out]
    if command == "compare":
        return ["compare", "--policies", "fifo", "--trace", trace, "--placement", "pool", *opts, "--out", out]
    out.mkdir(parents=True, exist_ok=True)
    return ["trace", "convert", trace, "--out", out / "x.csv", *opts]


def kept(command: str, out: Path) -> dict[str, tuple]:
    """The jobs the command read, from the file it wrote."""
    files = {"run": out / "jobs.csv", "compare": out / "runs" / "fifo-seed0" / "jobs.csv", "trace": out / "x.csv"}
    return read_jobs(files[command])


def run_jobs(capsys, command: str, trace: Path, out: Path, *opts) -> tuple[dict[str, tuple], str, str]:
    rc, stdout, err = cli(capsys, *argv(command, trace, out, *opts))
    assert rc == 0, err
    assert "Traceback" not in err
    return kept(command, out), stdout, err


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# --- gpusim trace info ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FIXTURES)
def test_info_json_figures_match_the_file(capsys, fmt):
    """`trace info --json --cluster` on every format (auto-detected) gives the figures computed from the file."""
    rows = expected(fmt)
    rc, out, err = cli(capsys, "trace", "info", FIXTURES[fmt], "--json", "--cluster", "8x8")
    assert rc == 0, err
    info = json.loads(out)
    submits = [r.submit for r in rows]
    durations = [r.duration for r in rows]
    span = max(submits) - min(submits)
    assert info["format"] == fmt
    assert info["jobs"] == len(rows)
    assert info["span_s"] == pytest.approx(span)
    assert info["gpus"] == {str(g): n for g, n in sorted(Counter(r.num_gpus for r in rows).items())}
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    want = {"min": min(durations), "mean": statistics.fmean(durations), "p10": cuts[9], "p50": cuts[49],
            "p90": cuts[89], "p99": cuts[98], "max": max(durations)}
    assert info["duration_s"] == pytest.approx(want)
    assert info["arrival_rate_per_hour"] == pytest.approx((len(rows) - 1) / span * 3600)
    assert info["users"] == len({r.user for r in rows if r.user is not None})
    assert info["vcs"] == dict(Counter(r.vc for r in rows if r.vc is not None))
    assert info["statuses"] == dict(Counter(r.status for r in rows if r.status is not None))
    assert info["offered_load"] == pytest.approx(load_of([(r.submit, r.num_gpus, r.duration) for r in rows], 64))


@pytest.mark.parametrize("fmt", FIXTURES)
def test_info_prints_offered_load_on_the_cluster(capsys, fmt):
    """`trace info --cluster` prints GPU-seconds / (cluster GPUs × span) for the given (mixed) cluster."""
    rows = expected(fmt)
    rc, out, err = cli(capsys, "trace", "info", FIXTURES[fmt], "--cluster", "2x4:V100,1x8:A100")
    assert rc == 0, err
    assert f"({fmt})" in out.splitlines()[0]
    line = next(line for line in out.splitlines() if line.startswith("offered load on"))
    assert "16 GPUs" in line
    want = load_of([(r.submit, r.num_gpus, r.duration) for r in rows], 16)
    assert float(line.rsplit(":", 1)[1]) == pytest.approx(want, abs=0.0006)


def test_info_without_cluster_has_no_offered_load(capsys):
    """Without --cluster, info has no offered load (text or JSON): there is no cluster to load."""
    rc, out, _ = cli(capsys, "trace", "info", FIXTURES["tiresias"], "--json")
    assert rc == 0
    assert "offered_load" not in json.loads(out)
    rc, out, _ = cli(capsys, "trace", "info", FIXTURES["tiresias"])
    assert rc == 0 and "offered load" not in out


def test_info_json_is_strict_json_for_a_single_job(capsys, tmp_path):
    """`trace info --json` on a one-job trace is strict JSON: undefined rate and load are null, not NaN."""
    path = write(tmp_path / "one.csv", "job_id,submit_time,num_gpus,duration\na,0,1,10\n")
    rc, out, err = cli(capsys, "trace", "info", path, "--json", "--cluster", "8x8")
    assert rc == 0, err

    def reject(constant):
        raise ValueError(f"not JSON: {constant}")

    info = json.loads(out, parse_constant=reject)
    assert info["arrival_rate_per_hour"] is None and info["offered_load"] is None


# --- gpusim trace convert -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FIXTURES)
def test_convert_to_csv_keeps_every_job(capsys, tmp_path, fmt):
    """`trace convert --out x.csv` writes the canonical columns and the file's jobs, rebased and sorted."""
    out = tmp_path / "x.csv"
    rc, stdout, err = cli(capsys, "trace", "convert", FIXTURES[fmt], "--out", out)
    assert rc == 0, err
    want = select(expected(fmt))
    assert f"{len(want)} jobs" in stdout
    with out.open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == list(COLUMNS)
    got = read_jobs(out)
    assert_same_jobs(got, want)
    submits = [s for s, _, _ in got.values()]
    assert submits == sorted(submits)


@pytest.mark.parametrize("fmt", FIXTURES)
def test_convert_to_parquet_keeps_every_job(capsys, tmp_path, fmt):
    """`trace convert --out x.parquet` writes a table with exactly the canonical columns and the same jobs."""
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "x.parquet"
    rc, _, err = cli(capsys, "trace", "convert", FIXTURES[fmt], "--out", out)
    assert rc == 0, err
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    got = {r["job_id"]: (r["submit_time"], r["num_gpus"], r["duration"]) for r in table.to_pylist()}
    assert_same_jobs(got, select(expected(fmt)))


@pytest.mark.parametrize("fmt", SMALL)
def test_converted_csv_runs_with_the_same_jobs(capsys, tmp_path, fmt):
    """A converted CSV read back by `gpusim run --trace x.csv` simulates the original file's jobs."""
    converted = tmp_path / "x.csv"
    assert cli(capsys, "trace", "convert", FIXTURES[fmt], "--out", converted)[0] == 0
    rc, out, err = cli(capsys, "run", "--trace", converted, "--cluster", "8x8", "--placement", "pool",
                       "--out", tmp_path / "run")
    assert rc == 0, err
    want = {k: v for k, v in select(expected(fmt)).items() if v[1]}  # without --resources CPU-only jobs are skipped
    assert f"{len(want)} jobs from" in out
    got = read_jobs(tmp_path / "run" / "jobs.csv")
    assert_same_jobs(got, want)


def test_convert_refuses_an_existing_out_without_force(capsys, tmp_path):
    """convert leaves an existing OUT alone (one-line error) unless --force, which overwrites it."""
    out = write(tmp_path / "x.csv", "keep me\n")
    rc, _, err = cli(capsys, "trace", "convert", FIXTURES["tiresias"], "--out", out)
    assert_one_line_error(rc, err, "x.csv", "--force")
    assert out.read_text() == "keep me\n"
    rc, _, err = cli(capsys, "trace", "convert", FIXTURES["tiresias"], "--out", out, "--force")
    assert rc == 0, err
    assert read_jobs(out).keys() == {r.job_id for r in expected("tiresias")}


@pytest.mark.parametrize("name", ["x.txt", "x", "x.csv.gz"])
def test_convert_wrong_extension_is_one_line_error(capsys, tmp_path, name):
    """convert writes only .csv or .parquet: another extension is a one-line error and writes nothing."""
    rc, _, err = cli(capsys, "trace", "convert", FIXTURES["tiresias"], "--out", tmp_path / name)
    assert_one_line_error(rc, err, name, ".csv", ".parquet")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt, spec, gpus, load", [("helios", "2x8", 16, 0.5), ("canonical", "4x8", 32, 1.3)])
def test_convert_scale_load_gives_that_load_and_keeps_the_jobs(capsys, tmp_path, fmt, spec, gpus, load):
    """`convert --scale-load L --cluster SPEC` offers exactly L, keeps order, sizes and durations, one factor."""
    plain, scaled = tmp_path / "plain.csv", tmp_path / "scaled.csv"
    assert cli(capsys, "trace", "convert", FIXTURES[fmt], "--out", plain)[0] == 0
    rc, _, err = cli(capsys, "trace", "convert", FIXTURES[fmt], "--out", scaled, "--scale-load", load,
                     "--cluster", spec)
    assert rc == 0, err
    before, after = read_jobs(plain), read_jobs(scaled)
    assert list(after) == list(before)  # same ids in the same order
    assert [v[1:] for v in after.values()] == [v[1:] for v in before.values()]
    assert load_of(list(after.values()), gpus) == pytest.approx(load, rel=1e-9)
    factor = load_of(list(before.values()), gpus) / load
    assert [v[0] for v in after.values()] == pytest.approx([v[0] * factor for v in before.values()], rel=1e-12)


def test_convert_scale_load_needs_cluster(capsys, tmp_path):
    """`convert --scale-load` without --cluster is a one-line error and writes nothing."""
    rc, _, err = cli(capsys, "trace", "convert", FIXTURES["helios"], "--out", tmp_path / "x.csv", "--scale-load", "0.5")
    assert_one_line_error(rc, err, "--scale-load", "--cluster")
    assert not (tmp_path / "x.csv").exists()


# --- gpusim trace fit / synth ---------------------------------------------------------------


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.json"
    assert main(["trace", "fit", str(traces.SAMPLE), "--out", str(path)]) == 0
    return path


def test_fit_writes_the_documented_model(capsys, tmp_path):
    """`trace fit` writes a model with the documented keys and values that match the trace."""
    path = tmp_path / "model.json"
    rc, out, err = cli(capsys, "trace", "fit", traces.SAMPLE, "--out", path)
    assert rc == 0, err
    assert str(path) in out
    model = json.loads(path.read_text(encoding="utf-8"))
    assert {"kind", "version", "sizes", "durations", "arrivals", "provenance", "notes"} <= set(model)
    assert model["kind"] == "gpusim workload model" and model["version"] == 1
    durations, arrivals = model["durations"], model["arrivals"]
    assert {"chosen", "low", "high", "candidates", "quantiles", "summary"} <= set(durations)
    for name in ("lognormal", "exponential", "pareto"):
        assert {"params", "ks", "mean"} <= set(durations["candidates"][name])
    assert durations["chosen"] == min(("lognormal", "exponential", "pareto"),
                                      key=lambda n: durations["candidates"][n]["ks"])
    assert len(durations["quantiles"]["values"]) == 1000
    assert {"rate", "diurnal", "hourly_counts", "interarrival_cv"} <= set(arrivals)
    rows = expected("canonical")
    submits = [r.submit for r in rows]
    counts = Counter(r.num_gpus for r in rows)
    assert model["sizes"] == [[g, pytest.approx(counts[g] / len(rows))] for g in sorted(counts)]
    assert durations["low"] == min(r.duration for r in rows) and durations["high"] == max(r.duration for r in rows)
    assert arrivals["rate"] == pytest.approx((len(rows) - 1) / (max(submits) - min(submits)))
    assert len(arrivals["diurnal"]) == 24 and sum(arrivals["diurnal"]) == pytest.approx(24)
    assert arrivals["hourly_counts"] == [sum(1 for s in submits if int(s % 86400 // 3600) == h) for h in range(24)]
    assert model["provenance"]["jobs"] == len(rows) and model["provenance"]["format"] == "canonical"


def test_fit_refuses_an_existing_out_without_force(capsys, tmp_path):
    """`trace fit` leaves an existing model file alone unless --force."""
    path = write(tmp_path / "model.json", "{}\n")
    rc, _, err = cli(capsys, "trace", "fit", FIXTURES["tiresias"], "--out", path)
    assert_one_line_error(rc, err, "model.json", "--force")
    assert path.read_text() == "{}\n"


def test_synth_offers_the_asked_load(capsys, tmp_path, model_file):
    """`trace synth --jobs N --load 0.7 --cluster 8x8` writes N canonical jobs offering about 0.7 on 64 GPUs."""
    out = tmp_path / "s.csv"
    rc, stdout, err = cli(capsys, "trace", "synth", "--from", model_file, "--jobs", 20000, "--load", 0.7,
                          "--cluster", "8x8", "--out", out, "--seed", 3)
    assert rc == 0, err
    assert "20000 jobs" in stdout
    with out.open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == list(COLUMNS)
    jobs = read_jobs(out)
    assert len(jobs) == 20000
    assert load_of(list(jobs.values()), 64) == pytest.approx(0.7, rel=0.1)
    model = json.loads(model_file.read_text(encoding="utf-8"))
    assert {g for _, g, _ in jobs.values()} <= {g for g, _ in model["sizes"]}


def test_synth_same_seed_same_bytes_other_seed_differs(capsys, tmp_path, model_file):
    """The same seed writes a byte-identical file; another seed writes a different one."""
    def synth(name: str, seed: int) -> bytes:
        out = tmp_path / name
        rc, _, err = cli(capsys, "trace", "synth", "--from", model_file, "--jobs", 500, "--load", 0.7,
                         "--cluster", "8x8", "--out", out, "--seed", seed)
        assert rc == 0, err
        return out.read_bytes()

    first = synth("a.csv", 3)
    assert synth("b.csv", 3) == first
    assert synth("c.csv", 4) != first


def test_synthesized_csv_runs(capsys, tmp_path, model_file):
    """A CSV written by `trace synth` is detected as canonical and simulated by `gpusim run --trace`."""
    path = tmp_path / "s.csv"
    rc, _, err = cli(capsys, "trace", "synth", "--from", model_file, "--jobs", 50, "--cluster", "8x8", "--out", path)
    assert rc == 0, err
    assert detect(path) == "canonical"
    rc, out, err = cli(capsys, "run", "--trace", path, "--cluster", "8x8", "--placement", "pool",
                       "--out", tmp_path / "run")
    assert rc == 0, err
    assert_same_jobs(read_jobs(tmp_path / "run" / "jobs.csv"), read_jobs(path))


def _model_without(key: str):
    def edit(model: dict) -> str:
        table, _, last = key.rpartition(".")
        target = model
        for part in filter(None, table.split(".")):
            target = target[part]
        del target[last]
        return json.dumps(model)
    return edit


@pytest.mark.parametrize("edit, words", [
    (_model_without("sizes"), ["'sizes'", "missing"]),
    (_model_without("arrivals.rate"), ["'arrivals.rate'", "missing"]),
    (_model_without("durations"), ["'durations'", "missing"]),
    (lambda m: json.dumps({**m, "durations": {**m["durations"], "chosen": "gamma"}}), ["durations.chosen", "gamma"]),
    (lambda m: "{not json", ["not valid JSON"]),
    (lambda m: "[1, 2]", ["JSON object"]),
    (None, ["cannot read"]),
], ids=["no-sizes", "no-rate", "no-durations", "bad-chosen", "not-json", "not-object", "missing-file"])
def test_synth_bad_model_is_one_line_error(capsys, tmp_path, model_file, edit, words):
    """A bad model file (missing key, bad value, not JSON, absent) is a one-line error naming file and problem."""
    bad = tmp_path / "bad.json"
    if edit is not None:
        bad.write_text(edit(json.loads(model_file.read_text(encoding="utf-8"))), encoding="utf-8")
    out = tmp_path / "s.csv"
    rc, _, err = cli(capsys, "trace", "synth", "--from", bad, "--jobs", 10, "--cluster", "8x8", "--out", out)
    assert_one_line_error(rc, err, "bad.json", *words)
    assert not out.exists()


@pytest.mark.parametrize("jobs", [0, -3])
def test_synth_needs_at_least_one_job(capsys, tmp_path, model_file, jobs):
    """`trace synth --jobs 0` (or negative) is a one-line error and writes nothing."""
    out = tmp_path / "s.csv"
    rc, _, err = cli(capsys, "trace", "synth", "--from", model_file, "--jobs", jobs, "--cluster", "8x8", "--out", out)
    assert_one_line_error(rc, err, "--jobs")
    assert not out.exists()


# --- reader options on run, compare and trace alike -----------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_format_override_reads_a_file_detection_cannot(capsys, tmp_path, command):
    """--format pai2020 reads a header-less PAI table whose statuses defeat detection; without it, an error."""
    text = FIXTURES["pai2020"].read_text(encoding="utf-8")
    path = tmp_path / "pai.csv"
    path.write_text(re.sub(r",(Terminated|Failed|Running|Waiting),", ",Killed,", text), encoding="utf-8")
    rc, _, err = cli(capsys, *argv(command, path, tmp_path / "a"))
    assert_one_line_error(rc, err, "pai.csv", "--format")
    got, _, _ = run_jobs(capsys, command, path, tmp_path / "b", "--format", "pai2020")
    assert_same_jobs(got, select(pai_rows(path)))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fmt, forced", [("philly", "swf"), ("tiresias", "philly"), ("swf", "canonical"),
                                         ("helios", "tiresias"), ("alibaba2023", "pai2020")])
def test_forcing_a_wrong_format_is_one_line_error(capsys, tmp_path, command, fmt, forced):
    """--format naming the wrong reader is a one-line error naming the file, not a traceback."""
    rc, _, err = cli(capsys, *argv(command, FIXTURES[fmt], tmp_path / "o", "--format", forced))
    assert_one_line_error(rc, err, FIXTURES[fmt].name)


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_format_name_is_one_line_error(capsys, tmp_path, command):
    """An unknown --format name is a one-line error listing the formats."""
    rc, _, err = cli(capsys, *argv(command, FIXTURES["philly"], tmp_path / "o", "--format", "bogus"))
    assert_one_line_error(rc, err, "'bogus'", "philly", "swf", "canonical")


@pytest.mark.parametrize("command", COMMANDS)
def test_vc_keeps_only_those_virtual_clusters(capsys, tmp_path, command):
    """--vc (repeatable) on the Philly fixture keeps those VCs' jobs, rebased to their first submission."""
    got, _, err = run_jobs(capsys, command, FIXTURES["philly"], tmp_path / "o", "--vc", "vcA", "--vc", "vcC")
    want = select(expected("philly"), vcs=("vcA", "vcC"))
    assert_same_jobs(got, want)
    n_other = sum(1 for r in expected("philly") if r.vc not in ("vcA", "vcC"))
    assert f"left out {n_other} row(s)" in err


def _stats_vc(vc: str) -> tuple[int, float]:
    """Jobs and first-to-last submit span (s) of one VC, from the real Philly trace's STATS.md."""
    for line in (SHARED / "philly" / "STATS.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == vc:
            return int(cells[1]), _utc(cells[6]) - _utc(cells[5])
    raise AssertionError(f"{vc} not in STATS.md")


@pytest.mark.parametrize("command", COMMANDS)
def test_vc_on_the_real_philly_trace(capsys, tmp_path, command):
    """--vc b436b2 on the real philly.csv keeps the 7,423 jobs and the span STATS.md gives for that VC."""
    path = SHARED / "philly" / "philly.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    jobs, span = _stats_vc("b436b2")
    cluster = ["--cluster", "8x8"] if command != "trace" else []
    got, out, _ = run_jobs(capsys, command, path, tmp_path / "o", "--vc", "b436b2", *cluster)
    assert len(got) == jobs
    assert max(s for s, _, _ in got.values()) == pytest.approx(span)
    if command == "run":
        assert f"{jobs} jobs from" in out


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fmt", ["tiresias", "swf", "pai2020", "alibaba2023"])
def test_vc_on_a_format_without_vcs_is_one_line_error(capsys, tmp_path, command, fmt):
    """--vc on a format whose rows name no virtual cluster is a one-line error, not an empty run."""
    rc, _, err = cli(capsys, *argv(command, FIXTURES[fmt], tmp_path / "o", "--vc", "x"))
    assert_one_line_error(rc, err, FIXTURES[fmt].name, "virtual cluster")


WINDOW_TRACE = """
    job_id,submit_time,num_gpus,duration,vc
    early,0,1,50,other
    m3,1300,4,30,main
    m0,1000,1,10,main
    m2,1100,2,20,main
    m4,1500,8,40,main
    m1,1050,1,15,main
"""


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("window, lo, hi", [("100:400", 100, 400), ("100:", 100, None), (":400", None, 400),
                                            ("50:300", 50, 300)])
def test_window_counts_from_the_first_kept_submission(capsys, tmp_path, command, window, lo, hi):
    """--window FROM:TO (either side open) keeps [FROM, TO) after the first job --vc keeps, then rebases."""
    path = write(tmp_path / "w.csv", WINDOW_TRACE)
    got, _, _ = run_jobs(capsys, command, path, tmp_path / "o", "--vc", "main", "--window", window)
    want = select(canonical_rows(path), vcs=("main",), lo=lo, hi=hi)
    assert 0 < len(want) < 5  # the window does select
    assert_same_jobs(got, want)


@pytest.mark.parametrize("command", COMMANDS)
def test_window_on_philly_counts_from_the_vc_first_job(capsys, tmp_path, command):
    """On the Philly fixture, --vc vcB --window 0:601 counts from vcB's first job, not vcA's earlier one."""
    got, _, _ = run_jobs(capsys, command, FIXTURES["philly"], tmp_path / "o", "--vc", "vcB", "--window", "0:601")
    want = select(expected("philly"), vcs=("vcB",), lo=0, hi=601)
    assert len(want) == 2
    assert_same_jobs(got, want)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("window", ["abc", "5", "x:10", "10:5", "=-5:", "=nan:"])
def test_malformed_window_is_one_line_error(capsys, tmp_path, command, window):
    """A malformed, reversed, negative or NaN --window is a one-line error."""
    opt = ["--window" + window] if window.startswith("=") else ["--window", window]
    rc, _, err = cli(capsys, *argv(command, FIXTURES["philly"], tmp_path / "o", *opt))
    assert_one_line_error(rc, err, "window")


BAD_ROWS = """
    job_id,submit_time,num_gpus,duration
    a,0,1,10
    b,5,x,10
    c,10,2,20
    d,15,1,-3
    e,20,1,5
    f,25,1,
"""


@pytest.mark.parametrize("command", COMMANDS)
def test_on_error_skip_reports_and_keeps_only_good_rows(capsys, tmp_path, command):
    """--on-error skip: exit 0, stderr counts the skipped rows by reason, only the good jobs are read."""
    path = write(tmp_path / "bad.csv", BAD_ROWS)
    got, _, err = run_jobs(capsys, command, path, tmp_path / "o", "--on-error", "skip")
    assert got.keys() == {"a", "c", "e"}
    line = next(line for line in err.splitlines() if "skipped" in line)
    assert line.startswith("gpusim: note:") and "skipped 3 bad row(s)" in line
    for reason in ("num_gpus is not an integer", "duration is not positive", "duration is empty"):
        assert f"1 × {reason}" in line


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("opts", [[], ["--on-error", "stop"]])
def test_bad_row_stops_with_file_and_line(capsys, tmp_path, command, opts):
    """Without --on-error skip the first bad row is a one-line error naming file:line and writes nothing."""
    path = write(tmp_path / "bad.csv", BAD_ROWS)
    out = tmp_path / "o"
    rc, _, err = cli(capsys, *argv(command, path, out, *opts))
    assert_one_line_error(rc, err, "bad.csv:3", "num_gpus")
    written = list(out.rglob("*.csv")) if out.exists() else []
    assert written == []


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("per_gpu", [1, 4])
def test_procs_per_gpu_maps_swf_processors(capsys, tmp_path, command, per_gpu):
    """--procs-per-gpu N on an SWF log gives ceil(processors / N) GPUs per job (1 by default)."""
    opts = ["--procs-per-gpu", per_gpu] if per_gpu != 1 else []
    got, _, err = run_jobs(capsys, command, FIXTURES["swf"], tmp_path / "o", *opts)
    assert_same_jobs(got, select(swf_rows(FIXTURES["swf"], per_gpu)))
    assert f"ceil(processors / {per_gpu})" in err


def _swf_cluster(per_gpu: int) -> tuple[str, str]:
    """(spec, summary) of the cluster the SWF fixture's MaxProcs on MaxNodes imply at ``per_gpu``."""
    h = swf_header(FIXTURES["swf"])
    per_node = h["MaxProcs"] // h["MaxNodes"]
    assert per_node % per_gpu == 0
    spec = f"{h['MaxNodes']}x{per_node // per_gpu}"
    return spec, f"{spec}:generic ({h['MaxProcs'] // per_gpu} GPUs)"


def _alibaba_cluster() -> tuple[str, str]:
    """(spec, summary) of the node list beside the Alibaba fixture: consecutive same (GPUs, model) nodes grouped."""
    groups: list[list] = []
    for _, r in _dict_rows(FIXTURES["alibaba2023"].parent / "openb_node_list_gpu_node.csv"):
        key = (int(r["gpu"]), r["model"])
        if key[0] == 0:
            continue
        if groups and groups[-1][0] == key:
            groups[-1][1] += 1
        else:
            groups.append([key, 1])
    spec = ",".join(f"{n}x{g}:{m}" for (g, m), n in groups)
    return spec, f"{spec} ({sum(g * n for (g, _), n in groups)} GPUs)"


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("fmt, opts, spec", [
    ("swf", [], lambda: _swf_cluster(1)),
    ("swf", ["--procs-per-gpu", "4"], lambda: _swf_cluster(4)),
    ("alibaba2023", [], _alibaba_cluster),
])
def test_implied_cluster_is_used_and_noted(capsys, tmp_path, command, fmt, opts, spec):
    """Without --cluster, the cluster the trace implies is simulated and a note says so; --cluster
    overrides, and a note says that too."""
    spec, want = spec()
    _, out, err = run_jobs(capsys, command, FIXTURES[fmt], tmp_path / "a", *opts)
    assert want in out.splitlines()[0]
    notes = [line for line in err.splitlines() if "as the trace implies" in line]
    assert len(notes) == 1 and f"cluster {spec} " in notes[0] and "--cluster" in notes[0]
    config = json.loads((tmp_path / "a" / "config.json").read_text(encoding="utf-8"))
    assert config["cluster"] == want.split(" (")[0]
    _, out, err = run_jobs(capsys, command, FIXTURES[fmt], tmp_path / "b", *opts, "--cluster", "8x8")
    assert "8x8:generic (64 GPUs)" in out.splitlines()[0] and want not in out
    assert "as the trace implies" not in err
    (given,) = [line for line in err.splitlines() if "as given" in line]  # the reader's own cluster note stays
    assert "cluster 8x8:generic (64 GPUs) as given, not the " in given and "the trace implies" in given


def test_info_shows_the_implied_cluster(capsys):
    """`trace info` names the implied cluster of an SWF log and of an Alibaba pod list."""
    for fmt, (_, want) in (("swf", _swf_cluster(1)), ("alibaba2023", _alibaba_cluster())):
        rc, out, err = cli(capsys, "trace", "info", FIXTURES[fmt])
        assert rc == 0, err
        assert f"cluster implied by the trace: {want}" in out


# --- --scale-load on run/compare, and what config.json records ------------------------------


@pytest.mark.parametrize("command", ["run", "compare"])
def test_scale_load_is_noted_applied_and_recorded(capsys, tmp_path, command):
    """--scale-load L: a note gives L and the load before; the jobs offer L; config.json records every reader option."""
    opts = ["--format", "philly", "--vc", "vcA", "--vc", "vcB", "--window", "0:3000000", "--on-error", "skip",
            "--procs-per-gpu", "2", "--scale-load", "0.5", "--cluster", "2x8"]
    got, _, err = run_jobs(capsys, command, FIXTURES["philly"], tmp_path / "o", *opts)
    want = select(expected("philly"), vcs=("vcA", "vcB"), lo=0, hi=3_000_000)
    assert got.keys() == want.keys()
    assert [v[1:] for v in got.values()] == [want[k][1:] for k in got]
    assert load_of(list(got.values()), 16) == pytest.approx(0.5, rel=1e-9)
    before = load_of(list(want.values()), 16)
    note = next(line for line in err.splitlines() if "scaled" in line)
    assert "offered load 0.5" in note and f"was {before:.3g}" in note
    config = json.loads((tmp_path / "o" / "config.json").read_text(encoding="utf-8"))
    assert {k: config[k] for k in ("scale_load", "format", "vcs", "window_start", "window_end", "on_error",
                                   "procs_per_gpu")} == {
        "scale_load": 0.5, "format": "philly", "vcs": ["vcA", "vcB"], "window_start": 0.0,
        "window_end": 3_000_000.0, "on_error": "skip", "procs_per_gpu": 2}


def test_scale_load_with_synthetic_is_not_silently_ignored(capsys, tmp_path):
    """--scale-load applies to traces only: with --synthetic it is refused or at least reported, never ignored."""
    rc, _, err = cli(capsys, "run", "--synthetic", 50, "--scale-load", 0.5, "--out", tmp_path / "o")
    if rc == 2:
        assert_one_line_error(rc, err, "--scale-load")
    else:
        assert rc == 0 and "scaled" in err


# --- TOML settings --------------------------------------------------------------------------


def _sample_with_extras(path: Path, n: int = 300) -> list[Row]:
    """The sample's first ``n`` rows, plus an earlier job in another VC and one bad row; returns the good rows."""
    rows = canonical_rows(traces.SAMPLE)[:n]
    t0 = min(r.submit for r in rows)
    lines = ["job_id,submit_time,num_gpus,duration,vc", f"early,{t0 - 20000},1,100,other"]
    lines += [f"{r.job_id},{r.submit},{r.num_gpus},{r.duration},{r.vc}" for r in rows]
    lines.insert(5, "broken,1505800000,x,100,b436b2")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [Row("early", t0 - 20000, 1, 100.0, vc="other"), *rows]


def test_toml_config_sets_reader_options(capsys, tmp_path):
    """A TOML config with format, vcs, window_start and on_error reads the trace as the flags would."""
    trace = tmp_path / "t.csv"
    rows = _sample_with_extras(trace)
    config = write(tmp_path / "c.toml", f"""
        trace = {json.dumps(str(trace))}
        format = "canonical"
        vcs = ["b436b2"]
        window_start = 86400.0
        on_error = "skip"
        cluster = "8x8"
        placement = "pool"
    """)
    rc, out, err = cli(capsys, "run", "--config", config, "--out", tmp_path / "o")
    assert rc == 0, err
    want = select(rows, vcs=("b436b2",), lo=86400)
    assert len(want) < 300  # the window does leave jobs out, counted from b436b2's first job
    assert_same_jobs(read_jobs(tmp_path / "o" / "jobs.csv"), want)
    assert "skipped 1 bad row(s)" in err
    recorded = json.loads((tmp_path / "o" / "config.json").read_text(encoding="utf-8"))
    assert (recorded["format"], recorded["vcs"], recorded["window_start"], recorded["on_error"]) == (
        "canonical", ["b436b2"], 86400.0, "skip")
    rc, _, err = cli(capsys, "run", "--config", config, "--on-error", "stop")  # the flag wins
    assert_one_line_error(rc, err, "t.csv:6")


def test_toml_synthetic_diurnal_shapes_arrivals(capsys, tmp_path):
    """[synthetic] diurnal (24 numbers) works: with no rate in hours 0-11 every later job arrives in hours 12-23."""
    profile = [0] * 12 + [1] * 12
    config = write(tmp_path / "s.toml", f"""
        [synthetic]
        jobs = 300
        load = 0.5
        diurnal = {profile}
    """)
    rc, out, err = cli(capsys, "run", "--config", config, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "300 jobs from synthetic" in out
    submits = sorted(s for s, _, _ in read_jobs(tmp_path / "o" / "jobs.csv").values())
    assert len(submits) == 300 and submits[0] == 0
    assert all(s % 86400 >= 12 * 3600 for s in submits[1:])
    recorded = json.loads((tmp_path / "o" / "config.json").read_text(encoding="utf-8"))
    assert recorded["synthetic"]["diurnal"] == pytest.approx([0] * 12 + [2] * 12)


@pytest.mark.parametrize("text, key", [
    ("[synthetic]\njobs = 10\ndiurnal = [" + ", ".join(["1.0"] * 23) + "]\n", "diurnal"),
    ('vcs = "b436b2"\n', "vcs"),
    ('window_start = "tomorrow"\n', "window_start"),
])
def test_toml_bad_reader_setting_is_one_line_error(capsys, tmp_path, text, key):
    """A bad setting in a TOML config (23 diurnal numbers, vcs as a string) is a one-line error naming the key."""
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    rc, _, err = cli(capsys, "run", "--config", config)
    assert_one_line_error(rc, err, key)


@pytest.mark.parametrize("window, ids", [(":100", {"a", "b"}), ("10:", {"b", "c", "d"})])
def test_window_flag_replaces_the_config_window(capsys, tmp_path, window, ids):
    """--window FROM:TO replaces a config file's window: an empty side means unbounded, as the help says."""
    trace = write(tmp_path / "w.csv", "job_id,submit_time,num_gpus,duration\na,0,1,10\nb,50,1,10\n"
                                      "c,250,1,10\nd,400,1,10\n")
    config = write(tmp_path / "c.toml", "window_start = 200.0\nwindow_end = 300.0\n")
    rc, _, err = cli(capsys, "run", "--config", config, "--trace", trace, "--window", window, "--out", tmp_path / "o")
    assert rc == 0, err
    assert read_jobs(tmp_path / "o" / "jobs.csv").keys() == ids


# --- detection ------------------------------------------------------------------------------


def _fixture_files() -> list[Path]:
    files = [p for p in sorted(DATA.glob("*/*")) if p.is_file() and p.parent.name in FORMATS
             and not p.name.startswith("openb_node_list")]  # node lists describe clusters, not jobs
    return files + [traces.SAMPLE, ALIBABA_SAMPLE]


def _format_of(path: Path) -> str:
    return {traces.SAMPLE: "canonical", ALIBABA_SAMPLE: "alibaba2023"}.get(path, path.parent.name)


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_and_sample_is_detected_as_its_format(path):
    """Every hand-made fixture (tests/data/<format>/) and both bundled samples are detected as their format."""
    assert detect(path) == _format_of(path)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("text", ["hello,world\n1,2\n", "", "just some words\n"])
def test_unrecognisable_file_suggests_format(capsys, tmp_path, command, text):
    """A file no reader recognises is a one-line error suggesting --format."""
    path = tmp_path / "mystery.dat"
    path.write_text(text, encoding="utf-8")
    rc, _, err = cli(capsys, *argv(command, path, tmp_path / "o"))
    assert_one_line_error(rc, err, "mystery.dat", "--format")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("opts, words", [([], ["cannot tell", "--format"]),
                                         (["--format", "tiresias"], ["tf_job.csv:1", "iterations", "interval"])])
def test_tiresias_tf_job_is_a_clean_error(capsys, tmp_path, command, opts, words):
    """The Tiresias testbed's tf_job.csv is refused cleanly, detected or forced as tiresias."""
    path = SHARED / "tiresias-toy" / "tf_job.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    rc, _, err = cli(capsys, *argv(command, path, tmp_path / "o", *opts))
    assert_one_line_error(rc, err, *words)
