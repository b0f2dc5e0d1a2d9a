"""The delayed multi-step TD target (spec §5), as pure tensor functions.

A window is n consecutive stored transitions starting at t, laid out as ``[B, n]`` tensors
(index k is transition t+k). The window is cut at its first termination or truncation,
index m; rewards after m are not added, a terminated m does not bootstrap and a truncated
m bootstraps from its real final observation with γ^{m+1}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rlx2.errors import ConfigError

__all__ = [
    "DelayedNStep",
    "n_step_target",
    "select_at",
    "valid_mask",
    "window_end_index",
]


def _check_gamma(gamma: float) -> None:
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and 0.0 < gamma <= 1.0):
        raise ConfigError(f"gamma must be in (0, 1], got {gamma!r}")


def _check_window(name: str, x: Tensor, shape: torch.Size | None = None) -> None:
    if not isinstance(x, Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor [B, n], got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] < 1:
        raise ConfigError(f"{name} must have shape [B, n] with n >= 1, got {tuple(x.shape)}")
    if shape is not None and x.shape != shape:
        raise ConfigError(
            f"{name} has shape {tuple(x.shape)}, expected {tuple(shape)} like terminated"
        )


def valid_mask(terminated: Tensor, truncated: Tensor) -> Tensor:
    """Which transitions of each window belong to its first episode.

    terminated, truncated: [B, n] (0/1 float or bool) -> [B, n] float, 1 for k <= m,
    where m is the first k with either flag set (n - 1 if none). The dtype is
    terminated's if floating, else float32.
    """
    _check_window("terminated", terminated)
    _check_window("truncated", truncated, terminated.shape)
    dtype = terminated.dtype if terminated.is_floating_point() else torch.float32
    return _within_episode(terminated, truncated).to(dtype)


def _within_episode(terminated: Tensor, truncated: Tensor) -> Tensor:
    """[B, n] flags -> [B, n] bool, True for k <= m (shapes already checked)."""
    ended = ((terminated != 0) | (truncated != 0)).to(torch.int32)  # [B, n]
    # k <= m  <=>  no episode end strictly before k.
    return torch.cumsum(ended, dim=1) - ended == 0  # [B, n]


def window_end_index(terminated: Tensor, truncated: Tensor) -> Tensor:
    """Index m of the last transition of each window that the target uses.

    terminated, truncated: [B, n] -> LongTensor [B]: the first k with terminated or
    truncated set, n - 1 if neither is set anywhere. The bootstrap state is s_{t+m+1},
    i.e. ``next_obs[:, m]`` of a sampled window (see ``select_at``).
    """
    return valid_mask(terminated, truncated).sum(dim=1).to(torch.long) - 1  # [B]


def select_at(x: Tensor, index: Tensor) -> Tensor:
    """Pick one window position per row: x [B, n, *], index [B] -> [B, *].

    Typical use: ``select_at(batch.next_obs, window_end_index(...))`` gives the bootstrap
    states s_{t+m+1}, so an algorithm evaluates V only where the target needs it.
    """
    if x.dim() < 2 or index.shape != x.shape[:1]:
        raise ConfigError(
            f"select_at needs x [B, n, ...] and index [B], got {tuple(x.shape)} and "
            f"{tuple(index.shape)}"
        )
    return x[torch.arange(x.shape[0], device=x.device), index.to(x.device)]


def n_step_target(
    rewards: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    next_values: Tensor,
    gamma: float,
) -> Tensor:
    """n-step TD target of each window (spec §5).

    rewards, terminated, truncated: [B, n]; next_values: [B, n] where next_values[:, k] is
    V(s_{t+k+1}) for the k-th transition's next state, or [B] already holding
    V(s_{t+m+1}) (entries of [B, n] other than m are never read, so they may be garbage).
    Returns [B]:

        y = sum_{k<=m} gamma^k r_k + (1 - terminated_m) gamma^{m+1} V(s_{t+m+1})

    with m = ``window_end_index``. A transition both terminated and truncated counts as
    terminated (no bootstrap): the episode really ended there. For SAC's soft n-step
    target pass rewards already shifted by -gamma * alpha * log pi (spec §5).
    """
    _check_gamma(gamma)
    _check_window("rewards", rewards)
    _check_window("terminated", terminated, rewards.shape)
    _check_window("truncated", truncated, rewards.shape)
    batch, n = rewards.shape
    if next_values.shape not in (rewards.shape, torch.Size([batch])):
        raise ConfigError(
            f"next_values must have shape [B, n] = {tuple(rewards.shape)} or [B] = ({batch},), "
            f"got {tuple(next_values.shape)}"
        )
    dtype = rewards.dtype if rewards.is_floating_point() else torch.float32
    mask = _within_episode(terminated, truncated)  # [B, n], k <= m
    end = mask.sum(dim=1) - 1  # [B] = m
    powers = torch.arange(n + 1, device=rewards.device, dtype=dtype)  # [n + 1]
    discounts = torch.pow(torch.as_tensor(gamma, dtype=dtype, device=rewards.device), powers)
    # where, not multiply: rewards after m may be anything (even nan) and must not leak.
    discounted = torch.where(mask, rewards.to(dtype) * discounts[:n], 0.0)  # [B, n]
    rows = torch.arange(batch, device=rewards.device)
    bootstrap_value = next_values[rows, end] if next_values.dim() == 2 else next_values  # [B]
    terminated_at_end = terminated[rows, end] != 0  # [B]; terminated wins over truncated
    bootstrap = torch.where(
        terminated_at_end, 0.0, discounts[end + 1] * bootstrap_value.to(dtype)
    )  # [B]
    return discounted.sum(dim=1) + bootstrap


@dataclass(frozen=True)
class DelayedNStep:
    """1-step targets until ``delay_updates`` gradient updates have passed, then n (spec §5)."""

    n: int = 3
    """Window length once the delay is over (paper and reference: 3)."""
    delay_updates: int = 300_000
    """Gradient updates that use 1-step targets first (reference: 300 000; scale it with
    the budget for shorter runs)."""

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"n must be an integer >= 1, got {self.n!r}")
        if (
            isinstance(self.delay_updates, bool)
            or not isinstance(self.delay_updates, int)
            or self.delay_updates < 0
        ):
            raise ConfigError(f"delay_updates must be an integer >= 0, got {self.delay_updates!r}")

    def n_at(self, update: int) -> int:
        """Window length for gradient update number ``update`` (0-based)."""
        if update < 0:
            raise ConfigError(f"update must be >= 0, got {update!r}")
        return 1 if update < self.delay_updates else self.n
