"""An exported policy as dependency-free C99: ``PREFIX.h`` and ``PREFIX.c``.

``rlx2 export RUN_DIR --format c --out DIR`` builds the policy file's bytes as for a
safetensors export, reads them back with the NumPy policy's own reader
(:func:`rlx2.deploy.numpy_policy.policy_record_from_bytes`) and hands the resulting
:class:`PolicyRecord` to :func:`c_policy` here: the C and the NumPy policy are generated from
one validated record, so they cannot compute different networks.

The generated code (docs/deploy.md, "C export: no Python on the device"):

- ``PREFIX.h`` defines ``PREFIX_OBS_DIM``, ``PREFIX_ACT_DIM``, ``PREFIX_CONST_BYTES``,
  ``PREFIX_WORK_BYTES`` and declares ``void PREFIX_act(const float *obs, float *action)``;
- ``PREFIX.c`` holds every weight, index, bias and the action scaling as ``static const``
  arrays, and ``PREFIX_act``: no heap, no mutable static state (reentrant), two stack
  buffers of activations (and 8 partial sums for wide dense layers), and no header but
  ``<math.h>`` (``tanhf``).

A layer is stored as COO, CSR or a dense matrix (:data:`LAYOUTS`). COO (the default for sparse
layers) lists the active weights column by column with their output and input indices and is
computed by one branch-free loop that adds each product to its output; CSR stores the row
pointer as its differences (row lengths) and sums each row in a loop of its own. Both add each
output's products in input order, so they compute the same floats bit for bit. Every integer
array fits 8 or 16 bits whatever the layer's number of active weights; that is why layers are
limited to :data:`MAX_WIDTH` units. Integer arrays use ``unsigned char`` when their largest value fits
8 bits, ``unsigned short`` otherwise (C99 guarantees at least 8 and 16 bits; no <stdint.h>).

This module needs NumPy and no torch (an import-linter contract keeps it so): a policy
file becomes C without torch, ``c_policy(load_policy_record(FILE), prefix)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import rlx2
from rlx2.deploy.numpy_policy import PolicyRecord, RecordLayer
from rlx2.errors import ConfigError
from rlx2.train.rundir import atomic_write_bytes

LAYOUTS = ("auto", "coo", "csr", "dense")
"""How each layer is stored in C: coo (active weights in column order, their output and input
indices), csr (active weights, their input indices, row lengths), dense (every weight), or
auto: per layer coo where it takes fewer bytes of constant data than dense, else dense.

coo is the fast sparse form: one loop over the active weights with no branch on row lengths
(short rows of varying length made CSR's inner loop mispredict once per row; the Walker2d
RLx2 actor took 1.3 µs in coo and 3.1 µs in csr at ``-O2``, docs/deploy.md). csr is the
smallest: one index byte less per active weight, one more per output row."""

MAX_WIDTH = 65535
"""Largest layer width: row lengths and input indices must fit ``unsigned short``."""

PREFIX_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,26}")
"""A C identifier of at most 27 characters: ``PREFIX_act`` then has at most 31, the significant
length of an external identifier that C99 guarantees (clause 5.2.4.1). No leading underscore
(reserved names)."""

DEFAULT_PREFIX = "policy"

PARTIAL_SUMS = 8
"""Dense layers with at least :data:`PARTIAL_SUMS_FROM` inputs sum each row in this many
parts (the generated code combines them pairwise, written for 8)."""
PARTIAL_SUMS_FROM = 32

# Bytes per element on every target with 8-bit char, 16-bit short and IEEE single floats (the
# tests compare them with the host compiler's sizeof).
_C_TYPE_BYTES = {"float": 4, "unsigned char": 1, "unsigned short": 2}
_VALUES_PER_LINE = {"float": 6, "unsigned char": 16, "unsigned short": 12}


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is usable as the C identifier prefix, else ConfigError naming the rule."""
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(
            f"--prefix {prefix!r} is not a C identifier prefix: a letter, then at most 26 "
            "letters, digits or underscores"
        )
    return prefix


@dataclass(frozen=True)
class CArray:
    """One ``static const`` array of the generated source."""

    name: str
    c_type: str
    shape: tuple[int, ...]
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * _C_TYPE_BYTES[self.c_type]


@dataclass(frozen=True)
class CPolicy:
    """The generated C of one policy, with its footprint."""

    prefix: str
    header: str
    """Text of ``PREFIX.h``."""
    source: str
    """Text of ``PREFIX.c``."""
    layouts: tuple[str, ...]
    """Per layer, "csr" or "dense"."""
    arrays: tuple[CArray, ...]
    work_bytes: int
    """Stack bytes of ``PREFIX_act``'s arrays: the activation buffers and, with dense layers
    of :data:`PARTIAL_SUMS_FROM` inputs or more, the partial sums (plus a few scalars)."""
    obs_dim: int
    act_dim: int

    @property
    def const_bytes(self) -> int:
        """Bytes of constant data: every weight, index, row length, bias and the action scaling."""
        return sum(array.nbytes for array in self.arrays)


# ------------------------------------------------------------------- pure: record -> C text


def _index_type(largest: int) -> str:
    return "unsigned char" if largest <= 0xFF else "unsigned short"


def csr_bytes(layer: RecordLayer) -> int:
    """Constant bytes of ``layer``'s weights in the CSR layout (bias excluded)."""
    if layer.num_active == 0:
        return 0  # no arrays at all: the layer's output is its bias
    lengths = np.diff(layer.indptr)
    return (
        layer.num_active * (4 + _C_TYPE_BYTES[_index_type(int(layer.indices.max()))])
        + layer.n_out * _C_TYPE_BYTES[_index_type(int(lengths.max()))]
    )


def _row_indices(layer: RecordLayer) -> np.ndarray:
    """The output row of each active weight, in CSR order."""
    return np.repeat(np.arange(layer.n_out), np.diff(layer.indptr))


def coo_bytes(layer: RecordLayer) -> int:
    """Constant bytes of ``layer``'s weights in the COO layout (bias excluded)."""
    if layer.num_active == 0:
        return 0
    rows = _row_indices(layer)
    return layer.num_active * (
        4
        + _C_TYPE_BYTES[_index_type(int(rows.max()))]
        + _C_TYPE_BYTES[_index_type(int(layer.indices.max()))]
    )


def choose_layout(layer: RecordLayer, layout: str) -> str:
    """The layout of ``layer`` (``layout="auto"``: coo if it takes fewer constant bytes than
    dense, else dense)."""
    if layout != "auto":
        return layout
    return "coo" if coo_bytes(layer) < 4 * layer.n_out * layer.n_in else "dense"


def column_order(layer: RecordLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``layer``'s active weights column by column, rows ascending within a column:
    (output indices, input indices, values). Each output then receives its products in input
    order, the order of a CSR row."""
    rows = _row_indices(layer)
    order = np.lexsort((rows, layer.indices))  # by input index, then output index
    return rows[order], layer.indices[order], layer.values[order]


def _literal(value: float | int, c_type: str) -> str:
    if c_type != "float":
        return str(int(value))
    # C99 hexadecimal floating constants are exact: the compiled weights are the file's bits.
    mantissa, exponent = float(value).hex().split("p")  # e.g. "-0x1.8000000000000", "+3"
    whole, fraction = mantissa.split(".")
    fraction = fraction.rstrip("0")
    return f"{whole}{'.' + fraction if fraction else ''}p{exponent}f"


def _values_text(values: list, c_type: str, indent: str) -> str:
    literals = [_literal(v, c_type) for v in values]
    per_line = _VALUES_PER_LINE[c_type]
    return "\n".join(
        indent + ", ".join(literals[i : i + per_line]) + ","
        for i in range(0, len(literals), per_line)
    )


def _array_text(array: CArray) -> str:
    dims = "".join(f"[{n}]" for n in array.shape)
    if len(array.shape) == 1:
        body = _values_text(array.values.tolist(), array.c_type, "    ")
    else:  # [out][in]: one braced row per output (full braces: no -Wmissing-braces)
        body = "\n".join(
            "    {\n" + _values_text(row, array.c_type, "        ") + "\n    },"
            for row in array.values.tolist()
        )
    return f"static const {array.c_type} {array.name}{dims} = {{\n{body}\n}};\n"


def _layer_arrays(prefix: str, i: int, layer: RecordLayer, layout: str) -> list[CArray]:
    name = f"{prefix}_l{i}"
    if layout == "dense":
        weight = layer.dense_weight()  # [out, in]
        arrays = [CArray(f"{name}_weight", "float", weight.shape, weight)]
    elif layer.num_active == 0:
        arrays = []
    elif layout == "coo":
        rows, cols, values = column_order(layer)
        n = layer.num_active
        arrays = [
            CArray(f"{name}_row", _index_type(int(rows.max())), (n,), rows),
            CArray(f"{name}_col", _index_type(int(cols.max())), (n,), cols),
            CArray(f"{name}_value", "float", (n,), values),
        ]
    else:
        lengths = np.diff(layer.indptr)  # [out]
        arrays = [
            CArray(f"{name}_row_len", _index_type(int(lengths.max())), (layer.n_out,), lengths),
            CArray(
                f"{name}_index",
                _index_type(int(layer.indices.max())),
                (layer.num_active,),
                layer.indices,
            ),
            CArray(f"{name}_value", "float", (layer.num_active,), layer.values),
        ]
    return [*arrays, CArray(f"{name}_bias", "float", (layer.n_out,), layer.bias)]


def uses_partial_sums(layer: RecordLayer, layout: str) -> bool:
    return layout == "dense" and layer.n_in >= PARTIAL_SUMS_FROM


def _layer_code(prefix: str, i: int, layer: RecordLayer, layout: str, src: str, dst: str) -> str:
    """The loop of layer ``i``: reads ``src``, writes ``dst`` (ReLU, or tanh and scaling)."""
    name = f"{prefix}_l{i}"
    last = dst == "action"
    density = layer.num_active / (layer.n_out * layer.n_in)
    head = (
        f"    /* layer {i}: {layer.n_in} -> {layer.n_out}, {layout}, {layer.num_active} active "
        f"weights ({100 * density:.1f} %), {'tanh, action scaling' if last else 'ReLU'} */\n"
    )
    if layout == "dense" and uses_partial_sums(layer, layout):
        # PARTIAL_SUMS independent sums, added pairwise at the end: the adds no longer wait
        # on each other and the compiler may vectorise them, without -ffast-math (measured
        # 2.3x faster on a dense 256 x 256 layer, docs/deploy.md). Another summation order
        # than a plain loop, within the same float32 error bound.
        blocks = layer.n_in // PARTIAL_SUMS * PARTIAL_SUMS
        tail = (
            f"        for (; c < {layer.n_in}u; ++c)\n"
            f"            part[0] += {name}_weight[r][c] * {src}[c];\n"
            if blocks < layer.n_in
            else ""
        )
        body = (
            f"        for (j = 0; j < {PARTIAL_SUMS}u; ++j)\n"
            "            part[j] = 0.0f;\n"
            f"        for (c = 0; c < {blocks}u; c += {PARTIAL_SUMS}u)\n"
            f"            for (j = 0; j < {PARTIAL_SUMS}u; ++j)\n"
            f"                part[j] += {name}_weight[r][c + j] * {src}[c + j];\n"
            + tail
            + "        acc = ((part[0] + part[1]) + (part[2] + part[3]))"
            " + ((part[4] + part[5]) + (part[6] + part[7]));\n"
        )
        reset = ""
    elif layout == "dense":
        body = (
            "        acc = 0.0f;\n"
            f"        for (c = 0; c < {layer.n_in}u; ++c)\n"
            f"            acc += {name}_weight[r][c] * {src}[c];\n"
        )
        reset = ""
    elif layer.num_active == 0:
        body = "        acc = 0.0f;\n"
        reset = f"    (void){src}; /* no active weight: each output is its bias */\n"
    else:
        body = (
            "        acc = 0.0f;\n"
            f"        for (end = k + {name}_row_len[r]; k < end; ++k)\n"
            f"            acc += {name}_value[k] * {src}[{name}_index[k]];\n"
        )
        reset = "    k = 0;\n"
    # The bias is added after the sum, as the NumPy policy does (``W h + b``).
    store = (
        f"        action[r] = tanhf(acc) * {prefix}_action_scale[r] + {prefix}_action_bias[r];\n"
        if last
        else f"        {dst}[r] = acc > 0.0f ? acc : 0.0f;\n"
    )
    if layout == "coo" and layer.num_active:
        # Scatter into dst (the outputs start at 0, as CSR's acc does), then bias and
        # activation: consecutive products go to different outputs, so the adds overlap.
        return (
            head
            + f"    for (r = 0; r < {layer.n_out}u; ++r)\n"
            + f"        {dst}[r] = 0.0f;\n"
            + f"    for (k = 0; k < {layer.num_active}u; ++k)\n"
            + f"        {dst}[{name}_row[k]] += {name}_value[k] * {src}[{name}_col[k]];\n"
            + f"    for (r = 0; r < {layer.n_out}u; ++r) {{\n"
            + f"        acc = {dst}[r] + {name}_bias[r];\n"
            + store
            + "    }\n"
        )
    return (
        head
        + reset
        + f"    for (r = 0; r < {layer.n_out}u; ++r) {{\n"
        + body
        + f"        acc += {name}_bias[r];\n"
        + store
        + "    }\n"
    )


def c_policy(record: PolicyRecord, prefix: str = DEFAULT_PREFIX, layout: str = "auto") -> CPolicy:
    """The C99 header and source of ``record`` (pure; nothing is written).

    :param layout: per-layer storage, one of :data:`LAYOUTS`.
    :raises ConfigError: a bad prefix, or a layer wider than :data:`MAX_WIDTH`.
    """
    check_prefix(prefix)
    if layout not in LAYOUTS:
        raise ConfigError(f"layout={layout!r}; choose one of {LAYOUTS}")
    widths = [record.obs_dim, *(layer.n_out for layer in record.layers)]
    if max(widths) > MAX_WIDTH:
        raise ConfigError(
            f"the C export supports layers of at most {MAX_WIDTH} units; this policy has "
            f"widths {widths}"
        )
    macro = prefix.upper()
    layers = record.layers
    layouts = tuple(choose_layout(layer, layout) for layer in layers)

    # Activations alternate between two stack buffers: hidden layer j writes buffer j % 2.
    # The first layer reads ``obs`` and the last writes ``action`` directly.
    hidden = [layer.n_out for layer in layers[:-1]]
    buffer_sizes = [max(hidden[parity::2], default=0) for parity in (0, 1)]
    partial = any(uses_partial_sums(*pair) for pair in zip(layers, layouts, strict=True))
    work_bytes = 4 * (sum(buffer_sizes) + (PARTIAL_SUMS if partial else 0))

    arrays: list[CArray] = []
    code = []
    for i, (layer, kind) in enumerate(zip(layers, layouts, strict=True)):
        arrays += _layer_arrays(prefix, i, layer, kind)
        src = "obs" if i == 0 else f"h{(i - 1) % 2}"
        dst = "action" if i == len(layers) - 1 else f"h{i % 2}"
        code.append(_layer_code(prefix, i, layer, kind, src, dst))
    act_dim = record.act_dim
    arrays.append(CArray(f"{prefix}_action_scale", "float", (act_dim,), record.action_scale))
    arrays.append(CArray(f"{prefix}_action_bias", "float", (act_dim,), record.action_bias))

    declarations = [f"    float h{j}[{size}];\n" for j, size in enumerate(buffer_sizes) if size]
    declarations.append("    unsigned int r;\n")
    if partial:
        declarations.append(f"    float part[{PARTIAL_SUMS}];\n")
    if "dense" in layouts:
        declarations.append("    unsigned int c;\n" if not partial else "    unsigned int c, j;\n")
    sparse = {k for k, layer in zip(layouts, layers, strict=True) if layer.num_active} - {"dense"}
    if sparse:
        declarations.append(
            "    unsigned long k, end;\n" if "csr" in sparse else "    unsigned long k;\n"
        )
    declarations.append("    float acc;\n")

    meta = record.metadata
    num_active = sum(layer.num_active for layer in layers)
    num_weights = sum(layer.n_out * layer.n_in for layer in layers)
    origin = (
        f"{meta.get('algo', '?')} {meta.get('method', '?')} {meta.get('env', '?')} actor "
        f"(seed {meta.get('seed', '?')}, step {meta.get('step', '?')})"
    )
    network = " -> ".join(str(w) for w in widths)
    header = f"""/* {prefix}.h: an rlx2 policy as dependency-free C99, generated by rlx2 {rlx2.__version__}
 * from the {origin}; do not edit.
 *
 * {prefix}_act(obs, action) computes the deterministic action of the exported policy:
 * {network}, ReLU hidden layers, tanh output scaled to the task's action box
 * (action = tanh(y) * (high - low) / 2 + (high + low) / 2); no observation normalisation.
 * It allocates nothing, keeps no state (reentrant) and needs only <math.h> (tanhf, link -lm).
 */
#ifndef {macro}_H
#define {macro}_H

#define {macro}_OBS_DIM {record.obs_dim}
#define {macro}_ACT_DIM {act_dim}
/* Constant data (weights, indices, biases, action scaling) in bytes, with 4-byte floats and
 * 2-byte shorts; working memory: the stack arrays of {prefix}_act (plus a few scalars). */
#define {macro}_CONST_BYTES {sum(a.nbytes for a in arrays)}
#define {macro}_WORK_BYTES {work_bytes}

#ifdef __cplusplus
extern "C" {{
#endif

/* obs: {macro}_OBS_DIM floats in; action: {macro}_ACT_DIM floats out, not overlapping obs. */
void {prefix}_act(const float *obs, float *action);

#ifdef __cplusplus
}}
#endif

#endif /* {macro}_H */
"""
    layer_lines = "\n".join(
        f" *   layer {i}: {layer.n_in} -> {layer.n_out}, {kind}, {layer.num_active} active weights"
        for i, (layer, kind) in enumerate(zip(layers, layouts, strict=True))
    )
    source = (
        f"""/* {prefix}.c: generated by rlx2 {rlx2.__version__} from the {origin}; do not edit.
 *
 * {num_active} of {num_weights} weights active (sparsity {1 - num_active / num_weights:.4f}).
{layer_lines}
 * coo layers keep the active weights column by column (value) with their output (row) and
 * input (col) indices; csr layers the active weights (value), their input indices (index) and
 * each output row's count (row_len); dense layers every weight. Floats are C99 hexadecimal
 * constants, exactly the exported float32 values. Rows sum in float32 in index order (dense rows of
 * {PARTIAL_SUMS_FROM}+ inputs in {PARTIAL_SUMS} interleaved partial sums); the NumPy policy sums in other
 * orders, so actions agree to float32 rounding, not bit for bit (docs/deploy.md).
 */
#include <math.h>

#include "{prefix}.h"

"""
        + "\n".join(_array_text(array) for array in arrays)
        + f"\nvoid {prefix}_act(const float *obs, float *action)\n{{\n"
        + "".join(declarations)
        + "\n"
        + "\n".join(code)
        + "}\n"
    )
    return CPolicy(
        prefix=prefix,
        header=header,
        source=source,
        layouts=layouts,
        arrays=tuple(arrays),
        work_bytes=work_bytes,
        obs_dim=record.obs_dim,
        act_dim=act_dim,
    )


# ------------------------------------------------------------------- writing


def check_c_out(out_dir: str | Path, prefix: str, overwrite: bool) -> tuple[Path, Path]:
    """The (header, source) paths in ``out_dir``, or ConfigError when writing them is not allowed:
    ``out_dir`` is a file, or one of them exists and ``overwrite`` is false."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; with --format c it names a directory")
    paths = (out_dir / f"{prefix}.h", out_dir / f"{prefix}.c")
    for path in paths:
        if path.is_dir():
            raise ConfigError(f"--out {out_dir}: {path.name} is a directory")
        if path.exists() and not overwrite:
            raise ConfigError(
                f"--out {out_dir} already holds {path.name}; pass --overwrite to replace it"
            )
    return paths


def write_c_policy(
    policy: CPolicy, out_dir: str | Path, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``PREFIX.h`` and ``PREFIX.c`` into ``out_dir`` (created if missing), each atomically.

    :raises ConfigError: as :func:`check_c_out`.
    """
    header_path, source_path = check_c_out(out_dir, policy.prefix, overwrite)
    atomic_write_bytes(header_path, policy.header.encode())
    atomic_write_bytes(source_path, policy.source.encode())
    return header_path, source_path


__all__ = [
    "DEFAULT_PREFIX",
    "LAYOUTS",
    "MAX_WIDTH",
    "CArray",
    "CPolicy",
    "c_policy",
    "check_c_out",
    "check_prefix",
    "choose_layout",
    "column_order",
    "coo_bytes",
    "csr_bytes",
    "write_c_policy",
]
