"""Per-layer binary masks over the linear weights of one network (spec §2).

A :class:`MaskSet` is the only place that knows which weights are active. Algorithms call its
named methods (``mask_grads``, ``apply``, ``apply_to``) instead of patched optimisers
(STYLE §3.2). Biases are never masked: the spec keeps them dense.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rlx2.errors import ConfigError
from rlx2.sparse.allocation import active_counts


def linear_weights(module: nn.Module) -> list[Tensor]:
    """Weights of every ``nn.Linear`` in ``module.modules()`` order (biases excluded)."""
    return [m.weight for m in module.modules() if isinstance(m, nn.Linear)]


def measured_sparsity(weights: Sequence[Tensor]) -> float:
    """Fraction of exact zeros over all given weight tensors (what the network really holds)."""
    total = sum(w.numel() for w in weights)
    if total == 0:
        return 0.0
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / total


def largest_magnitude_mask(weight: Tensor, num_active: int) -> Tensor:
    """Bool mask keeping the ``num_active`` largest |w| (ties: lower flat index first)."""
    flat = weight.detach().abs().flatten()
    # Stable descending sort: equal magnitudes keep their flat order, so ties are deterministic.
    order = torch.sort(flat, descending=True, stable=True).indices[:num_active]
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=weight.device)
    mask[order] = True
    return mask.view_as(weight)


class MaskSet:
    """Bool masks for a list of weight parameters, plus float copies used to multiply.

    :param params: the weight parameters (one per masked layer).
    :param masks: bool tensors with the same shapes; True = active.
    """

    def __init__(self, params: Sequence[nn.Parameter], masks: Sequence[Tensor]):
        if len(params) != len(masks):
            raise ConfigError(f"masks: got {len(masks)} masks for {len(params)} weights")
        if len(params) == 0:
            raise ConfigError("params is empty: the network has no nn.Linear weight to mask")
        for i, (p, m) in enumerate(zip(params, masks, strict=True)):
            if p.shape != m.shape:
                raise ConfigError(
                    f"masks[{i}] has shape {tuple(m.shape)}, weight has {tuple(p.shape)}"
                )
        self._params: list[Tensor] = list(params)
        self._masks = [
            m.detach().to(device=p.device, dtype=torch.bool).clone()
            for p, m in zip(params, masks, strict=True)
        ]
        self._float: list[Tensor] = []
        self._refresh()

    @classmethod
    def for_module(cls, module: nn.Module, sparsity: float, distribution: str = "er") -> MaskSet:
        """Allocate counts jointly over all linear weights of ``module`` and mask it in place.

        One allocation over every matrix: a twin critic's six matrices share one budget
        (spec §2). The initial mask keeps the largest-|w| entries of the freshly initialised
        weights (the reference's choice; a random pattern in effect).
        """
        params = linear_weights(module)
        if not params:
            raise ConfigError(f"module {type(module).__name__} has no nn.Linear weight to sparsify")
        shapes = [(int(p.shape[0]), int(p.shape[1])) for p in params]
        return cls.with_counts(module, active_counts(shapes, sparsity, distribution))

    @classmethod
    def with_counts(cls, module: nn.Module, counts: Sequence[int]) -> MaskSet:
        """Mask ``module`` in place with these active counts per linear weight (an allocation
        made elsewhere, e.g. a resolved run's), keeping the largest |w| of each layer."""
        params = linear_weights(module)
        if len(counts) != len(params):
            raise ConfigError(f"got {len(counts)} active counts for {len(params)} weights")
        for i, (p, n) in enumerate(zip(params, counts, strict=True)):
            if not 0 < n <= p.numel():
                raise ConfigError(f"active count {n} of layer {i} is outside [1, {p.numel()}]")
        masks = [largest_magnitude_mask(p, n) for p, n in zip(params, counts, strict=True)]
        mask_set = cls(params, masks)  # type: ignore[arg-type]
        mask_set.apply()
        return mask_set

    # ------------------------------------------------------------ properties

    @property
    def params(self) -> list[nn.Parameter]:
        return list(self._params)  # type: ignore[arg-type]

    @property
    def masks(self) -> list[Tensor]:
        """Bool masks (True = active). Treat as read-only; use :meth:`set_mask` to change one."""
        return list(self._masks)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [(int(p.shape[0]), int(p.shape[1])) for p in self._params]

    def set_mask(self, index: int, mask: Tensor) -> None:
        """Replace the mask of layer ``index`` (the topology updater's only way in)."""
        if mask.shape != self._masks[index].shape:
            raise ConfigError(
                f"mask for layer {index} has shape {tuple(mask.shape)}, expected {tuple(self._masks[index].shape)}"
            )
        self._masks[index] = (
            mask.detach().to(device=self._params[index].device, dtype=torch.bool).clone()
        )
        self._refresh()

    # ------------------------------------------------------------ masking

    @torch.no_grad()
    def apply(self) -> None:
        """w ← w ⊙ mask for every weight, in place (after every optimiser step, spec §2)."""
        # One foreach call: a single kernel launch group on CUDA instead of one per layer.
        torch._foreach_mul_(self._params, self._float_for(self._params))  # type: ignore[arg-type]  # the stub lacks the tensor-list overload

    @torch.no_grad()
    def apply_to(self, weights: Sequence[Tensor]) -> None:
        """Mask another network's weights (target networks after each Polyak update, spec §2)."""
        if len(weights) != len(self._params):
            raise ConfigError(
                f"apply_to: got {len(weights)} weights, the mask set has {len(self._params)}"
            )
        for i, (w, p) in enumerate(zip(weights, self._params, strict=True)):
            if w.shape != p.shape:
                raise ConfigError(
                    f"apply_to: weight {i} has shape {tuple(w.shape)}, mask has {tuple(p.shape)}"
                )
        torch._foreach_mul_(list(weights), self._float_for(weights))

    @torch.no_grad()
    def mask_grads(self) -> None:
        """Zero the gradient of inactive positions so the optimiser cannot revive them."""
        pairs = [
            (w.grad, m)
            for w, m in zip(self._params, self._float_for(self._params), strict=True)
            if w.grad is not None
        ]
        if pairs:
            torch._foreach_mul_([g for g, _ in pairs], [m for _, m in pairs])

    # ------------------------------------------------------------ counting

    def num_active(self) -> list[int]:
        return [int(m.sum()) for m in self._masks]

    def num_weights(self) -> list[int]:
        return [m.numel() for m in self._masks]

    def sparsity(self) -> float:
        """Overall sparsity of the masks (not of the weights: see :func:`measured_sparsity`)."""
        return 1.0 - sum(self.num_active()) / sum(self.num_weights())

    measured_sparsity = staticmethod(measured_sparsity)

    # ------------------------------------------------------------ persistence

    def state_dict(self) -> dict[str, Any]:
        return {"masks": [m.detach().cpu().clone() for m in self._masks]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        masks = state["masks"]
        if len(masks) != len(self._params):
            raise ConfigError(
                f"mask state holds {len(masks)} masks, the network has {len(self._params)} weights"
            )
        for i, m in enumerate(masks):
            self.set_mask(i, m)

    # ------------------------------------------------------------ internals

    def _refresh(self) -> None:
        self._float = [m.to(p.dtype) for m, p in zip(self._masks, self._params, strict=True)]

    def _float_for(self, weights: Sequence[Tensor]) -> list[Tensor]:
        # Recast lazily if the network moved (module.to(device) keeps the Parameter objects).
        out = []
        for i, w in enumerate(weights):
            m = self._float[i]
            if m.device != w.device or m.dtype != w.dtype:
                m = self._masks[i].to(device=w.device, dtype=w.dtype)
                if w is self._params[i]:
                    self._masks[i] = self._masks[i].to(w.device)
                    self._float[i] = m
            out.append(m)
        return out
