"""MaskSet: joint allocation, initial largest-|w| mask, masking of weights, grads and targets."""

import copy

import pytest
import torch
from torch import nn

from rlx2.errors import ConfigError
from rlx2.sparse.allocation import erdos_renyi_active_counts, uniform_active_counts
from rlx2.sparse.masks import MaskSet, linear_weights, measured_sparsity

torch.set_num_threads(1)


class TwinQ(nn.Module):
    """Two Q heads in one module, as the critic is (spec §1)."""

    def __init__(self, in_dim: int = 9, hidden: int = 16):
        super().__init__()
        self.q1 = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )
        self.q2 = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )


def test_linear_weights_in_module_order_without_biases():
    net = TwinQ()
    weights = linear_weights(net)
    expected = [
        net.q1[0].weight,
        net.q1[2].weight,
        net.q1[4].weight,
        net.q2[0].weight,
        net.q2[2].weight,
        net.q2[4].weight,
    ]
    assert len(weights) == 6 and all(a is b for a, b in zip(weights, expected, strict=True))


def test_twin_critic_gets_one_joint_allocation():
    net = TwinQ()
    masks = MaskSet.for_module(net, 0.7)
    shapes = [(16, 9), (16, 16), (1, 16)] * 2
    assert masks.shapes == shapes
    assert masks.num_active() == erdos_renyi_active_counts(shapes, 0.7)
    assert masks.sparsity() == pytest.approx(
        1 - sum(masks.num_active()) / sum(o * i for o, i in shapes)
    )


def test_uniform_distribution_option():
    net = TwinQ()
    masks = MaskSet.for_module(net, 0.5, distribution="uniform")
    assert masks.num_active() == uniform_active_counts(masks.shapes, 0.5)


def test_initial_mask_keeps_largest_magnitudes_and_zeroes_the_rest():
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3))
    before = [w.detach().clone() for w in linear_weights(net)]
    masks = MaskSet.for_module(net, 0.6)
    for w0, w, m in zip(before, linear_weights(net), masks.masks, strict=True):
        kept, dropped = w0.abs()[m], w0.abs()[~m]
        if dropped.numel():
            assert kept.min() >= dropped.max()  # brute-force statement of "largest |w| kept"
        assert torch.equal(w[m], w0[m])
        assert torch.all(w[~m] == 0)
    assert measured_sparsity(linear_weights(net)) == pytest.approx(masks.sparsity())


def test_biases_stay_dense():
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3))
    bias = net[0].bias.detach().clone()
    MaskSet.for_module(net, 0.9)
    assert torch.equal(net[0].bias, bias)


def test_mask_grads_apply_and_apply_to():
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    masks = MaskSet.for_module(net, 0.5)
    net(torch.randn(4, 5)).sum().backward()
    masks.mask_grads()
    for w, m in zip(linear_weights(net), masks.masks, strict=True):
        assert torch.all(w.grad[~m] == 0)
    with torch.no_grad():
        for w in linear_weights(net):
            w.add_(1.0)  # revive every position
    masks.apply()
    for w, m in zip(linear_weights(net), masks.masks, strict=True):
        assert torch.all(w[~m] == 0) and torch.all(w[m] != 0)
    target = copy.deepcopy(net)
    with torch.no_grad():
        for w in linear_weights(target):
            w.fill_(3.0)
    masks.apply_to(linear_weights(target))
    for w, m in zip(linear_weights(target), masks.masks, strict=True):
        assert torch.all(w[~m] == 0) and torch.all(w[m] == 3.0)


def test_apply_to_rejects_mismatched_weights():
    masks = MaskSet.for_module(nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 2)), 0.5)
    with pytest.raises(ConfigError, match="apply_to"):
        masks.apply_to([torch.zeros(8, 5)])
    with pytest.raises(ConfigError, match="apply_to: weight 1"):
        masks.apply_to([torch.zeros(8, 5), torch.zeros(3, 8)])


def test_state_dict_round_trip():
    net = nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 2))
    masks = MaskSet.for_module(net, 0.5)
    state = masks.state_dict()
    other = MaskSet(linear_weights(net), [torch.ones_like(m) for m in masks.masks])
    other.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(other.masks, masks.masks, strict=True))
    assert all(m.dtype == torch.bool for m in other.masks)


def test_measured_sparsity_counts_exact_zeros():
    assert (
        measured_sparsity([torch.tensor([[0.0, 1.0], [0.0, -0.0]]), torch.tensor([[2.0, 0.0]])])
        == 4 / 6
    )


def test_module_without_linear_layers_is_rejected():
    with pytest.raises(ConfigError, match="no nn.Linear"):
        MaskSet.for_module(nn.ReLU(), 0.5)
