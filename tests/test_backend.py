"""The sparse execution backend against the masked reference (issue: sparse backend for TD3/SAC).

Same seed, same masks: the sparse backend's losses, active gradients and parameters after an
update equal the masked backend's (float tolerance), topology updates pick the same
connections, and counts, zeros, summaries and checkpoints work the same way.
"""

import copy
import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from helpers import FAST, assert_one_line_error, run_cli
from torch import nn

from rlx2.cli import main
from rlx2.config import (
    AgentConfig,
    RunConfig,
    SparseConfig,
    TrainConfig,
    config_from_dict,
)
from rlx2.errors import ConfigError
from rlx2.sparse.csr_updater import CSRUpdater
from rlx2.sparse.kernels import SparseMLP, weight_matrices
from rlx2.sparse.masks import linear_weights
from rlx2.sparse_nets import (
    SparseDeterministicActor,
    SparseGaussianActor,
    SparseTwinCritic,
    sparse_core,
)
from rlx2.train.builders import build_agent
from rlx2.train.envs import EnvSpec
from rlx2.value.replay import ReplayBuffer

SPEC = EnvSpec(
    env_id="toy",
    obs_dim=5,
    act_dim=2,
    low=np.array([-1.0, -2.0], dtype=np.float32),
    high=np.array([1.0, 0.5], dtype=np.float32),
    max_episode_steps=None,
)
BATCH = 32


def make_config(algo, backend, method="rigl", seed=0, **sparse):
    sparse.setdefault("actor_sparsity", 0.8)
    sparse.setdefault("critic_sparsity", 0.7)
    return TrainConfig(
        env="toy",
        algo=algo,
        run=RunConfig(total_steps=5_000, learning_starts=256, backend=backend, seed=seed),
        agent=AgentConfig(hidden=24, batch_size=BATCH),
        sparse=SparseConfig(method=method, **sparse),
    )


def twin_agents(algo, method="rigl", **sparse):
    """(masked, sparse) agents from the same seed: same initial weights and masks. The masked
    one resets the moments of grown weights, as the sparse backend always does."""
    agents = []
    for backend in ("masked", "sparse"):
        torch.manual_seed(0)
        config = make_config(algo, backend, method, reset_moments=True, **sparse)
        agents.append(build_agent(config, SPEC)[0])
    return agents


def batches(count, nstep=1, seed=0):
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(SPEC.obs_dim, SPEC.act_dim, capacity=500, seed=seed)
    for _ in range(500):
        action = rng.uniform(SPEC.low, SPEC.high)
        buffer.add(
            rng.normal(size=SPEC.obs_dim),
            action,
            rng.normal(),
            rng.normal(size=SPEC.obs_dim),
            bool(rng.random() < 0.05),
            bool(rng.random() < 0.02),
            action,
        )
    return [buffer.sample(BATCH, nstep) for _ in range(count)]


def linear_biases(module):
    return [m.bias for m in module.modules() if isinstance(m, nn.Linear)]


def masked_active(module, masks, grad=False):
    """Active weights (or their gradients) of a masked network in the sparse slot order, and
    its biases: slots run over layers, then rows, then columns, as a mask's True entries."""
    weights = [w.grad if grad else w for w in linear_weights(module)]
    biases = [b.grad if grad else b for b in linear_biases(module)]
    values = torch.cat([w.detach()[m] for w, m in zip(weights, masks, strict=True)])
    return values, torch.cat([b.detach() for b in biases])


def assert_networks_match(masked_net, sparse_net, masks, atol=2e-6):
    values, bias = masked_active(masked_net, masks)
    core = sparse_core(sparse_net)
    torch.testing.assert_close(core.values.detach(), values, atol=atol, rtol=1e-5)
    torch.testing.assert_close(core.bias.detach(), bias, atol=atol, rtol=1e-5)


def update_both(agents, batch, seed):
    """One update of each agent from the same generator state (target noise, SAC samples)."""
    metrics = []
    for agent in agents:
        torch.manual_seed(seed)
        metrics.append(agent.update(batch))
    return metrics


# ---------------------------------------------------------------- equivalence


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_an_update_matches_the_masked_reference(algo):
    masked, sparse = twin_agents(algo)
    for name in ("actor", "critic"):
        assert isinstance(sparse.updaters()[name], CSRUpdater)
        masks = masked.updaters()[name].masks.masks
        assert all(
            torch.equal(a, b)
            for a, b in zip(masks, sparse.updaters()[name].masks.masks, strict=True)
        )
        assert_networks_match(getattr(masked, name), getattr(sparse, name), masks, atol=0)
    # Two updates: TD3 updates its actor and the targets on the second.
    for i, batch in enumerate(batches(2, nstep=1 if algo == "td3" else 3)):
        m_masked, m_sparse = update_both((masked, sparse), batch, seed=10 + i)
        assert m_masked.keys() == m_sparse.keys()
        for key in m_masked:
            torch.testing.assert_close(m_sparse[key], m_masked[key], rtol=1e-5, atol=1e-6)
        for name in ("actor", "critic"):
            masks = masked.updaters()[name].masks.masks
            net_m, net_s = getattr(masked, name), getattr(sparse, name)
            if sparse_core(net_s).values.grad is not None:  # TD3's actor: every 2nd update
                grad_values, grad_bias = masked_active(net_m, masks, grad=True)
                core = sparse_core(net_s)
                torch.testing.assert_close(core.values.grad, grad_values, rtol=1e-4, atol=1e-6)
                torch.testing.assert_close(core.bias.grad, grad_bias, rtol=1e-4, atol=1e-6)
            assert_networks_match(net_m, net_s, masks)
            # The masked network really is zero where inactive.
            for w, m in zip(linear_weights(net_m), masks, strict=True):
                assert torch.all(w[~m] == 0)
        for name, target_m in masked.networks().items():
            if name.endswith("_target"):
                masks = masked.updaters()[name.removesuffix("_target")].masks.masks
                assert_networks_match(target_m, sparse.networks()[name], masks)
    if algo == "sac":
        torch.testing.assert_close(sparse.log_alpha, masked.log_alpha, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("method", ["set", "rigl"])
def test_topology_updates_pick_the_same_connections(algo, method):
    # ΔT = 2 updates per network: several topology updates within a few iterations.
    masked, sparse = twin_agents(algo, method, topology_interval=2, drop_fraction=0.5)
    for i, batch in enumerate(batches(12)):
        update_both((masked, sparse), batch, seed=100 + i)
        for name in ("actor", "critic"):
            u_masked, u_sparse = masked.updaters()[name], sparse.updaters()[name]
            masks = u_masked.masks.masks
            assert all(
                torch.equal(a, b) for a, b in zip(masks, u_sparse.masks.masks, strict=True)
            ), f"{name} masks differ after update {i + 1}"
            assert u_sparse.stats() == u_masked.stats()
            assert_networks_match(getattr(masked, name), getattr(sparse, name), masks, atol=1e-5)
    for name in ("actor", "critic"):
        assert sparse.updaters()[name].topology_updates >= 2
        assert sparse.updaters()[name].connections_changed > 0


def dense_of(core: SparseMLP, per_slot: torch.Tensor) -> list[torch.Tensor]:
    """A per-slot tensor (values, a moment) as dense [out, in] matrices, 0 where inactive."""
    out = []
    for mask, (s0, s1) in zip(core.masks(), core.layout.layer_slots, strict=True):
        dense = torch.zeros(mask.shape, dtype=per_slot.dtype)
        dense[mask] = per_slot[s0:s1]
        out.append(dense)
    return out


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("method", ["ss", "set", "rigl"])
def test_counts_stay_exact_and_targets_follow_the_structure(algo, method):
    torch.manual_seed(0)
    agent, _ = build_agent(make_config(algo, "sparse", method, topology_interval=3), SPEC)
    optimizers = {"actor": agent.actor_opt, "critic": agent.critic_opt}
    counts = {name: u.masks.num_active() for name, u in agent.updaters().items()}
    for batch in batches(40, nstep=2):
        before = {name: u.masks.masks for name, u in agent.updaters().items()}
        agent.update(batch)
        for name, updater in agent.updaters().items():
            core = sparse_core(getattr(agent, name))
            masks = updater.masks.masks
            assert updater.masks.num_active() == counts[name]
            assert [int(m.sum()) for m in masks] == counts[name]
            for w, m in zip(weight_matrices(getattr(agent, name)), masks, strict=True):
                assert torch.all(w[~m] == 0)
            target = agent.networks().get(f"{name}_target")
            if target is not None:  # the same structure, so Polyak averages matching slots
                target_core = sparse_core(target)
                assert all(
                    torch.equal(a, b) for a, b in zip(target_core.masks(), masks, strict=True)
                )
                for w, m in zip(weight_matrices(target), masks, strict=True):
                    assert torch.all(w[~m] == 0)
            state = optimizers[name].state[core.values]  # empty before the first step
            for key in ("exp_avg", "exp_avg_sq") if state else ():
                assert state[key].shape == core.values.shape  # moments of active weights only
            changed = [new & ~old for new, old in zip(masks, before[name], strict=True)]
            if state and any(c.any() for c in changed):  # a topology update: grown start at 0
                for key in ("exp_avg", "exp_avg_sq"):
                    for moment, grown in zip(dense_of(core, state[key]), changed, strict=True):
                        assert torch.all(moment[grown] == 0)
                for w, grown in zip(core.dense_weights(), changed, strict=True):
                    assert torch.all(w[grown] == 0)
    changed = sum(u.connections_changed for u in agent.updaters().values())
    assert (changed > 0) == (method != "ss")


def test_dense_gradient_is_requested_only_before_a_topology_update():
    torch.manual_seed(0)
    agent, _ = build_agent(make_config("sac", "sparse", topology_interval=4), SPEC)
    critic = sparse_core(agent.critic)
    updater = agent.critic_updater
    for batch in batches(8):
        assert critic.dense_grad_next_backward == updater.next_step_is_topology_update()
        agent.update(batch)
        assert critic.dense_grads is None  # used by the topology step, then dropped
    assert updater.topology_updates == 2
    # SET grows at random: never a dense gradient.
    torch.manual_seed(0)
    agent, _ = build_agent(make_config("sac", "sparse", "set", topology_interval=1), SPEC)
    assert not sparse_core(agent.critic).dense_grad_next_backward


def test_networks_keep_the_algorithms_interfaces():
    torch.manual_seed(0)
    td3, _ = build_agent(make_config("td3", "sparse"), SPEC)
    sac, _ = build_agent(make_config("sac", "sparse"), SPEC)
    assert isinstance(td3.actor, SparseDeterministicActor)
    assert isinstance(td3.critic, SparseTwinCritic)
    assert isinstance(sac.actor, SparseGaussianActor)
    obs = torch.randn(7, SPEC.obs_dim)
    action = td3.actor(obs)
    assert action.shape == (7, SPEC.act_dim)
    assert torch.all(action <= td3.actor.scaling.high) and torch.all(
        action >= td3.actor.scaling.low
    )
    q1, q2 = td3.critic(obs, action)
    assert q1.shape == q2.shape == (7,)
    torch.testing.assert_close(td3.critic.q1_value(obs, action), q1)
    mean, log_std = sac.actor.distribution(obs)
    assert mean.shape == log_std.shape == (7, SPEC.act_dim)
    sample, log_prob = sac.actor.sample(obs)
    assert sample.shape == (7, SPEC.act_dim) and log_prob.shape == (7,)
    noisy, behaviour = td3.act(np.zeros(SPEC.obs_dim, dtype=np.float32))
    assert noisy.shape == behaviour.shape == (SPEC.act_dim,)


def test_weight_counts_in_effective_config_match_the_dense_network():
    torch.manual_seed(0)
    _, masked = build_agent(make_config("td3", "masked"), SPEC)
    torch.manual_seed(0)
    _, sparse = build_agent(make_config("td3", "sparse"), SPEC)
    assert sparse["weights"] == masked["weights"]
    assert sparse["backend"] == "sparse" and masked["backend"] == "masked"
    # One meaning on both backends (the default: grown weights start with zero moments).
    assert sparse["reset_moments"] is masked["reset_moments"] is True
    assert "reset_moments_note" not in sparse


def test_stale_moments_are_refused_by_the_sparse_backend_and_steer_auto_to_masked():
    """--no-reset-moments (the reference's stale moments) cannot run on the compact layout:
    an explicit --backend sparse is an error, auto picks masked, and static sparsity (which
    never grows a weight) is unaffected. Before, the sparse backend reset them silently."""
    with pytest.raises(ConfigError, match="--no-reset-moments .* use --backend masked"):
        make_config("td3", "sparse", reset_moments=False)
    assert make_config("td3", "auto", reset_moments=False).effective_backend() == "masked"
    assert make_config("td3", "auto", reset_moments=True).effective_backend() == "sparse"
    assert make_config("td3", "sparse", "ss", reset_moments=False).effective_backend() == "sparse"
    torch.manual_seed(0)
    agent, effective = build_agent(make_config("td3", "masked", reset_moments=False), SPEC)
    assert effective["reset_moments"] is False and agent.critic_updater.reset_moments is False


def test_old_sparse_backend_runs_record_the_moment_reset_that_ran():
    data = dataclasses.asdict(make_config("td3", "sparse"))
    data["sparse"]["reset_moments"] = False  # what such a run's config.json says
    assert config_from_dict(data).sparse.reset_moments is True


@pytest.mark.parametrize("method", ["set", "rigl"])
def test_td3_backends_agree_when_the_topology_interval_is_not_a_multiple_of_the_policy_delay(
    method,
):
    """ΔT = 3 with policy delay 2: a critic topology update on an odd update is followed by a
    critic update that reads the target critic before the next Polyak update. Targets follow
    the online masks at the topology update on both backends, so they still agree (before,
    the masked backend re-masked its targets only at the next Polyak update)."""
    masked, sparse = twin_agents("td3", method, topology_interval=3, drop_fraction=0.5)
    for i, batch in enumerate(batches(14)):
        m_masked, m_sparse = update_both((masked, sparse), batch, seed=300 + i)
        torch.testing.assert_close(
            m_sparse["loss/critic"], m_masked["loss/critic"], rtol=1e-4, atol=1e-5
        )
        for name in ("actor", "critic"):
            masks = masked.updaters()[name].masks.masks
            assert all(
                torch.equal(a, b)
                for a, b in zip(masks, sparse.updaters()[name].masks.masks, strict=True)
            ), f"{name} masks differ after update {i + 1}"
            assert_networks_match(getattr(masked, name), getattr(sparse, name), masks, atol=1e-5)
            target = masked.networks()[f"{name}_target"]
            for w, m in zip(linear_weights(target), masks, strict=True):
                assert torch.all(w[~m] == 0), f"{name} target stale after update {i + 1}"
            assert_networks_match(target, sparse.networks()[f"{name}_target"], masks, atol=1e-5)
    assert masked.critic_updater.topology_updates >= 4


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_continues_identically():
    """Save mid-run, load into a fresh sparse agent: the next updates (across a RigL topology
    update, whose dense gradient must be requested again after loading) are bit-identical."""
    config = make_config("td3", "sparse", topology_interval=3)
    data = batches(20)
    torch.manual_seed(0)
    agent, _ = build_agent(config, SPEC)
    for i in range(7):
        torch.manual_seed(i)
        agent.update(data[i])
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    torch.manual_seed(123)  # another initialisation: everything must come from the checkpoint
    restored, _ = build_agent(config, SPEC)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer, weights_only=False))
    for i in range(7, 20):
        for a in (agent, restored):
            torch.manual_seed(i)
            a.update(data[i])
    assert agent.critic_updater.topology_updates >= 4
    for name, network in agent.networks().items():
        state, other = network.state_dict(), restored.networks()[name].state_dict()
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, other[key]), f"{name}.{key}"
        for a, b in zip(
            sparse_core(network).masks(),
            sparse_core(restored.networks()[name]).masks(),
            strict=True,
        ):
            assert torch.equal(a, b)
    assert agent.critic_updater.stats() == restored.critic_updater.stats()


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("backend", ["dense", "masked", "sparse"])
def test_target_averaging_follows_the_live_parameters(algo, backend):
    """The algorithms list each target's and network's parameters once (TargetAverager): after
    topology updates and a checkpoint load those lists must still be the networks' own
    parameters, and one averaging step must be target <- 0.995 target + 0.005 online."""
    config = make_config(
        algo, backend, "rigl" if backend != "dense" else "dense", topology_interval=2
    )
    data = batches(6)
    torch.manual_seed(0)
    agent, _ = build_agent(config, SPEC)
    for batch in data[:5]:
        agent.update(batch)
    if backend != "dense":
        assert agent.critic_updater.topology_updates >= 1
    agent.load_state_dict(copy.deepcopy(agent.state_dict()))
    agent.update(data[5])
    networks = agent.networks()
    averagers = getattr(agent, "target_averagers", None) or (agent.target_averager,)
    names = ["critic", "actor"][: len(averagers)]
    for name, average in zip(names, averagers, strict=True):
        target, online = networks[f"{name}_target"], networks[name]
        assert all(a is b for a, b in zip(average.target, target.parameters(), strict=True))
        assert all(a is b for a, b in zip(average.online, online.parameters(), strict=True))
        before = [p.detach().clone() for p in target.parameters()]
        average(0.005)
        for old, new, live in zip(before, target.parameters(), online.parameters(), strict=True):
            torch.testing.assert_close(new, 0.995 * old + 0.005 * live.detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight", [0.005, 0.5, 0.9])
def test_numba_polyak_step_is_torch_lerp(dtype, weight):
    """The CPU path of TargetAverager (``fused_kernels.polyak_lerp``) against torch.lerp_,
    both formulas (w < 0.5 and w >= 0.5), on values of mixed magnitudes."""
    from rlx2.algos.fused_kernels import polyak_lerp

    gen = torch.Generator().manual_seed(3)
    target = torch.randn(1037, generator=gen, dtype=dtype) * torch.logspace(
        -3, 3, 1037, dtype=dtype
    )
    online = torch.randn(1037, generator=gen, dtype=dtype)
    expected = target.clone().lerp_(online, weight)
    polyak_lerp(target.numpy(), online.numpy(), weight)
    torch.testing.assert_close(target, expected)


def test_target_averager_follows_a_parameter_whose_storage_moved():
    """``.double()`` gives the parameters new storage (same Parameter objects): the averager's
    NumPy views must be rebuilt, not keep writing into the old buffers."""
    from rlx2.algos.common import TargetAverager

    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    target = copy.deepcopy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    average = TargetAverager(target, online)
    average(0.5)  # float32, views built
    online.double()
    target.double()
    before = [p.detach().clone() for p in target.parameters()]
    average(0.25)
    for old, new, live in zip(before, target.parameters(), online.parameters(), strict=True):
        assert new.dtype == torch.float64
        torch.testing.assert_close(new, 0.75 * old + 0.25 * live.detach())


def test_updater_rejects_a_state_whose_masks_differ():
    torch.manual_seed(0)
    agent, _ = build_agent(make_config("td3", "sparse", topology_interval=2), SPEC)
    state = copy.deepcopy(agent.critic_updater.state_dict())
    for i, batch in enumerate(batches(4)):
        torch.manual_seed(i)
        agent.update(batch)
    with pytest.raises(Exception, match="masks differ"):
        agent.critic_updater.load_state_dict(state)


def test_configs_without_a_backend_resume_on_the_masked_one():
    """config.json files written before --backend existed ran nn.Linear networks."""
    data = dataclasses.asdict(make_config("td3", "sparse"))
    del data["run"]["backend"]
    assert config_from_dict(data).run.backend == "masked"


# ---------------------------------------------------------------- backend choice and bad input


def test_auto_backend_resolution(monkeypatch):
    from rlx2 import config as config_module

    assert make_config("td3", "auto").effective_backend() == "sparse"
    # Below 50 % sparsity the compact kernels stop paying off (resolve.AUTO_SPARSE_MIN_SPARSITY).
    assert make_config("td3", "auto", critic_sparsity=0.3).effective_backend() == "masked"
    assert make_config("td3", "sparse", critic_sparsity=0.3).effective_backend() == "sparse"
    assert make_config("td3", "auto", method="dense").effective_backend() == "dense"
    assert make_config("td3", "masked", method="dense").effective_backend() == "dense"
    cuda = TrainConfig(
        env="toy",
        run=RunConfig(device="cuda", learning_starts=256),
        sparse=SparseConfig(method="rlx2", actor_sparsity=0.9, critic_sparsity=0.9),
    )
    assert cuda.effective_backend() == "masked"
    monkeypatch.setattr(config_module, "numba_available", lambda: False)
    assert make_config("td3", "auto").effective_backend() == "masked"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--backend", "fast"], "--backend"),
        (["--backend", "sparse", "--device", "cuda"], "--backend sparse runs on the CPU only"),
        (["--backend", "dense"], "--backend dense cannot run --method rigl"),
        (["--backend", "sparse", "--method", "dense"], "--backend sparse needs a sparse method"),
    ],
)
def test_bad_backend_exits_2_with_one_line(args, needle, capsys, tmp_path):
    sparse = ["--method", "rigl", "--actor-sparsity", "0.9", "--critic-sparsity", "0.9"]
    code, err = run_cli(
        ["train", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "run"), *sparse, *args],
        capsys,
    )
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_sparse_without_numba_exits_2(monkeypatch, capsys, tmp_path):
    from rlx2 import config as config_module

    monkeypatch.setattr(config_module, "numba_available", lambda: False)
    code, err = run_cli(["train", "--backend", "sparse", "--method", "rigl"], capsys)
    assert_one_line_error(code, err, "needs numba")


# ---------------------------------------------------------------- rlx2 train end to end


def train_run(tmp_path, backend, algo="td3"):
    run_dir = tmp_path / backend
    main(
        [
            "train",
            "--env",
            "Pendulum-v1",
            "--algo",
            algo,
            "--method",
            "rlx2",
            "--actor-sparsity",
            "0.8",
            "--critic-sparsity",
            "0.7",
            "--total-steps",
            "700",
            "--eval-every",
            "350",
            "--topology-interval",
            "60",
            "--distance-samples",
            "64",
            "--backend",
            backend,
            "--run-dir",
            str(run_dir),
            *FAST,
        ]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    return summary, config


def key_tree(value):
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    return type(value).__name__ if value is None else "value"


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_train_writes_the_same_summary_fields_with_either_backend(tmp_path, algo, capsys):
    masked, masked_config = train_run(tmp_path, "masked", algo)
    sparse, sparse_config = train_run(tmp_path, "sparse", algo)
    assert key_tree(sparse) == key_tree(masked)
    assert sparse["backend"] == "sparse" and masked["backend"] == "masked"
    assert sparse_config["effective"]["backend"] == "sparse"
    assert (
        sparse_config["config"]["run"]["backend"] == "sparse"
    )  # resume rebuilds the same networks
    assert sparse_config["effective"]["reset_moments"] is True
    for key in sparse:
        if key.endswith("_sparsity"):  # counted from the final weights
            assert sparse[key] == pytest.approx(masked[key], abs=0.01), key
    assert (
        sparse["topology"]["critic"]["topology_updates"]
        == masked["topology"]["critic"]["topology_updates"]
    )
    assert sparse["topology"]["critic"]["sparsity"] == masked["topology"]["critic"]["sparsity"]
