"""The CPU target of the numba kernels (rlx2.jit): full-width vectors on
AVX-512 hosts, and the user's numba settings left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rlx2.jit import WIDE_VECTORS, wide_vector_features

_PROBE = """
import json, llvmlite.binding as ll
import rlx2.sparse.kernels.ops, numba
host = ll.get_host_cpu_features().flatten()
print(json.dumps({"host": host, "features": numba.config.CPU_FEATURES}))
"""


def _probe(**env: str) -> dict:
    base = {
        k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**base, **env}, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])


def test_wide_vectors_only_where_avx512_is():
    assert wide_vector_features("+avx2,+avx512f,+fma") == f"+avx2,+avx512f,+fma,{WIDE_VECTORS}"
    assert wide_vector_features("+avx2,-avx512f,+fma") is None
    assert wide_vector_features("+avx2,+fma") is None
    assert wide_vector_features("") is None


def test_kernels_compile_for_the_host_with_wide_vectors_unless_numba_is_configured():
    probe = _probe()
    if "+avx512f" in probe["host"].split(","):
        assert probe["features"] == f"{probe['host']},{WIDE_VECTORS}"
    else:
        assert probe["features"] is None  # numba's default: the host's features
    # The user's choice wins.
    assert _probe(NUMBA_CPU_FEATURES="+sse2")["features"] == "+sse2"
