"""Sparsity, size and FLOPs of a live agent, counted from its actual weights (spec §9).

Weights are read with ``weight_matrices``: the dense [out, in] matrix of every layer, whether
the network is ``nn.Linear`` (dense and masked backends) or compact (sparse backend), so the
summary fields are the same for every backend.
"""

from __future__ import annotations

from typing import Any

import torch

from rlx2.resolve import ResolvedRun
from rlx2.sparse.accounting import cost_ratios, network_training_passes
from rlx2.sparse.kernels import weight_matrices
from rlx2.sparse.masks import measured_sparsity


def count_nonzero(module: torch.nn.Module) -> int:
    return sum(int(torch.count_nonzero(w)) for w in weight_matrices(module))


def sparsity_summary(agent: Any, resolved: ResolvedRun, nstep: int) -> dict[str, Any]:
    """Measured sparsities of online and target networks, size and FLOPs ratios, topology stats.

    Active counts are the non-zero weights of the final networks, so a masking bug shows up
    here rather than being hidden by the masks' own bookkeeping. The top-level ratios use
    the paper's pass counts (TD3 policy delay 2); ``network`` uses the passes of the update
    as it ran (the configured policy delay, the target-critic forward counted: docs/flops.md).
    """
    networks = agent.networks()
    summary: dict[str, Any] = {}
    for name, module in networks.items():
        total = sum(w.numel() for w in weight_matrices(module))
        summary[f"{name}_sparsity"] = 1.0 - count_nonzero(module) / total
    active_actor, active_critic = (
        count_nonzero(networks["actor"]),
        count_nonzero(networks["critic"]),
    )
    counts = (
        active_actor,
        active_critic,
        resolved.reference.weights("actor"),
        resolved.reference.weights("critic"),
    )
    summary.update(cost_ratios(resolved.algo, *counts, nstep))
    delay = resolved.policy_delay or 1
    passes = (
        network_training_passes(resolved.algo, nstep, delay),
        network_training_passes(resolved.algo, 1, delay),
    )
    summary["network"] = {
        "convention": "network",
        **cost_ratios(resolved.algo, *counts, nstep, passes=passes),
    }
    summary["active_weights"] = {"actor": active_actor, "critic": active_critic}
    summary["topology"] = {name: updater.stats() for name, updater in agent.updaters().items()}
    return summary


def sparsity_scalars(agent: Any) -> dict[str, float]:
    """Per-layer sparsity of the online networks and cumulative mask churn, for TensorBoard."""
    values: dict[str, float] = {}
    for name, updater in agent.updaters().items():
        for i, weight in enumerate(weight_matrices(getattr(agent, name))):
            values[f"sparsity/{name}/layer{i}"] = measured_sparsity([weight])
        values[f"topology/{name}/connections_changed"] = updater.connections_changed
        values[f"topology/{name}/updates"] = updater.topology_updates
        values[f"topology/{name}/drop_fraction"] = updater.last_drop_fraction
    return values
