"""Tests of the Helios and Alibaba PAI 2020 readers on hand-made files in their published schemas.

The real Helios logs and PAI tables are not in ../shared/traces (only their schemas are), so every
file here is written by hand; expected values are worked out from the files in the comments.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import pytest

import traces
from sim.errors import GpusimError
from traces import canonical, formats, helios, pai, philly, tiresias
from traces.table import ReadOptions

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "traces" / "alibaba-pai-2020-schema" / "pai_task_table.header"

HELIOS_HEADER = "job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue\n"
PAI_HEADER = "job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type\n"
OTHER_SNIFFS = (canonical.sniff, philly.sniff, tiresias.sniff)


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(text: str) -> int:
    """Epoch seconds of a naive UTC time, computed without datetime (an independent check)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


def raises_at(path: Path, line: int, words: list[str], read, options: ReadOptions = ReadOptions()) -> None:
    """``read(path)`` raises a GpusimError that starts with ``path:line:`` and holds every word."""
    with pytest.raises(GpusimError) as info:
        read(path, options)
    assert str(info.value).startswith(f"{path}:{line}: ")
    for word in words:
        assert word in str(info.value)


# --- Helios --------------------------------------------------------------------------------

# cluster_log.csv: h6 submits first (23:59:50), h1 and h4 tie at 00:00:10 (h1 first in the file);
# h2 has no GPUs; h3 never started; h5 ran for 0 s; h4's duration is empty: 00:00:42 - 00:00:12 = 30.
HELIOS_EXPECTED = [
    ("h6", 0.0, 4, 7200.0, "u1", "vcB", "COMPLETED", 24_000),
    ("h1", 20.0, 8, 3600.0, "u1", "vcA", "COMPLETED", 48_000),
    ("h4", 20.0, 2, 30.0, "u3", "vcB", "FAILED", 12_000),
]


def helios_rows(trace):
    return [(j.job_id, j.submit_time, j.num_gpus, j.duration, j.user, j.vc, j.status, j.cpu_milli) for j in trace.jobs]


@pytest.mark.parametrize("name", ["cluster_log.csv", "cluster_log_epoch.csv"])
def test_helios_reads_fields_sorts_stably_and_excludes(name):
    """Dated and epoch-second logs give the same jobs: fields mapped, ties in file order, rule exclusions counted."""
    trace = helios.read(DATA / "helios" / name)
    assert helios_rows(trace) == HELIOS_EXPECTED
    assert trace.excluded == {"with zero GPUs": 1, "that never ran": 2}
    assert trace.skipped == {} and trace.format == "helios" and trace.notes == ()


def test_helios_epoch_fixture_matches_dates():
    """The epoch fixture's submit times are the dated fixture's, converted independently."""
    dated = (DATA / "helios" / "cluster_log.csv").read_text().splitlines()[1:]
    epoch = (DATA / "helios" / "cluster_log_epoch.csv").read_text().splitlines()[1:]
    for a, b in zip(dated, epoch, strict=True):
        assert utc(a.split(",")[7]) == int(b.split(",")[7])


def test_helios_vcs_selects_virtual_clusters():
    """vcs keeps only the named virtual clusters and counts the others."""
    trace = helios.read(DATA / "helios" / "cluster_log.csv", ReadOptions(vcs=("vcB",)))
    assert [j.job_id for j in trace.jobs] == ["h6", "h4"]
    assert trace.excluded == {"with zero GPUs": 1, "that never ran": 2, "in other virtual clusters": 1}


def test_helios_fractional_times_and_notes(tmp_path):
    """Fractional seconds are kept, missing optional columns give None, and extra columns are noted."""
    path = write(tmp_path, "job_id,vc,gpu_num,state,submit_time,start_time,end_time,duration,jobname\n"
                           "a,v,1,COMPLETED,2020-04-01 00:00:00.5,2020-04-01 00:00:01,2020-04-01 00:00:03.25,,x\n"
                           "b,v,1,COMPLETED,2020-04-01 00:00:02,2020-04-01 00:00:02,,4,y\n")
    trace = helios.read(path)
    assert [(j.job_id, j.submit_time, j.duration, j.user, j.cpu_milli) for j in trace.jobs] == \
        [("a", 0.0, 2.25, None, None), ("b", 1.5, 4.0, None, None)]
    assert any("jobname" in note for note in trace.notes)


GOOD = "2020-04-01 00:00:00"


@pytest.mark.parametrize("row, words", [
    (f"a,u,v,x,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0", ["gpu_num is not an integer"]),
    (f"a,u,v,-1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0", ["gpu_num is below 0"]),
    (f"a,u,v,1,1,1,COMPLETED,,{GOOD},{GOOD},5,0", ["submit_time is empty"]),
    (f"a,u,v,1,1,1,COMPLETED,soon,{GOOD},{GOOD},5,0", ["submit_time is not a time", "epoch seconds"]),
    (f"a,u,v,1,1,1,COMPLETED,2020-04-31 00:00:00,{GOOD},{GOOD},5,0", ["submit_time is not a valid date"]),
    (f"a,u,v,1,1,1,COMPLETED,-5,{GOOD},{GOOD},5,0", ["submit_time is below 0"]),
    (f"a,u,v,1,1,1,COMPLETED,{GOOD},2020-04-01 00:00:00+08:00,{GOOD},5,0", ["start_time is not a time"]),
    (f"a,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},2020-03-31 23:00:00,,0", ["end_time is before start_time"]),
    (f"a,u,v,1,1,1,RUNNING,{GOOD},{GOOD},,,0", ["duration and end_time are both empty"]),
    (f"a,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},-5,0", ["duration is below 0"]),
    (f"a,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},inf,0", ["duration is not finite"]),
    (f"a,u,v,1,many,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0", ["cpu_num is not a number"]),
    (f",u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0", ["job_id is empty"]),
    (f"a,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5", ["wrong number of fields"]),
    (f"h1,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0", ["duplicate job id", "'h1'", "line 2"]),
], ids=["gpus-text", "gpus-negative", "submit-empty", "submit-text", "impossible-date", "submit-negative",
        "zone-offset", "end-before-start", "no-end-no-duration", "negative-duration", "infinite-duration",
        "cpu-text", "empty-id", "too-few-fields", "duplicate-id"])
def test_helios_bad_row_names_file_and_line(tmp_path, row, words):
    """Each malformed row (the third, after two good ones) is a GpusimError naming file:line and the problem."""
    path = write(tmp_path, HELIOS_HEADER + f"h1,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n"
                 f"h2,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n" + row + "\n")
    raises_at(path, 4, words, helios.read)


def test_helios_missing_columns_and_empty_file(tmp_path):
    """A header without the required columns fails at line 1; an empty file and an all-excluded file name the file."""
    path = write(tmp_path, "job_id,user,vc,gpu_num\na,u,v,1\n")
    raises_at(path, 1, ["missing column(s) state, submit_time, start_time, end_time, duration"], helios.read)
    with pytest.raises(GpusimError, match="empty file"):
        helios.read(write(tmp_path, "", "empty.csv"))
    only_cpu = write(tmp_path, HELIOS_HEADER + f"a,u,v,0,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n", "cpu.csv")
    with pytest.raises(GpusimError, match="no jobs.*1 with zero GPUs"):
        helios.read(only_cpu)


def test_helios_skip_counts_bad_rows_by_problem(tmp_path):
    """With on_error=skip bad rows are counted by problem, rule exclusions separately, good rows kept."""
    path = write(tmp_path, HELIOS_HEADER
                 + f"a,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n"
                 + f"b,u,v,x,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n"
                 + f"c,u,v,0,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n"
                 + f"d,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},-1,0\n"
                 + f"a,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},5,0\n"
                 + f"e,u,v,2,1,1,COMPLETED,2020-04-01 00:00:07,{GOOD},{GOOD},9,0\n"
                 + f"f,u,v,1,1,1,COMPLETED,{GOOD},{GOOD},{GOOD},-2,0\n")
    trace = helios.read(path, ReadOptions(on_error="skip"))
    assert [(j.job_id, j.submit_time) for j in trace.jobs] == [("a", 0.0), ("e", 7.0)]
    assert trace.skipped == {"gpu_num is not an integer": 1, "duration is below 0": 2, "duplicate job id": 1}
    assert trace.excluded == {"with zero GPUs": 1}


# --- PAI 2020 ------------------------------------------------------------------------------

# pai_task_table.csv, worked out by hand from the README's units:
#   j2/tensorflow starts first (900); j1/worker and j3/worker tie at 1000 (j1 first in the file);
#   plan_* are per instance and the canonical requests the whole task's, so each is × inst_num:
#   j1/worker: 2 instances × 50 % → 1 whole GPU (no gpu_milli); 2 × 600 % CPU → 12000 milli;
#   2 × 29.296875 GB → 60000 MiB;
#   j3/worker: 4 × 200 % → 8 GPUs (whole GPUs: no gpu_milli); 4 × 1200 % → 48000; 4 × 64 GB → 262144 MiB;
#   j7/worker: 3 × 30 % = 0.9 → 1 GPU at 900 milli; 3 × 350 % → 10500; 3 × 4.5 GB → 13824 MiB.
#   Left out: j1/ps and j8/ps (no GPU), j4 (no end), j5 (no start), j6 (end == start).
PAI_EXPECTED = [
    ("j2/tensorflow", 0.0, 1, 60.0, "Failed", "V100", None, 8000, 16384),
    ("j1/worker", 100.0, 1, 600.0, "Terminated", "MISC", None, 12000, 60000),
    ("j3/worker", 100.0, 8, 100.0, "Terminated", "T4", None, 48000, 262144),
    ("j7/worker", 600.0, 1, 30.0, "Terminated", "MISC", 900, 10500, 13824),
]
PAI_EXCLUDED = {"with zero GPUs": 2, "still running at the end of the trace": 1, "that never started": 1,
                "that ran for zero seconds": 1}


def pai_rows(trace):
    return [(j.job_id, j.submit_time, j.num_gpus, j.duration, j.status, j.gpu_type, j.gpu_milli, j.cpu_milli,
             j.memory_mib) for j in trace.jobs]


@pytest.mark.parametrize("name", ["pai_task_table.csv", "pai_task_table_with_header.csv"])
def test_pai_reads_tasks_with_or_without_header(name):
    """Each task row is a job with derived GPUs, shares, CPU and memory; ties in file order; exclusions counted."""
    trace = pai.read(DATA / "pai2020" / name)
    assert pai_rows(trace) == PAI_EXPECTED
    assert trace.excluded == PAI_EXCLUDED
    assert trace.skipped == {} and trace.format == "pai2020"
    assert any("no submit time" in note for note in trace.notes)


def test_pai_header_fixture_uses_the_published_header():
    """The header row of the fixture (and of the reader) is the schema's pai_task_table.header."""
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} is not here")
    published = SCHEMA.read_text().strip()
    assert published == PAI_HEADER.strip()
    assert (DATA / "pai2020" / "pai_task_table_with_header.csv").read_text().splitlines()[0] == published


def test_pai_gpu_count_rounds_up_without_float_noise(tmp_path):
    """num_gpus is the ceiling of inst_num × plan_gpu / 100, exact even where the float product is not;
    gpu_milli is the share of each of those GPUs (none when they are full)."""
    # 250 × 64.4 % is exactly 161 full GPUs; 3 × 33.4 % is 1.002 GPUs → 2 at 501 each; 8 × 12.5 % is exactly 1.
    path = write(tmp_path, "a,w,250,Terminated,0,10,100,1,64.4,\nb,w,3,Terminated,0,10,100,1,33.4,\n"
                           "c,w,8,Terminated,0,10,100,1,12.5,\n")
    assert [(j.num_gpus, j.gpu_milli) for j in pai.read(path).jobs] == [(161, None), (2, 501), (1, None)]


PAI_GOOD = "j,w,1,Terminated,0,10,100,1,100,V100"


@pytest.mark.parametrize("row, words", [
    ("k,w,0,Terminated,0,10,100,1,100,V100", ["inst_num is not positive"]),
    ("k,w,two,Terminated,0,10,100,1,100,V100", ["inst_num is not an integer"]),
    ("k,w,1.5,Terminated,0,10,100,1,100,V100", ["inst_num is not an integer"]),
    ("k,w,1,Terminated,soon,10,100,1,100,V100", ["start_time is not a number"]),
    ("k,w,1,Terminated,20,10,100,1,100,V100", ["end_time is before start_time"]),
    ("k,w,1,Terminated,0,10,100,1,-50,V100", ["plan_gpu is below 0"]),
    ("k,w,1,Terminated,0,10,100,lots,100,V100", ["plan_mem is not a number"]),
    ("k,w,1,Terminated,0,10,nan,1,100,V100", ["plan_cpu is not finite"]),
    (",w,1,Terminated,0,10,100,1,100,V100", ["job_name is empty"]),
    ("k,,1,Terminated,0,10,100,1,100,V100", ["task_name is empty"]),
    ("k,w,1,Terminated,0,10,100,1,100", ["wrong number of fields", "expected 10, got 9"]),
    (PAI_GOOD, ["duplicate job id", "'j/w'", "line 1"]),
], ids=["zero-instances", "instances-text", "fractional-instances", "start-text", "end-before-start",
        "negative-gpu", "memory-text", "cpu-nan", "empty-job", "empty-task", "too-few-fields", "duplicate-task"])
def test_pai_bad_row_names_file_and_line(tmp_path, row, words):
    """Each malformed row (the third of a header-less file) is a GpusimError naming file:line and the problem."""
    path = write(tmp_path, PAI_GOOD + "\nj,ps,1,Terminated,0,10,100,1,100,V100\n" + row + "\n")
    raises_at(path, 3, words, pai.read)


def test_pai_header_row_counts_as_line_one(tmp_path):
    """With a header row, line numbers still count it: the first task is line 2."""
    path = write(tmp_path, PAI_HEADER + "k,w,0,Terminated,0,10,100,1,100,V100\n")
    raises_at(path, 2, ["inst_num is not positive"], pai.read)


def test_pai_skip_counts_bad_rows_by_problem(tmp_path):
    """With on_error=skip bad rows are counted by problem, rule exclusions separately, good rows kept."""
    path = write(tmp_path, PAI_GOOD + "\n"
                 "k,w,0,Terminated,0,10,100,1,100,V100\n"
                 "k,w,1,Terminated,20,10,100,1,100,V100\n"
                 "m,w,1,Running,5,,100,1,100,V100\n"
                 "n,w,1,Terminated,5,10,100,1,100\n"
                 "n,w,1,Terminated,5,10,100,1,100,\n"
                 "n,w,1,Terminated,7,10,100,1,100,\n")
    trace = pai.read(path, ReadOptions(on_error="skip"))
    assert [(j.job_id, j.submit_time, j.duration) for j in trace.jobs] == [("j/w", 0.0, 10.0), ("n/w", 5.0, 5.0)]
    assert trace.skipped == {"inst_num is not positive": 1, "end_time is before start_time": 1,
                             "wrong number of fields": 1, "duplicate job id": 1}
    assert trace.excluded == {"still running at the end of the trace": 1}


def test_pai_file_of_cpu_tasks_has_no_jobs(tmp_path):
    """A table whose tasks all lack GPUs is an error that says why nothing is left."""
    path = write(tmp_path, "a,ps,1,Terminated,0,10,600,4,,\nb,ps,1,Terminated,0,10,600,4,0.0,\n")
    with pytest.raises(GpusimError, match=r"no jobs.*2 with zero GPUs"):
        pai.read(path)


# --- Detection -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    (PAI_HEADER, True),
    ("a,w,1.0,Terminated,1739162.0,1739200.0,600.0,29.296875,50.0,MISC\n", True),
    ("a,w,1.0,Running,1739162.0,,600.0,29.296875,50.0,MISC\nb,ps,,Waiting,,,,,,\n", True),
    ("a,w,1.0,Terminated,1739162.0,1739200.0,600.0,29.3,50.0,MISC\nb,w,1.0,Terminated,1,2,3,4,5,T4,extra\n", False),
    ("a,w,1.0,Terminated,1739162.0,1739200.0,600.0,29.3,50.0,MISC\nb,w,1.0,Done,1,2,3,4,5,T4\n", False),
    ("a,w,1.0,Terminated,noon,1739200.0,600.0,29.3,50.0,MISC\n", False),
    (",w,1.0,Terminated,1,2,600.0,29.3,50.0,MISC\n", False),
    ("a,w,1.0,Terminated,1,2,3,4,5,T4\nb,w,1.0,Termin", True),
    ("", False),
], ids=["header", "one-row", "running-and-waiting", "eleven-fields", "unknown-status", "time-text", "empty-name",
        "cut-last-line", "empty"])
def test_pai_sniff_by_content(text, expected):
    """A header-less table is recognised by its field count, status words and numeric columns."""
    assert pai.sniff(text) is expected


def test_sniffers_keep_to_their_formats():
    """Helios and PAI files are claimed by their own reader only; other formats' files by neither."""
    helios_heads = [formats.head(DATA / "helios" / n) for n in ("cluster_log.csv", "cluster_log_epoch.csv")]
    pai_heads = [formats.head(DATA / "pai2020" / n) for n in ("pai_task_table.csv", "pai_task_table_with_header.csv")]
    for text in helios_heads:
        assert helios.sniff(text) and not pai.sniff(text) and not any(s(text) for s in OTHER_SNIFFS)
    for text in pai_heads:
        assert pai.sniff(text) and not helios.sniff(text) and not any(s(text) for s in OTHER_SNIFFS)
    others = [formats.head(traces.SAMPLE), formats.head(DATA / "philly" / "jobs.csv"),
              formats.head(DATA / "tiresias" / "jobs.csv"), "job_id,submit_time,num_gpus,duration\na,0,1,1\n"]
    for text in others:
        assert not helios.sniff(text) and not pai.sniff(text)


def test_detect_picks_helios_and_pai():
    """formats.detect names helios and pai2020 for their files (needs every registered reader)."""
    try:
        for name in formats.FORMATS:
            formats._module(name)
    except ModuleNotFoundError as err:
        pytest.skip(f"reader not written yet: {err.name}")
    assert formats.detect(DATA / "helios" / "cluster_log_epoch.csv") == "helios"
    assert formats.detect(DATA / "pai2020" / "pai_task_table.csv") == "pai2020"
    assert formats.read(DATA / "pai2020" / "pai_task_table.csv").format == "pai2020"
