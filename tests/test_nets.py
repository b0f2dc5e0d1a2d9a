import math

import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import AffineTransform, TanhTransform

from rlx2.nets import DeterministicActor, GaussianActor, TwinCritic, squashed_gaussian_log_prob


@pytest.mark.parametrize("low,high", [(-1.0, 1.0), (-2.0, 2.0), (-0.5, 3.0)])
def test_squashed_gaussian_log_prob_matches_torch_distributions(low, high):
    torch.manual_seed(1)
    batch, act = 64, 3
    mean, log_std = torch.randn(batch, act), torch.rand(batch, act) * 3 - 2
    pre_tanh = mean + log_std.exp() * torch.randn(batch, act)
    lo, hi = torch.full((act,), low), torch.full((act,), high)
    scale, bias = (hi - lo) / 2, (hi + lo) / 2
    reference = TransformedDistribution(
        Normal(mean, log_std.exp()), [TanhTransform(cache_size=1), AffineTransform(bias, scale)]
    )
    action = torch.tanh(pre_tanh) * scale + bias
    expected = reference.log_prob(action).sum(-1)
    got = squashed_gaussian_log_prob(pre_tanh, mean, log_std, scale)
    # TanhTransform's inverse loses precision near ±1; compare where |tanh| is not saturated
    ok = torch.tanh(pre_tanh).abs().max(-1).values < 0.999
    assert ok.sum() > batch // 2
    torch.testing.assert_close(got[ok], expected[ok], rtol=1e-4, atol=1e-4)


def test_gaussian_actor_sample_and_mean_respect_bounds_and_log_std_range():
    torch.manual_seed(0)
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    actor = GaussianActor(5, 2, 32, low, high, log_std_min=-5, log_std_max=2)
    obs = torch.randn(256, 5) * 10
    action, log_prob = actor.sample(obs)
    assert action.shape == (256, 2) and log_prob.shape == (256,)
    assert torch.all(action >= low) and torch.all(action <= high)
    assert torch.all(actor(obs) >= low) and torch.all(actor(obs) <= high)
    _, log_std = actor.distribution(obs)
    assert log_std.min() >= -5 and log_std.max() <= 2


def test_deterministic_actor_maps_tanh_onto_box_and_critic_heads_are_independent():
    actor = DeterministicActor(3, 2, 16, torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 4.0]))
    out = actor(torch.randn(100, 3) * 100)  # saturated tanh reaches the bounds
    assert torch.all(out[:, 1] >= 2.0) and torch.all(out[:, 1] <= 4.0)
    critic = TwinCritic(3, 2, 16)
    q1, q2 = critic(torch.randn(4, 3), torch.randn(4, 2))
    assert q1.shape == q2.shape == (4,) and not torch.allclose(q1, q2)
    assert math.isclose(
        float(critic.q1_value(torch.zeros(1, 3), torch.zeros(1, 2)).detach()),
        float(critic(torch.zeros(1, 3), torch.zeros(1, 2))[0].detach()),
    )
