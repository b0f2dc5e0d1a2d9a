"""Width of the dense "Tiny" baseline with the sparse model's weight count (spec §4). Pure."""

from __future__ import annotations

from rlx2.errors import ConfigError
from rlx2.shapes import mlp_shapes, weight_count


def mlp_weight_count(
    in_dim: int, out_dim: int, hidden: int, heads: int = 1, hidden_layers: int = 2
) -> int:
    """Weights (no biases) of ``heads`` MLPs in -> h -> ... -> h -> out with ``hidden_layers`` hidden layers."""
    return heads * weight_count(mlp_shapes(in_dim, out_dim, hidden, hidden_layers))


def tiny_hidden_width(
    in_dim: int, out_dim: int, target_weights: int, heads: int = 1, hidden_layers: int = 2
) -> int:
    """The hidden width h ≥ 1 whose weight count is closest to ``target_weights`` (ties: smaller h).

    The count grows strictly with h, so a bisection finds the largest h at or under the
    target and the answer is that h or h + 1.
    """
    for name, value in (
        ("in_dim", in_dim),
        ("out_dim", out_dim),
        ("target_weights", target_weights),
        ("heads", heads),
        ("hidden_layers", hidden_layers),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive int")

    def count(h: int) -> int:
        return mlp_weight_count(in_dim, out_dim, h, heads, hidden_layers)

    low, high = 1, 1
    while count(high) <= target_weights:
        high *= 2
    # Invariant: count(high) > target; find the largest low with count(low) <= target (or 1).
    while high - low > 1:
        mid = (low + high) // 2
        if count(mid) <= target_weights:
            low = mid
        else:
            high = mid
    if count(low) > target_weights:  # even h = 1 is too big
        return 1
    return low if target_weights - count(low) <= count(low + 1) - target_weights else low + 1
