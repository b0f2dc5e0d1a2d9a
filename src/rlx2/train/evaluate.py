"""Deterministic evaluation on a separate, separately seeded environment (spec §8)."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]


def evaluation_seed(run_seed: int) -> int:
    """The evaluation env's seed: seed + 100, as in the reference (spec §8)."""
    return run_seed + 100


def evaluate(policy: Policy, env: gym.Env, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes of ``policy``; returns [episodes].

    The env is re-seeded with ``seed`` at every call, so every evaluation of a run starts from
    the same initial states (the reference re-seeds each time too) and an exported policy
    re-evaluated with the run's seed reproduces the run's returns.
    """
    returns = np.zeros(episodes)
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(
                policy(np.asarray(obs, dtype=np.float32))
            )
            returns[episode] += float(reward)
            done = terminated or truncated
        obs, _ = env.reset()
    return returns
