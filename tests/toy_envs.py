"""Tiny deterministic Gymnasium tasks for tests: fast, and with known termination/truncation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import register, registry


class CounterEnv(gym.Env):
    """obs = [step index within the episode]; reward 1 per step; terminates when the action's
    first component is above ``terminate_above`` (never by default); truncation comes from the
    TimeLimit wrapper added at registration."""

    metadata: dict = {"render_modes": []}

    def __init__(self, terminate_above: float = 2.0):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.terminate_above = terminate_above
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = bool(action[0] > self.terminate_above)
        return np.array([float(self.t)], dtype=np.float32), 1.0, terminated, False, {}


class NaNRewardEnv(CounterEnv):
    """Rewards turn NaN after 300 steps in total: training must stop with a failure status."""

    total_steps = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        NaNRewardEnv.total_steps += 1
        return (
            obs,
            float("nan") if NaNRewardEnv.total_steps > 300 else reward,
            terminated,
            truncated,
            info,
        )


class DiscreteActionEnv(CounterEnv):
    def __init__(self):
        super().__init__()
        self.action_space = gym.spaces.Discrete(2)


def register_toy_envs() -> None:
    if "rlx2test/Counter-v0" not in registry:
        register("rlx2test/Counter-v0", entry_point=CounterEnv, max_episode_steps=7)
        register(
            "rlx2test/CounterTerminating-v0",
            entry_point=CounterEnv,
            kwargs={"terminate_above": 0.5},
            max_episode_steps=50,
        )
        register("rlx2test/Discrete-v0", entry_point=DiscreteActionEnv, max_episode_steps=10)
        register("rlx2test/NaNReward-v0", entry_point=NaNRewardEnv, max_episode_steps=20)


register_toy_envs()
