"""Sparse-RL diagnostics: value estimation, dormant neurons and topology exploration (issue 13).

The failure RLx2 addresses is unreliable value estimation in sparse networks (docs/spec.md
§5); these measures let a user see it, at the evaluation cadence:

* **Q-value bias**: the critic's estimate Q1(s, a) at the states and actions of the
  evaluation episodes against the discounted return actually obtained from them
  (:func:`returns_to_go`). Where an episode was cut by the time limit, the return misses its
  tail, so only states at least :func:`horizon` steps before the cut are compared (γ^H ≤
  0.01 of the tail left); a terminated episode's returns are exact everywhere.
* **τ-dormant neurons** (ReDo, Sokar et al. 2023): a hidden neuron's score is its mean
  |activation| over a batch divided by the mean of that over its layer; it is dormant when
  the score is ≤ τ (:func:`dormant_fractions`).
* **Topology exploration**: connections changed and the fraction of each layer's positions
  that were ever active (``TopologyUpdater.ever_active``).

Pure maths first; :func:`network_heads` is the one place that reads a network's layers for
both storages (``nn.Linear`` heads, or a ``SparseMLP`` through its dense equivalent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

TAIL_LEFT = 0.01
"""A truncated episode's state is compared only while γ^(steps to the cut) ≤ this."""


def returns_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = Σ_{k≥t} γ^(k−t) r_k over one episode's rewards [T] -> [T] (float64)."""
    out = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        out[t] = running
    return out


def horizon(gamma: float) -> int:
    """Steps H after which the discounted tail weighs at most ``TAIL_LEFT`` (γ^H ≤ 0.01)."""
    if gamma >= 1.0:
        return math.inf  # type: ignore[return-value]  # undiscounted: a cut tail never fades
    return math.ceil(math.log(TAIL_LEFT) / math.log(gamma))


def comparable_steps(length: int, truncated: bool, gamma: float) -> np.ndarray:
    """Bool [length]: the steps whose return-to-go is (nearly) the full discounted return."""
    valid = np.ones(length, dtype=bool)
    if truncated:
        h = horizon(gamma)
        valid[max(length - h, 0) if h != math.inf else 0 :] = False
    return valid


def q_bias(estimates: np.ndarray, returns: np.ndarray) -> dict[str, float]:
    """Mean Q − G, and that over mean |G| (relative), over the compared states [N]."""
    if len(estimates) == 0:
        return {"q_bias": math.nan, "q_bias_relative": math.nan, "q_bias_states": 0}
    gap = float(np.mean(estimates - returns))
    scale = float(np.mean(np.abs(returns)))
    return {
        "q_bias": gap,
        "q_bias_relative": gap / scale if scale > 0 else math.nan,
        "q_bias_states": len(estimates),
    }


def dormant_fractions(activations: Sequence[Tensor], tau: float) -> list[float]:
    """Fraction of τ-dormant neurons of each hidden layer, from its activations [B, n].

    score_i = E|h_i| / mean_j E|h_j|; dormant when score_i ≤ τ. A layer whose every
    activation is 0 is wholly dormant.
    """
    fractions = []
    for h in activations:
        per_neuron = h.detach().abs().double().mean(dim=0)  # [n]
        layer_mean = float(per_neuron.mean())
        if layer_mean == 0.0:
            fractions.append(1.0)
            continue
        fractions.append(float((per_neuron / layer_mean <= tau).double().mean()))
    return fractions


# ----- reading networks -------------------------------------------------------------------------
Layer = tuple[Tensor, Tensor]
"""(weight [out, in], bias [out]) of one linear layer."""


@torch.no_grad()
def network_heads(network: nn.Module) -> list[list[Layer]]:
    """The MLP heads of an actor or twin critic as lists of (weight, bias), whatever the
    storage. Reads only: no module is created, so no random number is drawn (training's
    trajectory must not depend on whether diagnostics run)."""
    from rlx2.sparse.kernels import SparseMLP

    cores = [m for m in network.modules() if isinstance(m, SparseMLP)]
    if cores:
        core = cores[0]
        weights = core.dense_weights()
        biases = core.bias.detach().split([w.shape[0] for w in weights])
        layers = list(zip(weights, biases, strict=True))
        per_head = len(core.layout.head_widths[0]) - 1
        return [layers[i : i + per_head] for i in range(0, len(layers), per_head)]
    heads = [m for m in network.children() if isinstance(m, nn.Sequential)]
    if not heads:
        raise TypeError(f"{type(network).__name__} has no MLP head to read")
    return [
        [(m.weight.detach(), m.bias.detach()) for m in head if isinstance(m, nn.Linear)]
        for head in heads
    ]


@torch.no_grad()
def hidden_activations(head: Sequence[Layer], inputs: Tensor) -> list[Tensor]:
    """relu(x Wᵀ + b) of every hidden layer of ``head`` on ``inputs`` [B, in]: [B, n] each."""
    out = []
    x = inputs.to(dtype=head[0][0].dtype, device=head[0][0].device)
    for weight, bias in head[:-1]:
        x = torch.relu(x @ weight.T + bias)
        out.append(x)
    return out


def network_dormant_fractions(network: nn.Module, inputs: Tensor, tau: float) -> list[float]:
    """τ-dormant fraction of each hidden layer of every head (head 1's layers, then head 2's)."""
    fractions: list[float] = []
    for head in network_heads(network):
        fractions += dormant_fractions(hidden_activations(head, inputs), tau)
    return fractions
