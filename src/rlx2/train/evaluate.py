"""Deterministic evaluation on a separate, separately seeded environment (spec §8)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Episode:
    """One evaluation episode as it happened (for the value-estimation diagnostics)."""

    obs: np.ndarray
    """[T, obs_dim] states visited."""
    actions: np.ndarray
    """[T, act_dim] actions taken in them."""
    rewards: np.ndarray
    """[T] rewards received."""
    truncated: bool
    """Cut by the time limit (the return beyond the cut is unknown) rather than terminated."""


def evaluation_seed(run_seed: int) -> int:
    """The evaluation env's seed: seed + 100, as in the reference (spec §8)."""
    return run_seed + 100


def evaluate(
    policy: Policy,
    env: gym.Env,
    episodes: int,
    seed: int,
    record: list[Episode] | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` episodes of ``policy``; returns [episodes].

    The env is re-seeded with ``seed`` at every call, so every evaluation of a run starts from
    the same initial states (the reference re-seeds each time too) and an exported policy
    re-evaluated with the run's seed reproduces the run's returns. With ``record``, each
    episode's states, actions and rewards are appended to it.
    """
    returns = np.zeros(episodes)
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        done, truncated = False, False
        steps: list[tuple[np.ndarray, np.ndarray, float]] = []
        while not done:
            state = np.asarray(obs, dtype=np.float32)
            action = policy(state)
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[episode] += float(reward)
            done = terminated or truncated
            if record is not None:
                steps.append((state, np.asarray(action, dtype=np.float32), float(reward)))
        if record is not None:
            record.append(
                Episode(
                    obs=np.stack([s for s, _, _ in steps]),
                    actions=np.stack([a for _, a, _ in steps]),
                    rewards=np.array([r for _, _, r in steps]),
                    truncated=bool(truncated and not terminated),
                )
            )
        obs, _ = env.reset()
    return returns
