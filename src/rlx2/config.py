"""Typed configuration: one frozen dataclass per layer, combined into ``TrainConfig``.

Every default lives here and only here (the CLI is generated from these dataclasses by tyro,
and each field's docstring is its ``--help`` text). Defaults are the paper's values
(spec §1, §8). Validation happens in ``__post_init__`` and raises ``ConfigError`` naming the
option, which the CLI prints as one line with exit status 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from rlx2.errors import ConfigError

Algo = Literal["td3", "sac"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def require_positive(obj: object, *names: str) -> None:
    """Raise ConfigError for the first named field that is not > 0."""
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            raise ConfigError(f"{_flag(name)} must be positive, got {value!r}")


def require_non_negative(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"{_flag(name)} must be >= 0, got {value!r}")


@dataclass(frozen=True)
class AgentConfig:
    """What TD3 and SAC share (spec §1)."""

    gamma: float = 0.99
    """Discount factor γ, in (0, 1]."""
    tau: float = 0.005
    """Polyak coefficient of the target networks, in (0, 1]."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic."""
    batch_size: int = 256
    """Transitions (or n-step windows) per gradient update."""
    hidden: int = 256
    """Width of the two hidden layers of every network."""

    def __post_init__(self) -> None:
        if not (0.0 < self.gamma <= 1.0):
            raise ConfigError(f"--gamma must be in (0, 1], got {self.gamma!r}")
        if not (0.0 < self.tau <= 1.0):
            raise ConfigError(f"--tau must be in (0, 1], got {self.tau!r}")
        require_positive(self, "actor_lr", "critic_lr", "batch_size", "hidden")


@dataclass(frozen=True)
class TD3Config:
    """TD3 specifics (Fujimoto et al. 2018; spec §1). Noise scales are fractions of the action half-range."""

    exploration_noise: float = 0.1
    """Std of the Gaussian exploration noise."""
    policy_noise: float = 0.2
    """Std of the target policy smoothing noise."""
    noise_clip: float = 0.5
    """Clip of the target policy smoothing noise."""
    policy_delay: int = 2
    """Critic updates per actor (and target) update."""

    def __post_init__(self) -> None:
        require_non_negative(self, "exploration_noise", "policy_noise", "noise_clip")
        require_positive(self, "policy_delay")


@dataclass(frozen=True)
class SACConfig:
    """SAC specifics (Haarnoja et al. 2018; spec §1)."""

    alpha_lr: float = 3e-4
    """Adam learning rate of log α."""
    init_alpha: float = 1.0
    """Initial entropy coefficient α (log α starts at log of this; the reference starts at 1)."""
    target_entropy: float | None = None
    """Target entropy of the auto-tuned α; default −|A|."""
    log_std_min: float = -5.0
    """Lower end of the squashed log σ range."""
    log_std_max: float = 2.0
    """Upper end of the squashed log σ range."""
    collect_with_mean: bool = False
    """Collect data with the mean action instead of a sample (the reference code's quirk, spec §7.1)."""

    def __post_init__(self) -> None:
        require_positive(self, "alpha_lr", "init_alpha")
        if not self.log_std_min < self.log_std_max:
            raise ConfigError("--log-std-min must be smaller than --log-std-max")


@dataclass(frozen=True)
class RunConfig:
    """The run itself: budget, evaluation cadence, seeding, outputs (spec §8)."""

    total_steps: int = 3_000_000
    """Environment steps of the whole run."""
    learning_starts: int = 25_000
    """Steps of uniformly random actions before learning starts (warm-up)."""
    eval_every: int = 5_000
    """Evaluate the deterministic policy every this many env steps."""
    eval_episodes: int = 10
    """Episodes per evaluation (separate env seeded seed+100)."""
    seed: int = 0
    """Seed of everything (env, networks, replay sampling)."""
    run_dir: str | None = None
    """Exact directory to write; default runs/<env>_<algo>_<method>_s<seed>_<time>."""
    threads: int = 1
    """torch intra-op threads (small MLPs are fastest with 1)."""
    checkpoint_every: int = 0
    """Save a resumable checkpoint every this many env steps (0: only the final one)."""
    log_every: int = 1_000
    """Write training metrics to TensorBoard every this many env steps."""
    quiet: bool = False
    """No progress bar: plain log lines at each evaluation only."""
    overwrite: bool = False
    """Delete an existing run in --run-dir and start again."""
    device: str = "cpu"
    """torch device for the networks (cpu, cuda)."""

    def __post_init__(self) -> None:
        require_positive(self, "total_steps", "eval_every", "eval_episodes", "threads", "log_every")
        require_non_negative(self, "learning_starts", "checkpoint_every")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class TrainConfig:
    """``rlx2 train``: one training run."""

    env: str = "Hopper-v5"
    """Gymnasium id of a task with Box observation and Box action spaces."""
    algo: Algo = "td3"
    """Algorithm."""
    run: RunConfig = field(default_factory=RunConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    td3: TD3Config = field(default_factory=TD3Config)
    sac: SACConfig = field(default_factory=SACConfig)

    def __post_init__(self) -> None:
        if not self.env:
            raise ConfigError("--env must name a Gymnasium task")
        if self.run.learning_starts < self.agent.batch_size and self.run.learning_starts < self.run.total_steps:
            # The first update samples a batch; fewer stored transitions than that cannot fill it.
            raise ConfigError(
                f"--learning-starts ({self.run.learning_starts}) must be >= --batch-size "
                f"({self.agent.batch_size})"
            )
