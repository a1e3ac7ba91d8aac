"""A profile as text, and the ``gpusim calibrate show`` / ``fit`` / ``memory`` commands.

:func:`render` gives the lines: where the numbers come from (source, device, provenance), the
measurement table (model, GPU type, global batch (and its share per GPU), GPUs, consolidated, median step time ± IQR,
samples/s, GPU memory per GPU when the profile records it (``est.`` marks an estimate), and the
fitted prediction's relative error when the profile is fitted), then the fit of
each model (``a``, ``b`` per GPU type with 95 % intervals, all-reduce times and bandwidths, holdout
and in-sample errors, notes). :func:`main` is the command line; user errors raise
:class:`sim.errors.GpusimError` (one line) for the caller to report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from calibrate.profile import Profile
from sim.errors import GpusimError


def _seconds(x: float | None) -> str:
    """A time with a unit that keeps it readable (µs, ms, s)."""
    if x is None:
        return "-"
    if x == 0:
        return "0 s"
    if abs(x) < 1e-3:
        return f"{x * 1e6:.3g} µs"
    if abs(x) < 1:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.4g} s"


def _interval(ci: Sequence[float] | None, unit=_seconds) -> str:
    return f"[{unit(ci[0])}, {unit(ci[1])}]" if ci else "[-]"


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _bandwidth(x: float | None) -> str:
    return "" if x is None else f" ({x / 1e9:.3g} GB/s)"


def _header(profile: Profile) -> list[str]:
    device = profile.device or {}
    lines = [f"source: {profile.source}",
             f"device: {device.get('gpu_type', '?')}: {device.get('name') or '?'}"
             + (f" ({device['backend']})" if device.get("backend") else "")]
    if profile.date:
        lines.append(f"date: {profile.date}")
    if profile.versions:
        lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in sorted(profile.versions.items())))
    provenance = (profile.settings or {}).get("provenance")
    if isinstance(provenance, dict):
        for key in ("repository", "file", "commit", "licence", "copyright", "paper"):
            if provenance.get(key):
                lines.append(f"{key}: {provenance[key]}")
    for note in (profile.settings or {}).get("notes", []):
        lines.append(f"note: {note}")
    if profile.reference_gpu_type:
        lines.append(f"reference GPU type: {profile.reference_gpu_type}")
    return lines


def _table(profile: Profile) -> list[str]:
    from calibrate.fit import step_time

    fitted, memory = bool(profile.fits), profile.has_memory()
    head = ["model", "GPU type", "batch", "GPUs", "consolidated", "step time ± IQR", "samples/s"]
    head += ["memory/GPU"] if memory else []
    head += ["fit error"] if fitted else []
    rows = []
    for m in profile.measurements:
        per_gpu = f" ({m.batch_size / m.num_gpus:g}/GPU)" if m.num_gpus > 1 else ""
        row = [m.model, m.gpu_type, f"{m.batch_size}{per_gpu}", str(m.num_gpus), "yes" if m.consolidated else "no",
               f"{_seconds(m.step_time)} ± {_seconds(m.step_time_iqr)}", f"{m.samples_per_s:.4g}"]
        if memory:
            row.append(_memory(m))
        if fitted:
            fit = profile.fits.get(m.model)
            try:
                predicted = step_time(fit, m.gpu_type, m.batch_size, m.num_gpus, m.consolidated) if fit else None
            except GpusimError:
                predicted = None
            row.append("-" if predicted is None else f"{100 * (predicted - m.step_time) / m.step_time:+.1f}%")
        rows.append(row)
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    right = set(range(2, len(head))) - {4, 5}  # numbers right-aligned

    def line(cells: list[str]) -> str:
        cells = [c.rjust(w) if j in right else c.ljust(w) for j, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(cells).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _memory(m) -> str:
    """A measurement's GPU memory per GPU: ``1,234 MiB``, ``est.`` after an estimate, ``-`` if none."""
    if m.gpu_memory_mib is None:
        return "-"
    return f"{m.gpu_memory_mib:,} MiB" + (" est." if m.gpu_memory_source.startswith("estimate") else "")


def _memory_lines(profile: Profile) -> list[str]:
    """Where the memory column's numbers come from (one line per distinct source)."""
    if not profile.has_memory():
        return ["GPU memory: not recorded (gpusim calibrate memory PROFILE --out WITH-MEMORY.json estimates it "
                "for zoo models)"]
    sources = dict.fromkeys(m.gpu_memory_source for m in profile.measurements if m.gpu_memory_source)
    return [f"GPU memory per GPU, {s}" for s in sources]


def _fit_lines(model: str, fit: dict) -> list[str]:
    holdout = fit.get("holdout") or {}
    lines = [f"{model}: params {fit.get('params') if fit.get('params') is not None else 'unknown'}, "
             f"in-sample rms error {_percent(fit.get('rmse_rel'))}, "
             f"{holdout.get('method', 'holdout')} ({holdout.get('points', 0)} points): "
             f"median {_percent(holdout.get('median_rel_error'))}, max {_percent(holdout.get('max_rel_error'))}"]
    for gpu_type, p in sorted(fit.get("per_type", {}).items()):
        lines.append(f"  {gpu_type}: a = {_seconds(p['a'])} {_interval(p.get('a_ci'))}, "
                     f"b = {_seconds(p['b'])}/sample {_interval(p.get('b_ci'))} "
                     f"({p.get('points', '?')} point{'' if p.get('points') == 1 else 's'})")
    comm = fit.get("comm") or {}
    for kind, label in (("intra", "in-node"), ("inter", "cross-node")):
        c = comm.get(f"{kind}_s")
        text = "not measured" if c is None else (f"{_seconds(c)} {_interval(comm.get(f'{kind}_ci'))}"
                                                  + _bandwidth(comm.get(f"{kind}_bandwidth")))
        lines.append(f"  all-reduce {label}: {text}")
    lines += [f"  note: {note}" for note in fit.get("notes", [])]
    return lines


def render(profile: Profile) -> list[str]:
    """The profile as lines of text: header, measurement table, and the fits when present."""
    try:
        return _render(profile)
    except (KeyError, TypeError, AttributeError, IndexError) as err:  # a hand-edited or foreign 'fits'
        raise GpusimError(f"profile fits are malformed: {type(err).__name__} {err}") from None


def _render(profile: Profile) -> list[str]:
    lines = _header(profile) + ["", f"{len(profile.measurements)} measurements:"] + _table(profile)
    lines += _memory_lines(profile)
    if profile.fits:
        lines += ["", "fit: step_time = a_T + b_T * batch / GPUs + [GPUs > 1] * 2 (GPUs - 1) / GPUs * c"]
        for model in sorted(profile.fits):
            lines += _fit_lines(model, profile.fits[model])
    else:
        lines += ["", "not fitted (gpusim calibrate fit PROFILE --out FITTED.json)"]
    return lines


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise GpusimError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpusim calibrate", description="Show, fit or add GPU memory to a calibration profile.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    show = commands.add_parser("show", help="print a profile's measurements and fit")
    show.add_argument("profile", help="profile JSON file")
    fit = commands.add_parser("fit", help="fit the speed model to a profile's measurements")
    fit.add_argument("profile", help="profile JSON file")
    fit.add_argument("--out", required=True, help="fitted profile to write")
    fit.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    memory = commands.add_parser("memory", help="estimate the GPU memory of a profile's zoo-model measurements "
                                 "that have none (Keras; measured values are kept)")
    memory.add_argument("profile", help="profile JSON file")
    memory.add_argument("--out", required=True, help="profile to write, with memory")
    memory.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``show PROFILE``, ``fit PROFILE --out FITTED.json [--force]`` or ``memory PROFILE --out
    FILE.json [--force]``; returns the exit status."""
    from calibrate.profile import load, save

    args = build_parser().parse_args(argv)
    profile = load(args.profile)
    if args.command == "show":
        print("\n".join(render(profile)))
        return 0
    out = Path(args.out)
    if out.exists() and not args.force:
        raise GpusimError(f"{out}: exists; use --force to overwrite")
    if not out.parent.is_dir():
        raise GpusimError(f"{out}: folder {out.parent} does not exist")
    if args.command == "memory":
        from calibrate.memory import add_estimates

        try:
            with_memory, filled, left = add_estimates(profile)
        except ImportError as err:
            raise GpusimError(f"estimating memory needs Keras 3 and a backend (pip install 'gpusim[tf]'): "
                              f"{err}") from None
        save(with_memory, out)
        print(f"wrote {out}: GPU memory estimated for {filled} measurement(s)"
              + (f", {left} left without (their models are not in the zoo)" if left else ""))
        return 0
    from calibrate.fit import fit_profile

    fitted = fit_profile(profile)
    save(fitted, out)
    for model in sorted(fitted.fits):
        print("\n".join(_fit_lines(model, fitted.fits[model])))
    print(f"wrote {out}: {len(fitted.fits)} models fitted, reference GPU type {fitted.reference_gpu_type}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GpusimError as err:
        print(f"gpusim calibrate: error: {err}", file=sys.stderr)
        sys.exit(2)
