"""Tests of the Standard Workload Format reader (traces/swf.py): fixtures, bad lines, the real logs."""

from __future__ import annotations

import gzip
import math
import re
import shutil
from pathlib import Path

import pytest

from sim.errors import GpusimError
from sim.model import Cluster
from traces import SAMPLE, swf
from traces.formats import head
from traces.table import ReadOptions

DATA = Path(__file__).resolve().parent / "data" / "swf"
SMALL = DATA / "small.swf"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
GOOD = "1 0 -1 10 2 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1"


def line(**fields) -> str:
    """A good SWF job line with some of its 18 fields (by 1-based number, as f1..f18) replaced."""
    values = GOOD.split()
    for key, value in fields.items():
        values[int(key[1:]) - 1] = str(value)
    return " ".join(values)


def write(tmp_path: Path, lines: list[str], name: str = "log.swf") -> Path:
    path = tmp_path / name
    path.write_text("; MaxProcs: 64\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the hand-made log -------------------------------------------------------------------------


def test_reads_the_fixture_fields():
    """Kept jobs map number, submit, run time, processors, requested time, status and user."""
    jobs = {j.job_id: j for j in swf.read(SMALL).jobs}
    assert sorted(jobs) == ["1", "4", "6", "9"]
    one, four, six, nine = jobs["1"], jobs["4"], jobs["6"], jobs["9"]
    assert (one.submit_time, one.duration, one.num_gpus) == (0, 100, 4)
    assert (one.estimate, one.status, one.user) == (200, "1", "7")
    assert (four.submit_time, four.duration, four.num_gpus, four.status) == (90, 50.5, 6, "0")  # requested procs
    assert (six.num_gpus, six.status, six.user) == (32, None, None)  # -1 = unknown
    assert (nine.submit_time, nine.duration, nine.num_gpus, nine.estimate) == (260, 7, 3, 60)


def test_excludes_jobs_that_never_ran_and_counts_them():
    """Run time -1 or 0, no processor count, and unknown submit time are left out by rule, each counted."""
    trace = swf.read(SMALL)
    assert trace.excluded == {"with unknown run time (-1)": 1, "with run time 0 (under 0.5 s)": 1,
                              "with no processor count (neither allocated nor requested: -1 or 0)": 2,
                              "with unknown submit time (-1)": 1}
    assert trace.skipped == {}
    assert any("1 job(s) have no allocated processor count" in note for note in trace.notes)


def test_no_allocated_processors_falls_back_to_the_requested_count(tmp_path):
    """Allocated 0, like -1, gives way to the requested processors (the job ran: its run time is
    positive), counted in the note; with neither, the job is left out."""
    line = "{n} 0 0 100 {alloc} -1 -1 {req} -1 -1 1 1 1 -1 1 -1 -1 -1\n"
    path = tmp_path / "zero.swf"
    path.write_text(line.format(n=1, alloc=0, req=4) + line.format(n=2, alloc=0, req=0) + line.format(n=3, alloc=2, req=4),
                    encoding="utf-8")
    trace = swf.read(path)
    assert {j.job_id: j.num_gpus for j in trace.jobs} == {"1": 4, "3": 2}
    assert trace.excluded == {"with no processor count (neither allocated nor requested: -1 or 0)": 1}
    assert any("1 job(s) have no allocated processor count" in note for note in trace.notes)


def test_header_gives_cluster_and_attribution():
    """MaxProcs 32 on MaxNodes 4 gives 4 nodes of 8 GPUs; Computer/Installation/Acknowledge are noted."""
    trace = swf.read(SMALL)
    assert trace.cluster == "4x8"
    assert any("Computer: Test Machine 3000; Installation: Nowhere Computing Centre; "
               "Acknowledge: A. Donor and B. Helper" in note for note in trace.notes)


@pytest.mark.parametrize("per_gpu, spec, gpus", [(1, "4x8", [4, 6, 32, 3]), (2, "4x4", [2, 3, 16, 2]),
                                                  (3, "1x11", [2, 2, 11, 1]), (8, "4x1", [1, 1, 4, 1])])
def test_procs_per_gpu_maps_processors_and_cluster(per_gpu, spec, gpus):
    """num_gpus = ceil(processors / procs_per_gpu); the cluster keeps nodes only when the ratio divides them."""
    trace = swf.read(SMALL, ReadOptions(procs_per_gpu=per_gpu))
    assert [j.num_gpus for j in trace.jobs] == gpus
    assert [j.num_gpus for j in trace.jobs] == [math.ceil(p / per_gpu) for p in (4, 6, 32, 3)]
    assert trace.cluster == spec
    assert any(f"ceil(processors / {per_gpu})" in note for note in trace.notes)


@pytest.mark.parametrize("header, per_gpu, spec", [
    ({"MaxProcs": ["1152"], "MaxNodes": ["144"]}, 1, "144x8"),
    ({"MaxProcs": ["1152"], "MaxNodes": ["144"]}, 4, "144x2"),
    ({"MaxProcs": ["1152"], "MaxNodes": ["144"]}, 3, "1x384"),
    ({"MaxProcs": ["240"], "MaxNodes": ["240"]}, 1, "1x240"),
    ({"MaxProcs": ["338"], "MaxNodes": ["338 (batch partition; 512 total)"]}, 4, "1x85"),
    ({"MaxNodes": ["256"]}, 1, "1x256"),
    ({"MaxProcs": ["100"], "MaxNodes": ["30"]}, 1, "1x100"),
    ({}, 1, None),
])
def test_cluster_spec_from_header(header, per_gpu, spec):
    """MaxProcs (or MaxNodes alone) gives ceil(procs / per_gpu) GPUs, as nodes when they divide evenly."""
    got, notes = swf.cluster_spec(header, per_gpu)
    assert got == spec and notes
    if spec:
        procs = int(header.get("MaxProcs", header.get("MaxNodes"))[0].split()[0])
        assert Cluster.parse(spec).num_gpus == math.ceil(procs / per_gpu)


def test_time_window_and_sorting(tmp_path):
    """Jobs are sorted by submit time and rebased; start/end select on the file's clock from its first job."""
    path = write(tmp_path, [line(f1=1, f2=500), line(f1=2, f2=100), line(f1=3, f2=300)])
    assert [(j.job_id, j.submit_time) for j in swf.read(path).jobs] == [("2", 0), ("3", 200), ("1", 400)]
    trace = swf.read(path, ReadOptions(start=100, end=300))
    assert [j.job_id for j in trace.jobs] == ["3"]
    assert trace.excluded == {"outside the time window": 2}


# --- gzip and file names --------------------------------------------------------------------


def test_gzip_is_detected_by_content_not_name(tmp_path):
    """A gzipped log reads the same with or without .gz, and a plain log named .gz reads too."""
    expected = swf.read(SMALL).jobs
    zipped = tmp_path / "zipped_without_extension"
    zipped.write_bytes(gzip.compress(SMALL.read_bytes()))
    plain = tmp_path / "plain.swf.gz"
    plain.write_bytes(SMALL.read_bytes())
    assert swf.read(zipped).jobs == expected
    assert swf.read(plain).jobs == expected
    assert swf.sniff(head(zipped)) and swf.sniff(head(plain))


def test_file_without_header_or_extension():
    """A log with no header comments and no extension reads; it implies no cluster."""
    trace = swf.read(DATA / "noheader")
    got = [(j.job_id, j.num_gpus, j.duration, j.estimate) for j in trace.jobs]
    assert got == [("1", 2, 10, None), ("2", 5, 20, None)]
    assert trace.cluster is None


def test_damaged_gzip_is_a_clean_error(tmp_path):
    """A truncated gzip stream is a GpusimError naming the file, not an EOFError."""
    data = gzip.compress(("\n".join([line(f1=i, f2=i) for i in range(1, 3000)]) + "\n").encode())
    path = tmp_path / "cut.swf.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GpusimError, match=rf"^{re.escape(str(path))}:\d+: cannot read"):
        swf.read(path)


def test_missing_and_empty_files_are_clean_errors(tmp_path):
    """No file, an empty file, or only excluded jobs: one-line GpusimErrors."""
    with pytest.raises(GpusimError, match="cannot read"):
        swf.read(tmp_path / "nope.swf")
    empty = tmp_path / "empty.swf"
    empty.write_text("")
    with pytest.raises(GpusimError, match="no jobs"):
        swf.read(empty)
    with pytest.raises(GpusimError, match=r"no jobs \(.*1 with unknown run time"):
        swf.read(write(tmp_path, [line(f4=-1)]))


# --- malformed lines --------------------------------------------------------------------------

BAD = [
    (" ".join(GOOD.split()[:17]), "wrong number of fields"),
    (GOOD + " 7", "wrong number of fields"),
    (line(f14="prog.exe"), "executable is not a number"),
    (line(f6="nan"), "average CPU time is not finite"),
    (line(f2="12:00"), "submit time is not a number"),
    (line(f5="2.5"), "allocated processors is not an integer"),
    (line(f5=-1, f8="3.5"), "requested processors is not an integer"),
    (line(f2=-5), "submit time is negative"),
    (line(f1=1), "duplicate job id"),
]


@pytest.mark.parametrize("text, problem", BAD)
def test_bad_lines_stop_with_file_and_line(tmp_path, text, problem):
    """Each malformed line stops the read with a GpusimError naming file:line and the problem."""
    path = write(tmp_path, [line(f1=1), text, line(f1=3)])
    with pytest.raises(GpusimError, match=rf"^{re.escape(str(path))}:3: {re.escape(problem)}"):
        swf.read(path)


def test_bad_lines_skipped_and_counted_per_problem(tmp_path):
    """With on_error='skip' each bad line is counted under its problem; good lines are kept."""
    path = write(tmp_path, [line(f1=100), *[text for text, _ in BAD], line(f1=101)])
    trace = swf.read(path, ReadOptions(on_error="skip"))
    assert [j.job_id for j in trace.jobs] == ["100", "1", "101"]  # job 1 is good when no earlier 1 exists
    assert sum(trace.skipped.values()) == len(BAD) - 1
    for _, problem in BAD[:-1]:
        assert sum(n for why, n in trace.skipped.items() if why == problem) == sum(p == problem for _, p in BAD)


def test_non_utf8_bytes_in_a_job_line_are_a_bad_row(tmp_path):
    """Undecodable bytes make a non-numeric field at their own line; in comments they are harmless."""
    path = tmp_path / "bytes.swf"
    bad = b"2 0 -1 1\xff -1 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n"
    path.write_bytes(b"; Acknowledge: \xc5ke\n" + GOOD.encode() + b"\n" + bad)
    with pytest.raises(GpusimError, match=rf"{re.escape(path.name)}:3: run time is not a number"):
        swf.read(path)
    assert [j.job_id for j in swf.read(path, ReadOptions(on_error="skip")).jobs] == ["1"]


# --- sniffing -------------------------------------------------------------------------------


def test_sniff_true_on_its_own_files():
    """sniff recognises the fixtures, with and without header comments."""
    assert swf.sniff(head(SMALL)) and swf.sniff(head(DATA / "noheader"))


def test_sniff_uses_header_keys_when_the_head_ends_mid_line():
    """A head cut inside its first job line is still an SWF log if the header says so."""
    assert swf.sniff("; MaxJobs: 10\n; MaxProcs: 4\n    1   0  -1  10")
    assert not swf.sniff("; a comment\n    1   0  -1  10")


@pytest.mark.parametrize("text", [
    "job_id,submit_time,num_gpus,duration\na,0,1,1\n",
    "timestamp,duration,num_gpus,gpu_time,cluster\n0,10,1,10,vc1\n",
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n",
    "1 0 -1 10 2 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1\n",  # 17 fields
    "; just a comment\n",
    "",
])
def test_sniff_false_on_other_formats(text):
    """sniff rejects the canonical, Philly and Alibaba heads, short lines and comment-only text."""
    assert not swf.sniff(text)


def test_sniff_false_on_the_bundled_sample_and_alibaba_files():
    """sniff rejects the bundled Philly sample and the shared Alibaba files."""
    assert not swf.sniff(head(SAMPLE))
    for path in sorted(SHARED.glob("alibaba-gpu-2023/*.csv")) + sorted(SHARED.glob("philly/*.csv")):
        assert not swf.sniff(head(path)), path


# --- the real logs (../shared/traces/swf and lublin) -------------------------------------------

# From swf/PROVENANCE.md and lublin/STATS.md: jobs in the log, MaxProcs (lublin: max 256 procs,
# given in the header as MaxNodes), max processors and max run time.
REAL = {
    "swf/CTC-SP2-1996-3.1-cln.swf.gz": (77222, 338, 336, 71998),
    "swf/HPC2N-2002-2.2-cln.swf.gz": (202871, 240, 200, 508620),
    "swf/KTH-SP2-1996-2.1-cln.swf.gz": (27992, 100, 100, 216000),
    "swf/NASA-iPSC-1993-3.1-cln.swf.gz": (18239, 128, 128, 62643),
    "swf/SDSC-BLUE-2000-4.2-cln.swf.gz": (243306, 1152, 1152, 616793),
    "lublin/lublin-aaroh.swf": (10000, 256, 256, 158738),
    "lublin/lublin_256.swf": (10000, 256, 256, 124707),
    "lublin/lublin_256_new2": (10000, 256, 256, 116359),
}
SLOW = {"swf/HPC2N-2002-2.2-cln.swf.gz", "swf/SDSC-BLUE-2000-4.2-cln.swf.gz"}  # ~3 s each here


def real(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not present (the shared traces folder is optional)")
    return path


def run_times(path: Path) -> list[float]:
    """The run time (4th field) of every job line, read directly: non-blank lines not starting with ';'."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [float(text.split()[3]) for text in f if text.strip() and not text.lstrip().startswith(";")]


@pytest.mark.parametrize("name", REAL)
def test_sniff_true_on_real_logs(name):
    """sniff recognises every shared log: gzipped ones, and lublin_256_new2 without an extension."""
    assert swf.sniff(head(real(name)))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in REAL])
def test_real_log_reads_whole(name):
    """Every line is kept or excluded; job count, MaxProcs, max processors and max run time match the tables."""
    jobs, max_procs, procs, runtime = REAL[name]
    path = real(name)
    trace = swf.read(path)
    runs = run_times(path)
    assert len(runs) == jobs
    assert trace.skipped == {}
    assert len(trace.jobs) + sum(trace.excluded.values()) == jobs
    never = {"with unknown run time (-1)": runs.count(-1), "with run time 0 (under 0.5 s)": runs.count(0)}
    assert trace.excluded == {why: n for why, n in never.items() if n}
    assert Cluster.parse(trace.cluster).num_gpus == max_procs
    assert max(j.num_gpus for j in trace.jobs) == procs
    assert max(j.duration for j in trace.jobs) == runtime
    assert any("Acknowledge:" in note for note in trace.notes)


def test_real_log_four_processors_per_gpu():
    """procs_per_gpu=4 gives ceil(procs / 4) GPUs per job and a ceil(MaxProcs / 4)-GPU cluster (KTH)."""
    path = real("swf/KTH-SP2-1996-2.1-cln.swf.gz")
    one = {j.job_id: j.num_gpus for j in swf.read(path).jobs}
    four = swf.read(path, ReadOptions(procs_per_gpu=4))
    assert len(four.jobs) == len(one)
    assert all(j.num_gpus == math.ceil(one[j.job_id] / 4) for j in four.jobs)
    assert Cluster.parse(four.cluster).num_gpus == 25


def test_copy_without_extension_reads_like_the_original(tmp_path):
    """A gzipped real log renamed without its extension reads to the same jobs."""
    path = real("swf/NASA-iPSC-1993-3.1-cln.swf.gz")
    copy = Path(shutil.copy(path, tmp_path / "nasa"))
    assert swf.read(copy).jobs == swf.read(path).jobs
