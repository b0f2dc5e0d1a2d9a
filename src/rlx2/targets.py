"""Stable public home of the n-step target (STYLE §4); the code lives in rlx2.value.targets."""

from rlx2.value.targets import (
    DelayedNStep,
    n_step_target,
    select_at,
    valid_mask,
    window_end_index,
)

__all__ = ["DelayedNStep", "n_step_target", "select_at", "valid_mask", "window_end_index"]
