"""TD3 and SAC targets and losses against hand-computed values (spec §1, §5)."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rlx2.algos.sac import SAC
from rlx2.algos.td3 import TD3
from rlx2.config import AgentConfig, SACConfig, TD3Config
from rlx2.value.replay import Batch

OBS, ACT = 3, 2
LOW, HIGH = np.array([-1.0, -2.0], dtype=np.float32), np.array([1.0, 2.0], dtype=np.float32)


def make_batch(batch=5, n=1, terminated=None, truncated=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    term = (
        torch.zeros(batch, n)
        if terminated is None
        else torch.as_tensor(terminated, dtype=torch.float32).reshape(batch, n)
    )
    trunc = (
        torch.zeros(batch, n)
        if truncated is None
        else torch.as_tensor(truncated, dtype=torch.float32).reshape(batch, n)
    )
    return Batch(
        obs=torch.randn(batch, OBS, generator=g),
        actions=torch.rand(batch, ACT, generator=g) * 2 - 1,
        rewards=torch.randn(batch, n, generator=g),
        next_obs=torch.randn(batch, n, OBS, generator=g),
        terminated=term,
        truncated=trunc,
    )


def td3(**kwargs):
    return TD3(OBS, ACT, LOW, HIGH, AgentConfig(hidden=16, gamma=0.9), TD3Config(**kwargs))


def sac():
    return SAC(OBS, ACT, LOW, HIGH, AgentConfig(hidden=16, gamma=0.9), SACConfig())


def test_td3_one_step_target_bootstraps_on_truncation_but_not_termination():
    agent = td3()
    batch = make_batch(batch=4, terminated=[0, 1, 0, 1], truncated=[0, 0, 1, 1])
    values = torch.tensor([10.0, 20.0, 30.0, 40.0])
    agent.bootstrap_value = lambda next_obs: values  # isolate the target arithmetic
    r = batch.rewards[:, 0]
    expected = torch.stack(
        [r[0] + 0.9 * 10.0, r[1], r[2] + 0.9 * 30.0, r[3]]
    )  # both flags -> terminated
    torch.testing.assert_close(agent.td_target(batch), expected)


def test_td3_bootstrap_value_is_min_target_q_at_clipped_smoothed_target_action():
    agent = td3(policy_noise=0.2, noise_clip=0.5)
    next_obs = torch.randn(64, OBS)
    torch.manual_seed(7)
    got = agent.bootstrap_value(next_obs)
    torch.manual_seed(7)
    scale = torch.tensor([1.0, 2.0])
    noise = torch.randn(64, ACT) * 0.2 * scale
    noise = torch.max(torch.min(noise, 0.5 * scale), -0.5 * scale)
    action = agent.actor_target(next_obs) + noise
    action = torch.max(torch.min(action, torch.tensor(HIGH)), torch.tensor(LOW))
    q1, q2 = agent.critic_target(next_obs, action)
    torch.testing.assert_close(got, torch.min(q1, q2))


def test_td3_critic_loss_and_delayed_actor_update():
    agent = td3()
    batch = make_batch(batch=8)
    torch.manual_seed(3)
    target = agent.td_target(batch)
    q1, q2 = agent.critic(batch.obs, batch.actions)
    expected_critic = (F.mse_loss(q1, target) + F.mse_loss(q2, target)).item()
    expected_actor_first = -agent.critic.q1_value(batch.obs, agent.actor(batch.obs)).mean().item()
    actor_before = [p.detach().clone() for p in agent.actor.parameters()]
    target_before = [p.detach().clone() for p in agent.critic_target.parameters()]
    torch.manual_seed(3)
    metrics = agent.update(batch)  # update 1: critic only (policy delay 2)
    assert metrics["loss/critic"].item() == pytest.approx(expected_critic, rel=1e-5)
    assert "loss/actor" not in metrics
    assert all(
        torch.equal(a, b) for a, b in zip(actor_before, agent.actor.parameters(), strict=True)
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(target_before, agent.critic_target.parameters(), strict=True)
    )
    expected_actor = -agent.critic.q1_value(batch.obs, agent.actor(batch.obs)).mean().item()
    metrics = agent.update(
        batch
    )  # update 2: critic, then actor on the updated critic, then targets
    assert metrics["loss/actor"].item() != pytest.approx(expected_actor_first)
    assert not all(
        torch.equal(a, b) for a, b in zip(actor_before, agent.actor.parameters(), strict=True)
    )
    # Polyak: target moved by tau towards the online critic
    for before, online, after in zip(
        target_before, agent.critic.parameters(), agent.critic_target.parameters(), strict=True
    ):
        torch.testing.assert_close(after, 0.995 * before + 0.005 * online.detach())
    assert np.isfinite(expected_actor)


def test_td3_actor_loss_leaves_no_gradient_on_the_critic():
    """After an update with an actor step, critic .grad is exactly the critic loss's gradient."""
    import copy

    agent = td3(policy_delay=1)
    reference = copy.deepcopy(agent)
    batch = make_batch(batch=8)
    torch.manual_seed(4)
    agent.update(batch)
    torch.manual_seed(4)
    target = reference.td_target(batch)
    q1, q2 = reference.critic(batch.obs, batch.actions)
    (F.mse_loss(q1, target) + F.mse_loss(q2, target)).backward()
    for got, expected in zip(agent.critic.parameters(), reference.critic.parameters(), strict=True):
        torch.testing.assert_close(got.grad, expected.grad)


def test_td3_exploration_action_in_bounds_and_behaviour_is_deterministic():
    agent = td3(exploration_noise=5.0)
    obs = np.ones(OBS, dtype=np.float32)
    action, behaviour = agent.act(obs)
    assert np.all(action >= LOW) and np.all(action <= HIGH)
    np.testing.assert_allclose(behaviour, agent.act_deterministic(obs))


def sac_reference_target(agent: SAC, batch: Batch, gamma: float) -> torch.Tensor:
    """Textbook SAC: r + γ (1 − d) (min Q'(s', a') − α log π(a'|s')), a' ~ π(s')."""
    next_obs = batch.next_obs[:, 0]
    action, log_prob = agent.actor.sample(next_obs)
    q1, q2 = agent.critic_target(next_obs, action)
    soft = torch.min(q1, q2) - agent.alpha * log_prob
    return batch.rewards[:, 0] + gamma * (1 - batch.terminated[:, 0]) * soft


def test_sac_one_step_target_is_standard_sac():
    agent = sac()
    with torch.no_grad():
        agent.log_alpha.fill_(np.log(0.3))
    batch = make_batch(batch=6, terminated=[0, 1, 0, 0, 1, 0], truncated=[0, 0, 1, 0, 1, 0])
    torch.manual_seed(11)
    got = agent.td_target(batch)
    torch.manual_seed(11)
    with torch.no_grad():
        expected = sac_reference_target(agent, batch, 0.9)
    torch.testing.assert_close(got, expected)


def test_sac_soft_n_step_target_by_hand():
    """n = 3, window 0 runs through, window 1 terminates at k=1, window 2 is truncated at k=0."""
    agent = sac()
    with torch.no_grad():
        agent.log_alpha.fill_(np.log(0.5))
    term = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    trunc = [[0, 0, 0], [0, 0, 0], [1, 0, 0]]
    batch = make_batch(batch=3, n=3, terminated=term, truncated=trunc)
    torch.manual_seed(5)
    got = agent.td_target(batch)
    torch.manual_seed(5)
    with torch.no_grad():
        action, log_prob = agent.actor.sample(batch.next_obs.reshape(9, OBS))
        action, log_prob = action.view(3, 3, ACT), log_prob.view(3, 3)

        def soft_v(b, k):
            q1, q2 = agent.critic_target(batch.next_obs[b, k][None], action[b, k][None])
            return (torch.min(q1, q2) - 0.5 * log_prob[b, k])[0]

        g, r, lp = 0.9, batch.rewards, log_prob
        y0 = (
            r[0, 0]
            + g * (r[0, 1] - 0.5 * lp[0, 0])
            + g**2 * (r[0, 2] - 0.5 * lp[0, 1])
            + g**3 * soft_v(0, 2)
        )
        y1 = r[1, 0] + g * (
            r[1, 1] - 0.5 * lp[1, 0]
        )  # terminal at k=1: no bootstrap, no bonus there
        y2 = r[2, 0] + g * soft_v(2, 0)
    torch.testing.assert_close(got, torch.stack([y0, y1, y2]))


def test_sac_update_losses_and_alpha_moves_towards_target_entropy():
    agent = sac()
    batch = make_batch(batch=32)
    alpha_before = agent.alpha.item()
    for _ in range(3):
        metrics = agent.update(batch)
    assert set(metrics) >= {"loss/critic", "loss/actor", "loss/alpha", "alpha", "entropy"}
    assert all(torch.isfinite(v) for v in metrics.values())
    # entropy of a fresh tanh-Gaussian in 2-D is above −|A| = −2, so α must shrink
    assert agent.alpha.item() < alpha_before


def test_sac_collects_samples_or_mean_and_stores_the_mean_as_behaviour():
    agent = sac()
    obs = np.zeros(OBS, dtype=np.float32)
    action, behaviour = agent.act(obs)
    np.testing.assert_allclose(behaviour, agent.act_deterministic(obs))
    assert not np.allclose(action, behaviour)
    mean_agent = SAC(OBS, ACT, LOW, HIGH, AgentConfig(hidden=16), SACConfig(collect_with_mean=True))
    action, behaviour = mean_agent.act(obs)
    np.testing.assert_allclose(action, behaviour)
