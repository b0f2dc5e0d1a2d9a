"""Gymnasium tasks: creation, seeding and the Box/Box check (spec §1: continuous control)."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from rlx2.errors import ConfigError


@dataclass(frozen=True)
class EnvSpec:
    env_id: str
    obs_dim: int
    act_dim: int
    low: np.ndarray
    high: np.ndarray
    max_episode_steps: int | None


def make_env(env_id: str) -> gym.Env:
    """Create a task, turning Gymnasium's errors into one-line ConfigErrors."""
    try:
        return gym.make(env_id)
    except gym.error.DependencyNotInstalled as exc:
        raise ConfigError(f"--env {env_id}: a dependency is missing ({exc})") from None
    except (gym.error.Error, ValueError, TypeError, ImportError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"--env {env_id!r} is not a known Gymnasium task ({type(exc).__name__}: {exc})"
        ) from None


def describe_env(env: gym.Env, env_id: str) -> EnvSpec:
    """Dimensions and bounds of a task whose spaces must both be 1-D Box with finite actions."""
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ConfigError(f"--env {env_id}: observation space must be a 1-D Box, got {obs_space}")
    if not isinstance(act_space, gym.spaces.Box) or len(act_space.shape) != 1:
        raise ConfigError(
            f"--env {env_id}: action space must be a 1-D Box (continuous actions), got {act_space}"
        )
    if not (np.all(np.isfinite(act_space.low)) and np.all(np.isfinite(act_space.high))):
        raise ConfigError(f"--env {env_id}: action bounds must be finite, got {act_space}")
    return EnvSpec(
        env_id=env_id,
        obs_dim=int(obs_space.shape[0]),
        act_dim=int(act_space.shape[0]),
        low=act_space.low.astype(np.float32),
        high=act_space.high.astype(np.float32),
        max_episode_steps=env.spec.max_episode_steps if env.spec is not None else None,
    )


def check_env(env_id: str) -> EnvSpec:
    env = make_env(env_id)
    try:
        return describe_env(env, env_id)
    finally:
        env.close()
