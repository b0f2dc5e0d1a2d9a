"""Topology evolution: magnitude drop, scored grow, a scheme registry and the updater hook (spec §3).

Pure functions (:func:`drop_mask`, :func:`grow_mask`) do the maths on one layer; schemes are
small registered classes that only choose the grow score (SET: random, RigL: |dense grad|,
static: a real null class); :class:`SparseUpdater` holds the per-network state and is what an
algorithm calls after ``loss.backward()``. :class:`DenseUpdater` is its null object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from rlx2.errors import ConfigError
from rlx2.sparse.masks import MaskSet
from rlx2.sparse.optim_state import reset_moments as reset_optimizer_moments
from rlx2.sparse.schedule import DropSchedule

# ---------------------------------------------------------------- pure per-layer maths


def drop_mask(weight: Tensor, mask: Tensor, k: int) -> Tensor:
    """Remove the ``k`` active entries with the smallest |w|.

    Ties in |w| are broken by flat (row-major) index: the lower index is dropped first.

    :param weight: [out, in] weights.
    :param mask: [out, in] bool, True = active.
    :return: [out, in] bool mask with exactly ``k`` fewer active entries.
    """
    flat_mask = mask.flatten()
    active = flat_mask.nonzero().squeeze(1)  # [n_active], ascending flat index
    if not 0 <= k <= active.numel():
        raise ConfigError(f"drop k={k} must be in [0, {active.numel()}] (the active count)")
    magnitudes = weight.detach().abs().flatten()[active]  # [n_active]
    # Stable ascending sort: equal magnitudes stay in flat-index order (the documented tie-break).
    weakest = active[torch.sort(magnitudes, stable=True).indices[:k]]  # [k]
    kept = flat_mask.clone()
    kept[weakest] = False
    return kept.view_as(mask)


def grow_mask(
    mask_after_drop: Tensor, scores: Tensor, k: int, forbidden: Tensor | None = None
) -> Tensor:
    """Activate the ``k`` highest-score positions that are inactive after the drop.

    Positions dropped in the same step are candidates (spec §3 lets them be regrown); pass
    ``forbidden`` (bool, True = never grow here) to exclude positions. Ties in score are broken
    by flat index: the lower index is grown first.

    :param mask_after_drop: [out, in] bool.
    :param scores: [out, in] grow scores (higher = grown first).
    :return: [out, in] bool mask with exactly ``k`` more active entries.
    """
    blocked = mask_after_drop.flatten()
    if forbidden is not None:
        blocked = blocked | forbidden.flatten().to(blocked.device)
    candidates = (~blocked).nonzero().squeeze(1)  # [n_candidates], ascending flat index
    if not 0 <= k <= candidates.numel():
        raise ConfigError(
            f"grow k={k} must be in [0, {candidates.numel()}] (the number of growable positions)"
        )
    candidate_scores = scores.detach().flatten().to(candidates.device)[candidates]  # [n_candidates]
    best = candidates[torch.sort(candidate_scores, descending=True, stable=True).indices[:k]]  # [k]
    grown = mask_after_drop.flatten().clone()
    grown[best] = True
    return grown.view_as(mask_after_drop)


# ---------------------------------------------------------------- schemes and registry


class TopologyScheme:
    """How one layer's mask changes at a topology update. Stateless; randomness is passed in."""

    name: ClassVar[str] = ""
    evolves: ClassVar[bool] = True
    """False for schemes that never change the topology (the updater then never stops stepping)."""
    needs_dense_grad: ClassVar[bool] = False
    """True when the grow score reads the dense gradient left in ``weight.grad``."""

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
        kept = drop_mask(weight, mask, k)
        return grow_mask(kept, self.grow_scores(weight, grad, generator), k)

    def grow_scores(
        self, weight: Tensor, grad: Tensor | None, generator: torch.Generator
    ) -> Tensor:
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


# ---------------------------------------------------------------- the hooks an algorithm calls


class UpdateCounters:
    """Bookkeeping every weight updater shares: the network's own update count (which drives
    the schedule, spec §3) and the topology statistics reported in summaries and checkpoints."""

    COUNTERS = ("updates", "topology_updates", "connections_changed", "last_drop_fraction")

    def __init__(self) -> None:
        self.updates = 0
        self.topology_updates = 0
        self.connections_changed = 0
        self.last_drop_fraction = 0.0

    def current_sparsity(self) -> float:
        return 0.0

    def stats(self) -> dict[str, float]:
        return {**self.counters_state(), "sparsity": self.current_sparsity()}

    def counters_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.COUNTERS}

    def load_counters(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.topology_updates = int(state.get("topology_updates", 0))
        self.connections_changed = int(state.get("connections_changed", 0))
        self.last_drop_fraction = float(state.get("last_drop_fraction", 0.0))


class ScheduledTopology(UpdateCounters):
    """What both sparse updaters (masked and CSR) share: a topology scheme, its drop schedule
    and the generator of random grow scores, and when they evolve the topology.

    :param scheme: topology scheme (``get_topology(name)``).
    :param schedule: when and how much to evolve; may be None only for a static scheme.
    :param seed: seed of the generator used for random grow scores.
    """

    def __init__(self, scheme: TopologyScheme, schedule: DropSchedule | None, seed: int):
        if scheme.evolves and schedule is None:
            raise ConfigError(
                f"topology {scheme.name!r} evolves the mask and needs a DropSchedule, got schedule=None"
            )
        self.scheme = scheme
        self.schedule = schedule
        self.generator = torch.Generator().manual_seed(seed)
        super().__init__()

    @property
    def needs_dense_grad(self) -> bool:
        return self.scheme.needs_dense_grad

    def is_topology_update(self, t: int) -> bool:
        """Whether this network's update number ``t`` (1-based) evolves the topology."""
        return self.scheme.evolves and self.schedule is not None and self.schedule.is_update(t)

    def next_step_is_topology_update(self) -> bool:
        return self.is_topology_update(self.updates + 1)


class SparseUpdater(ScheduledTopology):
    """Weight-update hook for one sparse network (spec §2–§3).

    :param masks: the network's :class:`MaskSet`.
    :param scheme: topology scheme (``get_topology(name)``).
    :param schedule: when and how much to evolve; may be None only for a static scheme.
    :param reset_moments: True = corrected mode, zero the optimiser moments of newly grown
        weights; False = reference mode, moments untouched (spec §7.2).
    :param seed: seed of the generator used for random grow scores.
    """

    def __init__(
        self,
        masks: MaskSet,
        scheme: TopologyScheme,
        schedule: DropSchedule | None,
        reset_moments: bool = False,
        seed: int = 0,
    ):
        super().__init__(scheme, schedule, seed)
        self.masks = masks
        self.reset_moments = reset_moments

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Call right after ``loss.backward()`` of this network. True = topology was updated.

        On a topology update the optimiser step is skipped, as in the reference (spec §3).
        """
        self.updates += 1
        if self.is_topology_update(self.updates):
            self._evolve(optimizer, self.updates)
            return True
        self.masks.mask_grads()
        optimizer.step()
        self.masks.apply()
        return False

    def after_target_update(self, target_weights: Sequence[Tensor]) -> None:
        """Re-mask the target network with the current online masks (spec §2)."""
        self.masks.apply_to(target_weights)

    @torch.no_grad()
    def _evolve(self, optimizer: torch.optim.Optimizer, t: int) -> None:
        assert self.schedule is not None
        drop_fraction = self.schedule.fraction(t)
        for i, (weight, mask) in enumerate(zip(self.masks.params, self.masks.masks, strict=True)):
            num_active = int(mask.sum())
            k = math.floor(drop_fraction * num_active)
            # A dense layer could only regrow what it dropped: skipping it is the same result.
            if k == 0 or num_active == mask.numel():
                continue
            new_mask = self.scheme.update_mask(weight, weight.grad, mask, k, self.generator)
            grown = new_mask & ~mask
            # Dropped -> 0; newly grown start at exactly 0; regrown-in-the-same-step keep their value.
            weight.mul_((new_mask & mask).to(weight.dtype))
            self.masks.set_mask(i, new_mask)
            self.connections_changed += int(grown.sum())
            if self.reset_moments:
                reset_optimizer_moments(optimizer, weight, grown)
        self.last_drop_fraction = drop_fraction
        self.topology_updates += 1

    def current_sparsity(self) -> float:
        return self.masks.sparsity()

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.counters_state(),
            "generator": self.generator.get_state(),
            "masks": self.masks.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_counters(state)
        self.generator.set_state(state["generator"])
        self.masks.load_state_dict(state["masks"])


class DenseUpdater(UpdateCounters):
    """Null object with :class:`SparseUpdater`'s interface: a plain optimiser step."""

    masks: MaskSet | None = None
    needs_dense_grad = False

    def is_topology_update(self, t: int) -> bool:
        return False

    def next_step_is_topology_update(self) -> bool:
        return False

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        self.updates += 1
        optimizer.step()
        return False

    def after_target_update(self, target_weights: Sequence[Tensor]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return self.counters_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_counters(state)
