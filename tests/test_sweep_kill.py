"""A sweep killed with SIGKILL mid-way and resumed loses no run, repeats none, and ends with files
identical to a sweep that was never interrupted.

The sweep runs as its own process (``python -m sim.cli sweep``), is killed twice once some runs
are done (SIGKILL: no handler, no cleanup) and resumed with ``--resume``; with two workers only
the sweep's own process is killed, as the OOM killer or ``kill -9 PID`` would, so its orphaned
workers may still be finishing runs while the resumed sweep starts. Runs are deterministic, so
every file must match the uninterrupted sweep's byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.sweep import expand, load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
name = "kill-test"
seeds = 3
synthetic = { jobs = 1500, sizes = "1:0.6,2:0.2,4:0.2", durations = "exponential:600" }
clusters = ["2x4"]
loads = [0.6, 0.9]
policies = ["fifo", "srtf"]
"""


def start(spec: Path, out: Path, *flags: str) -> subprocess.Popen:
    """The sweep as its own process; its output goes to files beside ``out`` (not pipes: a killed
    sweep's workers would hold a pipe open until they exit)."""
    log = out.with_name(f"{out.name}.{len(list(out.parent.glob(out.name + '.*.log')))}.log")
    with log.open("w") as handle:
        sweep = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(spec), "--out", str(out), "--quiet",
                                  *flags], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, text=True)
    sweep.log = log
    return sweep


def workers_of(out: Path) -> list[int]:
    """Processes still running a sweep into ``out`` (pool workers are forks: same command line)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(out).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def finished(out: Path) -> set[str]:
    """The run folders that are complete (a run's folder appears by an atomic rename)."""
    runs = out / "runs"
    return {p.name for p in runs.iterdir() if not p.name.startswith(".")} if runs.is_dir() else set()


def kill_after(sweep: subprocess.Popen, out: Path, runs: int, total: int) -> None:
    """SIGKILL the sweep's process once ``runs`` runs are done (and before all ``total`` are)."""
    deadline = time.monotonic() + 120
    while len(finished(out)) < runs:
        assert sweep.poll() is None, f"the sweep ended before it could be killed: {sweep.log.read_text()}"
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.002)
    os.kill(sweep.pid, signal.SIGKILL)
    assert sweep.wait(timeout=60) == -signal.SIGKILL
    assert len(finished(out)) < total, "the sweep was killed only after its last run"


def files(out: Path) -> dict[str, bytes]:
    """Every file under ``out``, by relative path (hidden leftovers included, so they show up)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_and_resumed_sweep_equals_an_uninterrupted_one(tmp_path, workers):
    """Killed after 3 runs, resumed, killed again after 7, resumed to the end: the same results
    table, manifest and run folders as an uninterrupted sweep; every run exactly once."""
    spec = tmp_path / "exp.toml"
    spec.write_text(SPEC)
    runs = expand(load_spec(spec)[0], spec)
    total = len(runs)
    reference = tmp_path / "reference"
    run_sweep(spec, reference, workers=workers, progress=False)

    out = tmp_path / "killed"
    kill_after(start(spec, out, "--workers", str(workers)), out, 3, total)
    kill_after(start(spec, out, "--workers", str(workers), "--resume"), out, 7, total)
    last = start(spec, out, "--workers", str(workers), "--resume")
    assert last.wait(timeout=300) == 0, last.log.read_text()
    assert f"{total} runs in {out} (0 failed)" in last.log.read_text()
    if Path("/proc").is_dir():  # the killed sweeps' workers exit by themselves (within a second or so)
        deadline = time.monotonic() + 30
        while workers_of(out) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not workers_of(out), "workers of a killed sweep are still running"

    assert finished(out) == {r.run_id for r in runs}
    lines = (out / "results.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [r.run_id for r in runs]  # each once, in order
    mine, theirs = files(out), files(reference)
    assert sorted(mine) == sorted(theirs), "files differ (a leftover or a missing run?)"
    different = [name for name in theirs if mine[name] != theirs[name]]
    assert not different, f"{len(different)} file(s) differ from the uninterrupted sweep, e.g. {different[:3]}"


def test_a_run_written_but_not_yet_renamed_is_run_again(tmp_path):
    """Killed between writing a run's last file and renaming its folder: the half-done folder
    (whose row.json already says ok) must not count as done, and no leftover remains."""
    spec = tmp_path / "exp.toml"
    spec.write_text(SPEC.replace("seeds = 3", "seeds = 1").replace("loads = [0.6, 0.9]", "loads = [0.6]"))
    out = tmp_path / "out"
    rows = run_sweep(spec, out, progress=False)
    first = rows[0]["run_id"]
    before = files(out)
    (out / "runs" / first).rename(out / "runs" / f".{first}.12345.tmp")  # the state SIGKILL leaves there
    (out / "runs" / ".0000000000000000.999.tmp").mkdir()  # and a leftover of a run that never finished
    again = run_sweep(spec, out, resume=True, progress=False)
    assert [(r["run_id"], r["status"]) for r in again] == [(r["run_id"], "ok") for r in rows]
    assert files(out) == before


def test_a_damaged_manifest_is_a_clean_error(tmp_path):
    """A manifest.json that is not JSON (written by hand, or by an older gpusim killed while
    writing it) stops --resume with one line naming it, instead of a traceback."""
    from sim.errors import GpusimError

    spec = tmp_path / "exp.toml"
    spec.write_text(SPEC.replace("seeds = 3", "seeds = 1").replace("loads = [0.6, 0.9]", "loads = [0.6]"))
    out = tmp_path / "out"
    run_sweep(spec, out, progress=False)
    manifest = out / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])
    before = files(out)
    with pytest.raises(GpusimError, match=r"manifest\.json: not readable .*--force") as err:
        run_sweep(spec, out, resume=True, progress=False)
    assert len(str(err.value).splitlines()) == 1
    assert files(out) == before  # nothing touched
