"""Sparsity engine: masks, ER allocation, topology evolution, accounting (spec §2, §3, §9).

Torch-only and RL-agnostic (``accounting`` alone knows the TD3/SAC shapes). See docs/sparsity.md.
"""

from rlx2.sparse.allocation import active_counts, erdos_renyi_active_counts, uniform_active_counts
from rlx2.sparse.masks import MaskSet, linear_weights, measured_sparsity
from rlx2.sparse.schedule import DropSchedule
from rlx2.sparse.topology import (
    DenseUpdater,
    SparseUpdater,
    TopologyScheme,
    available_topologies,
    drop_mask,
    get_topology,
    grow_mask,
    register_topology,
)

__all__ = [
    "DenseUpdater",
    "DropSchedule",
    "MaskSet",
    "SparseUpdater",
    "TopologyScheme",
    "active_counts",
    "available_topologies",
    "drop_mask",
    "erdos_renyi_active_counts",
    "get_topology",
    "grow_mask",
    "linear_weights",
    "measured_sparsity",
    "register_topology",
    "uniform_active_counts",
]
