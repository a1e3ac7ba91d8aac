"""The SenseTime Helios job log ``cluster_log.csv``: ``job_id,user,vc,gpu_num,cpu_num,node_num,state,
submit_time,start_time,end_time,duration,queue`` (see docs/formats/helios.md).

Times are either epoch seconds or naive ``YYYY-MM-DD HH:MM:SS`` read as UTC (never local time);
``duration`` is in seconds and, when empty, is ``end_time - start_time``. ``gpu_num`` becomes
``num_gpus``, ``state`` becomes ``status``, ``cpu_num`` CPUs become ``cpu_milli`` (× 1000);
``node_num`` and ``queue`` (the original scheduler's placement and delay) are not kept.
Left out by rule, and counted: CPU-only jobs (``gpu_num`` 0) and jobs that never ran (no
``start_time``, or a duration of 0).
"""

from __future__ import annotations

from pathlib import Path

from traces.philly import CsvFile, utc_seconds
from traces.table import BadRow, ReadOptions, Rows, Trace, number, whole

REQUIRED = ("job_id", "vc", "gpu_num", "state", "submit_time", "start_time", "end_time", "duration")
COLUMNS = ("job_id", "user", "vc", "gpu_num", "cpu_num", "node_num", "state", "submit_time", "start_time",
           "end_time", "duration", "queue")


def sniff(head: str) -> bool:
    """True when the first line is a header naming every required Helios column."""
    first = head.splitlines()[0] if head else ""
    return set(REQUIRED) <= {c.strip() for c in first.split(",")}


def timestamp(text: str | None, column: str) -> float | None:
    """Epoch seconds from epoch seconds or a naive UTC ``YYYY-MM-DD HH:MM:SS``; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        float(text)
    except ValueError:
        try:
            return utc_seconds(text, column)
        except BadRow as bad:
            if bad.problem.endswith("HH:MM:SS time"):  # neither shape: say both are accepted
                raise BadRow(f"{column} is not a time", f"{text!r}: expected epoch seconds or YYYY-MM-DD HH:MM:SS") from None
            raise
    return number(text, column, minimum=0)


def _text(row: dict[str, str], column: str) -> str | None:
    return (row.get(column) or "").strip() or None


def _fields(rows: Rows, row: dict[str, str]) -> dict | None:
    """The canonical fields of one row, or None when the row is left out by rule (and counted)."""
    job_id = _text(row, "job_id")
    if job_id is None:
        raise BadRow("job_id is empty")
    num_gpus = number(row["gpu_num"], "gpu_num", integer=True, minimum=0)
    submit = timestamp(row["submit_time"], "submit_time")
    if submit is None:
        raise BadRow("submit_time is empty")
    start, end = timestamp(row["start_time"], "start_time"), timestamp(row["end_time"], "end_time")
    if _text(row, "duration") is not None:
        duration = number(row["duration"], "duration", minimum=0)
    elif start is not None and end is not None:
        duration = end - start
        if duration < 0:
            raise BadRow("end_time is before start_time", f"{row['end_time'].strip()!r} < {row['start_time'].strip()!r}")
    elif start is not None:
        raise BadRow("duration and end_time are both empty")
    else:
        duration = 0.0
    cpu = _text(row, "cpu_num")
    cpu_milli = whole(number(cpu, "cpu_num", minimum=0) * 1000, "cpu_num") if cpu is not None else None
    if num_gpus == 0:
        rows.exclude("with zero GPUs")
        return None
    if start is None or duration == 0:
        rows.exclude("that never ran")
        return None
    return {"job_id": job_id, "submit_time": submit, "num_gpus": num_gpus, "duration": duration,
            "user": _text(row, "user"), "vc": _text(row, "vc"), "status": _text(row, "state"), "cpu_milli": cpu_milli}


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read a Helios ``cluster_log.csv`` (see the module docstring)."""
    path = Path(path)
    rows = Rows(path, options)
    table = CsvFile(path, REQUIRED)
    for line, cells in table:
        with rows.row(line):
            fields = _fields(rows, table.record(cells))
            if fields is not None:
                rows.add(line, **fields)
    return rows.finish("helios", table.unknown(COLUMNS))
