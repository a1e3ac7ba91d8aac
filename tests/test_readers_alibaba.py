"""Tests of the Alibaba GPU 2023 reader (traces/alibaba.py): pod lists, node lists, the real trace."""

from __future__ import annotations

import csv
import re
import shutil
import statistics
from collections import Counter
from pathlib import Path

import pytest

from sim.errors import GpusimError
from sim.model import Cluster
from traces import SAMPLE, alibaba
from traces.formats import head
from traces.table import ReadOptions

DATA = Path(__file__).resolve().parent / "data" / "alibaba2023"
PODS = DATA / "openb_pod_list_small.csv"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
REAL = SHARED / "alibaba-gpu-2023"
HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"


def write(tmp_path: Path, rows: list[str], name: str = "openb_pod_list_test.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def real(name: str) -> Path:
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"{path} not present (the shared traces folder is optional)")
    return path


# --- the hand-made pod list ------------------------------------------------------------------


def test_reads_the_fixture_fields():
    """Each kept pod maps to the canonical fields: times rebased, duration = deletion - scheduled."""
    jobs = {j.job_id: j for j in alibaba.read(PODS).jobs}
    assert sorted(jobs) == ["pod-a", "pod-b", "pod-c", "pod-cpu", "pod-d"]
    cpu = jobs["pod-cpu"]  # a CPU-only pod: kept, with no GPU share, for the resource model
    assert (cpu.submit_time, cpu.duration, cpu.num_gpus, cpu.gpu_milli, cpu.cpu_milli, cpu.memory_mib) == (
        50, 4850, 0, None, 4000, 8192)
    a, b, c, d = jobs["pod-a"], jobs["pod-b"], jobs["pod-c"], jobs["pod-d"]
    assert (a.submit_time, a.duration, a.num_gpus) == (0, 1000, 1)
    assert (a.gpu_milli, a.cpu_milli, a.memory_mib) == (1000, 12000, 16384)
    assert (b.submit_time, b.duration, b.num_gpus, b.status, b.gpu_type) == (200, 600, 2, "Failed", "V100M16|V100M32")
    assert (c.submit_time, c.duration, c.gpu_milli, c.status) == (300, 4595, 250, "Running")
    assert (d.submit_time, d.duration, d.num_gpus, d.status, d.gpu_type) == (400, 2000, 8, "Succeeded", None)
    assert all(j.priority == 0 for j in jobs.values())  # qos is not mapped onto priority


def test_counts_excluded_pods_by_rule():
    """Never-scheduled pods are left out and counted, not skipped as errors; CPU-only pods are kept."""
    trace = alibaba.read(PODS)
    assert trace.excluded == {"never scheduled (no scheduled_time)": 1}
    assert any("1 of 5 pod(s) are CPU-only" in note and "--resources" in note for note in trace.notes)
    assert trace.skipped == {}


def test_marks_pods_deleted_at_the_trace_end_censored():
    """Pods deleted at the file's last deletion time are kept as censored, and a note counts them."""
    trace = alibaba.read(PODS)
    assert [j.job_id for j in trace.jobs if j.censored] == ["pod-cpu", "pod-c"]
    assert any("2 pod(s) still running" in note and "5000" in note for note in trace.notes)


def test_censoring_uses_the_last_deletion_over_the_whole_file(tmp_path):
    """A left-out pod deleted later still defines the trace's end, so no kept pod is censored."""
    path = write(tmp_path, ["p1,1000,1024,1,1000,,LS,Running,0,500,0",
                            "never,1000,1024,1,1000,,LS,Pending,0,900,"])
    trace = alibaba.read(path)
    assert not any(j.censored for j in trace.jobs)
    assert not any("still running" in note for note in trace.notes)


def test_notes_fractional_gpus_and_qos():
    """A note counts the kept pods with gpu_milli < 1000; another says qos is not kept."""
    notes = alibaba.read(PODS).notes
    assert any("1 of 5 pod(s) ask for a share of one GPU" in note for note in notes)
    assert any("qos not kept" in note for note in notes)


def test_cluster_from_the_node_list_beside_the_pods():
    """read() turns openb_node_list_gpu_node.csv beside the pod list into Trace.cluster."""
    trace = alibaba.read(PODS)
    assert trace.cluster == "2x2:P100,1x8:V100M32,1x2:P100,1x1:T4"
    assert Cluster.parse(trace.cluster).num_gpus == 15
    assert alibaba.nodes_for(PODS) == DATA / "openb_node_list_gpu_node.csv"


def test_no_cluster_without_a_node_list(tmp_path):
    """A pod list alone gives no cluster and no node-list note."""
    path = Path(shutil.copy(PODS, tmp_path / PODS.name))
    trace = alibaba.read(path)
    assert alibaba.nodes_for(path) is None and trace.cluster is None
    assert not any("cluster from" in note for note in trace.notes)


def test_a_bad_node_list_beside_the_pods_becomes_a_note(tmp_path):
    """A malformed node list does not stop the pods being read; the note names its file:line."""
    path = Path(shutil.copy(PODS, tmp_path / PODS.name))
    (tmp_path / "openb_node_list_gpu_node.csv").write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,two,T4\n")
    trace = alibaba.read(path)
    assert trace.cluster is None and len(trace.jobs) == 5
    assert any("openb_node_list_gpu_node.csv:2: gpu is not an integer" in note for note in trace.notes)


def test_time_window_and_vcs_options():
    """ReadOptions.start/end select by submit time; the trace has no VCs, so asking for one is an error saying so."""
    trace = alibaba.read(PODS, ReadOptions(start=150, end=350))
    assert [j.job_id for j in trace.jobs] == ["pod-b", "pod-c"]  # pod-cpu is created at 150, before the window
    assert trace.excluded["outside the time window"] == 3
    with pytest.raises(GpusimError, match="name no virtual cluster"):
        alibaba.read(PODS, ReadOptions(vcs=("vc1",)))


# --- the node list -------------------------------------------------------------------------------


def test_read_nodes_groups_consecutive_equal_nodes():
    """Consecutive nodes with the same GPU count and model form one NxG:MODEL group."""
    assert alibaba.read_nodes(DATA / "openb_node_list_gpu_node.csv") == "2x2:P100,1x8:V100M32,1x2:P100,1x1:T4"


def test_read_node_list_skips_and_counts_zero_gpu_nodes():
    """all_node lists CPU-only nodes: a spec string cannot hold them, so they are left out of it and
    counted in the message, which says how to use them (the list as a cluster file)."""
    nodes = alibaba.read_node_list(DATA / "openb_node_list_all_node.csv")
    assert nodes.spec == "2x2:P100,1x8:V100M32"
    assert (nodes.nodes, nodes.num_gpus, nodes.skipped) == (3, 12, 3)
    assert "3 node(s) without GPUs left out of the spec (give --cluster" in nodes.message()
    assert Cluster.parse(str(DATA / "openb_node_list_all_node.csv")).nodes[0].num_gpus == 0


@pytest.mark.parametrize("row, problem", [
    ("n1,1000,1024,2", "wrong number of fields"),
    ("n1,1000,1024,-2,T4", "gpu is below 0"),
    ("n1,1000,1024,1.5,T4", "gpu is not an integer"),
    ("n1,1000,1024,2,V100 16GB", "model is not a GPU type name"),
    ("n1,1000,1024,2,T4:x", "model is not a GPU type name"),
    ("n1,lots,1024,2,T4", "cpu_milli is not a number"),
])
def test_bad_node_rows_name_file_and_line(tmp_path, row, problem):
    """A bad node row stops the read with file:line and the problem."""
    path = tmp_path / "openb_node_list_gpu_node.csv"
    path.write_text(f"sn,cpu_milli,memory_mib,gpu,model\nn0,1000,1024,2,T4\n{row}\n", encoding="utf-8")
    with pytest.raises(GpusimError, match=rf"^{re.escape(str(path))}:3: {re.escape(problem)}"):
        alibaba.read_nodes(path)


def test_node_list_without_gpu_nodes_or_columns(tmp_path):
    """No GPU node at all, or a missing gpu/model column, is a clean error."""
    path = tmp_path / "nodes.csv"
    path.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,1000,1024,0,\n", encoding="utf-8")
    with pytest.raises(GpusimError, match="no node with GPUs"):
        alibaba.read_nodes(path)
    path.write_text("sn,cpu_milli,memory_mib,gpus\nn0,1000,1024,2\n", encoding="utf-8")
    with pytest.raises(GpusimError, match=r"nodes.csv:1: missing column\(s\) gpu, model"):
        alibaba.read_nodes(path)


# --- malformed pod lists -----------------------------------------------------------------------

BAD = [
    ("p9,1000,1024,1,1000,,LS,Running,0,500", "wrong number of fields"),
    ("p9,1000,1024,one,1000,,LS,Running,0,500,0", "num_gpu is not an integer"),
    ("p9,1000,1024,1.5,1000,,LS,Running,0,500,0", "num_gpu is not an integer"),
    ("p9,1000,1024,-1,1000,,LS,Running,0,500,0", "num_gpu is below 0"),
    ("p9,1000,1024,1,1500,,LS,Running,0,500,0", "gpu_milli is not in 1..1000"),
    ("p9,1000,1024,1,0,,LS,Running,0,500,0", "gpu_milli is not in 1..1000"),
    ("p9,1000,1024,1,1000,,LS,Running,soon,500,0", "creation_time is not a number"),
    ("p9,1000,1024,1,1000,,LS,Running,0,,0", "deletion_time is empty"),
    ("p9,1000,1024,1,1000,,LS,Running,0,inf,0", "deletion_time is not finite"),
    ("p9,1000,1024,1,1000,,LS,Running,0,500,x", "scheduled_time is not a number"),
    ("p9,1000,1024,1,1000,,LS,Running,100,500,50", "scheduled_time is before creation_time"),
    ("p9,1000,1024,1,1000,,LS,Running,0,500,500", "duration is not positive"),
    ("p9,1000,1024,1,1000,,LS,Running,0,400,500", "duration is not positive"),
    ("p9,-5,1024,1,1000,,LS,Running,0,500,0", "cpu_milli is below 0"),
    ("p9,1000,1.5GB,1,1000,,LS,Running,0,500,0", "memory_mib is not an integer"),
    (",1000,1024,1,1000,,LS,Running,0,500,0", "name is empty"),
    ("p1,1000,1024,1,1000,,LS,Running,0,500,0", "duplicate job id"),
]


@pytest.mark.parametrize("row, problem", BAD)
def test_bad_pod_rows_stop_with_file_and_line(tmp_path, row, problem):
    """Each malformed row stops the read with a GpusimError naming file:line and the problem."""
    path = write(tmp_path, ["p1,1000,1024,1,1000,,LS,Running,0,500,0", row, "p2,1000,1024,1,1000,,LS,Running,5,50,5"])
    with pytest.raises(GpusimError, match=rf"^{re.escape(str(path))}:3: {re.escape(problem)}"):
        alibaba.read(path)


def test_bad_rows_skipped_and_counted_per_problem(tmp_path):
    """With on_error='skip' every bad row is counted under its problem and the good rows are kept."""
    path = write(tmp_path, ["good1,1000,1024,1,1000,,LS,Running,0,500,0", *[row for row, _ in BAD],
                            "good2,1000,1024,1,1000,,LS,Running,5,50,5"])
    trace = alibaba.read(path, ReadOptions(on_error="skip"))
    assert [j.job_id for j in trace.jobs] == ["good1", "p1", "good2"]  # without an earlier p1, p1 is good
    expected = Counter(problem for _, problem in BAD if problem != "duplicate job id")
    assert sum(trace.skipped.values()) == len(BAD) - 1
    for problem, count in expected.items():
        assert sum(n for why, n in trace.skipped.items() if why.startswith(problem)) == count, problem


def test_non_utf8_bytes_name_the_row(tmp_path):
    """Bytes that are not UTF-8 stop the read at their own line, not with a decoding traceback."""
    path = tmp_path / "openb_pod_list_bytes.csv"
    path.write_bytes((HEADER + "\np1,1000,1024,1,1000,,LS,Running,0,500,0\n").encode()
                     + b"p\xff2,1000,1024,1,1000,,LS,Running,0,500,0\n")
    with pytest.raises(GpusimError, match=rf"{re.escape(path.name)}:3: not UTF-8 text"):
        alibaba.read(path)


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("name,num_gpu,creation_time\np1,1,0\n", r":1: missing column\(s\) gpu_milli, deletion_time, scheduled_time"),
    (HEADER + "\n", "no jobs"),
    (HEADER + "\ncpu,1000,1024,0,0,,LS,Pending,0,500,\n", r"no jobs \(.*1 never scheduled"),
    (HEADER + '\np1,1000,1024,1,1000,"unclosed,LS,Running,0,500,0\n', "wrong number of fields|not valid CSV"),
])
def test_file_level_problems_are_clean_errors(tmp_path, text, message):
    """Empty files, missing columns and files with no GPU pod are one-line GpusimErrors."""
    path = tmp_path / "openb_pod_list_x.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GpusimError, match=message):
        alibaba.read(path)


def test_missing_file_is_a_clean_error(tmp_path):
    """A path that does not exist is a GpusimError, not an OSError."""
    with pytest.raises(GpusimError, match="cannot read"):
        alibaba.read(tmp_path / "nope.csv")


# --- sniffing ----------------------------------------------------------------------------------


def test_sniff_true_on_pod_lists():
    """sniff recognises the pod-list header (the fixture's and the real file's)."""
    assert alibaba.sniff(head(PODS))
    assert alibaba.sniff(HEADER + "\r\n")
    if (REAL / "openb_pod_list_default.csv").is_file():
        assert alibaba.sniff(head(REAL / "openb_pod_list_default.csv"))


@pytest.mark.parametrize("text", [
    "job_id,submit_time,num_gpus,duration\na,0,1,1\n",
    "timestamp,duration,num_gpus,gpu_time,cluster\n0,10,1,10,vc1\n",
    "sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,2,T4\n",
    "; Version: 2.2\n; MaxProcs: 10\n1 0 -1 10 2 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n",
    "",
])
def test_sniff_false_on_other_formats(text):
    """sniff rejects the canonical, Philly, node-list and SWF heads, and an empty file."""
    assert not alibaba.sniff(text)


def test_sniff_false_on_the_bundled_sample_and_swf_files():
    """sniff rejects the bundled Philly sample and every shared SWF log."""
    assert not alibaba.sniff(head(SAMPLE))
    for path in sorted(SHARED.glob("swf/*.swf.gz")) + sorted(SHARED.glob("lublin/lublin*")):
        assert not alibaba.sniff(head(path)), path


# --- the real trace (../shared/traces/alibaba-gpu-2023) ----------------------------------------


@pytest.fixture(scope="module")
def pod_rows() -> list[dict[str, str]]:
    with real("openb_pod_list_default.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_real_pod_list_counts_match_stats(pod_rows):
    """8,152 rows; the never-scheduled pods left out; 6,203 GPU pods (STATS.md) and the scheduled
    ones of the 1,088 CPU-only pods kept."""
    trace = alibaba.read(real("openb_pod_list_default.csv"))
    assert len(pod_rows) == 8152  # STATS.md: rows
    pending = sum(r["pod_phase"] == "Pending" for r in pod_rows)
    assert trace.excluded == {"never scheduled (no scheduled_time)": pending}
    assert trace.skipped == {}
    assert len(trace.jobs) + sum(trace.excluded.values()) == 8152
    gpu_pods = [j for j in trace.jobs if j.num_gpus]
    assert len(gpu_pods) == 6203  # STATS.md: "duration for GPU pods only: n=6203"
    assert len(trace.jobs) - 6203 == sum(r["num_gpu"] == "0" and bool(r["scheduled_time"]) for r in pod_rows)
    assert sum(r["num_gpu"] == "0" for r in pod_rows) == 1088
    assert Counter(j.status for j in trace.jobs)["Failed"] == sum(
        r["pod_phase"] == "Failed" and r["scheduled_time"] != "" for r in pod_rows)


def test_real_pod_durations_match_stats(pod_rows):
    """The kept pods' durations have STATS.md's GPU-pod median (655 s), min (4 s) and max (12,537,496 s)."""
    durations = [j.duration for j in alibaba.read(real("openb_pod_list_default.csv")).jobs if j.num_gpus]
    assert statistics.median(durations) == 655
    assert (min(durations), max(durations)) == (4, 12537496)


def test_real_censoring_and_sharing_counts(pod_rows):
    """Censored, GPU-sharing and CPU-only counts equal a direct count over the CSV's scheduled pods."""
    trace = alibaba.read(real("openb_pod_list_default.csv"))
    end = max(int(r["deletion_time"]) for r in pod_rows)
    assert end == 12902960  # STATS.md: deletion_time max
    placed = [r for r in pod_rows if r["scheduled_time"]]
    assert sum(j.censored for j in trace.jobs) == sum(int(r["deletion_time"]) == end for r in placed)
    shared = sum(0 < int(r["gpu_milli"]) < 1000 for r in placed if r["num_gpu"] != "0")
    assert sum(j.gpu_milli is not None and j.gpu_milli < 1000 for j in trace.jobs) == shared
    assert any(f"{shared} of {len(placed)} pod(s) ask for a share" in note for note in trace.notes)
    cpu_only = sum(r["num_gpu"] == "0" for r in placed)
    assert cpu_only == 1052 and sum(j.num_gpus == 0 for j in trace.jobs) == cpu_only
    assert all(j.gpu_milli is None for j in trace.jobs if j.num_gpus == 0)
    assert Cluster.parse(trace.cluster).num_gpus == 6212


def test_real_node_lists_match_stats():
    """all_node: 1,523 nodes, 310 without GPUs, 6,212 GPUs; gpu_node: the 1,213 GPU nodes; models as STATS.md."""
    every = alibaba.read_node_list(real("openb_node_list_all_node.csv"))
    gpu = alibaba.read_node_list(real("openb_node_list_gpu_node.csv"))
    assert (every.nodes + every.skipped, every.skipped) == (1523, 310)
    assert (gpu.nodes, gpu.skipped) == (1523 - 310, 0)
    for nodes in (every, gpu):
        cluster = Cluster.parse(nodes.spec)
        assert cluster.num_gpus == nodes.num_gpus == 6212
        assert Counter(n.gpu_type for n in cluster.nodes) == {
            "G2": 549, "T4": 404, "P100": 134, "V100M16": 55, "G3": 39, "V100M32": 30, "A10": 2}
        assert Counter(n.num_gpus for n in cluster.nodes) == {1: 24, 2: 518, 4: 54, 8: 617}
