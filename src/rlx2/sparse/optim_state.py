"""Keep or reset optimiser moments of regrown weights (spec §3, quirk §7.2).

The reference never resets Adam moments when a connection is grown, so a new weight is moved
at once by the stale moments of whatever was there before (zero gradients since it was
masked, but not zero moments if it was active earlier). Zeroing them is the corrected mode.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlx2.errors import ConfigError

# Adam/AdamW moments, AMSGrad's running max and SGD momentum: every per-element running
# statistic that would carry history into a fresh connection.
MOMENT_KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer")


@torch.no_grad()
def reset_moments(optimizer: torch.optim.Optimizer, param: Tensor, positions: Tensor) -> None:
    """Zero the optimiser's per-element state of ``param`` at the True ``positions``.

    No-op when the optimiser has no state for ``param`` yet (before its first step).
    """
    if positions.shape != param.shape:
        raise ConfigError(
            f"positions has shape {tuple(positions.shape)}, param has {tuple(param.shape)}"
        )
    state = optimizer.state.get(param)
    if not state:
        return
    for key in MOMENT_KEYS:
        buf = state.get(key)
        if isinstance(buf, Tensor) and buf.shape == param.shape:
            buf.masked_fill_(positions.to(device=buf.device, dtype=torch.bool), 0.0)
