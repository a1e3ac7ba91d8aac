"""Scenario tests of sim.stepper: the engine that stops at each decision point."""

from __future__ import annotations

import pytest

import policies
from sim.engine import simulate
from sim.errors import GpusimError, PolicyError
from sim.model import Cluster, Job, Start
from sim.stepper import Stepper
from traces.synthetic import Workload


def drive(stepper: Stepper, policy) -> None:
    view = stepper.start()
    while view is not None:
        view = stepper.decide(policy.schedule(view, stepper.rng))


@pytest.mark.parametrize("name", ["fifo", "sjf", "fifo-backfill", "srtf", "tiresias", "priority-reserve"])
def test_policy_driven_stepper_matches_simulate(name):
    """A stepper fed a policy's decisions gives simulate's event log, preemptive policies included."""
    cluster = Cluster.parse("2x8")
    jobs = Workload(jobs=150, load=0.9).generate(cluster.num_gpus, 7)
    ref = simulate(jobs, cluster, policies.make(name), seed=7)
    stepper = Stepper(jobs, cluster, 7)
    drive(stepper, policies.make(name))
    assert stepper.over and stepper.all_finished
    assert stepper.result().events == ref.events
    assert stepper.result().summary() == ref.summary()


def test_wait_while_running_advances_to_the_next_event():
    """decide([]) ends the pass; the next View is at the next event that leads to a decision."""
    jobs = [Job("a", 0.0, 4, 10.0), Job("b", 0.0, 4, 5.0), Job("c", 3.0, 1, 1.0)]
    s = Stepper(jobs, Cluster.parse("1x4"))
    view = s.start()
    assert view.now == 0.0 and [j.job_id for j in view.pending] == ["a", "b"]
    view = s.decide([Start("a")])  # nothing more fits: the pass ends, on to c's arrival
    assert view.now == 3.0 and [j.job_id for j in view.pending] == ["b", "c"]
    assert [j.job_id for j in view.running] == ["a"]
    view = s.decide([])  # wait while a runs: next event is a's completion
    assert view.now == 10.0 and not view.running
    view = s.decide([Start("b")])  # b fills the node: c waits for b's completion at 15
    assert view.now == 15.0 and [j.job_id for j in view.pending] == ["c"]
    assert s.decide([Start("c")]) is None and s.all_finished  # c's completion leaves nothing to decide
    ends = {e.job_id: e.time for e in s.result().events if e.kind == "finish"}
    assert ends == {"a": 10.0, "b": 15.0, "c": 16.0}


def test_start_yields_again_at_the_same_instant_while_more_fits():
    jobs = [Job(f"j{i}", 0.0, 1, 5.0) for i in range(3)]
    s = Stepper(jobs, Cluster.parse("1x2"))
    view = s.start()
    view = s.decide([Start("j0")])
    assert view.now == 0.0 and len(view.pending) == 2
    view = s.decide([Start("j1")])  # cluster full now: the pass ends
    assert view.now == 5.0


def test_stall_ends_the_episode_unfinished_and_errors_are_the_engines():
    s = Stepper([Job("a", 0.0, 1, 1.0)], Cluster.parse("1x1"))
    with pytest.raises(GpusimError):
        s.decide([])
    view = s.start()
    with pytest.raises(PolicyError, match="'agent'.*not pending"):
        s.decide([Start("nope")])
    assert s.decide([]) is None and s.over and not s.all_finished
    assert s.result().events[-1].kind == "stop"
    with pytest.raises(GpusimError, match="over"):
        s.decide([])
    assert view is not None


def test_stepper_checks_inputs_like_simulate():
    with pytest.raises(GpusimError, match="never fit"):
        Stepper([Job("a", 0.0, 8, 1.0)], Cluster.parse("1x4"))
    with pytest.raises(GpusimError, match="duplicate"):
        Stepper([Job("a", 0.0, 1, 1.0), Job("a", 1.0, 1, 1.0)], Cluster.parse("1x4"))
