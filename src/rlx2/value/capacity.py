"""Dynamic-capacity replay (spec §6): drop the oldest data while it is off-policy.

``policy_distance`` is a pure function of two action arrays; ``DynamicCapacity`` decides,
every ``buffer_check_interval`` env steps, whether and how much of the oldest data to drop. It
never sees a network: the algorithm passes a ``distance_fn`` that runs its current actor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from rlx2 import paper
from rlx2.errors import ConfigError

__all__ = [
    "DISTANCE_FORMS",
    "SHRINK_RULES",
    "CapacityCheck",
    "DynamicCapacity",
    "DynamicCapacityConfig",
    "policy_distance",
]

DISTANCE_FORMS = ("reference", "l2")
SHRINK_RULES = ("fraction", "until_below")


def _as_float64(name: str, x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def policy_distance(
    policy_actions: Any,
    behaviour_actions: Any,
    max_action: Any,
    form: str = "reference",
) -> float:
    """Distance between the current policy and the behaviour actions stored in the buffer.

    policy_actions π(s_i), behaviour_actions ā_i: [K, act_dim] (numpy or torch);
    max_action: scalar or [act_dim] (> 0). Returns a Python float:

    - ``"reference"`` (official code, spec §6/§7.3): ½ · mean over K and action dims of
      ((π(s_i) − ā_i) / max_action)², i.e. half an MSE of normalised actions;
    - ``"l2"`` (paper): (1/K) Σ_i ‖π(s_i) − ā_i‖₂, in raw action units (max_action unused).
    """
    if form not in DISTANCE_FORMS:
        raise ConfigError(f"distance form must be one of {DISTANCE_FORMS}, got {form!r}")
    policy = _as_float64("policy_actions", policy_actions)
    behaviour = _as_float64("behaviour_actions", behaviour_actions)
    if policy.ndim != 2 or policy.shape[0] == 0 or policy.shape != behaviour.shape:
        raise ConfigError(
            "policy_actions and behaviour_actions must both be non-empty [K, act_dim], got "
            f"{policy.shape} and {behaviour.shape}"
        )
    scale = _as_float64("max_action", max_action)
    if scale.ndim > 1 or (scale.ndim == 1 and scale.shape[0] != policy.shape[1]):
        raise ConfigError(
            f"max_action must be a scalar or [act_dim={policy.shape[1]}], got shape {scale.shape}"
        )
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise ConfigError(f"max_action must be finite and > 0, got {scale.tolist()}")
    difference = policy - behaviour  # [K, act_dim]
    if form == "reference":
        return float(0.5 * np.mean((difference / scale) ** 2))
    return float(np.mean(np.linalg.norm(difference, axis=1)))


@dataclass(frozen=True)
class DynamicCapacityConfig:
    """When and how the replay buffer sheds its oldest data (spec §6).

    Build the buffer with ``capacity=buffer_max``; ``buffer_min`` is the size floor.
    Defaults are the reference TD3 ones (SAC: min 200 000, max 3 000 000).
    """

    threshold: float = paper.DISTANCE_THRESHOLD
    """Shrink while the policy distance of the oldest data is above this."""
    buffer_check_interval: int = paper.CHECK_INTERVAL
    """Env steps between two checks (a check runs when step % buffer_check_interval == 0)."""
    num_oldest: int = paper.DISTANCE_SAMPLES
    """K: how many of the oldest transitions the distance is measured on (8 x batch)."""
    buffer_min: int = paper.BUFFER_BOUNDS["td3"][0]
    """The buffer is never shrunk below this many transitions."""
    buffer_max: int = paper.BUFFER_BOUNDS["td3"][1]
    """Physical capacity of the buffer."""
    shrink: str = "fraction"
    """"fraction" (reference: drop the oldest shrink_fraction of the stored data once per
    check) or "until_below" (paper: drop the oldest num_oldest at a time until the distance
    is <= threshold or buffer_min is reached)."""
    shrink_fraction: float = paper.SHRINK_FRACTION
    """Fraction of the stored data dropped per check by shrink="fraction"."""
    distance_form: str = "reference"
    """"reference" (half MSE of normalised actions) or "l2" (paper's mean L2 norm)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ConfigError(f"threshold must be > 0, got {self.threshold!r}")
        if self.buffer_check_interval <= 0:
            raise ConfigError(
                f"buffer_check_interval must be >= 1, got {self.buffer_check_interval!r}"
            )
        if self.buffer_max <= 0:
            raise ConfigError(f"buffer_max must be >= 1, got {self.buffer_max!r}")
        if self.buffer_min < 0:
            raise ConfigError(f"buffer_min must be >= 0, got {self.buffer_min!r}")
        if self.buffer_min > self.buffer_max:
            raise ConfigError(f"buffer_min={self.buffer_min} exceeds buffer_max={self.buffer_max}")
        if not 0 < self.num_oldest <= self.buffer_max:
            raise ConfigError(
                f"num_oldest must be in [1, buffer_max={self.buffer_max}], got {self.num_oldest!r}"
            )
        if self.shrink not in SHRINK_RULES:
            raise ConfigError(f"shrink must be one of {SHRINK_RULES}, got {self.shrink!r}")
        if not 0 < self.shrink_fraction < 1:
            raise ConfigError(f"shrink_fraction must be in (0, 1), got {self.shrink_fraction!r}")
        if self.distance_form not in DISTANCE_FORMS:
            raise ConfigError(
                f"distance_form must be one of {DISTANCE_FORMS}, got {self.distance_form!r}"
            )


@dataclass(frozen=True)
class CapacityCheck:
    """What one check measured and did."""

    step: int
    """Env step of the check."""
    distance: float
    """Policy distance of the oldest num_oldest transitions when the check started."""
    size_before: int
    """Stored transitions before the check."""
    size_after: int
    """Stored transitions after it (== size_before when nothing was dropped)."""


class ShrinkableBuffer(Protocol):
    """What DynamicCapacity needs from a buffer (ReplayBuffer provides it)."""

    def __len__(self) -> int: ...
    def oldest(self, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def drop_oldest(self, count: int) -> None: ...


DistanceFn = Callable[[np.ndarray, np.ndarray], float]
"""(obs [K, obs_dim], behaviour_actions [K, act_dim]) -> policy distance."""


class DynamicCapacity:
    """Shrink controller: call ``maybe_shrink`` once per env step (spec §6)."""

    def __init__(self, config: DynamicCapacityConfig) -> None:
        if not isinstance(config, DynamicCapacityConfig):
            raise ConfigError(
                f"config must be a DynamicCapacityConfig, got {type(config).__name__}"
            )
        self.config = config
        self.last_check: CapacityCheck | None = None

    def distance(self, policy_actions: Any, behaviour_actions: Any, max_action: Any) -> float:
        """``policy_distance`` in the configured form (for the algorithm's distance_fn)."""
        return policy_distance(
            policy_actions, behaviour_actions, max_action, form=self.config.distance_form
        )

    def maybe_shrink(
        self, step: int, buffer: ShrinkableBuffer, distance_fn: DistanceFn
    ) -> CapacityCheck | None:
        """Check at every multiple of buffer_check_interval once the buffer holds num_oldest.

        Returns None when no check ran, else the CapacityCheck (also kept as last_check).
        Drops oldest data only while the distance is > threshold and the size is >
        buffer_min, and never below buffer_min.
        """
        config = self.config
        if step < 0:
            raise ConfigError(f"step must be >= 0, got {step!r}")
        if step % config.buffer_check_interval != 0 or len(buffer) < config.num_oldest:
            return None
        size_before = len(buffer)
        distance = float(distance_fn(*buffer.oldest(config.num_oldest)))
        if config.shrink == "fraction":
            # Reference: one cut of shrink_fraction of the stored data per check (spec §7.3).
            if distance > config.threshold and size_before > config.buffer_min:
                count = max(1, int(size_before * config.shrink_fraction))
                buffer.drop_oldest(min(count, size_before - config.buffer_min))
        else:
            # Paper: the K measured transitions are stale, so drop them and measure the next K.
            current = distance
            while current > config.threshold and len(buffer) > config.buffer_min:
                buffer.drop_oldest(min(config.num_oldest, len(buffer) - config.buffer_min))
                if len(buffer) < config.num_oldest:
                    break
                current = float(distance_fn(*buffer.oldest(config.num_oldest)))
        self.last_check = CapacityCheck(step, distance, size_before, len(buffer))
        return self.last_check

    def state_dict(self) -> dict[str, Any]:
        """The last check (the controller holds no other state)."""
        return {"last_check": None if self.last_check is None else asdict(self.last_check)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        last = state["last_check"]
        self.last_check = None if last is None else CapacityCheck(**last)
