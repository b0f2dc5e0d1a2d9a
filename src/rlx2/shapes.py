"""The one source of network shapes: layer shapes (out, in) of every actor and critic (spec §1).

Torch-free and pure, so the networks (``rlx2.nets``), the allocation of active weights, the
Tiny widths, the FLOPs and size accounting, export and reports all read the same numbers.
A network is an MLP ``in -> h -> h -> out`` with ReLU; the twin critic is two such heads on
(state, action), allocated jointly (spec §2). What differs between algorithms is the actor's
output: TD3's gives the action, SAC's gives mean and log σ side by side (2·|A| outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

from rlx2.algorithms import algorithm
from rlx2.errors import ConfigError

Shape = tuple[int, int]
"""A weight matrix as (out, in), the layout of ``nn.Linear.weight``."""

HIDDEN_LAYERS = 2
"""Hidden layers of every network (spec §1: 2×256 ReLU)."""


def mlp_shapes(
    in_dim: int, out_dim: int, hidden: int, hidden_layers: int = HIDDEN_LAYERS
) -> list[Shape]:
    """Weight shapes of one MLP in -> hidden -> ... -> hidden -> out."""
    for name, value in (
        ("in_dim", in_dim),
        ("out_dim", out_dim),
        ("hidden", hidden),
        ("hidden_layers", hidden_layers),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive int")
    return [(hidden, in_dim)] + [(hidden, hidden)] * (hidden_layers - 1) + [(out_dim, hidden)]


def actor_outputs(algo: str, act_dim: int) -> int:
    """Width of the actor's output layer (the algorithm's outputs per action dimension)."""
    return algorithm(algo).actor_outputs_per_action * act_dim


def actor_shapes(algo: str, obs_dim: int, act_dim: int, hidden: int) -> list[Shape]:
    """The actor obs -> h -> h -> actor_outputs(algo, act_dim)."""
    return mlp_shapes(obs_dim, actor_outputs(algo, act_dim), hidden)


def critic_head_shapes(obs_dim: int, act_dim: int, hidden: int) -> list[Shape]:
    """One Q head (obs + act) -> h -> h -> 1."""
    return mlp_shapes(obs_dim + act_dim, 1, hidden)


def critic_shapes(obs_dim: int, act_dim: int, hidden: int) -> list[Shape]:
    """The twin critic's matrices, head 1 then head 2 (one allocation over both, spec §2)."""
    return critic_head_shapes(obs_dim, act_dim, hidden) * 2


def weight_count(shapes: list[Shape] | tuple[Shape, ...]) -> int:
    return sum(out * inp for out, inp in shapes)


@dataclass(frozen=True)
class NetworkShapes:
    """Layer shapes of an algorithm's actor and twin critic at given hidden widths."""

    actor: tuple[Shape, ...]
    critic: tuple[Shape, ...]

    def of(self, network: str) -> tuple[Shape, ...]:
        if network not in ("actor", "critic"):
            raise ConfigError(f"network={network!r} is unknown; valid: actor, critic")
        return self.actor if network == "actor" else self.critic

    def weights(self, network: str) -> int:
        """Weights (biases excluded) of the network at full density."""
        return weight_count(self.of(network))


def network_shapes(
    algo: str, obs_dim: int, act_dim: int, actor_hidden: int, critic_hidden: int | None = None
) -> NetworkShapes:
    """The shapes of the networks ``algo`` trains (``critic_hidden`` defaults to the actor's)."""
    return NetworkShapes(
        actor=tuple(actor_shapes(algo, obs_dim, act_dim, actor_hidden)),
        critic=tuple(
            critic_shapes(
                obs_dim, act_dim, actor_hidden if critic_hidden is None else critic_hidden
            )
        ),
    )
