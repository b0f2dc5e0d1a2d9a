"""LeanAdam: torch.optim.Adam's arithmetic in one numba loop per parameter (CPU).

Once a sparse TD3 update does ~20x less matrix work, ``torch.optim.Adam.step`` becomes a
large fixed cost: ~100 µs of Python per call measured here (fused or not) for the two
tensors of a SparseMLP, ~13 % of the whole sparse update. This optimiser does the same update
(Kingma & Ba 2015, as ``torch.optim.Adam`` with ``amsgrad=False``, ``weight_decay=0``) in
a few µs. Its state uses torch's keys (``step``, ``exp_avg``, ``exp_avg_sq``) so
``rlx2.sparse.optim_state.reset_moments`` and ``state_dict`` work unchanged; ``step`` is a
Python float (torch keeps a 0-d tensor, whose ``+= 1`` alone costs ~2.5 µs).

Not supported: step pre/post hooks and the profiler's step annotation (``step`` is left
unwrapped on purpose, see the end of this file), closures, GPU tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from rlx2.errors import ConfigError


class LeanAdam(torch.optim.Optimizer):
    """Adam for contiguous CPU float tensors with a numba inner loop.

    :param params: parameters (or param groups) as for ``torch.optim.Adam``.
    :param lr: learning rate; ``betas``, ``eps`` as for ``torch.optim.Adam``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ConfigError(f"LeanAdam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    # No torch.no_grad(): the update writes through NumPy views, so grad mode plays no part,
    # and entering and leaving the context cost 1-2 % of a sparse update (A/B).
    def step(self, closure=None):  # type: ignore[override]
        if closure is not None:
            raise ConfigError("LeanAdam.step takes no closure")
        from rlx2.sparse.kernels.mlp import kernels

        update = kernels().adam_update
        views = self.__dict__.setdefault("_views", {})
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self.state[p]
                if not state:
                    if p.device.type != "cpu" or not p.is_contiguous():
                        raise ConfigError("LeanAdam needs contiguous CPU parameters")
                    state["step"] = 0.0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                step = float(state["step"]) + 1.0
                state["step"] = step
                arrays = _arrays(views, p, grad, state["exp_avg"], state["exp_avg_sq"])
                update(
                    *arrays,
                    group["lr"] / (1.0 - beta1**step),
                    1.0 / math.sqrt(1.0 - beta2**step),
                    beta1,
                    beta2,
                    group["eps"],
                )


def _arrays(views: dict, p: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor) -> tuple:
    """Flat NumPy views of a parameter, its gradient and moments, kept while the same tensors
    (and the parameter's storage) are used: the fused steps reuse their gradient tensors, and
    four fresh views cost ~4 µs per parameter and step."""
    key = id(p)
    entry = views.get(key)
    if (
        entry is None
        or entry[0] is not p
        or entry[1] is not grad
        or entry[2] is not exp_avg
        or entry[3] is not exp_avg_sq
        or entry[4] != p.data_ptr()
        or entry[5] != grad.data_ptr()
    ):
        contiguous = grad.is_contiguous() and grad.dtype == p.dtype
        g = grad if contiguous else grad.contiguous().to(p.dtype)
        arrays = tuple(t.detach().numpy().reshape(-1) for t in (p, g, exp_avg, exp_avg_sq))
        if not contiguous:  # a converted copy: never reuse it
            return arrays
        entry = views[key] = (p, grad, exp_avg, exp_avg_sq, p.data_ptr(), grad.data_ptr(), arrays)
    return entry[6]


# torch.optim.Optimizer wraps ``step`` of every subclass with profiler and hook machinery
# unless it is marked as already wrapped: ~12 µs per call, as much as the update itself.
LeanAdam.step.hooked = True  # type: ignore[attr-defined]
