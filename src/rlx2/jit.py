"""The CPU target numba compiles rlx2's kernels for (the sparse engine's, the fused training
steps', the replay buffer's). Every kernel module takes ``njit`` from here, so the choice is
made once, before numba's code generator exists; a neutral top-level module, so that layers
which may not import each other (``rlx2.sparse``, ``rlx2.value``) share it.

On AVX-512 hosts LLVM's tuning for many Intel cores prefers 256-bit vectors (the
``prefer-256-bit`` feature, against the clock drop of older cores under 512-bit work). The
sparse kernels stream B-long activation rows, and full-width vectors made a whole sparse
update 8-12 % faster on the Intel Xeon we measure on (docs/sparse-execution.md, "What the
measurements changed"), so numba gets the host's features without that preference.

Left alone when it cannot apply cleanly: numba already imported (its code generator may
exist, and changing the features now would only relabel its cache), ``NUMBA_CPU_NAME`` or
``NUMBA_CPU_FEATURES`` set (the user's choice wins; setting the latter to the host's
features restores LLVM's default), or a host without AVX-512.
"""

from __future__ import annotations

import os
import sys

#: Appended to the host's LLVM features on AVX-512 hosts.
WIDE_VECTORS = "-prefer-256-bit"


def wide_vector_features(host_features: str) -> str | None:
    """The features to compile with, or None to keep numba's default."""
    if "+avx512f" not in host_features.split(","):
        return None
    return f"{host_features},{WIDE_VECTORS}"


def configure() -> None:
    """Point numba at full-width vectors if it applies (see module); idempotent."""
    if "numba" in sys.modules or any(
        os.environ.get(name) is not None for name in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")
    ):
        return
    import numba
    from numba.core.codegen import get_host_cpu_features

    features = wide_vector_features(get_host_cpu_features())
    if features is not None:
        numba.config.CPU_FEATURES = features  # type: ignore[attr-defined]


configure()

# After configure: the kernel modules' only way to numba.
from numba import carray, njit, types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

__all__ = [
    "WIDE_VECTORS",
    "carray",
    "cgutils",
    "configure",
    "intrinsic",
    "njit",
    "types",
    "wide_vector_features",
]
