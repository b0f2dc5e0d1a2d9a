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
    head = network_heads(agent.actor)[0]
    x = torch.randn(5, SPEC.obs_dim)
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    h1 = torch.relu(x @ linears[0].weight.T + linears[0].bias)
    h2 = torch.relu(h1 @ linears[1].weight.T + linears[1].bias)
    got = hidden_activations(head, x)
    torch.testing.assert_close(got[0], h1)
    torch.testing.assert_close(got[1], h2)
    assert len(network_heads(agent.critic)) == 2


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
