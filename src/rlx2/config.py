"""Typed configuration: one frozen dataclass per layer, combined into ``TrainConfig``.

Every default lives here and only here (the CLI is generated from these dataclasses by tyro,
and each field's docstring is its ``--help`` text). Defaults are the paper's values
(spec §1, §8). Validation happens in ``__post_init__`` and raises ``ConfigError`` naming the
option, which the CLI prints as one line with exit status 2.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal, get_args

import tyro

from rlx2 import paper
from rlx2.errors import ConfigError

if TYPE_CHECKING:
    from rlx2.resolve import ValueSettings

Algo = Literal["td3", "sac"]
Method = Literal["dense", "tiny", "ss", "set", "rigl", "rlx2"]
Backend = Literal["auto", "dense", "masked", "sparse"]
BACKENDS: tuple[str, ...] = get_args(Backend)


def numba_available() -> bool:
    """Whether the sparse backend's kernels can be compiled here (numba is not imported)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


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


RUN_DIR_TEMPLATE = "runs/{env}_{algo}_{method}_s{seed}_{time}"
"""The run directory when --run-dir is not given (``time``: YYYYmmdd-HHMMSS)."""
RUN_DIR_HELP = "Exact directory to write; default " + RUN_DIR_TEMPLATE.replace("{", "<").replace(
    "}", ">"
)

MAX_SEED = 2**32 - 1
"""Largest --seed: NumPy's global generator (np.random.seed) takes 32-bit seeds."""

# RunConfig fields that change how a run is executed or logged, not what it computes: two runs
# differing only in these are the same experiment (used by sweep re-runs and report grouping).
EXECUTION_FIELDS = frozenset(
    {
        "run_dir",
        "quiet",
        "threads",
        "overwrite",
        "device",
        "log_every",
        "checkpoint_every",
        "checkpoint_minutes",
        "resume",
        "backend",
        "compile",
        "diagnostics",
        "dormant_tau",
    }
)


@dataclass(frozen=True)
class AgentConfig:
    """What TD3 and SAC share (spec §1)."""

    gamma: float = paper.GAMMA
    """Discount factor γ, in (0, 1]."""
    tau: float = paper.TAU
    """Polyak coefficient of the target networks, in (0, 1]."""
    actor_lr: float = paper.LEARNING_RATE
    """Adam learning rate of the actor."""
    critic_lr: float = paper.LEARNING_RATE
    """Adam learning rate of the critic."""
    batch_size: int = paper.BATCH_SIZE
    """Transitions (or n-step windows) per gradient update."""
    hidden: int = paper.HIDDEN
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

    exploration_noise: float = paper.TD3_EXPLORATION_NOISE
    """Std of the Gaussian exploration noise."""
    policy_noise: float = paper.TD3_POLICY_NOISE
    """Std of the target policy smoothing noise."""
    noise_clip: float = paper.TD3_NOISE_CLIP
    """Clip of the target policy smoothing noise."""
    policy_delay: int = paper.TD3_POLICY_DELAY
    """Critic updates per actor (and target) update."""

    def __post_init__(self) -> None:
        require_non_negative(self, "exploration_noise", "policy_noise", "noise_clip")
        require_positive(self, "policy_delay")


@dataclass(frozen=True)
class SACConfig:
    """SAC specifics (Haarnoja et al. 2018; spec §1)."""

    alpha_lr: float = paper.LEARNING_RATE
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
        if self.target_entropy is not None and not math.isfinite(self.target_entropy):
            # NaN would only surface as a non-finite alpha loss at the first update.
            raise ConfigError(
                f"--target-entropy must be a finite number, got {self.target_entropy!r}"
            )
        if not self.log_std_min < self.log_std_max:
            raise ConfigError("--log-std-min must be smaller than --log-std-max")


@dataclass(frozen=True)
class RunConfig:
    """The run itself: budget, evaluation cadence, seeding, outputs (spec §8)."""

    total_steps: int = paper.TOTAL_STEPS
    """Environment steps of the whole run."""
    learning_starts: int = paper.LEARNING_STARTS
    """Steps of uniformly random actions before learning starts (warm-up)."""
    eval_every: int = paper.EVAL_EVERY
    """Evaluate the deterministic policy every this many env steps."""
    eval_episodes: int = paper.EVAL_EPISODES
    """Episodes per evaluation (separate env seeded seed+100)."""
    seed: int = 0
    """Seed of everything (env, networks, replay sampling)."""
    run_dir: Annotated[str | None, tyro.conf.arg(help=RUN_DIR_HELP)] = None
    """Exact directory to write (--help shows RUN_DIR_HELP, which names the default)."""
    threads: int = 1
    """torch intra-op threads (small MLPs are fastest with 1)."""
    checkpoint_every: int = 100_000
    """Save a resumable checkpoint (checkpoints/latest.pt, replay buffer included: ~124 MB for Hopper at 1 M transitions) every this many env steps (0: never by steps)."""
    checkpoint_minutes: float = 30.0
    """Also save it when this many minutes have passed since the last one, whichever comes first (0: never by time)."""
    log_every: int = 1_000
    """Write training metrics to TensorBoard every this many env steps."""
    quiet: bool = False
    """No progress bar: plain log lines at each evaluation only."""
    overwrite: bool = False
    """Delete an existing run in --run-dir and start again."""
    resume: str | None = None
    """Continue the interrupted run in this directory from its last checkpoint (no other options)."""
    device: str = "cpu"
    """torch device for the networks (cpu, cuda)."""
    backend: Backend = "auto"
    """How networks execute: dense (nn.Linear) | masked (nn.Linear with masks: the reference, any device) | sparse (only the active weights, CPU, numba) | auto (sparse for sparse methods at >= 50 % sparsity on the CPU with numba installed and no --compile, else masked; dense for dense and tiny)."""
    diagnostics: bool = True
    """At each evaluation, log the critic's Q-value bias on the evaluation episodes, τ-dormant neurons per layer and topology exploration (TensorBoard, evaluations.csv, summary.json); --no-diagnostics skips them."""
    dormant_tau: float = 0.1
    """τ of the dormant-neuron diagnostic (ReDo): a neuron is dormant when its mean |activation| is at most τ times its layer's."""
    compile: bool = False
    """torch.compile the update's losses (dense and masked backends): fused kernels, and CUDA graphs on a GPU (mode reduce-overhead). Costs ~30-60 s of compilation at the start."""

    def __post_init__(self) -> None:
        require_positive(self, "total_steps", "eval_every", "eval_episodes", "threads", "log_every")
        require_non_negative(
            self, "learning_starts", "checkpoint_every", "checkpoint_minutes", "dormant_tau"
        )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"--backend {self.backend!r} is unknown; choose one of: {', '.join(BACKENDS)}"
            )
        if self.backend == "sparse":
            if self.compile:
                raise ConfigError(
                    "--compile applies to torch execution: use --backend masked (or auto) with "
                    "it; --backend sparse runs numba kernels"
                )
            if self.device.split(":")[0] != "cpu":
                raise ConfigError(
                    f"--backend sparse runs on the CPU only (numba kernels), not --device "
                    f"{self.device}; use --backend masked there"
                )
            if not numba_available():
                raise ConfigError(
                    "--backend sparse needs numba (pip install numba); --backend masked works without it"
                )


@dataclass(frozen=True)
class SparseConfig:
    """Sparse networks from scratch (spec §2–§4)."""

    method: Method = "dense"
    """dense | tiny (width-matched dense) | ss (static sparse) | set | rigl | rlx2 (rigl + RLx2 value learning)."""
    actor_sparsity: float | None = None
    """Overall sparsity of the actor's weights, in [0, 1); required by sparse methods and tiny unless --preset paper."""
    critic_sparsity: float | None = None
    """Overall sparsity of the critic's weights (both Q heads jointly), in [0, 1)."""
    preset: Literal["none", "paper"] = "none"
    """paper: the paper's per-task actor/critic sparsities (HalfCheetah, Hopper, Walker2d, Ant); explicit sparsities win."""
    sparsity_distribution: Literal["er", "uniform"] = "er"
    """Per-layer allocation: Erdős–Rényi (er) or every layer at the same sparsity (uniform)."""
    topology: str | None = None
    """Topology scheme overriding the method's (static, set, rigl, or a registered one)."""
    topology_interval: int = paper.TOPOLOGY_INTERVAL
    """ΔT: evolve the topology every this many updates of that network."""
    drop_fraction: float = paper.DROP_FRACTION
    """ζ₀: initial drop fraction of the cosine schedule, in (0, 1]."""
    topology_end_fraction: float = 1.0
    """T_end as a fraction of each network's total updates (1.0: evolve until the end, spec §3)."""
    reset_moments: bool = True
    """Zero the Adam moments of newly grown weights (corrected mode, the same on every backend); --no-reset-moments keeps the reference's stale moments (spec §7.2), which only --backend masked can (auto then picks it)."""

    def __post_init__(self) -> None:
        for name in ("actor_sparsity", "critic_sparsity"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value < 1.0):
                raise ConfigError(f"{_flag(name)} must be in [0, 1), got {value!r}")
        require_positive(self, "topology_interval", "topology_end_fraction")
        if not (0.0 < self.drop_fraction <= 1.0):
            raise ConfigError(f"--drop-fraction must be in (0, 1], got {self.drop_fraction!r}")
        if self.topology is not None:
            from rlx2.sparse.schemes import get_topology

            get_topology(self.topology)  # unknown names raise ConfigError listing the valid ones


@dataclass(frozen=True)
class ValueConfig:
    """RLx2's value learning: delayed multi-step target and dynamic-capacity buffer (spec §5–§6).

    Unset (None / auto) values follow the method: RLx2 value learning for ``--method rlx2``
    or ``--value-learning rlx2``, the standard 1-step target and fixed buffer otherwise.
    The time-like reference values (n-step delay, buffer bounds and check interval) are
    stated for 3 M steps and are multiplied by the budget scale (default total steps / 3 M,
    at most 1) so shorter runs keep the same proportions; config.json records the results.
    """

    value_learning: Literal["auto", "standard", "rlx2"] = "auto"
    """auto: the method's (rlx2 for --method rlx2); rlx2 adds it to any method (the paper's "SS+", "SET+", "Tiny+")."""
    nstep: int | None = None
    """n of the multi-step target (default: 3 with RLx2 value learning, else 1)."""
    nstep_delay: int | None = None
    """Gradient iterations with 1-step targets before switching to n (default: 300 000 × budget scale)."""
    dynamic_buffer: Literal["auto", "on", "off"] = "auto"
    """Dynamic-capacity replay buffer (auto: on with RLx2 value learning)."""
    buffer_size: int = paper.BUFFER_SIZE
    """Capacity of the fixed replay buffer (methods without the dynamic buffer)."""
    buffer_min: int | None = None
    """Dynamic buffer: never shrink below this (default: TD3 1e5, SAC 2e5, × budget scale)."""
    buffer_max: int | None = None
    """Dynamic buffer: maximum capacity (default: TD3 1e6, SAC 3e6, × budget scale)."""
    buffer_check_interval: int | None = None
    """Dynamic buffer: env steps between policy-distance checks (default: 10 000 × budget scale)."""
    distance_threshold: float = paper.DISTANCE_THRESHOLD
    """Dynamic buffer: shrink while the policy distance is above this."""
    distance_samples: int = paper.DISTANCE_SAMPLES
    """K: the policy distance is measured over the oldest K transitions (8 × batch in the reference)."""
    distance_form: Literal["reference", "l2"] = "reference"
    """reference: ½·mean squared difference of normalised actions; l2: the paper's mean L2 norm."""
    buffer_shrink: Literal["fraction", "until_below"] = "fraction"
    """fraction: drop the oldest --shrink-fraction per check (reference); until_below: pop until under the threshold (paper)."""
    shrink_fraction: float = paper.SHRINK_FRACTION
    """Share of the stored data dropped per check under the fraction rule."""
    budget_scale: float | None = None
    """Multiplier of the time-like reference values (default: min(1, total steps / 3 M))."""

    def __post_init__(self) -> None:
        if self.nstep is not None and self.nstep < 1:
            raise ConfigError(f"--nstep must be >= 1, got {self.nstep}")
        if self.nstep_delay is not None and self.nstep_delay < 0:
            raise ConfigError(f"--nstep-delay must be >= 0, got {self.nstep_delay}")
        require_positive(self, "buffer_size", "distance_samples")
        for name in ("buffer_min", "buffer_max", "buffer_check_interval", "budget_scale"):
            if getattr(self, name) is not None:
                require_positive(self, name)
        if not self.distance_threshold > 0:
            raise ConfigError(f"--distance-threshold must be > 0, got {self.distance_threshold}")
        if not (0.0 < self.shrink_fraction < 1.0):
            raise ConfigError(f"--shrink-fraction must be in (0, 1), got {self.shrink_fraction}")


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
    sparse: SparseConfig = field(default_factory=SparseConfig)
    value: ValueConfig = field(default_factory=ValueConfig)

    def __post_init__(self) -> None:
        if not self.env:
            raise ConfigError("--env must name a Gymnasium task")
        self.sparsities()  # preset and method/sparsity consistency fail here, before any work
        self.effective_backend()
        self.value_settings()
        if self.run.learning_starts >= self.run.total_steps:
            # It would complete without a single update: a "completed" run that never learned.
            raise ConfigError(
                f"--learning-starts ({self.run.learning_starts}) must be smaller than "
                f"--total-steps ({self.run.total_steps}): the run would never learn"
            )
        if self.run.learning_starts < self.agent.batch_size:
            # The first update samples a batch; fewer stored transitions than that cannot fill it.
            raise ConfigError(
                f"--learning-starts ({self.run.learning_starts}) must be >= --batch-size "
                f"({self.agent.batch_size})"
            )

    # Resolution lives in rlx2.resolve (one place); these name its task-independent parts.
    def sparsities(self) -> tuple[float, float] | None:
        """(actor, critic) sparsity the method runs at; None for dense. Raises ConfigError."""
        from rlx2.resolve import run_sparsities

        return run_sparsities(self)

    def effective_backend(self) -> str:
        """The backend this run executes with (``auto`` resolved). Raises ConfigError."""
        from rlx2.resolve import run_backend

        return run_backend(self)

    def value_settings(self) -> ValueSettings:
        """The value-learning settings of this run, every value concrete. Raises ConfigError."""
        from rlx2.resolve import value_settings

        return value_settings(self)


@dataclass(frozen=True)
class CostConfig:
    """``rlx2 cost``: model size and FLOPs of a method as fractions of dense (paper conventions, spec §9)."""

    algo: Algo = "td3"
    """Algorithm."""
    env: str | None = None
    """Gymnasium id to read the dimensions from (or give --obs-dim and --act-dim)."""
    obs_dim: int | None = None
    """Observation size (instead of --env)."""
    act_dim: int | None = None
    """Action size (instead of --env)."""
    method: Method = "rlx2"
    """Method to account for."""
    actor_sparsity: float | None = None
    """Actor sparsity in [0, 1) (default: the paper's for --env with a covered task)."""
    critic_sparsity: float | None = None
    """Critic sparsity in [0, 1)."""
    nstep: int | None = None
    """n of the n-step target (default: 3 for rlx2, 1 otherwise)."""
    hidden: int = paper.HIDDEN
    """Hidden width of the dense reference networks."""
    sparsity_distribution: Literal["er", "uniform"] = "er"
    """Per-layer allocation."""
    policy_delay: int = TD3Config.policy_delay
    """TD3's critic updates per actor update, for the "network" block (the paper's convention assumes 2)."""

    def __post_init__(self) -> None:
        require_positive(self, "policy_delay")
        if self.env is None and (self.obs_dim is None or self.act_dim is None):
            raise ConfigError("give --env or both --obs-dim and --act-dim")
        if self.env is not None and (self.obs_dim is not None or self.act_dim is not None):
            raise ConfigError("give either --env or --obs-dim/--act-dim, not both")
        for name in ("obs_dim", "act_dim", "nstep"):
            if getattr(self, name) is not None:
                require_positive(self, name)
        require_positive(self, "hidden")
        for name in ("actor_sparsity", "critic_sparsity"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value < 1.0):
                raise ConfigError(f"{_flag(name)} must be in [0, 1), got {value!r}")


_SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(TrainConfig)
    if f.default_factory is not dataclasses.MISSING
}
"""TrainConfig's option sections by field name (run, agent, each algorithm's, sparse, value)."""


def config_from_dict(data: dict) -> TrainConfig:
    """Rebuild a TrainConfig from ``dataclasses.asdict`` output (config.json's "config")."""
    nested = _SECTIONS
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
    if "run" in data and "backend" not in data["run"]:
        # Written before --backend existed: those runs executed nn.Linear networks.
        data = {**data, "run": {**data["run"], "backend": "masked"}}
    if (data.get("run") or {}).get("backend") == "sparse" and "sparse" in data:
        # Written when the sparse backend reset grown weights' moments whatever the flag said:
        # record what ran.
        data = {**data, "sparse": {**data["sparse"], "reset_moments": True}}
    kwargs = {
        key: (nested[key](**value) if key in nested else value) for key, value in data.items()
    }
    return TrainConfig(**kwargs)
