"""The speed model fitted to a profile's measurements, and its prediction of a training step.

The model. For a model ``m`` on GPU type ``T`` with global batch ``B`` spread over ``n`` GPUs,

    step_time = a_T + b_T * (B / n) + [n > 1] * 2 (n - 1) / n * c

- ``a_T`` (seconds) is the fixed cost of one step on one GPU of type ``T`` (kernel launches, the
  optimizer update, input pipeline), ``b_T`` (seconds per sample) the cost of each sample of the
  GPU's share ``B / n`` of the batch. Both are per model and per GPU type.
- ``c`` (seconds) is the time of one full all-reduce of the model's gradients; a ring all-reduce over
  ``n`` GPUs moves ``2 (n - 1) / n`` times the gradient volume through each GPU's link, hence the
  factor. ``c = c_intra`` when all GPUs share one node (consolidated) and ``c = c_inter`` when the job
  is spread over several nodes; both are per model, shared by every GPU type. With the parameter
  count known, ``4 * params / c`` is the implied all-reduce bandwidth in bytes/s (fp32 gradients).

A job's compute therefore speeds up with more GPUs and its communication does not, and a job spread
across nodes runs slower whenever ``c_inter > c_intra`` (which the fit does not force: it reports
what the measurements say).

The fit (:func:`fit_profile`). Per model, all its measurements at once: the model is linear in its
parameters ``(a_T, b_T for every type, c_intra, c_inter)``, so the fit is a bounded linear least
squares on *relative* errors ``(predicted - measured) / measured`` with every parameter ``>= 0``,
solved exactly with ``scipy.optimize.lsq_linear`` (the linear case of ``least_squares``; its
bounded-variable solver finds the exact optimum, including parameters that sit on the bound 0).
Relative errors make a 10 ms step and a 2 s step count alike.

- Confidence intervals (95 %) come from the Jacobian: ``cov = s^2 (J^T J)^+`` with ``J`` the weighted
  design matrix and ``s^2`` the residual variance over ``points - parameters`` degrees of freedom,
  Student-t quantile; lower ends are clipped at 0. They are ``null`` when no degrees of freedom are left
  or the parameter was not fitted.
- Holdout error: **leave-one-out**. Every measurement is left out in turn, the model refitted on the
  others and the left-out step time predicted; ``holdout`` reports the median and the largest
  relative error ``|predicted - measured| / measured`` over the points that could be predicted (a
  point whose GPU type has no other measurement cannot be, and is not counted). ``rmse_rel`` is the
  root-mean-square relative error of the full fit on its own points.
- Special cases, each recorded in the fit's ``notes``: a GPU type measured at a single per-GPU batch
  size ``B / n`` has ``b_T`` fixed at 0 (``a_T`` absorbs the whole compute time; ``b_ci`` null); a
  model without multi-GPU measurements has both comm terms null, and a job of several GPUs is then
  predicted with ``c = 0`` (perfect scaling); when only one of the two kinds was measured, the other
  falls back to it (see :func:`step_time`).

The stored fit, one entry per model in ``profile.fits``::

    {"params": int|null, "notes": [str, ...],
     "per_type": {TYPE: {"a": s, "b": s/sample, "a_ci": [lo, hi]|null, "b_ci": [lo, hi]|null,
                         "points": k}},
     "comm": {"intra_s": c|null, "inter_s": c|null, "intra_ci": [lo, hi]|null, "inter_ci": [lo, hi]|null,
              "intra_bandwidth": bytes/s|null, "inter_bandwidth": bytes/s|null},
     "holdout": {"method": "leave-one-out", "points": k, "median_rel_error": x|null,
                 "max_rel_error": x|null},
     "rmse_rel": x}

GPU type names are canonical (:func:`calibrate.gpu_types.canonical`) in the fitted profile, its
measurements included.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from calibrate.gpu_types import canonical
from calibrate.profile import Measurement, Profile
from sim.errors import GpusimError

LEVEL = 0.95  # confidence level of the intervals


def comm_factor(num_gpus: int) -> float:
    """The ring all-reduce factor ``2 (n - 1) / n``: 0 on one GPU, 1 on two, towards 2 on many."""
    return 2.0 * (num_gpus - 1) / num_gpus


def step_time(fit: dict, gpu_type: str, batch: float, num_gpus: int, consolidated: bool = True) -> float:
    """Predicted seconds per training step of global batch ``batch`` on ``num_gpus`` GPUs of ``gpu_type``.

    ``fit`` is one model's entry of ``profile.fits``. Communication on several GPUs uses ``inter_s``
    when the job spans nodes (``consolidated=False``) and ``intra_s`` otherwise; when that term is
    null the other one stands in, and when both are null communication costs nothing (``c = 0``).
    """
    if num_gpus < 1:
        raise ValueError(f"num_gpus must be at least 1, got {num_gpus!r}")
    name = canonical(gpu_type)
    per_type = fit["per_type"].get(name)
    if per_type is None:
        known = ", ".join(sorted(fit["per_type"])) or "none"
        raise GpusimError(f"no fitted speed for GPU type {name!r} (fitted: {known})")
    seconds = per_type["a"] + per_type["b"] * batch / num_gpus
    if num_gpus > 1:
        comm = fit.get("comm") or {}
        first, second = ("intra_s", "inter_s") if consolidated else ("inter_s", "intra_s")
        c = comm.get(first)
        if c is None:
            c = comm.get(second)
        seconds += comm_factor(num_gpus) * (c or 0.0)
    return seconds


# ----------------------------------------------------------------------------------------------------
# the least-squares problem of one model


@dataclasses.dataclass(frozen=True)
class _Problem:
    """The design of one model's fit: parameter names and the rows of the linear model."""

    names: tuple[tuple[str, str], ...]  # ("a", TYPE), ("b", TYPE), ("c", "intra"), ("c", "inter")
    design: np.ndarray  # rows: measurements; columns: names; step_time = design @ x
    observed: np.ndarray  # measured step times (s)


def _problem(points: Sequence[Measurement]) -> _Problem:
    types = sorted({canonical(m.gpu_type) for m in points})
    names: list[tuple[str, str]] = []
    for t in types:
        names.append(("a", t))
        if len({m.batch_size / m.num_gpus for m in points if canonical(m.gpu_type) == t}) >= 2:
            names.append(("b", t))
    for kind, consolidated in (("intra", True), ("inter", False)):
        if any(m.num_gpus > 1 and m.consolidated == consolidated for m in points):
            names.append(("c", kind))
    column = {name: j for j, name in enumerate(names)}
    design = np.zeros((len(points), len(names)))
    for i, m in enumerate(points):
        t = canonical(m.gpu_type)
        design[i, column["a", t]] = 1.0
        if ("b", t) in column:
            design[i, column["b", t]] = m.batch_size / m.num_gpus
        if m.num_gpus > 1:
            design[i, column["c", "intra" if m.consolidated else "inter"]] = comm_factor(m.num_gpus)
    return _Problem(tuple(names), design, np.array([m.step_time for m in points], dtype=float))


def _solve(problem: _Problem) -> np.ndarray:
    """Non-negative least squares on relative errors; returns the parameters in ``problem.names`` order."""
    from scipy.optimize import lsq_linear

    weighted = problem.design / problem.observed[:, None]
    scale = np.linalg.norm(weighted, axis=0)  # columns differ by orders of magnitude (1 vs B/n)
    scale[scale == 0] = 1.0
    result = lsq_linear(weighted / scale, np.ones(len(problem.observed)), bounds=(0.0, np.inf), method="bvls")
    return np.maximum(result.x / scale, 0.0)


def _as_fit(problem: _Problem, x: np.ndarray) -> dict:
    """The minimal fit dict :func:`step_time` needs, from solved parameters."""
    values = dict(zip(problem.names, (float(v) for v in x)))
    per_type = {t: {"a": values[kind, t], "b": values.get(("b", t), 0.0)} for kind, t in problem.names if kind == "a"}
    comm = {"intra_s": values.get(("c", "intra")), "inter_s": values.get(("c", "inter"))}
    return {"per_type": per_type, "comm": comm}


def _intervals(problem: _Problem, x: np.ndarray, level: float) -> tuple[list | None, list[str]]:
    """Jacobian confidence intervals ``[lo, hi]`` per parameter (None where not estimable), and notes."""
    from scipy.stats import t as student_t

    m, p = problem.design.shape
    dof = m - p
    if dof <= 0:
        return None, [f"{m} points for {p} parameters: no degrees of freedom left, confidence intervals are null"]
    jac = problem.design / problem.observed[:, None]
    residual = jac @ x - 1.0
    variance = float(residual @ residual) / dof
    cov = variance * np.linalg.pinv(jac.T @ jac)
    half = student_t.ppf(0.5 + level / 2, dof) * np.sqrt(np.maximum(np.diag(cov), 0.0))
    notes = []
    rank = np.linalg.matrix_rank(jac)
    if rank < p:
        notes.append(f"only {rank} of {p} parameters are identifiable from these points: "
                     "some intervals are not meaningful")
    return [[max(0.0, float(v - h)), float(v + h)] for v, h in zip(x, half)], notes


def _leave_one_out(points: Sequence[Measurement]) -> list[float]:
    """Relative prediction error of each point from a fit to all the other points."""
    errors = []
    for i, m in enumerate(points):
        rest = [q for j, q in enumerate(points) if j != i]
        if not any(canonical(q.gpu_type) == canonical(m.gpu_type) for q in rest):
            continue  # its GPU type is unknown without it
        problem = _problem(rest)
        predicted = step_time(_as_fit(problem, _solve(problem)), m.gpu_type, m.batch_size, m.num_gpus, m.consolidated)
        errors.append(abs(predicted - m.step_time) / m.step_time)
    return errors


def _params(points: Sequence[Measurement], notes: list[str]) -> int | None:
    counts = Counter(m.params for m in points if m.params is not None)
    if not counts:
        return None
    if len(counts) > 1:
        notes.append(f"measurements disagree on the parameter count ({sorted(counts)}); using the most common")
    return counts.most_common(1)[0][0]


def fit_model(points: Sequence[Measurement], level: float = LEVEL) -> dict:
    """Fit the speed model to one model's measurements (see the module docstring for the result)."""
    if not points:
        raise GpusimError("no measurements to fit")
    notes: list[str] = []
    problem = _problem(points)
    x = _solve(problem)
    intervals, ci_notes = _intervals(problem, x, level)
    notes += ci_notes
    values = dict(zip(problem.names, (float(v) for v in x)))
    ci = dict(zip(problem.names, intervals)) if intervals is not None else {}
    params = _params(points, notes)

    per_type = {}
    for kind, t in problem.names:
        if kind != "a":
            continue
        mine = [m for m in points if canonical(m.gpu_type) == t]
        if ("b", t) not in values:
            only = mine[0].batch_size / mine[0].num_gpus
            notes.append(f"{t}: one per-GPU batch size only ({only:g}); b fitted as 0, a is the whole compute time")
        per_type[t] = {"a": values[kind, t], "b": values.get(("b", t), 0.0), "a_ci": ci.get(("a", t)),
                       "b_ci": ci.get(("b", t)), "points": len(mine)}

    comm = {}
    for kind in ("intra", "inter"):
        c = values.get(("c", kind))
        comm[f"{kind}_s"] = c
        comm[f"{kind}_ci"] = ci.get(("c", kind))
        comm[f"{kind}_bandwidth"] = 4.0 * params / c if (params and c) else None
    if comm["intra_s"] is None and comm["inter_s"] is None:
        notes.append("no multi-GPU measurements: comm terms are null, a job on several GPUs is predicted with c = 0")
    elif comm["inter_s"] is None:
        notes.append("no cross-node (unconsolidated) multi-GPU measurements: inter_s is null, "
                     "a job spread over nodes is predicted with intra_s")
    elif comm["intra_s"] is None:
        notes.append("no single-node multi-GPU measurements: intra_s is null, "
                     "a consolidated job is predicted with inter_s")
    elif comm["inter_s"] < comm["intra_s"]:
        notes.append("fitted cross-node all-reduce is faster than the in-node one: these measurements show "
                     "no cross-node penalty")
    if params is None and (comm["intra_s"] or comm["inter_s"]):
        notes.append("parameter count unknown: bandwidths are null")

    fit = {"params": params, "notes": notes, "per_type": per_type, "comm": comm}
    predicted = np.array([step_time(fit, m.gpu_type, m.batch_size, m.num_gpus, m.consolidated) for m in points])
    relative = (predicted - problem.observed) / problem.observed
    errors = _leave_one_out(points)
    fit["holdout"] = {"method": "leave-one-out", "points": len(errors),
                      "median_rel_error": float(np.median(errors)) if errors else None,
                      "max_rel_error": float(np.max(errors)) if errors else None}
    fit["rmse_rel"] = float(math.sqrt(np.mean(relative**2)))
    return fit


def reference_type(measurements: Sequence[Measurement]) -> str:
    """The GPU type with the most measurements; ties go to the first name in sorted order."""
    counts = Counter(canonical(m.gpu_type) for m in measurements)
    return min(counts, key=lambda t: (-counts[t], t))


def fit_profile(profile: Profile, level: float = LEVEL) -> Profile:
    """The profile with ``fits`` filled (one entry per model) and GPU type names made canonical.

    ``reference_gpu_type`` is kept when set (made canonical) and otherwise set to the GPU type with
    the most measurements (ties by name). Any earlier ``fits`` are replaced.
    """
    if not profile.measurements:
        raise GpusimError("profile has no measurements to fit")
    measurements = tuple(dataclasses.replace(m, gpu_type=canonical(m.gpu_type)) if m.gpu_type != canonical(m.gpu_type)
                         else m for m in profile.measurements)
    by_model: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_model.setdefault(m.model, []).append(m)
    fits = {model: fit_model(points, level) for model, points in sorted(by_model.items())}
    reference = canonical(profile.reference_gpu_type) if profile.reference_gpu_type else reference_type(measurements)
    return dataclasses.replace(profile, measurements=measurements, fits=fits, reference_gpu_type=reference)
