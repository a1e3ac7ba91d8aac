"""Unit tests of sim.placement on hand-written free-GPU states, one strategy at a time."""

from __future__ import annotations

import pytest

from sim.placement import STRATEGIES, Planner, nodes_of


def planner(caps, strategy, busy=()):
    """A planner over nodes of ``caps`` GPUs with the global GPUs ``busy`` already taken."""
    p = Planner(caps, strategy)
    if busy:
        p.take(busy)
    return p


# --- bookkeeping ----------------------------------------------------------------------------


def test_gpu_numbering_is_global_node_by_node():
    """GPUs are numbered node 0 first, then node 1, ...; node_of and on_node agree with that."""
    p = Planner([2, 4, 1], "pool")
    assert p.num_gpus == 7
    assert [p.node_of(g) for g in range(7)] == [0, 0, 1, 1, 1, 1, 2]
    assert p.on_node(1, 3) == (2, 3, 4)
    assert p.on_node(2, 1) == (6,)
    assert nodes_of(p, (6, 0, 3, 1)) == (0, 1, 2)


def test_free_counts_follow_take_and_release():
    """free_total, free_per_node, is_free and nodes_with track take and release."""
    p = Planner([4, 4], "pool")
    p.take((0, 1, 5))
    assert p.free_total == 5
    assert p.free_per_node() == (2, 3)
    assert [p.is_free(g) for g in range(8)] == [False, False, True, True, True, False, True, True]
    assert p.nodes_with(3) == [1]
    assert p.nodes_with(2) == [0, 1]
    p.release((0, 5))
    assert p.free_total == 7
    assert p.free_per_node() == (3, 4)
    assert p.is_free(0) and p.is_free(5) and not p.is_free(1)


def test_on_node_gives_lowest_free_gpus_of_that_node():
    """on_node skips busy GPUs and returns the lowest-indexed free ones of the node."""
    p = planner([4, 4], "pool", busy=(4, 6))
    assert p.on_node(1, 2) == (5, 7)


def test_unknown_strategy_is_rejected():
    """A strategy name outside STRATEGIES raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="unknown placement 'tightest'.*consolidated"):
        Planner([4], "tightest")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_more_than_free_total_never_fits(strategy):
    """No strategy places a job larger than the free GPU count."""
    p = planner([4, 4], strategy, busy=(0, 1, 2))
    assert p.place(6) is None
    assert p.place(5) == (3, 4, 5, 6, 7)  # exactly the free GPUs: one node whole plus one GPU


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_place_does_not_take(strategy):
    """place only proposes GPUs; the free state is unchanged until take."""
    p = Planner([4, 4], strategy)
    gpus = p.place(3)
    assert gpus is not None and len(gpus) == 3
    assert p.free_total == 8 and p.free_per_node() == (4, 4)


# --- pool -----------------------------------------------------------------------------------


def test_pool_takes_lowest_indices_across_nodes():
    """pool ignores node boundaries and takes the lowest-indexed free GPUs."""
    p = planner([4, 4], "pool", busy=(1, 3))
    assert p.place(3) == (0, 2, 4)
    assert p.place(6) == (0, 2, 4, 5, 6, 7)
    assert p.place(7) is None


def test_pool_on_empty_cluster_starts_at_gpu_zero():
    """On an empty cluster pool gives GPUs 0..n-1 whatever the node sizes."""
    p = Planner([2, 2, 2], "pool")
    assert p.place(5) == (0, 1, 2, 3, 4)


# --- consolidated ---------------------------------------------------------------------------


def test_consolidated_best_fit_single_node():
    """A job no larger than a node goes to the node with the fewest free GPUs that holds it."""
    # node 0: 2 free, node 1: 8 free, node 2: 4 free
    p = planner([8, 8, 4], "consolidated", busy=(0, 1, 2, 3, 4, 5))
    assert p.place(2) == (6, 7)
    assert p.place(3) == (16, 17, 18)
    assert p.place(5) == (8, 9, 10, 11, 12)


def test_consolidated_best_fit_tie_goes_to_lowest_node():
    """Among nodes with equally few free GPUs the lowest-indexed one wins."""
    p = planner([4, 4, 4], "consolidated", busy=(4, 8))  # nodes 1 and 2 have 3 free
    assert p.place(3) == (5, 6, 7)


def test_consolidated_never_splits_a_job_that_fits_one_node():
    """A job no larger than the biggest node is refused rather than split when no node holds it."""
    p = planner([4, 4], "consolidated", busy=(0, 4))  # 3 + 3 free
    assert p.place(4) is None
    assert p.place(3) == (1, 2, 3)


def test_consolidated_whole_nodes_plus_best_fit_remainder():
    """A job larger than any node takes whole free nodes, then the remainder on a best-fit node."""
    # free: node 0 = 3, node 1 = 4 (whole), node 2 = 2, node 3 = 4 (whole)
    p = planner([4, 4, 4, 4], "consolidated", busy=(0, 8, 9))
    # node 1 is the first whole free node; the 2 left go to node 2 (fewest free that holds 2)
    assert p.place(6) == (4, 5, 6, 7, 10, 11)
    # 4 + 4 from the whole nodes 1 and 3, 1 more best fit on node 2
    assert p.place(9) == (4, 5, 6, 7, 10, 12, 13, 14, 15)


def test_consolidated_takes_largest_whole_nodes_first():
    """On mixed node sizes, whole nodes are taken largest first and the rest goes to one node."""
    p = Planner([4, 8, 2], "consolidated")
    # node 1 (8) whole, then node 0 (4) is too big for the 2 left, node 2 (2) is taken whole
    assert p.place(10) == (4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
    # 8 + 4 whole, 0 left
    assert p.place(12) == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
    # node 2 partly used: 8 whole from node 1, the 2 left best fit on node 2 (3 free), not node 0 (4)
    q = planner([4, 8, 4], "consolidated", busy=(12,))
    assert q.place(10) == (4, 5, 6, 7, 8, 9, 10, 11, 13, 14)


def test_consolidated_refuses_when_fragmented():
    """A multi-node job is refused when partly used nodes leave no whole node and no fitting remainder."""
    p = planner([4, 4], "consolidated", busy=(0, 4))  # 6 free, 3 per node
    assert p.free_total == 6
    assert p.place(5) is None
    q = planner([4, 4, 4], "consolidated", busy=(0, 4))  # node 2 whole, 3 + 3 elsewhere
    assert q.place(7) == (1, 2, 3, 8, 9, 10, 11)
    assert q.place(8) is None  # one whole node, and no other node holds 4


# --- pack -----------------------------------------------------------------------------------


def test_pack_best_fit_when_one_node_holds_it():
    """pack puts a job that fits one node on the node with the fewest free GPUs that holds it."""
    p = planner([4, 4, 4], "pack", busy=(0, 4, 5))  # free 3, 2, 4
    assert p.place(2) == (6, 7)
    assert p.place(3) == (1, 2, 3)
    assert p.place(4) == (8, 9, 10, 11)


def test_pack_splits_over_fewest_nodes_most_free_first():
    """A job no node holds is split over the nodes with the most free GPUs first."""
    p = planner([4, 4, 4], "pack", busy=(0, 4, 5))  # free 3, 2, 4
    assert p.place(5) == (1, 8, 9, 10, 11)  # 4 from node 2, 1 from node 0
    assert p.place(8) == (1, 2, 3, 6, 8, 9, 10, 11)  # 4 + 3 + 1
    assert p.place(9) == (1, 2, 3, 6, 7, 8, 9, 10, 11)


def test_pack_splits_what_consolidated_refuses():
    """On a fragmented cluster pack places the job consolidated refuses."""
    busy = (0, 4)
    assert planner([4, 4], "consolidated", busy).place(4) is None
    assert planner([4, 4], "pack", busy).place(4) == (1, 2, 3, 5)


# --- spread ---------------------------------------------------------------------------------


def test_spread_most_free_node_first():
    """spread starts on the node with the most free GPUs, ties to the lowest index."""
    p = Planner([4, 4], "spread")
    assert p.place(1) == (0,)
    p.take((0,))
    assert p.place(1) == (4,)  # node 1 now has more free GPUs
    p.take((4,))
    assert p.place(1) == (1,)  # tie again: node 0


def test_spread_continues_to_next_most_free_node():
    """spread fills the most-free node, then the next most free, until the job is placed."""
    p = planner([4, 4, 4], "spread", busy=(0, 4, 5))  # free 3, 2, 4
    assert p.place(2) == (8, 9)  # not best fit: the most free node
    assert p.place(6) == (1, 2, 8, 9, 10, 11)
    assert p.place(9) == (1, 2, 3, 6, 7, 8, 9, 10, 11)


def test_spread_differs_from_pack_on_small_jobs():
    """For a 1-GPU job on a partly used cluster, pack fills the fuller node and spread the emptier one."""
    busy = (0, 1)
    assert planner([4, 4], "pack", busy).place(1) == (2,)
    assert planner([4, 4], "spread", busy).place(1) == (4,)


# --- take / release errors ------------------------------------------------------------------


def test_take_busy_gpu_raises():
    """Taking a GPU that is already taken raises ValueError naming the GPU and its node."""
    p = Planner([2, 2], "pool")
    p.take((3,))
    with pytest.raises(ValueError, match=r"GPU 3 \(node 1\) is not free"):
        p.take((3,))


@pytest.mark.parametrize("gpu", [4, 100, -1])
def test_take_missing_gpu_raises(gpu):
    """Taking a GPU index outside 0..num_gpus-1 raises ValueError saying it does not exist."""
    p = Planner([2, 2], "pool")
    with pytest.raises(ValueError, match=rf"GPU {gpu} does not exist"):
        p.take((0, gpu))
    assert p.free_total == 4


def test_take_repeated_gpu_raises():
    """Naming the same GPU twice in one take raises ValueError."""
    p = Planner([2, 2], "pool")
    with pytest.raises(ValueError, match="same GPU twice"):
        p.take((1, 2, 1))
    assert p.free_total == 4


def test_take_is_all_or_none():
    """A take that fails on any GPU leaves every GPU as it was."""
    p = Planner([4, 4], "pool")
    p.take((5,))
    before = (p.free_total, p.free_per_node(), [p.is_free(g) for g in range(8)])
    for bad in [(0, 1, 5), (2, 3, 8), (4, 6, 4)]:
        with pytest.raises(ValueError):
            p.take(bad)
        assert (p.free_total, p.free_per_node(), [p.is_free(g) for g in range(8)]) == before


@pytest.mark.skipif(not __debug__, reason="release checks double release with an assert")
def test_release_of_a_free_gpu_is_caught():
    """Releasing a GPU that is already free is a ValueError, and nothing is released (all or none)."""
    p = Planner([2], "pool")
    p.take((1,))
    with pytest.raises(ValueError, match="already free"):
        p.release((1, 0))
    assert not p.is_free(1) and p.free_total == 1


def test_release_makes_gpus_placeable_again():
    """Released GPUs are free and are chosen again by the strategy."""
    p = Planner([2, 2], "pool")
    p.take((0, 1, 2))
    assert p.place(2) is None
    p.release((1,))
    assert p.place(2) == (1, 3)


# --- copies ---------------------------------------------------------------------------------


def test_copy_is_independent_both_ways():
    """A copy keeps the strategy and state, and later takes on either side do not leak to the other."""
    p = Planner([4, 4], "spread")
    p.take((0,))
    c = p.copy()
    assert c.strategy == "spread" and c.free_per_node() == (3, 4) and c.free_total == 7
    c.take((4, 5, 6))
    assert p.free_per_node() == (3, 4) and p.free_total == 7 and p.is_free(4)
    p.take((1, 2))
    assert c.free_per_node() == (3, 1) and c.free_total == 4 and c.is_free(1)
    c.release((0,))
    assert not p.is_free(0)
    assert p.place(1) == (4,) and c.place(1) == (0,)


# --- the indexes against a plain recount --------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", range(5))
def test_indexes_match_a_plain_recount_through_random_claims_and_releases(strategy, seed):
    """After every claim and release, free counts per node, the nodes holding k GPUs and pool's
    choice (the lowest free GPUs, whatever their nodes) equal a recount from the set of busy GPUs."""
    import random

    rng = random.Random(seed)
    caps = [rng.choice([0, 1, 2, 4, 8]) for _ in range(rng.randint(1, 12))]
    if not any(caps):
        caps[0] = 4
    p, busy, held = Planner(caps, strategy), set(), []
    first = [sum(caps[:i]) for i in range(len(caps))]
    for _ in range(200):
        if held and rng.random() < 0.45:
            gpus = held.pop(rng.randrange(len(held)))
            p.release(gpus)
            busy -= set(gpus)
        else:
            n = rng.choice([1, 1, 2, 3, 4, 8, 9])
            free = [g for g in range(sum(caps)) if g not in busy]
            if strategy == "pool":
                assert p.place(n) == (tuple(free[:n]) if n <= len(free) else None)
            gpus = p.claim(n)
            if gpus is not None:
                assert not busy & set(gpus)
                busy |= set(gpus)
                held.append(gpus)
        per_node = tuple(sum(1 for g in range(first[i], first[i] + caps[i]) if g not in busy) for i in range(len(caps)))
        assert p.free_per_node() == per_node
        assert p.free_total == sum(caps) - len(busy)
        for k in range(1, 9):
            assert p.nodes_with(k) == [i for i, f in enumerate(per_node) if f >= k]
