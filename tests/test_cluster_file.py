"""Clusters from files (sim.cluster_file) and the GPU catalog (sim.gpu_types)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cluster_file import load
from sim.errors import GpusimError
from sim.gpu_types import gpu_memory_mib, lookup, matches
from sim.model import Cluster, NodeSpec

SAMPLE = Path(__file__).parent.parent / "traces" / "samples" / "alibaba2023" / "openb_node_list_gpu_node.csv"
FULL = Path("/work/shared/traces/alibaba-gpu-2023/openb_node_list_all_node.csv")


def test_csv_with_counts_and_catalog_memory(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("name,count,num_gpus,gpu_type,gpu_memory_mib,cpu_milli,memory_mib\n"
                    "big,2,8,V100M32,,96000,786432\n"
                    "small,1,4,T4,15000,,\n")
    cluster = Cluster.parse(str(path))
    assert cluster.nodes == (NodeSpec(8, "V100M32", 32768, 96000, 786432, "big"),) * 2 + (
        NodeSpec(4, "T4", 15000, None, None, "small"),)
    assert str(cluster) == str(path)


def test_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[nodes]]\ncount = 3\nnum_gpus = 2\ngpu_type = "G2"\ncpu_milli = 1000\n')
    cluster = Cluster.parse(str(path))
    assert cluster.nodes == (NodeSpec(2, "G2", None, 1000, None),) * 3


@pytest.mark.parametrize("text, message", [
    ("num_gpus,gpu_type\n8,V100\nx,T4\n", r"c\.csv:3: num_gpus is not a number"),
    ("num_gpus,colour\n8,red\n", r"c\.csv:1: unknown column\(s\) 'colour'"),
    ("gpu_type\nT4\n", r"c\.csv:1: a cluster file needs a num_gpus"),
    ("num_gpus,count\n8,0\n", r"c\.csv:2: count must be at least 1"),
    ("num_gpus,gpu_type\n2.5,T4\n", r"c\.csv:2: num_gpus must be a non-negative whole number"),
    ("num_gpus,gpu_type\n0,\n", r"c\.csv: no node with GPUs \(1 with zero GPUs\)"),
])
def test_bad_rows_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "c.csv"
    path.write_text(text)
    with pytest.raises(GpusimError, match=message):
        Cluster.parse(str(path))


def test_bad_toml_names_the_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[nodes]]\nnum_gpus = 2\n[[nodes]]\nnum_gpus = 2\nspeed = 3\n')
    with pytest.raises(GpusimError, match=r"c\.toml: nodes\[1\]: unknown key\(s\) speed"):
        Cluster.parse(str(path))


def test_missing_file():
    with pytest.raises(GpusimError, match="cannot read cluster file"):
        Cluster.parse("no/such/cluster.csv")


def test_alibaba_node_list_read_as_is():
    loaded = load(SAMPLE)
    assert loaded.cpu_only == 0
    assert loaded.cluster.num_gpus == 6212 and len(loaded.cluster.nodes) == 1213
    v100 = [n for n in loaded.cluster.nodes if n.gpu_type == "V100M32"]
    assert v100 and all(n.gpu_memory_mib == 32768 and n.cpu_milli and n.memory_mib for n in v100)


@pytest.mark.skipif(not FULL.exists(), reason="the full Alibaba 2023 node list is not here")
def test_alibaba_all_nodes_keep_the_cpu_only_nodes():
    """All 1,523 nodes are kept; the 310 without GPUs offer their CPU and memory (32 cores, 256 GiB
    each in this list) and no GPU memory."""
    loaded = load(FULL)
    assert (len(loaded.cluster.nodes), loaded.cpu_only, loaded.cluster.num_gpus) == (1523, 310, 6212)
    assert "1523 node(s) (310 of them without GPUs), 6212 GPU(s)" in loaded.message()
    bare = [n for n in loaded.cluster.nodes if n.num_gpus == 0]
    assert len(bare) == 310 and all(n.cpu_milli and n.memory_mib and n.gpu_memory_mib is None for n in bare)


def test_zero_gpu_rows_are_kept_as_cpu_only_nodes(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("name,count,num_gpus,gpu_type,cpu_milli,memory_mib\ncpu,2,0,,64000,262144\ngpu,1,8,V100,96000,\n")
    loaded = load(path)
    assert [n.num_gpus for n in loaded.cluster.nodes] == [0, 0, 8] and loaded.cpu_only == 2
    assert loaded.cluster.nodes[0] == NodeSpec(0, "generic", None, 64000, 262144, "cpu")
    assert loaded.cluster.num_gpus == 8
    toml = tmp_path / "c.toml"
    toml.write_text('[[nodes]]\nnum_gpus = 0\ncpu_milli = 1000\n[[nodes]]\nnum_gpus = 1\n')
    assert Cluster.parse(str(toml)).nodes[0].num_gpus == 0


def test_catalog_memory_and_matching():
    assert gpu_memory_mib("V100M32") == 32768 and gpu_memory_mib("v100") == 16384
    assert gpu_memory_mib("A100-80GB") == 81920 and gpu_memory_mib("G2") is None
    assert lookup("Tesla K80").memory_mib == 12288
    assert matches("V100", "V100M32") and matches("V100M16|V100M32", "V100M32")
    assert not matches("V100M16", "V100M32") and not matches("T4", "V100")


def test_a_long_summary_counts_cpu_only_nodes_apart_from_gpu_types():
    from sim.model import Cluster, NodeSpec

    nodes = (NodeSpec(8, "V100"), NodeSpec(4, "T4")) * 10 + (NodeSpec(0, "generic", None, 64000, 256000),) * 2
    assert Cluster(nodes).summary() == "22 nodes, 2 without GPUs, 120 GPUs (V100 80, T4 40)"
