"""Unit tests of the engine's indexes for policies (sim.queues) and of the columnar event log,
each against the plain scan or list it replaces."""

from __future__ import annotations

import math
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model import FINISH, PREEMPT, START, STOP, SUBMIT, Clock, Event, EventLog, Job, JobState
from sim.placement import Planner
from sim.queues import PendingIndex, RunningByEnd

# An operation: add the job with this number to the pending jobs, or remove it if pending, with
# its size (the first one given counts) and its remaining work (set just before it is added, as
# the engine does on a preemption). Jobs join and leave in any order, as with preemptions and failures.
OPS = st.lists(st.tuples(st.integers(0, 30), st.sampled_from([1, 2, 4]), st.sampled_from([5.0, 10.0, 10.0, 40.0, 100.0])),
               max_size=80)


def replay(ops):
    """The index and the plain pending list after ``ops`` (adding a pending job removes it)."""
    clock = Clock()
    clock.now = 7.0
    sizes = {}
    for k, num_gpus, _ in ops:
        sizes.setdefault(k, num_gpus)
    states = {k: JobState(Job(f"j{k}", 0.0, sizes[k], 100.0), k, clock) for k in sorted(sizes)}
    index, pending = PendingIndex(clock, states.values()), {}
    for k, _, remaining in ops:
        state = states[k]
        if k in pending:
            index.remove(state)
            del pending[k]
        else:
            state._remaining = remaining
            index.add(state)
            pending[k] = state
    return clock, index, [pending[k] for k in sorted(pending)]


@settings(max_examples=150, deadline=None)
@given(OPS, st.integers(-1, 31), st.sampled_from([math.inf, 10.0, 17.0, 50.0, 6.0]))
def test_first_is_the_first_later_job_that_ends_in_time(ops, after, done_by):
    """first(n, after, done_by) is the scan's first pending job of n GPUs after ``after`` with
    now + remaining <= done_by, also after jobs were removed and added back with new remaining work."""
    clock, index, pending = replay(ops)
    assert index.gpu_counts() == sorted({j.num_gpus for j in pending})
    for n in (1, 2, 4, 8):
        want = next((j for j in pending if j.num_gpus == n and j.index > after and clock.now + j.remaining <= done_by), None)
        assert index.first(n, after, done_by) is want


@settings(max_examples=150, deadline=None)
@given(OPS, st.sampled_from(["remaining", "duration"]), st.one_of(st.none(), st.tuples(st.sampled_from([5.0, 10.0, 100.0]), st.integers(-1, 31))))
def test_in_order_walks_a_sorted_copy(ops, key, after):
    """in_order(n, key, after) gives the pending jobs of n GPUs sorted by (key, arrival), after ``after``."""
    _, index, pending = replay(ops)
    value = (lambda j: j.remaining) if key == "remaining" else (lambda j: j.duration)
    for n in (1, 2, 4, 8):
        want = sorted((j for j in pending if j.num_gpus == n and (after is None or (value(j), j.index) > after)),
                      key=lambda j: (value(j), j.index))
        assert list(index.in_order(n, key, after)) == want


def test_running_by_end_orders_by_end_then_gpus_then_arrival():
    clock = Clock()
    ends = [(30.0, 2), (10.0, 4), (30.0, 1), (10.0, 4), (20.0, 8)]
    states = []
    by_end = RunningByEnd()
    for k, (end, n) in enumerate(ends):
        s = JobState(Job(f"j{k}", 0.0, n, 50.0), k, clock)
        s._expected_end = end
        states.append(s)
        by_end.add(s)
    by_end.remove(states[4])
    assert [s.index for s in by_end] == [1, 3, 2, 0]
    assert len(by_end) == 4


def test_claim_is_place_then_take():
    """claim gives what place proposes and takes it; None (nothing taken) when place gives None."""
    for strategy in ("consolidated", "pool", "pack", "spread"):
        a, b = Planner([4, 8, 2], strategy), Planner([4, 8, 2], strategy)
        for n in (3, 8, 2, 5, 1, 9):
            want = a.place(n)
            if want is not None:
                a.take(want)
            assert b.claim(n) == want
            assert a.free_per_node() == b.free_per_node() and a.free_total == b.free_total


def log_and_events():
    log = EventLog(["a", "b"])
    events = [Event(0.0, "submit", "a"), Event(0.0, "start", "a", (0, 1)), Event(1.5, "submit", "b"),
              Event(2.0, "preempt", "a", (0, 1)), Event(2.0, "start", "b", (1,)), Event(3.0, "finish", "b"),
              Event(9.0, "stop", "")]
    codes = {"submit": SUBMIT, "start": START, "preempt": PREEMPT, "finish": FINISH, "stop": STOP}
    for e in events:
        log.add(e.time, codes[e.kind], {"a": 0, "b": 1, "": -1}[e.job_id], e.gpus)
    return log, events


def test_event_log_reads_as_the_events_it_was_given():
    """Iteration, indexing (negative too), slicing, equality, columns and pickling of the columnar log."""
    log, events = log_and_events()
    assert list(log) == events and len(log) == len(events)
    assert log[1] == events[1] and log[-1] == events[-1] and log[3:5] == events[3:5]
    assert log == events and events == log and log != events[:-1]
    assert log.job_id_column() == [e.job_id for e in events]
    assert list(log.gpu_counts()) == [len(e.gpus) for e in events]
    assert log.nbytes == 25 * len(events) + 8 * sum(len(e.gpus) for e in events)  # time, kind, job, offset; GPUs
    assert pickle.loads(pickle.dumps(log)) == events
    try:
        log[len(events)]
    except IndexError:
        pass
    else:
        raise AssertionError("no IndexError past the end")


def test_queue_is_a_live_read_only_sequence_in_key_order():
    """View.pending: the SortedDict's values in key (arrival) order, as a Sequence, kept live."""
    from collections.abc import Sequence

    from sortedcontainers import SortedDict

    from sim.queues import Queue

    jobs = SortedDict({5: "e", 1: "a", 3: "c"})
    queue = Queue(jobs)
    assert isinstance(queue, Sequence)
    assert list(queue) == ["a", "c", "e"] and len(queue) == 3
    assert queue[0] == "a" and queue[-1] == "e" and list(reversed(queue)) == ["e", "c", "a"]
    assert "c" in queue and queue.index("e") == 2
    jobs[2] = "b"  # a preempted job back at its arrival position
    del jobs[5]
    assert list(queue) == ["a", "b", "c"] and len(queue) == 3 and queue[1] == "b"
    assert not hasattr(queue, "append") and not hasattr(queue, "__setitem__")
