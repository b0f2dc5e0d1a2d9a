"""Per-layer active-weight counts for a target overall sparsity (spec §2). Pure functions.

Every function takes weight shapes ``(out, in)`` and returns exact integer active counts, one
per layer, whose sum is always ``round_half_up((1 - sparsity) * sum(out * in))``. Arithmetic
is done in exact fractions (the sparsity is read as the decimal it prints as, so ``0.95`` is
19/20, not the nearest binary float), which makes the counts reproducible everywhere.

Rounding rule (both distributions): each layer's real-valued count is floored, then the
missing units go one each to the layers with the largest fractional parts (ties: lower layer
index first). This is the largest-remainder method; no layer moves by more than one weight
from its real-valued share, and the total is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from rlx2.errors import ConfigError

Shape = tuple[int, int]

DISTRIBUTIONS = ("er", "uniform")


def erdos_renyi_active_counts(shapes: Sequence[Shape], sparsity: float) -> list[int]:
    """Erdős–Rényi allocation: density_l = ε·(in_l + out_l)/(in_l·out_l) (spec §2).

    The active count of a layer is then ε·(in_l + out_l), so for a budget of K active weights
    ε = K / Σ_l (in_l + out_l). A layer whose density would exceed 1 is made dense; since that
    leaves more budget for the others, ε only grows when re-solved, so every layer that
    exceeded 1 still does: moving all of them at once gives the same result as moving the
    largest one at a time (JaxPruner's loop), in fewer rounds.

    :param shapes: weight shapes ``(out, in)``, in allocation order.
    :param sparsity: overall fraction of zero weights, in [0, 1).
    :return: active counts per layer, each in [1, out·in], summing to the exact total.
    """
    sizes = _validate(shapes, sparsity)
    total = _total_active(sizes, sparsity)
    dense: set[int] = set()
    while True:
        free = [i for i in range(len(sizes)) if i not in dense]
        budget = total - sum(sizes[i] for i in dense)
        raw = sum(shapes[i][0] + shapes[i][1] for i in free)
        eps = Fraction(budget, raw) if free else Fraction(0)
        over = [i for i in free if eps * (shapes[i][0] + shapes[i][1]) > sizes[i]]
        if not over:
            break
        dense.update(over)
    shares = [
        Fraction(sizes[i]) if i in dense else eps * (shapes[i][0] + shapes[i][1])
        for i in range(len(sizes))
    ]
    return _check_nonempty(_largest_remainder(shares, total), shapes, sparsity, "er")


def uniform_active_counts(shapes: Sequence[Shape], sparsity: float) -> list[int]:
    """Every layer at the same sparsity; the exact total is kept by largest remainder."""
    sizes = _validate(shapes, sparsity)
    total = _total_active(sizes, sparsity)
    keep = 1 - _exact(sparsity)
    shares = [keep * n for n in sizes]
    return _check_nonempty(_largest_remainder(shares, total), shapes, sparsity, "uniform")


def active_counts(shapes: Sequence[Shape], sparsity: float, distribution: str) -> list[int]:
    """Dispatch on ``distribution`` ("er" | "uniform"; ERK reduces to ER for linear layers)."""
    if distribution == "er":
        return erdos_renyi_active_counts(shapes, sparsity)
    if distribution == "uniform":
        return uniform_active_counts(shapes, sparsity)
    raise ConfigError(
        f"distribution={distribution!r} is unknown; valid: {', '.join(DISTRIBUTIONS)}"
    )


def total_active(shapes: Sequence[Shape], sparsity: float) -> int:
    """The exact total both allocations hit: round_half_up((1 - sparsity)·Σ out·in)."""
    return _total_active(_validate(shapes, sparsity), sparsity)


# ---------------------------------------------------------------- helpers


def _exact(sparsity: float) -> Fraction:
    # The decimal the user typed (0.95 -> 19/20), so 5 % of 143 360 is exactly 7 168.
    return Fraction(repr(float(sparsity)))


def _total_active(sizes: Sequence[int], sparsity: float) -> int:
    return math.floor((1 - _exact(sparsity)) * sum(sizes) + Fraction(1, 2))


def _validate(shapes: Sequence[Shape], sparsity: float) -> list[int]:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise ConfigError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    if not math.isfinite(sparsity) or not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity={sparsity} is outside [0, 1): 1.0 would remove every weight")
    if len(shapes) == 0:
        raise ConfigError("shapes is empty: there is no weight matrix to allocate")
    sizes = []
    for i, shape in enumerate(shapes):
        if len(shape) != 2 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape
        ):
            raise ConfigError(
                f"shapes[{i}]={tuple(shape)!r} is not a weight shape (out, in) of positive ints"
            )
        sizes.append(shape[0] * shape[1])
    return sizes


def _largest_remainder(shares: Sequence[Fraction], total: int) -> list[int]:
    counts = [math.floor(s) for s in shares]
    missing = total - sum(counts)
    # Largest fractional part first; stable sort keeps the lower index first on ties.
    order = sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in order[:missing]:
        counts[i] += 1
    return counts


def _check_nonempty(
    counts: list[int], shapes: Sequence[Shape], sparsity: float, distribution: str
) -> list[int]:
    for i, count in enumerate(counts):
        if count < 1:
            raise ConfigError(
                f"sparsity={sparsity} leaves layer {i} (shape {tuple(shapes[i])}) with 0 active "
                f"weights under the {distribution!r} distribution; lower the sparsity"
            )
    return counts
