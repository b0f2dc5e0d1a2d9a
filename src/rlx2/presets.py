"""Methods and the paper's per-task sparsities, as data (spec §4, docs/reference-numbers.md).

A method is a topology scheme plus a value-learning choice; the two are independent switches,
so the paper's ablations ("SS+", "SET+", "Tiny+": a scheme with RLx2's value learning) are
a method with ``--value-learning rlx2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlx2.errors import ConfigError


@dataclass(frozen=True)
class MethodSpec:
    sparse: bool
    """Networks carry masks (ss, set, rigl, rlx2)."""
    tiny: bool
    """Dense networks whose hidden width is solved to match the sparse weight count."""
    topology: str | None
    """Default topology scheme of a sparse method (a name in the sparse registry)."""
    rlx2_value_learning: bool
    """Delayed multi-step target and dynamic buffer by default (spec §5–§6)."""


METHODS: dict[str, MethodSpec] = {
    "dense": MethodSpec(sparse=False, tiny=False, topology=None, rlx2_value_learning=False),
    "tiny": MethodSpec(sparse=False, tiny=True, topology=None, rlx2_value_learning=False),
    "ss": MethodSpec(sparse=True, tiny=False, topology="static", rlx2_value_learning=False),
    "set": MethodSpec(sparse=True, tiny=False, topology="set", rlx2_value_learning=False),
    "rigl": MethodSpec(sparse=True, tiny=False, topology="rigl", rlx2_value_learning=False),
    "rlx2": MethodSpec(sparse=True, tiny=False, topology="rigl", rlx2_value_learning=True),
}

# (actor, critic) sparsity at the paper's "ultimate compression ratio" (docs/reference-numbers.md).
PAPER_SPARSITIES: dict[str, dict[str, tuple[float, float]]] = {
    "td3": {
        "HalfCheetah": (0.90, 0.85),
        "Hopper": (0.98, 0.95),
        "Walker2d": (0.97, 0.95),
        "Ant": (0.96, 0.88),
    },
    "sac": {
        "HalfCheetah": (0.90, 0.80),
        "Hopper": (0.98, 0.95),
        "Walker2d": (0.90, 0.90),
        "Ant": (0.90, 0.75),
    },
}


def task_family(env_id: str) -> str:
    """'Hopper-v5' -> 'Hopper' (namespace and version stripped)."""
    name = env_id.rsplit("/", 1)[-1]
    return re.sub(r"-v\d+$", "", name)


def paper_sparsities(algo: str, env_id: str) -> tuple[float, float]:
    if algo not in PAPER_SPARSITIES:  # an algorithm the paper did not run
        raise ConfigError(
            f"--preset paper has sparsities for --algo {', '.join(PAPER_SPARSITIES)} only, not "
            f"{algo!r}; give --actor-sparsity and --critic-sparsity instead"
        )
    table = PAPER_SPARSITIES[algo]
    family = task_family(env_id)
    if family not in table:
        raise ConfigError(
            f"--preset paper covers {', '.join(f'{t}-v5' for t in table)} only, not {env_id!r}; "
            "give --actor-sparsity and --critic-sparsity instead"
        )
    return table[family]
