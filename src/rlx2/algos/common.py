"""What TD3 and SAC share: Polyak averaging, the weight-update hook protocol, acting helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn


class WeightUpdater(Protocol):
    """The hook through which an algorithm changes one network's weights (spec §2–§3).

    ``step`` is called right after ``loss.backward()`` of that network: a dense updater just
    runs the optimiser; a sparse one masks gradients, steps, re-masks, and on topology-update
    steps evolves the masks instead. ``after_target_update`` re-masks the target network
    after each Polyak update. Algorithms know nothing else about sparsity.
    """

    def step(self, optimizer: torch.optim.Optimizer) -> bool: ...

    def after_target_update(self, target_weights: Sequence[Tensor]) -> None: ...


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target ← (1 − τ)·target + τ·online, for every parameter (one fused foreach call)."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)


def frozen(module: nn.Module):
    """Context manager: no weight gradients for ``module`` (its input gradients still flow).

    The actor loss back-propagates through the critic only to reach the action; skipping the
    critic's weight gradients saves a third of that backward pass and keeps the critic's
    .grad free of actor-loss terms (spec §7.4 describes the reference's leak).
    """
    return _RequiresGradOff(module)


class _RequiresGradOff:
    def __init__(self, module: nn.Module):
        self.params = [p for p in module.parameters() if p.requires_grad]

    def __enter__(self) -> None:
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for p in self.params:
            p.requires_grad_(True)


def as_tensor(obs: np.ndarray, device: torch.device) -> Tensor:
    return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=device)
