"""SparseMLP: MLP heads that store and compute only their active weights (CPU, numba).

The module keeps the batch-major interface of ``nn.Sequential`` (``[B, in] -> [B, out]``) and
runs feature-major inside: the input is transposed once, every layer works on rows of
``act [features, B]``, and the output is transposed back (layout in ``csr.py``, kernels in
``ops.py``). One ``torch.autograd.Function`` runs the whole network forward and the whole
backward, so a TD3 update pays Python and autograd overhead per network, not per layer.

Parameters: ``values`` [nnz] (the active weights of all layers, slot order of the layout)
and ``bias`` [rows] (dense biases of all layers). An optimiser over them keeps state only for
active weights. Topology changes go through :meth:`SparseMLP.set_masks`, which keeps both
``Parameter`` objects (nnz is constant under SET/RigL) and returns the slot remap that an
updater applies to optimiser moments and target networks (:func:`remap_slots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rlx2.errors import ConfigError
from rlx2.sparse.kernels.csr import SparseLayout, slot_remap

_OPS: ModuleType | None = None


def kernels() -> ModuleType:
    """The numba kernel module, imported (and compiled from cache) on first use."""
    global _OPS
    if _OPS is None:
        try:
            from rlx2.sparse.kernels import ops
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the sparse backend needs numba (pip install numba); "
                "masked execution works without it"
            ) from err
        _OPS = ops
    return _OPS


class SparseMLP(nn.Module):
    """Stacked sparse MLP heads on one input; ReLU between layers (build with :meth:`from_dense`).

    ``forward(x)`` or ``forward(x1, x2)`` (the two parts are concatenated along features, e.g.
    a critic's obs and action): [B, in] -> [B, out_features], the heads' outputs side by side
    (a twin critic gives [B, 2]). ``heads=1`` evaluates only the first head (Q1 for the actor
    loss): its rows are a prefix of the network.

    Set ``dense_grad_next_backward = True`` before a backward whose dense weight gradient is
    needed (RigL's grow score): that backward also stores ``dense_grads``, one [out, in]
    tensor per layer (``linear_weights`` order), and resets the flag.

    :param layout: the sparsity structure.
    :param values: [layout.nnz] active weights in slot order.
    :param bias: [layout.num_rows] biases.
    :param output_scale: [out_features] ``y = f(z) * scale + shift`` at the outputs (a TD3
        actor's action scaling, fused); None = ones. Buffers, not trained.
    :param output_shift: [out_features]; None = zeros.
    """

    def __init__(
        self,
        layout: SparseLayout,
        values: Tensor,
        bias: Tensor,
        output_scale: Tensor | None = None,
        output_shift: Tensor | None = None,
    ):
        super().__init__()
        if values.shape != (layout.nnz,) or bias.shape != (layout.num_rows,):
            raise ConfigError(
                f"values {tuple(values.shape)} / bias {tuple(bias.shape)} do not match the "
                f"layout (nnz={layout.nnz}, rows={layout.num_rows})"
            )
        if values.dtype not in (torch.float32, torch.float64) or bias.dtype != values.dtype:
            raise ConfigError(
                f"values and bias must share a float32/float64 dtype, got {values.dtype}/{bias.dtype}"
            )
        self.values = nn.Parameter(values.detach().clone().contiguous())
        self.bias = nn.Parameter(bias.detach().clone().contiguous())
        n_out = layout.out_features
        scale = torch.ones(n_out) if output_scale is None else output_scale.detach()
        shift = torch.zeros(n_out) if output_shift is None else output_shift.detach()
        if scale.shape != (n_out,) or shift.shape != (n_out,):
            raise ConfigError(
                f"output_scale/output_shift must have shape ({n_out},), got "
                f"{tuple(scale.shape)}/{tuple(shift.shape)}"
            )
        self.register_buffer("output_scale", scale.to(values.dtype).clone().contiguous())
        self.register_buffer("output_shift", shift.to(values.dtype).clone().contiguous())
        self.dense_grad_next_backward = False
        self.dense_grads: list[Tensor] | None = None
        self._views: tuple | None = None
        self._scratch: dict[int | str, np.ndarray] = {}
        self.layout = layout

    # ------------------------------------------------------------ conversions

    @classmethod
    def from_dense(
        cls,
        heads: nn.Sequential | Sequence[nn.Sequential],
        masks: Sequence[Tensor] | None = None,
        output_activation: str = "identity",
        output_scale: Tensor | None = None,
        output_shift: Tensor | None = None,
    ) -> SparseMLP:
        """Compact copy of dense/masked MLPs (``Linear, ReLU, ..., Linear``) sharing one input.

        :param heads: one ``nn.Sequential`` (an actor) or several (a twin critic's q1, q2).
        :param masks: bool [out, in] per ``nn.Linear`` in order (``MaskSet.masks``); None =
            every weight active. Never inferred from zeros: a regrown weight is exactly 0.
        :param output_activation: applied to each head's output ("identity" | "tanh").
        :param output_scale: see the class; e.g. ``ActionScaling.scale`` with "tanh".
        """
        head_list = [heads] if isinstance(heads, nn.Sequential) else list(heads)
        if not head_list:
            raise ConfigError("heads is empty: give one nn.Sequential or a list of them")
        linears = [_linears_of(h, i) for i, h in enumerate(head_list)]
        in_features = linears[0][0].in_features
        widths = [[lin[0].in_features] + [layer.out_features for layer in lin] for lin in linears]
        flat = [layer for lin in linears for layer in lin]
        if masks is None:
            masks = [torch.ones_like(layer.weight, dtype=torch.bool) for layer in flat]
        if len(masks) != len(flat):
            raise ConfigError(f"masks: got {len(masks)} masks for {len(flat)} nn.Linear layers")
        np_masks = [m.detach().cpu().numpy().astype(bool) for m in masks]
        layout = SparseLayout.from_masks(in_features, widths, np_masks, output_activation)
        with torch.no_grad():
            values = torch.cat(
                [
                    layer.weight.cpu()[torch.from_numpy(m)]
                    for layer, m in zip(flat, np_masks, strict=True)
                ]
            )
            bias = torch.cat([layer.bias.cpu() for layer in flat])
        return cls(layout, values, bias, output_scale, output_shift)

    def masks(self) -> list[Tensor]:
        """Bool mask [out, in] per layer (``linear_weights`` order of the dense heads)."""
        return [torch.from_numpy(m) for m in self.layout.masks()]

    @torch.no_grad()
    def dense_weights(self) -> list[Tensor]:
        """Dense [out, in] weight per layer, exactly 0 at inactive positions."""
        out = []
        values = self.values.detach()
        for mask, (s0, s1) in zip(self.masks(), self.layout.layer_slots, strict=True):
            weight = torch.zeros(mask.shape, dtype=values.dtype)
            weight[mask] = values[s0:s1]  # slots are row-major within a layer, as mask order
            out.append(weight)
        return out

    @torch.no_grad()
    def to_dense(self) -> list[nn.Sequential]:
        """The equivalent dense heads (``nn.Sequential`` of Linear/ReLU; the output activation
        is not included)."""
        weights = iter(self.dense_weights())
        biases = iter(self.bias.detach().split([out for out, _ in self.layout.shapes]))
        heads = []
        for head in self.layout.head_widths:
            layers: list[nn.Module] = []
            for i in range(len(head) - 1):
                linear = nn.Linear(head[i], head[i + 1], dtype=self.values.dtype)
                linear.weight.copy_(next(weights))
                linear.bias.copy_(next(biases))
                layers += [linear, nn.ReLU()] if i < len(head) - 2 else [linear]
            heads.append(nn.Sequential(*layers))
        return heads

    @torch.no_grad()
    def set_masks(self, masks: Sequence[Tensor], weights: Sequence[Tensor] | None = None) -> Tensor:
        """Change the topology; ``values`` and ``bias`` keep their identity (optimiser intact).

        :param masks: new bool [out, in] per layer; the total active count must not change.
        :param weights: dense [out, in] per layer to read the new values from; None = carry
            the current values of kept positions and start new positions at exactly 0.
        :return: [nnz] int64 slot remap (old slot of each new slot, -1 = new position); apply
            it to optimiser moments and to target networks with :func:`remap_slots`.
        """
        old = self.layout
        np_masks = [m.detach().cpu().numpy().astype(bool) for m in masks]
        new = SparseLayout.from_masks(
            old.in_features, old.head_widths, np_masks, old.output_activation
        )
        if new.nnz != old.nnz:
            raise ConfigError(
                f"set_masks: {new.nnz} active weights, the network holds {old.nnz}; the count "
                "must stay constant (drop k = grow k) so values keeps its identity"
            )
        src = torch.from_numpy(slot_remap(old, new))
        if weights is None:
            new_values = remap_slots(self.values.detach(), src)
        else:
            new_values = torch.cat(
                [
                    w.detach().cpu()[torch.from_numpy(m)]
                    for w, m in zip(weights, np_masks, strict=True)
                ]
            )
        self.values.copy_(new_values)
        self.layout = new
        return src

    # ------------------------------------------------------------ execution

    @property
    def layout(self) -> SparseLayout:
        return self._layout

    @layout.setter
    def layout(self, layout: SparseLayout) -> None:
        # Everything the hot path reads, resolved once per topology (a few µs per call saved).
        self._layout = layout
        self._num_rows = layout.num_rows
        self._out_features = layout.out_features
        self._in_features = layout.in_features
        self._forward_index = (layout.row_ptr, layout.sources)
        self._row_info = (layout.activation, layout.output_column, layout.output_rows)
        self._scratch = {}

    @property
    def in_features(self) -> int:
        return self._in_features

    @property
    def out_features(self) -> int:
        return self._out_features

    def forward(self, x1: Tensor, x2: Tensor | None = None, heads: int | None = None) -> Tensor:
        if heads is None:
            row_stop, n_out = self._num_rows, self._out_features
        else:
            row_stop = self._layout.head_row_stop(heads)
            n_out = self._layout.head_out_features(heads)
        if (
            x1.dim() != 2
            or x1.shape[1] + (0 if x2 is None else x2.shape[1]) != self._in_features
            or (x2 is not None and (x2.dim() != 2 or x2.shape[0] != x1.shape[0]))
        ):
            raise ConfigError(
                f"SparseMLP expects [B, {self._in_features}] input (x1 and x2 concatenated), "
                f"got {tuple(x1.shape)}" + ("" if x2 is None else f" and {tuple(x2.shape)}")
            )
        params = self._parameters
        values_t, bias_t = params["values"], params["bias"]
        if torch.is_grad_enabled() and (
            values_t.requires_grad  # type: ignore[union-attr]
            or bias_t.requires_grad  # type: ignore[union-attr]
            or x1.requires_grad
            or (x2 is not None and x2.requires_grad)
        ):
            return _SparseMLPFunction.apply(self, row_stop, n_out, x1, x2, values_t, bias_t)
        # No graph to record (inference, target networks): run the kernel directly, in a
        # scratch activation buffer reused across calls.
        dtype = values_t.dtype  # type: ignore[union-attr]
        a1 = _as_numpy(x1, dtype)
        a2 = _EMPTY[_NP[dtype]][: a1.shape[0]] if x2 is None else _as_numpy(x2, dtype)
        batch = a1.shape[0]
        out = np.empty((batch, n_out), dtype=_NP[dtype])  # type: ignore[call-overload]
        act = self._scratch.get(batch)
        if act is None or act.dtype != _NP[dtype]:
            act = self._new_scratch(batch, _NP[dtype])  # type: ignore[arg-type]
        self.run_forward(a1, a2, act, out, row_stop)
        return torch.from_numpy(out)

    # ------------------------------------------------------------ kernel-level interface
    # What the autograd Function above and fused training steps (``rlx2.algos.fused``) call:
    # NumPy in, NumPy out, caller-owned buffers, no autograd. One place holds the plumbing.

    def run_forward(
        self, x1: np.ndarray, x2: np.ndarray, act: np.ndarray, out: np.ndarray, row_stop: int
    ) -> None:
        """Rows [0, row_stop) on a batch: ``x1`` [B, n1] and ``x2`` [B, n2] (n1 + n2 =
        in_features; ``x2`` may be [B, 0]) -> ``out`` [B, outputs of those rows]; ``act``
        [in_features + num_rows, B] (:meth:`activation_buffer`) keeps every row's output for
        :meth:`run_backward`. Batch 1 takes the matrix-vector kernel."""
        values, bias, scale, shift = self.numpy_parameters()
        ops = _OPS or kernels()
        kernel = ops.forward_single if x1.shape[0] == 1 else ops.forward
        row_ptr, sources = self._forward_index
        activation, output_column, output_rows = self._row_info
        kernel(x1, x2, row_ptr, sources, values, bias, activation, output_column, output_rows, scale, shift, row_stop, act, out)  # fmt: skip

    def run_backward(
        self,
        grad_out: np.ndarray,
        act: np.ndarray,
        row_stop: int,
        n1: int,
        grad_values: np.ndarray | None,
        grad_bias: np.ndarray | None,
        grad_x1: np.ndarray | None,
        grad_x2: np.ndarray | None,
        work: np.ndarray | None = None,
    ) -> None:
        """Backward of :meth:`run_forward` (same ``act`` and ``row_stop``) from ``grad_out``
        [B, outputs]: weight gradients into ``grad_values`` [nnz] and ``grad_bias`` [rows]
        (both or neither; slots and rows past ``row_stop`` get 0), input gradients into
        ``grad_x1`` [B, n1] and/or ``grad_x2`` [B, in - n1] (None: not computed; without
        weight gradients, ``grad_x1=None`` also skips the first part's work). ``work``: a
        buffer shaped like ``act`` for the row gradients (None: one the module keeps). A pending
        ``dense_grad_next_backward`` request is served by a backward with weight gradients."""
        layout = self._layout
        values, _, scale, _ = self.numpy_parameters()
        dtype = values.dtype
        need_w = grad_values is not None
        need_x = grad_x1 is not None or grad_x2 is not None
        dummy = _DUMMY[dtype]  # for outputs the kernel does not write
        if need_w:
            assert grad_values is not None and grad_bias is not None
            if row_stop < layout.num_rows:  # rows not evaluated: zero gradient
                grad_values[layout.row_ptr[row_stop] :] = 0
                grad_bias[row_stop:] = 0
        # The first input part's rows are pulled only when their gradient (or, with weight
        # gradients, the weights that read them) is needed: the actor loss through the
        # critic needs only the action's gradient.
        input_grad_start = n1 if (grad_x1 is None and not need_w) else 0
        grad = self._grad_buffer(act.shape, dtype) if work is None else work
        keep_rows = self.dense_grad_next_backward and need_w  # _dense_grads reads every row
        (_OPS or kernels()).backward(
            grad_out, act, layout.row_ptr, layout.sources,
            layout.consumer_ptr, layout.consumer_rows, layout.consumer_slots,
            values, layout.activation, layout.output_column, layout.output_rows, scale, n1,
            layout.in_features, row_stop, need_w, need_x, input_grad_start, keep_rows, grad,
            dummy[0] if grad_values is None else grad_values,
            dummy[0] if grad_bias is None else grad_bias,
            dummy if grad_x1 is None else grad_x1,
            dummy if grad_x2 is None else grad_x2,
        )  # fmt: skip
        if self.dense_grad_next_backward and need_w:
            self.dense_grads = _dense_grads(layout, act, grad, row_stop)
            self.dense_grad_next_backward = False

    def activation_buffer(self, batch: int) -> np.ndarray:
        """A fresh [in_features + num_rows, batch] buffer for :meth:`run_forward` (64-byte
        aligned: see :func:`aligned_empty`)."""
        return aligned_empty(
            (self._in_features + self._num_rows, batch),
            _NP[self._parameters["values"].dtype],  # type: ignore[arg-type, union-attr]
        )

    def numpy_parameters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Zero-copy NumPy views of values, bias, output_scale, output_shift.

        Cached, keyed by the four tensors' identity and the storage address of ``values``
        (``torch.func.functional_call`` swaps tensors; ``_apply`` (``.to()``, ``.double()``)
        moves storage and drops the cache; optimisers and ``load_state_dict`` write in place).
        """
        views = self._views
        values, bias = self._parameters["values"], self._parameters["bias"]
        scale, shift = self._buffers["output_scale"], self._buffers["output_shift"]
        if (
            views is None
            or views[0] is not values
            or views[1] != values.data_ptr()
            or views[2] is not bias
            or views[3] is not scale
            or views[4] is not shift
        ):
            tensors = (values, bias, scale, shift)
            if any(t.device.type != "cpu" for t in tensors):  # type: ignore[union-attr]
                raise ConfigError("SparseMLP runs on the CPU (numba kernels); keep it there")
            arrays = tuple(t.detach().numpy() for t in tensors)  # type: ignore[union-attr]
            views = (values, values.data_ptr(), bias, scale, shift, arrays)  # type: ignore[union-attr]
            self._views = views
        return views[5]

    def _new_scratch(self, batch: int, dtype: np.dtype) -> np.ndarray:
        """A reusable activation buffer for this batch size. A few sizes are kept: a SAC actor
        alternates between batch 1 (acting) and B·n (n-step targets), and a fresh
        half-megabyte buffer per call costs its page faults every time."""
        sizes = [key for key in self._scratch if isinstance(key, int)]
        if len(sizes) >= _SCRATCH_SIZES:
            del self._scratch[sizes[0]]  # the oldest size
        act = aligned_empty((self._in_features + self._num_rows, batch), dtype)
        self._scratch[batch] = act
        return act

    def _grad_buffer(self, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        """The backward's gradient buffer, reused: it only lives during one backward."""
        buf = self._scratch.get("grad")
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = aligned_empty(shape, dtype)
            self._scratch["grad"] = buf
        return buf

    def _apply(self, fn, recurse=True):  # type: ignore[override]
        self._views = None
        self._scratch = {}
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict[str, Any]:
        # deepcopy/pickle (target networks): the copies get their own views on first use.
        state = self.__dict__.copy()
        state["_views"] = None
        state["_scratch"] = {}
        return state

    # ------------------------------------------------------------ persistence

    def get_extra_state(self) -> dict[str, Any]:
        return {"masks": [m.clone() for m in self.masks()]}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        # Only the layout changes here; values (same shape: nnz is fixed) is loaded as a tensor.
        np_masks = [m.numpy().astype(bool) for m in state["masks"]]
        old = self.layout
        new = SparseLayout.from_masks(
            old.in_features, old.head_widths, np_masks, old.output_activation
        )
        if new.nnz != old.nnz:
            raise ConfigError(f"checkpoint holds {new.nnz} active weights, the network {old.nnz}")
        self.layout = new

    def extra_repr(self) -> str:
        layout = self.layout
        heads = " | ".join("-".join(str(w) for w in h) for h in layout.head_widths)
        return f"heads={heads}, nnz={layout.nnz}, output_activation={layout.output_activation}"


def weight_matrices(module: nn.Module) -> list[Tensor]:
    """Dense [out, in] weight of every layer of the ``nn.Linear`` and ``SparseMLP`` modules in
    ``module`` (``module.modules()`` order): what sparsity summaries count, whatever the backend.

    ``nn.Linear`` weights are returned as they are; a SparseMLP's are fresh dense copies,
    exactly 0 at inactive positions (:meth:`SparseMLP.dense_weights`).
    """
    weights: list[Tensor] = []
    for m in module.modules():
        if isinstance(m, nn.Linear):
            weights.append(m.weight)
        elif isinstance(m, SparseMLP):
            weights.extend(m.dense_weights())
    return weights


def remap_slots(tensor: Tensor, src: Tensor, fill: float = 0.0) -> Tensor:
    """Carry per-slot data across :meth:`SparseMLP.set_masks`: ``out[k] = tensor[src[k]]``,
    ``fill`` where ``src[k] = -1`` (a new position). [nnz] -> [nnz]."""
    src = src.to(tensor.device)
    gathered = tensor[src.clamp(min=0)]
    return torch.where(src >= 0, gathered, torch.full_like(gathered, fill))


class _SparseMLPFunction(torch.autograd.Function):
    """Whole-network forward and backward; activations are saved as one NumPy buffer."""

    @staticmethod
    def forward(ctx, module, row_stop, n_out, x1, x2, values_t, bias_t):  # type: ignore[override]
        dtype = values_t.dtype
        a1 = _as_numpy(x1, dtype)
        a2 = _EMPTY[_NP[dtype]][: a1.shape[0]] if x2 is None else _as_numpy(x2, dtype)
        # A fresh buffer per call: it lives until this graph's backward (several can be alive).
        act = module.activation_buffer(a1.shape[0])
        out = np.empty((a1.shape[0], n_out), dtype=_NP[dtype])
        module.run_forward(a1, a2, act, out, row_stop)
        ctx.saved = (module, module._layout, row_stop, a1.shape[1], act)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        if torch.is_grad_enabled():
            raise RuntimeError("SparseMLP has no double backward (create_graph=True)")
        # act is kept on ctx: retain_graph (gradcheck) may run this backward again.
        module, layout, row_stop, n1, act = ctx.saved
        if module._layout is not layout:
            raise RuntimeError("SparseMLP: the topology changed between forward and backward")
        needs = ctx.needs_input_grad
        need_w = needs[5] or needs[6]
        dtype = _NP[module._parameters["values"].dtype]
        batch = act.shape[1]
        grad_values = np.empty(layout.nnz, dtype=dtype) if need_w else None
        grad_bias = np.empty(layout.num_rows, dtype=dtype) if need_w else None
        grad_x1 = np.empty((batch, n1), dtype=dtype) if needs[3] else None
        grad_x2 = np.empty((batch, layout.in_features - n1), dtype=dtype) if needs[4] else None
        grad_out = _as_numpy(grad_output, module._parameters["values"].dtype)
        module.run_backward(grad_out, act, row_stop, n1, grad_values, grad_bias, grad_x1, grad_x2)
        return (
            None,
            None,
            None,
            None if grad_x1 is None else torch.from_numpy(grad_x1),
            None if grad_x2 is None else torch.from_numpy(grad_x2),
            torch.from_numpy(grad_values) if needs[5] else None,
            torch.from_numpy(grad_bias) if needs[6] else None,
        )


def _dense_grads(
    layout: SparseLayout, act: np.ndarray, grad: np.ndarray, row_stop: int
) -> list[Tensor]:
    """dW = G_l @ X_lᵀ per layer: [out, B] @ [B, in] -> [out, in] (zeros past ``row_stop``)."""
    n_in = layout.in_features
    acts, grads = torch.from_numpy(act), torch.from_numpy(grad)
    out = []
    for (out_dim, in_dim), (r0, r1), start in zip(
        layout.shapes, layout.layer_rows, layout.layer_inputs, strict=True
    ):
        if r1 > row_stop:
            out.append(torch.zeros((out_dim, in_dim), dtype=acts.dtype))
            continue
        out.append(grads[n_in + r0 : n_in + r1] @ acts[start : start + in_dim].T)
    return out


_NP = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}


def _as_numpy(x: Tensor, dtype: torch.dtype) -> np.ndarray:
    """Zero-copy view of a CPU tensor (a copy only if the dtype or the layout differs)."""
    if x.dtype is not dtype or not x.is_contiguous():
        x = x.to(dtype).contiguous()
    return x.detach().numpy() if x.requires_grad else x.numpy()


_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """np.empty whose data starts on a 64-byte (cache line, AVX-512) boundary.

    malloc returns 16-byte alignment, which makes every 64-byte load of a B = 256 row
    straddle two cache lines: measured 25 % slower forward and 15 % slower backward.
    """
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(shape))
    raw = np.empty(count * itemsize + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + count * itemsize].view(dtype).reshape(shape)


_SCRATCH_SIZES = 4
"""Batch sizes whose no-grad activation buffers a SparseMLP keeps (see ``_new_scratch``)."""

# [1, 1] stand-ins for kernel outputs that are not needed (never written).
_DUMMY = {dtype: np.zeros((1, 1), dtype=dtype) for dtype in _TORCH}

# [B, 0] stand-ins for a missing second input part (sliced to B rows; B <= 2**20).
_EMPTY = {dtype: np.empty((1 << 20, 0), dtype=dtype) for dtype in _TORCH}


def _linears_of(head: nn.Sequential, index: int) -> list[nn.Linear]:
    """The Linear layers of ``Linear, ReLU, Linear, ..., Linear``; anything else is rejected."""
    modules = list(head)
    ok = len(modules) % 2 == 1 and all(
        isinstance(m, nn.Linear) if i % 2 == 0 else isinstance(m, nn.ReLU)
        for i, m in enumerate(modules)
    )
    if not ok:
        raise ConfigError(
            f"heads[{index}] must be nn.Sequential(Linear, ReLU, ..., Linear), got "
            f"{[type(m).__name__ for m in modules]}"
        )
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    for a, b in zip(linears, linears[1:], strict=False):
        if a.out_features != b.in_features:
            raise ConfigError(f"heads[{index}]: Linear widths do not chain ({a} then {b})")
    if any(lin.bias is None for lin in linears):
        raise ConfigError(f"heads[{index}]: every Linear needs a bias")
    return linears
