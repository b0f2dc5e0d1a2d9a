"""SAC (Haarnoja et al. 2018) with auto-tuned α, pluggable weight updaters and soft n-step targets.

Spec §1 and §5: twin critic with a target, no actor target (the current actor samples the
next actions), actor and α updated every iteration, critic target soft-updated every step.
"""

from __future__ import annotations

import copy

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
from rlx2.algos.fused import FusedSAC
from rlx2.algos.td3 import NetworkSetup, OptimizerFactory, dense_networks
from rlx2.config import AgentConfig, SACConfig
from rlx2.nets import GaussianActor, TwinCritic, orthogonal_init_
from rlx2.value.replay import Batch
from rlx2.value.targets import n_step_target, select_at, window_end_index


class SAC:
    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        low: np.ndarray,
        high: np.ndarray,
        agent: AgentConfig,
        config: SACConfig,
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
        actor = GaussianActor(
            obs_dim,
            act_dim,
            widths.get("actor", agent.hidden),
            low_t,
            high_t,
            config.log_std_min,
            config.log_std_max,
        ).to(self.device)
        critic = TwinCritic(obs_dim, act_dim, widths.get("critic", agent.hidden)).to(self.device)
        orthogonal_init_(actor)
        orthogonal_init_(critic)
        self.actor, self.actor_updater = setup_network("actor", actor)
        self.critic, self.critic_updater = setup_network("critic", critic)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_updater.follow(self.critic_target)
        self.target_averager = TargetAverager(self.critic_target, self.critic)
        self.log_alpha = torch.tensor(
            float(np.log(config.init_alpha)), device=self.device, requires_grad=True
        )
        self.target_entropy = float(
            -act_dim if config.target_entropy is None else config.target_entropy
        )
        self.actor_opt = optimizer(self.actor.parameters(), lr=agent.actor_lr)
        self.critic_opt = optimizer(self.critic.parameters(), lr=agent.critic_lr)
        self.alpha_opt = optimizer([self.log_alpha], lr=config.alpha_lr)
        self.updates = 0
        self.compiled = CompiledLosses(self, ("critic_loss", "actor_loss"), compile_mode)
        # fused: the sparse backend computes each loss and its gradient in numba kernels
        # (rlx2.algos.fused), the same maths as the loss methods below and backward().
        self.fused = FusedSAC(self) if fused else None

    @property
    def alpha(self) -> Tensor:
        return self.log_alpha.detach().exp()

    # ----- acting -------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exploration action (a sample, or the mean in the reference's mode) and the mean action."""
        if self.fused is not None:
            return self.fused.act(obs)
        obs_t = as_tensor(obs, self.device).unsqueeze(0)
        mean = self.actor(obs_t)[0]
        if self.config.collect_with_mean:
            return mean.cpu().numpy(), mean.cpu().numpy()
        action, _ = self.actor.sample(obs_t)
        return action[0].cpu().numpy(), mean.cpu().numpy()

    @torch.no_grad()
    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        if self.fused is not None:
            return self.fused.act_deterministic(obs)
        return self.actor(as_tensor(obs, self.device).unsqueeze(0))[0].cpu().numpy()

    @torch.no_grad()
    def policy_actions(self, obs: Tensor) -> Tensor:
        return self.actor(obs)

    # ----- learning -----------------------------------------------------------------------
    @torch.no_grad()
    def td_target(self, batch: Batch) -> Tensor:
        """Soft n-step target [B] (spec §5).

        Each next state s_{t+k+1} gets a fresh action ã_k ~ π. Intermediate ones (k < m) add the
        entropy bonus −γ^{k+1} α log π(ã_k|s_{t+k+1}); the last one (k = m) is bootstrapped with the
        soft value min Q(s, ã_m) − α log π(ã_m|s), which termination removes. For n = 1 this is
        exactly the ordinary SAC target r + γ(1 − d)(min Q − α log π).
        """
        batch_size, n = batch.rewards.shape
        last = window_end_index(batch.terminated, batch.truncated)  # [B]
        actions, log_prob = self.actor.sample(batch.next_obs.reshape(batch_size * n, -1))
        actions = actions.view(batch_size, n, -1)  # [B, n, A]
        log_prob = log_prob.view(batch_size, n)  # [B, n]
        alpha = self.alpha
        q1, q2 = self.critic_target(select_at(batch.next_obs, last), select_at(actions, last))
        soft_values = torch.minimum(q1, q2) - alpha * select_at(log_prob, last)  # [B]
        before_last = (
            torch.arange(n, device=last.device)[None, :] < last[:, None]
        ).float()  # [B, n]
        rewards = batch.rewards - self.agent.gamma * alpha * log_prob * before_last
        return n_step_target(
            rewards, batch.terminated, batch.truncated, soft_values, self.agent.gamma
        )

    def critic_loss(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Twin-critic soft TD loss, mean Q1 and mean target (pure: no state changes)."""
        target = self.td_target(batch)
        q1, q2 = self.critic(batch.obs, batch.actions)
        loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        return loss, q1.detach().mean(), target.mean()

    def actor_loss(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """E[α log π(ã|s) − min Q(s, ã)] and log π(ã|s) [B]; call with the critic frozen."""
        actions, log_prob = self.actor.sample(obs)
        q1_pi, q2_pi = self.critic(obs, actions)
        return (self.alpha * log_prob - torch.minimum(q1_pi, q2_pi)).mean(), log_prob

    def alpha_loss(self, log_prob: Tensor) -> Tensor:
        """Temperature loss −log α · (log π + H̄), averaged over the batch (log π detached)."""
        return -(self.log_alpha * (log_prob + self.target_entropy)).mean()

    def alpha_backward(self, log_prob: Tensor) -> tuple[Tensor, Tensor]:
        """``alpha_loss(log_prob)``, its gradient left in ``log_alpha.grad``, and the entropy
        estimate −mean(log π) (the update's metric, from the same batch)."""
        if self.fused is not None:
            return self.fused.alpha_backward(log_prob)
        loss = self.alpha_loss(log_prob)
        loss.backward()
        return loss.detach(), -log_prob.detach().mean()

    def critic_backward(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """``critic_loss(batch)``, its gradients left in the critic's ``.grad``."""
        if self.fused is not None:
            return self.fused.critic_backward(batch)
        loss, q1_mean, target_mean = self.compiled.critic_loss(batch)
        loss.backward()
        return loss.detach(), q1_mean, target_mean

    def actor_backward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``actor_loss(obs)`` and log π [B], the loss's gradients left in the actor's
        ``.grad`` (none in the critic's)."""
        if self.fused is not None:
            return self.fused.actor_backward(obs)
        with frozen(self.critic):
            loss, log_prob = self.compiled.actor_loss(obs)
        loss.backward()
        return loss.detach(), log_prob.detach()

    def update(self, batch: Batch) -> dict[str, Tensor]:
        self.updates += 1
        self.compiled.begin_step()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss, q1_mean, target_mean = self.critic_backward(batch)
        self.critic_updater.step(self.critic_opt)

        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss, log_prob = self.actor_backward(batch.obs)
        self.actor_updater.step(self.actor_opt)

        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss, entropy = self.alpha_backward(log_prob)
        self.alpha_opt.step()

        self.target_averager(self.agent.tau)
        return {
            "loss/critic": critic_loss,
            "loss/actor": actor_loss,
            "loss/alpha": alpha_loss,
            "alpha": self.alpha,
            "entropy": entropy,
            "q/q1": q1_mean,
            "q/target": target_mean,
        }

    # ----- state --------------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}

    def updaters(self) -> dict[str, WeightUpdater]:
        return {"actor": self.actor_updater, "critic": self.critic_updater}

    def state_dict(self) -> dict:
        return {
            "networks": {k: v.state_dict() for k, v in self.networks().items()},
            "log_alpha": self.log_alpha.detach().clone(),
            "optimizers": {
                "actor": self.actor_opt.state_dict(),
                "critic": self.critic_opt.state_dict(),
                "alpha": self.alpha_opt.state_dict(),
            },
            "updaters": {k: u.state_dict() for k, u in self.updaters().items()},
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        for k, v in self.networks().items():
            v.load_state_dict(state["networks"][k])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        for k in ("actor", "critic", "alpha"):
            getattr(self, f"{k}_opt").load_state_dict(state["optimizers"][k])
        for k, u in self.updaters().items():
            u.load_state_dict(state["updaters"][k])
        self.updates = state["updates"]
