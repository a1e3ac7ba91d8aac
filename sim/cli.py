"""The ``gpusim`` command: ``run``, ``compare`` and ``policies``.

Every user error is one line on stderr (``gpusim: error: ...``) and exit status 2, no traceback.
Settings come from flags, optionally over a TOML ``--config`` file (flags win).
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import replace

import policies
from sim.errors import GpusimError
from sim.placement import DEFAULT, STRATEGIES
from sim.resources import DEFAULT_SHARING, SHARING


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        command = self.prog.partition(" ")[2]
        raise GpusimError(f"{command}: {message}" if command else message)


def _policy_args(pairs: Sequence[str]) -> dict:
    """``key=value`` pairs; values are TOML literals (``[3250, 7200]``, ``true``), else plain text."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise GpusimError(f"--policy-arg {pair!r}: expected key=value")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out[key.strip()] = value
    return out


def _reader(w) -> None:
    """The trace reader's options, shared by run, compare and trace."""
    w.add_argument("--format", help="trace format (default: detected from the content): canonical, philly, "
                   "alibaba2023, helios, tiresias, pai2020, swf")
    w.add_argument("--vc", action="append", metavar="VC", help="keep only this virtual cluster (repeatable)")
    w.add_argument("--window", metavar="FROM:TO", help="keep jobs submitted in [FROM, TO) seconds after the "
                   "first submission kept by --vc and the format's rules; either side may be empty")
    w.add_argument("--on-error", choices=("stop", "skip"), help="stop at the first bad row (default) or skip "
                   "bad rows and report how many and why")
    w.add_argument("--procs-per-gpu", type=int, metavar="N", help="SWF: processors per GPU (default 1)")


def _window(text: str | None) -> tuple[float | None, float | None]:
    if text is None:
        return None, None
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return (float(lo) if lo.strip() else None, float(hi) if hi.strip() else None)
    except ValueError:
        raise GpusimError(f"--window {text!r}: expected FROM:TO in seconds, e.g. 0:86400 or 86400:") from None


def _common(p: argparse.ArgumentParser) -> None:
    w = p.add_argument_group("workload (default: the bundled Philly b436b2 sample)")
    w.add_argument("--trace", metavar="FILE", help="a trace in any supported format (see --format)")
    _reader(w)
    w.add_argument("--scale-load", type=float, metavar="L", help="replay the trace at offered load L by "
                   "scaling its inter-arrival times")
    w.add_argument("--synthetic", metavar="JOBS", type=int, help="generate JOBS jobs with Poisson arrivals instead of reading a trace")
    w.add_argument("--load", type=float, help="synthetic: offered load on the cluster (default 0.8)")
    w.add_argument("--sizes", help="synthetic: GPUS:PROB,... (default 1:0.7,2:0.1,4:0.1,8:0.1)")
    w.add_argument("--durations", help="synthetic: lognormal:MU,SIGMA | exponential:MEAN | pareto:ALPHA,XM | constant:S | "
                   "empirical:S1,S2,... (default lognormal:7,1.5)")
    w.add_argument("--min-duration", type=float, help="synthetic: clip durations below (s, default 1)")
    w.add_argument("--max-duration", type=float, help="synthetic: clip durations above (s)")
    w.add_argument("--drop-oversize", action="store_true", default=None, help="skip (and report) jobs that can never fit the cluster")
    s = p.add_argument_group("simulation")
    s.add_argument("--cluster", metavar="SPEC", help="NODESxGPUS[:TYPE],... e.g. 8x8:V100 or 4x8:A100,8x4:V100 "
                   "(default: the cluster the trace implies, else 8x8)")
    s.add_argument("--placement", choices=STRATEGIES, help=f"GPU placement (default {DEFAULT})")
    s.add_argument("--resources", action=argparse.BooleanOptionalAction, default=None, help="honour the resource "
                   "model: GPU types and memory, shared GPUs (gpu_milli), CPU and memory per node (see "
                   "docs/resources.md; default off)")
    s.add_argument("--sharing", choices=SHARING, help=f"where a job sharing a GPU goes (implies --resources; "
                   f"default {DEFAULT_SHARING})")
    s.add_argument("--policy-arg", action="append", default=[], metavar="KEY=VALUE", help="policy parameter, value as a TOML literal (repeatable)")
    s.add_argument("--seed", type=int, help="seed of every random stream (default 0)")
    s.add_argument("--restart-overhead", type=float, metavar="S", help="seconds a preempted job loses when it restarts (default 0)")
    s.add_argument("--until", type=float, metavar="T", help="stop at simulated time T (s); unfinished jobs are counted")
    s.add_argument("--calibration", metavar="PROFILE", help="fitted calibration profile (a file, or a bundled "
                   "one: gavel, cpu-quick): durations and speeds from measured training (see gpusim calibrate); "
                   "'none' turns it off (the demo on the bundled sample uses gavel with --assign-models)")
    s.add_argument("--assign-models", action="store_true", default=None, help="with --calibration: give jobs that "
                   "have only a duration a model from the profile, so GPU types and placement change their speed")
    s.add_argument("--config", metavar="FILE", help="TOML file of settings (flags override it)")
    s.add_argument("--check", action="store_true", help="replay each run's event log against the simulator's "
                   "invariants (no GPU double-booked, every job finished once or reported unfinished, GPU-seconds "
                   "conserved; see sim/check.py); a violation is an error")
    f = p.add_argument_group("faults (node failures; see sim/faults.py)")
    f.add_argument("--mtbf", metavar="DIST", help="time between a node's failures: exponential:MEAN, "
                   "weibull:SHAPE,SCALE or constant:S (seconds; with --repair)")
    f.add_argument("--repair", metavar="DIST", help="time to repair a node, as --mtbf")
    f.add_argument("--failures", metavar="FILE", help="failure schedule instead: CSV node,fail_time,repair_time")
    f.add_argument("--checkpoint-interval", type=float, metavar="S", help="jobs checkpoint every S seconds of work "
                   "(default: never; a killed job restarts from where its run began)")
    f.add_argument("--checkpoint-cost", type=float, metavar="S", help="seconds each checkpoint takes (default 0)")
    f.add_argument("--restart-cost", type=float, metavar="S", help="seconds a job killed by a failure spends "
                   "restoring its checkpoint when it restarts (default 0)")
    s.add_argument("--skew", type=float, metavar="F", help="data imbalance of multi-GPU jobs: the largest shard is "
                   "1+F times an even one, so every step waits for it (default 0); adds straggler_gpu_hours")
    a = p.add_argument_group("elastic cluster (see sim/autoscale.py)")
    a.add_argument("--autoscale", metavar="NAME", help="turn nodes on and off with this autoscaler (queue, or "
                   "module:Class); --cluster is the largest cluster")
    a.add_argument("--autoscale-arg", action="append", default=[], metavar="KEY=VALUE", help="autoscaler setting "
                   "(min_nodes, initial_nodes, interval, idle_timeout, provisioning_delay, node_hour_cost), repeatable")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="write the run's CSV/JSON files into DIR")
    o.add_argument("--force", action="store_true", help="allow writing into a non-empty DIR")


def build_parser() -> argparse.ArgumentParser:
    names = ", ".join(policies.available())
    parser = _Parser(prog="gpusim", description="Discrete-event simulator of GPU clusters for scheduling research.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = sub.add_parser("run", help="simulate one policy and print its summary",
                         description="Simulate one policy. With no arguments: the bundled sample on 8x8 GPUs with fifo.")
    run.add_argument("--policy", help=f"policy name ({names}) or module:Class (default fifo)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show finished jobs, simulated time and ETA on stderr (default: when stderr is a terminal)")
    _common(run)
    cmp = sub.add_parser("compare", help="simulate several policies on the same jobs and print one table")
    cmp.add_argument("--policies", required=True, help=f"comma-separated policy names ({names})")
    cmp.add_argument("--seeds", type=int, default=1, help="number of seeds, from --seed on (default 1)")
    _common(cmp)
    sub.add_parser("policies", help="list the registered policies")
    _trace_parsers(sub)
    sub.add_parser("calibrate", help="profile Keras training (run), fit the speed model (fit), print a profile (show)",
                   add_help=False)
    sweep = sub.add_parser("sweep", help="run every combination of an experiment spec (TOML) × seeds")
    sweep.add_argument("spec", metavar="EXP.toml")
    sweep.add_argument("--out", required=True, metavar="DIR", help="one folder per run, results.csv/.parquet, manifest.json")
    sweep.add_argument("--workers", type=int, default=1, help="runs in parallel (default 1)")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local", help="process pool (default) or Ray tasks")
    sweep.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster instead of starting a local one")
    sweep.add_argument("--resume", action="store_true", help="skip runs that already finished in DIR")
    sweep.add_argument("--force", action="store_true", help="start over in a non-empty DIR")
    sweep.add_argument("--quiet", action="store_true", help="no progress lines")
    for name, text in (("summarize", "mean and 95%% CI per policy across seeds, paired comparison to a baseline"),
                       ("plot", "figures from a run or sweep folder (jct-cdf, bars, load, timeseries, gantt, ...)"),
                       ("report", "one HTML/Markdown report of a sweep: spec, tables, every standard figure"),
                       ("ga", "evolve a job order for a batch (genetic algorithm) and compare it with FIFO/SJF"),
                       ("rl", "train a PPO scheduling agent (train) or compare one with the baselines (eval)")):
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _trace_parsers(sub) -> None:
    trace = sub.add_parser("trace", help="inspect, convert, fit and synthesise traces")
    tsub = trace.add_subparsers(dest="trace_command", metavar="ACTION", parser_class=_Parser, required=True)
    info = tsub.add_parser("info", help="jobs, span, GPU mix, durations, arrival rate, users/VCs, offered load")
    info.add_argument("file", metavar="FILE")
    info.add_argument("--cluster", metavar="SPEC", help="also print the offered load on this cluster")
    info.add_argument("--json", action="store_true", help="print the figures as JSON")
    _reader(info)
    convert = tsub.add_parser("convert", help="write a trace as the canonical table (.csv or .parquet)")
    convert.add_argument("file", metavar="FILE")
    convert.add_argument("--out", required=True, metavar="OUT", help="OUT.csv or OUT.parquet")
    convert.add_argument("--scale-load", type=float, metavar="L", help="scale inter-arrival times to offered load L on --cluster")
    convert.add_argument("--cluster", metavar="SPEC", help="cluster for --scale-load")
    convert.add_argument("--force", action="store_true", help="overwrite OUT")
    _reader(convert)
    fit = tsub.add_parser("fit", help="fit GPU mix, durations and arrivals of a trace into a model file")
    fit.add_argument("file", metavar="FILE")
    fit.add_argument("--out", required=True, metavar="MODEL.json")
    fit.add_argument("--force", action="store_true", help="overwrite MODEL.json")
    _reader(fit)
    synth = tsub.add_parser("synth", help="generate a workload from a fitted model")
    synth.add_argument("--from", dest="model", required=True, metavar="MODEL.json")
    synth.add_argument("--jobs", type=int, required=True, metavar="N")
    synth.add_argument("--load", type=float, metavar="L", help="offered load on --cluster (default: the model's arrival rate)")
    synth.add_argument("--cluster", required=True, metavar="SPEC")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", required=True, metavar="OUT", help="OUT.csv or OUT.parquet")
    synth.add_argument("--force", action="store_true", help="overwrite OUT")


def _config(args: argparse.Namespace, policy: str | None = None):
    from sim.experiment import RunConfig, load_config, synthetic_workload

    settings = load_config(args.config) if args.config else {}
    window_start, window_end = _window(args.window)
    flags = {"trace": args.trace, "cluster": args.cluster, "placement": args.placement, "seed": args.seed,
             "restart_overhead": args.restart_overhead, "until": args.until, "drop_oversize": args.drop_oversize,
             "policy": policy, "format": args.format, "vcs": tuple(args.vc) if args.vc else None,
             "window_start": window_start, "window_end": window_end, "on_error": args.on_error,
             "procs_per_gpu": args.procs_per_gpu, "scale_load": args.scale_load,
             "calibration": args.calibration, "assign_models": args.assign_models, "skew": args.skew,
             "resources": args.resources, "sharing": args.sharing}
    settings.update({k: v for k, v in flags.items() if v is not None})
    if args.window is not None:  # the flag's window replaces the file's, open sides included
        settings["window_start"], settings["window_end"] = window_start, window_end
    if args.sharing is not None:  # a sharing rule means nothing without the resource model
        if args.resources is False:
            raise GpusimError(f"--sharing {args.sharing} needs the resource model; drop --no-resources")
        settings["resources"] = True
    if args.policy_arg:
        settings["policy_args"] = {**settings.get("policy_args", {}), **_policy_args(args.policy_arg)}
    synth = {"load": args.load, "sizes": args.sizes, "durations": args.durations,
             "min_duration": args.min_duration, "max_duration": args.max_duration}
    if args.synthetic is not None:
        settings["synthetic"] = synthetic_workload(args.synthetic, **{k: v for k, v in synth.items() if v is not None})
        if args.trace is None:
            settings.pop("trace", None)  # the flag overrides the file's workload
    elif args.trace is not None:
        settings.pop("synthetic", None)
    if args.scale_load is not None and "synthetic" in settings:
        raise GpusimError("--scale-load replays a trace at another load; a synthetic workload takes --load")
    if args.synthetic is None and any(v is not None for v in synth.values()):
        raise GpusimError("--load, --sizes, --durations, --min-duration and --max-duration need --synthetic JOBS")
    faults = {"mtbf": args.mtbf, "repair": args.repair, "schedule": args.failures,
              "checkpoint_interval": args.checkpoint_interval, "checkpoint_cost": args.checkpoint_cost,
              "restart_cost": args.restart_cost}
    if any(v is not None for v in faults.values()):
        settings["faults"] = {**(settings.get("faults") or {}), **{k: v for k, v in faults.items() if v is not None}}
    if args.autoscale is not None or args.autoscale_arg:
        scaling = {**(settings.get("autoscale") or {}), **_policy_args(args.autoscale_arg)}
        if args.autoscale is not None:
            scaling["name"] = args.autoscale
        settings["autoscale"] = scaling
    return RunConfig(**settings)


def _fmt(x) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        return f"{x:.3f}" if abs(x) < 10 else f"{x:,.0f}"
    return str(x)


_COMPARE = ("avg_jct", "median_jct", "p95_jct", "avg_wait", "makespan", "utilization", "avg_bounded_slowdown",
            "preemptions", "unfinished")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


class _Progress:
    """A progress line for long single runs: at most one update a second, cleared at the end."""

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._last = self._clock()

    def __call__(self, now: float, finished: int, total: int) -> None:
        wall = self._clock()
        if wall - self._last < 1.0 and finished < total:
            return
        self._last = wall
        elapsed = wall - self._start
        eta = elapsed / finished * (total - finished) if finished else math.nan
        print(f"\r{finished}/{total} jobs finished, simulated {now:,.0f} s, {elapsed:.0f} s elapsed, "
              f"ETA {eta:.0f} s ", end="", file=sys.stderr, flush=True)
        if finished == total:
            print(file=sys.stderr)


def _note(notes) -> None:
    for n in notes:
        print(f"gpusim: note: {n}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from sim import experiment

    config = _config(args, args.policy)
    policies.make(config.policy, dict(config.policy_args))  # check the policy before reading the trace
    config, jobs, notes = experiment.load_jobs(config)
    _note(notes)
    out = experiment.prepare_out(args.out, args.force) if args.out else None
    result = experiment.run(config, jobs, _Progress() if args.progress or (args.progress is None and sys.stderr.isatty()) else None)
    if args.check:
        _check([result], config)
    source = "synthetic" if config.synthetic else (config.trace or "bundled sample philly_b436b2.csv")
    print(f"{result.policy} on {result.cluster.summary()}, placement {config.placement}, "
          f"{len(jobs)} jobs from {source}, seed {config.seed}")
    summary = result.summary()
    if summary["unfinished"] and config.until is None:
        _note([f"{summary['unfinished']} job(s) never finished: the policy left them waiting with nothing "
               "left to run"])
    units = {"avg_jct", "median_jct", "p95_jct", "p99_jct", "avg_wait", "makespan"}
    _print_table(("metric", "value"), [(k, _fmt(v) + (" s" if k in units else "")) for k, v in summary.items()])
    if out is not None:
        written = experiment.write_result(result, out)
        experiment.write_config(config, out)
        print(f"wrote {out}/{', '.join(written)}, config.json")
    return 0


def _check(results, config) -> None:
    """--check: each run's event log replayed against the invariants (sim.check), with the speed
    model a calibrated run used; the first violation is the error."""
    from sim.check import verify
    from sim.experiment import run_speed

    profile = None
    if config.calibrated:
        from calibrate.profile import load

        profile = load(config.calibration)
    for result in results:
        cal = None
        if profile is not None:
            from calibrate.speed import Calibration

            cal = Calibration(profile, result.cluster)
        verify(result, run_speed(config, cal))
    _note([f"check passed: {sum(len(r.events) for r in results):,} events of {len(results)} run(s) keep every "
           "invariant"])


def cmd_compare(args: argparse.Namespace) -> int:
    from sim import experiment

    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    if not names:
        raise GpusimError("--policies: give at least one policy name")
    if args.seeds < 1:
        raise GpusimError(f"--seeds must be at least 1, got {args.seeds}")
    config = _config(args)
    for name in names:
        policies.make(name, dict(config.policy_args))  # check every policy before creating --out
    out = experiment.prepare_out(args.out, args.force) if args.out else None
    rows, notes = experiment.compare(config, names, args.seeds)
    _note(notes)
    if args.check:
        _check([r["result"] for r in rows], config)
    table = []
    for name in names:
        mine = [r for r in rows if r["policy"] == name]
        cells = [name]
        for key in _COMPARE:
            values = [float(r[key]) for r in mine]
            mean = sum(values) / len(values)
            if len(values) > 1:
                sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                cells.append(f"{_fmt(mean)} ± {_fmt(sd)}")
            else:
                cells.append(_fmt(values[0]) if key not in ("preemptions", "unfinished") else str(int(values[0])))
        table.append(cells)
    spread = f", mean ± sd over {args.seeds} seeds" if args.seeds > 1 else ""
    print(f"{rows[0]['result'].cluster.summary()}, placement {config.placement}, times in seconds{spread}")
    _print_table(("policy", *_COMPARE), table)
    if out is not None:
        experiment.write_compare(rows, out)
        experiment.write_config(replace(config, cluster=str(rows[0]["result"].cluster)), out,
                                {"policies": names, "seeds": args.seeds})
        print(f"wrote {out}/summary.csv, config.json and runs/")
    return 0


def _read_trace(args: argparse.Namespace):
    from traces.formats import read
    from traces.table import ReadOptions

    start, end = _window(args.window)
    options = ReadOptions(args.format, tuple(args.vc or ()), start, end, args.on_error or "stop", args.procs_per_gpu or 1)
    if options.format is not None:
        from traces.formats import FORMATS

        if options.format not in FORMATS:
            raise GpusimError(f"unknown trace format {options.format!r}; choose one of {', '.join(FORMATS)}")
    trace = read(args.file, options)
    _note(trace.report())
    return trace


def _json_safe(x):
    """NaN and infinities become null, as in summary.json (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _new_file(path: str, force: bool) -> str:
    from pathlib import Path

    if Path(path).exists() and not force:
        raise GpusimError(f"{path}: exists; use --force to overwrite")
    if not Path(path).parent.is_dir():
        raise GpusimError(f"{path}: folder {Path(path).parent} does not exist")
    return path


def cmd_trace(args: argparse.Namespace) -> int:
    import json

    from sim.model import Cluster
    from traces import canonical

    if args.trace_command == "synth":
        from traces.fit import load_model, synthesize

        cluster = Cluster.parse(args.cluster)
        out = _new_file(args.out, args.force)
        if args.jobs < 1:
            raise GpusimError(f"--jobs must be at least 1, got {args.jobs}")
        if args.seed < 0:
            raise GpusimError(f"--seed must be a non-negative integer, got {args.seed}")
        jobs = synthesize(load_model(args.model), args.jobs, cluster.num_gpus, args.seed, args.load)
        canonical.write(jobs, out)
        print(f"wrote {len(jobs)} jobs to {out}")
        return 0
    cluster = Cluster.parse(args.cluster) if getattr(args, "cluster", None) else None
    if args.trace_command in ("convert", "fit"):
        _new_file(args.out, args.force)
        if args.trace_command == "convert" and not args.out.lower().endswith((".csv", ".parquet")):
            raise GpusimError(f"{args.out}: write a .csv or .parquet file")
        if args.trace_command == "convert" and args.scale_load is not None and cluster is None:
            raise GpusimError("--scale-load needs --cluster")
    trace = _read_trace(args)
    if args.trace_command == "info":
        from traces.info import describe, render

        info = describe(trace, cluster)
        if args.json:
            print(json.dumps(_json_safe(info), indent=2, allow_nan=False))
        else:
            print("\n".join(render(info)))
    elif args.trace_command == "convert":
        jobs = trace.jobs
        if args.scale_load is not None:
            from traces.synthetic import scale_load

            jobs = scale_load(jobs, cluster.num_gpus, args.scale_load)
        canonical.write(jobs, args.out)
        print(f"wrote {len(jobs)} jobs to {args.out}")
    else:
        from traces.fit import fit, save_model

        model = fit(trace)
        save_model(model, args.out)
        print(f"wrote {args.out}")
    return 0


CALIBRATE_USAGE = """usage: gpusim calibrate run [--quick] [--models A,B] [--batch-sizes 8,16] --out PROFILE.json
       gpusim calibrate fit PROFILE.json --out FITTED.json [--force]
       gpusim calibrate show PROFILE.json
       gpusim calibrate memory PROFILE.json --out WITH-MEMORY.json [--force]"""


def cmd_calibrate(argv: Sequence[str]) -> int:
    """Hand ``gpusim calibrate ACTION ...`` to calibrate/ (TensorFlow loads only for ``run``)."""
    if argv[:1] in (["-h"], ["--help"]):
        print(CALIBRATE_USAGE)
        return 0
    if not argv:  # an action is required, as for `gpusim trace`
        print(CALIBRATE_USAGE, file=sys.stderr)
        return 2
    if argv[0] == "run":
        from calibrate.runner import main as run_main

        return run_main(list(argv[1:]))
    if argv[0] in ("fit", "show", "memory"):
        from calibrate.show import main as show_main

        return show_main(list(argv))
    raise GpusimError(f"calibrate: unknown action {argv[0]!r}; choose run, fit, show or memory")


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim.sweep import run_sweep

    rows = run_sweep(args.spec, args.out, workers=args.workers, backend=args.backend, ray_address=args.ray_address,
                     resume=args.resume, force=args.force, progress=not args.quiet)
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{len(rows)} runs in {args.out} ({len(failed)} failed); results in {args.out}/results.csv")
    for r in failed[:10]:
        print(f"gpusim: note: run {r['run_id']} ({r['policy']}, seed {r['seed']}) failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


#: Commands implemented by their own modules' main(argv), so their imports load only when used.
_DELEGATED = {"calibrate": None, "summarize": "sim.stats", "plot": "sim.plots", "report": "sim.report", "ga": "sim.ga",
              "rl": "sim.rl"}


def cmd_policies(_args: argparse.Namespace) -> int:
    infos = policies.available()
    width = max(len(n) for n in infos)
    for name, info in infos.items():
        params = f" [{', '.join(info.params)}]" if info.params else ""
        print(f"{name.ljust(width)}  {info.summary}{params}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv[:1] == ["calibrate"]:
            return cmd_calibrate(argv[1:])
        if argv[:1] and argv[0] in _DELEGATED:
            import importlib

            return importlib.import_module(_DELEGATED[argv[0]]).main(argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        commands = {"run": cmd_run, "compare": cmd_compare, "policies": cmd_policies, "trace": cmd_trace,
                    "sweep": cmd_sweep}
        return commands[args.command](args)
    except GpusimError as err:
        print(f"gpusim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and closed early: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
