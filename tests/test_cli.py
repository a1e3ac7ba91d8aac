"""Tests of the ``gpusim`` command line: run, compare, policies, run folders, and its one-line errors."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

import policies
import traces
from sim.cli import main
from sim.metrics import JOB_COLUMNS, SUMMARY_KEYS, TIMESERIES_COLUMNS
from sim.model import Cluster
from sim.placement import DEFAULT
from traces.canonical import read_csv

RUN_FILES = {"jobs.csv", "summary.json", "events.csv", "timeseries.csv", "config.json"}
HEADER = "job_id,submit_time,num_gpus,duration"


def gpusim_command() -> list[str]:
    """The installed console script (next to this interpreter first), else ``python -m sim.cli``."""
    exe = shutil.which("gpusim", path=str(Path(sys.executable).parent)) or shutil.which("gpusim")
    return [exe] if exe else [sys.executable, "-m", "sim.cli"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def shell(*argv, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*gpusim_command(), *map(str, argv)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def assert_one_line_error(rc: int, err: str, *words: str) -> None:
    assert "Traceback" not in err
    assert rc == 2, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpusim: error:"), err
    for word in words:
        assert word in lines[0], (word, lines[0])


def trace(tmp_path: Path, rows: str, name: str = "t.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + textwrap.dedent(rows).lstrip("\n"), encoding="utf-8")
    return path


def table(stdout: str) -> dict[str, str]:
    """The printed ``metric  value`` table of ``gpusim run`` as text cells."""
    cells = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in SUMMARY_KEYS:
            cells[parts[0]] = parts[1]
    return cells


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def summary_of(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def config_of(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


# --- run, policies, help --------------------------------------------------------------------


def test_run_without_arguments_simulates_the_bundled_sample(capsys):
    """`gpusim run` alone runs fifo on the bundled sample, calibrated with the bundled Gavel profile
    (said in notes), finishes every job and prints a summary."""
    rc, out, err = cli(capsys, "run")
    assert rc == 0, err
    assert err.splitlines() == ["gpusim: note: assigned models from gavel to 7423 job(s) by GPU-time bucket",
                                "gpusim: note: calibrated with gavel (reference GPU type P100)"]
    n = len(read_csv(traces.SAMPLE).jobs)
    assert f"{n} jobs" in out and "fifo" in out
    cells = table(out)
    assert set(cells) == set(SUMMARY_KEYS)
    assert int(cells["jobs"]) == n and int(cells["unfinished"]) == 0


def test_no_command_prints_help(capsys):
    """`gpusim` without a command prints help naming the three commands and exits 0."""
    rc, out, _ = cli(capsys)
    assert rc == 0
    for command in ("run", "compare", "policies"):
        assert command in out


def test_policies_lists_every_registered_policy(capsys):
    """`gpusim policies` prints one line per registered name: its docstring summary and its parameters."""
    rc, out, _ = cli(capsys, "policies")
    assert rc == 0
    listed = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert set(listed) == set(policies.available())
    for name, description in listed.items():
        cls = policies.load(name)  # cross-check the syntax-tree scan against the imported class
        assert cls.name == name
        summary = cls.__doc__.strip().splitlines()[0].strip()
        assert summary and description.startswith(summary)
        for param in policies.parameters(cls):
            assert f"{param}=" in description


def test_policy_listing_imports_no_policy_module(tmp_path):
    """Listing policies and building the parser import no policy module and no TensorFlow."""
    code = textwrap.dedent("""
        import sys, policies, sim.cli
        heavy = ("tensorflow", "keras", "ray", "matplotlib")
        def loaded():
            return sorted(m for m in sys.modules if m.startswith("policies.") or m.split(".")[0] in heavy)
        names = policies.available()
        sim.cli.build_parser()
        assert sim.cli.main(["policies"]) == 0
        before = loaded()
        policies.load("fifo")  # control: the check does see a policy import
        print("RESULT", before, "policies.fifo" in sys.modules, len(names))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = proc.stdout.strip().splitlines()[-1]
    assert result == f"RESULT [] True {len(policies.available())}"


def test_console_script_runs_and_exits_zero(tmp_path):
    """The installed `gpusim` script runs a small synthetic workload and exits 0 with no error output."""
    proc = shell("run", "--synthetic", "30", "--cluster", "1x8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert int(table(proc.stdout)["jobs"]) == 30


@pytest.mark.parametrize("argv, words", [
    (["run", "--policy", "nosuch"], ["nosuch"]),
    (["run", "--cluster", "8y8"], ["8y8"]),
    (["run", "--trace", "missing.csv"], ["missing.csv"]),
    (["compare", "--policies", "fifo", "--seeds", "0"], ["--seeds"]),
], ids=["policy", "cluster", "trace", "seeds"])
def test_console_script_errors_are_one_line(tmp_path, argv, words):
    """The installed script reports a user error as exit 2 and one `gpusim: error:` line, no traceback."""
    proc = shell(*argv, cwd=tmp_path)
    assert proc.stdout == ""
    assert_one_line_error(proc.returncode, proc.stderr, *words)


# --- run folders ----------------------------------------------------------------------------


def test_run_out_writes_documented_files(capsys, tmp_path):
    """--out DIR holds jobs.csv, summary.json, events.csv, timeseries.csv and config.json with the documented fields."""
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "run", "--synthetic", "60", "--cluster", "2x4", "--seed", "3", "--out", out)
    assert rc == 0, err
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert header_of(out / "jobs.csv") == list(JOB_COLUMNS)
    assert header_of(out / "timeseries.csv") == list(TIMESERIES_COLUMNS)
    assert header_of(out / "events.csv") == ["time", "kind", "job_id", "gpus", "nodes"]
    jobs = read_rows(out / "jobs.csv")
    assert [r["job_id"] for r in jobs] == [f"j{i}" for i in range(60)]
    summary = summary_of(out)
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["jobs"] == 60 and summary["unfinished"] == 0
    jct = [float(r["end_time"]) - float(r["submit_time"]) for r in jobs]
    assert summary["avg_jct"] == pytest.approx(sum(jct) / len(jct), rel=1e-12)
    kinds = [(r["kind"], r["job_id"]) for r in read_rows(out / "events.csv")]
    for r in jobs:
        assert kinds.count(("submit", r["job_id"])) == kinds.count(("finish", r["job_id"])) == 1
    config = config_of(out)
    assert config["seed"] == 3 and config["policy"] == "fifo" and config["placement"] == DEFAULT
    assert config["cluster"] == str(Cluster.parse("2x4"))
    assert config["gpusim_version"] == version("gpusim")
    assert config["synthetic"]["jobs"] == 60


def test_run_out_on_the_sample_records_the_trace(capsys, tmp_path):
    """Without a workload flag, config.json names the bundled sample as the trace."""
    out = tmp_path / "run"
    assert cli(capsys, "run", "--until", "0", "--out", out)[0] == 0
    assert Path(config_of(out)["trace"]) == traces.SAMPLE


def test_out_refuses_non_empty_folder_without_force(capsys, tmp_path):
    """A non-empty --out folder is refused (exit 2, one line) and left alone; --force overwrites it."""
    out = tmp_path / "run"
    assert cli(capsys, "run", "--synthetic", "20", "--seed", "1", "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, _, err = cli(capsys, "run", "--synthetic", "20", "--seed", "2", "--out", out)
    assert_one_line_error(rc, err, str(out), "--force")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    rc, _, err = cli(capsys, "run", "--synthetic", "20", "--seed", "2", "--out", out, "--force")
    assert rc == 0, err
    assert config_of(out)["seed"] == 2
    assert (out / "jobs.csv").read_bytes() != before["jobs.csv"]


def test_same_seed_gives_identical_files_other_seed_differs(capsys, tmp_path):
    """Two runs with one seed write byte-identical files; another seed changes jobs and events."""
    folders = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        folders[name] = tmp_path / name
        rc, _, err = cli(capsys, "run", "--policy", "random", "--synthetic", "150", "--cluster", "2x4",
                         "--seed", seed, "--out", folders[name])
        assert rc == 0, err
    for f in RUN_FILES:
        assert (folders["a"] / f).read_bytes() == (folders["b"] / f).read_bytes(), f
    for f in ("jobs.csv", "events.csv", "config.json"):
        assert (folders["a"] / f).read_bytes() != (folders["c"] / f).read_bytes(), f


def test_seed_changes_a_random_policy_on_a_fixed_trace(capsys, tmp_path):
    """On a fixed trace the seed still drives the random policy: same jobs, different event order."""
    rows = "".join(f"j{i},0,1,{10 + i}\n" for i in range(12))
    path = trace(tmp_path, rows)
    logs = []
    for seed in (1, 1, 2):
        out = tmp_path / f"s{len(logs)}"
        assert cli(capsys, "run", "--policy", "random", "--trace", path, "--cluster", "1x2", "--seed", seed,
                   "--out", out)[0] == 0
        logs.append((out / "events.csv").read_bytes())
    assert logs[0] == logs[1]
    assert logs[0] != logs[2]


# --- compare --------------------------------------------------------------------------------


def test_compare_writes_summary_and_run_folders(capsys, tmp_path):
    """compare prints one row per policy and writes summary.csv (policy × seed) plus one run folder each."""
    out = tmp_path / "cmp"
    rc, stdout, err = cli(capsys, "compare", "--policies", "fifo,srtf", "--synthetic", "200", "--cluster", "2x4",
                          "--seeds", "2", "--out", out)
    assert rc == 0, err
    first_words = [line.split()[0] for line in stdout.splitlines() if line.strip()]
    assert first_words.count("fifo") == first_words.count("srtf") == 1
    assert header_of(out / "summary.csv") == ["policy", "seed", *SUMMARY_KEYS]
    rows = read_rows(out / "summary.csv")
    assert sorted((r["policy"], r["seed"]) for r in rows) == [("fifo", "0"), ("fifo", "1"), ("srtf", "0"), ("srtf", "1")]
    runs = out / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["fifo-seed0", "fifo-seed1", "srtf-seed0", "srtf-seed1"]
    for r in rows:
        folder = runs / f"{r['policy']}-seed{r['seed']}"
        assert {p.name for p in folder.iterdir()} >= RUN_FILES - {"config.json"}
        summary = summary_of(folder)
        for key in SUMMARY_KEYS:
            if summary[key] is None:  # NaN in the CSV is null in summary.json (no such jobs)
                assert math.isnan(float(r[key])), key
            else:
                assert float(r[key]) == pytest.approx(summary[key], rel=1e-12), key
    config = config_of(out)
    assert config["policies"] == ["fifo", "srtf"] and config["seeds"] == 2

    def workload(folder):
        return [(r["job_id"], r["submit_time"], r["num_gpus"], r["duration"]) for r in read_rows(runs / folder / "jobs.csv")]

    # Common random numbers: every policy sees the same draw per seed; seeds draw anew.
    assert workload("fifo-seed0") == workload("srtf-seed0")
    assert workload("fifo-seed1") == workload("srtf-seed1")
    assert workload("fifo-seed0") != workload("fifo-seed1")


def test_compare_without_out_prints_only(capsys, tmp_path):
    """compare with one seed prints a table without ± and writes nothing."""
    rc, stdout, err = cli(capsys, "compare", "--policies", "sjf", "--synthetic", "40", "--cluster", "1x8")
    assert rc == 0, err
    assert "±" not in stdout
    assert [line.split()[0] for line in stdout.splitlines()].count("sjf") == 1


# --- policy parameters ----------------------------------------------------------------------


def test_policy_arg_thresholds_reach_tiresias(capsys, tmp_path):
    """--policy-arg thresholds=[100,200] changes tiresias's schedule; its documented default changes nothing."""
    default = policies.parameters(policies.load("tiresias"))["thresholds"][1]
    logs = {}
    for name, extra in (("none", []), ("low", ["--policy-arg", "thresholds=[100,200]"]),
                        ("default", ["--policy-arg", f"thresholds=[{', '.join(map(repr, default))}]"])):
        out = tmp_path / name
        rc, _, err = cli(capsys, "run", "--policy", "tiresias", "--synthetic", "300", "--cluster", "2x4",
                         "--durations", "exponential:600", "--load", "1.1", "--seed", "4", "--out", out, *extra)
        assert rc == 0, err
        logs[name] = (out / "events.csv").read_bytes()
    assert logs["low"] != logs["none"]
    assert logs["default"] == logs["none"]
    assert config_of(tmp_path / "low")["policy_args"] == {"thresholds": [100, 200]}


PRIORITY_TRACE = "job_id,submit_time,num_gpus,duration,priority"


@pytest.mark.parametrize("args, preemptions, high_start, low_end", [
    ([], 0, 100.0, 100.0),                                   # high waits for low to finish
    (["--policy-arg", "preemptive=false"], 0, 100.0, 100.0),
    (["--policy-arg", "preemptive=true"], 1, 10.0, 110.0),   # low runs 0-10, high 10-20, low 20-110
])
def test_policy_arg_preemptive_reaches_priority(capsys, tmp_path, args, preemptions, high_start, low_end):
    """With preemptive=true a high-priority arrival preempts the low-priority job holding the only GPU."""
    path = trace(tmp_path, "low,0,1,100,0\nhigh,10,1,10,5\n", header=PRIORITY_TRACE)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "run", "--policy", "priority", "--trace", path, "--cluster", "1x1", "--out", out, *args)
    assert rc == 0, err
    assert summary_of(out)["preemptions"] == preemptions
    jobs = {r["job_id"]: r for r in read_rows(out / "jobs.csv")}
    assert float(jobs["high"]["start_time"]) == high_start
    assert float(jobs["low"]["end_time"]) == low_end


def test_outside_policy_by_module_and_class(tmp_path):
    """--policy module:Class loads a policy from outside the package (here: newest job first)."""
    (tmp_path / "mypolicies.py").write_text(textwrap.dedent('''
        from sim.model import Start

        class Newest:
            """Newest pending job first, one GPU at a time."""

            def schedule(self, view, rng):
                return [Start(j.job_id) for j in list(view.pending)[::-1][: view.free_gpus]]
    '''), encoding="utf-8")
    path = trace(tmp_path, "a,0,1,10\nb,1,1,10\nc,2,1,10\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = shell("run", "--policy", "mypolicies:Newest", "--trace", path, "--cluster", "1x1", "--out", "o",
                 cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    starts = {r["job_id"]: float(r["start_time"]) for r in read_rows(tmp_path / "o" / "jobs.csv")}
    assert starts == {"a": 0.0, "c": 10.0, "b": 20.0}


# --- --until and --config -------------------------------------------------------------------


def test_until_stops_and_counts_unfinished(capsys, tmp_path):
    """--until 500 stops a 1,000 s job: one unfinished job, a stop event, makespan = the stop time."""
    path = trace(tmp_path, "long,0,1,1000\nshort,0,1,100\n")
    out = tmp_path / "run"
    rc, stdout, err = cli(capsys, "run", "--trace", path, "--cluster", "1x2", "--until", "500", "--out", out)
    assert rc == 0, err
    assert int(table(stdout)["unfinished"]) == 1
    summary = summary_of(out)
    assert summary["unfinished"] == 1 and summary["makespan"] == 500.0
    events = read_rows(out / "events.csv")
    assert (events[-1]["kind"], float(events[-1]["time"])) == ("stop", 500.0)
    jobs = {r["job_id"]: r for r in read_rows(out / "jobs.csv")}
    assert jobs["long"]["end_time"] == "" and float(jobs["short"]["end_time"]) == 100.0


def test_config_file_sets_values_and_flags_override(capsys, tmp_path):
    """--config sets every value it names; a flag given as well wins over the file."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(textwrap.dedent("""
        cluster = "2x4"
        policy = "tiresias"
        seed = 3
        placement = "spread"
        policy_args = { thresholds = [100, 200] }
        synthetic = { jobs = 40, load = 0.5 }
    """), encoding="utf-8")
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(capsys, "run", "--config", cfg, "--out", a)[0] == 0
    config = config_of(a)
    assert (config["cluster"], config["policy"], config["seed"], config["placement"]) == (
        str(Cluster.parse("2x4")), "tiresias", 3, "spread")
    assert config["policy_args"] == {"thresholds": [100, 200]}
    assert config["synthetic"]["jobs"] == 40 and config["synthetic"]["load"] == 0.5
    rc, _, err = cli(capsys, "run", "--config", cfg, "--seed", "9", "--placement", "pack", "--cluster", "1x8",
                     "--policy-arg", "thresholds=[50,60]", "--synthetic", "25", "--out", b)
    assert rc == 0, err
    config = config_of(b)
    assert (config["cluster"], config["policy"], config["seed"], config["placement"]) == (
        str(Cluster.parse("1x8")), "tiresias", 9, "pack")
    assert config["policy_args"] == {"thresholds": [50, 60]}
    assert config["synthetic"]["jobs"] == 25


def test_flag_synthetic_overrides_a_config_trace(capsys, tmp_path):
    """--synthetic on the command line replaces the config file's trace."""
    path = trace(tmp_path, "a,0,1,5\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"trace = '{path}'\ncluster = '1x8'\n", encoding="utf-8")
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "run", "--config", cfg, "--synthetic", "12", "--out", out)
    assert rc == 0, err
    config = config_of(out)
    assert config["trace"] is None and config["synthetic"]["jobs"] == 12


def test_flag_trace_overrides_a_config_synthetic(capsys, tmp_path):
    """--trace on the command line replaces the config file's synthetic workload."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("synthetic = { jobs = 5 }\ncluster = '1x8'\n", encoding="utf-8")
    path = trace(tmp_path, "a,0,1,5\nb,1,1,5\n")
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "run", "--config", cfg, "--trace", path, "--out", out)
    assert rc == 0, err
    config = config_of(out)
    assert config["synthetic"] is None and config["trace"] == str(path)
    assert summary_of(out)["jobs"] == 2


def test_config_file_unknown_key_names_key_and_file(capsys, tmp_path):
    """An unknown key in the config file is a one-line error naming the key and the file."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('cluster = "2x4"\nclustre = "8x8"\n', encoding="utf-8")
    rc, _, err = cli(capsys, "run", "--config", cfg)
    assert_one_line_error(rc, err, "clustre", str(cfg))


@pytest.mark.parametrize("command", ["calibrate", "rl", "trace"])
def test_a_command_without_its_action_is_an_error_and_help_is_not(capsys, command):
    """`gpusim COMMAND` with no action says so on stderr and exits 2; `--help` prints it
    on stdout and exits 0; the top-level help lists the command."""
    rc, out, err = cli(capsys, command)
    assert rc == 2 and out == "" and ("usage" in err.lower() or "required" in err)
    try:
        rc, out, err = cli(capsys, command, "--help")
    except SystemExit as exit_:  # argparse's own help
        rc, (out, err) = exit_.code, capsys.readouterr()
    assert rc == 0 and "usage" in out.lower()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert re.search(rf"^ +{command}\b", capsys.readouterr().out, re.M)


def test_config_file_unknown_policy_names_key_and_file(capsys, tmp_path):
    """An unknown policy in the config file is a one-line error naming the key and the file."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('cluster = "2x4"\npolicy = "nosuch"\n', encoding="utf-8")
    rc, _, err = cli(capsys, "run", "--config", cfg)
    assert_one_line_error(rc, err, "'policy'", "nosuch", str(cfg))


# --- traces through the CLI -----------------------------------------------------------------


def test_trace_blank_lines_are_ignored(capsys, tmp_path):
    """Blank lines anywhere in a trace are skipped."""
    path = trace(tmp_path, "\na,0,1,10\n\n\nb,5,1,10\n\n")
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "run", "--trace", path, "--cluster", "1x1", "--out", out)
    assert rc == 0, err
    assert err == ""
    assert [r["job_id"] for r in read_rows(out / "jobs.csv")] == ["a", "b"]


def test_trace_unknown_columns_give_a_note(capsys, tmp_path):
    """An unknown column is named in a note on stderr and the run still succeeds."""
    path = trace(tmp_path, "a,0,1,10,red\n", header=HEADER + ",colour")
    rc, out, err = cli(capsys, "run", "--trace", path, "--cluster", "1x1")
    assert rc == 0
    notes = err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("gpusim: note:") and "colour" in notes[0]
    assert int(table(out)["jobs"]) == 1


def test_trace_rows_sorted_with_ties_in_file_order_and_rebased(capsys, tmp_path):
    """Unsorted rows are sorted by submit time (ties in file order) and rebased so the first is at 0."""
    path = trace(tmp_path, "c,500,1,10\na,200,1,10\nb,200,1,10\n")
    out = tmp_path / "run"
    assert cli(capsys, "run", "--trace", path, "--cluster", "1x1", "--out", out)[0] == 0
    rows = read_rows(out / "jobs.csv")
    assert [(r["job_id"], float(r["submit_time"]), float(r["start_time"])) for r in rows] == [
        ("a", 0.0, 0.0), ("b", 0.0, 10.0), ("c", 300.0, 300.0)]


def test_oversize_jobs_are_listed_or_dropped(capsys, tmp_path):
    """Jobs larger than the cluster are an error listing them; --drop-oversize runs the rest with a note."""
    path = trace(tmp_path, "small,0,2,10\nbig,1,16,10\nhuge,2,32,10\n")
    rc, _, err = cli(capsys, "run", "--trace", path, "--cluster", "1x8")
    assert_one_line_error(rc, err, "big", "huge", "--drop-oversize")
    assert "small" not in err
    rc, out, err = cli(capsys, "run", "--trace", path, "--cluster", "1x8", "--drop-oversize")
    assert rc == 0
    notes = err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("gpusim: note:") and "dropped 2" in notes[0]
    assert int(table(out)["jobs"]) == 1


def test_compare_reports_each_note_once(capsys, tmp_path):
    """compare over several seeds and policies prints each trace note once (unknown column, dropped jobs)."""
    path = trace(tmp_path, "a,0,1,10,x\nb,1,2,10,y\nbig,2,16,10,z\n", header=HEADER + ",colour")
    rc, out, err = cli(capsys, "compare", "--policies", "fifo,sjf", "--seeds", "3", "--trace", path,
                       "--cluster", "1x8", "--drop-oversize")
    assert rc == 0, err
    notes = err.strip().splitlines()
    assert len(notes) == 2 and all(n.startswith("gpusim: note:") for n in notes)
    assert any("colour" in n for n in notes) and any("dropped 1" in n and "big" in n for n in notes)


# --- every user error: exit 2, one line, no traceback ---------------------------------------

GOOD = HEADER + "\na,0,1,10\n"
BAD_INPUTS = {
    # policies and their parameters
    "unknown-policy": (["run", "--policy", "nosuch"], ["'nosuch'"]),
    "unknown-policy-compare": (["compare", "--policies", "fifo,nosuch", "--synthetic", "10"], ["'nosuch'"]),
    "unknown-parameter": (["run", "--policy", "fifo", "--policy-arg", "speed=1"], ["'speed'"]),
    "badly-typed-parameter": (["run", "--policy", "tiresias", "--policy-arg", "thresholds=abc"], ["thresholds"]),
    "bad-parameter-value": (["run", "--policy", "tiresias", "--policy-arg", "thresholds=[200,100]"], ["thresholds"]),
    "badly-typed-bool": (["run", "--policy", "priority", "--policy-arg", "preemptive=maybe"], ["preemptive"]),
    "policy-arg-without-equals": (["run", "--policy-arg", "thresholds"], ["key=value"]),
    "policy-arg-without-key": (["run", "--policy-arg", "=3"], ["key=value"]),
    "outside-no-module": (["run", "--policy", "nosuchmodule:X"], ["nosuchmodule"]),
    "outside-no-class": (["run", "--policy", "sim.model:Nope"], ["Nope"]),
    "outside-not-a-policy": (["run", "--policy", "sim.model:Clock"], ["sim.model:Clock"]),
    # cluster and placement
    "cluster-8y8": (["run", "--cluster", "8y8"], ["8y8"]),
    "cluster-0x8": (["run", "--cluster", "0x8"], ["0x8"]),
    "cluster-8x0": (["run", "--cluster", "8x0"], ["8x0"]),
    "cluster-empty": (["run", "--cluster", ""], ["cluster"]),
    "cluster-trailing-comma": (["compare", "--policies", "fifo", "--cluster", "8x8,"], ["8x8,"]),
    "unknown-placement": (["run", "--placement", "nowhere"], ["nowhere"]),
    # traces
    "missing-trace": (["run", "--trace", "{tmp}/absent.csv"], ["absent.csv"]),
    "missing-column": (["run", "--trace", "{trace:job_id,submit_time,num_gpus\na,0,1\n}"], ["duration"]),
    "non-numeric": (["run", "--trace", "{trace:" + GOOD + "b,0,two,10\n}"], ["t.csv:3", "num_gpus"]),
    "negative-duration": (["run", "--trace", "{trace:" + GOOD + "b,0,1,-10\n}"], ["t.csv:3", "duration"]),
    "zero-duration": (["run", "--trace", "{trace:" + GOOD + "b,0,1,0\n}"], ["t.csv:3", "duration"]),
    "negative-gpus": (["run", "--trace", "{trace:" + GOOD + "b,0,-1,10\n}"], ["t.csv:3", "num_gpus"]),
    "duplicate-id": (["run", "--trace", "{trace:" + GOOD + "b,1,1,1\na,2,1,1\n}"], ["t.csv:4", "line 2", "'a'"]),
    "wrong-field-count": (["run", "--trace", "{trace:" + GOOD + "b,1,1\n}"], ["t.csv:3", "fields"]),
    "empty-trace": (["run", "--trace", "{trace:}"], ["t.csv"]),
    "oversize": (["run", "--trace", "{trace:" + GOOD + "big,1,99,10\n}"], ["big"]),
    "all-oversize-dropped": (["run", "--trace", "{trace:" + HEADER + "\nbig,1,99,10\n}", "--drop-oversize"],
                             ["fit"]),
    "trace-and-synthetic-in-config": (["run", "--config", "{config:trace = 'x.csv'\nsynthetic = {jobs = 5}\n}"],
                                      ["synthetic"]),
    # synthetic workloads
    "load-without-synthetic": (["run", "--load", "0.5"], ["--synthetic"]),
    "durations-without-synthetic": (["compare", "--policies", "fifo", "--durations", "constant:5"], ["--synthetic"]),
    "durations-weibull": (["run", "--synthetic", "10", "--durations", "weibull:1"], ["weibull"]),
    "durations-lognormal-x": (["run", "--synthetic", "10", "--durations", "lognormal:x"], ["lognormal:x"]),
    "durations-param-count": (["run", "--synthetic", "10", "--durations", "lognormal:7"], ["lognormal"]),
    "sizes-text": (["run", "--synthetic", "10", "--sizes", "1:x"], ["1:x"]),
    "sizes-zero-gpus": (["run", "--synthetic", "10", "--sizes", "0:1"], ["0:1"]),
    "sizes-all-zero": (["run", "--synthetic", "10", "--sizes", "1:0,2:0"], ["1:0,2:0"]),
    "synthetic-zero-jobs": (["run", "--synthetic", "0"], ["job"]),
    "synthetic-not-a-number": (["run", "--synthetic", "many"], ["many"]),
    "load-zero": (["run", "--synthetic", "10", "--load", "0"], ["load"]),
    "min-duration-zero": (["run", "--synthetic", "10", "--min-duration", "0"], ["duration"]),
    "max-below-min": (["run", "--synthetic", "10", "--min-duration", "5", "--max-duration", "2"], ["duration"]),
    # numbers and counts
    "seeds-zero": (["compare", "--policies", "fifo", "--synthetic", "10", "--seeds", "0"], ["--seeds"]),
    "policies-empty": (["compare", "--policies", ""], ["--policies"]),
    "policies-commas": (["compare", "--policies", " , "], ["--policies"]),
    "negative-seed": (["run", "--seed", "-1"], ["seed"]),
    "negative-seed-compare": (["compare", "--policies", "fifo", "--seed", "-3"], ["seed"]),
    "seed-not-integer": (["run", "--seed", "1.5"], ["1.5"]),
    "negative-restart-overhead": (["run", "--synthetic", "10", "--restart-overhead", "-1"], ["restart_overhead"]),
    "nan-restart-overhead": (["run", "--synthetic", "10", "--restart-overhead", "nan"], ["restart_overhead"]),
    "negative-until": (["run", "--synthetic", "10", "--until", "-5"], ["until"]),
    # output folder
    "out-not-empty": (["run", "--synthetic", "10", "--out", "{full}"], ["--force"]),
    "out-is-a-file": (["run", "--synthetic", "10", "--out", "{file}"], ["not a folder"]),
    # command line and config file
    "unknown-command": (["simulate"], ["simulate"]),
    "unknown-flag": (["run", "--bogus"], ["--bogus"]),
    "compare-without-policies": (["compare"], ["--policies"]),
    "missing-config": (["run", "--config", "{tmp}/absent.toml"], ["absent.toml"]),
    "invalid-toml": (["run", "--config", "{config:cluster = \n}"], ["c.toml"]),
    "unknown-config-key": (["run", "--config", "{config:speed = 3\n}"], ["'speed'", "c.toml"]),
    "unknown-synthetic-key": (["run", "--config", "{config:synthetic = {jobs = 5, rate = 2}\n}"], ["rate", "c.toml"]),
    "synthetic-without-jobs": (["run", "--config", "{config:synthetic = {load = 0.5}\n}"], ["jobs", "c.toml"]),
    "config-placement": (["run", "--config", "{config:placement = 'nowhere'\n}"], ["nowhere"]),
    "config-seed-text": (["run", "--config", "{config:seed = 'x'\n}"], ["seed"]),
}

# Bad inputs that once escaped as a traceback (or were silently accepted); the third item says how.
REGRESSIONS = {
    "outside-missing-submodule": (["run", "--policy", "sim.nosuch:X"], ["sim.nosuch"],
                                  "policies.load checks only the top-level package with find_spec; a missing "
                                  "submodule raises ModuleNotFoundError (traceback, exit 1)"),
    "durations-nan": (["run", "--synthetic", "10", "--durations", "exponential:nan"], ["nan"],
                      "Durations accepts NaN parameters; Job() then raises ValueError (traceback, exit 1)"),
    "durations-inf": (["run", "--synthetic", "10", "--durations", "exponential:inf"], ["inf"],
                      "Durations accepts an infinite mean; Workload.generate divides by a zero arrival rate "
                      "(ZeroDivisionError traceback, exit 1)"),
    "sizes-empty": (["run", "--synthetic", "10", "--sizes", ""], ["sizes"],
                    "synthetic_workload tests `if sizes`, so --sizes '' silently uses the default mix (exit 0)"),
    "durations-empty": (["run", "--synthetic", "10", "--durations", ""], ["durations"],
                        "synthetic_workload tests `if durations`, so --durations '' silently uses the default "
                        "(exit 0)"),
    "trace-not-utf8": (["run", "--trace", "{latin1}"], ["t.csv"],
                       "read_csv reads the header outside the try that catches UnicodeDecodeError and the "
                       "decoder reads ahead, so a small non-UTF-8 trace raises UnicodeDecodeError (traceback)"),
    "config-cluster-int": (["run", "--config", "{config:cluster = 5\n}"], ["cluster"],
                           "RunConfig calls Cluster.parse(5): AttributeError traceback"),
    "config-policy-int": (["run", "--config", "{config:policy = 5\n}"], ["policy"],
                          "policies.load(5) does `':' in 5`: TypeError traceback"),
    "config-until-text": (["run", "--config", "{config:until = 'x'\n}"], ["until"],
                          "simulate compares 'x' >= 0: TypeError traceback"),
    "config-overhead-text": (["run", "--config", "{config:restart_overhead = 'x'\n}"], ["restart_overhead"],
                             "simulate compares 'x' < 0: TypeError traceback"),
    "config-trace-int": (["run", "--config", "{config:trace = 5\n}"], ["trace"],
                         "read_csv calls Path(5): TypeError traceback"),
    "config-synthetic-jobs-text": (["run", "--config", "{config:synthetic = {jobs = 'x'}\n}"], ["jobs"],
                                   "Workload compares 'x' < 1 in load_config: TypeError traceback"),
    "config-drop-oversize-text": (["run", "--config", "{config:drop_oversize = 'no'\n}"], ["drop_oversize"],
                                  "drop_oversize = 'no' is not type-checked and counts as true (exit 0)"),
}


def materialise(argv: list[str], tmp_path: Path) -> list[str]:
    """Replace {tmp}, {trace:TEXT}, {config:TEXT}, {full}, {file} and {latin1} by real paths."""
    out = []
    for a in argv:
        if a.startswith("{trace:"):
            path = tmp_path / "t.csv"
            path.write_text(a[len("{trace:"):-1], encoding="utf-8")
            a = str(path)
        elif a.startswith("{config:"):
            path = tmp_path / "c.toml"
            path.write_text(a[len("{config:"):-1], encoding="utf-8")
            a = str(path)
        elif a == "{full}":
            (tmp_path / "full").mkdir()
            (tmp_path / "full" / "keep.txt").write_text("x", encoding="utf-8")
            a = str(tmp_path / "full")
        elif a == "{file}":
            (tmp_path / "afile").write_text("x", encoding="utf-8")
            a = str(tmp_path / "afile")
        elif a == "{latin1}":
            (tmp_path / "t.csv").write_bytes((GOOD + "\xe9,1,1,1\n").encode("latin-1"))
            a = str(tmp_path / "t.csv")
        out.append(a.replace("{tmp}", str(tmp_path)))
    return out


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_error(capsys, tmp_path, case):
    """Each bad input exits 2 with exactly one `gpusim: error:` line naming the problem, no traceback."""
    argv, words = BAD_INPUTS[case]
    rc, _, err = cli(capsys, *materialise(argv, tmp_path))
    assert_one_line_error(rc, err, *words)


@pytest.mark.parametrize("case", REGRESSIONS)
def test_bad_input_regressions_are_one_line_errors(capsys, tmp_path, case):
    """Inputs that once crashed or were silently accepted are exit 2 with one `gpusim: error:` line."""
    argv, words, _ = REGRESSIONS[case]
    rc, _, err = cli(capsys, *materialise(argv, tmp_path))
    assert_one_line_error(rc, err, *words)
