"""ER / uniform allocation against a plain-Python reference solver (spec §2)."""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlx2.errors import ConfigError
from rlx2.sparse.allocation import (
    active_counts,
    erdos_renyi_active_counts,
    total_active,
    uniform_active_counts,
)

torch.set_num_threads(1)


def reference_er(shapes, sparsity):
    """Textbook loop: solve ε, make the single densest layer dense, repeat; then round."""
    sizes = [o * i for o, i in shapes]
    total = math.floor((1 - Fraction(repr(sparsity))) * sum(sizes) + Fraction(1, 2))
    dense = []
    while True:
        free = [i for i in range(len(shapes)) if i not in dense]
        if not free:
            break
        eps = Fraction(total - sum(sizes[i] for i in dense), sum(sum(shapes[i]) for i in free))
        densities = {i: eps * sum(shapes[i]) / sizes[i] for i in free}
        worst = max(free, key=lambda i: densities[i])
        if densities[worst] <= 1:
            break
        dense.append(worst)
    shares = [
        Fraction(sizes[i]) if i in dense else eps * sum(shapes[i]) for i in range(len(shapes))
    ]
    counts = [math.floor(s) for s in shares]
    while sum(counts) < total:  # one unit at a time to the largest remaining fraction
        best = None
        for i in range(len(shares)):
            if best is None or shares[i] - counts[i] > shares[best] - counts[best]:
                best = i
        counts[best] += 1
        shares[best] = Fraction(counts[best])  # its fraction is used up
    return counts, dense


shapes_strategy = st.lists(
    st.tuples(st.integers(1, 48), st.integers(1, 48)), min_size=1, max_size=6
)
sparsity_strategy = st.floats(0.0, 0.99).map(lambda s: round(s, 3))


@settings(max_examples=150, deadline=None)
@given(shapes=shapes_strategy, sparsity=sparsity_strategy)
def test_er_matches_reference_solver(shapes, sparsity):
    expected, dense = reference_er(shapes, sparsity)
    if min(expected) < 1:
        with pytest.raises(ConfigError, match="0 active weights"):
            erdos_renyi_active_counts(shapes, sparsity)
        return
    counts = erdos_renyi_active_counts(shapes, sparsity)
    assert counts == expected
    assert sum(counts) == total_active(shapes, sparsity)
    assert all(1 <= n <= o * i for n, (o, i) in zip(counts, shapes, strict=True))
    for i in dense:  # redistributed layers are exactly dense
        assert counts[i] == shapes[i][0] * shapes[i][1]


@settings(max_examples=100, deadline=None)
@given(shapes=shapes_strategy, sparsity=sparsity_strategy)
def test_er_counts_stay_within_one_of_the_real_share(shapes, sparsity):
    """Non-dense layers get ε(in+out) ± 1 with one common ε (float check, independent of Fractions)."""
    try:
        counts = erdos_renyi_active_counts(shapes, sparsity)
    except ConfigError:
        return
    free = [i for i, n in enumerate(counts) if n < shapes[i][0] * shapes[i][1]]
    if not free:
        return
    budget = sum(counts[i] for i in free)
    eps = budget / sum(sum(shapes[i]) for i in free)
    for i in free:
        assert abs(counts[i] - eps * sum(shapes[i])) < 1 + 1e-9


def test_er_hand_example_small_output_layer_becomes_dense():
    # HalfCheetah actor at 90 %: ε(in+out) of the 6x256 output layer exceeds 1536, so it is
    # dense; the 7142 - 1536 = 5606 left split 273:512, i.e. 1949.74 / 3656.26 + remainder.
    counts = erdos_renyi_active_counts([(256, 17), (256, 256), (6, 256)], 0.9)
    assert counts == [1950, 3656, 1536]
    assert sum(counts) == round(0.1 * (256 * 17 + 256 * 256 + 6 * 256))


def test_er_twin_heads_are_allocated_jointly():
    head = [(256, 23), (256, 256), (1, 256)]
    counts = erdos_renyi_active_counts(head + head, 0.8)
    assert sum(counts) == round(0.2 * 2 * sum(o * i for o, i in head))
    assert all(abs(a - b) <= 1 for a, b in zip(counts[:3], counts[3:], strict=True))
    assert counts[2] == counts[5] == 256  # the 1x256 Q outputs come out dense


def test_zero_sparsity_is_dense():
    shapes = [(7, 3), (5, 7), (2, 5)]
    assert erdos_renyi_active_counts(shapes, 0.0) == [21, 35, 10]
    assert uniform_active_counts(shapes, 0.0) == [21, 35, 10]


@settings(max_examples=100, deadline=None)
@given(shapes=shapes_strategy, sparsity=sparsity_strategy)
def test_uniform_is_exact_and_within_one(shapes, sparsity):
    try:
        counts = uniform_active_counts(shapes, sparsity)
    except ConfigError:
        return
    assert sum(counts) == total_active(shapes, sparsity)
    for n, (o, i) in zip(counts, shapes, strict=True):
        assert abs(n - (1 - sparsity) * o * i) < 1 + 1e-9


def test_dispatch():
    shapes = [(8, 4), (8, 8), (2, 8)]
    assert active_counts(shapes, 0.5, "er") == erdos_renyi_active_counts(shapes, 0.5)
    assert active_counts(shapes, 0.5, "uniform") == uniform_active_counts(shapes, 0.5)


@pytest.mark.parametrize("sparsity", [1.0, -0.1, 1.5, float("nan")])
def test_sparsity_outside_range_is_rejected(sparsity):
    with pytest.raises(ConfigError, match="sparsity"):
        erdos_renyi_active_counts([(4, 4)], sparsity)


def test_sparsity_leaving_an_empty_layer_names_it():
    with pytest.raises(
        ConfigError, match=r"sparsity=0\.9995 leaves layer \d \(shape \(\d+, \d+\)\) with 0 active"
    ):
        erdos_renyi_active_counts([(64, 8), (64, 64), (2, 64)], 0.9995)
    with pytest.raises(ConfigError, match=r"layer 0 \(shape \(2, 2\)\).*'uniform'"):
        uniform_active_counts([(2, 2), (100, 100)], 0.9)


def test_unknown_distribution_lists_valid_ones():
    with pytest.raises(ConfigError, match="distribution='erk'.*er, uniform"):
        active_counts([(4, 4)], 0.5, "erk")


def test_bad_shapes_are_rejected():
    with pytest.raises(ConfigError, match="shapes is empty"):
        erdos_renyi_active_counts([], 0.5)
    with pytest.raises(ConfigError, match=r"shapes\[1\]"):
        erdos_renyi_active_counts([(4, 4), (0, 4)], 0.5)
