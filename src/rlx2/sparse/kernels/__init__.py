"""Sparse execution on the CPU: MLPs that store and compute only their active weights.

``SparseMLP`` (``mlp.py``) is the torch module; ``SparseLayout`` (``csr.py``) its index
structure; ``LeanAdam`` (``adam.py``) torch's Adam update without its ~100 µs of per-step
Python. The numba kernels (``ops.py``) are imported on first use, so importing this package
needs no numba. See docs/sparse-execution.md.
"""

from rlx2.sparse.kernels.adam import LeanAdam
from rlx2.sparse.kernels.csr import SparseLayout, slot_remap
from rlx2.sparse.kernels.mlp import SparseMLP, kernels, remap_slots, weight_matrices

__all__ = [
    "LeanAdam",
    "SparseLayout",
    "SparseMLP",
    "kernels",
    "remap_slots",
    "slot_remap",
    "weight_matrices",
]
