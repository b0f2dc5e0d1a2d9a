"""The fused training steps (``rlx2.algos.fused``) against the reference torch maths.

The torch loss methods of TD3 and SAC are the definition; the fused steps must compute the
same losses and leave the same gradients, draw the same random numbers, and through whole
runs of updates (topology updates and n-step windows included) keep the same parameters and
pick the same connections as both reference paths: autograd over the compact networks and
the masked backend. Dense networks on the fused steps are tied to dense autograd the same way. The dense and masked backends' fused Adam is tied to torch's per-tensor
Adam loop the same way.
"""

import dataclasses

import numpy as np
import pytest
import torch
from test_backend import (
    SPEC,
    assert_networks_match,
    make_config,
    masked_active,
    twin_agents,
)

from rlx2.algos import fused_kernels as K
from rlx2.algos.fused_dense import DenseHeads
from rlx2.nets import squashed_gaussian_log_prob
from rlx2.sparse.kernels import LeanAdam
from rlx2.sparse_nets import sparse_core
from rlx2.train.builders import build_agent
from rlx2.value.replay import ReplayBuffer
from rlx2.value.targets import n_step_target, select_at, window_end_index

BATCH = 32


def episode_flags(rng, batch, n, p_term=0.15, p_trunc=0.1):
    """[B, n] float32 terminated and truncated flags placed anywhere (both may be set)."""
    terminated = (rng.random((batch, n)) < p_term).astype(np.float32)
    truncated = (rng.random((batch, n)) < p_trunc).astype(np.float32)
    return terminated, truncated


# ---------------------------------------------------------------- kernels vs torch maths


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_window_kernels_match_the_target_functions(n):
    rng = np.random.default_rng(n)
    terminated, truncated = episode_flags(rng, 200, n)
    ends = np.empty(200, dtype=np.int64)
    K.window_ends(terminated, truncated, ends)
    expected = window_end_index(torch.from_numpy(terminated), torch.from_numpy(truncated))
    assert ends.tolist() == expected.tolist()
    x = rng.normal(size=(200, n, 4)).astype(np.float32)
    out = np.empty((200, 4), dtype=np.float32)
    K.gather_windows(x, ends, out)
    assert torch.equal(torch.from_numpy(out), select_at(torch.from_numpy(x), expected))


@pytest.mark.parametrize("n", [1, 3])
def test_twin_td_loss_is_the_n_step_mse_and_its_gradient(n):
    rng = np.random.default_rng(10 + n)
    batch = 64
    terminated, truncated = episode_flags(rng, batch, n)
    rewards = rng.normal(size=(batch, n)).astype(np.float32)
    q_target = rng.normal(size=(batch, 2)).astype(np.float32)
    q = rng.normal(size=(batch, 2)).astype(np.float32)
    ends = np.empty(batch, dtype=np.int64)
    K.window_ends(terminated, truncated, ends)
    targets, grad_q = np.empty(batch, np.float32), np.empty((batch, 2), np.float32)
    loss, q1_mean, target_mean = K.twin_td_loss(
        rewards, terminated, ends, q_target, 0.97, q, targets, grad_q
    )
    t = {k: torch.from_numpy(v) for k, v in dict(r=rewards, d=terminated, c=truncated).items()}
    values = torch.minimum(*torch.from_numpy(q_target).unbind(1))
    y = n_step_target(t["r"], t["d"], t["c"], values, 0.97)
    q_t = torch.from_numpy(q).requires_grad_()
    reference = ((q_t[:, 0] - y) ** 2).mean() + ((q_t[:, 1] - y) ** 2).mean()
    reference.backward()
    torch.testing.assert_close(torch.from_numpy(targets), y, rtol=1e-6, atol=1e-6)
    assert loss == pytest.approx(reference.item(), rel=1e-5)
    assert q1_mean == pytest.approx(q[:, 0].mean(), rel=1e-5)
    assert target_mean == pytest.approx(y.mean().item(), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(torch.from_numpy(grad_q), q_t.grad, rtol=1e-5, atol=1e-7)


def test_squashed_gaussian_sample_and_gradient_match_autograd():
    rng = np.random.default_rng(3)
    rows, act = 300, 3
    # Wide ranges: tanh saturation, the softplus threshold (|u| > 10) and tiny sigmas.
    z = np.concatenate(
        [rng.normal(scale=4.0, size=(rows, act)), rng.normal(scale=2.0, size=(rows, act))], 1
    ).astype(np.float32)
    eps = rng.normal(size=(rows, act)).astype(np.float32)
    scale = np.array([1.0, 2.0, 0.5], np.float32)
    bias = np.array([0.0, -0.5, 0.25], np.float32)
    low, high = -5.0, 2.0
    actions, log_prob = np.empty((rows, act), np.float32), np.empty(rows, np.float32)
    pre_tanh, log_std = np.empty_like(actions), np.empty_like(actions)
    K.squashed_gaussian_sample(z, eps, low, high, scale, bias, actions, log_prob, pre_tanh, log_std)

    # The reference: GaussianActor.distribution and .sample's arithmetic, with autograd.
    z_t = torch.from_numpy(z).requires_grad_()
    mean, raw = z_t.chunk(2, dim=-1)
    ls = low + 0.5 * (high - low) * (torch.tanh(raw) + 1.0)
    u = mean + ls.exp() * torch.from_numpy(eps)
    a = torch.tanh(u) * torch.from_numpy(scale) + torch.from_numpy(bias)
    lp = squashed_gaussian_log_prob(u, mean, ls, torch.from_numpy(scale))
    torch.testing.assert_close(torch.from_numpy(actions), a.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.from_numpy(log_prob), lp.detach(), rtol=1e-5, atol=1e-4)

    weights = rng.normal(size=(rows, act)).astype(np.float32)  # an arbitrary d loss / d a
    c = 0.37  # d loss / d log_prob, the same for every row (SAC: alpha / B)
    (a * torch.from_numpy(weights)).sum().add(c * lp.sum()).backward()
    grad_z = np.empty_like(z)
    K.squashed_gaussian_backward(weights, c, eps, pre_tanh, log_std, z, low, high, scale, grad_z)
    torch.testing.assert_close(torch.from_numpy(grad_z), z_t.grad, rtol=1e-4, atol=1e-4)


def test_sac_actor_loss_gradient_goes_to_the_smaller_head():
    q = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], np.float32)
    log_prob = np.array([0.1, -0.2, 0.3], np.float32)
    grad_q = np.empty_like(q)
    loss = K.sac_actor_loss(q, log_prob, 0.5, grad_q)
    q_t = torch.from_numpy(q).requires_grad_()
    reference = (0.5 * torch.from_numpy(log_prob) - torch.minimum(q_t[:, 0], q_t[:, 1])).mean()
    reference.backward()
    assert loss == pytest.approx(reference.item())
    assert torch.equal(torch.from_numpy(grad_q), q_t.grad)  # ties split: torch.minimum's rule


# ---------------------------------------------------------------- one loss: fused vs autograd


def window_batch(seed, nstep, batch=BATCH):
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(SPEC.obs_dim, SPEC.act_dim, capacity=300, seed=seed)
    for _ in range(300):
        action = rng.uniform(SPEC.low, SPEC.high)
        buffer.add(
            rng.normal(size=SPEC.obs_dim),
            action,
            rng.normal(),
            rng.normal(size=SPEC.obs_dim),
            bool(rng.random() < 0.1),
            bool(rng.random() < 0.05),
            action,
        )
    return buffer.sample(batch, nstep)


def gradients(network):
    core = sparse_core(network)
    out = [core.values.grad.clone(), core.bias.grad.clone()]
    core.values.grad = core.bias.grad = None
    return out


def both_paths(agent, fn, seed):
    """fn(agent) on the fused path, then on the autograd path, from the same generator state;
    both must leave the generator in the same state (same draws)."""
    results = []
    fused = agent.fused
    for path in (fused, None):
        agent.fused = path
        torch.manual_seed(seed)
        results.append(fn(agent))
        results[-1] = (results[-1], torch.get_rng_state())
    agent.fused = fused
    (a, state_a), (b, state_b) = results
    assert torch.equal(state_a, state_b), "the fused path drew other random numbers"
    return a, b


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("nstep", [1, 3])
@pytest.mark.parametrize("dense_grad", [False, True])
def test_fused_losses_and_gradients_equal_the_autograd_path(algo, nstep, dense_grad):
    torch.manual_seed(0)
    agent, _ = build_agent(make_config(algo, "sparse"), SPEC)
    assert agent.fused is not None
    batch = window_batch(nstep, nstep)

    def critic(agent):
        sparse_core(agent.critic).dense_grad_next_backward = dense_grad
        out = agent.critic_backward(batch)
        core = sparse_core(agent.critic)
        assert not core.dense_grad_next_backward  # served by this backward
        dense = [g.clone() for g in core.dense_grads] if dense_grad else None
        core.dense_grads = None
        return out, gradients(agent.critic), dense

    def actor(agent):
        # A pending request of the critic is not served by the actor loss's backward through
        # it (no critic weight gradients); the actor's own is.
        sparse_core(agent.critic).dense_grad_next_backward = True
        sparse_core(agent.actor).dense_grad_next_backward = dense_grad
        out = agent.actor_backward(batch.obs)
        assert sparse_core(agent.critic).dense_grad_next_backward
        assert sparse_core(agent.critic).values.grad is None
        core = sparse_core(agent.actor)
        dense = [g.clone() for g in core.dense_grads] if dense_grad else None
        core.dense_grads = None
        return out, gradients(agent.actor), dense

    for fn in (critic, actor):
        (out_f, grads_f, dense_f), (out_r, grads_r, dense_r) = both_paths(agent, fn, seed=7)
        out_f = out_f if isinstance(out_f, tuple) else (out_f,)
        out_r = out_r if isinstance(out_r, tuple) else (out_r,)
        for a, b in zip(out_f, out_r, strict=True):  # losses, means, SAC's log pi
            torch.testing.assert_close(a, b.float(), rtol=1e-5, atol=1e-5)
        for a, b in zip(grads_f, grads_r, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        for a, b in zip(dense_f or [], dense_r or [], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def update_side_by_side(agents, i, batch_seed, seed):
    """Update ``i`` of every agent: the same batch (1-step windows for the first 6 updates,
    then 3-step ones), each from the same generator state. Returns {name: metrics}."""
    batch = window_batch(batch_seed + i, 1 if i < 6 else 3)
    metrics = {}
    for name, agent in agents.items():
        torch.manual_seed(seed + i)
        metrics[name] = agent.update(batch)
    return metrics


def parameter_gradients(network):
    """Every parameter's gradient (each must have one), then cleared."""
    out = [p.grad.clone() for p in network.parameters()]
    for p in network.parameters():
        p.grad = None
    return out


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("nstep", [1, 3])
def test_dense_fused_losses_and_gradients_equal_the_autograd_path(algo, nstep):
    """Dense networks on the fused steps (BLAS passes, ``fused_dense``): the same losses and
    every weight's and bias's gradient as autograd; the actor loss leaves the critic's alone."""
    torch.manual_seed(0)
    agent, _ = build_agent(make_config(algo, "dense", "dense"), SPEC)
    assert isinstance(agent.fused.critic, DenseHeads)
    batch = window_batch(nstep + 40, nstep)

    def critic(agent):
        return agent.critic_backward(batch), parameter_gradients(agent.critic)

    def actor(agent):
        out = agent.actor_backward(batch.obs)
        assert all(p.grad is None for p in agent.critic.parameters())
        return out, parameter_gradients(agent.actor)

    for fn in (critic, actor):
        (out_f, grads_f), (out_r, grads_r) = both_paths(agent, fn, seed=7)
        out_f = out_f if isinstance(out_f, tuple) else (out_f,)
        out_r = out_r if isinstance(out_r, tuple) else (out_r,)
        for a, b in zip(out_f, out_r, strict=True):
            torch.testing.assert_close(a, b.float(), rtol=1e-5, atol=1e-5)
        for a, b in zip(grads_f, grads_r, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_dense_runs_the_fused_steps_on_a_cpu_with_numba_and_without_compile(monkeypatch):
    from rlx2 import config as config_module

    def fused_of(backend, method, **run):
        config = make_config("td3", backend, method)
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, **run))
        return build_agent(config, SPEC)[0].fused

    assert isinstance(fused_of("dense", "dense").critic, DenseHeads)
    assert isinstance(fused_of("dense", "tiny").actor, DenseHeads)
    assert fused_of("dense", "dense", compile=True) is None
    assert fused_of("masked", "rigl") is None  # the reference path
    monkeypatch.setattr(config_module, "numba_available", lambda: False)
    assert fused_of("dense", "dense") is None


def test_batch_arrays_are_views_and_other_devices_are_refused():
    from rlx2.algos.fused import _array
    from rlx2.errors import ConfigError

    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert np.shares_memory(_array(x, np.dtype(np.float32)), x.numpy())
    graded = x.clone().requires_grad_()
    np.testing.assert_array_equal(_array(graded, np.dtype(np.float32)), x.numpy())
    doubled = _array(x, np.dtype(np.float64))  # a converted copy
    assert doubled.dtype == np.float64 and not np.shares_memory(doubled, x.numpy())
    with pytest.raises(ConfigError, match="run on the CPU"):
        _array(torch.empty(2, 3, device="meta"), np.dtype(np.float32))


def test_relu_backward_is_autograds_threshold_backward():
    """Zeroed where the layer's output is <= 0 (0, -0, negatives); a NaN output keeps it."""
    act = np.array([[1.5, 0.0, -0.0, -2.0], [np.nan, 3.0, 1e-30, -1e-30]], np.float32)
    grad = np.arange(1, 9, dtype=np.float32).reshape(2, 4)
    expected = torch.ops.aten.threshold_backward(torch.from_numpy(grad), torch.from_numpy(act), 0.0)
    K.relu_backward(grad, act)
    assert torch.equal(torch.from_numpy(grad), expected)


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_dense_fused_updates_track_the_autograd_path(algo):
    """16 whole updates (1-step then 3-step windows), dense fused against dense autograd from
    the same seed: losses, parameters, Adam's state and the targets agree after every one."""
    agents = {}
    for name in ("fused", "autograd"):
        torch.manual_seed(0)
        agents[name] = build_agent(make_config(algo, "dense", "dense"), SPEC)[0]
    agents["autograd"].fused = None
    for i in range(16):
        metrics = update_side_by_side(agents, i, batch_seed=300, seed=3000)
        for key, value in metrics["autograd"].items():
            torch.testing.assert_close(
                metrics["fused"][key], value, rtol=1e-4, atol=1e-5, msg=f"{key} {i}"
            )
        fused, reference = (tensors(agents[n].state_dict()) for n in ("fused", "autograd"))
        assert fused.keys() == reference.keys()
        for key, value in reference.items():
            torch.testing.assert_close(
                fused[key].float(), value.float(), rtol=1e-4, atol=1e-5, msg=f"{key} {i}"
            )


@pytest.mark.parametrize("backend", ["sparse", "dense"])
@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("nstep", [1, 3])
def test_fused_td_targets_equal_the_reference_td_target(algo, nstep, backend):
    """The targets themselves, tightly: smoothing noise, bootstrap states, entropy terms (BLAS
    sums a dense product in another order than the reference's: float32 rounding apart)."""
    torch.manual_seed(0)
    method = "rigl" if backend == "sparse" else "dense"
    tol = 1e-6 if backend == "sparse" else 1e-5
    agent, _ = build_agent(make_config(algo, backend, method), SPEC)
    batch = window_batch(20 + nstep, nstep)
    torch.manual_seed(5)
    agent.fused.critic_backward(batch)
    fused_targets = torch.from_numpy(agent.fused._for(BATCH, nstep).targets.copy())
    torch.manual_seed(5)
    torch.testing.assert_close(fused_targets, agent.td_target(batch), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["sparse", "dense"])
@pytest.mark.parametrize("algo", ["td3", "sac", "sac-mean"])
def test_fused_acting_equals_the_reference_act(algo, backend):
    """Exploration and behaviour actions, the evaluation action, and the draws."""
    torch.manual_seed(0)
    config = make_config(algo.split("-")[0], backend, "rigl" if backend == "sparse" else "dense")
    if algo == "sac-mean":
        config = dataclasses.replace(
            config, sac=dataclasses.replace(config.sac, collect_with_mean=True)
        )
    agent, _ = build_agent(config, SPEC)
    obs = np.random.default_rng(1).normal(size=(5, SPEC.obs_dim)).astype(np.float32)
    for o in obs:
        fused, reference = both_paths(agent, lambda a, o=o: a.act(o), seed=3)
        for f, r in zip(fused, reference, strict=True):
            assert f.dtype == r.dtype == np.float32 and f.shape == r.shape == (SPEC.act_dim,)
            np.testing.assert_allclose(f, r, rtol=1e-5, atol=1e-6)
        assert np.all(fused[0] >= SPEC.low) and np.all(fused[0] <= SPEC.high)
        fused, reference = both_paths(agent, lambda a, o=o: a.act_deterministic(o), seed=3)
        np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- many updates


def three_agents(algo, method, **sparse):
    """masked, sparse on autograd, sparse fused: the same seed, weights and masks."""
    masked, fused = twin_agents(algo, method, **sparse)
    torch.manual_seed(0)
    autograd, _ = build_agent(
        make_config(algo, "sparse", method, reset_moments=True, **sparse), SPEC
    )
    autograd.fused = None
    return {"masked": masked, "autograd": autograd, "fused": fused}


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("method", ["ss", "set", "rigl"])
def test_fused_updates_track_both_references_through_topology_updates_and_n_steps(algo, method):
    """16 updates: 1-step windows, then 3-step ones; for SET and RigL a topology update every
    3 network updates (ΔT not a multiple of TD3's policy delay; grown weights' moments reset,
    the sparse backend's only mode), for SS none. Losses, gradients at the active positions,
    parameters, targets and chosen connections agree after every update."""
    agents = three_agents(algo, method, topology_interval=3, drop_fraction=0.5)
    for i in range(16):
        metrics = update_side_by_side(agents, i, batch_seed=100, seed=1000)
        for name in ("masked", "autograd"):
            assert metrics[name].keys() == metrics["fused"].keys()
            for key, value in metrics[name].items():
                torch.testing.assert_close(
                    metrics["fused"][key], value, rtol=1e-4, atol=1e-5, msg=f"{key} {i}"
                )
        masked, autograd, fused = agents["masked"], agents["autograd"], agents["fused"]
        for net in ("actor", "critic"):
            masks = masked.updaters()[net].masks.masks
            for other in (autograd, fused):
                assert all(
                    torch.equal(a, b)
                    for a, b in zip(masks, other.updaters()[net].masks.masks, strict=True)
                ), f"{net} connections differ after update {i + 1}"
                assert other.updaters()[net].stats() == masked.updaters()[net].stats()
            assert_networks_match(getattr(masked, net), getattr(fused, net), masks, atol=1e-5)
            updater = masked.updaters()[net]
            stepped = net == "critic" or algo == "sac" or (i + 1) % 2 == 0  # TD3's delay
            if stepped and not updater.is_topology_update(updater.updates):
                # (after a topology update the gradients belong to the previous masks)
                core = sparse_core(getattr(fused, net))
                grad_values, grad_bias = masked_active(getattr(masked, net), masks, grad=True)
                torch.testing.assert_close(core.values.grad, grad_values, rtol=1e-3, atol=1e-5)
                torch.testing.assert_close(core.bias.grad, grad_bias, rtol=1e-3, atol=1e-5)
        for name, target in masked.networks().items():
            if name.endswith("_target"):
                masks = masked.updaters()[name.removesuffix("_target")].masks.masks
                assert_networks_match(target, fused.networks()[name], masks, atol=1e-5)
    for net in ("actor", "critic"):
        made = agents["fused"].updaters()[net].topology_updates
        assert made == 0 if method == "ss" else made >= 2
    if algo == "sac":
        torch.testing.assert_close(
            agents["fused"].log_alpha, agents["masked"].log_alpha, rtol=1e-5, atol=1e-6
        )


# ---------------------------------------------------------------- dense and masked: fused Adam


def tensors(tree, path=""):
    """{path: tensor} of every tensor in a nested state dict (the optimisers' per-parameter
    state included, their param_groups' options left out: those name the implementation)."""
    if isinstance(tree, torch.Tensor):
        return {path: tree}
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list | tuple):
        items = enumerate(tree)
    else:
        return {}
    out = {}
    for key, value in items:
        if key != "param_groups":
            out.update(tensors(value, f"{path}.{key}"))
    return out


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize(
    "backend, method, reset_moments",
    [("dense", "dense", True), ("masked", "ss", True), ("masked", "rigl", True),
     ("masked", "rigl", False), ("masked", "set", False)],
)  # fmt: skip
def test_fused_adam_updates_equal_torch_adams_per_tensor_loop(
    algo, backend, method, reset_moments, monkeypatch
):
    """The dense backend trains with LeanAdam on a CPU, the masked one with torch's fused Adam
    (one kernel per network); the same agent built with torch's per-tensor Adam loop from the same seed must reach the
    same losses, parameters, targets, Adam moments and connections over 12 updates (1-step
    then 3-step windows; for SET and RigL a topology update every 3 network updates, grown
    moments reset or kept)."""
    from rlx2.train import builders

    sparse = {} if method in ("dense", "ss") else dict(topology_interval=3, drop_fraction=0.5)
    optimizers = {
        "fused": builders.optimizer_for(backend, "cpu"),
        "loop": lambda params, **kw: torch.optim.Adam(params, foreach=False, fused=False, **kw),
    }
    agents = {}
    for name, optimizer in optimizers.items():
        monkeypatch.setattr(builders, "optimizer_for", lambda *_, opt=optimizer: opt)
        torch.manual_seed(0)
        config = make_config(algo, backend, method, reset_moments=reset_moments, **sparse)
        agents[name] = build_agent(config, SPEC)[0]
    # The path under test: LeanAdam for dense on a CPU, torch's fused Adam for masked.
    opt = agents["fused"].critic_opt
    assert isinstance(opt, LeanAdam) if backend == "dense" else opt.defaults["fused"]
    assert not agents["loop"].critic_opt.defaults["fused"]
    for i in range(12):
        metrics = update_side_by_side(agents, i, batch_seed=200, seed=2000)
        assert metrics["fused"].keys() == metrics["loop"].keys()
        for key, value in metrics["loop"].items():
            torch.testing.assert_close(
                metrics["fused"][key], value, rtol=1e-5, atol=1e-6, msg=f"{key} {i}"
            )
        fused, loop = (tensors(agents[n].state_dict()) for n in ("fused", "loop"))
        if backend == "dense":  # LeanAdam counts steps in floats, not tensors
            steps = {k: v for k, v in loop.items() if k.endswith(".step")}
            lean = agents["fused"].state_dict()["optimizers"]
            for key, value in steps.items():
                _, _, opt, _, index, _ = key.split(".")
                assert lean[opt]["state"][int(index)]["step"] == float(value), key
                del loop[key]
        assert fused.keys() == loop.keys()
        for key, value in loop.items():
            if value.dtype == torch.bool:  # masks: the same connections
                assert torch.equal(fused[key], value), f"{key} after update {i + 1}"
            else:
                torch.testing.assert_close(
                    fused[key].float(), value.float(), rtol=1e-4, atol=1e-6,
                    msg=f"{key} after update {i + 1}",
                )  # fmt: skip
    if method in ("set", "rigl"):
        assert agents["fused"].updaters()["critic"].topology_updates >= 2
