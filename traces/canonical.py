"""The canonical CSV: ``job_id,submit_time,num_gpus,duration`` plus any of the optional columns of
``traces.table.COLUMNS`` (``model,user,vc,priority,deadline,estimate,status,gpu_type,gpu_milli,
cpu_milli,memory_mib,censored,batch_size,iterations,min_gpus,max_gpus,gpu_memory_mib``);
``deadline`` is on the same clock as ``submit_time``; ``min_gpus``/``max_gpus`` make a job elastic;
``gpu_memory_mib`` is the GPU memory it needs on each GPU (``sim.model.Job``).
``duration`` may be empty in a row that gives ``model``, ``batch_size`` and ``iterations``: a
calibration profile then supplies it.

Rows need not be sorted; blank lines are ignored; unknown columns are reported, not silently lost.
"""

from __future__ import annotations

import csv
import itertools
import zlib
from pathlib import Path

from sim.errors import GpusimError
from traces.philly import open_text
from traces.table import COLUMNS, BadRow, ReadOptions, Rows, Trace, check_header, number, shown

REQUIRED = COLUMNS[:4]
OPTIONAL = COLUMNS[4:]
_OTHER_FORMATS = {"num_gpu", "gpu_num", "model_name", "timestamp", "creation_time"}
_TEXT = ("model", "user", "vc", "status", "gpu_type")
_INTS = ("priority", "gpu_milli", "cpu_milli", "memory_mib", "batch_size", "min_gpus", "max_gpus",
         "gpu_memory_mib")
_LIMITS = {"batch_size": {"minimum": 1}, "iterations": {"positive": True}, "gpu_milli": {"minimum": 0},
           "cpu_milli": {"minimum": 0}, "memory_mib": {"minimum": 0}, "min_gpus": {"minimum": 1},
           "max_gpus": {"minimum": 1}, "gpu_memory_mib": {"minimum": 0}}


def sniff(head: str) -> bool:
    first = head.splitlines()[0] if head else ""
    header = {c.strip() for c in first.split(",")}
    # Loose on purpose (a file missing one column is then told which), but never another format's header.
    return "job_id" in header and len(header & set(REQUIRED)) >= 2 and not header & _OTHER_FORMATS


def _fields(row: dict[str, str]) -> dict:
    job_id = (row.get("job_id") or "").strip()
    if not job_id:
        raise BadRow("job_id is empty")
    calibrated = all((row.get(c) or "").strip() for c in ("model", "batch_size", "iterations"))
    fields = {
        "job_id": job_id,
        "submit_time": number(row["submit_time"], "submit_time"),
        "num_gpus": number(row["num_gpus"], "num_gpus", integer=True, minimum=0),  # 0: CPU-only (--resources)
        # a job given as model, batch_size and iterations may leave its duration to a calibration profile
        "duration": None if calibrated and not (row.get("duration") or "").strip()
        else number(row.get("duration"), "duration", positive=True),
    }
    for column in OPTIONAL:
        text = (row.get(column) or "").strip()
        if not text:
            continue
        if column in _TEXT:
            fields[column] = text
        elif column == "censored":
            if text.lower() not in ("true", "false", "1", "0"):
                raise BadRow("censored is not true/false", repr(text))
            fields[column] = text.lower() in ("true", "1")
        else:
            fields[column] = number(text, column, integer=column in _INTS, **_LIMITS.get(column, {}))
    # a share outside 1..1000 means nothing, and the resource model would give the job a whole GPU
    if fields["num_gpus"] > 0 and not 0 < fields.get("gpu_milli", 1000) <= 1000:
        raise BadRow("gpu_milli is not in 1..1000 on a job with GPUs", repr(row["gpu_milli"].strip()))
    return fields


def is_parquet(path: str | Path) -> bool:
    try:
        with Path(path).open("rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


#: The first pyarrow that does not unpickle (run code from) extension types stored in the files it
#: reads: CVE-2023-47248 affects pyarrow 0.14.0 to 14.0.0 (see docs/security.md).
SAFE_PYARROW = (14, 0, 1)


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version string: ``14.0.1.dev3`` → (14, 0, 1)."""
    numbers = []
    for part in version.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(numbers)


def read_parquet(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read the canonical table from Parquet (as ``gpusim trace convert`` writes it); rows are
    numbered from 1 in error messages. Needs pyarrow (``gpusim[parquet]``), 14.0.1 or later."""
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise GpusimError("reading Parquet needs pyarrow: pip install 'gpusim[parquet]'") from None
    if _release(pyarrow.__version__) < SAFE_PYARROW:
        raise GpusimError(f"{path}: pyarrow {pyarrow.__version__} can run code hidden in a Parquet file "
                          "(CVE-2023-47248); upgrade it to read Parquet: pip install 'pyarrow>=14.0.1'")
    try:
        check_header(path, pq.read_schema(str(path)).names, REQUIRED, where="")
        table = pq.read_table(str(path))
        records = table.to_pylist()
    except GpusimError:
        raise
    except Exception as err:  # pyarrow raises many types for damaged files
        raise GpusimError(f"{path}: not a readable Parquet file: {shown(str(err).strip())}") from None
    rows = Rows(path, options)
    for line, record in enumerate(records, start=1):
        text = {k: "" if v is None else repr(v) if isinstance(v, float) else str(v) for k, v in record.items()}
        with rows.row(line):
            rows.add(line, **_fields(text))
    unknown = [c for c in table.column_names if c not in COLUMNS]
    notes = (f"{path}: ignored unknown column(s): {shown(', '.join(unknown))}",) if unknown else ()
    return rows.finish("canonical", notes)


def read(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read a canonical CSV, or the canonical table in Parquet (see the module docstring)."""
    path = Path(path)
    if is_parquet(path):
        return read_parquet(path, options)
    rows = Rows(path, options)
    with open_text(path) as handle:  # plain or gzipped
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise GpusimError(f"{path}: empty file, expected a header {','.join(REQUIRED)}")
            calibrated = {"model", "batch_size", "iterations"} <= set(header)
            check_header(path, header, [c for c in REQUIRED if not (c == "duration" and calibrated)])
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                with rows.row(reader.line_num):
                    if len(row) != len(header):
                        raise BadRow("wrong number of fields", f"expected {len(header)}, got {len(row)}")
                    rows.add(reader.line_num, **_fields(dict(zip(header, row))))
        except csv.Error as err:
            raise GpusimError(f"{path}:{reader.line_num}: not valid CSV: {err}") from None
        except UnicodeDecodeError as err:  # the decoder reads ahead, so the line is approximate
            raise GpusimError(f"{path}: not UTF-8 text (byte {err.start} of a block read near line {reader.line_num + 1})") from None
        except (OSError, EOFError, zlib.error) as err:  # a damaged or truncated .gz
            raise GpusimError(f"{path}: cannot read near line {reader.line_num + 1}: {err}") from None
    unknown = [c for c in header if c not in COLUMNS]
    notes = (f"{path}: ignored unknown column(s): {shown(', '.join(unknown))}",) if unknown else ()
    return rows.finish("canonical", notes)


def read_csv(path: str | Path, options: ReadOptions = ReadOptions()) -> Trace:
    """Read a canonical CSV (the name the public API has always used)."""
    return read(path, options)


def write_csv(jobs, path: str | Path) -> None:
    """Write jobs as a canonical CSV (empty cells for unset optional fields)."""
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(COLUMNS)
        for job in jobs:
            out.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                          for v in (getattr(job, c) for c in COLUMNS)])


def write_parquet(jobs, path: str | Path) -> None:
    """Write jobs as a Parquet table with the canonical columns (needs pyarrow: ``gpusim[parquet]``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise GpusimError("writing Parquet needs pyarrow: pip install 'gpusim[parquet]'") from None
    types = {"job_id": pa.string(), "submit_time": pa.float64(), "num_gpus": pa.int64(), "duration": pa.float64(),
             "priority": pa.int64(), "deadline": pa.float64(), "estimate": pa.float64(), "gpu_milli": pa.int64(),
             "cpu_milli": pa.int64(), "memory_mib": pa.int64(), "censored": pa.bool_(), "batch_size": pa.int64(),
             "iterations": pa.float64(), "min_gpus": pa.int64(), "max_gpus": pa.int64(),
             "gpu_memory_mib": pa.int64()}
    columns = {c: pa.array([getattr(j, c) for j in jobs], type=types.get(c, pa.string())) for c in COLUMNS}
    pq.write_table(pa.table(columns), str(path))


def write(jobs, path: str | Path) -> None:
    """Write jobs to ``.csv`` or ``.parquet`` by the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        write_parquet(jobs, path)
    elif suffix == ".csv":
        write_csv(jobs, path)
    else:
        raise GpusimError(f"{path}: write a .csv or .parquet file")
