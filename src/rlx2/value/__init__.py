"""Value learning: n-step targets, replay buffer, dynamic capacity (spec §5, §6).

Knows nothing about sparsity or networks: it imports only torch, numpy and rlx2.errors.
"""

from rlx2.value.capacity import (
    CapacityCheck,
    DynamicCapacity,
    DynamicCapacityConfig,
    policy_distance,
)
from rlx2.value.replay import Batch, ReplayBuffer
from rlx2.value.targets import (
    DelayedNStep,
    n_step_target,
    select_at,
    valid_mask,
    window_end_index,
)

__all__ = [
    "Batch",
    "CapacityCheck",
    "DelayedNStep",
    "DynamicCapacity",
    "DynamicCapacityConfig",
    "ReplayBuffer",
    "n_step_target",
    "policy_distance",
    "select_at",
    "valid_mask",
    "window_end_index",
]
