"""The Tiresias simulator's job CSV: ``job_id,num_gpu,submit_time,iterations,model_name,duration,
interval`` (see docs/formats/tiresias.md).

``submit_time`` and ``duration`` are in seconds; ``num_gpu`` becomes ``num_gpus`` and
``model_name`` becomes ``model``. ``iterations`` and ``interval`` (the simulator's own progress
bookkeeping) are required, so that other CSVs with a ``job_id,num_gpu`` header (such as Tiresias'
``tf_job.csv`` testbed file) are not mistaken for this format, but they are not kept.
"""

from __future__ import annotations

from pathlib import Path

from traces.philly import CsvFile
from traces.table import BadRow, ReadOptions, Rows, Trace, number

COLUMNS = ("job_id", "num_gpu", "submit_time", "iterations", "model_name", "duration", "interval")


def sniff(head: str) -> bool:
    """True when the first line is a header naming all seven Tiresias columns."""
    first = head.splitlines()[0] if head else ""
    return set(COLUMNS) <= {c.strip() for c in first.split(",")}


def _fields(row: dict[str, str]) -> dict:
    job_id = row["job_id"].strip()
    if not job_id:
        raise BadRow("job_id is empty")
    return {
        "job_id": job_id,
        "submit_time": number(row["submit_time"], "submit_time"),
        "num_gpus": number(row["num_gpu"], "num_gpu", integer=True, positive=True),
        "duration": number(row["duration"], "duration", positive=True),
        "model": row["model_name"].strip() or None,
    }


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read a Tiresias simulator job CSV (see the module docstring)."""
    path = Path(path)
    rows = Rows(path, options)
    table = CsvFile(path, COLUMNS)
    for line, cells in table:
        with rows.row(line):
            rows.add(line, **_fields(table.record(cells)))
    return rows.finish("tiresias", table.unknown(COLUMNS))
