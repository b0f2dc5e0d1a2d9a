"""When topology updates happen and how much they change (spec §3)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rlx2 import paper
from rlx2.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class DropSchedule:
    """Cosine-annealed drop fraction on a fixed update interval, counted in one network's updates.

    ``t`` everywhere is that network's own update count, 1-based after the update (the TD3
    actor, updated every 2nd iteration, counts its own updates: spec §3).
    """

    initial_fraction: float = paper.DROP_FRACTION
    """ζ₀: fraction of each layer's active weights dropped (and regrown) at t = 0."""
    interval_updates: int = paper.TOPOLOGY_INTERVAL
    """ΔT: updates of this network between topology updates."""
    end_update: int
    """T_end: no topology update at or after this update; ζ_t reaches 0 here."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.interval_updates, bool)
            or not isinstance(self.interval_updates, int)
            or self.interval_updates <= 0
        ):
            raise ConfigError(f"interval_updates={self.interval_updates!r} must be a positive int")
        if (
            not isinstance(self.initial_fraction, (int, float))
            or not 0.0 < self.initial_fraction <= 1.0
        ):
            raise ConfigError(f"initial_fraction={self.initial_fraction!r} must be in (0, 1]")
        if (
            isinstance(self.end_update, bool)
            or not isinstance(self.end_update, int)
            or self.end_update <= 0
        ):
            raise ConfigError(f"end_update={self.end_update!r} must be a positive int")

    def is_update(self, t: int) -> bool:
        """True when update ``t`` is a topology update: t % ΔT == 0 and t < T_end."""
        return t > 0 and t % self.interval_updates == 0 and t < self.end_update

    def fraction(self, t: int) -> float:
        """ζ_t = (ζ₀/2)·(1 + cos(π·t/T_end)) (spec §3; RigL's cosine decay)."""
        return 0.5 * self.initial_fraction * (1.0 + math.cos(math.pi * t / self.end_update))
