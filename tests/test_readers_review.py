"""Defects found in a review of the trace readers, each pinned by a small hand-made file.

Expected values are worked out by hand in the comments, never by calling the reader.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sim.errors import GpusimError
from traces import alibaba, canonical, formats, pai, swf
from traces.table import ReadOptions


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


# --- PAI 2020: plan_* are per instance, the canonical requests the whole job's ----------------

# The README's Task_B is two worker instances at 50 % of a GPU, 400 % CPU each (here with
# 29.296875 GB, the README's other example): together one whole GPU, 8 cores, 60,000 MiB.
# c: three instances at 30 % = 90 % of one GPU; 350 % CPU and 4.5 GB each → 10.5 cores, 13,824 MiB.
# d: three at 33.4 % = 100.2 % → 2 GPUs, each 501 thousandths full.
# e: eight at 12.5 % = exactly one whole GPU.
PAI_TASKS = ("b,worker,2.0,Terminated,0,10,400.0,29.296875,50.0,MISC\n"
             "c,worker,3.0,Terminated,0,10,350.0,4.5,30.0,MISC\n"
             "d,worker,3,Terminated,0,10,100,1,33.4,\n"
             "e,worker,8,Terminated,0,10,100,1,12.5,\n")
PAI_WHOLE_JOB = [("b/worker", 1, None, 8000, 60000), ("c/worker", 1, 900, 10500, 13824),
                 ("d/worker", 2, 501, 3000, 3072), ("e/worker", 1, None, 8000, 8192)]


def test_pai_multi_instance_task_asks_for_all_its_instances(tmp_path):
    """A task of several instances asks for the CPU, memory and GPU share of all of them (the
    canonical cpu_milli/memory_mib are the whole job's, gpu_milli the share of each of its GPUs)."""
    trace = pai.read(write(tmp_path, PAI_TASKS))
    assert [(j.job_id, j.num_gpus, j.gpu_milli, j.cpu_milli, j.memory_mib) for j in trace.jobs] == PAI_WHOLE_JOB


def test_pai_gpu_demand_is_conserved(tmp_path):
    """num_gpus × share of each GPU is the task's GPU demand, inst_num × plan_gpu (in thousandths)."""
    demand = {"b/worker": 1000, "c/worker": 900, "d/worker": 1002, "e/worker": 1000}  # 2×500, 3×300, 3×334, 8×125
    for job in pai.read(write(tmp_path, PAI_TASKS)).jobs:
        assert abs(job.num_gpus * (job.gpu_milli or 1000) - demand[job.job_id]) <= job.num_gpus / 2


def test_pai_task_with_a_tiny_gpu_share_still_asks_for_a_gpu(tmp_path):
    """plan_gpu > 0, however small, is a GPU task: one GPU at the smallest share (1 thousandth),
    never a CPU-only job of zero GPUs (which a run without --resources skips)."""
    trace = pai.read(write(tmp_path, "t,worker,1,Terminated,0,10,100,1,1e-9,\n"))
    assert [(j.num_gpus, j.gpu_milli) for j in trace.jobs] == [(1, 1)]


# --- SWF ------------------------------------------------------------------------------------

def swf_line(job: int, submit: int, run: int, procs: str) -> str:
    return f"{job} {submit} 0 {run} {procs} -1 -1 {procs} -1 -1 1 1 1 -1 -1 -1 -1 -1\n"


def test_swf_processor_count_beyond_64_bits_is_a_bad_row(tmp_path):
    """A processor count no 64-bit integer holds is a bad row at its line, not a job of 10^30 GPUs
    (which ``trace convert`` could not write to Parquet nor read back from CSV)."""
    path = write(tmp_path, "; MaxProcs: 8\n" + swf_line(1, 0, 10, "1") + swf_line(2, 5, 10, "1e30"), "big.swf")
    with pytest.raises(GpusimError, match=r"big\.swf:3: .*processors is too large"):
        swf.read(path)
    trace = swf.read(path, ReadOptions(on_error="skip"))
    assert [j.job_id for j in trace.jobs] == ["1"]
    assert trace.skipped == {"allocated processors is too large": 1}


def test_swf_with_a_byte_order_mark_reads_its_header_and_jobs(tmp_path):
    """A UTF-8 byte order mark (an editor's) is not part of the first line: the header comment
    stays a comment and both jobs are read, as every CSV reader does."""
    path = write(tmp_path, "\ufeff; MaxProcs: 8\n" + swf_line(1, 0, 10, "2") + swf_line(2, 5, 20, "4"), "bom.swf")
    assert formats.detect(path) == "swf"
    trace = swf.read(path)
    assert [(j.job_id, j.submit_time, j.num_gpus, j.duration) for j in trace.jobs] == [("1", 0.0, 2, 10.0),
                                                                                       ("2", 5.0, 4, 20.0)]
    assert trace.cluster == "1x8"


def test_swf_byte_order_mark_before_a_job_line(tmp_path):
    """A file without header whose first job line follows a byte order mark keeps that job."""
    path = write(tmp_path, "\ufeff" + swf_line(7, 0, 10, "1"), "bom2.swf")
    assert [j.job_id for j in swf.read(path).jobs] == ["7"]


# --- gzip: detection looks inside a .gz, so every reader must read one -----------------------

ALIBABA = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
           "scheduled_time\n"
           "p0,1000,512,1,500,,LS,Running,0,100,10\n"
           "p1,2000,1024,2,1000,,BE,Failed,5,50,5\n")
CANONICAL = "job_id,submit_time,num_gpus,duration\na,10,1,5\nb,0,2,7\n"


def gzipped(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


@pytest.mark.parametrize("text, name, expected", [
    # p0: submit 0, 100 − 10 = 90 s, censored (the last deletion); p1: submit 5, 50 − 5 = 45 s
    (ALIBABA, "pods.csv.gz", [("p0", 0.0, 1, 90.0), ("p1", 5.0, 2, 45.0)]),
    # b submits first (0), a at 10
    (CANONICAL, "jobs.csv.gz", [("b", 0.0, 2, 7.0), ("a", 10.0, 1, 5.0)]),
])
def test_gzipped_file_reads_like_the_plain_one(tmp_path, text, name, expected):
    """A gzipped pod list or canonical CSV (detected through the gzip) is read, not refused."""
    path = gzipped(tmp_path, text, name)
    trace = formats.read(path)
    assert [(j.job_id, j.submit_time, j.num_gpus, j.duration) for j in trace.jobs] == expected


def test_gzipped_alibaba_and_canonical_through_their_own_readers(tmp_path):
    """The readers' own ``read`` (the public API) take the gzipped files too."""
    assert len(alibaba.read(gzipped(tmp_path, ALIBABA, "pods.csv.gz")).jobs) == 2
    assert len(canonical.read(gzipped(tmp_path, CANONICAL, "jobs.csv.gz")).jobs) == 2


def test_damaged_gzip_is_one_error_naming_the_file(tmp_path):
    """A truncated .gz is a GpusimError naming the file, for the readers that now open gzip."""
    for text, name, read in ((ALIBABA, "pods.csv.gz", alibaba.read), (CANONICAL, "jobs.csv.gz", canonical.read)):
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode("utf-8") * 50)[:60])
        with pytest.raises(GpusimError, match=rf"{name}"):
            read(path)


# --- canonical: gpu_milli is a share of one GPU --------------------------------------------

@pytest.mark.parametrize("milli", ["0", "1500"])
def test_canonical_gpu_milli_outside_a_share_is_a_bad_row(tmp_path, milli):
    """gpu_milli 0 or 1500 on a job with GPUs is no share of a GPU (the resource model would
    silently give the job a whole GPU): a bad row at its line, as in the Alibaba reader."""
    path = write(tmp_path, f"job_id,submit_time,num_gpus,duration,gpu_milli\na,0,1,10,500\nb,1,1,10,{milli}\n")
    with pytest.raises(GpusimError, match=r"trace\.csv:3: gpu_milli is not in 1\.\.1000"):
        canonical.read(path)
    trace = canonical.read(path, ReadOptions(on_error="skip"))
    assert [(j.job_id, j.gpu_milli) for j in trace.jobs] == [("a", 500)]
    assert trace.skipped == {"gpu_milli is not in 1..1000 on a job with GPUs": 1}


def test_canonical_gpu_milli_bounds_are_kept(tmp_path):
    """1 and 1000 are shares; a CPU-only job's gpu_milli is not checked."""
    path = write(tmp_path, "job_id,submit_time,num_gpus,duration,gpu_milli\na,0,1,10,1\nb,1,2,10,1000\nc,2,0,10,0\n")
    assert [(j.job_id, j.gpu_milli) for j in canonical.read(path).jobs] == [("a", 1), ("b", 1000), ("c", 0)]
