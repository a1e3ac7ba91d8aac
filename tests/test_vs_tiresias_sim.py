"""Validation against an established simulator: the Tiresias simulator (NSDI'19).

``tests/data/tiresias_sim/results.csv`` holds the per-job start and end times that the Tiresias
simulator (``SymbioticLab/Tiresias``, ``simulator/``, commit b0ef8449, run under Python 2.7) wrote
for its 60-job toy trace on three clusters of 4-GPU nodes; the README beside it says how they were
made. Times there are whole seconds and so are the trace's, so gpusim must reproduce them exactly.

Pairs that agree exactly, job by job (see ``docs/validation.md`` for why each pair matches):

- ``fifo``/``count`` = ``fifo``/``pool``; ``fjf``/``count`` = ``priority``/``pool`` (all jobs at
  one priority: arrival order, every job that fits starts); ``shortest``/``count`` =
  ``srtf``/``pool``; ``dlas-gpu``/``count`` = ``tiresias``/``pool`` at the default thresholds.
- ``fifo``/``yarn`` and ``fjf``/``yarn``: yarn picks the *first* node that fits, gpusim's
  ``consolidated`` the *best-fitting* one, so those runs differ once nodes fill up. Given yarn's
  node choice (``_FirstFit`` below, which only chooses GPUs) gpusim reproduces them exactly too.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

import gpusim
from gpusim import Start

DATA = Path(__file__).parent / "data" / "tiresias_sim"
GPUS_PER_NODE = 4
CLUSTERS = {"n32g4": "32x4", "n4g4": "4x4", "n2g4": "2x4"}  # Tiresias spec -> gpusim cluster
POLICIES = {  # Tiresias --schedule (with --scheme=count) -> gpusim policy on pool placement
    "fifo": "fifo",
    "fjf": "priority",
    "shortest": "srtf",
    "dlas-gpu": "tiresias",
}


def _reference() -> dict[tuple[str, str, str], dict[str, tuple[float, float]]]:
    """(spec, schedule, scheme) -> job_id -> (start_time, end_time), in seconds."""
    runs: dict = defaultdict(dict)
    with open(DATA / "results.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = (row["cluster_spec"], row["schedule"], row["scheme"])
            runs[key][row["job_id"]] = (float(row["start_time"]), float(row["end_time"]))
    return runs


REFERENCE = _reference()
JOBS = gpusim.read_trace(DATA / "60_job.csv", gpusim.ReadOptions(format="tiresias")).jobs


def _times(policy, cluster: str, placement: str = "pool") -> dict[str, tuple[float, float]]:
    result = gpusim.simulate(JOBS, gpusim.Cluster.parse(cluster), policy, seed=0, placement=placement)
    return {str(r["job_id"]): (r["start_time"], r["end_time"]) for r in result.job_table()}


def _mismatches(ours: dict, ref: dict) -> list[str]:
    assert ours.keys() == ref.keys()
    return [f"job {j}: gpusim {ours[j]}, Tiresias {ref[j]}" for j in sorted(ref, key=int) if ours[j] != ref[j]]


class _FirstFit:
    """FIFO (``fjf=False``) or fit-job-first (``True``) with the Tiresias simulator's ``yarn`` node
    choice: a job of up to one node's GPUs goes to the lowest-indexed node with room; a larger one
    takes the lowest-indexed idle nodes, then the remainder on the lowest-indexed other node with room.
    """

    def __init__(self, fjf: bool) -> None:
        self.fjf = fjf

    @staticmethod
    def _place(planner, n: int) -> tuple[int, ...] | None:
        free = planner.free_per_node()
        if n <= GPUS_PER_NODE:
            node = next((i for i, f in enumerate(free) if f >= n), None)
            return None if node is None else planner.on_node(node, n)
        whole = [i for i, f in enumerate(free) if f == GPUS_PER_NODE][: n // GPUS_PER_NODE]
        rest = n % GPUS_PER_NODE
        last = next((i for i, f in enumerate(free) if f >= rest and i not in whole), None) if rest else None
        if len(whole) < n // GPUS_PER_NODE or (rest and last is None):
            return None
        return tuple(g for i in whole for g in planner.on_node(i, GPUS_PER_NODE)) + (
            planner.on_node(last, rest) if rest else ())

    def schedule(self, view, rng):
        planner, starts = view.planner(), []
        for job in view.pending:
            gpus = self._place(planner, job.num_gpus)
            if gpus is None:
                if self.fjf:
                    continue
                break
            planner.take(gpus)
            starts.append(Start(job.job_id, gpus))
        return starts


@pytest.mark.parametrize("spec", CLUSTERS)
@pytest.mark.parametrize("schedule", POLICIES)
def test_count_placement_matches_tiresias_simulator(spec: str, schedule: str) -> None:
    """Every job starts and ends at exactly the Tiresias simulator's times (GPU counting only)."""
    ref = REFERENCE[(spec, schedule, "count")]
    ours = _times(gpusim.make_policy(POLICIES[schedule]), CLUSTERS[spec])
    assert _mismatches(ours, ref) == []


@pytest.mark.parametrize("spec", CLUSTERS)
@pytest.mark.parametrize("schedule", ["fifo", "fjf"])
def test_yarn_placement_matches_with_first_fit_nodes(spec: str, schedule: str) -> None:
    """Given yarn's first-fit node choice, gpusim reproduces the yarn runs exactly."""
    ref = REFERENCE[(spec, schedule, "yarn")]
    ours = _times(_FirstFit(fjf=schedule == "fjf"), CLUSTERS[spec])
    assert _mismatches(ours, ref) == []


def test_consolidated_differs_from_yarn_only_by_node_choice() -> None:
    """gpusim's best-fit ``consolidated`` is not yarn's first fit: on 2x4 fit-job-first the runs part
    (documented in docs/validation.md), while on 32x4, where no job ever waits, they agree."""
    assert _mismatches(_times(gpusim.make_policy("priority"), "32x4", "consolidated"),
                       REFERENCE[("n32g4", "fjf", "yarn")]) == []
    assert _mismatches(_times(gpusim.make_policy("priority"), "2x4", "consolidated"),
                       REFERENCE[("n2g4", "fjf", "yarn")]) != []


@pytest.mark.parametrize("spec", ["n4g4", "n2g4"])
def test_reference_tells_the_policies_apart(spec: str) -> None:
    """The check can fail: on the contended clusters each Tiresias schedule is matched by its own
    gpusim policy only, so a wrong mapping (or a wrong policy) would not pass."""
    for schedule, policy in POLICIES.items():
        ours = _times(gpusim.make_policy(policy), CLUSTERS[spec])
        for other in POLICIES:
            if other != schedule and REFERENCE[(spec, other, "count")] != REFERENCE[(spec, schedule, "count")]:
                assert _mismatches(ours, REFERENCE[(spec, other, "count")]) != [], (policy, other)
