"""Composes an agent from the config: algorithm + networks + sparsity (+ value learning).

This is where the method table (``rlx2.presets``) meets the sparse engine: per network a
``SparseUpdater`` (masks, topology scheme, drop schedule) or a ``DenseUpdater``; for Tiny,
the hidden widths that match the sparse weight counts. The backend (``--backend``) chooses
how sparse networks execute: masked ``nn.Linear`` networks (the reference, any device), or
their compact form (``rlx2.sparse_nets``) with a ``CSRUpdater``, ``LeanAdam`` and targets
that follow the online structure (CPU).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import torch
from torch import nn

from rlx2.algos.common import WeightUpdater
from rlx2.algos.sac import SAC
from rlx2.algos.td3 import TD3
from rlx2.config import TrainConfig
from rlx2.errors import ConfigError
from rlx2.presets import METHODS
from rlx2.sparse.allocation import total_active
from rlx2.sparse.csr_updater import CSRUpdater
from rlx2.sparse.kernels import LeanAdam, weight_matrices
from rlx2.sparse.masks import MaskSet
from rlx2.sparse.schedule import DropSchedule
from rlx2.sparse.tiny import tiny_hidden_width
from rlx2.sparse.topology import DenseUpdater, SparseUpdater, get_topology
from rlx2.sparse_nets import sparse_core, sparse_network
from rlx2.train.envs import EnvSpec
from rlx2.value.capacity import DynamicCapacity, DynamicCapacityConfig
from rlx2.value.replay import ReplayBuffer
from rlx2.value.targets import DelayedNStep

Agent = TD3 | SAC


def actor_out_dim(algo: str, act_dim: int) -> int:
    """The SAC actor's head gives mean and log σ."""
    return 2 * act_dim if algo == "sac" else act_dim


def dense_weight_counts(
    config: TrainConfig, spec: EnvSpec, hidden: int | None = None
) -> dict[str, int]:
    """Weights (no biases) of the full-width dense actor and twin critic: the reference sizes."""
    h = config.agent.hidden if hidden is None else hidden
    out = actor_out_dim(config.algo, spec.act_dim)
    actor = spec.obs_dim * h + h * h + h * out
    critic = 2 * ((spec.obs_dim + spec.act_dim) * h + h * h + h)
    return {"actor": actor, "critic": critic}


def network_updates(config: TrainConfig) -> dict[str, int]:
    """Updates each network receives over the run: one critic update per post-warm-up step;
    the TD3 actor every ``policy_delay``-th (spec §3: its T_end is half the critic's)."""
    critic = max(config.run.total_steps - config.run.learning_starts, 0)
    actor = critic // config.td3.policy_delay if config.algo == "td3" else critic
    return {"actor": actor, "critic": critic}


def tiny_widths(
    config: TrainConfig, spec: EnvSpec, sparsities: tuple[float, float]
) -> dict[str, int]:
    """Hidden widths whose dense weight counts match the sparse networks' active counts (spec §4)."""
    h = config.agent.hidden
    out = actor_out_dim(config.algo, spec.act_dim)
    actor_shapes = [(h, spec.obs_dim), (h, h), (out, h)]
    head = [(h, spec.obs_dim + spec.act_dim), (h, h), (1, h)]
    actor_target = total_active(actor_shapes, sparsities[0])
    critic_target = total_active(head + head, sparsities[1])
    return {
        "actor": tiny_hidden_width(spec.obs_dim, out, actor_target),
        "critic": tiny_hidden_width(spec.obs_dim + spec.act_dim, 1, critic_target, heads=2),
    }


def check_device(device: str) -> torch.device:
    """``--device`` as a torch device this machine has. Raises ConfigError."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"--device {device!r} is not a torch device (cpu, cuda, cuda:1)"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: torch sees no CUDA device on this machine; use --device cpu"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    elif resolved.type != "cpu":
        raise ConfigError(f"--device {device}: rlx2 runs on cpu or cuda, not {resolved.type}")
    return resolved


def optimizer_for(backend: str, device: str):
    """The Adam each network trains with; every choice has torch.optim.Adam's arithmetic.

    sparse: LeanAdam, without torch.optim.Adam's ~100 µs of Python per step (a tenth of a
    sparse update). CUDA: the fused Adam, one kernel for all of a network's tensors instead
    of a launch group per tensor (launches, not FLOPs, bound small-MLP updates on a GPU).
    """
    if backend == "sparse":
        return LeanAdam
    if torch.device(device).type == "cuda":
        return functools.partial(torch.optim.Adam, fused=True)
    return torch.optim.Adam


def compile_mode(config: TrainConfig) -> str | None:
    """torch.compile mode of the losses: None (eager), CUDA graphs on a GPU, else default."""
    if not config.run.compile:
        return None
    return "reduce-overhead" if torch.device(config.run.device).type == "cuda" else "default"


def build_agent(config: TrainConfig, spec: EnvSpec) -> tuple[Agent, dict[str, Any]]:
    """The agent and the effective values the config resolved to (written to config.json)."""
    check_device(config.run.device)
    method = METHODS[config.sparse.method]
    sparsities = config.sparsities()
    updates = network_updates(config)
    backend = config.effective_backend()
    effective: dict[str, Any] = {
        "method": config.sparse.method,
        "network_updates": updates,
        "backend": backend,
    }
    hidden: dict[str, int] | None = None

    if method.sparse:
        assert sparsities is not None
        scheme_name = config.sparse.topology or method.topology
        assert scheme_name is not None
        scheme = get_topology(scheme_name)
        sparsity_of = {"actor": sparsities[0], "critic": sparsities[1]}
        ends = {
            name: max(1, int(count * config.sparse.topology_end_fraction))
            for name, count in updates.items()
        }
        effective.update(
            actor_sparsity=sparsities[0],
            critic_sparsity=sparsities[1],
            topology=scheme_name,
            topology_interval=config.sparse.topology_interval,
            topology_end_updates=ends if scheme.evolves else None,
            reset_moments=config.sparse.reset_moments,
        )
        if backend == "sparse" and not config.sparse.reset_moments:
            effective["reset_moments"] = True
            effective["reset_moments_note"] = (
                "the sparse backend keeps optimiser moments only for active weights, so grown "
                "weights start with zero moments (--reset-moments) whatever the flag says"
            )
        seeds = {"actor": config.run.seed * 2 + 1, "critic": config.run.seed * 2 + 2}

        def setup_network(name: str, network: nn.Module) -> tuple[nn.Module, WeightUpdater]:
            try:
                masks = MaskSet.for_module(
                    network, sparsity_of[name], config.sparse.sparsity_distribution
                )
            except ConfigError as exc:  # name the option: the engine only knows "a sparsity"
                raise ConfigError(f"--{name}-sparsity {sparsity_of[name]}: {exc}") from None
            schedule = (
                DropSchedule(
                    initial_fraction=config.sparse.drop_fraction,
                    interval_updates=config.sparse.topology_interval,
                    end_update=ends[name],
                )
                if scheme.evolves
                else None
            )
            if backend == "sparse":
                compact = sparse_network(network, masks.masks)
                return compact, CSRUpdater(sparse_core(compact), scheme, schedule, seeds[name])
            updater = SparseUpdater(
                masks, scheme, schedule, reset_moments=config.sparse.reset_moments, seed=seeds[name]
            )
            return network, updater
    else:

        def setup_network(name: str, network: nn.Module) -> tuple[nn.Module, WeightUpdater]:
            return network, DenseUpdater()

        if method.tiny:
            assert sparsities is not None
            hidden = tiny_widths(config, spec, sparsities)
            effective.update(
                tiny_hidden=hidden, actor_sparsity=sparsities[0], critic_sparsity=sparsities[1]
            )

    common = dict(
        obs_dim=spec.obs_dim,
        act_dim=spec.act_dim,
        low=spec.low,
        high=spec.high,
        agent=config.agent,
        setup_network=setup_network,
        device=config.run.device,
        hidden=hidden,
        optimizer=optimizer_for(backend, config.run.device),
        compile_mode=compile_mode(config),
    )
    agent: Agent = (
        TD3(config=config.td3, **common)
        if config.algo == "td3"
        else SAC(config=config.sac, **common)
    )
    if backend == "sparse":
        # Target networks share their online network's structure (spec §2).
        networks = agent.networks()
        for name, updater in agent.updaters().items():
            target = networks.get(f"{name}_target")
            if target is not None:
                assert isinstance(updater, CSRUpdater)
                updater.follow(sparse_core(target))
    effective["weights"] = {
        name: sum(w.numel() for w in weight_matrices(getattr(agent, name)))
        for name in ("actor", "critic")
    }
    return agent, effective


def build_value_learning(
    config: TrainConfig, spec: EnvSpec
) -> tuple[ReplayBuffer, DelayedNStep, DynamicCapacity | None, dict[str, Any]]:
    """Replay buffer, n-step schedule and (optional) dynamic-capacity controller (spec §5–§6)."""
    settings = config.value_settings()
    # Never allocate more rows than the run can fill.
    capacity = min(settings.buffer_capacity, config.run.total_steps)
    buffer = ReplayBuffer(
        spec.obs_dim,
        spec.act_dim,
        capacity=capacity,
        seed=config.run.seed,
        device=config.run.device,
    )
    nstep = DelayedNStep(n=settings.nstep, delay_updates=settings.nstep_delay)
    controller = None
    if settings.dynamic_buffer:
        value = config.value
        assert settings.buffer_min is not None and settings.check_interval is not None
        controller = DynamicCapacity(
            DynamicCapacityConfig(
                threshold=value.distance_threshold,
                check_interval=settings.check_interval,
                num_oldest=value.distance_samples,
                min_capacity=settings.buffer_min,
                max_capacity=settings.buffer_capacity,
                shrink=value.buffer_shrink,
                shrink_fraction=value.shrink_fraction,
                distance_form=value.distance_form,
            )
        )
    return buffer, nstep, controller, dataclasses.asdict(settings)
