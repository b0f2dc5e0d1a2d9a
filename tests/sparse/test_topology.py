"""Drop/grow against brute force, the scheme registry, and SparseUpdater invariants (spec §3)."""

import copy
import math

import pytest
import torch
from torch import nn

from rlx2.errors import ConfigError
from rlx2.sparse import topology
from rlx2.sparse.masks import MaskSet, linear_weights
from rlx2.sparse.optim_state import reset_moments
from rlx2.sparse.schedule import DropSchedule
from rlx2.sparse.topology import (
    DenseUpdater,
    SETTopology,
    SparseUpdater,
    TopologyScheme,
    available_topologies,
    drop_mask,
    get_topology,
    grow_mask,
    register_topology,
)

torch.set_num_threads(1)


# ---------------------------------------------------------------- pure functions vs loops


def brute_drop(weight, mask, k):
    """Sort (|w|, flat index) of active entries in a Python loop; drop the first k."""
    w, m = weight.flatten().tolist(), mask.flatten().tolist()
    active = sorted((abs(w[i]), i) for i in range(len(w)) if m[i])
    out = list(m)
    for _, i in active[:k]:
        out[i] = False
    return torch.tensor(out).view_as(mask)


def brute_grow(mask, scores, k):
    s, m = scores.flatten().tolist(), mask.flatten().tolist()
    free = sorted((-s[i], i) for i in range(len(s)) if not m[i])
    out = list(m)
    for _, i in free[:k]:
        out[i] = True
    return torch.tensor(out).view_as(mask)


@pytest.mark.parametrize("seed", range(8))
def test_drop_removes_exactly_the_k_smallest_active(seed):
    g = torch.Generator().manual_seed(seed)
    # Integer-valued weights force many |w| ties: checks the flat-index tie-break too.
    weight = torch.randint(-4, 5, (6, 7), generator=g).float()
    mask = torch.rand(6, 7, generator=g) < 0.6
    for k in range(int(mask.sum()) + 1):
        assert torch.equal(drop_mask(weight, mask, k), brute_drop(weight, mask, k))


@pytest.mark.parametrize("seed", range(8))
def test_rigl_grow_picks_the_k_largest_gradients_among_non_kept(seed):
    g = torch.Generator().manual_seed(seed)
    grad = torch.randint(-5, 6, (5, 8), generator=g).float()
    kept = torch.rand(5, 8, generator=g) < 0.5
    scores = get_topology("rigl").grow_scores(torch.zeros(5, 8), grad, g)
    for k in range(int((~kept).sum()) + 1):
        grown = grow_mask(kept, scores, k)
        assert torch.equal(grown, brute_grow(kept, grad.abs(), k))
        assert torch.all(grown[kept])  # kept positions stay


def test_grow_may_regrow_just_dropped_positions_but_respects_forbidden():
    weight = torch.tensor([[0.1, 2.0, 3.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    kept = drop_mask(weight, mask, 1)  # drops 0.1
    scores = torch.tensor([[9.0, 0.0, 0.0, 1.0]])
    assert torch.equal(grow_mask(kept, scores, 1), mask)  # the dropped position is regrown
    forbidden = mask & ~kept
    assert torch.equal(
        grow_mask(kept, scores, 1, forbidden), torch.tensor([[False, True, True, True]])
    )


def test_set_grow_is_random_and_never_grows_a_kept_position():
    kept = torch.zeros(16, 16, dtype=torch.bool)
    kept[:, :4] = True
    picks = []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        new = grow_mask(kept, get_topology("set").grow_scores(torch.zeros(16, 16), None, g), 20)
        assert int(new.sum()) == int(kept.sum()) + 20 and torch.all(new[kept])
        picks.append(new & ~kept)
    assert not torch.equal(picks[0], picks[1]) and not torch.equal(picks[1], picks[2])
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    s = get_topology("set")
    assert torch.equal(
        grow_mask(kept, s.grow_scores(kept, None, g1), 7),
        grow_mask(kept, s.grow_scores(kept, None, g2), 7),
    )


def test_drop_and_grow_reject_impossible_k():
    mask = torch.tensor([[True, False]])
    with pytest.raises(ConfigError, match="drop k=2"):
        drop_mask(torch.ones(1, 2), mask, 2)
    with pytest.raises(ConfigError, match="grow k=2"):
        grow_mask(mask, torch.ones(1, 2), 2)


# ---------------------------------------------------------------- registry


def test_registry_lists_the_three_schemes_and_rejects_unknown_names():
    assert {"static", "set", "rigl"} <= set(available_topologies())
    assert get_topology("rigl").needs_dense_grad and not get_topology("set").needs_dense_grad
    assert not get_topology("static").evolves
    assert isinstance(get_topology("rigl"), SETTopology)  # RigL = SET with another grow score
    with pytest.raises(
        ConfigError,
        match="topology='gmp' is unknown; valid: .*rigl, set, static.*register_topology",
    ):
        get_topology("gmp")


def test_a_new_scheme_registers_with_the_decorator():
    try:

        @register_topology("test-largest-weight-grow")
        class Greedy(SETTopology):
            def grow_scores(self, weight, grad, generator):
                return weight.abs()

        assert "test-largest-weight-grow" in available_topologies()
        assert isinstance(get_topology("test-largest-weight-grow"), Greedy)
        with pytest.raises(ConfigError, match="already registered"):
            register_topology("set")(Greedy)
    finally:
        topology._REGISTRY.pop("test-largest-weight-grow", None)


# ---------------------------------------------------------------- the updater


def small_mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, out_dim),
    )


def make(scheme: str, sparsity: float, shape=(6, 16, 3), interval=4, end=60, reset=False, seed=0):
    torch.manual_seed(seed)
    net = small_mlp(*shape)
    masks = MaskSet.for_module(net, sparsity)
    schedule = DropSchedule(initial_fraction=0.5, interval_updates=interval, end_update=end)
    updater = SparseUpdater(masks, get_topology(scheme), schedule, reset_moments=reset, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    return net, masks, updater, opt


def train_step(net, opt, updater, x, y):
    opt.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    return updater.step(opt)


@pytest.mark.parametrize("scheme", ["static", "set", "rigl"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
@pytest.mark.parametrize("shape", [(6, 16, 3), (4, 24, 1)])
def test_invariants_hold_after_every_step(scheme, sparsity, shape):
    net, masks, updater, opt = make(scheme, sparsity, shape)
    target = copy.deepcopy(net).requires_grad_(False)
    counts = masks.num_active()
    x, y = torch.randn(32, shape[0]), torch.randn(32, shape[2])
    changed_topology = 0
    for _ in range(60):
        changed_topology += train_step(net, opt, updater, x, y)
        with torch.no_grad():  # Polyak update, then re-mask the target (spec §2)
            torch._foreach_lerp_(list(target.parameters()), list(net.parameters()), 0.05)
        updater.after_target_update(linear_weights(target))
        assert masks.num_active() == counts
        for w, wt, m in zip(linear_weights(net), linear_weights(target), masks.masks, strict=True):
            assert torch.all(w[~m] == 0) and torch.all(wt[~m] == 0)
    expected_updates = 0 if scheme == "static" else len(range(4, 60, 4))
    assert updater.topology_updates == changed_topology == expected_updates
    assert updater.updates == 60
    if scheme != "static":
        assert updater.connections_changed > 0


class SpyTopology(SETTopology):
    """SET that records the k it is asked to move for each layer."""

    def __init__(self):
        self.calls = []

    def update_mask(self, weight, grad, mask, k, generator):
        self.calls.append((int(mask.sum()), k))
        return super().update_mask(weight, grad, mask, k, generator)


def test_per_layer_k_follows_the_cosine_schedule():
    torch.manual_seed(0)
    net = small_mlp(6, 16, 3)
    masks = MaskSet.for_module(net, 0.8)
    spy = SpyTopology()
    schedule = DropSchedule(initial_fraction=0.5, interval_updates=3, end_update=30)
    updater = SparseUpdater(masks, spy, schedule)
    opt = torch.optim.Adam(net.parameters())
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    for _ in range(30):
        before = updater.connections_changed
        spy.calls.clear()
        if train_step(net, opt, updater, x, y):
            t = updater.updates
            sparse_layers = [
                n
                for n, size in zip(masks.num_active(), masks.num_weights(), strict=True)
                if n < size
            ]
            expected = [(n, math.floor(schedule.fraction(t) * n)) for n in sparse_layers]
            assert spy.calls == [c for c in expected if c[1] > 0]
            assert updater.last_drop_fraction == schedule.fraction(t)
            assert updater.connections_changed - before <= sum(k for _, k in spy.calls)


def test_grown_weights_start_at_zero_and_the_step_is_replaced():
    net, masks, updater, opt = make("rigl", 0.7, interval=5, end=100)
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    for _ in range(4):
        train_step(net, opt, updater, x, y)
    old_masks = [m.clone() for m in masks.masks]
    old_weights = [w.detach().clone() for w in linear_weights(net)]
    adam_steps = [opt.state[p]["step"].clone() for p in linear_weights(net)]
    assert updater.next_step_is_topology_update()
    assert train_step(net, opt, updater, x, y) is True
    for w, w0, m0, m in zip(linear_weights(net), old_weights, old_masks, masks.masks, strict=True):
        assert torch.all(w[m & ~m0] == 0)  # newly grown: exactly 0
        assert torch.all(w[~m] == 0)  # dropped: 0
        assert torch.equal(w[m & m0], w0[m & m0])  # no optimiser step on kept weights
    assert all(
        torch.equal(opt.state[p]["step"], s)
        for p, s in zip(linear_weights(net), adam_steps, strict=True)
    )


@pytest.mark.parametrize("reset", [True, False])
def test_adam_moments_of_grown_positions_follow_the_mode(reset):
    net, masks, updater, opt = make("rigl", 0.7, interval=5, end=100, reset=reset)
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    for _ in range(4):
        train_step(net, opt, updater, x, y)
    for p in linear_weights(net):  # recognisable stale moments everywhere
        opt.state[p]["exp_avg"].fill_(0.25)
        opt.state[p]["exp_avg_sq"].fill_(0.5)
    old_masks = [m.clone() for m in masks.masks]
    assert train_step(net, opt, updater, x, y)
    grown_total = 0
    for p, m0, m in zip(linear_weights(net), old_masks, masks.masks, strict=True):
        grown = m & ~m0
        grown_total += int(grown.sum())
        state = opt.state[p]
        if reset:
            assert torch.all(state["exp_avg"][grown] == 0) and torch.all(
                state["exp_avg_sq"][grown] == 0
            )
        else:
            assert torch.all(state["exp_avg"][grown] == 0.25) and torch.all(
                state["exp_avg_sq"][grown] == 0.5
            )
        assert torch.all(state["exp_avg"][~grown] == 0.25) and torch.all(
            state["exp_avg_sq"][~grown] == 0.5
        )
    assert grown_total > 0


def test_reset_moments_is_a_no_op_without_optimiser_state():
    p = nn.Parameter(torch.ones(2, 3))
    opt = torch.optim.Adam([p])
    reset_moments(opt, p, torch.ones(2, 3, dtype=torch.bool))
    assert p not in opt.state or not opt.state[p]
    with pytest.raises(ConfigError, match="positions has shape"):
        reset_moments(opt, p, torch.ones(3, 2, dtype=torch.bool))


def test_dense_updater_equals_a_plain_optimiser_step():
    torch.manual_seed(1)
    a = small_mlp(5, 8, 2)
    b = copy.deepcopy(a)
    opt_a, opt_b = (
        torch.optim.Adam(a.parameters(), lr=1e-2),
        torch.optim.Adam(b.parameters(), lr=1e-2),
    )
    updater = DenseUpdater()
    x, y = torch.randn(8, 5), torch.randn(8, 2)
    for _ in range(5):
        assert train_step(a, opt_a, updater, x, y) is False
        opt_b.zero_grad()
        nn.functional.mse_loss(b(x), y).backward()
        opt_b.step()
        updater.after_target_update(linear_weights(b))  # does nothing
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert (
        updater.updates == 5 and updater.topology_updates == 0 and updater.connections_changed == 0
    )
    restored = DenseUpdater()
    restored.load_state_dict(updater.state_dict())
    assert restored.updates == 5


def test_state_dict_resumes_the_same_trajectory():
    net, masks, updater, opt = make("set", 0.8, interval=3, end=40)
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    for _ in range(7):
        train_step(net, opt, updater, x, y)
    twin_net = copy.deepcopy(net)
    twin_opt = torch.optim.Adam(twin_net.parameters(), lr=1e-2)
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict may alias tensors
    twin = SparseUpdater(
        MaskSet(linear_weights(twin_net), [torch.ones_like(m) for m in masks.masks]),
        get_topology("set"),
        updater.schedule,
        reset_moments=updater.reset_moments,
        seed=123,
    )
    twin.load_state_dict(updater.state_dict())
    assert (twin.updates, twin.topology_updates, twin.connections_changed) == (
        7,
        2,
        updater.connections_changed,
    )
    for _ in range(8):
        train_step(net, opt, updater, x, y)
        train_step(twin_net, twin_opt, twin, x, y)
    assert all(torch.equal(a, b) for a, b in zip(masks.masks, twin.masks.masks, strict=True))
    assert all(
        torch.equal(a, b) for a, b in zip(net.parameters(), twin_net.parameters(), strict=True)
    )


def test_evolving_scheme_without_schedule_is_rejected():
    net = small_mlp(4, 8, 2)
    masks = MaskSet.for_module(net, 0.5)
    with pytest.raises(ConfigError, match="'set' evolves the mask and needs a DropSchedule"):
        SparseUpdater(masks, get_topology("set"), None)
    static = SparseUpdater(masks, get_topology("static"), None)
    assert not static.next_step_is_topology_update()


def test_topology_scheme_base_is_abstract():
    with pytest.raises(NotImplementedError):
        TopologyScheme().update_mask(
            torch.zeros(1, 1), None, torch.ones(1, 1, dtype=torch.bool), 0, torch.Generator()
        )
