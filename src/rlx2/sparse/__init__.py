"""Sparsity engine: masks, ER allocation, topology evolution, accounting (spec §2, §3, §9).

RL-agnostic (``accounting`` alone knows the TD3/SAC pass counts). See docs/sparsity.md. The
names below are loaded on first use, so that the torch-free modules (``allocation``,
``schemes``, ``tiny``) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "active_counts": "allocation",
    "erdos_renyi_active_counts": "allocation",
    "uniform_active_counts": "allocation",
    "MaskSet": "masks",
    "linear_weights": "masks",
    "measured_sparsity": "masks",
    "DropSchedule": "schedule",
    "TopologyScheme": "schemes",
    "available_topologies": "schemes",
    "get_topology": "schemes",
    "register_topology": "schemes",
    "DenseUpdater": "topology",
    "SparseUpdater": "topology",
    "TopologyUpdater": "topology",
    "drop_mask": "topology",
    "grow_mask": "topology",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rlx2.sparse' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rlx2.sparse.{_EXPORTS[name]}"), name)
