"""The dense networks' passes for the fused training steps (``rlx2.algos.fused``), CPU.

In the profile of a dense SAC update on autograd the matrix products took half the time; much
of the rest was per-op dispatch, the autograd engine, and ReLU's forward and backward into
freshly allocated tensors (docs/benchmarks.md). :class:`DenseHeads` gives the fused steps the same passes over
a network's ``nn.Linear`` weights that :class:`~rlx2.sparse.kernels.SparseMLP` gives them over
the compact storage: forward into caller-owned buffers, backward into gradient tensors kept
between steps, BLAS (``torch.mm``/``addmm``) for the products and in-place ReLU. So the
dense backend runs the same fused loss and target code as the sparse one, tied to the
autograd reference by the same tests (tests/test_fused.py).

Buffers are SparseMLP's shape, [in_features + rows, B] (the input, then every neuron), but
each block is laid out batch-major ([B, width]), as nn.Linear computes it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from rlx2.nets import MLPHeads
from rlx2.sparse.kernels.mlp import aligned_empty

_NP = {torch.float32: np.float32, torch.float64: np.float64}


class _Blocks:
    """Torch and NumPy views of one flat buffer's blocks: the input, then each layer's
    output per head (made once per buffer and batch size)."""

    def __init__(self, flat: np.ndarray, batch: int, in_features: int, widths: list[list[int]]):
        t = torch.from_numpy(flat.reshape(-1))
        self.x = t[: batch * in_features].view(batch, in_features)
        offset = batch * in_features
        self.layers: list[list[Tensor]] = []
        for head in widths:
            blocks = []
            for width in head:
                blocks.append(t[offset : offset + batch * width].view(batch, width))
                offset += batch * width
            self.layers.append(blocks)
        self.arrays = [[b.numpy() for b in head] for head in self.layers]


class DenseHeads:
    """Fused-step passes of dense MLP heads on one input (see module).

    The same kernel-level contract as ``SparseMLP.run_forward``/``run_backward``: x1 [B, n1]
    and x2 [B, n2] in, the heads' outputs side by side [B, out_features] out, ``f(z) * scale
    + shift`` at each output (f: identity or tanh), and ``heads=k`` evaluating the first k
    heads only.
    """

    def __init__(self, spec: MLPHeads):
        self.linears: list[list[nn.Linear]] = [
            [m for m in head if isinstance(m, nn.Linear)] for head in spec.heads
        ]
        first = self.linears[0][0]
        self.in_features = first.in_features
        self.widths = [[lin.out_features for lin in head] for head in self.linears]
        self.out_columns = np.cumsum([0] + [head[-1] for head in self.widths]).tolist()
        self.out_features = self.out_columns[-1]
        self.num_rows = sum(sum(head) for head in self.widths)
        self.tanh = spec.output_activation == "tanh"
        dtype = first.weight.dtype
        self.dtype = np.dtype(_NP[dtype])
        n_out = self.out_features
        scale, shift = spec.output_scale, spec.output_shift
        self.scale = (torch.ones(n_out) if scale is None else scale.detach()).to(dtype).clone()
        self.shift = (torch.zeros(n_out) if shift is None else shift.detach()).to(dtype).clone()
        self.identity_output = not self.tanh and scale is None and shift is None
        # Gradient storage reused by every step: .grad tensors are views of it, valid until
        # this network's next fused backward.
        self._grads = [
            [(torch.empty_like(lin.weight), torch.empty_like(lin.bias)) for lin in head]
            for head in self.linears
        ]
        self._blocks: dict[tuple[int, int], _Blocks] = {}

    @property
    def act_rows(self) -> int:
        return self.in_features + self.num_rows

    def activation_buffer(self, batch: int) -> np.ndarray:
        return aligned_empty((self.act_rows, batch), self.dtype)

    def _views(self, flat: np.ndarray) -> _Blocks:
        batch = flat.shape[1]
        key = (flat.ctypes.data, batch)
        blocks = self._blocks.get(key)
        if blocks is None:
            if len(self._blocks) >= 16:  # workspace buffers were replaced: drop stale views
                self._blocks.clear()
            blocks = self._blocks[key] = _Blocks(flat, batch, self.in_features, self.widths)
        return blocks

    def _heads(self, heads: int | None) -> int:
        return len(self.linears) if heads is None else heads

    @torch.no_grad()
    def forward(
        self, x1: np.ndarray, x2: np.ndarray, act: np.ndarray, out: np.ndarray, heads=None
    ) -> None:
        """x1 [B, n1], x2 [B, n2] -> out [B, outputs of the first ``heads`` heads]; ``act``
        (:meth:`activation_buffer`) keeps what :meth:`weight_gradients` reads."""
        blocks = self._views(act)
        x = blocks.x
        n1 = x1.shape[1]
        x[:, :n1].copy_(torch.from_numpy(x1))
        if x2.shape[1]:
            x[:, n1:].copy_(torch.from_numpy(x2))
        out_t = torch.from_numpy(out)
        for h in range(self._heads(heads)):
            inp = x
            layers = blocks.layers[h]
            last = len(layers) - 1
            for i, lin in enumerate(self.linears[h]):
                y = layers[i]
                torch.addmm(lin.bias, inp, lin.weight.t(), out=y)
                if i < last:
                    y.relu_()
                inp = y
            columns = out_t[:, self.out_columns[h] : self.out_columns[h + 1]]
            if self.identity_output:
                columns.copy_(inp)
                continue
            if self.tanh:
                inp.tanh_()  # the block keeps tanh(z): its backward reads 1 - tanh²
            c0, c1 = self.out_columns[h], self.out_columns[h + 1]
            torch.addcmul(self.shift[c0:c1], inp, self.scale[c0:c1], out=columns)

    def _output_gradient(self, grad_out: np.ndarray, blocks: _Blocks, h: int, work: _Blocks):
        """dL/dz at head h's output layer, from dL/dy [B, outputs]."""
        c0, c1 = self.out_columns[h], self.out_columns[h + 1]
        g = torch.from_numpy(grad_out)[:, c0:c1]
        if self.identity_output:
            return g
        z_grad = work.layers[h][-1]
        torch.mul(g, self.scale[c0:c1], out=z_grad)
        if self.tanh:
            t = blocks.layers[h][-1]
            z_grad.mul_(1.0 - t * t)
        return z_grad

    @torch.no_grad()
    def weight_gradients(self, grad_out: np.ndarray, act: np.ndarray, work: np.ndarray) -> None:
        """Backward of a full :meth:`forward` into fresh ``.grad`` of every weight and bias."""
        from rlx2.algos.fused_kernels import relu_backward

        blocks, grads = self._views(act), self._views(work)
        for h, linears in enumerate(self.linears):
            g = self._output_gradient(grad_out, blocks, h, grads)
            for i in range(len(linears) - 1, -1, -1):
                lin = linears[i]
                inp = blocks.x if i == 0 else blocks.layers[h][i - 1]
                grad_w, grad_b = self._grads[h][i]
                torch.mm(g.t(), inp, out=grad_w)
                torch.sum(g, 0, out=grad_b)
                lin.weight.grad, lin.bias.grad = grad_w, grad_b
                if i:
                    below = grads.layers[h][i - 1]
                    torch.mm(g, lin.weight, out=below)
                    relu_backward(grads.arrays[h][i - 1], blocks.arrays[h][i - 1])
                    g = below

    @torch.no_grad()
    def second_input_gradient(
        self,
        grad_out: np.ndarray,
        act: np.ndarray,
        n1: int,
        grad_x2: np.ndarray,
        work: np.ndarray,
        heads=None,
    ) -> None:
        """dL/dx2 [B, n2] only (a frozen network: the critic under the actor loss)."""
        from rlx2.algos.fused_kernels import relu_backward

        blocks, grads = self._views(act), self._views(work)
        out = torch.from_numpy(grad_x2)
        for h in range(self._heads(heads)):
            g = self._output_gradient(grad_out, blocks, h, grads)
            linears = self.linears[h]
            for i in range(len(linears) - 1, 0, -1):
                below = grads.layers[h][i - 1]
                torch.mm(g, linears[i].weight, out=below)
                relu_backward(grads.arrays[h][i - 1], blocks.arrays[h][i - 1])
                g = below
            part = linears[0].weight[:, n1:]
            if h == 0:
                torch.mm(g, part, out=out)
            else:
                out.addmm_(g, part)
