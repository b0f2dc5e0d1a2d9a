"""SparseMLP (CSR execution) against the masked dense reference: forward, input, weight, bias
and dense gradients; layout conversions; topology changes; persistence; LeanAdam vs Adam.

The reference is the same network as ``nn.Sequential`` heads whose weights are zero outside
the masks (the masked backend), run by torch. Timing lives in benchmarks/sparse_kernels.py.
"""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from rlx2.errors import ConfigError
from rlx2.sparse.kernels import LeanAdam, SparseLayout, SparseMLP, remap_slots, slot_remap
from rlx2.sparse.masks import linear_weights
from rlx2.sparse.optim_state import reset_moments

torch.set_num_threads(1)


def make_heads(
    widths: list[int], num_heads: int, density: float, seed: int, dtype=torch.float32
) -> tuple[list[nn.Sequential], list[Tensor]]:
    """Random dense heads with random masks; weights are zeroed outside the masks."""
    gen = torch.Generator().manual_seed(seed)
    heads, masks = [], []
    for _ in range(num_heads):
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            linear = nn.Linear(widths[i], widths[i + 1], dtype=dtype)
            with torch.no_grad():
                scale = widths[i] ** -0.5  # keeps activations O(1) through the layers
                linear.weight.copy_(scale * torch.randn(linear.weight.shape, generator=gen))
                linear.bias.copy_(0.1 * torch.randn(linear.bias.shape, generator=gen))
                mask = torch.rand(linear.weight.shape, generator=gen) < density
                linear.weight.mul_(mask)
            masks.append(mask)
            layers += [linear, nn.ReLU()] if i < len(widths) - 2 else [linear]
        heads.append(nn.Sequential(*layers))
    return heads, masks


def reference(heads: list[nn.Sequential], x: Tensor) -> Tensor:
    return torch.cat([h(x) for h in heads], dim=1)


# float32: the kernels sum in another order than torch (B-long dots, 4-way unrolled rows).
TOL = {"rtol": 1e-5, "atol": 1e-5}


def assert_matches_reference(
    widths: list[int], num_heads: int, density: float, batch: int, seed: int, split: int = 0
) -> None:
    """Output, input grad, active weight grads and bias grads equal the masked reference."""
    heads, masks = make_heads(widths, num_heads, density, seed)
    sparse = SparseMLP.from_dense(heads, masks)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, widths[0], generator=gen)
    x_ref = x.clone().requires_grad_(True)
    parts = (x[:, :split], x[:, split:]) if split else (x, None)
    parts = tuple(None if p is None else p.clone().requires_grad_(True) for p in parts)

    out = sparse(*parts)
    expected = reference(heads, x_ref)
    torch.testing.assert_close(out, expected, **TOL)

    grad_out = torch.randn(out.shape, generator=gen)
    out.backward(grad_out)
    expected.backward(grad_out)
    grad_x = torch.cat([p.grad for p in parts if p is not None], dim=1)
    torch.testing.assert_close(grad_x, x_ref.grad, **TOL)
    linears = [m for h in heads for m in h if isinstance(m, nn.Linear)]
    active_grads = torch.cat([lin.weight.grad[m] for lin, m in zip(linears, masks, strict=True)])
    torch.testing.assert_close(sparse.values.grad, active_grads, **TOL)
    bias_grads = torch.cat([lin.bias.grad for lin in linears])
    torch.testing.assert_close(sparse.bias.grad, bias_grads, **TOL)


# ---------------------------------------------------------------- equivalence


@pytest.mark.parametrize("batch", [1, 2, 7, 64, 263, 512])  # 263, 512: full batch tiles (ops.TILE)
@pytest.mark.parametrize(
    "widths,num_heads,density",
    [
        ([11, 32, 32, 3], 1, 0.1),  # an actor at high sparsity
        ([14, 32, 32, 1], 2, 0.3),  # a twin critic
        ([5, 9], 1, 0.5),  # a single layer
        ([6, 17, 13, 4, 2], 1, 0.6),  # deeper, odd widths
        ([4, 8, 3], 2, 1.0),  # fully dense
        ([37, 20, 45], 1, 0.3),  # wide input and output: tiled transposes with remainders
        ([40, 33], 2, 0.2),  # a wide single layer, two heads
    ],
)
def test_matches_masked_reference(widths, num_heads, density, batch):
    assert_matches_reference(widths, num_heads, density, batch, seed=batch)


@pytest.mark.parametrize("batch", [7, 263])
@pytest.mark.parametrize(
    "widths,num_heads,density",
    [
        ([14, 32, 32, 1], 2, 0.3),  # a twin critic: hidden first-layer rows use the scratch row
        ([5, 9], 1, 0.5),  # a single layer: its first-layer rows are output rows
        ([6, 17, 13, 4, 2], 1, 0.6),
    ],
)
def test_weight_gradients_without_an_input_gradient(widths, num_heads, density, batch):
    """The critic loss's backward (input not requiring grad: no input gradient, first-layer
    row gradients formed in a scratch row) gives the reference's weight and bias gradients."""
    heads, masks = make_heads(widths, num_heads, density, seed=batch)
    sparse = SparseMLP.from_dense(heads, masks)
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, widths[0], generator=gen)
    out = sparse(x)
    expected = reference(heads, x)
    grad_out = torch.randn(out.shape, generator=gen)
    out.backward(grad_out)
    expected.backward(grad_out)
    linears = [m for h in heads for m in h if isinstance(m, nn.Linear)]
    active_grads = torch.cat([lin.weight.grad[m] for lin, m in zip(linears, masks, strict=True)])
    torch.testing.assert_close(sparse.values.grad, active_grads, **TOL)
    torch.testing.assert_close(
        sparse.bias.grad, torch.cat([lin.bias.grad for lin in linears]), **TOL
    )


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 24), min_size=2, max_size=4),
    num_heads=st.integers(1, 2),
    density=st.floats(0.0, 1.0),
    batch=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    split=st.integers(0, 3),
)
def test_matches_masked_reference_hypothesis(widths, num_heads, density, batch, seed, split):
    split = min(split, widths[0] - 1)  # x2 non-empty when split > 0
    assert_matches_reference(widths, num_heads, density, batch, seed, split)


def test_two_input_parts_equal_their_concatenation():
    heads, masks = make_heads([14, 16, 16, 1], 2, 0.4, seed=3)
    sparse = SparseMLP.from_dense(heads, masks)
    obs, act = torch.randn(9, 11), torch.randn(9, 3)
    torch.testing.assert_close(sparse(obs, act), sparse(torch.cat([obs, act], dim=1)))


def test_first_head_only_is_q1_with_q1_gradients():
    heads, masks = make_heads([14, 16, 16, 1], 2, 0.4, seed=4)
    sparse = SparseMLP.from_dense(heads, masks)
    obs, act = torch.randn(6, 11), torch.randn(6, 3, requires_grad=True)
    q1 = sparse(obs, act, heads=1)
    assert q1.shape == (6, 1)
    act_ref = act.detach().clone().requires_grad_(True)
    q1_ref = heads[0](torch.cat([obs, act_ref], dim=1))
    torch.testing.assert_close(q1, q1_ref)
    q1.sum().backward()
    q1_ref.sum().backward()
    torch.testing.assert_close(act.grad, act_ref.grad)
    # The second head was not evaluated: its weight and bias gradients are exactly zero.
    s0, _ = sparse.layout.layer_slots[3]
    r0, _ = sparse.layout.layer_rows[3]
    assert torch.all(sparse.values.grad[s0:] == 0) and torch.all(sparse.bias.grad[r0:] == 0)


def test_no_grad_path_equals_grad_path():
    heads, masks = make_heads([11, 20, 20, 3], 1, 0.2, seed=5)
    sparse = SparseMLP.from_dense(heads, masks)
    for batch in (1, 5):
        x = torch.randn(batch, 11)
        with torch.no_grad():
            fast = sparse(x)
        torch.testing.assert_close(fast, sparse(x).detach())


def test_tanh_output_and_scaling_match_the_actor_head():
    heads, masks = make_heads([11, 16, 16, 3], 1, 0.3, seed=6)
    scale, shift = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.0, -1.0, 0.25])
    sparse = SparseMLP.from_dense(heads, masks, "tanh", scale, shift)
    for batch in (1, 8):
        x = torch.randn(batch, 11)
        x_ref = x.clone().requires_grad_(True)
        x_sp = x.clone().requires_grad_(True)
        expected = torch.tanh(heads[0](x_ref)) * scale + shift
        out = sparse(x_sp)
        torch.testing.assert_close(out, expected)
        with torch.no_grad():
            torch.testing.assert_close(sparse(x), expected.detach())
        out.sum().backward()
        expected.sum().backward()
        torch.testing.assert_close(x_sp.grad, x_ref.grad)


def test_frozen_network_gives_input_gradient_only():
    heads, masks = make_heads([14, 16, 16, 1], 2, 0.4, seed=7)
    sparse = SparseMLP.from_dense(heads, masks).requires_grad_(False)
    act = torch.randn(5, 3, requires_grad=True)
    sparse(torch.randn(5, 11), act, heads=1).sum().backward()
    assert act.grad is not None and sparse.values.grad is None and sparse.bias.grad is None


def test_empty_rows_and_unused_hidden_units():
    # Row 0 of layer 1 has no inputs (output = ReLU(bias)); hidden unit 1 feeds nothing.
    heads, masks = make_heads([3, 4, 2], 1, 1.0, seed=8)
    masks[0][0] = False
    masks[1][:, 1] = False
    with torch.no_grad():
        for lin, m in zip(linear_weights(heads[0]), masks, strict=True):
            lin.mul_(m)
    assert_matches_reference_with(heads, masks, batch=4)


def assert_matches_reference_with(heads, masks, batch):
    sparse = SparseMLP.from_dense(heads, masks)
    x = torch.randn(batch, heads[0][0].in_features)
    torch.testing.assert_close(sparse(x), reference(heads, x))


def test_float64_gradcheck():
    heads, masks = make_heads([4, 6, 5, 2], 2, 0.5, seed=9, dtype=torch.float64)
    sparse = SparseMLP.from_dense(heads, masks)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    values = sparse.values.detach().clone().requires_grad_(True)
    bias = sparse.bias.detach().clone().requires_grad_(True)

    def run(x: Tensor, values: Tensor, bias: Tensor) -> Tensor:
        return torch.func.functional_call(sparse, {"values": values, "bias": bias}, (x,))

    # Not vacuous: the output depends on the checked values.
    assert torch.autograd.grad(run(x, values, bias).sum(), values)[0].abs().sum() > 0
    assert torch.autograd.gradcheck(run, (x, values, bias))


def test_float64_full_batch_tiles_match_the_reference():
    """A batch of full ``ops.TILE``-column tiles and a remainder, in double precision (the
    tile buffer then holds float64), against the masked reference at float64 precision."""
    heads, masks = make_heads([9, 40, 30, 2], 2, 0.3, seed=10, dtype=torch.float64)
    sparse = SparseMLP.from_dense(heads, masks, output_activation="tanh")
    x = torch.randn(2 * 256 + 5, 9, dtype=torch.float64)
    with torch.no_grad():
        expected = torch.tanh(reference(heads, x))
        torch.testing.assert_close(sparse(x), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- dense gradient switch


def test_dense_grad_switch_gives_the_full_dense_gradient_once():
    heads, masks = make_heads([14, 16, 16, 1], 2, 0.3, seed=10)
    sparse = SparseMLP.from_dense(heads, masks)
    x = torch.randn(12, 14)
    grad_out = torch.randn(12, 2)
    sparse.dense_grad_next_backward = True
    sparse(x).backward(grad_out)
    reference(heads, x).backward(grad_out)
    assert sparse.dense_grad_next_backward is False
    assert sparse.dense_grads is not None
    linears = [m for h in heads for m in h if isinstance(m, nn.Linear)]
    for dense_grad, lin in zip(sparse.dense_grads, linears, strict=True):
        torch.testing.assert_close(dense_grad, lin.weight.grad)
    # At active positions the dense gradient is the sparse one.
    active = torch.cat([g[m] for g, m in zip(sparse.dense_grads, masks, strict=True)])
    torch.testing.assert_close(active, sparse.values.grad)
    kept = sparse.dense_grads
    sparse(x).backward(grad_out)  # the switch is off again: nothing recomputed
    assert sparse.dense_grads is kept


# ---------------------------------------------------------------- conversions and topology


def test_from_dense_to_dense_round_trip():
    heads, masks = make_heads([11, 16, 16, 3], 2, 0.25, seed=11)
    sparse = SparseMLP.from_dense(heads, masks)
    back = sparse.to_dense()
    for head, head_back in zip(heads, back, strict=True):
        for a, b in zip(head.state_dict().values(), head_back.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    for m, m_back in zip(masks, sparse.masks(), strict=True):
        assert torch.equal(m, m_back)
    again = SparseMLP.from_dense(back, sparse.masks())
    assert torch.equal(again.values, sparse.values) and torch.equal(again.bias, sparse.bias)


def test_active_zero_weight_is_kept_and_masks_are_never_inferred():
    heads, masks = make_heads([3, 4, 2], 1, 1.0, seed=12)
    with torch.no_grad():
        heads[0][0].weight[0, 0] = 0.0  # an active weight that happens to be 0 (regrown)
    sparse = SparseMLP.from_dense(heads, masks)
    assert sparse.layout.nnz == sum(int(m.sum()) for m in masks)


def test_set_masks_keeps_parameter_identity_and_carries_values():
    heads, masks = make_heads([6, 8, 2], 1, 0.5, seed=13)
    sparse = SparseMLP.from_dense(heads, masks)
    values_param = sparse.values
    old = sparse.dense_weights()
    new_masks = [m.clone() for m in masks]
    on, off = new_masks[0].nonzero()[0], (~new_masks[0]).nonzero()[0]
    new_masks[0][tuple(on)] = False  # drop one weight, grow another: nnz constant
    new_masks[0][tuple(off)] = True
    src = sparse.set_masks(new_masks)
    assert sparse.values is values_param
    new = sparse.dense_weights()
    assert new[0][tuple(off)] == 0  # grown: exactly 0
    assert new[0][tuple(on)] == 0  # dropped
    keep = masks[0] & new_masks[0]
    torch.testing.assert_close(new[0][keep], old[0][keep])
    torch.testing.assert_close(new[1], old[1])
    assert int((src == -1).sum()) == 1
    x = torch.randn(3, 6)
    ref = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        for ref_lin, lin, w in zip((ref[0], ref[2]), (heads[0][0], heads[0][2]), new, strict=True):
            ref_lin.weight.copy_(w)
            ref_lin.bias.copy_(lin.bias)
    torch.testing.assert_close(sparse(x), ref(x))


def test_set_masks_rejects_a_changed_count():
    heads, masks = make_heads([6, 8, 2], 1, 0.5, seed=14)
    sparse = SparseMLP.from_dense(heads, masks)
    grown = [m.clone() for m in masks]
    grown[0][(~grown[0]).nonzero()[0].tolist()[0], (~grown[0]).nonzero()[0].tolist()[1]] = True
    with pytest.raises(ConfigError, match="count"):
        sparse.set_masks(grown)


def test_slot_remap_and_remap_slots_follow_positions():
    old_masks = [np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)]
    new_masks = [np.array([[1, 1, 0], [0, 1, 0]], dtype=bool)]
    old = SparseLayout.from_masks(3, [(3, 2)], old_masks)
    new = SparseLayout.from_masks(3, [(3, 2)], new_masks)
    # old slots: (0,0)->0, (0,2)->1, (1,1)->2; new slots: (0,0), (0,1) new, (1,1)
    src = slot_remap(old, new)
    assert src.tolist() == [0, -1, 2]
    moments = torch.tensor([10.0, 20.0, 30.0])
    assert remap_slots(moments, torch.from_numpy(src)).tolist() == [10.0, 0.0, 30.0]


def test_layout_hand_example():
    # One head 2 -> 3 -> 1; act rows: 0-1 input, 2-4 hidden, 5 output.
    masks = [np.array([[1, 0], [1, 1], [0, 0]], dtype=bool), np.array([[0, 1, 1]], dtype=bool)]
    layout = SparseLayout.from_masks(2, [(2, 3, 1)], masks)
    assert layout.row_ptr.tolist() == [0, 1, 3, 3, 5]
    assert layout.sources.tolist() == [0, 0, 1, 3, 4]
    assert layout.activation.tolist() == [1, 1, 1, 0]
    assert layout.output_column.tolist() == [-1, -1, -1, 0]
    # act row 0 feeds rows 0 and 1 (slots 0, 1); row 1 feeds row 1 (slot 2); hidden rows
    # 1 and 2 (act rows 3, 4) feed the output row 3 (slots 3, 4).
    assert layout.consumer_ptr.tolist() == [0, 2, 3, 3, 4, 5, 5]
    assert layout.consumer_rows.tolist() == [0, 1, 1, 3, 3]
    assert layout.consumer_slots.tolist() == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- module behaviour


def test_state_dict_round_trip_restores_topology_and_values():
    heads, masks = make_heads([6, 8, 2], 1, 0.5, seed=15)
    sparse = SparseMLP.from_dense(heads, masks)
    other_heads, other_masks = make_heads([6, 8, 2], 1, 0.5, seed=16)
    other_masks[1] = masks[1].clone()
    # Same count per network is all that load_state_dict needs.
    other_masks[0] = masks[0].flatten()[torch.randperm(48)].view(8, 6)
    other = SparseMLP.from_dense(other_heads, other_masks)
    other.load_state_dict(sparse.state_dict())
    x = torch.randn(4, 6)
    torch.testing.assert_close(other(x), sparse(x))
    for a, b in zip(other.masks(), sparse.masks(), strict=True):
        assert torch.equal(a, b)


def test_deepcopy_is_an_independent_target_network():
    heads, masks = make_heads([6, 8, 2], 1, 0.5, seed=17)
    online = SparseMLP.from_dense(heads, masks)
    x = torch.randn(4, 6)
    with torch.no_grad():
        before = online(x)
        target = copy.deepcopy(online).requires_grad_(False)
        torch.testing.assert_close(target(x), before)
        online.values.add_(1.0)  # an optimiser step on the online network
        torch.testing.assert_close(target(x), before)  # the copy reads its own storage
        torch.testing.assert_close(online(x), reference(online.to_dense(), x))


def test_double_precision_module_after_to():
    heads, masks = make_heads([5, 7, 2], 1, 0.5, seed=18)
    sparse = SparseMLP.from_dense(heads, masks)
    x = torch.randn(3, 5)
    with torch.no_grad():
        before = sparse(x)
        sparse.double()
        out = sparse(x.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), before)


def test_input_validation():
    heads, masks = make_heads([5, 7, 2], 1, 0.5, seed=19)
    sparse = SparseMLP.from_dense(heads, masks)
    with pytest.raises(ConfigError, match=r"\[B, 5\]"):
        sparse(torch.randn(3, 4))
    with pytest.raises(ConfigError, match=r"\[B, 5\]"):
        sparse(torch.randn(5))
    with pytest.raises(ConfigError, match="heads"):
        sparse(torch.randn(3, 5), heads=2)
    with pytest.raises(ConfigError, match="Sequential"):
        SparseMLP.from_dense(nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)))
    with pytest.raises(ConfigError, match="masks"):
        SparseMLP.from_dense(heads, masks[:1])


def test_batch_of_zero():
    heads, masks = make_heads([5, 7, 2], 1, 0.5, seed=20)
    sparse = SparseMLP.from_dense(heads, masks)
    assert sparse(torch.randn(0, 5)).shape == (0, 2)


def test_import_does_not_load_numba():
    code = "import rlx2.sparse, rlx2.sparse.kernels, sys; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- LeanAdam


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lean_adam_equals_torch_adam(dtype):
    gen = torch.Generator().manual_seed(21)
    params = [torch.randn(50, generator=gen, dtype=dtype), torch.randn(4, 3, dtype=dtype)]
    ours = [nn.Parameter(p.clone()) for p in params]
    theirs = [nn.Parameter(p.clone()) for p in params]
    lean = LeanAdam(ours, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    adam = torch.optim.Adam(theirs, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    for _ in range(30):
        grads = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in params]
        for group, opt in ((ours, lean), (theirs, adam)):
            opt.zero_grad()
            for p, g in zip(group, grads, strict=True):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(ours, theirs, strict=True):
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(lean.state[a][key], adam.state[b][key])
    assert lean.state[ours[0]]["step"] == 30


def test_lean_adam_reused_gradient_tensors_and_replaced_state_match_torch_adam():
    """The fused steps write each gradient into the same tensor every step, which LeanAdam's
    cached views rely on; a gradient or moment tensor replaced (load_state_dict), or a
    parameter given new storage, must be read afresh."""
    gen = torch.Generator().manual_seed(5)
    ours = nn.Parameter(torch.randn(40, generator=gen))
    theirs = nn.Parameter(ours.detach().clone())
    lean, adam = LeanAdam([ours], lr=1e-2), torch.optim.Adam([theirs], lr=1e-2)
    grad_buffer = torch.empty(40)
    for i in range(12):
        g = torch.randn(40, generator=gen)
        grad_buffer.copy_(g)
        ours.grad, theirs.grad = grad_buffer, g.clone()
        if i == 4:  # new moment tensors (what load_state_dict does), same values
            lean.load_state_dict(lean.state_dict())
        if i == 8:  # new storage for the parameter, same values
            ours.data = ours.data.clone()
        if i == 10:  # a fresh gradient tensor
            ours.grad = g.clone()
        lean.step()
        adam.step()
        torch.testing.assert_close(ours, theirs, msg=f"step {i}")
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(lean.state[ours][key], adam.state[theirs][key])


def test_lean_adam_works_with_reset_moments_and_state_dict():
    param = nn.Parameter(torch.randn(6))
    lean = LeanAdam([param], lr=1e-3)
    param.grad = torch.ones(6)
    lean.step()
    reset_moments(lean, param, torch.tensor([True, False, False, False, False, True]))
    assert lean.state[param]["exp_avg"][0] == 0 and lean.state[param]["exp_avg"][1] != 0
    clone = LeanAdam([nn.Parameter(param.detach().clone())], lr=1e-3)
    clone.load_state_dict(lean.state_dict())
    assert clone.state_dict()["state"][0]["step"] == 1.0


def test_lean_adam_trains_a_sparse_mlp_like_adam():
    heads, masks = make_heads([4, 8, 1], 1, 0.5, seed=22)
    nets = [SparseMLP.from_dense(heads, masks) for _ in range(2)]
    opts = [
        LeanAdam(nets[0].parameters(), lr=1e-2),
        torch.optim.Adam(nets[1].parameters(), lr=1e-2),
    ]
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(5):
        for net, opt in zip(nets, opts, strict=True):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
    torch.testing.assert_close(nets[0].values, nets[1].values)
