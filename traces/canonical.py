"""The canonical CSV: ``job_id,submit_time,num_gpus,duration`` plus optional
``model,user,vc,priority,deadline`` (``deadline`` on the same clock as ``submit_time``).

Rows need not be sorted; blank lines are ignored. Times are rebased so the first submission is 0
(deadlines move with them). A malformed row stops the read with ``file:line: what is wrong``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path

from sim.errors import GpusimError
from sim.model import Job

REQUIRED = ("job_id", "submit_time", "num_gpus", "duration")
OPTIONAL = ("model", "user", "vc", "priority", "deadline")


@dataclass(frozen=True)
class Trace:
    """Jobs read from a file, sorted by submit time (file order on ties), plus notes for the user."""

    jobs: tuple[Job, ...]
    source: str
    notes: tuple[str, ...] = ()


def _number(text: str, column: str, where: str, integer: bool = False):
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise GpusimError(f"{where}: {column} must be {kind}, got {text!r}") from None
    if not integer and not math.isfinite(value):
        raise GpusimError(f"{where}: {column} must be finite, got {text!r}")
    return value


def _fields(row: dict[str, str], where: str) -> dict:
    """One row's typed fields (submit time not yet rebased)."""
    for column in REQUIRED:
        if not (row.get(column) or "").strip():
            raise GpusimError(f"{where}: {column} is empty")
    num_gpus = _number(row["num_gpus"].strip(), "num_gpus", where, integer=True)
    duration = _number(row["duration"].strip(), "duration", where)
    if num_gpus < 1:
        raise GpusimError(f"{where}: num_gpus must be at least 1, got {num_gpus}")
    if duration <= 0:
        raise GpusimError(f"{where}: duration must be positive, got {duration:g}")
    optional = {c: (row.get(c) or "").strip() or None for c in OPTIONAL}
    return {
        "job_id": row["job_id"].strip(), "submit_time": _number(row["submit_time"].strip(), "submit_time", where),
        "num_gpus": num_gpus, "duration": duration, "model": optional["model"], "user": optional["user"],
        "vc": optional["vc"],
        "priority": 0 if optional["priority"] is None else _number(optional["priority"], "priority", where, integer=True),
        "deadline": None if optional["deadline"] is None else _number(optional["deadline"], "deadline", where),
    }


def read_csv(path: str | Path) -> Trace:
    """Read a canonical CSV; raises GpusimError naming the file and line of the first bad row."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise GpusimError(f"{path}: cannot read: {err.strerror}") from None
    rows: list[dict] = []
    lines: dict[str, int] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise GpusimError(f"{path}: empty file, expected a header {','.join(REQUIRED)}")
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise GpusimError(f"{path}:1: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise GpusimError(f"{where}: expected {len(header)} fields, got {len(row)}")
                fields = _fields(dict(zip(header, row)), where)
                if fields["job_id"] in lines:
                    raise GpusimError(f"{where}: duplicate job_id {fields['job_id']!r} (first on line {lines[fields['job_id']]})")
                lines[fields["job_id"]] = reader.line_num
                rows.append(fields)
        except csv.Error as err:
            raise GpusimError(f"{path}:{reader.line_num}: not valid CSV: {err}") from None
        except UnicodeDecodeError as err:  # the decoder reads ahead, so the line is approximate
            raise GpusimError(f"{path}: not UTF-8 text (byte {err.start} of a block read near line {reader.line_num + 1})") from None
    if not rows:
        raise GpusimError(f"{path}: no jobs")
    t0 = min(r["submit_time"] for r in rows)
    jobs = []
    for r in rows:
        r["submit_time"] -= t0
        if r["deadline"] is not None:
            r["deadline"] -= t0
        jobs.append(Job(**r))
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    notes = (f"{path}: ignored unknown column(s): {', '.join(unknown)}",) if unknown else ()
    return Trace(tuple(sorted(jobs, key=lambda j: j.submit_time)), str(path), notes)


def rebase(jobs: list[Job]) -> tuple[Job, ...]:
    """Sort by submit time (stable) and shift every time so the first submission is at 0."""
    jobs = sorted(jobs, key=lambda j: j.submit_time)
    t0 = jobs[0].submit_time if jobs else 0.0
    if t0 == 0:
        return tuple(jobs)
    return tuple(replace(j, submit_time=j.submit_time - t0,
                         deadline=None if j.deadline is None else j.deadline - t0) for j in jobs)
