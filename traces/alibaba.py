"""Alibaba GPU 2023 ("openb", the FGD paper's trace): pod lists and the node list beside them.

A pod list (``openb_pod_list_*.csv``) has the columns ``name,cpu_milli,memory_mib,num_gpu,gpu_milli,
gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time``; times are seconds from the
trace's start. Each pod becomes a job: ``submit_time = creation_time``, ``duration = deletion_time -
scheduled_time`` (the pod's lifetime once placed), ``num_gpus = num_gpu``; ``gpu_milli``,
``cpu_milli``, ``memory_mib``, ``gpu_spec`` (as ``gpu_type``) and ``pod_phase`` (as ``status``) are
kept. ``qos`` is not kept: its classes (LS, BE, Burstable, Guaranteed) mix two vocabularies and
have no honest order as a numeric priority.

Pods with zero GPUs (CPU-only pods) are kept as jobs of ``num_gpus`` 0 (``gpu_milli`` None) with
their CPU and memory: they run only under the resource model, and a run without it (``gpusim run``
without ``--resources``, ``sim.experiment``) skips them and says how many. Left out by rule and
counted: pods never scheduled (no ``scheduled_time``; these are the Pending pods). Pods deleted at
the file's last deletion time were still running when the trace ended: they are kept with
``censored=True``. See docs/formats/alibaba2023.md.

The node list (``openb_node_list_gpu_node.csv`` or ``..._all_node.csv``: ``sn,cpu_milli,memory_mib,
gpu,model``) becomes a cluster spec for ``Cluster.parse``; ``read`` uses the one beside the pod list.
A spec string holds GPU nodes only, without CPU or memory, so the nodes without GPUs are counted and
left out of it: give the node list itself as the cluster (``--cluster openb_node_list_all_node.csv``,
a cluster file, ``sim.cluster_file``) to use them and the nodes' CPU and memory.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sim.errors import GpusimError
from traces.philly import open_text
from traces.table import BadRow, ReadOptions, Rows, Trace, check_header, number, shown

FORMAT = "alibaba2023"
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
               "creation_time", "deletion_time", "scheduled_time")
REQUIRED = ("name", "num_gpu", "gpu_milli", "creation_time", "deletion_time", "scheduled_time")
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
#: Node lists ``read`` looks for beside a pod list, in this order (zero-GPU nodes are skipped either way).
NODE_LISTS = ("openb_node_list_gpu_node.csv", "openb_node_list_all_node.csv")
_GPU_TYPE = re.compile(r"[A-Za-z0-9_.\-]+")  # what Cluster.parse accepts as a type


def sniff(head: str) -> bool:
    first = head.splitlines()[0] if head else ""
    return set(REQUIRED) <= {c.strip() for c in first.split(",")}


def _csv_rows(path: Path, required: tuple[str, ...]):
    """Yield ``(line, header, row)`` for each non-blank row; file-level problems raise GpusimError."""
    # surrogateescape keeps undecodable bytes, so _cells can name the row that has them
    with open_text(path, errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise GpusimError(f"{path}: empty file, expected a header {','.join(required)}")
            check_header(path, header, required)
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, header, row
        except csv.Error as err:
            raise GpusimError(f"{path}:{reader.line_num}: not valid CSV: {err}") from None
        except (OSError, EOFError, zlib.error) as err:  # a damaged or truncated .gz
            raise GpusimError(f"{path}: cannot read near line {reader.line_num + 1}: {err}") from None


def _cells(header: list[str], row: list[str]) -> dict[str, str]:
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept as surrogates by _csv_rows
        raise BadRow("not UTF-8 text") from None
    if len(row) != len(header):
        raise BadRow("wrong number of fields", f"expected {len(header)}, got {len(row)}")
    return {h: c.strip() for h, c in zip(header, row)}


def _pod(cell: dict[str, str]) -> tuple[dict, float | None, float]:
    """A pod's canonical fields (without duration), its scheduled time (None if never) and deletion time."""
    if not cell["name"]:
        raise BadRow("name is empty")
    num_gpus = number(cell["num_gpu"], "num_gpu", integer=True, minimum=0)
    gpu_milli = number(cell["gpu_milli"], "gpu_milli", integer=True, minimum=0)
    if num_gpus > 0 and not 0 < gpu_milli <= 1000:
        raise BadRow("gpu_milli is not in 1..1000 on a pod with GPUs", repr(cell["gpu_milli"]))
    created = number(cell["creation_time"], "creation_time", minimum=0)
    deleted = number(cell["deletion_time"], "deletion_time", minimum=0)
    scheduled = None if not cell["scheduled_time"] else number(cell["scheduled_time"], "scheduled_time", minimum=0)
    if scheduled is not None and scheduled < created:
        raise BadRow("scheduled_time is before creation_time", f"{scheduled:.10g} < {created:.10g}")
    fields = {"job_id": cell["name"], "submit_time": created, "num_gpus": num_gpus, "gpu_milli": gpu_milli,
              "status": cell.get("pod_phase") or None, "gpu_type": cell.get("gpu_spec") or None}
    for column in ("cpu_milli", "memory_mib"):
        if cell.get(column):
            fields[column] = number(cell[column], column, integer=True, minimum=0)
    return fields, scheduled, deleted


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read an Alibaba 2023 pod list (see the module docstring); the cluster comes from a node list beside it."""
    path = Path(path)
    rows = Rows(path, options)
    pods: list[tuple[int, dict, float]] = []
    last = -math.inf  # the trace's end: the file's last deletion time, over every readable pod
    header: list[str] = []
    with closing(_csv_rows(path, REQUIRED)) as lines:  # closes the file even when a bad row stops us
        for line, header, row in lines:
            with rows.row(line):
                fields, scheduled, deleted = _pod(_cells(header, row))
                last = max(last, deleted)
                if fields["num_gpus"] == 0:
                    fields["gpu_milli"] = None  # a CPU-only pod: no GPU share
                if scheduled is None:
                    rows.exclude("never scheduled (no scheduled_time)")
                    continue
                if deleted <= scheduled:
                    raise BadRow("duration is not positive",
                                 f"deletion_time {deleted:.10g} <= scheduled_time {scheduled:.10g}")
                pods.append((line, dict(fields, duration=deleted - scheduled), deleted))
    # Censoring needs the whole file's last deletion time, so pods are added in a second pass;
    # a duplicate name is therefore reported after any bad row of the first pass.
    for line, fields, deleted in pods:
        with rows.row(line):
            rows.add(line, **fields, censored=deleted == last)

    notes = []
    if "qos" in header:
        notes.append(f"{path}: column qos not kept (no honest mapping onto a numeric priority)")
    unknown = [c for c in header if c not in POD_COLUMNS]
    if unknown:
        notes.append(f"{path}: ignored unknown column(s): {shown(', '.join(unknown))}")
    cluster = None
    node_list = nodes_for(path)
    if node_list is not None:
        try:
            nodes = read_node_list(node_list)
        except GpusimError as err:
            notes.append(f"no cluster from the node list beside the trace: {err}")
        else:
            cluster = nodes.spec
            notes.append(nodes.message())
    trace = rows.finish(FORMAT, (), cluster)
    return dataclasses.replace(trace, notes=tuple(_job_notes(trace, last)) + tuple(notes))


def _job_notes(trace: Trace, last: float) -> list[str]:
    notes = []
    censored = sum(job.censored for job in trace.jobs)
    if censored:
        notes.append(f"{trace.source}: {censored} pod(s) still running when the trace ended (deletion_time "
                     f"{last:.10g} s, the file's last) kept with censored=True: their durations are lower bounds")
    shared = sum(job.gpu_milli is not None and job.gpu_milli < 1000 for job in trace.jobs)
    if shared:
        notes.append(f"{trace.source}: {shared} of {len(trace.jobs)} pod(s) ask for a share of one GPU "
                     f"(gpu_milli < 1000); only the resource model (--resources) gives them shares")
    cpu_only = sum(job.num_gpus == 0 for job in trace.jobs)
    if cpu_only:
        notes.append(f"{trace.source}: {cpu_only} of {len(trace.jobs)} pod(s) are CPU-only (zero GPUs): they run "
                     f"only under the resource model (--resources), else they are skipped and counted")
    return notes


# --- the node list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeList:
    """A node list read as a cluster spec (``Cluster.parse``), with what was skipped."""

    source: str
    spec: str  # consecutive equal (GPUs, model) nodes grouped: "NxG:MODEL,..."
    nodes: int  # nodes with GPUs (in the spec)
    num_gpus: int
    skipped: int  # nodes with zero GPUs, left out of the spec (a cluster file of the list keeps them)

    def message(self) -> str:
        skipped = (f"; {self.skipped} node(s) without GPUs left out of the spec (give --cluster {self.source} "
                   "with --resources to use them)") if self.skipped else ""
        return f"cluster from {self.source}: {self.nodes} node(s), {self.num_gpus} GPU(s){skipped}"


def read_node_list(path: str | Path) -> NodeList:
    """Read ``openb_node_list_*.csv``; a bad row raises GpusimError naming ``file:line``."""
    path = Path(path)
    rows = Rows(path, ReadOptions())  # only for its file:line error messages (on_error="stop")
    groups: list[list] = []  # [count, gpus, model]
    skipped = 0
    with closing(_csv_rows(path, ("gpu", "model"))) as lines:
        for line, header, row in lines:
            with rows.row(line):
                cell = _cells(header, row)
                gpus = number(cell["gpu"], "gpu", integer=True, minimum=0)
                for column in ("cpu_milli", "memory_mib"):
                    if cell.get(column):
                        number(cell[column], column, minimum=0)
                if gpus == 0:
                    skipped += 1
                    continue
                model = cell["model"]
                if model and not _GPU_TYPE.fullmatch(model):
                    raise BadRow("model is not a GPU type name (letters, digits, _ . -)", repr(model))
                if groups and groups[-1][1:] == [gpus, model]:
                    groups[-1][0] += 1
                else:
                    groups.append([1, gpus, model])
    if not groups:
        raise GpusimError(f"{path}: no node with GPUs" + (f" ({skipped} with zero GPUs)" if skipped else ""))
    spec = ",".join(f"{n}x{g}:{m}" if m else f"{n}x{g}" for n, g, m in groups)
    return NodeList(str(path), spec, sum(n for n, _, _ in groups), sum(n * g for n, g, _ in groups), skipped)


def read_nodes(path: str | Path) -> str:
    """The cluster spec of a node list (``read_node_list`` also says how many nodes were skipped)."""
    return read_node_list(path).spec


def nodes_for(pod_list: str | Path) -> Path | None:
    """The node list beside a pod list (``NODE_LISTS``, first found), or None."""
    folder = Path(pod_list).parent
    for name in NODE_LISTS:
        if (folder / name).is_file():
            return folder / name
    return None
