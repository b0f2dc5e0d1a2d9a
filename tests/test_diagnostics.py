"""Sparse-RL diagnostics (issue 13 §3): the pure maths against brute-force loops, the network
readers on both storages, and topology exploration tracked by the updater."""

import math

import numpy as np
import pytest
import torch
from test_backend import SPEC, batches, make_config, twin_agents, update_both

from rlx2.train.builders import build_agent
from rlx2.train.diagnostics import (
    comparable_steps,
    dormant_fractions,
    hidden_activations,
    horizon,
    network_dormant_fractions,
    network_heads,
    q_bias,
    returns_to_go,
)


def test_returns_to_go_against_a_double_loop():
    rng = np.random.default_rng(0)
    for length in (1, 2, 17):
        rewards = rng.normal(size=length)
        expected = [
            sum(0.9 ** (k - t) * rewards[k] for k in range(t, length)) for t in range(length)
        ]
        np.testing.assert_allclose(returns_to_go(rewards, 0.9), expected, rtol=1e-12)


def test_only_states_far_from_a_time_limit_cut_are_compared():
    h = horizon(0.99)
    assert 0.99**h <= 0.01 < 0.99 ** (h - 1)
    valid = comparable_steps(1000, truncated=True, gamma=0.99)
    assert valid[: 1000 - h].all() and not valid[1000 - h :].any()
    assert comparable_steps(30, truncated=False, gamma=0.99).all()
    assert not comparable_steps(30, truncated=True, gamma=0.99).any()


def test_q_bias_is_the_mean_gap():
    q, g = np.array([1.0, 3.0, -2.0]), np.array([0.0, 1.0, -4.0])
    result = q_bias(q, g)
    assert result["q_bias"] == pytest.approx((1 + 2 + 2) / 3)
    assert result["q_bias_relative"] == pytest.approx((5 / 3) / (5 / 3))
    assert result["q_bias_states"] == 3
    assert math.isnan(q_bias(np.array([]), np.array([]))["q_bias"])


def test_dormant_fraction_against_a_loop_over_neurons():
    torch.manual_seed(0)
    h = torch.relu(torch.randn(64, 10))
    h[:, 3] = 0.0  # a dead neuron
    h[:, 7] *= 0.01  # a nearly dead one
    for tau in (0.0, 0.025, 0.1, 0.5):
        means = [float(h[:, i].abs().mean()) for i in range(10)]
        layer = sum(means) / 10
        expected = sum(1 for m in means if m / layer <= tau) / 10
        assert dormant_fractions([h], tau) == [pytest.approx(expected)]
    assert dormant_fractions([torch.zeros(4, 3)], 0.1) == [1.0]


def test_hidden_activations_are_the_relu_outputs():
    torch.manual_seed(0)
    agent, _ = build_agent(make_config("td3", "masked"), SPEC)
    linears = [m for m in agent.actor.net if isinstance(m, torch.nn.Linear)]
    x = torch.randn(5, SPEC.obs_dim)
    h1 = torch.relu(x @ linears[0].weight.T + linears[0].bias)
    h2 = torch.relu(h1 @ linears[1].weight.T + linears[1].bias)
    got = hidden_activations(network_heads(agent.actor)[0], x)
    torch.testing.assert_close(got[0], h1)
    torch.testing.assert_close(got[1], h2)
    assert len(network_heads(agent.critic)) == 2


def test_reading_a_network_draws_no_random_number():
    torch.manual_seed(0)
    agent, _ = build_agent(make_config("td3", "sparse"), SPEC)
    state = torch.get_rng_state()
    network_dormant_fractions(agent.critic, torch.randn(4, SPEC.obs_dim + SPEC.act_dim), 0.1)
    torch.set_rng_state(state)  # the randn above drew; what follows must not
    before = torch.get_rng_state()
    network_heads(agent.critic)
    network_heads(agent.actor)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_dormant_fractions_agree_between_storages(algo):
    masked, sparse = twin_agents(algo)
    for i, batch in enumerate(batches(3)):
        update_both((masked, sparse), batch, seed=i)
    obs = torch.randn(128, SPEC.obs_dim)
    x = torch.cat([obs, torch.rand(128, SPEC.act_dim)], dim=1)
    for tau in (0.1, 0.5):
        assert network_dormant_fractions(masked.actor, obs, tau) == pytest.approx(
            network_dormant_fractions(sparse.actor, obs, tau)
        )
        critic = network_dormant_fractions(masked.critic, x, tau)
        assert len(critic) == 4  # two hidden layers per head
        assert critic == pytest.approx(network_dormant_fractions(sparse.critic, x, tau))


@pytest.mark.parametrize("backend", ["masked", "sparse"])
def test_ever_active_is_the_union_of_every_mask_held(backend):
    torch.manual_seed(0)
    agent, _ = build_agent(make_config("td3", backend, "set", topology_interval=2), SPEC)
    updater = agent.critic_updater
    union = [m.clone() for m in updater.masks.masks]
    for batch in batches(12):
        agent.update(batch)
        union = [u | m for u, m in zip(union, updater.masks.masks, strict=True)]
    assert all(torch.equal(u, e) for u, e in zip(union, updater.ever_active, strict=True))
    fractions = updater.ever_active_fractions()
    densities = [1 - s for s in layer_sparsities(updater)]
    assert all(f >= d for f, d in zip(fractions, densities, strict=True))
    assert any(f > d for f, d in zip(fractions, densities, strict=True))  # SET explored
    state = updater.state_dict()
    torch.manual_seed(0)
    twin, _ = build_agent(make_config("td3", backend, "set", topology_interval=2), SPEC)
    twin.load_state_dict(agent.state_dict())
    assert twin.critic_updater.ever_active_fractions() == fractions
    assert len(state["ever_active"]) == len(union)


def layer_sparsities(updater):
    return [
        1 - n / t
        for n, t in zip(updater.masks.num_active(), updater.masks.num_weights(), strict=True)
    ]


def _train(tmp_path, name, *extra):
    from rlx2.cli import main

    run_dir = tmp_path / name
    main([
        "train", "--env", "Pendulum-v1", "--method", "set", "--actor-sparsity", "0.8",
        "--critic-sparsity", "0.8", "--topology-interval", "50", "--total-steps", "900",
        "--learning-starts", "300", "--batch-size", "32", "--hidden", "16",
        "--eval-every", "300", "--eval-episodes", "1", "--quiet", "--run-dir", str(run_dir),
        *extra,
    ])  # fmt: skip
    return run_dir


def test_diagnostics_are_logged_and_change_nothing(tmp_path):
    import csv
    import json

    with_diag = _train(tmp_path, "on")
    without = _train(tmp_path, "off", "--no-diagnostics")
    rows = list(csv.DictReader(open(with_diag / "evaluations.csv")))
    plain = list(csv.DictReader(open(without / "evaluations.csv")))
    assert "q_bias" not in plain[0] and "dormant_critic" in rows[0]
    # The same training trajectory: diagnostics read, they never draw a random number.
    assert [r["return_mean"] for r in rows] == [r["return_mean"] for r in plain]
    for row in rows:
        assert 0.0 <= float(row["dormant_actor"]) <= 1.0
        assert 0.0 <= float(row["dormant_critic"]) <= 1.0
        # Pendulum episodes are cut at 200 steps: fewer than the 459-step horizon, no state
        # is comparable, so the bias is reported as unknown rather than made up.
        assert row["q_bias"] == "nan"
    explored = [float(row["ever_active_critic"]) for row in rows]
    # Starts at the critic's density (20 %, up to ER rounding), never shrinks, and grows
    # because SET activates connections that were never active before.
    assert explored[0] == pytest.approx(0.2, abs=0.01)
    assert explored == sorted(explored) and explored[-1] > explored[0] + 0.01
    summary = json.loads((with_diag / "summary.json").read_text())
    assert summary["diagnostics"]["dormant_critic"] == float(rows[-1]["dormant_critic"])
    assert summary["diagnostics_time_s"] > 0
    assert json.loads((without / "summary.json").read_text())["diagnostics"] is None
