"""Tests of the Philly and Tiresias readers: hand-made files in tests/data, the real traces in ../shared."""

from __future__ import annotations

import calendar
import csv
import gzip
import hashlib
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import traces
from sim.errors import GpusimError
from traces import formats, helios, pai, philly, tiresias
from traces.table import ReadOptions

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
ROOT = Path(__file__).resolve().parents[1]
PHILLY_CSV = SHARED / "philly" / "philly.csv"
SIXTY = SHARED / "tiresias-toy" / "60_job.csv"
TF_JOB = SHARED / "tiresias-toy" / "tf_job.csv"

PHILLY_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"
TIRESIAS_HEADER = "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n"


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(text: str) -> int:
    """Epoch seconds of a naive UTC time, computed without datetime (an independent check)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


def needs(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared traces folder is absent)")
    return path


# --- Philly on a hand-made file ------------------------------------------------------------


def test_philly_reads_fields_sorts_stably_and_rebases():
    """Jobs are sorted by UTC submit time (file order on ties), rebased to 0, with vc and line ids."""
    path = DATA / "philly" / "jobs.csv"
    with path.open(newline="") as f:
        expected = [(f"philly-{i}", utc(r["timestamp"]), int(r["num_gpus"]), float(r["duration"]), r["cluster"])
                    for i, r in enumerate(csv.DictReader(f), start=2) if r]
    expected.sort(key=lambda e: e[1])  # stable: file order on ties
    t0 = expected[0][1]
    trace = philly.read(path)
    got = [(j.job_id, j.submit_time, j.num_gpus, j.duration, j.vc) for j in trace.jobs]
    assert got == [(i, s - t0, g, d, v) for i, s, g, d, v in expected]
    assert [j.job_id for j in trace.jobs][:4] == ["philly-5", "philly-3", "philly-2", "philly-4"]
    assert trace.format == "philly" and trace.skipped == {} and trace.excluded == {} and trace.notes == ()


def test_philly_vcs_and_time_window():
    """vcs keeps the named virtual clusters and counts the rest; the window is in seconds from the first kept job."""
    path = DATA / "philly" / "jobs.csv"
    trace = philly.read(path, ReadOptions(vcs=("vcB", "vcC")))
    assert [j.job_id for j in trace.jobs] == ["philly-3", "philly-4", "philly-7"]
    assert trace.excluded == {"in other virtual clusters": 3}
    window = philly.read(path, ReadOptions(start=30, end=631))
    assert [j.job_id for j in window.jobs] == ["philly-3", "philly-2", "philly-4"]
    assert window.jobs[0].submit_time == 0
    assert window.excluded == {"outside the time window": 3}


def test_philly_notes_unknown_columns(tmp_path):
    """An extra column is named in the notes; gpu_time may be absent."""
    path = write(tmp_path, "timestamp,duration,num_gpus,cluster,user\n2017-10-01 00:00:00,5,1,v,bob\n")
    trace = philly.read(path)
    assert len(trace.jobs) == 1 and any("user" in note for note in trace.notes)


@pytest.mark.parametrize("body, line, words", [
    ("yesterday,60,1,60,v\n", 2, ["timestamp", "yesterday"]),
    ("2017-02-30 00:00:00,60,1,60,v\n", 2, ["timestamp", "valid date"]),
    ("2017-10-01 00:00:00+02:00,60,1,60,v\n", 2, ["timestamp"]),
    ("2017-10-01,60,1,60,v\n", 2, ["timestamp"]),
    ("2017-10-01 00:00:00,60,1,60,v\n2017-10-01 00:00:00,0,1,0,v\n", 3, ["duration is not positive"]),
    ("2017-10-01 00:00:00,-5,1,-5,v\n", 2, ["duration is not positive"]),
    ("2017-10-01 00:00:00,nan,1,nan,v\n", 2, ["duration is not finite"]),
    ("2017-10-01 00:00:00,60,0,0,v\n", 2, ["num_gpus is not positive"]),
    ("2017-10-01 00:00:00,60,1.5,90,v\n", 2, ["num_gpus is not an integer"]),
    ("2017-10-01 00:00:00,60,2,100,v\n", 2, ["gpu_time != duration * num_gpus", "100 != 60 * 2"]),
    ("2017-10-01 00:00:00,60,1,60,\n", 2, ["cluster is empty"]),
    ("2017-10-01 00:00:00,60,1,60\n", 2, ["wrong number of fields"]),
    ("2017-10-01 00:00:00,60,1,60,v,x\n", 2, ["wrong number of fields"]),
    ("2017-10-01 00:00:00,60,1,60,v\n" + "x" * 200_000 + "\n", 3, ["not valid CSV"]),
], ids=["timestamp-text", "impossible-date", "zone-offset", "date-only", "zero-duration", "negative-duration",
        "nan-duration", "zero-gpus", "fractional-gpus", "gpu-time-mismatch", "empty-cluster", "too-few-fields",
        "too-many-fields", "huge-field"])
def test_philly_bad_row_names_file_and_line(tmp_path, body, line, words):
    """Each malformed row is a GpusimError naming file:line and the problem."""
    path = write(tmp_path, PHILLY_HEADER + body)
    with pytest.raises(GpusimError) as info:
        philly.read(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("content, words", [
    (b"timestamp,duration,num_gpus,gpu_time\n2017-10-01 00:00:00,1,1,1\n", [":1: missing column(s) cluster"]),
    (b"", ["empty file"]),
    (PHILLY_HEADER.encode() + b"\n\n", ["no jobs"]),
    (PHILLY_HEADER.encode() + "2017-10-01 00:00:00,60,1,60,v\xe9\n".encode("latin-1"), ["not UTF-8"]),
], ids=["missing-column", "empty", "header-only", "latin-1"])
def test_philly_bad_file(tmp_path, content, words):
    """A missing column, an empty file, no rows and non-UTF-8 bytes are GpusimErrors naming the file."""
    path = tmp_path / "trace.csv"
    path.write_bytes(content)
    with pytest.raises(GpusimError) as info:
        philly.read(path)
    assert str(info.value).startswith(str(path))
    for word in words:
        assert word in str(info.value)


def test_philly_missing_file(tmp_path):
    """A file that is not there is a GpusimError naming it."""
    with pytest.raises(GpusimError, match="nope.csv"):
        philly.read(tmp_path / "nope.csv")


def test_philly_reads_gzip_and_reports_damaged_gzip(tmp_path):
    """A gzipped file reads like the plain one; a truncated .gz is a GpusimError naming the file."""
    plain = DATA / "philly" / "jobs.csv"
    zipped = tmp_path / "jobs.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert philly.read(zipped).jobs == philly.read(plain).jobs
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(zipped.read_bytes()[:-12])
    with pytest.raises(GpusimError, match=re.escape(str(cut))):
        philly.read(cut)


def test_philly_skip_counts_bad_rows_by_problem(tmp_path):
    """With on_error=skip the bad rows are counted by problem and the good ones kept."""
    path = write(tmp_path, PHILLY_HEADER
                 + "2017-10-01 00:00:00,60,1,60,v\n"      # good (line 2)
                 + "2017-10-01 00:00:00,0,1,0,v\n"        # zero duration
                 + "2017-10-01 00:00:00,60,2,60,v\n"      # gpu_time mismatch
                 + "2017-10-01 00:00:10,60,1,60,v\n"      # good (line 5)
                 + "2017-10-01 00:00:00,-1,1,-1,v\n"      # negative duration
                 + "later,60,1,60,v\n")                   # bad timestamp
    trace = philly.read(path, ReadOptions(on_error="skip"))
    assert [j.job_id for j in trace.jobs] == ["philly-2", "philly-5"]
    assert trace.skipped == {"duration is not positive": 2, "gpu_time != duration * num_gpus": 1,
                             "timestamp is not a YYYY-MM-DD HH:MM:SS time": 1}
    assert "skipped 4 bad row(s)" in trace.report()[0]


def test_philly_does_not_depend_on_tz(tmp_path):
    """The same file read under New York time (with a DST change inside the trace) and under UTC gives equal times."""
    path = DATA / "philly" / "jobs.csv"
    assert [j.submit_time for j in philly.read(path).jobs][-1] == utc("2017-11-05 06:30:00") - utc("2017-09-30 23:59:30")
    results = {tz: _times_in_subprocess(path, tz) for tz in ("EST5EDT,M3.2.0,M11.1.0", "UTC0")}
    assert results["EST5EDT,M3.2.0,M11.1.0"] == results["UTC0"]


# --- Tiresias on a hand-made file ----------------------------------------------------------


def test_tiresias_reads_fields_sorts_stably_and_rebases():
    """num_gpu, model_name and times land in the Job fields; ties keep file order; times start at 0."""
    trace = tiresias.read(DATA / "tiresias" / "jobs.csv")
    got = [(j.job_id, j.submit_time, j.num_gpus, j.duration, j.model) for j in trace.jobs]
    assert got == [("j0", 0.0, 8, 1000.5, "bert"), ("j1", 30.0, 1, 120.0, "vgg16"),
                   ("j3", 80.0, 4, 300.0, "resnet50"), ("j2", 80.0, 2, 60.0, None)]
    assert trace.format == "tiresias" and trace.skipped == {} and trace.excluded == {} and trace.notes == ()


@pytest.mark.parametrize("body, line, words", [
    ("a,0,0,1,m,10,1\n", 2, ["num_gpu is not positive"]),
    ("a,x,0,1,m,10,1\n", 2, ["num_gpu is not an integer"]),
    ("a,1,soon,1,m,10,1\n", 2, ["submit_time is not a number"]),
    ("a,1,0,1,m,0,1\n", 2, ["duration is not positive"]),
    ("a,1,0,1,m,,1\n", 2, ["duration is empty"]),
    (",1,0,1,m,10,1\n", 2, ["job_id is empty"]),
    ("a,1,0,1,m,10,1\nb,1,0,1,m,10,1\na,1,5,1,m,10,1\n", 4, ["duplicate job id", "'a'", "line 2"]),
    ("a,1,0,1,m,10\n", 2, ["wrong number of fields"]),
], ids=["zero-gpus", "gpus-text", "submit-text", "zero-duration", "empty-duration", "empty-id", "duplicate-id",
        "too-few-fields"])
def test_tiresias_bad_row_names_file_and_line(tmp_path, body, line, words):
    """Each malformed row is a GpusimError naming file:line and the problem."""
    path = write(tmp_path, TIRESIAS_HEADER + body)
    with pytest.raises(GpusimError) as info:
        tiresias.read(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    for word in words:
        assert word in str(info.value)


def test_tiresias_skip_counts_bad_rows_by_problem(tmp_path):
    """With on_error=skip the bad rows are counted by problem and the good ones kept."""
    path = write(tmp_path, TIRESIAS_HEADER + "a,1,0,1,m,10,1\nb,0,0,1,m,10,1\na,1,3,1,m,10,1\nc,2,5,1,,x,1\nd,4,7,1,m,3,1\n")
    trace = tiresias.read(path, ReadOptions(on_error="skip"))
    assert [j.job_id for j in trace.jobs] == ["a", "d"]
    assert trace.skipped == {"num_gpu is not positive": 1, "duplicate job id": 1, "duration is not a number": 1}


def test_tiresias_other_header_is_missing_columns(tmp_path):
    """A CSV with Tiresias' testbed header (no iterations, interval) fails at line 1 naming the columns."""
    path = write(tmp_path, "job_id,num_gpu,submit_time,start_time,duration,model_size,aggr_interval,model_name,model_scale\n"
                           "10,12,11,14,20,400,0,vgg19,1\n")
    with pytest.raises(GpusimError, match=re.escape(f"{path}:1: missing column(s) iterations, interval")):
        tiresias.read(path)


# --- Detection -----------------------------------------------------------------------------

OTHER_HEADS = {
    "canonical": "job_id,submit_time,num_gpus,duration,vc\na,0,1,10,v\n",
    "alibaba2023": "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
                   "scheduled_time\nopenb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\n",
    "swf": "; Version: 2.2\n; Computer: IBM SP2\n    1      0   1200   3600    16   -1   -1    16   7200   -1  1  1  1 -1  1 -1 -1 -1\n",
    "tiresias-testbed": "job_id,num_gpu,submit_time,start_time,duration,model_size,aggr_interval,model_name,model_scale\n"
                        "10,12,11,14,20,400,0,vgg19,1\n",
}
OWN_FILES = {
    "philly": [DATA / "philly" / "jobs.csv"],
    "tiresias": [DATA / "tiresias" / "jobs.csv"],
    "helios": [DATA / "helios" / "cluster_log.csv", DATA / "helios" / "cluster_log_epoch.csv"],
    "pai2020": [DATA / "pai2020" / "pai_task_table.csv", DATA / "pai2020" / "pai_task_table_with_header.csv"],
}
SNIFFERS = {"philly": philly.sniff, "tiresias": tiresias.sniff, "helios": helios.sniff, "pai2020": pai.sniff}


def all_heads() -> dict[str, tuple[str, str]]:
    """Every test head by name → (the format that owns it or '', its text)."""
    heads = {f"{fmt}:{p.name}": (fmt, formats.head(p)) for fmt, paths in OWN_FILES.items() for p in paths}
    heads.update({name: ("", text) for name, text in OTHER_HEADS.items()})
    heads["sample"] = ("", formats.head(traces.SAMPLE))
    return heads


@pytest.mark.parametrize("reader", SNIFFERS)
def test_sniff_claims_own_files_only(reader):
    """Each reader's sniff is true on its own files and false on every other format's head, the sample included."""
    for name, (owner, text) in all_heads().items():
        assert SNIFFERS[reader](text) == (owner == reader), name


def test_canonical_sniff_claims_none_of_these_formats():
    """The canonical reader, tried first, does not claim any of the four formats' files."""
    from traces import canonical
    for fmt, paths in OWN_FILES.items():
        for path in paths:
            assert not canonical.sniff(formats.head(path)), path


def test_philly_file_is_detected():
    """formats.detect picks philly for a Philly file (it is tried second, after canonical)."""
    assert formats.detect(DATA / "philly" / "jobs.csv") == "philly"


# --- The real traces -----------------------------------------------------------------------


def _times_in_subprocess(path: Path, tz: str) -> str:
    """Read ``path`` in a fresh interpreter under ``TZ=tz``; a digest of its jobs and one absolute time."""
    code = ("import hashlib, time, sys\n"
            "from traces import philly\n"
            "jobs = philly.read(sys.argv[1]).jobs\n"
            "text = repr([(j.job_id, j.submit_time, j.duration) for j in jobs])\n"
            "print(time.timezone, time.daylight, file=sys.stderr)\n"
            "print(hashlib.sha256(text.encode()).hexdigest(), philly.utc_seconds('2017-11-06 12:00:00', 't'))\n")
    env = dict(os.environ, TZ=tz)
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    offset, daylight = done.stderr.split()
    assert (int(offset), int(daylight)) == ((18000, 1) if tz.startswith("EST") else (0, 0))  # the TZ took effect
    digest, absolute = done.stdout.split()
    assert float(absolute) == utc("2017-11-06 12:00:00")
    return digest


@pytest.fixture(scope="module")
def philly_trace():
    return philly.read(needs(PHILLY_CSV))


@pytest.fixture(scope="module")
def philly_stats() -> str:
    return (needs(PHILLY_CSV).parent / "STATS.md").read_text(encoding="utf-8")


def test_real_philly_job_count(philly_trace):
    """The whole Philly file gives 82,247 jobs with nothing skipped or left out."""
    assert len(philly_trace.jobs) == 82_247
    assert philly_trace.skipped == {} and philly_trace.excluded == {}


def test_real_philly_vc_counts_match_stats(philly_trace, philly_stats):
    """Jobs per virtual cluster equal STATS.md's per-VC table (b436b2: 7,423)."""
    table = dict(re.findall(r"^\| ([0-9a-f]{6}) \| (\d+) \|", philly_stats, flags=re.M))
    assert len(table) == 15 and table["b436b2"] == "7423"
    assert Counter(j.vc for j in philly_trace.jobs) == {vc: int(n) for vc, n in table.items()}


def test_real_philly_gpu_counts_match_stats(philly_trace, philly_stats):
    """The GPU-count distribution equals STATS.md's."""
    line = re.search(r"^GPU-count distribution.*$", philly_stats, flags=re.M)[0]
    expected = {int(g): int(n) for g, n in re.findall(r"(\d+): (\d+) \(", line)}
    assert sum(expected.values()) == 82_247
    assert Counter(j.num_gpus for j in philly_trace.jobs) == expected


def test_real_philly_span_and_durations(philly_trace, philly_stats):
    """Submit times span STATS.md's first to last timestamp (108.9 days); durations match its min, median, max."""
    first, last = re.search(r"time span.*?: (\S+ \S+) -> (\S+ \S+)", philly_stats).groups()
    times = [j.submit_time for j in philly_trace.jobs]
    assert times[0] == 0 and times == sorted(times)
    assert times[-1] == utc(last) - utc(first)
    assert round(times[-1] / 86400, 1) == 108.9
    durations = [j.duration for j in philly_trace.jobs]
    assert (min(durations), round(statistics.median(durations)), max(durations)) == (1, 1144, 4_628_226)


def test_real_philly_ids_name_their_lines(philly_trace):
    """A job's id names its line in the file, and that line holds the job's GPUs, duration and VC."""
    lines = PHILLY_CSV.read_text(encoding="utf-8").splitlines()
    for job in philly_trace.jobs[::5000]:
        stamp, duration, gpus, _, vc = lines[int(job.job_id.removeprefix("philly-")) - 1].split(",")
        assert (float(duration), int(gpus), vc) == (job.duration, job.num_gpus, job.vc)


def test_real_philly_b436b2_equals_bundled_sample():
    """vcs=('b436b2',) gives exactly the sample's jobs: same (rebased) submit times, GPUs and durations, in order."""
    trace = philly.read(needs(PHILLY_CSV), ReadOptions(vcs=("b436b2",)))
    with traces.SAMPLE.open(newline="") as f:
        sample = [(float(r["submit_time"]), int(r["num_gpus"]), float(r["duration"])) for r in csv.DictReader(f)]
    assert len(sample) == 7423
    t0 = sample[0][0]  # the sample may hold epoch seconds or seconds from its first job
    sample = [(s - t0, g, d) for s, g, d in sample]
    assert [(j.submit_time, j.num_gpus, j.duration) for j in trace.jobs] == sample
    assert trace.excluded == {"in other virtual clusters": 82_247 - 7423}


def test_real_philly_does_not_depend_on_tz(philly_trace):
    """The whole trace read under New York time and under UTC gives the same jobs as this process."""
    here = hashlib.sha256(repr([(j.job_id, j.submit_time, j.duration) for j in philly_trace.jobs]).encode()).hexdigest()
    assert _times_in_subprocess(PHILLY_CSV, "EST5EDT,M3.2.0,M11.1.0") == here
    assert _times_in_subprocess(PHILLY_CSV, "UTC0") == here


def test_real_tiresias_60_jobs_match_stats():
    """60_job.csv gives 60 jobs whose GPU counts, durations and submit span match STATS.md and the raw rows."""
    trace = tiresias.read(needs(SIXTY))
    jobs = trace.jobs
    assert len(jobs) == 60
    assert Counter(j.num_gpus for j in jobs) == {1: 30, 2: 10, 4: 10, 8: 10}
    durations = [j.duration for j in jobs]
    assert (min(durations), round(statistics.median(durations)), round(statistics.mean(durations)), max(durations)) \
        == (121, 125, 178, 1800)
    assert (jobs[0].submit_time, jobs[-1].submit_time) == (0, 1779)
    with SIXTY.open(newline="") as f:
        raw = sorted(csv.DictReader(f), key=lambda r: float(r["submit_time"]))
    t0 = float(raw[0]["submit_time"])
    assert [(j.job_id, j.submit_time, j.num_gpus, j.duration, j.model) for j in jobs] == \
        [(r["job_id"], float(r["submit_time"]) - t0, int(r["num_gpu"]), float(r["duration"]), r["model_name"]) for r in raw]


def test_real_tf_job_is_a_clean_error():
    """tf_job.csv read as tiresias is a GpusimError at line 1 (missing columns); no reader claims it."""
    path = needs(TF_JOB)
    with pytest.raises(GpusimError) as info:
        formats.read(path, ReadOptions(format="tiresias"))
    assert str(info.value).startswith(f"{path}:1: missing column(s) iterations, interval")
    from traces import canonical
    head = formats.head(path)
    assert not any(sniff(head) for sniff in (canonical.sniff, *SNIFFERS.values()))


def test_real_tf_job_detection_fails_cleanly():
    """Auto-detection of tf_job.csv is a GpusimError asking for --format (needs every registered reader)."""
    path = needs(TF_JOB)
    try:
        for name in formats.FORMATS:
            formats._module(name)
    except ModuleNotFoundError as err:
        pytest.skip(f"reader not written yet: {err.name}")
    with pytest.raises(GpusimError, match="cannot tell the trace format"):
        formats.detect(path)
