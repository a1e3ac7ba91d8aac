"""The Alibaba PAI 2020 ``pai_task_table``: ``job_name,task_name,inst_num,status,start_time,end_time,
plan_cpu,plan_mem,plan_gpu,gpu_type``, without a header row in the real table (a file that has
one is accepted too); see docs/formats/pai2020.md.

One job per task row: ``job_id`` is ``job_name/task_name``. The ``plan_*`` columns are per
instance, the canonical requests are the whole job's, so each is multiplied by ``inst_num``: the
task asks for ``inst_num * plan_gpu / 100`` GPUs (``plan_gpu`` is percent of one GPU), held as
``num_gpus = ceil`` of that and, when those GPUs are not all full, ``gpu_milli`` = the task's
thousandths of a GPU / ``num_gpus`` (the share of each of its GPUs; two instances at 50 % are one
whole GPU, three at 30 % one GPU at 900); ``cpu_milli`` is ``inst_num * plan_cpu * 10`` (percent of
a core) and ``memory_mib`` ``inst_num * plan_mem * 1024`` (GB). The table has no submit time, so
``submit_time`` is the task's ``start_time`` (a replay starts with no queueing history);
``duration`` is ``end_time - start_time`` in seconds.
Left out by rule, and counted: tasks without GPUs, tasks that never started or were still
running at the end of the trace (no start or end time), and tasks that ran for zero seconds.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from traces.philly import CsvFile
from traces.table import BadRow, ReadOptions, Rows, Trace, number, whole

COLUMNS = ("job_name", "task_name", "inst_num", "status", "start_time", "end_time", "plan_cpu", "plan_mem",
           "plan_gpu", "gpu_type")
#: Statuses of the PAI 2020 tables (its README); only used to recognise a header-less file.
STATUSES = ("terminated", "failed", "running", "waiting")
NOTE = ("pai_task_table has no submit time: submit_time is each task's start_time, so the trace "
        "carries no queueing delay from the original cluster")
_NUMERIC = (2, 4, 5, 6, 7, 8)  # inst_num, start_time, end_time, plan_cpu, plan_mem, plan_gpu


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _looks_like_task(cells: list[str]) -> bool:
    cells = [c.strip() for c in cells]
    return (len(cells) == len(COLUMNS) and bool(cells[0]) and bool(cells[1])
            and cells[3].lower() in STATUSES
            and all(cells[i] == "" or _is_number(cells[i]) for i in _NUMERIC))


def sniff(head: str) -> bool:
    """The header row, or (for the real header-less table) every complete line in ``head``
    (up to 20) has 10 fields, a PAI status in the 4th and numbers or nothing in the numeric ones."""
    lines = [line for line in head.splitlines(keepends=True) if line.strip()]
    if not lines:
        return False
    if tuple(c.strip() for c in lines[0].split(",")) == COLUMNS:
        return True
    if not lines[-1].endswith(("\n", "\r")) and len(lines) > 1:
        lines.pop()  # cut off by the size of head
    try:
        return all(_looks_like_task(cells) for cells in csv.reader(lines[:20]))
    except csv.Error:
        return False


def _optional(text: str, column: str) -> float | None:
    return number(text, column, minimum=0) if text.strip() else None


def _fields(rows: Rows, row: dict[str, str]) -> dict | None:
    """The canonical fields of one task, or None when it is left out by rule (and counted)."""
    job_name, task_name = row["job_name"].strip(), row["task_name"].strip()
    if not job_name:
        raise BadRow("job_name is empty")
    if not task_name:
        raise BadRow("task_name is empty")
    inst_num = number(row["inst_num"], "inst_num", integer=True, positive=True)
    start, end = _optional(row["start_time"], "start_time"), _optional(row["end_time"], "end_time")
    plan_cpu, plan_mem = _optional(row["plan_cpu"], "plan_cpu"), _optional(row["plan_mem"], "plan_mem")
    plan_gpu = _optional(row["plan_gpu"], "plan_gpu")
    if start is not None and end is not None and end < start:
        raise BadRow("end_time is before start_time", f"{end:g} < {start:g}")
    if not plan_gpu:
        rows.exclude("with zero GPUs")
        return None
    if start is None:
        rows.exclude("that never started")
        return None
    if end is None:
        rows.exclude("still running at the end of the trace")
        return None
    if end == start:
        rows.exclude("that ran for zero seconds")
        return None
    # The task's thousandths of a GPU, rounded first so that float error cannot add a GPU
    # (250 × 64.4 % is 161,000.00000000003 milli).
    milli = round(inst_num * plan_gpu * 10, 6)
    num_gpus = max(1, whole(milli / 1000, "inst_num × plan_gpu", up=True))  # plan_gpu > 0: some GPU
    share = max(1, whole(milli / num_gpus, "inst_num × plan_gpu"))  # a share too small to write is 1 milli
    return {
        "job_id": f"{job_name}/{task_name}",
        "submit_time": start,
        "num_gpus": num_gpus,
        "duration": end - start,
        "status": row["status"].strip() or None,
        "gpu_type": row["gpu_type"].strip() or None,
        "gpu_milli": share if share < 1000 else None,
        # plan_cpu and plan_mem are per instance; the canonical requests are the whole job's
        "cpu_milli": whole(inst_num * plan_cpu * 10, "plan_cpu") if plan_cpu is not None else None,
        "memory_mib": whole(inst_num * plan_mem * 1024, "plan_mem") if plan_mem is not None else None,
    }


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read a PAI 2020 ``pai_task_table`` (see the module docstring)."""
    path = Path(path)
    rows = Rows(path, options)
    table = CsvFile(path, names=COLUMNS)
    for line, cells in table:
        with rows.row(line):
            fields = _fields(rows, table.record(cells))
            if fields is not None:
                rows.add(line, **fields)
    return rows.finish("pai2020", (NOTE,))
