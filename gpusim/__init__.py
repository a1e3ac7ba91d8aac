"""gpusim: a discrete-event simulator of GPU clusters for scheduling research.

This package only re-exports the public API::

    import gpusim
    jobs = gpusim.read_csv(gpusim.SAMPLE).jobs
    result = gpusim.simulate(jobs, gpusim.Cluster.parse("8x8"), gpusim.make_policy("tiresias"), seed=1)
    print(result.summary()["avg_jct"])
"""

from policies import available as list_policies
from policies import make as make_policy
from policies import register
from sim.engine import SimResult, check_fits, simulate
from sim.errors import GpusimError, PolicyError
from sim.experiment import RunConfig, compare, run
from sim.metrics import busy_gpu_seconds, job_table, summary, timeseries
from sim.model import Cluster, Decision, Event, Job, JobState, NodeSpec, Policy, Preempt, Resize, Start, View, Wake
from sim.placement import STRATEGIES as PLACEMENTS
from sim.placement import Planner
from sim.rng import stream
from traces import SAMPLE, SAMPLE_CLUSTER
from traces.canonical import read_csv
from traces.formats import read as read_trace
from traces.table import ReadOptions, Trace
from traces.synthetic import Durations, Workload

__all__ = [
    "Cluster", "Decision", "Durations", "Event", "GpusimError", "Job", "JobState", "NodeSpec", "PLACEMENTS",
    "Planner", "Policy", "PolicyError", "Preempt", "Resize", "RunConfig", "SAMPLE", "SAMPLE_CLUSTER", "SimResult", "Start",
    "ReadOptions", "Trace", "View", "Wake", "Workload", "read_trace", "busy_gpu_seconds", "check_fits", "compare", "job_table",
    "list_policies", "make_policy", "read_csv", "register", "run", "simulate", "stream", "summary", "timeseries",
]
