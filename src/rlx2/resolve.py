"""Options + task -> the resolved run: every value a run uses, decided once (issue 10).

``rlx2 train``'s options (``rlx2.config``) leave much to be derived: the sparsities of a
preset, the backend ``auto`` picks, the value-learning settings scaled to the budget, each
network's hidden width (Tiny), layer shapes and exact active counts, the updates each network
receives and its topology end point. :func:`resolve_run` derives all of them, in this one
place, into a frozen :class:`ResolvedRun`; builders only construct from it, ``config.json``
records it (``ResolvedRun.record``, under "effective"), and resume, export and ``rlx2 cost``
resolve the same options to the same values.

The task-independent parts (:func:`run_sparsities`, :func:`run_backend`,
:func:`value_settings`) also validate a ``TrainConfig`` when it is built, so bad
combinations fail before anything else happens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rlx2 import config as config_module
from rlx2 import paper
from rlx2.algorithms import algorithm
from rlx2.errors import ConfigError
from rlx2.presets import METHODS, paper_sparsities
from rlx2.shapes import NetworkShapes, Shape, network_shapes, weight_count

if TYPE_CHECKING:
    from rlx2.config import TrainConfig

NETWORKS = ("actor", "critic")

AUTO_SPARSE_MIN_SPARSITY = 0.5
"""--backend auto runs sparse methods on the sparse backend from this actor and critic sparsity
up. Measured (TD3 update, obs 17, act 6, `rlx2 bench`): sparse / masked time 1.11 at 0 %,
0.87 at 30 %, 0.73 at 50 %, 0.39 at 80 %; the batch-1 actor is slower than masked at 30 %."""


@dataclass(frozen=True)
class ValueSettings:
    """The value-learning options resolved for one run: every value concrete (spec §5–§6)."""

    rlx2_value_learning: bool
    nstep: int
    nstep_delay: int
    dynamic_buffer: bool
    buffer_capacity: int
    buffer_min: int | None
    buffer_check_interval: int | None
    budget_scale: float


@dataclass(frozen=True)
class NetworkPlan:
    """One network as it is built and trained."""

    hidden: int
    """Hidden width (``--hidden``, or Tiny's solved width)."""
    shapes: tuple[Shape, ...]
    """(out, in) of every weight matrix, in layer order (both critic heads)."""
    active: tuple[int, ...]
    """Active weights per layer: the exact allocation of a sparse network, all for dense."""
    sparsity: float | None
    """The requested overall sparsity (also Tiny's matched one); None for dense."""
    updates: int
    """Updates this network receives over the run (the TD3 actor: every policy_delay-th)."""
    topology_end: int | None
    """T_end: this network's last update that may evolve its topology (None: never evolves)."""
    seed: int
    """Seed of this network's topology generator."""

    @property
    def weights(self) -> int:
        """Weights (no biases) of the network as built, active or not."""
        return weight_count(self.shapes)


@dataclass(frozen=True)
class TopologyPlan:
    """How a sparse method's networks evolve (spec §3)."""

    scheme: str
    evolves: bool
    interval: int
    drop_fraction: float
    reset_moments: bool
    distribution: str


@dataclass(frozen=True)
class ResolvedRun:
    """Everything a run uses that its options leave to derive (see the module docstring)."""

    algo: str
    env: str
    obs_dim: int
    act_dim: int
    method: str
    backend: str
    """dense, masked or sparse: ``auto`` resolved."""
    sparse: bool
    """Networks carry masks (ss, set, rigl, rlx2)."""
    actor: NetworkPlan
    critic: NetworkPlan
    reference: NetworkShapes
    """The full-width dense networks: the baseline of every size and FLOPs ratio."""
    topology: TopologyPlan | None
    value: ValueSettings
    policy_delay: int | None
    """TD3's critic updates per actor update (None for SAC: every update)."""

    def network(self, name: str) -> NetworkPlan:
        if name not in NETWORKS:
            raise ConfigError(f"network={name!r} is unknown; valid: {', '.join(NETWORKS)}")
        return self.actor if name == "actor" else self.critic

    @property
    def tiny(self) -> bool:
        return METHODS[self.method].tiny

    def record(self) -> dict[str, Any]:
        """The JSON form written to config.json ("effective"); keys kept from earlier versions
        so every reader of older run directories reads this one too."""
        plans = {name: self.network(name) for name in NETWORKS}
        record: dict[str, Any] = {
            "method": self.method,
            "network_updates": {name: plan.updates for name, plan in plans.items()},
            "backend": self.backend,
        }
        if self.sparse or self.tiny:
            record["actor_sparsity"] = self.actor.sparsity
            record["critic_sparsity"] = self.critic.sparsity
        if self.topology is not None:
            record.update(
                topology=self.topology.scheme,
                topology_interval=self.topology.interval,
                topology_end_updates=(
                    {name: plan.topology_end for name, plan in plans.items()}
                    if self.topology.evolves
                    else None
                ),
                reset_moments=self.topology.reset_moments,
            )
        if self.tiny:
            record["tiny_hidden"] = {name: plan.hidden for name, plan in plans.items()}
        record["weights"] = {name: plan.weights for name, plan in plans.items()}
        record["networks"] = {
            name: {
                "hidden": plan.hidden,
                "shapes": [list(s) for s in plan.shapes],
                "active": list(plan.active),
                "seed": plan.seed,
            }
            for name, plan in plans.items()
        }
        record["value_learning"] = dataclasses.asdict(self.value)
        return record


# ----- the task-independent parts (also run when a TrainConfig is built) ---------------------
def run_sparsities(config: TrainConfig) -> tuple[float, float] | None:
    """(actor, critic) sparsity the method runs at; None for dense. Raises ConfigError."""
    sparse = config.sparse
    if sparse.method == "dense":
        return None
    preset = paper_sparsities(config.algo, config.env) if sparse.preset == "paper" else (None, None)
    actor = sparse.actor_sparsity if sparse.actor_sparsity is not None else preset[0]
    critic = sparse.critic_sparsity if sparse.critic_sparsity is not None else preset[1]
    if actor is None or critic is None:
        raise ConfigError(
            f"--method {sparse.method} needs --actor-sparsity and --critic-sparsity (or --preset paper)"
        )
    if METHODS[sparse.method].tiny and sparse.topology is not None:
        raise ConfigError("--topology applies to sparse methods, not --method tiny")
    return actor, critic


EVOLUTION_OPTIONS = ("topology_interval", "drop_fraction", "topology_end_fraction", "reset_moments")
"""SparseConfig fields that only a topology that evolves uses."""


def ignored_options(config: TrainConfig) -> list[str]:
    """``--flag`` of every sparsity option set to a non-default value that this run's method
    does not use (--actor-sparsity with --method dense, say): worth a warning, since the run
    does not do what the command line suggests."""
    method = METHODS[config.sparse.method]
    names = [f.name for f in dataclasses.fields(config_module.SparseConfig) if f.name != "method"]
    if method.tiny:  # sparsities only set the width
        used = {"actor_sparsity", "critic_sparsity", "preset"}
    elif method.sparse:
        scheme = topology_scheme(config)
        assert scheme is not None
        used = set(names) - (set() if _scheme_evolves(scheme) else set(EVOLUTION_OPTIONS))
    else:
        used = set()
    defaults = config_module.SparseConfig()
    flags = []
    for name in names:
        default = getattr(defaults, name)
        if name in used or getattr(config.sparse, name) == default:
            continue
        flag = name.replace("_", "-")
        flags.append(f"--no-{flag}" if default is True else f"--{flag}")
    return flags


def topology_scheme(config: TrainConfig) -> str | None:
    """The topology scheme a sparse method runs (``--topology`` or the method's own)."""
    if not METHODS[config.sparse.method].sparse:
        return None
    return config.sparse.topology or METHODS[config.sparse.method].topology


def _scheme_evolves(name: str) -> bool:
    from rlx2.sparse.schemes import get_topology

    return get_topology(name).evolves


def run_backend(config: TrainConfig) -> str:
    """The backend this run executes with: dense, masked or sparse (``auto`` resolved; a dense
    method's networks have no masks, so masked means dense for them). Raises ConfigError."""
    sparse, requested = METHODS[config.sparse.method].sparse, config.run.backend
    scheme = topology_scheme(config)
    # The compact layout keeps no moments for inactive weights: stale moments of regrown
    # weights (--no-reset-moments) exist only where weights are dense and masked.
    stale_moments = (
        scheme is not None and not config.sparse.reset_moments and _scheme_evolves(scheme)
    )
    if requested == "auto":
        if not sparse:
            return "dense"
        sparsities = run_sparsities(config)
        assert sparsities is not None
        on_cpu = config.run.device.split(":")[0] == "cpu"
        faster = min(sparsities) >= AUTO_SPARSE_MIN_SPARSITY
        eligible = on_cpu and faster and not config.run.compile and not stale_moments
        return "sparse" if eligible and config_module.numba_available() else "masked"
    if requested == "dense" and sparse:
        raise ConfigError(
            f"--backend dense cannot run --method {config.sparse.method}: its networks are "
            "sparse; use --backend sparse or masked (or auto)"
        )
    if requested == "sparse" and not sparse:
        raise ConfigError(
            f"--backend sparse needs a sparse method (ss, set, rigl, rlx2); --method "
            f"{config.sparse.method} trains dense networks (use --backend dense or auto)"
        )
    if requested == "sparse" and stale_moments:
        raise ConfigError(
            "--no-reset-moments keeps stale optimiser moments of regrown weights, which the "
            "sparse backend does not store; use --backend masked (or auto) with it"
        )
    return requested if sparse else "dense"


def value_learning_defaults(rlx2_value_learning: bool) -> tuple[int, bool]:
    """(n of the TD target, dynamic buffer?) when --nstep and --dynamic-buffer are left to
    their defaults: the paper's 3-step target and dynamic buffer with RLx2's value learning
    (spec §5-§6), 1 step and a fixed buffer without."""
    return (paper.NSTEP, True) if rlx2_value_learning else (1, False)


def value_settings(config: TrainConfig) -> ValueSettings:
    """Resolve the value-learning options for this run (spec §5–§6). Raises ConfigError."""
    value = config.value
    rlx2 = value.value_learning == "rlx2" or (
        value.value_learning == "auto" and METHODS[config.sparse.method].rlx2_value_learning
    )
    scale = (
        value.budget_scale
        if value.budget_scale is not None
        else min(1.0, config.run.total_steps / paper.TOTAL_STEPS)
    )
    default_n, default_dynamic = value_learning_defaults(rlx2)
    nstep = value.nstep if value.nstep is not None else default_n
    delay = (
        value.nstep_delay
        if value.nstep_delay is not None
        else (round(paper.NSTEP_DELAY * scale) if nstep > 1 else 0)
    )
    dynamic = value.dynamic_buffer == "on" or (value.dynamic_buffer == "auto" and default_dynamic)
    if not dynamic:
        settings = ValueSettings(rlx2, nstep, delay, False, value.buffer_size, None, None, scale)
        return _check_buffer_fits(config, settings)
    paper_min, paper_max = algorithm(config.algo).buffer_bounds
    # Scaled defaults never fall below K, so short runs stay valid; explicit values are checked.
    k = value.distance_samples
    buffer_max = (
        value.buffer_max if value.buffer_max is not None else max(round(paper_max * scale), k)
    )
    buffer_min = (
        value.buffer_min
        if value.buffer_min is not None
        else min(max(round(paper_min * scale), k), buffer_max)
    )
    interval = (
        value.buffer_check_interval
        if value.buffer_check_interval is not None
        else max(round(paper.CHECK_INTERVAL * scale), 1)
    )
    if buffer_min > buffer_max:
        raise ConfigError(
            f"--buffer-min ({buffer_min}) must not exceed --buffer-max ({buffer_max})"
        )
    if value.distance_samples > buffer_max:
        raise ConfigError(
            f"--distance-samples ({value.distance_samples}) must not exceed the buffer capacity "
            f"--buffer-max ({buffer_max})"
        )
    settings = ValueSettings(rlx2, nstep, delay, True, buffer_max, buffer_min, interval, scale)
    return _check_buffer_fits(config, settings)


def _check_buffer_fits(config: TrainConfig, settings: ValueSettings) -> ValueSettings:
    """The smallest the buffer can be must hold a batch and an n-step window, or the first
    update would fail (or sample the same few transitions over and over)."""
    if settings.dynamic_buffer:
        smallest, what = settings.buffer_min, "--buffer-min"
    else:
        smallest, what = settings.buffer_capacity, "--buffer-size"
    assert smallest is not None
    if smallest < config.agent.batch_size:
        raise ConfigError(
            f"{what} ({smallest}) must be >= --batch-size ({config.agent.batch_size})"
        )
    stored = min(smallest, config.run.total_steps)  # the buffer never holds more than the run
    if settings.nstep > stored:
        raise ConfigError(
            f"--nstep ({settings.nstep}) must not exceed the transitions the replay buffer "
            f"can hold ({stored}: {what} and --total-steps)"
        )
    return settings


def network_updates(config: TrainConfig) -> dict[str, int]:
    """Updates each network receives over the run: one critic update per post-warm-up step;
    the actor every ``actor_update_period``-th (TD3's policy delay: spec §3, its T_end is half
    the critic's)."""
    critic = max(config.run.total_steps - config.run.learning_starts, 0)
    actor = critic // algorithm(config.algo).actor_update_period(config)
    return {"actor": actor, "critic": critic}


# ----- the whole run ---------------------------------------------------------------------------
def tiny_widths(
    algo: str, obs_dim: int, act_dim: int, hidden: int, sparsities: tuple[float, float]
) -> dict[str, int]:
    """Hidden widths whose dense weight counts match the sparse networks' active counts (spec §4)."""
    from rlx2.sparse.allocation import total_active
    from rlx2.sparse.tiny import tiny_hidden_width

    full = network_shapes(algo, obs_dim, act_dim, hidden)
    actor_out = full.actor[-1][0]
    return {
        "actor": tiny_hidden_width(obs_dim, actor_out, total_active(full.actor, sparsities[0])),
        "critic": tiny_hidden_width(
            obs_dim + act_dim, 1, total_active(full.critic, sparsities[1]), heads=2
        ),
    }


def resolve_run(config: TrainConfig, obs_dim: int, act_dim: int) -> ResolvedRun:
    """Every derived value of the run ``config`` describes on a task of these dimensions."""
    from rlx2.sparse.allocation import active_counts

    method = METHODS[config.sparse.method]
    sparsities = run_sparsities(config)
    backend = run_backend(config)
    updates = network_updates(config)
    hidden = config.agent.hidden
    reference = network_shapes(config.algo, obs_dim, act_dim, hidden)
    widths = {"actor": hidden, "critic": hidden}
    if method.tiny:
        assert sparsities is not None
        widths = tiny_widths(config.algo, obs_dim, act_dim, hidden, sparsities)
    built = network_shapes(config.algo, obs_dim, act_dim, widths["actor"], widths["critic"])

    topology = None
    scheme = topology_scheme(config)
    if scheme is not None:
        topology = TopologyPlan(
            scheme=scheme,
            evolves=_scheme_evolves(scheme),
            interval=config.sparse.topology_interval,
            drop_fraction=config.sparse.drop_fraction,
            reset_moments=config.sparse.reset_moments,
            distribution=config.sparse.sparsity_distribution,
        )

    def plan(name: str, index: int) -> NetworkPlan:
        shapes = built.of(name)
        sparsity = None if sparsities is None else sparsities[index]
        active = [out * inp for out, inp in shapes]
        if method.sparse:
            assert sparsity is not None and topology is not None
            try:
                active = active_counts(list(shapes), sparsity, topology.distribution)
            except ConfigError as exc:  # name the option: the engine only knows "a sparsity"
                raise ConfigError(f"--{name}-sparsity {sparsity}: {exc}") from None
        end = None
        if topology is not None and topology.evolves:
            end = max(1, int(updates[name] * config.sparse.topology_end_fraction))
        return NetworkPlan(
            hidden=widths[name],
            shapes=tuple(shapes),
            active=tuple(active),
            sparsity=sparsity,
            updates=updates[name],
            topology_end=end,
            seed=config.run.seed * 2 + 1 + index,
        )

    return ResolvedRun(
        algo=config.algo,
        env=config.env,
        obs_dim=obs_dim,
        act_dim=act_dim,
        method=config.sparse.method,
        backend=backend,
        sparse=method.sparse,
        actor=plan("actor", 0),
        critic=plan("critic", 1),
        reference=reference,
        topology=topology,
        value=value_settings(config),
        policy_delay=(
            spec.actor_update_period(config)
            if (spec := algorithm(config.algo)).delays_actor
            else None
        ),
    )
