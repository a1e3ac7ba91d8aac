"""Unit tests of sim.model: cluster specs, job validation, and the lazily advancing job state."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sim.engine import simulate
from sim.errors import GpusimError
from sim.model import Clock, Cluster, Job, JobState, NodeSpec, Preempt, Start, Wake

# --- Cluster.parse --------------------------------------------------------------------------


def test_parse_two_groups_with_types():
    """'4x8:A100,8x4:V100' gives 4 A100 nodes of 8 GPUs, then 8 V100 nodes of 4, in that order."""
    c = Cluster.parse("4x8:A100,8x4:V100")
    assert c.nodes == (NodeSpec(8, "A100"),) * 4 + (NodeSpec(4, "V100"),) * 8
    assert c.num_gpus == 4 * 8 + 8 * 4


def test_parse_without_type_is_generic():
    """A group without :TYPE gets gpu_type 'generic'."""
    assert Cluster.parse("2x8").nodes == (NodeSpec(8, "generic"), NodeSpec(8, "generic"))
    assert Cluster.parse("1x1").num_gpus == 1


def test_parse_tolerates_spaces():
    """Blanks around numbers, the x, the colon and the commas are ignored."""
    assert Cluster.parse(" 2 x 4 : A100 , 1x2 ") == Cluster(
        (NodeSpec(4, "A100"), NodeSpec(4, "A100"), NodeSpec(2, "generic"))
    )


def test_parse_type_names_with_punctuation():
    """Type names may hold letters, digits, '_', '.' and '-'."""
    c = Cluster.parse("1x8:H100-SXM5_80GB.v2")
    assert c.nodes == (NodeSpec(8, "H100-SXM5_80GB.v2"),)


@pytest.mark.parametrize("spec", ["4x8:A100,8x4:V100", "2x8:generic", "1x4:A,2x4:B,1x4:A"])
def test_str_round_trips(spec):
    """str(cluster) is a spec that parses back to the same cluster."""
    c = Cluster.parse(spec)
    assert Cluster.parse(str(c)) == c


def test_str_merges_equal_neighbours_only():
    """str groups consecutive equal nodes and keeps non-adjacent equal nodes apart."""
    c = Cluster((NodeSpec(4), NodeSpec(4), NodeSpec(8, "A100"), NodeSpec(4)))
    assert str(c) == "2x4:generic,1x8:A100,1x4:generic"


@pytest.mark.parametrize(
    "spec",
    ["", "8", "x8", "2x", "2x8:", "0x8", "2x0", "2*8", "-1x8", "1.5x8", "2x8,,1x4", "2x8;1x4",
     "2x8:A 100", "2x8:A100:B", "twox8", "2x8,"],
)
def test_parse_rejects_malformed_specs(spec):
    """Malformed or empty groups raise GpusimError quoting the spec."""
    with pytest.raises(GpusimError, match="cluster spec"):
        Cluster.parse(spec)


def test_cluster_constructor_validates_nodes():
    """A cluster needs at least one node and one GPU; a node may have none (CPU-only, resource model)."""
    with pytest.raises(ValueError):
        Cluster(())
    with pytest.raises(ValueError):
        Cluster((NodeSpec(0), NodeSpec(0)))
    with pytest.raises(ValueError):
        Cluster((NodeSpec(4), NodeSpec(-1)))
    assert Cluster((NodeSpec(4), NodeSpec(0))).num_gpus == 4


# --- Job ------------------------------------------------------------------------------------


def test_valid_job_keeps_its_fields():
    """A valid job stores what it was given; optional fields default to None / 0."""
    j = Job("j1", 0.0, 4, 12.5)
    assert (j.job_id, j.submit_time, j.num_gpus, j.duration) == ("j1", 0.0, 4, 12.5)
    assert (j.model, j.user, j.vc, j.priority, j.deadline) == (None, None, None, 0, None)


def test_job_is_frozen():
    """Jobs are immutable records."""
    j = Job("j1", 0.0, 1, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.duration = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("num_gpus", [-1, 1.5, 2.0, "2", None])
def test_job_rejects_bad_num_gpus(num_gpus):
    """num_gpus must be a non-negative int (0: a CPU-only job, for the resource model)."""
    with pytest.raises(ValueError, match="num_gpus"):
        Job("j", 0.0, num_gpus, 1.0)


@pytest.mark.parametrize("duration", [0.0, -1.0, math.inf, math.nan])
def test_job_rejects_bad_duration(duration):
    """duration must be a positive finite number of seconds."""
    with pytest.raises(ValueError, match="duration"):
        Job("j", 0.0, 1, duration)


@pytest.mark.parametrize("submit", [-0.5, math.inf, math.nan])
def test_job_rejects_bad_submit_time(submit):
    """submit_time must be a finite non-negative number."""
    with pytest.raises(ValueError, match="submit_time"):
        Job("j", submit, 1, 1.0)


def test_job_error_names_the_job():
    """The validation message names the offending job id."""
    with pytest.raises(ValueError, match="job big-17"):
        Job("big-17", 0.0, -1, 1.0)


# --- JobState -------------------------------------------------------------------------------


def test_pending_state_does_not_advance_with_the_clock():
    """A job that is not running keeps its remaining work and attained service as the clock moves."""
    clock = Clock()
    s = JobState(Job("a", 0.0, 2, 10.0), 0, clock)
    for t in (0.0, 5.0, 1e6):
        clock.now = t
        assert s.remaining == 10.0
        assert s.attained == 0.0
        assert s.executed == 0.0
        assert not s.is_running and s.gpus == () and s.start_time is None and s.expected_end is None


class _Observer:
    """Runs job 'a' on GPUs (0, 1) with preemptions at fixed times and records what it sees."""

    name = "observer"

    def __init__(self):
        self.state = None
        self.seen: dict[float, tuple] = {}

    def schedule(self, view, rng):
        now = view.now
        jobs = {j.job_id: j for j in (*view.pending, *view.running)}
        a = jobs.get("a")
        if a is not None:
            self.state = a
            self.seen[now] = (a.remaining, a.attained, a.executed, a.is_running, a.gpus, a.start_time,
                              a.expected_end, a.first_start, a.preemptions)
        plan = {0.0: [Start("a", (0, 1)), Wake(4.0)], 4.0: [Preempt("a"), Wake(6.0)],
                6.0: [Start("a", (2, 3)), Wake(7.0)], 7.0: [Wake(9.0)], 9.0: [Wake(12.0)]}
        return plan.get(now, [])


def test_running_state_advances_lazily_and_respects_overhead():
    """remaining/attained follow the clock while running, freeze while pending, and pause for the restart overhead."""
    obs = _Observer()
    result = simulate([Job("a", 0.0, 2, 10.0)], Cluster.parse("1x4"), obs, restart_overhead=2.0)
    seen = obs.seen
    # t=0: seen before the policy's own start is applied: pending, never started
    assert seen[0.0] == (10.0, 0.0, 0.0, False, (), None, None, None, 0)
    # t=4: seen before the preemption is applied: 4 s done on 2 GPUs
    assert seen[4.0] == (6.0, 8.0, 4.0, True, (0, 1), 0.0, 10.0, 0.0, 0)
    # t=6: pending since 4: frozen
    assert seen[6.0] == (6.0, 8.0, 4.0, False, (), None, None, 0.0, 1)
    # t=7: restarted at 6 with a 2 s overhead: no progress until 8; ends at 6 + 2 + 6 = 14
    assert seen[7.0] == (6.0, 8.0, 4.0, True, (2, 3), 6.0, 14.0, 0.0, 1)
    # t=9: 1 s of progress since 8
    assert seen[9.0] == (5.0, 10.0, 5.0, True, (2, 3), 6.0, 14.0, 0.0, 1)
    # t=12: 4 s since 8
    assert seen[12.0][:3] == (2.0, 16.0, 8.0)
    # the object the policy kept is the live state: after the run it reads the final values
    assert obs.state.remaining == 0.0
    assert obs.state.attained == 20.0
    assert not obs.state.is_running
    assert [e for e in result.events if e.kind == "finish"][0].time == 14.0


def test_state_held_by_policy_advances_between_calls():
    """A JobState kept from an earlier call reads the current clock, not the clock of that call."""
    kept = []

    class Keep:
        def schedule(self, view, rng):
            if view.now == 0.0:
                kept.extend(view.pending)
                return [Start("a", (0,)), Wake(3.0)]
            kept_remaining.append((view.now, kept[0].remaining, kept[0].attained))
            return []

    kept_remaining: list = []
    simulate([Job("a", 0.0, 1, 10.0)], Cluster.parse("1x3"), Keep())
    assert kept_remaining == [(3.0, 7.0, 3.0)]
