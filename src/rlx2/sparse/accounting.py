"""Model size and FLOPs in the paper's conventions (spec §9); measured sparsity of real weights.

This is the one module of ``rlx2.sparse`` that knows RL networks: their shapes come from
``rlx2.shapes`` and each algorithm's pass counts from its registration (``rlx2.algorithms``). The FLOPs
model and its derivation are in docs/flops.md; the short version:

* a forward pass of a network on one sample costs 2 FLOPs per active weight (biases and
  activations ignored), so per-sample forward costs are 2a (actor) and 2c (twin critic),
  a and c being active weight counts; a backward pass costs 2 forwards;
* a training iteration (one critic update) is a weighted sum of forward passes,
  ``actor_passes · 2a + critic_passes · 2c``, with the pass counts of :func:`training_passes`;
* ratios compare a method at its n-step setting with the 1-step dense baseline (spec §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from rlx2 import paper
from rlx2.algorithms import ALGORITHMS, algorithm
from rlx2.errors import ConfigError
from rlx2.presets import METHODS as METHOD_SPECS
from rlx2.shapes import Shape, mlp_shapes
from rlx2.shapes import actor_shapes as network_actor_shapes
from rlx2.shapes import critic_shapes as network_critic_shapes
from rlx2.sparse.allocation import DISTRIBUTIONS, active_counts, total_active
from rlx2.sparse.masks import linear_weights, measured_sparsity
from rlx2.sparse.tiny import tiny_hidden_width

ALGOS = tuple(ALGORITHMS)
METHODS = tuple(METHOD_SPECS)
PAPER_TD3_POLICY_DELAY = paper.TD3_POLICY_DELAY
"""The policy delay the paper's FLOPs convention assumes (``--policy-delay`` may differ)."""
FORWARD_FLOPS_PER_WEIGHT = 2

__all__ = [
    "actor_shapes",
    "critic_shapes",
    "cost_ratios",
    "cost_report",
    "method_network",
    "network_training_passes",
    "measured_layer_sparsities",
    "measured_network_sparsity",
    "measured_sparsity",
    "training_passes",
    "TrainingPasses",
]


def actor_shapes(obs_dim: int, act_dim: int, hidden: int = 256) -> list[Shape]:
    """The paper's convention for the actor of both algorithms: obs -> h -> h -> act.

    It reproduces Table 2, but SAC's trained actor has 2·act outputs (mean and log σ):
    ``rlx2.shapes.actor_shapes`` gives the shapes of the networks that train."""
    return mlp_shapes(obs_dim, act_dim, hidden)


def critic_shapes(obs_dim: int, act_dim: int, hidden: int = 256) -> list[Shape]:
    """The twin critic's six matrices, head 1 then head 2, each (obs+act) -> h -> h -> 1."""
    return network_critic_shapes(obs_dim, act_dim, hidden)


@dataclass(frozen=True)
class TrainingPasses:
    """Forward-pass equivalents per training iteration and per sample (backward = 2 forwards)."""

    actor: float
    """Passes through the actor (online and target, which share the mask)."""
    critic: float
    """Passes through the whole twin critic (online and target)."""


def training_passes(algo: str, nstep: int = 1) -> TrainingPasses:
    """The FLOPs model's pass counts, the paper's convention (docs/flops.md has the derivation).

    Each algorithm states its counts in its registration (``rlx2.algorithms``): TD3 2.5 actor
    and 3.75 critic passes at any n (policy delay 2, target-critic forward not counted, which
    reproduces the paper's TD3 column); SAC n + 1.5 and 6.5 (calibrated on the paper's SAC
    column, the n-dependent term derived). The dense-gradient pass of RigL topology steps
    (one dense weight-gradient pass every ΔT = 10 000 updates) is ≤ 1e-4 dense forwards per
    iteration and is not counted.
    """
    spec = algorithm(algo)
    if isinstance(nstep, bool) or not isinstance(nstep, int) or nstep < 1:
        raise ConfigError(f"nstep={nstep!r} must be a positive int")
    actor, critic = spec.paper_passes(nstep)
    return TrainingPasses(actor=actor, critic=critic)


def network_training_passes(algo: str, nstep: int, policy_delay: int) -> TrainingPasses:
    """Pass counts of the networks as they train (the "network" convention, docs/flops.md).

    The same rules as :func:`training_passes` (a backward with weight gradients = 2 forwards),
    applied to the actual update without the paper's simplifications: the target-critic
    forward is counted, a backward through a frozen network for input gradients only counts
    1 forward, the actor runs every ``policy_delay``-th update where the algorithm has a
    policy delay (ignored otherwise), and nothing is calibrated. Each algorithm's counts are
    in its registration (``rlx2.algorithms``).
    """
    spec = algorithm(algo)
    if isinstance(nstep, bool) or not isinstance(nstep, int) or nstep < 1:
        raise ConfigError(f"nstep={nstep!r} must be a positive int")
    if isinstance(policy_delay, bool) or not isinstance(policy_delay, int) or policy_delay < 1:
        raise ConfigError(f"policy_delay={policy_delay!r} must be a positive int")
    actor, critic = spec.network_passes(nstep, spec.actor_period(policy_delay))
    return TrainingPasses(actor=actor, critic=critic)


def cost_report(
    algo: str,
    obs_dim: int,
    act_dim: int,
    method: str,
    actor_sparsity: float,
    critic_sparsity: float,
    nstep: int = 1,
    hidden: int = 256,
    distribution: str = "er",
    policy_delay: int = PAPER_TD3_POLICY_DELAY,
) -> dict[str, Any]:
    """Size and FLOPs of ``method`` as fractions of the dense model, in two conventions.

    Top level (``convention: "paper"``): Table 2's columns as the paper counts them — an
    actor with |A| outputs for both algorithms, TD3's policy delay 2, the calibrated pass
    counts of :func:`training_passes`. ``network``: the networks that actually train — SAC's
    actor with 2·|A| outputs (mean and log σ; ``rlx2.shapes``), the given ``policy_delay``
    and :func:`network_training_passes`; its per-layer blocks are the allocation the run
    uses, and its Tiny widths are the trained ones.

    ``dense`` ignores the sparsities. ``tiny`` uses dense networks whose hidden width
    (:func:`tiny_hidden_width`) gives the weight count closest to the sparse model's, and
    reports the ratios of that width. Sparse methods (ss, set, rigl, rlx2) use the exact
    per-layer counts of ``distribution``; they share one cost, since topology evolution is
    not counted. A trailing "+" (Tiny+, SS+, SET+: RLx2's value learning) is accepted; pass
    the n-step setting as ``nstep`` (RLx2's Table 2 figures use nstep=3).

    :return: JSON-serialisable dict: ``model_size_ratio``, ``compression_ratio``,
        ``train_flops_ratio``, ``inference_flops_ratio``, ``actor``, ``critic``, ``flops``
        (paper convention) and ``network`` (the same keys for the trained networks).
    """
    if algo not in ALGOS:
        raise ConfigError(f"algo={algo!r} is unknown; valid: {', '.join(ALGOS)}")
    base_method = method[:-1] if isinstance(method, str) and method.endswith("+") else method
    if base_method not in METHODS:
        raise ConfigError(
            f"method={method!r} is unknown; valid: {', '.join(METHODS)} (optionally with '+')"
        )
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(
            f"distribution={distribution!r} is unknown; valid: {', '.join(DISTRIBUTIONS)}"
        )
    for name, value in (("obs_dim", obs_dim), ("act_dim", act_dim), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive int")
    training_passes(algo, nstep)  # validates nstep before any allocation work
    network_passes = network_training_passes(algo, nstep, policy_delay)
    sparsities = (actor_sparsity, critic_sparsity)

    def blocks(actor_out: int) -> tuple[dict[str, Any], dict[str, Any]]:
        actor = method_network(
            base_method,
            mlp_shapes(obs_dim, actor_out, hidden),
            obs_dim,
            actor_out,
            1,
            sparsities[0],
            distribution,
        )
        critic = method_network(
            base_method,
            critic_shapes(obs_dim, act_dim, hidden),
            obs_dim + act_dim,
            1,
            2,
            sparsities[1],
            distribution,
        )
        return actor, critic

    def ratios(actor: dict[str, Any], critic: dict[str, Any], passes, dense) -> dict[str, Any]:
        counts = (
            actor["active"],
            critic["active"],
            actor["dense_weights"],
            critic["dense_weights"],
        )
        return cost_ratios(algo, *counts, nstep, passes=(passes, dense))

    paper_actor, paper_critic = blocks(act_dim)
    paper = ratios(
        paper_actor, paper_critic, training_passes(algo, nstep), training_passes(algo, 1)
    )
    actor, critic = blocks(network_actor_shapes(algo, obs_dim, act_dim, hidden)[-1][0])
    network = ratios(actor, critic, network_passes, network_training_passes(algo, 1, policy_delay))
    return {
        "algo": algo,
        "method": method,
        "nstep": nstep,
        "distribution": distribution,
        "convention": "paper",
        **paper,
        "actor": paper_actor,
        "critic": paper_critic,
        "network": {
            "convention": "network",
            "policy_delay": policy_delay if algorithm(algo).delays_actor else None,
            **network,
            "actor": actor,
            "critic": critic,
        },
    }


def method_network(
    method: str,
    dense_shapes: list[Shape],
    in_dim: int,
    out_dim: int,
    heads: int,
    sparsity: float,
    distribution: str,
) -> dict[str, Any]:
    """One network's block as ``method`` builds it from the full-width ``dense_shapes``: dense,
    Tiny (the width whose weight count is closest to the sparse count) or sparse (exact
    per-layer active counts)."""
    hidden = dense_shapes[0][0]
    if method == "dense":
        return _network_report(dense_shapes, _sizes(dense_shapes), hidden, dense_shapes)
    if method == "tiny":
        width = tiny_hidden_width(
            in_dim, out_dim, total_active(dense_shapes, sparsity), heads=heads
        )
        shapes = mlp_shapes(in_dim, out_dim, width) * heads
        return _network_report(shapes, _sizes(shapes), width, dense_shapes)
    counts = active_counts(dense_shapes, sparsity, distribution)
    return _network_report(dense_shapes, counts, hidden, dense_shapes)


def cost_ratios(
    algo: str,
    active_actor: int,
    active_critic: int,
    dense_actor: int,
    dense_critic: int,
    nstep: int = 1,
    passes: tuple[TrainingPasses, TrainingPasses] | None = None,
) -> dict[str, Any]:
    """Size and FLOPs ratios from weight counts (spec §9): a, c active and A, C dense weights.

    Size counts every kept network, targets included: TD3 keeps actor, critic and both
    targets ((a + c)/(A + C), the factor 2 cancels); SAC keeps actor, critic and the critic
    target only ((a + 2c)/(A + 2C)). Training FLOPs weigh forward passes by ``passes`` (the
    method's and the dense baseline's; default the paper's :func:`training_passes` at
    ``nstep`` and at 1 step).
    """
    method_passes, dense_passes = passes or (training_passes(algo, nstep), training_passes(algo, 1))
    critic_copies = algorithm(algo).kept_critic_copies
    model_size = (active_actor + critic_copies * active_critic) / (
        dense_actor + critic_copies * dense_critic
    )
    train = FORWARD_FLOPS_PER_WEIGHT * (
        method_passes.actor * active_actor + method_passes.critic * active_critic
    )
    dense_train = FORWARD_FLOPS_PER_WEIGHT * (
        dense_passes.actor * dense_actor + dense_passes.critic * dense_critic
    )
    return {
        "model_size_ratio": model_size,
        "compression_ratio": 1.0 / model_size,
        "train_flops_ratio": train / dense_train,
        "inference_flops_ratio": active_actor / dense_actor,
        "flops": {
            "train_per_iteration_per_sample": train,
            "dense_train_per_iteration_per_sample": dense_train,
            "inference": FORWARD_FLOPS_PER_WEIGHT * active_actor,
            "dense_inference": FORWARD_FLOPS_PER_WEIGHT * dense_actor,
        },
    }


def measured_network_sparsity(module: nn.Module) -> float:
    """Fraction of exact zeros over all nn.Linear weights of ``module`` (training summaries)."""
    return measured_sparsity(linear_weights(module))


def measured_layer_sparsities(module: nn.Module) -> list[float]:
    """Fraction of exact zeros in each nn.Linear weight of ``module``, in modules() order."""
    return [measured_sparsity([w]) for w in linear_weights(module)]


def _sizes(shapes: list[Shape]) -> list[int]:
    return [o * i for o, i in shapes]


def _network_report(
    shapes: list[Shape], counts: list[int], hidden: int, dense_shapes: list[Shape]
) -> dict[str, Any]:
    """Per-network block; ``sparsity`` is relative to the full-width dense network."""
    active = sum(counts)
    dense_weights = sum(_sizes(dense_shapes))
    return {
        "hidden": hidden,
        "active": active,
        "dense_weights": dense_weights,
        "sparsity": 1.0 - active / dense_weights,
        "layers": [
            {"shape": [o, i], "sparsity": 1.0 - n / (o * i), "active": n}
            for (o, i), n in zip(shapes, counts, strict=True)
        ],
    }
