"""What a trace holds: the figures ``gpusim trace info`` prints, as one plain dict."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sim.model import Cluster
from traces.table import Trace

PERCENTILES = (10, 50, 90, 99)


def describe(trace: Trace, cluster: Cluster | None = None) -> dict:
    """Counts, span, GPU-count histogram, duration percentiles, arrival rate, users/VCs, statuses,
    and, given a cluster, the offered load: GPU-seconds demanded / (cluster GPUs × span)."""
    jobs = trace.jobs
    submit = np.array([j.submit_time for j in jobs])
    duration = np.array([j.duration for j in jobs])
    gpus = np.array([j.num_gpus for j in jobs])
    span = float(submit.max() - submit.min()) if len(jobs) else 0.0
    demand = float((gpus * duration).sum())
    out = {
        "source": trace.source,
        "format": trace.format,
        "jobs": len(jobs),
        "span_s": span,
        "arrival_rate_per_hour": (len(jobs) - 1) / span * 3600 if span > 0 else float("nan"),
        "gpus": dict(sorted(Counter(int(g) for g in gpus).items())),
        "duration_s": {"min": float(duration.min()), "mean": float(duration.mean()),
                       **{f"p{q}": float(np.percentile(duration, q)) for q in PERCENTILES},
                       "max": float(duration.max())},
        "gpu_seconds": demand,
        "users": len({j.user for j in jobs if j.user is not None}),
        "vcs": dict(Counter(j.vc for j in jobs if j.vc is not None).most_common()),
        "statuses": dict(Counter(j.status for j in jobs if j.status is not None).most_common()),
        "censored": sum(1 for j in jobs if j.censored),
        "fractional_gpu": sum(1 for j in jobs if j.gpu_milli is not None and j.gpu_milli < 1000),
        "implied_cluster": trace.cluster,
    }
    if cluster is not None:
        out["cluster"] = str(cluster)
        out["cluster_summary"] = cluster.summary()
        out["offered_load"] = demand / (cluster.num_gpus * span) if span > 0 else float("nan")
    return out


def render(info: dict) -> list[str]:
    """Human-readable lines of ``describe``'s dict."""
    days = info["span_s"] / 86400
    lines = [
        f"{info['source']} ({info['format']}): {info['jobs']} jobs over {info['span_s']:,.0f} s ({days:.1f} days), "
        f"{info['arrival_rate_per_hour']:.2f} arrivals/hour",
        "GPUs per job: " + ", ".join(f"{g}: {n} ({100 * n / info['jobs']:.1f}%)" for g, n in info["gpus"].items()),
        "duration (s): " + ", ".join(f"{k} {v:,.0f}" for k, v in info["duration_s"].items()),
        f"GPU-hours demanded: {info['gpu_seconds'] / 3600:,.0f}",
    ]
    if info["users"]:
        lines.append(f"users: {info['users']}")
    if info["vcs"]:
        top = list(info["vcs"].items())
        lines.append(f"virtual clusters: {len(top)}: " + ", ".join(f"{vc} {n}" for vc, n in top[:10])
                     + (" ..." if len(top) > 10 else ""))
    if info["statuses"]:
        lines.append("statuses: " + ", ".join(f"{s} {n}" for s, n in info["statuses"].items()))
    if info["censored"]:
        lines.append(f"censored (still running at trace end): {info['censored']}")
    if info["fractional_gpu"]:
        lines.append(f"jobs sharing a GPU (gpu_milli < 1000; simulated on whole GPUs): {info['fractional_gpu']}")
    if info["implied_cluster"]:
        lines.append(f"cluster implied by the trace: {Cluster.parse(info['implied_cluster']).summary()}")
    if "offered_load" in info:
        lines.append(f"offered load on {info['cluster_summary']}: {info['offered_load']:.3f}")
    return lines

