"""n-step target (spec §5) against a plain Python loop, plus traceable hand cases."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlx2.targets
from rlx2.errors import ConfigError
from rlx2.value.targets import (
    DelayedNStep,
    n_step_target,
    select_at,
    valid_mask,
    window_end_index,
)


def loop_target(rewards, terminated, truncated, next_values, gamma):
    """Brute force: walk each window, stop at the first episode end (spec §5)."""
    batch, n = len(rewards), len(rewards[0])
    targets = []
    for b in range(batch):
        y = 0.0
        for k in range(n):
            y += gamma**k * rewards[b][k]
            if terminated[b][k]:
                break
            if truncated[b][k] or k == n - 1:
                y += gamma ** (k + 1) * next_values[b][k]
                break
        targets.append(y)
    return targets


flag = st.sampled_from([(0, 0), (1, 0), (0, 1), (1, 1)])
value = st.floats(-10, 10, allow_nan=False)


@st.composite
def windows(draw):
    batch = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    rows = draw(
        st.lists(
            st.lists(st.tuples(value, value, flag), min_size=n, max_size=n),
            min_size=batch,
            max_size=batch,
        )
    )
    gamma = draw(st.floats(0.01, 1.0))
    rewards = [[r for r, _, _ in row] for row in rows]
    values = [[v for _, v, _ in row] for row in rows]
    terminated = [[f[0] for _, _, f in row] for row in rows]
    truncated = [[f[1] for _, _, f in row] for row in rows]
    return rewards, terminated, truncated, values, gamma


@settings(max_examples=300, deadline=None)
@given(windows())
def test_matches_loop(case):
    rewards, terminated, truncated, values, gamma = case
    expected = torch.tensor(
        loop_target(rewards, terminated, truncated, values, gamma), dtype=torch.float64
    )
    got = n_step_target(
        torch.tensor(rewards, dtype=torch.float64),
        torch.tensor(terminated, dtype=torch.float64),
        torch.tensor(truncated, dtype=torch.bool),  # bool flags are accepted too
        torch.tensor(values, dtype=torch.float64),
        gamma,
    )
    torch.testing.assert_close(got, expected)


@settings(max_examples=100, deadline=None)
@given(windows())
def test_end_index_and_mask_match_loop(case):
    _, terminated, truncated, _, _ = case
    n = len(terminated[0])
    expected_end = [
        next((k for k in range(n) if term[k] or trunc[k]), n - 1)
        for term, trunc in zip(terminated, truncated, strict=True)
    ]
    term, trunc = torch.tensor(terminated, dtype=torch.float32), torch.tensor(truncated)
    end = window_end_index(term, trunc)
    assert end.dtype == torch.long
    assert end.tolist() == expected_end
    mask = valid_mask(term, trunc)
    assert mask.dtype == torch.float32
    assert mask.tolist() == [[float(k <= m) for k in range(n)] for m in expected_end]


def test_one_step_is_td0():
    generator = torch.Generator().manual_seed(0)
    rewards, values = (
        torch.randn(64, 1, generator=generator),
        torch.randn(64, 1, generator=generator),
    )
    terminated = (torch.rand(64, 1, generator=generator) < 0.3).float()
    truncated = (torch.rand(64, 1, generator=generator) < 0.3).float()
    got = n_step_target(rewards, terminated, truncated, values, 0.99)
    # Truncation does not stop the 1-step bootstrap (spec §1); termination does.
    expected = (rewards + 0.99 * (1 - terminated) * values).squeeze(1)
    torch.testing.assert_close(got, expected)


def ones(n):
    return torch.ones(1, n)


def flags(n, at=None):
    x = torch.zeros(1, n)
    if at is not None:
        x[0, at] = 1.0
    return x


def test_traceable_windows():
    # reward = 1, gamma = 0.5, V = 8 everywhere: each case reads as arithmetic.
    values = 8 * ones(3)
    target = lambda term, trunc: n_step_target(ones(3), term, trunc, values, 0.5).item()  # noqa: E731
    assert target(flags(3), flags(3)) == 1 + 0.5 + 0.25 + 0.125 * 8
    assert target(flags(3, at=1), flags(3)) == 1 + 0.5  # terminal at k=1: no bootstrap
    assert target(flags(3), flags(3, at=1)) == 1 + 0.5 + 0.25 * 8  # truncated: bootstrap γ²
    assert target(flags(3, at=0), flags(3)) == 1
    assert target(flags(3, at=2), flags(3, at=0)) == 1 + 0.5 * 8  # first end wins


def test_both_flags_count_as_terminated():
    both = flags(3, at=1)
    assert n_step_target(ones(3), both, both, 8 * ones(3), 0.5).item() == 1.5


def test_values_and_rewards_after_the_end_are_never_read():
    rewards = torch.tensor([[1.0, 1.0, math.nan]])
    values = torch.tensor([[math.nan, 8.0, math.inf]])
    got = n_step_target(rewards, flags(3), flags(3, at=1), values, 0.5)
    assert got.item() == 1 + 0.5 + 0.25 * 8


def test_values_at_window_end_only():
    generator = torch.Generator().manual_seed(1)
    rewards, values = (
        torch.randn(32, 4, generator=generator),
        torch.randn(32, 4, generator=generator),
    )
    terminated = (torch.rand(32, 4, generator=generator) < 0.2).float()
    truncated = (torch.rand(32, 4, generator=generator) < 0.2).float()
    end = window_end_index(terminated, truncated)
    at_end = select_at(values, end)  # [B]
    torch.testing.assert_close(
        n_step_target(rewards, terminated, truncated, at_end, 0.9),
        n_step_target(rewards, terminated, truncated, values, 0.9),
    )
    next_obs = torch.arange(32 * 4 * 2.0).reshape(32, 4, 2)
    assert torch.equal(select_at(next_obs, end), next_obs[torch.arange(32), end])


def test_public_reexport():
    assert rlx2.targets.n_step_target is n_step_target
    assert rlx2.targets.DelayedNStep is DelayedNStep


@pytest.mark.parametrize("gamma", [0.0, -0.5, 1.01, math.nan])
def test_gamma_out_of_range(gamma):
    with pytest.raises(ConfigError, match="gamma"):
        n_step_target(ones(2), flags(2), flags(2), ones(2), gamma)


def test_shape_errors():
    with pytest.raises(ConfigError, match="truncated"):
        n_step_target(ones(2), flags(2), flags(3), ones(2), 0.9)
    with pytest.raises(ConfigError, match="next_values"):
        n_step_target(ones(2), flags(2), flags(2), ones(3), 0.9)
    with pytest.raises(ConfigError, match="rewards"):
        n_step_target(torch.ones(2), flags(2), flags(2), ones(2), 0.9)


def test_delayed_n_step_switch():
    schedule = DelayedNStep()
    assert (schedule.n, schedule.delay_updates) == (3, 300_000)
    assert schedule.n_at(0) == 1
    assert schedule.n_at(299_999) == 1
    assert schedule.n_at(300_000) == 3
    assert schedule.n_at(10**9) == 3
    assert DelayedNStep(n=5, delay_updates=0).n_at(0) == 5
    assert DelayedNStep(n=1, delay_updates=10).n_at(20) == 1


def test_delayed_n_step_errors():
    with pytest.raises(ConfigError, match="n must"):
        DelayedNStep(n=0)
    with pytest.raises(ConfigError, match="delay_updates"):
        DelayedNStep(delay_updates=-1)
    with pytest.raises(ConfigError, match="update"):
        DelayedNStep().n_at(-1)
