"""Topology schemes and their registry (spec §3), importable without torch.

A scheme is a small registered class that only chooses how one layer's mask changes
(SET: drop the smallest |w|, grow at random; RigL: SET with the grow score |dense gradient|;
static: a real null class). The registry and the schemes' flags (``evolves``,
``needs_dense_grad``) need no torch, so configurations are validated and resolved without
it; the maths (``rlx2.sparse.topology``: ``drop_mask``, ``grow_mask``) runs only when a
mask changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from rlx2.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import Tensor


class TopologyScheme:
    """How one layer's mask changes at a topology update. Stateless; randomness is passed in."""

    name: ClassVar[str] = ""
    evolves: ClassVar[bool] = True
    """False for schemes that never change the topology (the updater then never stops stepping)."""
    needs_dense_grad: ClassVar[bool] = False
    """True when the grow score reads the dense gradient (the updater then provides it)."""

    def update_mask(
        self, weight: Tensor, grad: Tensor | None, mask: Tensor, k: int, generator: torch.Generator
    ) -> Tensor:
        """Return the new [out, in] bool mask with ``k`` connections moved."""
        raise NotImplementedError


_REGISTRY: dict[str, type[TopologyScheme]] = {}

SchemeT = TypeVar("SchemeT", bound=type[TopologyScheme])


def register_topology(name: str) -> Callable[[SchemeT], SchemeT]:
    """Class decorator: make a :class:`TopologyScheme` subclass available as ``name``."""

    def register(cls: SchemeT) -> SchemeT:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ConfigError(
                f"topology {name!r} is already registered to {_REGISTRY[name].__name__}"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return register


def get_topology(name: str) -> TopologyScheme:
    """A fresh instance of the scheme registered as ``name``."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"topology={name!r} is unknown; valid: {', '.join(available_topologies())} "
            "(add one with @register_topology('name') on a TopologyScheme subclass)"
        )
    return _REGISTRY[name]()


def available_topologies() -> list[str]:
    return sorted(_REGISTRY)


@register_topology("static")
class StaticTopology(TopologyScheme):
    """SS: the initial mask is kept for the whole run."""

    evolves = False

    def update_mask(
        self, weight: Tensor, grad: Tensor | None, mask: Tensor, k: int, generator: torch.Generator
    ) -> Tensor:
        return mask.clone()


@register_topology("set")
class SETTopology(TopologyScheme):
    """SET (Mocanu et al. 2018): drop the smallest |w|, grow uniformly at random."""

    def update_mask(
        self, weight: Tensor, grad: Tensor | None, mask: Tensor, k: int, generator: torch.Generator
    ) -> Tensor:
        from rlx2.sparse.topology import drop_mask, grow_mask

        kept = drop_mask(weight, mask, k)
        return grow_mask(kept, self.grow_scores(weight, grad, generator), k)

    def grow_scores(
        self, weight: Tensor, grad: Tensor | None, generator: torch.Generator
    ) -> Tensor:
        import torch

        # Drawn on the CPU generator so a seed picks the same positions on any device.
        return torch.rand(weight.shape, generator=generator).to(weight.device)


@register_topology("rigl")
class RigLTopology(SETTopology):
    """RigL (Evci et al. 2020): SET with the grow score |dense gradient| (spec §3)."""

    needs_dense_grad = True

    def grow_scores(
        self, weight: Tensor, grad: Tensor | None, generator: torch.Generator
    ) -> Tensor:
        if grad is None:
            raise RuntimeError(
                "rigl grows by |gradient| but the weight has no .grad: call step() after loss.backward()"
            )
        return grad.detach().abs()
