"""MLP actor and critic networks of TD3 and SAC (spec §1): 2 hidden layers, ReLU.

Every weight matrix is an ``nn.Linear`` so the sparse engine finds them with
``rlx2.sparse.masks.linear_weights`` (module order = layer order). Layer shapes come from
``rlx2.shapes``, the one place that knows them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rlx2.errors import ConfigError
from rlx2.shapes import Shape, actor_shapes, critic_head_shapes


def mlp(shapes: Sequence[Shape]) -> nn.Sequential:
    """Linear layers of the given (out, in) shapes (``rlx2.shapes``), ReLU between them."""
    layers: list[nn.Module] = []
    for i, (out_dim, in_dim) in enumerate(shapes):
        layers += [nn.Linear(in_dim, out_dim)] + ([nn.ReLU()] if i < len(shapes) - 1 else [])
    return nn.Sequential(*layers)


def orthogonal_init_(module: nn.Module) -> None:
    """Orthogonal weights, zero biases: the SAC reference initialisation (spec §1)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight)
            nn.init.zeros_(layer.bias)


class ActionScaling(nn.Module):
    """Maps tanh outputs in [-1, 1] onto the Box [low, high] of the task."""

    # Buffers, declared for the type checker (nn.Module's __getattr__ is typed Tensor | Module).
    scale: Tensor
    bias: Tensor
    low: Tensor
    high: Tensor

    def __init__(self, low: Tensor, high: Tensor):
        super().__init__()
        self.register_buffer("scale", (high - low) / 2.0)
        self.register_buffer("bias", (high + low) / 2.0)
        self.register_buffer("low", low.clone())
        self.register_buffer("high", high.clone())

    def forward(self, squashed: Tensor) -> Tensor:
        return squashed * self.scale + self.bias

    def clip(self, action: Tensor) -> Tensor:
        return torch.maximum(torch.minimum(action, self.high), self.low)


class DeterministicActor(nn.Module):
    """TD3 actor: tanh head scaled to the action box."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, low: Tensor, high: Tensor):
        super().__init__()
        self.net = mlp(actor_shapes("td3", obs_dim, act_dim, hidden))
        self.scaling = ActionScaling(low, high)

    def forward(self, obs: Tensor) -> Tensor:
        return self.scaling(torch.tanh(self.net(obs)))


class TwinCritic(nn.Module):
    """Two independent Q heads on concat(state, action); allocated jointly when sparse (spec §2)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int):
        super().__init__()
        self.q1 = mlp(critic_head_shapes(obs_dim, act_dim, hidden))
        self.q2 = mlp(critic_head_shapes(obs_dim, act_dim, hidden))

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def q1_value(self, obs: Tensor, action: Tensor) -> Tensor:
        return self.q1(torch.cat([obs, action], dim=-1)).squeeze(-1)


_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def squashed_gaussian_log_prob(
    pre_tanh: Tensor, mean: Tensor, log_std: Tensor, scale: Tensor
) -> Tensor:
    """log π(a|s) of a = tanh(u)·scale + bias with u ~ N(mean, exp(log_std)): [B, A] inputs -> [B].

    Change of variables: log p(a) = log N(u) − Σ log(scale · (1 − tanh(u)²)), with the stable
    identity log(1 − tanh(u)²) = 2 (log 2 − u − softplus(−2u)).
    """
    gaussian = -0.5 * ((pre_tanh - mean) / log_std.exp()) ** 2 - log_std - _LOG_SQRT_2PI
    log_det = 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh)) + torch.log(scale)
    return (gaussian - log_det).sum(dim=-1)


class GaussianActor(nn.Module):
    """SAC actor: one head outputs mean and log σ; log σ is squashed into [min, max] by tanh."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: int,
        low: Tensor,
        high: Tensor,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
    ):
        super().__init__()
        self.net = mlp(actor_shapes("sac", obs_dim, act_dim, hidden))
        self.scaling = ActionScaling(low, high)
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max

    def distribution(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mean, raw_log_std = self.net(obs).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            torch.tanh(raw_log_std) + 1.0
        )
        return mean, log_std

    def forward(self, obs: Tensor) -> Tensor:
        """The deterministic (mean) action, used for evaluation and the policy distance."""
        mean, _ = self.distribution(obs)
        return self.scaling(torch.tanh(mean))

    def sample(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised sample and its log-probability: action [B, A], log π [B]."""
        mean, log_std = self.distribution(obs)
        pre_tanh = mean + log_std.exp() * torch.randn_like(mean)
        action = self.scaling(torch.tanh(pre_tanh))
        return action, squashed_gaussian_log_prob(pre_tanh, mean, log_std, self.scaling.scale)


@dataclass(frozen=True)
class MLPHeads:
    """A network's MLP part as its other executions see it (the compact sparse form, the
    fused dense passes): ``Linear, ReLU, ..., Linear`` heads on one input, outputs side by
    side, then ``f(z) * scale + shift`` per output (scale/shift None: 1 and 0)."""

    heads: tuple[nn.Sequential, ...]
    output_activation: str  # "identity" | "tanh"
    output_scale: Tensor | None = None
    output_shift: Tensor | None = None


def mlp_heads(network: nn.Module) -> MLPHeads:
    """The MLP heads of a DeterministicActor (tanh, scaled to the box), GaussianActor (mean and
    raw log σ side by side) or TwinCritic (q1, q2 on concat(obs, action))."""
    if isinstance(network, DeterministicActor):
        scaling = network.scaling
        return MLPHeads((network.net,), "tanh", scaling.scale, scaling.bias)
    if isinstance(network, GaussianActor):
        return MLPHeads((network.net,), "identity")
    if isinstance(network, TwinCritic):
        return MLPHeads((network.q1, network.q2), "identity")
    raise ConfigError(
        f"{type(network).__name__} is none of rlx2's networks (DeterministicActor, "
        "GaussianActor, TwinCritic)"
    )
