"""Replay the Alibaba GPU 2023 trace on its own heterogeneous node list, with GPU sharing.

Each pod asks for its ``gpu_milli`` share of a GPU (or whole GPUs), its CPU and memory; each node
has its GPU type, GPU memory (from the catalog), CPU and memory (from the node list). The
resource model (sim.resources) enforces all of it, and shared pods are placed by each sharing
rule in turn; the table gives mean JCT and wait, and the time-averaged fragmented GPU capacity
(sim.fragmentation, FGD's measure) against the free capacity.

    .venv/bin/python examples/alibaba2023_sharing.py                 # the bundled sample
    .venv/bin/python examples/alibaba2023_sharing.py --full --every 32

``--full`` uses /work/shared/traces/alibaba-gpu-2023 (the whole pod list, 8,152 pods, and the
1,523-node list): all its nodes, the 310 CPU-only ones included, and every scheduled pod, the
CPU-only ones included (they take a node's CPU and memory and no GPU; CPU-only nodes are used
first). The real cluster is far larger than the trace's load needs, so nobody waits on it, and
the three rules give the same JCT: on the sample, and on the full trace down to ``--every 8``.
``--every K`` keeps every K-th node (types in proportion); from about ``--every 32`` (187 GPUs)
pods queue and the rules differ. Runs take about half a minute on the sample (all 1,213 nodes)
and 10-20 s on the full trace with ``--every 8`` or more.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import policies
from sim.cluster_file import load
from sim.engine import check_fits, simulate
from sim.fragmentation import fragmentation_timeseries, mean_fragmentation
from sim.model import Cluster
from sim.resources import SHARING
from traces.formats import read

HERE = Path(__file__).resolve().parent.parent
SAMPLE = HERE / "traces" / "samples" / "alibaba2023"
FULL = Path("/work/shared/traces/alibaba-gpu-2023")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full trace in /work/shared (if present)")
    parser.add_argument("--every", type=int, default=1, metavar="K", help="keep every K-th node (default: all)")
    parser.add_argument("--policy", default="fifo")
    args = parser.parse_args()
    folder = FULL if args.full else SAMPLE
    pods = next(folder.glob("openb_pod_list_*.csv"))
    node_list = folder / ("openb_node_list_all_node.csv" if args.full else "openb_node_list_gpu_node.csv")
    trace = read(pods)
    for note in trace.report():
        print("note:", note)
    loaded = load(node_list)
    if args.full:  # the reader's note above names the GPU node list; this one has the CPU-only nodes too
        print(loaded.message())
    cluster = loaded.cluster
    if args.every > 1:
        cluster = Cluster(cluster.nodes[::args.every], source=f"{node_list} (every {args.every}th node)")
    jobs = trace.jobs
    never = check_fits(jobs, cluster, "consolidated", resources=True)
    if never:
        print(f"left out {len(never)} pod(s) that can never fit this cluster")
        gone = {j.job_id for j in never}
        jobs = tuple(j for j in jobs if j.job_id not in gone)
    cpu_pods = sum(j.num_gpus == 0 for j in jobs)
    cpu_nodes = sum(n.num_gpus == 0 for n in cluster.nodes)
    print(f"{len(jobs)} pods ({len(jobs) - cpu_pods} with GPUs, {cpu_pods} CPU-only) on {len(cluster.nodes)} "
          f"nodes ({len(cluster.nodes) - cpu_nodes} with GPUs, {cpu_nodes} CPU-only), {cluster.summary()}, "
          f"policy {args.policy}")
    print(f"{'sharing':<10} {'avg JCT s':>12} {'avg wait s':>11} {'frag GPUs':>10} {'free GPUs':>10}")
    for sharing in SHARING:
        result = simulate(jobs, cluster, policies.make(args.policy), resources=True, sharing=sharing)
        summary = result.summary()
        series = fragmentation_timeseries(jobs, result.events, cluster)
        free = mean_fragmentation([(t, f, 0.0) for t, _, f in series], result.end_time)
        print(f"{sharing:<10} {summary['avg_jct']:>12.0f} {summary['avg_wait']:>11.1f} "
              f"{mean_fragmentation(series, result.end_time):>10.1f} {free:>10.1f}")


if __name__ == "__main__":
    main()
