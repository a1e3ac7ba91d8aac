"""Fuzzing every trace reader: whatever the bytes, a read ends in a valid trace or one clean error.

Three kinds of input, each through auto-detection and through every ``--format``, with random
reader options: arbitrary bytes; real files (the bundled samples, tests/data and, when present,
the shared real traces) mutated byte by byte; and files built from each format's own columns with
cells drawn from plausible and hostile values (huge numbers, NaN, bad dates, long digit strings,
undecodable bytes, quotes and line breaks), which is what reaches the row-level code. Parquet gets
the same three treatments. "Clean" means a GpusimError whose message is one line naming the file;
"valid" means jobs that pass the Job checks, unique ids, sorted submit times starting at 0.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from sim.errors import GpusimError
from sim.model import Job
from traces import alibaba, helios, pai, philly, swf, tiresias
from traces.formats import FORMATS, read
from traces.table import COLUMNS, ReadOptions, Trace

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "traces"
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


# --- what a clean ending is ---------------------------------------------------------------------


def check_trace(trace: Trace) -> None:
    """A trace a simulation can take: valid jobs, unique ids, sorted submit times from 0, and
    one-line messages for the user."""
    assert isinstance(trace, Trace) and trace.jobs
    assert all(isinstance(j, Job) for j in trace.jobs)
    assert len({j.job_id for j in trace.jobs}) == len(trace.jobs)
    times = [j.submit_time for j in trace.jobs]
    assert times == sorted(times) and times[0] == 0.0 and all(math.isfinite(t) for t in times)
    assert math.isfinite(trace.origin)
    for line in trace.report():
        assert len(line.splitlines()) == 1, line


def check_error(err: GpusimError, path: Path) -> None:
    message = str(err)
    assert len(message.splitlines()) == 1, message  # one line: no \n, \r, \x85, \u2028...
    assert str(path) in message, message


def read_cleanly(path: Path, options: ReadOptions) -> Trace | None:
    """Read ``path``; the test fails on anything but a valid trace or a clean GpusimError."""
    try:
        trace = read(path, options)
    except GpusimError as err:
        check_error(err, path)
        event("clean error")
        return None
    check_trace(trace)
    event(f"read {trace.format}" + (" skipping bad rows" if trace.skipped else ""))
    return trace


FORMAT_NAMES = list(FORMATS)
options = st.builds(  # the defaults half the time: detection, every VC, no window
    ReadOptions,
    format=st.none() | st.sampled_from(FORMAT_NAMES),
    vcs=st.just(()) | st.sampled_from([("vcA",), ("vcA", "vcB")]),
    start=st.none() | st.sampled_from([0.0, 30.0]),
    end=st.none() | st.just(1e4),
    on_error=st.sampled_from(["stop", "skip"]),
    procs_per_gpu=st.sampled_from([1, 4]),
)


def write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


# --- arbitrary bytes ----------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=600), gz=st.booleans(), opts=options)
def test_arbitrary_bytes(tmp_path_factory, data, gz, opts):
    """Any bytes, plain or gzipped, under any format or detection: a trace or one clean error."""
    folder = tmp_path_factory.mktemp("bytes")
    read_cleanly(write(folder, "trace.csv", gzip.compress(data) if gz else data), opts)


# --- mutated real files ---------------------------------------------------------------------------


def _seed_files() -> list[Path]:
    files = sorted(p for p in (HERE / "data").rglob("*") if p.is_file())
    files += sorted((HERE.parent / "traces" / "samples").rglob("*.csv"))
    if SHARED.is_dir():  # the real traces, where this machine has them
        files += sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in (".csv", ".swf", ".gz", ""))
    return files


def _head(path: Path, lines: int = 25) -> bytes:
    """The first lines of a seed file (decompressed): enough to reach every code path, fast to read."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return b"".join(io.BytesIO(data).readlines()[:lines])


SEEDS = {p: _head(p) for p in _seed_files() if not p.name.startswith("openb_node_list")}
NODE_SEEDS = {p: _head(p) for p in _seed_files() if p.name.startswith("openb_node_list")}
HOSTILE = [b"", b"-1", b"0", b"nan", b"inf", b"-inf", b"1e308", b"-1e308", b"1e306", b"9" * 5000, b"\x00", b"\xff\xfe",
           b",", b"\n", b"\r", b'"', b'"a\nb"', b";", b"; MaxProcs: 99999999999999", b"; MaxNodes: 7", b"1e-320",
           b"2017-02-30 25:00:00", b"2017-10-03 12:00:00", b"0x10", b"1_000", "\u00bd".encode(), "\u0663".encode(),
           b"\xe2\x80\xa8", b"true", b"Running", b"Terminated", b"vcA"]


@st.composite
def mutated(draw, seeds: dict[Path, bytes] = SEEDS) -> tuple[Path, bytes]:
    """A seed file with a few byte-level mutations: flips, hostile insertions, field swaps, cuts."""
    seed = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[seed])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "field", "delete", "cut", "duplicate"]))
        body = data.find(b"\n") + 1 if draw(st.integers(0, 3)) else 0  # mostly past the header, to get deeper
        pos = draw(st.integers(body, len(data)))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(HOSTILE) | st.binary(min_size=1, max_size=8))
        elif op == "field":  # replace one whole cell, which keeps the row's shape
            cuts = [i for i, c in enumerate(data) if c in b", \t\n"]
            if len(cuts) > 1:
                i = draw(st.integers(0, len(cuts) - 2))
                data[cuts[i] + 1:cuts[i + 1]] = draw(st.sampled_from(HOSTILE))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 30))]
        elif op == "cut":
            del data[pos:]
        else:
            lines = bytes(data).split(b"\n")
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
            data = bytearray(b"\n".join(lines))
    return seed, bytes(data)


@FUZZ
@given(case=mutated(), gz=st.booleans(), beside=st.booleans(), opts=options)
def test_mutated_real_files(tmp_path_factory, case, gz, beside, opts):
    """Real files with a few mutations (optionally gzipped, optionally with an Alibaba node list
    beside them): a trace or one clean error."""
    seed, data = case
    folder = tmp_path_factory.mktemp("mutated")
    if beside:  # alibaba.read also reads the node list it finds beside a pod list
        write(folder, alibaba.NODE_LISTS[0], NODE_SEEDS[HERE / "data" / "alibaba2023" / alibaba.NODE_LISTS[0]])
    read_cleanly(write(folder, seed.name, gzip.compress(data) if gz else data), opts)


@FUZZ
@given(case=mutated(NODE_SEEDS))
def test_mutated_node_lists(tmp_path_factory, case):
    """An Alibaba node list read on its own gives a cluster spec Cluster.parse accepts, or one clean error."""
    from sim.model import Cluster

    _, data = case
    path = write(tmp_path_factory.mktemp("nodes"), alibaba.NODE_LISTS[0], data)
    try:
        nodes = alibaba.read_node_list(path)
    except GpusimError as err:
        check_error(err, path)
        return
    assert Cluster.parse(nodes.spec).num_gpus == nodes.num_gpus


def test_real_seed_files_are_there():
    """The mutation fuzzer has the bundled samples and test data to start from (the shared real
    traces are added when present)."""
    names = {p.parent.name for p in SEEDS}
    assert {"philly", "alibaba2023", "helios", "pai2020", "swf", "tiresias"} <= names
    assert HERE / "data" / "alibaba2023" / alibaba.NODE_LISTS[0] in NODE_SEEDS


# --- files built from each format's columns -------------------------------------------------------
# Rows start valid for their format and then get a few cells replaced by boundary or hostile
# values, so the fuzzer reaches the checks deep in each row (and what runs after them) instead of
# stopping at the first unparsable cell.

BOUNDARY = st.sampled_from(["", " ", "0", "-0", "-1", "0.5", "4.0", "1e-320", "1e300", "1e306", "1e308", "-1e308",
                            "nan", "inf", "-inf", "9" * 400, "9" * 5000, "0x10", "1_000", "\u0663", "\u00bd",
                            "2017-02-30 10:00:00", "2017-10-01 25:00:00", "2017-10-01T00:00:00",
                            "0001-01-01 00:00:00", "9999-12-31 23:59:59", "2017-10-01 00:00:00+05:00",
                            "2017-10-01 00:00:00.1234567", "true", "-1e-9"])
HOSTILE_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(['"', 'a"b', "a,b", "a\nb", "\r", "\x00", "\udc8b",
                                                                "\u2028", ";", "\ufeff", "a b"]))
EXTREME = st.sampled_from(["1e300", "1e306", "1e308", "-1e308", "9" * 25, "9" * 400, "1e-320", "-1", "0", "nan",
                           "inf", "9223372036854775808", "4e18"])
AMOUNT = st.floats(0, 1e6, allow_nan=False).map(repr) | st.integers(0, 10**6).map(str)
SMALL = st.integers(0, 16).map(str)
DATE = st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S"))
NAME = st.sampled_from(["j1", "j2", "j3", "pod-a", "pod-b"])
WORD = st.sampled_from(["", "vcA", "vcB", "u1", "resnet50", "vgg16", "Running", "Terminated", "Failed", "Pending",
                        "Succeeded", "COMPLETED", "V100", "V100M16|V100M32", "P100", "T4", "LS", "BE"])
TIMES = DATE | AMOUNT

#: Per format, column → what a valid cell of it looks like (cross-column constraints such as
#: philly's gpu_time = duration × num_gpus are left to the hostile replacements to break).
VALID = {
    "canonical": {"job_id": NAME, "submit_time": AMOUNT, "num_gpus": SMALL, "duration": AMOUNT, "model": WORD,
                  "user": WORD, "vc": WORD, "priority": SMALL, "deadline": AMOUNT, "estimate": AMOUNT,
                  "status": WORD, "gpu_type": WORD, "gpu_milli": AMOUNT, "cpu_milli": SMALL, "memory_mib": SMALL,
                  "censored": st.sampled_from(["true", "false", "1", "0", ""]), "batch_size": SMALL,
                  "iterations": AMOUNT, "min_gpus": st.just("") | SMALL, "max_gpus": st.just("") | SMALL,
                  "gpu_memory_mib": st.just("") | SMALL},
    "philly": {"timestamp": DATE, "duration": AMOUNT, "num_gpus": SMALL, "gpu_time": AMOUNT, "cluster": WORD},
    "alibaba2023": {"name": NAME, "cpu_milli": SMALL, "memory_mib": SMALL, "num_gpu": SMALL,
                    "gpu_milli": st.sampled_from(["1000", "1000", "500", "250"]), "gpu_spec": WORD, "qos": WORD,
                    "pod_phase": WORD, "creation_time": AMOUNT, "deletion_time": AMOUNT, "scheduled_time": AMOUNT},
    "helios": {"job_id": NAME, "user": WORD, "vc": WORD, "gpu_num": SMALL, "cpu_num": SMALL, "node_num": SMALL,
               "state": WORD, "submit_time": TIMES, "start_time": TIMES, "end_time": TIMES, "duration": AMOUNT,
               "queue": AMOUNT},
    "tiresias": {"job_id": NAME, "num_gpu": SMALL, "submit_time": AMOUNT, "iterations": AMOUNT, "model_name": WORD,
                 "duration": AMOUNT, "interval": AMOUNT},
    "pai2020": {"job_name": NAME, "task_name": st.sampled_from(["worker", "ps", "tensorflow"]), "inst_num": SMALL,
                "status": st.sampled_from(["Terminated", "Failed", "Running", "Waiting"]), "start_time": AMOUNT,
                "end_time": AMOUNT, "plan_cpu": AMOUNT, "plan_mem": AMOUNT, "plan_gpu": AMOUNT, "gpu_type": WORD},
    "nodes": {"sn": NAME, "cpu_milli": SMALL, "memory_mib": SMALL, "gpu": SMALL, "model": WORD},
}


def to_bytes(text: str) -> bytes:
    """UTF-8, except that lone surrogates become undecodable bytes (as a damaged file has them)."""
    return text.encode("utf-8", "surrogateescape") if all(not "\ud800" <= c <= "\udfff" or "\udc80" <= c <= "\udcff"
                                                          for c in text) else text.encode("utf-8", "surrogatepass")


def _ordered(row: dict, *columns: str) -> None:
    """Sort the row's (numeric) values of ``columns`` into that order: start <= end and the like."""
    values = sorted(float(row[c]) for c in columns)
    row.update((c, repr(v)) for c, v in zip(columns, values))


#: Per format, what makes a row of valid cells a valid row (the constraints between its columns).
CONSISTENT = {
    "philly": lambda r: r.update(gpu_time=repr(float(r["duration"]) * int(r["num_gpus"]))),
    "alibaba2023": lambda r: _ordered(r, "creation_time", "scheduled_time", "deletion_time"),
    "pai2020": lambda r: _ordered(r, "start_time", "end_time"),
}


@st.composite
def rows_of(draw, valid: dict, name: str = "") -> list[list[str]]:
    """A few valid rows, then a few cells replaced by boundary or hostile values."""
    columns = list(valid)
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        row = {c: draw(valid[c]) for c in columns}
        CONSISTENT.get(name, lambda r: None)(row)
        rows.append([row[c] for c in columns])
    for _ in range(draw(st.integers(0, 3)) if rows else 0):
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(columns) - 1))] = draw(EXTREME | BOUNDARY | HOSTILE_TEXT)
    if rows and draw(st.integers(0, 9)) == 0:  # a short or long row
        row = draw(st.sampled_from(rows))
        row[:] = row[:-1] if draw(st.booleans()) else row + ["extra"]
    return rows


@st.composite
def csv_file(draw, name: str, header: bool | None = True) -> bytes:
    """A CSV of the format's columns (sometimes shuffled, one dropped, an unknown or a repeated one
    added; with a header row or, for None, maybe not), written properly quoted or naively joined,
    sometimes behind a byte-order mark."""
    valid = VALID[name]
    if header is None:
        header = draw(st.booleans())
    names = list(valid)
    rows = draw(rows_of(valid, name))
    order = list(range(len(names)))
    change = draw(st.sampled_from(["none", "none", "none", "shuffle", "drop", "extra", "twice"]))
    if change == "shuffle":
        order = draw(st.permutations(order))
    elif change == "drop":
        order.pop(draw(st.integers(0, len(order) - 1)))
    elif change in ("extra", "twice"):
        names = names + [draw(st.sampled_from(["comment", "x\ny", ""])) if change == "extra" else names[0]]
        rows = [r + ([draw(WORD)] if len(r) == len(valid) else []) for r in rows]
        order.append(len(names) - 1)
    table = ([[names[i] for i in order]] if header else []) + [[r[i] for i in order if i < len(r)] for r in rows]
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(table)
        text = out.getvalue()
    else:
        text = "".join(",".join(r) + "\n" for r in table)
    return to_bytes(("\ufeff" if draw(st.integers(0, 9)) == 0 else "") + text)


@st.composite
def swf_file(draw) -> bytes:
    """Header comments (SWF keys with drawn values) and 18-field job lines, valid then disturbed."""
    lines = []
    for key in draw(st.lists(st.sampled_from(["MaxProcs", "MaxNodes", "MaxJobs", "Computer", "Note"]), max_size=4)):
        lines.append(f"; {key}: {draw(SMALL | AMOUNT | BOUNDARY | st.just('338 (batch; 512 total)'))}")
    number = st.integers(-1, 50).map(str) | AMOUNT
    rows = draw(rows_of({i: number for i in range(18)}))
    lines += [" ".join(r) for r in rows]
    return to_bytes("\n".join(lines) + "\n")


SHAPES = {
    "canonical": (lambda: csv_file("canonical"), "jobs.csv"),
    "philly": (lambda: csv_file("philly"), "philly.csv"),
    "alibaba2023": (lambda: csv_file("alibaba2023"), "openb_pod_list_x.csv"),
    "helios": (lambda: csv_file("helios"), "cluster_log.csv"),
    "tiresias": (lambda: csv_file("tiresias"), "60_job.csv"),
    "pai2020": (lambda: csv_file("pai2020", header=None), "pai_task_table.csv"),
    "swf": (swf_file, "log.swf"),
}


def test_every_format_is_fuzzed_by_shape():
    """Each registered format has a structured generator above (a new reader must add one), and
    each generator knows every column its reader names."""
    assert set(SHAPES) == set(FORMATS)
    for name, columns in (("canonical", COLUMNS), ("philly", philly.COLUMNS), ("alibaba2023", alibaba.POD_COLUMNS),
                          ("helios", helios.COLUMNS), ("tiresias", tiresias.COLUMNS), ("pai2020", pai.COLUMNS),
                          ("nodes", alibaba.NODE_COLUMNS)):
        assert tuple(VALID[name]) == tuple(columns), name
    assert len(swf.FIELDS) == 18


@pytest.mark.parametrize("name", list(SHAPES))
def test_files_built_from_the_format(tmp_path_factory, name):
    """Files shaped like the format, with plausible and hostile cells: a trace or one clean error,
    read as that format, by detection, and with the reader's ``on_error`` skip and stop."""
    shape, filename = SHAPES[name]

    @FUZZ
    @given(data=shape(), nodes=st.one_of(st.none(), csv_file("nodes")), gz=st.integers(0, 4),
           opts=options, detect=st.booleans())
    def fuzz(data, nodes, gz, opts, detect):
        folder = tmp_path_factory.mktemp(name)
        if nodes is not None and name == "alibaba2023":
            write(folder, alibaba.NODE_LISTS[0], nodes)
        path = write(folder, filename, gzip.compress(data) if gz == 0 else data)
        trace = read_cleanly(path, ReadOptions(None if detect else name, opts.vcs, opts.start, opts.end,
                                               opts.on_error, opts.procs_per_gpu))
        if trace is not None and not detect:
            assert trace.format == name

    fuzz()


# --- Parquet --------------------------------------------------------------------------------------

pa = pytest.importorskip("pyarrow")


def _parquet(jobs) -> bytes:
    out = io.BytesIO()
    import pyarrow.parquet as pq

    table = pa.table({c: [getattr(j, c) for j in jobs] for c in ("job_id", "submit_time", "num_gpus", "duration")})
    pq.write_table(table, out)
    return out.getvalue()


VALID_PARQUET = _parquet([Job("a", 0.0, 1, 10.0), Job("b", 5.0, 2, 20.0), Job("c", 7.5, 4, 1.5)])


@FUZZ
@given(body=st.binary(max_size=400), tail=st.booleans(), opts=options)
def test_parquet_arbitrary_bytes(tmp_path_factory, body, tail, opts):
    """Bytes that start (and maybe end) with Parquet's magic: a trace or one clean error."""
    data = b"PAR1" + body + (b"PAR1" if tail else b"")
    read_cleanly(write(tmp_path_factory.mktemp("pq"), "jobs.parquet", data), opts)


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(VALID_PARQUET) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, len(VALID_PARQUET))), opts=options)
def test_parquet_mutated(tmp_path_factory, flips, cut, opts):
    """A valid canonical Parquet file with bytes changed or cut off: a trace or one clean error."""
    data = bytearray(VALID_PARQUET)
    for pos, value in flips:
        data[pos] = value
    if cut is not None:
        data = data[:max(cut, 4)]
    assume(bytes(data[:4]) == b"PAR1")  # else it is not read as Parquet; the CSV fuzzers cover that
    read_cleanly(write(tmp_path_factory.mktemp("pq"), "jobs.parquet", bytes(data)), opts)


ARROW_COLUMNS = {  # an Arrow type and the values to fill a column of it with
    "int": (pa.int64(), st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.integers(-3, 10))),
    "float": (pa.float64(), st.one_of(st.none(), st.floats(), st.floats(0, 1e5))),
    "string": (pa.string(), st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["1", "2.5", "nan", "x"]))),
    "bool": (pa.bool_(), st.one_of(st.none(), st.booleans())),
    "binary": (pa.binary(), st.one_of(st.none(), st.binary(max_size=6))),
    "list": (pa.list_(pa.int64()), st.one_of(st.none(), st.lists(st.integers(0, 9), max_size=3))),
    "timestamp": (pa.timestamp("s"), st.one_of(st.none(), st.datetimes())),
}


@st.composite
def arrow_table(draw):
    names = draw(st.lists(st.sampled_from([*COLUMNS, "extra"]), min_size=1, max_size=8, unique=True))
    if draw(st.booleans()):
        names = [c for c in COLUMNS[:4] if c not in names] + names
    n = draw(st.integers(0, 5))
    columns = {}
    for name in names:
        kind = draw(st.sampled_from(sorted(ARROW_COLUMNS)))
        arrow_type, values = ARROW_COLUMNS[kind]
        if name == "job_id" and draw(st.booleans()):
            arrow_type, values = pa.string(), st.sampled_from(["a", "b", "c", ""])
        columns[name] = pa.array([draw(values) for _ in range(n)], type=arrow_type)
    return pa.table(columns)


@FUZZ
@given(table=arrow_table(), opts=options)
def test_parquet_of_any_column_types(tmp_path_factory, table, opts):
    """A Parquet table with canonical column names of any Arrow type and any values: a trace or
    one clean error."""
    import pyarrow.parquet as pq

    path = tmp_path_factory.mktemp("pq") / "jobs.parquet"
    pq.write_table(table, path)
    read_cleanly(path, opts)


# --- regressions: what the fuzzers above found, each pinned by hand -----------------------------------

BIG = "9" * 5000  # beyond Python's limit on int() of a decimal string


@pytest.mark.parametrize("name, fmt, text, message", [
    # rows the Job checks refused, which crashed in Rows.finish
    ("jobs.csv", "canonical", "job_id,submit_time,num_gpus,duration,model,batch_size,iterations\nb,0,1,5,,,\n"
     "a,0,1,,m,32,0\n", r"jobs\.csv:3: iterations is not positive"),
    ("jobs.csv", "canonical", "job_id,submit_time,num_gpus,duration,model,batch_size,iterations\nb,0,1,5,,,\n"
     "a,0,1,5,m,0,10\n", r"jobs\.csv:3: batch_size is below 1"),
    ("jobs.csv", "canonical", "job_id,submit_time,num_gpus,duration\nb,-1e308,1,10\na,1e308,1,10\n",
     r"jobs\.csv:3: submit_time is too far from the first submission"),
    ("jobs.csv", "canonical", "job_id,submit_time,num_gpus,duration,deadline\nb,-1e308,1,10,0\na,0,1,10,1e308\n",
     r"jobs\.csv:3: deadline is too far from the first submission"),
    # whole numbers beyond 64 bits, and products that overflow to infinity
    ("jobs.csv", "canonical", f"job_id,submit_time,num_gpus,duration\nb,0,1,10\na,0,{'9' * 400},10\n",
     r"jobs\.csv:3: num_gpus is too large: '9{199}\.\.\.$"),
    ("jobs.csv", "canonical", f"job_id,submit_time,num_gpus,duration\nb,0,1,10\na,0,{BIG},10\n",
     r"jobs\.csv:3: num_gpus is not an integer: '9{199}\.\.\.$"),
    ("philly.csv", "philly", f"timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,1,1,1,vcA\n"
     f"2017-10-01 00:00:00,1e308,{'9' * 400},1,vcA\n", r"philly\.csv:3: num_gpus is too large"),
    ("pai.csv", "pai2020", "j,w,1,Terminated,1,2,1,1,50,\nj,v,2,Terminated,1000.0,1600.0,600.0,29.2,1e308,\n",
     r"pai\.csv:2: inst_num × plan_gpu is too large"),
    ("pai.csv", "pai2020", "j,w,1,Terminated,1,2,1,1,50,\nj,v,1,Terminated,1000.0,1600.0,600.0,1e308,50,\n",
     r"pai\.csv:2: plan_mem is too large"),
    ("log.csv", "helios", "job_id,vc,gpu_num,cpu_num,state,submit_time,start_time,end_time,duration\n"
     "a,v,1,1,C,0,1,2,\nb,v,1,1e306,C,0,1,2,\n", r"log\.csv:3: cpu_num is too large"),
    # messages that ran over several lines or shapes that were silently collapsed
    ("jobs.csv", "canonical", 'job_id,submit_time,"num\ngpus"\na,0,1\n', r"jobs\.csv:1: missing column\(s\) "
     r"num_gpus, duration \(header: job_id,submit_time,num\\ngpus\)$"),
    ("jobs.csv", "canonical", "job_id,submit_time,num_gpus,duration,num_gpus\na,0,1,10,2\n",
     r"jobs\.csv:1: column 'num_gpus' appears more than once"),
    ("60_job.csv", "tiresias", "job_id,num_gpu,submit_time,iterations,model_name,duration,interval,job_id\n",
     r"60_job\.csv:1: column 'job_id' appears more than once"),
])
def test_fuzzer_findings(tmp_path, name, fmt, text, message):
    """Each input that once crashed a reader (or made a several-line message) is now one clean
    error naming the file and line, under the format and by detection alike; skipping bad rows,
    the other rows still read."""
    path = write(tmp_path, name, text.encode())
    for options in (ReadOptions(fmt), ReadOptions()):
        with pytest.raises(GpusimError, match=message) as err:
            read(path, options)
        check_error(err.value, path)
    if text.count("\n") > 2 and "header" not in message:
        trace = read(path, ReadOptions(fmt, on_error="skip"))
        check_trace(trace)
        assert len(trace.jobs) == 1 and sum(trace.skipped.values()) == 1


def test_damaged_gzip_during_detection(tmp_path):
    """A gzip stream damaged within the first kilobytes was an EOFError/zlib.error while detecting
    the format; it is one error naming the file."""
    data = gzip.compress(SEEDS[HERE / "data" / "swf" / "small.swf"])
    for damaged in (data[:20], data[:12] + b"\xff" * 8 + data[20:]):
        path = write(tmp_path, "log.swf.gz", damaged)
        with pytest.raises(GpusimError, match=r"log\.swf\.gz: ") as err:
            read(path)
        check_error(err.value, path)


def test_damaged_parquet_message_is_one_line(tmp_path):
    """pyarrow's several-line reasons (a thrift error, then the page header) are joined into one line."""
    data = bytearray(VALID_PARQUET)
    data[114] = 0  # a page header, as the fuzzer found
    path = write(tmp_path, "jobs.parquet", bytes(data))
    with pytest.raises(GpusimError, match="not a readable Parquet file") as err:
        read(path)
    check_error(err.value, path)


def test_parquet_with_a_repeated_column(tmp_path):
    """A Parquet table naming a column twice is refused rather than one of them silently lost."""
    import pyarrow.parquet as pq

    path = tmp_path / "jobs.parquet"
    pq.write_table(pa.table([pa.array(["a"]), pa.array([0.0]), pa.array([1]), pa.array([5.0]), pa.array([2])],
                            names=["job_id", "submit_time", "num_gpus", "duration", "num_gpus"]), path)
    with pytest.raises(GpusimError, match="column 'num_gpus' appears more than once"):
        read(path)


@pytest.mark.parametrize("version, safe", [("14.0.0", False), ("0.17.1", False), ("13.0.0", False), ("14.0.1", True),
                                           ("14.0.1.dev12", True), ("15.0.0", True), ("26.0.1", True)])
def test_parquet_refused_with_a_pyarrow_that_unpickles(tmp_path, monkeypatch, version, safe):
    """pyarrow before 14.0.1 unpickles extension types from the file it reads (CVE-2023-47248):
    with such a pyarrow a Parquet trace is refused, before pyarrow opens it."""
    path = write(tmp_path, "jobs.parquet", VALID_PARQUET)
    monkeypatch.setattr(pa, "__version__", version)
    if safe:
        assert len(read(path).jobs) == 3
    else:
        refused = rf"jobs\.parquet: pyarrow {version} can run code .*\(CVE-2023-47248\).*'pyarrow>=14\.0\.1'$"
        with pytest.raises(GpusimError, match=refused):
            read(path)


@pytest.mark.parametrize("header, note", [
    (f"; MaxProcs: {BIG}\n", "MaxProcs over 1,000,000 taken for damage"),
    ("; MaxProcs: 2000000000000\n; MaxNodes: 1000000000000\n", "MaxProcs and MaxNodes over 1,000,000"),
])
def test_swf_header_counts_beyond_any_machine(tmp_path, header, note):
    """A MaxProcs of thousands of digits crashed int(); a MaxNodes of 10^12 built 10^12 nodes. Both
    are now taken for damage: the jobs read, no cluster is implied, and a note says why."""
    path = write(tmp_path, "log.swf", (header + "1 0 -1 10 2 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n").encode())
    trace = read(path)
    check_trace(trace)
    assert trace.cluster is None and any(note in n for n in trace.notes)
