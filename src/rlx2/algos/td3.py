"""TD3 (Fujimoto et al. 2018) with pluggable weight updaters and n-step windows (spec §1, §5).

Reads top to bottom like one training iteration: target, critic step, and every
``policy_delay`` critic steps an actor step followed by the target soft updates.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rlx2.algos.common import (
    CompiledLosses,
    TargetAverager,
    WeightUpdater,
    as_tensor,
    frozen,
)
from rlx2.algos.fused import FusedTD3
from rlx2.config import AgentConfig, TD3Config
from rlx2.nets import DeterministicActor, TwinCritic
from rlx2.sparse.topology import DenseUpdater
from rlx2.value.replay import Batch
from rlx2.value.targets import n_step_target, select_at, window_end_index

# The setup returns the network as it trains: nn.Linear-based or a SparseMLP wrapper (both
# expose ``scaling`` and the actor/critic call), so it is typed Any rather than nn.Module.
NetworkSetup = Callable[[str, nn.Module], tuple[Any, WeightUpdater]]
"""Given a network's role ("actor", "critic") and its freshly initialised dense module: the
module to train (the same one, or its compact sparse form) and the updater of its weights."""

OptimizerFactory = Callable[..., torch.optim.Optimizer]
"""``torch.optim.Adam`` or an optimiser with the same arithmetic (``LeanAdam``)."""


def dense_networks(name: str, network: nn.Module) -> tuple[nn.Module, WeightUpdater]:
    return network, DenseUpdater()


class TD3:
    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        low: np.ndarray,
        high: np.ndarray,
        agent: AgentConfig,
        config: TD3Config,
        setup_network: NetworkSetup = dense_networks,
        device: str = "cpu",
        hidden: dict[str, int] | None = None,
        optimizer: OptimizerFactory = torch.optim.Adam,
        compile_mode: str | None = None,
        fused: bool = False,
    ):
        self.device = torch.device(device)
        self.agent = agent
        self.config = config
        widths = hidden or {}
        low_t, high_t = (
            torch.as_tensor(low, dtype=torch.float32),
            torch.as_tensor(high, dtype=torch.float32),
        )
        actor = DeterministicActor(
            obs_dim, act_dim, widths.get("actor", agent.hidden), low_t, high_t
        ).to(self.device)
        critic = TwinCritic(obs_dim, act_dim, widths.get("critic", agent.hidden)).to(self.device)
        # Updaters first: a sparse one masks the fresh weights (or returns the network in compact
        # sparse form), so the targets start with the same masks.
        self.actor, self.actor_updater = setup_network("actor", actor)
        self.critic, self.critic_updater = setup_network("critic", critic)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_updater.follow(self.actor_target)
        self.critic_updater.follow(self.critic_target)
        self.target_averagers = (
            TargetAverager(self.critic_target, self.critic),
            TargetAverager(self.actor_target, self.actor),
        )
        self.actor_opt = optimizer(self.actor.parameters(), lr=agent.actor_lr)
        self.critic_opt = optimizer(self.critic.parameters(), lr=agent.critic_lr)
        scale = self.actor.scaling.scale
        self.exploration_std = config.exploration_noise * scale
        self.policy_noise_std = config.policy_noise * scale
        self.noise_clip = config.noise_clip * scale
        self.updates = 0
        self.compiled = CompiledLosses(self, ("critic_loss", "actor_loss"), compile_mode)
        # fused: the sparse backend computes each loss and its gradient in numba kernels
        # (rlx2.algos.fused), the same maths as the loss methods below and backward().
        self.fused = FusedTD3(self) if fused else None

    # ----- acting -------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exploration action (deterministic + Gaussian noise, clipped) and the behaviour action."""
        if self.fused is not None:
            return self.fused.act(obs)
        mean = self.actor(as_tensor(obs, self.device).unsqueeze(0))[0]
        noisy = self.actor.scaling.clip(mean + torch.randn_like(mean) * self.exploration_std)
        return noisy.cpu().numpy(), mean.cpu().numpy()

    @torch.no_grad()
    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        if self.fused is not None:
            return self.fused.act_deterministic(obs)
        return self.actor(as_tensor(obs, self.device).unsqueeze(0))[0].cpu().numpy()

    @torch.no_grad()
    def policy_actions(self, obs: Tensor) -> Tensor:
        """π(s) for a batch, for the policy distance of the dynamic buffer (spec §6)."""
        return self.actor(obs)

    # ----- learning -----------------------------------------------------------------------
    @torch.no_grad()
    def bootstrap_value(self, next_obs: Tensor) -> Tensor:
        """min of the twin target Qs at the smoothed target action: [B, obs] -> [B]."""
        noise = (
            torch.randn(next_obs.shape[0], self.noise_clip.shape[0], device=self.device)
            * self.policy_noise_std
        )
        noise = torch.maximum(torch.minimum(noise, self.noise_clip), -self.noise_clip)
        next_action = self.actor_target.scaling.clip(self.actor_target(next_obs) + noise)
        q1, q2 = self.critic_target(next_obs, next_action)
        return torch.minimum(q1, q2)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> Tensor:
        """n-step target of each window [B]; V is evaluated only at each window's last real next state."""
        last = window_end_index(batch.terminated, batch.truncated)  # [B]
        values = self.bootstrap_value(select_at(batch.next_obs, last))  # [B] = V(s_{t+m+1})
        return n_step_target(
            batch.rewards, batch.terminated, batch.truncated, values, self.agent.gamma
        )

    def critic_loss(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Twin-critic TD loss, mean Q1 and mean target (pure: no state changes)."""
        target = self.td_target(batch)
        q1, q2 = self.critic(batch.obs, batch.actions)
        loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        return loss, q1.detach().mean(), target.mean()

    def actor_loss(self, obs: Tensor) -> Tensor:
        """Deterministic policy-gradient loss −Q1(s, π(s)); call with the critic frozen."""
        return -self.critic.q1_value(obs, self.actor(obs)).mean()

    def critic_backward(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """``critic_loss(batch)``, its gradients left in the critic's ``.grad``."""
        if self.fused is not None:
            return self.fused.critic_backward(batch)
        loss, q1_mean, target_mean = self.compiled.critic_loss(batch)
        loss.backward()
        return loss.detach(), q1_mean, target_mean

    def actor_backward(self, obs: Tensor) -> Tensor:
        """``actor_loss(obs)``, its gradients left in the actor's ``.grad`` (none in the critic's)."""
        if self.fused is not None:
            return self.fused.actor_backward(obs)
        with frozen(self.critic):
            loss = self.compiled.actor_loss(obs)
        loss.backward()
        return loss.detach()

    def update(self, batch: Batch) -> dict[str, Tensor]:
        self.updates += 1
        self.compiled.begin_step()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss, q1_mean, target_mean = self.critic_backward(batch)
        self.critic_updater.step(self.critic_opt)
        metrics = {"loss/critic": critic_loss, "q/q1": q1_mean, "q/target": target_mean}

        if self.updates % self.config.policy_delay == 0:
            self.actor_opt.zero_grad(set_to_none=True)
            metrics["loss/actor"] = self.actor_backward(batch.obs)
            self.actor_updater.step(self.actor_opt)
            self.update_targets()
        return metrics

    def update_targets(self) -> None:
        for average in self.target_averagers:
            average(self.agent.tau)

    # ----- state --------------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "actor_target": self.actor_target,
            "critic_target": self.critic_target,
        }

    def updaters(self) -> dict[str, WeightUpdater]:
        return {"actor": self.actor_updater, "critic": self.critic_updater}

    def state_dict(self) -> dict:
        return {
            "networks": {k: v.state_dict() for k, v in self.networks().items()},
            "optimizers": {
                "actor": self.actor_opt.state_dict(),
                "critic": self.critic_opt.state_dict(),
            },
            "updaters": {k: u.state_dict() for k, u in self.updaters().items()},
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        for k, v in self.networks().items():
            v.load_state_dict(state["networks"][k])
        self.actor_opt.load_state_dict(state["optimizers"]["actor"])
        self.critic_opt.load_state_dict(state["optimizers"]["critic"])
        for k, u in self.updaters().items():
            u.load_state_dict(state["updaters"][k])
        self.updates = state["updates"]
