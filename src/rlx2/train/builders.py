"""Composes an agent from the config: algorithm + networks + (later) sparsity and value learning."""

from __future__ import annotations

from typing import Any

from rlx2.algos.sac import SAC
from rlx2.algos.td3 import TD3
from rlx2.config import TrainConfig
from rlx2.train.envs import EnvSpec


def build_agent(config: TrainConfig, spec: EnvSpec) -> tuple[TD3 | SAC, dict[str, Any]]:
    """The agent and the effective values the config resolved to (written to config.json)."""
    common = dict(
        obs_dim=spec.obs_dim, act_dim=spec.act_dim, low=spec.low, high=spec.high, agent=config.agent, device=config.run.device
    )
    if config.algo == "td3":
        agent: TD3 | SAC = TD3(config=config.td3, **common)
    else:
        agent = SAC(config=config.sac, **common)
    effective: dict[str, Any] = {"updates": max(config.run.total_steps - config.run.learning_starts, 0)}
    return agent, effective
