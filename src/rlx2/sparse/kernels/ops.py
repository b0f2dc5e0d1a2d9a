"""Numba kernels of the stacked-CSR sparse MLP (layout: ``csr.SparseLayout``).

Activations are feature-major (``act [n_in + rows, B]``), so every active weight costs one
B-long contiguous multiply-add (forward, input gradient) or dot product (weight gradient),
as in SparseProp (Nikdan et al. 2023). The forward sums each row over ``TILE`` batch columns
at a time in a buffer on the stack (``_stack_tile``) that the row's weights stream past: LLVM
knows it aliases nothing and, the tile's length being a constant, keeps it in 16 vector
registers, so a weight costs the loads of its source row and its multiply-adds, nothing else.
The backward accumulates in place, weights 4 at a time, and computes the weight gradient (an
SDDMM over the active positions) in the same pass as the input gradient it shares loads with.

What the measurements (docs/sparse-execution.md) made us do, and why:

- The forward's stack tile: accumulating in ``act`` itself (weights 8 or 4 at a time, to load
  and store the row less often) checked at run time that the row and its sources do not
  overlap and re-loaded the row per group: the Hopper critic's forward took 1.3x as long.
  The tile stays in registers only if every loop over it is a plain vectorised one: a zero
  fill or plain copy of it becomes a memset/memcpy call, a tanh loop does not vectorise, and
  a tile also indexed up to a run-time length (the batch's remainder) is kept in memory; so
  tanh runs on the output row, and the remainder has its own buffer.
- The same tile in the backward's pull was no faster (input gradient: 129 vs 133 µs) or
  slower (with weight gradients: 191 vs 175 µs; each weight's dot product then needs its
  own pass and horizontal sum), so the backward keeps its in-place groups.
- B-long loops are small functions inlined by numba (``_INLINE``): a real call costs ~3 ns
  per active weight at small B. The exception is the backward's per-row work (``_pull*``,
  the activation gradient): inlined into the big row loop, LLVM compiled the ReLU mask as
  a scalar branch (4x the whole matrix work) and the pull 2x slower. They stay real calls
  (``_JIT``), once per row.
- ``error_model="numpy"``: numba's default raises ZeroDivisionError, whose check on every
  division kept the Adam loop scalar (7x slower).
- Row buffers are 64-byte aligned by the caller (``mlp._aligned_empty``).

Imported lazily by ``mlp.py``: importing ``rlx2.sparse`` never needs numba.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# numba, compiling for the chosen CPU target
from rlx2.jit import carray, cgutils, intrinsic, njit, types

_JIT: dict[str, Any] = {"fastmath": True, "cache": True, "nogil": True, "error_model": "numpy"}
_INLINE: dict[str, Any] = {**_JIT, "inline": "always"}

TILE = 256
"""Batch columns accumulated at a time: 1 KiB of float32, 16 AVX-512 registers."""


@intrinsic
def _stack_tile(typingctx, dtype):  # pragma: no cover - compiled
    """Pointer to ``TILE`` elements of ``dtype`` on the stack (in the function's entry)."""

    def codegen(context, builder, signature, args):
        item = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, item, size=context.get_constant(types.intp, TILE))

    return types.CPointer(dtype.dtype)(dtype), codegen


# ---------------------------------------------------------------- B-long vector helpers


@njit(**_INLINE)
def _fill(y, value):  # pragma: no cover - compiled
    for t in range(y.shape[0]):
        y[t] = value


@njit(**_INLINE)
def _set4(y, b, w0, w1, w2, w3, a0, a1, a2, a3):  # pragma: no cover - compiled
    for t in range(y.shape[0]):
        y[t] = b + (w0 * a0[t] + w1 * a1[t]) + (w2 * a2[t] + w3 * a3[t])


@njit(**_INLINE)
def _axpy(y, w0, a0):  # pragma: no cover - compiled
    for t in range(y.shape[0]):
        y[t] += w0 * a0[t]


@njit(**_INLINE)
def _axpy4(y, w0, w1, w2, w3, a0, a1, a2, a3):  # pragma: no cover - compiled
    for t in range(y.shape[0]):
        y[t] += (w0 * a0[t] + w1 * a1[t]) + (w2 * a2[t] + w3 * a3[t])


@njit(**_INLINE)
def _set_dot(g, w0, e0, a):  # pragma: no cover - compiled
    """g = w0 e0; returns e0 . a."""
    d0 = a.dtype.type(0)
    for t in range(a.shape[0]):
        g[t] = w0 * e0[t]
        d0 += e0[t] * a[t]
    return d0


@njit(**_INLINE)
def _axpy_dot(g, w0, e0, a):  # pragma: no cover - compiled
    """g += w0 e0; returns e0 . a."""
    d0 = a.dtype.type(0)
    for t in range(a.shape[0]):
        g[t] += w0 * e0[t]
        d0 += e0[t] * a[t]
    return d0


@njit(**_INLINE)
def _set4_dot4(g, w0, w1, w2, w3, e0, e1, e2, e3, a):  # pragma: no cover - compiled
    """g = sum_i w_i e_i; returns (e_i . a)_i, in one pass over B."""
    d0 = d1 = d2 = d3 = a.dtype.type(0)
    for t in range(a.shape[0]):
        f0, f1, f2, f3 = e0[t], e1[t], e2[t], e3[t]
        g[t] = (w0 * f0 + w1 * f1) + (w2 * f2 + w3 * f3)
        d0 += f0 * a[t]
        d1 += f1 * a[t]
        d2 += f2 * a[t]
        d3 += f3 * a[t]
    return d0, d1, d2, d3


@njit(**_INLINE)
def _axpy4_dot4(g, w0, w1, w2, w3, e0, e1, e2, e3, a):  # pragma: no cover - compiled
    """g += sum_i w_i e_i; returns (e_i . a)_i, in one pass over B."""
    d0 = d1 = d2 = d3 = a.dtype.type(0)
    for t in range(a.shape[0]):
        f0, f1, f2, f3 = e0[t], e1[t], e2[t], e3[t]
        g[t] += (w0 * f0 + w1 * f1) + (w2 * f2 + w3 * f3)
        d0 += f0 * a[t]
        d1 += f1 * a[t]
        d2 += f2 * a[t]
        d3 += f3 * a[t]
    return d0, d1, d2, d3


@njit(**_INLINE)
def _dot(e0, a):  # pragma: no cover - compiled
    d0 = a.dtype.type(0)
    for t in range(a.shape[0]):
        d0 += e0[t] * a[t]
    return d0


@njit(**_INLINE)
def _dot4(e0, e1, e2, e3, a):  # pragma: no cover - compiled
    d0 = d1 = d2 = d3 = a.dtype.type(0)
    for t in range(a.shape[0]):
        d0 += e0[t] * a[t]
        d1 += e1[t] * a[t]
        d2 += e2[t] * a[t]
        d3 += e3[t] * a[t]
    return d0, d1, d2, d3


@njit(**_INLINE)
def _relu_grad_sum(g, a):  # pragma: no cover - compiled
    """g *= ReLU'(z) (a = ReLU(z) > 0); returns sum(g), the bias gradient."""
    zero = g.dtype.type(0)
    s = zero
    for t in range(g.shape[0]):
        v = g[t] if a[t] > zero else zero
        g[t] = v
        s += v
    return s


@njit(**_JIT)
def _activation_grad_sum(g, a, code):  # pragma: no cover - compiled
    """g *= f'(z) from the activation's output a = f(z) (ReLU: a > 0; tanh: 1 - a^2);
    returns sum(g), the bias gradient. For output rows."""
    zero = g.dtype.type(0)
    s = zero
    if code == 1:
        for t in range(g.shape[0]):
            g[t] = g[t] if a[t] > zero else zero
            s += g[t]
    elif code == 2:
        one = g.dtype.type(1)
        for t in range(g.shape[0]):
            g[t] *= one - a[t] * a[t]
            s += g[t]
    else:
        for t in range(g.shape[0]):
            s += g[t]
    return s


@njit(**_INLINE)
def _forward_tile(
    act, acc, c0, n, n_in, row_stop, row_ptr, sources, values, bias, activation
):  # pragma: no cover - compiled
    """act[n_in + r, c0 : c0 + n] for the rows r < row_stop, each summed in acc[:n]."""
    zero = values.dtype.type(0)
    for r in range(row_stop):
        b = bias[r]
        for t in range(n):
            acc[t] = b
        for k in range(row_ptr[r], row_ptr[r + 1]):
            w = values[k]
            src = act[sources[k]][c0:]
            for t in range(n):
                acc[t] += w * src[t]
        y = act[n_in + r][c0:]
        code = activation[r]
        if code == 1:
            for t in range(n):
                y[t] = max(acc[t], zero)
        else:
            for t in range(n):
                y[t] = acc[t]
            if code == 2:  # on y: a loop over acc that does not vectorise would keep it in memory
                for t in range(n):
                    y[t] = np.tanh(y[t])


# Transposes between the batch-major module boundary and the feature-major rows. Wide ones
# go in fixed 8x8 tiles (a naive strided copy of 256x256 takes 2x as long, tiles with
# min() bounds too); the usual handful of observation features or outputs is copied plainly.


@njit(**_INLINE)
def _batch_to_rows(x, act, row0):  # pragma: no cover - compiled
    """act[row0 + j, t] = x[t, j]: [B, n] -> n rows."""
    batch, n = x.shape
    tb, nb = (batch - batch % 8, n - n % 8) if n >= 32 else (0, 0)
    for t0 in range(0, tb, 8):
        for j0 in range(0, nb, 8):
            for j in range(8):
                for t in range(8):
                    act[row0 + j0 + j, t0 + t] = x[t0 + t, j0 + j]
    for j in range(nb):
        for t in range(tb, batch):
            act[row0 + j, t] = x[t, j]
    for j in range(nb, n):
        for t in range(batch):
            act[row0 + j, t] = x[t, j]


@njit(**_INLINE)
def _batch_to_rows_scaled(x, act, rows, scale):  # pragma: no cover - compiled
    """act[rows[o], t] = x[t, o] * scale[o] for o < x.shape[1]."""
    batch, n = x.shape
    tb, nb = (batch - batch % 8, n - n % 8) if n >= 32 else (0, 0)
    for t0 in range(0, tb, 8):
        for o0 in range(0, nb, 8):
            for o in range(8):
                row, a = rows[o0 + o], scale[o0 + o]
                for t in range(8):
                    act[row, t0 + t] = x[t0 + t, o0 + o] * a
    for o in range(nb):
        for t in range(tb, batch):
            act[rows[o], t] = x[t, o] * scale[o]
    for o in range(nb, n):
        row, a = rows[o], scale[o]
        for t in range(batch):
            act[row, t] = x[t, o] * a


@njit(**_INLINE)
def _rows_to_batch(act, rows, scale, shift, out):  # pragma: no cover - compiled
    """out[t, o] = act[rows[o], t] * scale[o] + shift[o] for o < out.shape[1]."""
    batch, n = out.shape
    tb, nb = (batch - batch % 8, n - n % 8) if n >= 32 else (0, 0)
    for t0 in range(0, tb, 8):
        for o0 in range(0, nb, 8):
            for o in range(8):  # row, scale, shift hoisted: 1.7x faster than t outermost
                row, a, b = rows[o0 + o], scale[o0 + o], shift[o0 + o]
                for t in range(8):
                    out[t0 + t, o0 + o] = act[row, t0 + t] * a + b
    for o in range(nb):
        for t in range(tb, batch):
            out[t, o] = act[rows[o], t] * scale[o] + shift[o]
    for o in range(nb, n):
        row, a, b = rows[o], scale[o], shift[o]
        for t in range(batch):
            out[t, o] = act[row, t] * a + b


@njit(**_INLINE)
def _rows_to_batch_plain(act, row0, out):  # pragma: no cover - compiled
    """out[t, j] = act[row0 + j, t]."""
    batch, n = out.shape
    tb, nb = (batch - batch % 8, n - n % 8) if n >= 32 else (0, 0)
    for t0 in range(0, tb, 8):
        for j0 in range(0, nb, 8):
            for t in range(8):
                for j in range(8):
                    out[t0 + t, j0 + j] = act[row0 + j0 + j, t0 + t]
    for j in range(nb):
        for t in range(tb, batch):
            out[t, j] = act[row0 + j, t]
    for j in range(nb, n):
        for t in range(batch):
            out[t, j] = act[row0 + j, t]


# ---------------------------------------------------------------- network kernels


@njit(**_JIT)
def forward(
    x1,
    x2,
    row_ptr,
    sources,
    values,
    bias,
    activation,
    output_column,
    output_rows,
    out_scale,
    out_shift,
    row_stop,
    act,
    out,
):  # pragma: no cover - compiled
    """Rows [0, row_stop) of the network on a batch.

    :param x1: [B, n1] first input part (batch-major); ``x2`` [B, n2] the second (may be n2=0).
    :param out_scale: [n_out], ``out_shift`` [n_out]: ``out = act * scale + shift`` at the
        output rows (the action scaling of an actor; ones and zeros otherwise).
    :param output_rows: [n_out'] act row of each output column (``out`` takes the first n_out).
    :param act: [n1 + n2 + rows, B] output buffer: the transposed input, then every row.
    :param out: [B, n_out] the output columns of the evaluated heads.
    """
    n1 = x1.shape[1]
    n_in = n1 + x2.shape[1]
    _batch_to_rows(x1, act, 0)
    _batch_to_rows(x2, act, n1)
    batch = act.shape[1]
    full = batch - batch % TILE
    acc = carray(_stack_tile(act.dtype), (TILE,))
    for c0 in range(0, full, TILE):
        _forward_tile(act, acc, c0, TILE, n_in, row_stop, row_ptr, sources, values, bias, activation)  # fmt: skip
    if full < batch:  # its own buffer (see the module's notes)
        rest = carray(_stack_tile(act.dtype), (TILE,))
        _forward_tile(act, rest, full, batch - full, n_in, row_stop, row_ptr, sources, values, bias, activation)  # fmt: skip
    _rows_to_batch(act, output_rows, out_scale, out_shift, out)


@njit(**_JIT)
def forward_single(
    x1,
    x2,
    row_ptr,
    sources,
    values,
    bias,
    activation,
    output_column,
    output_rows,
    out_scale,
    out_shift,
    row_stop,
    act,
    out,
):  # pragma: no cover - compiled
    """:func:`forward` for a batch of one (same arguments, B = 1): a CSR matrix-vector
    product per row. Four partial sums, because short rows are latency-bound on a single
    accumulator chain; a row whose sources are one contiguous run (a dense row: ER leaves
    the output layers dense) is a plain dot product, without gathers."""
    n1 = x1.shape[1]
    n2 = x2.shape[1]
    n_in = n1 + n2
    zero = values.dtype.type(0)
    h = act.reshape(act.shape[0])  # [n_in + rows]
    for j in range(n1):
        h[j] = x1[0, j]
    for j in range(n2):
        h[n1 + j] = x2[0, j]
    for r in range(row_stop):
        acc0 = acc1 = acc2 = acc3 = zero
        k = row_ptr[r]
        end = row_ptr[r + 1]
        if end - k > 8 and sources[end - 1] - sources[k] == end - k - 1:
            w = values[k:end]
            x = h[sources[k] : sources[k] + (end - k)]
            for i in range(end - k):  # i >= 0: no negative-index wrap, so it vectorises
                acc0 += w[i] * x[i]
            k = end
        while k + 4 <= end:
            acc0 += values[k] * h[sources[k]]
            acc1 += values[k + 1] * h[sources[k + 1]]
            acc2 += values[k + 2] * h[sources[k + 2]]
            acc3 += values[k + 3] * h[sources[k + 3]]
            k += 4
        while k < end:
            acc0 += values[k] * h[sources[k]]
            k += 1
        acc = bias[r] + ((acc0 + acc1) + (acc2 + acc3))
        code = activation[r]
        if code == 1:
            acc = max(acc, zero)
        elif code == 2:
            acc = np.tanh(acc)
        h[n_in + r] = acc
        o = output_column[r]
        if o >= 0:
            out[0, o] = acc * out_scale[o] + out_shift[o]


# Never cached: a backward loaded from numba's cache sums the bias gradients in another
# order than the same backward compiled in-process (its real callees, the _pull*, are
# linked and optimised differently), so a run's result depended on whether the cache was
# warm (same seed, different returns). Compiled afresh each process (~2 s), it always
# links the same callees the same way; tests/sparse/test_kernel_determinism.py checks it.
@njit(**{**_JIT, "cache": False})
def backward(
    grad_out,
    act,
    row_ptr,
    sources,
    consumer_ptr,
    consumer_rows,
    consumer_slots,
    values,
    activation,
    output_column,
    output_rows,
    out_scale,
    n1,
    n_in,
    row_stop,
    need_weight_grad,
    need_input_grad,
    input_grad_start,
    keep_row_grads,
    grad,
    grad_values,
    grad_bias,
    grad_x1,
    grad_x2,
):  # pragma: no cover - compiled
    """Backward pass of rows [0, row_stop) given ``grad_out`` [B, n_out] and the saved ``act``.

    Act rows are visited in reverse; each pulls its gradient from the rows that read it (all
    later, hence already final): ``grad[j] = f'(act[j]) * sum_r w_rj grad[r]``, and in the same
    B-long loop the weight gradient ``dw_rj = grad[r] . act[j]``. ``grad`` [n_in + rows, B]
    ends holding the pre-activation gradients of the rows (and the input gradient).
    Without an input gradient, the weights that read the input get their gradient row by
    row instead, right after the row's gradient (still in L1) and against input rows that
    all fit in L1. No one reads such a hidden first-layer row's gradient afterwards, so
    unless ``keep_row_grads`` it is formed in input row 0 (unused then, and kept in L1)
    instead of its own row: half a MB less to stream per Hopper critic backward, 6 % faster.

    :param n1: width of the first input part; ``n_in`` the whole input width.
    :param input_grad_start: first input row whose gradient is computed (0, or n1 when only
        the second part's gradient is needed and there are no weight gradients); ``grad_x1``
        is written only when it is 0.
    :param keep_row_grads: keep every row's gradient in ``grad`` (the dense weight gradient
        of RigL's grow step reads them).
    :param grad_values: [nnz] written where ``need_weight_grad`` (slots of rows >= row_stop
        are left untouched); ``grad_bias`` [rows] likewise.
    :param grad_x1: [B, n1], ``grad_x2`` [B, n_in - n1], written where ``need_input_grad``
        (pass any arrays otherwise).
    """
    # Output rows first: grad[output row] = grad_out column * scale (the activation
    # derivative is applied in the row loop).
    _batch_to_rows_scaled(grad_out, grad, output_rows, out_scale)
    for j in range(n_in + row_stop - 1, -1, -1):
        c = consumer_ptr[j]
        end = consumer_ptr[j + 1]
        if j < n_in:
            if need_input_grad and j >= input_grad_start:
                while end > c and consumer_rows[end - 1] >= row_stop:  # past the prefix
                    end -= 1
                if need_weight_grad:
                    _pull_with_weight_grads(
                        grad[j], act[j], grad, values, consumer_rows, consumer_slots, n_in, c,
                        end, grad_values, False,
                    )  # fmt: skip
                else:
                    _pull(grad[j], act[j], grad, values, consumer_rows, consumer_slots, n_in, c, end, False)  # fmt: skip
            continue
        r = j - n_in
        k, k_end = row_ptr[r], row_ptr[r + 1]
        first_layer = k < k_end and sources[k] < n_in
        o = output_column[r]
        # A hidden first-layer row: an output row's gradient is already in its own row.
        scratch = first_layer and o < 0 and not (need_input_grad or keep_row_grads)
        g = grad[0 if scratch else j]
        if o >= 0:
            db = _activation_grad_sum(g, act[j], activation[r])
        elif need_weight_grad:  # hidden rows are ReLU (csr.SparseLayout)
            db = _pull_with_weight_grads(
                g, act[j], grad, values, consumer_rows, consumer_slots, n_in, c, end,
                grad_values, True,
            )  # fmt: skip
        else:
            db = _pull(g, act[j], grad, values, consumer_rows, consumer_slots, n_in, c, end, True)  # fmt: skip
        if need_weight_grad:
            grad_bias[r] = db
            if not need_input_grad and first_layer:
                _row_weight_grads(g, act, sources, k, k_end, grad_values)
    if need_input_grad:
        if input_grad_start == 0:
            _rows_to_batch_plain(grad, 0, grad_x1)
        _rows_to_batch_plain(grad, n1, grad_x2)


@njit(**_JIT)
def _pull(g, a, grad, values, rows, slots, n_in, c, end, relu):  # pragma: no cover - compiled
    """g = sum over consumers [c, end) of w * grad[consumer], then times ReLU'(a) if ``relu``;
    returns sum(g)."""
    if c + 4 <= end:
        _set4(
            g,
            values.dtype.type(0),
            values[slots[c]],
            values[slots[c + 1]],
            values[slots[c + 2]],
            values[slots[c + 3]],
            grad[n_in + rows[c]],
            grad[n_in + rows[c + 1]],
            grad[n_in + rows[c + 2]],
            grad[n_in + rows[c + 3]],
        )
        c += 4
    else:
        _fill(g, values.dtype.type(0))
    while c + 4 <= end:
        _axpy4(
            g,
            values[slots[c]],
            values[slots[c + 1]],
            values[slots[c + 2]],
            values[slots[c + 3]],
            grad[n_in + rows[c]],
            grad[n_in + rows[c + 1]],
            grad[n_in + rows[c + 2]],
            grad[n_in + rows[c + 3]],
        )
        c += 4
    while c < end:
        _axpy(g, values[slots[c]], grad[n_in + rows[c]])
        c += 1
    return _relu_grad_sum(g, a) if relu else g.dtype.type(0)


@njit(**_JIT)
def _pull_with_weight_grads(
    g, a, grad, values, rows, slots, n_in, c, end, grad_values, relu
):  # pragma: no cover - compiled
    """:func:`_pull`, and grad_values[slot] = grad[consumer] . a in the same pass."""
    k0 = c
    if c + 4 <= end:
        k0, k1, k2, k3 = slots[c], slots[c + 1], slots[c + 2], slots[c + 3]
        d0, d1, d2, d3 = _set4_dot4(
            g,
            values[k0],
            values[k1],
            values[k2],
            values[k3],
            grad[n_in + rows[c]],
            grad[n_in + rows[c + 1]],
            grad[n_in + rows[c + 2]],
            grad[n_in + rows[c + 3]],
            a,
        )
        grad_values[k0], grad_values[k1], grad_values[k2], grad_values[k3] = d0, d1, d2, d3
        c += 4
    elif c < end:
        k0 = slots[c]
        grad_values[k0] = _set_dot(g, values[k0], grad[n_in + rows[c]], a)
        c += 1
    else:
        _fill(g, values.dtype.type(0))
    while c + 4 <= end:
        k0, k1, k2, k3 = slots[c], slots[c + 1], slots[c + 2], slots[c + 3]
        d0, d1, d2, d3 = _axpy4_dot4(
            g,
            values[k0],
            values[k1],
            values[k2],
            values[k3],
            grad[n_in + rows[c]],
            grad[n_in + rows[c + 1]],
            grad[n_in + rows[c + 2]],
            grad[n_in + rows[c + 3]],
            a,
        )
        grad_values[k0], grad_values[k1], grad_values[k2], grad_values[k3] = d0, d1, d2, d3
        c += 4
    while c < end:
        k0 = slots[c]
        grad_values[k0] = _axpy_dot(g, values[k0], grad[n_in + rows[c]], a)
        c += 1
    return _relu_grad_sum(g, a) if relu else g.dtype.type(0)


@njit(**_JIT)
def _row_weight_grads(g, act, sources, k, end, grad_values):  # pragma: no cover - compiled
    """grad_values[k'] = g . act[sources[k']] for the slots [k, end) of one row."""
    while k + 4 <= end:
        d0, d1, d2, d3 = _dot4(
            act[sources[k]], act[sources[k + 1]], act[sources[k + 2]], act[sources[k + 3]], g
        )
        grad_values[k], grad_values[k + 1] = d0, d1
        grad_values[k + 2], grad_values[k + 3] = d2, d3
        k += 4
    while k < end:
        grad_values[k] = _dot(act[sources[k]], g)
        k += 1


# ---------------------------------------------------------------- optimiser


@njit(**_JIT)
def adam_update(
    param, grad, exp_avg, exp_avg_sq, step_size, inv_sqrt_bias2, beta1, beta2, eps
):  # pragma: no cover - compiled
    """torch.optim.Adam's update, in place, for 1-D arrays of one parameter:
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps) with step_size = lr / (1 - b1^t)."""
    dtype = param.dtype.type
    b1, b2 = dtype(beta1), dtype(beta2)
    c1, c2 = dtype(1.0 - beta1), dtype(1.0 - beta2)
    lr_t, inv_b2, e = dtype(step_size), dtype(inv_sqrt_bias2), dtype(eps)
    for i in range(param.shape[0]):
        g = grad[i]
        m = b1 * exp_avg[i] + c1 * g
        v = b2 * exp_avg_sq[i] + c2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] -= lr_t * m / (np.sqrt(v) * inv_b2 + e)
