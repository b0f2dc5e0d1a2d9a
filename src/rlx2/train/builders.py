"""Composes an agent from the config: algorithm + networks + sparsity (+ value learning).

This is where the method table (``rlx2.presets``) meets the sparse engine: per network a
``TopologyUpdater`` (masks, topology scheme, drop schedule) or a ``DenseUpdater``; for Tiny,
the hidden widths that match the sparse weight counts. The backend (``--backend``) chooses
how sparse networks execute: masked ``nn.Linear`` networks (the reference, any device), or
their compact form (``rlx2.sparse_nets``) with ``CSRStorage`` and ``LeanAdam`` (CPU). The
topology updater and its semantics are the same for both.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import torch
from torch import nn

from rlx2 import config as config_module
from rlx2.algorithms import algorithm
from rlx2.algos.common import Agent, WeightUpdater
from rlx2.config import TrainConfig
from rlx2.errors import ConfigError
from rlx2.resolve import NETWORKS, ResolvedRun, resolve_run, value_settings
from rlx2.shapes import network_shapes
from rlx2.sparse.csr_updater import CSRUpdater
from rlx2.sparse.kernels import LeanAdam, weight_matrices
from rlx2.sparse.masks import MaskSet
from rlx2.sparse.schedule import DropSchedule
from rlx2.sparse.topology import DenseUpdater, SparseUpdater, get_topology
from rlx2.sparse_nets import sparse_core, sparse_network
from rlx2.train.envs import EnvSpec
from rlx2.value.capacity import DynamicCapacity, DynamicCapacityConfig
from rlx2.value.replay import ReplayBuffer
from rlx2.value.targets import DelayedNStep


def dense_weight_counts(config: TrainConfig, spec: EnvSpec) -> dict[str, int]:
    """Weights (no biases) of the full-width dense actor and twin critic: the reference sizes."""
    reference = network_shapes(config.algo, spec.obs_dim, spec.act_dim, config.agent.hidden)
    return {name: reference.weights(name) for name in NETWORKS}


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

    sparse, and dense on a CPU: LeanAdam, without torch.optim.Adam's ~100 µs of Python per
    step (a tenth of a sparse update; 5 % of a dense TD3 or SAC update on Hopper,
    docs/benchmarks.md). masked (the reference path) and any GPU: the fused Adam, one kernel
    for all of a network's tensors instead of ~10 ops per tensor: 4x faster than the
    per-tensor loop on the CPU (the dense TD3 critic's step: 711 -> 178 µs); on a GPU it
    also replaces a launch group per tensor by one launch (launches, not FLOPs, bound
    small-MLP updates there). Without numba the CPU dense backend keeps the fused Adam.
    """
    on_cpu = torch.device(device).type == "cpu"
    if backend == "sparse" or (backend == "dense" and on_cpu and config_module.numba_available()):
        return LeanAdam
    if on_cpu and not _cpu_has_fused_adam():
        return torch.optim.Adam  # torch < 2.4: no fused CPU kernel
    return functools.partial(torch.optim.Adam, fused=True)


def uses_fused_steps(backend: str, device: str, compiled: bool) -> bool:
    """Whether the update runs the fused steps (``rlx2.algos.fused``) instead of autograd.

    sparse: always (its backend is the CPU's). dense on a CPU with numba and without
    --compile: the same fused loss code over BLAS passes, 1.2-1.3x faster than autograd
    (docs/benchmarks.md). masked is the reference path; GPUs and --compile keep autograd.
    """
    if backend == "sparse":
        return True
    on_cpu = torch.device(device).type == "cpu"
    return backend == "dense" and on_cpu and not compiled and config_module.numba_available()


@functools.cache
def _cpu_has_fused_adam() -> bool:
    try:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)
    except RuntimeError:
        return False
    return True


def compile_mode(config: TrainConfig) -> str | None:
    """torch.compile mode of the losses: None (eager), CUDA graphs on a GPU, else default."""
    if not config.run.compile:
        return None
    return "reduce-overhead" if torch.device(config.run.device).type == "cuda" else "default"


def build_agent(config: TrainConfig, spec: EnvSpec) -> tuple[Agent, dict[str, Any]]:
    """The agent and the record of the resolved run (written to config.json as "effective")."""
    agent, resolved = build_resolved_agent(config, spec)
    return agent, resolved.record()


def build_resolved_agent(config: TrainConfig, spec: EnvSpec) -> tuple[Agent, ResolvedRun]:
    """The agent, constructed from the run's resolution (``rlx2.resolve``), and that resolution."""
    check_device(config.run.device)
    resolved = resolve_run(config, spec.obs_dim, spec.act_dim)
    topology = resolved.topology

    if resolved.sparse:
        assert topology is not None

        def setup_network(name: str, network: nn.Module) -> tuple[nn.Module, WeightUpdater]:
            plan = resolved.network(name)
            masks = MaskSet.with_counts(network, plan.active)
            schedule = (
                DropSchedule(
                    initial_fraction=topology.drop_fraction,
                    interval_updates=topology.interval,
                    end_update=plan.topology_end,
                )
                if plan.topology_end is not None
                else None
            )
            scheme, reset = get_topology(topology.scheme), topology.reset_moments
            if resolved.backend == "sparse":
                compact = sparse_network(network, masks.masks)
                return compact, CSRUpdater(sparse_core(compact), scheme, schedule, plan.seed, reset)
            return network, SparseUpdater(masks, scheme, schedule, reset, plan.seed)
    else:

        def setup_network(name: str, network: nn.Module) -> tuple[nn.Module, WeightUpdater]:
            return network, DenseUpdater()

    common = dict(
        obs_dim=spec.obs_dim,
        act_dim=spec.act_dim,
        low=spec.low,
        high=spec.high,
        agent=config.agent,
        setup_network=setup_network,
        device=config.run.device,
        hidden={name: resolved.network(name).hidden for name in NETWORKS},
        optimizer=optimizer_for(resolved.backend, config.run.device),
        compile_mode=compile_mode(config),
        fused=uses_fused_steps(resolved.backend, config.run.device, config.run.compile),
    )
    registered = algorithm(config.algo)
    agent: Agent = registered.agent_class()(config=registered.section(config), **common)
    for name in NETWORKS:  # the networks built are the ones resolved
        built = [tuple(w.shape) for w in weight_matrices(getattr(agent, name))]
        assert built == list(resolved.network(name).shapes), (name, built)
    return agent, resolved


def build_value_learning(
    config: TrainConfig, spec: EnvSpec
) -> tuple[ReplayBuffer, DelayedNStep, DynamicCapacity | None, dict[str, Any]]:
    """Replay buffer, n-step schedule and (optional) dynamic-capacity controller (spec §5–§6)."""
    settings = value_settings(config)
    # Never allocate more rows than the run can fill.
    capacity = min(settings.buffer_capacity, config.run.total_steps)
    buffer = ReplayBuffer(
        spec.obs_dim,
        spec.act_dim,
        capacity=capacity,
        seed=config.run.seed,
        device=config.run.device,
        # Only the dynamic capacity's policy distance reads behaviour actions (spec §6).
        behaviour_actions=settings.dynamic_buffer,
    )
    nstep = DelayedNStep(n=settings.nstep, delay_updates=settings.nstep_delay)
    controller = None
    if settings.dynamic_buffer:
        value = config.value
        assert settings.buffer_min is not None and settings.buffer_check_interval is not None
        controller = DynamicCapacity(
            DynamicCapacityConfig(
                threshold=value.distance_threshold,
                buffer_check_interval=settings.buffer_check_interval,
                num_oldest=value.distance_samples,
                buffer_min=settings.buffer_min,
                buffer_max=settings.buffer_capacity,
                shrink=value.buffer_shrink,
                shrink_fraction=value.shrink_fraction,
                distance_form=value.distance_form,
            )
        )
    return buffer, nstep, controller, dataclasses.asdict(settings)
