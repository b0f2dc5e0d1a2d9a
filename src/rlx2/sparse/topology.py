"""Topology evolution: magnitude drop, scored grow, a scheme registry and the updater hook (spec §3).

Pure functions (:func:`drop_mask`, :func:`grow_mask`) do the maths on one layer; schemes are
small registered classes that only choose the grow score (SET: random, RigL: |dense grad|,
static: a real null class); :class:`TopologyUpdater` holds the per-network state and is what
an algorithm calls after ``loss.backward()``, over a :class:`WeightStorage` (masked dense
weights here, compact CSR in ``csr_updater``). :class:`DenseUpdater` is its null object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from rlx2.errors import ConfigError
from rlx2.sparse.masks import MaskSet, linear_weights
from rlx2.sparse.optim_state import reset_moments as reset_optimizer_moments
from rlx2.sparse.schedule import DropSchedule

# The schemes live in ``schemes`` (importable without torch, so options are validated without
# it); re-exported here, where the updater that applies them lives.
from rlx2.sparse.schemes import (
    _REGISTRY,
    RigLTopology,
    SETTopology,
    StaticTopology,
    TopologyScheme,
    available_topologies,
    get_topology,
    register_topology,
)

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


__all__ = [
    "_REGISTRY",
    "DenseUpdater",
    "MaskedStorage",
    "RigLTopology",
    "SETTopology",
    "SparseUpdater",
    "StaticTopology",
    "TopologyScheme",
    "TopologyUpdater",
    "WeightStorage",
    "available_topologies",
    "drop_mask",
    "get_topology",
    "grow_mask",
    "register_topology",
]


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


class WeightStorage(Protocol):
    """How one sparse network stores its weights: all a :class:`TopologyUpdater` touches.

    Two implementations: :class:`MaskedStorage` (dense ``nn.Linear`` weights multiplied by
    masks: the reference layout, any device) and ``rlx2.sparse.csr_updater.CSRStorage`` (only
    the active weights, in compact CSR form). The updater decides *what* changes; a storage
    only knows *how* its layout carries the change out.
    """

    keeps_inactive_moments: bool
    """Whether optimiser moments of inactive weights exist (and so can be left stale)."""

    @property
    def masks(self) -> Any:
        """An object with ``masks`` (bool [out, in] per layer) and the counting methods of
        :class:`~rlx2.sparse.masks.MaskSet` (``num_active``, ``num_weights``, ``sparsity``)."""
        ...

    def dense_views(self, with_grads: bool) -> tuple[list[Tensor], list[Tensor | None]]:
        """[out, in] weights per layer (0 where inactive) and, if asked, the dense gradients
        of the last backward (RigL's grow score)."""
        ...

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """An ordinary update: inactive weights stay exactly 0."""
        ...

    def set_masks(
        self, masks: Sequence[Tensor], optimizer: torch.optim.Optimizer, reset_grown: bool
    ) -> None:
        """Apply new masks: kept weights keep value and optimiser state, dropped ones become 0,
        grown ones start at 0 (their moments zeroed when ``reset_grown``); following target
        networks change the same way."""
        ...

    def follow(self, target: nn.Module) -> None:
        """Make ``target`` (e.g. the target network) change with every later mask change."""
        ...

    def request_dense_grad(self) -> None:
        """The next backward precedes a topology update: make it fill what ``dense_views`` reads."""
        ...

    def load_masks(self, masks: Sequence[Tensor]) -> None:
        """Restore masks saved by :meth:`TopologyUpdater.state_dict`."""
        ...


class MaskedStorage:
    """Dense weights with a :class:`MaskSet`: inactive weights are stored as zeros.

    Gradients are masked before and weights re-masked after every optimiser step, so an
    optimiser with dense state (torch's Adam) never revives an inactive weight. Its moments
    of inactive weights keep decaying, which is what makes the reference's stale moments of
    regrown weights (spec §7.2) possible here.
    """

    keeps_inactive_moments = True

    def __init__(self, masks: MaskSet):
        self._masks = masks
        self._followers: list[list[Tensor]] = []

    @property
    def masks(self) -> MaskSet:
        return self._masks

    def dense_views(self, with_grads: bool) -> tuple[list[Tensor], list[Tensor | None]]:
        weights = self._masks.params
        return list(weights), [w.grad if with_grads else None for w in weights]

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self._masks.mask_grads()
        optimizer.step()
        self._masks.apply()

    @torch.no_grad()
    def set_masks(
        self, masks: Sequence[Tensor], optimizer: torch.optim.Optimizer, reset_grown: bool
    ) -> None:
        old = self._masks.masks
        for i, (weight, mask, new_mask) in enumerate(
            zip(self._masks.params, old, masks, strict=True)
        ):
            if new_mask is mask:
                continue
            # Dropped -> 0; newly grown start at exactly 0; regrown-in-the-same-step keep their value.
            weight.mul_((new_mask & mask).to(weight.dtype))
            self._masks.set_mask(i, new_mask)
            if reset_grown:
                reset_optimizer_moments(optimizer, weight, new_mask & ~mask)
        for weights in self._followers:
            self._masks.apply_to(weights)

    def follow(self, target: nn.Module) -> None:
        weights = linear_weights(target)
        if [tuple(w.shape) for w in weights] != self._masks.shapes:
            raise ConfigError("follow: the target's weight shapes differ from the network's")
        self._followers.append(weights)
        self._masks.apply_to(weights)

    def request_dense_grad(self) -> None:
        return None  # the masked backward always computes dense gradients

    def load_masks(self, masks: Sequence[Tensor]) -> None:
        self._masks.load_state_dict({"masks": list(masks)})
        for weights in self._followers:
            self._masks.apply_to(weights)


class TopologyUpdater(UpdateCounters):
    """Weight-update hook for one sparse network (spec §2–§3), whatever its storage.

    The one place where the topology evolves: a scheme, its drop schedule, the generator of
    random grow scores, and what happens to regrown weights. Both backends run this code; only
    the :class:`WeightStorage` differs, so with the same weights, gradients and generator
    state they pick the same connections and treat them the same way.

    :param storage: the network's weights (:class:`MaskedStorage` or ``CSRStorage``).
    :param scheme: topology scheme (``get_topology(name)``).
    :param schedule: when and how much to evolve; may be None only for a static scheme.
    :param reset_moments: True = corrected mode, zero the optimiser moments of newly grown
        weights; False = reference mode, moments untouched (spec §7.2), which only a storage
        that keeps moments of inactive weights can do.
    :param seed: seed of the generator used for random grow scores.
    """

    def __init__(
        self,
        storage: WeightStorage,
        scheme: TopologyScheme,
        schedule: DropSchedule | None,
        reset_moments: bool,
        seed: int,
    ):
        if scheme.evolves and schedule is None:
            raise ConfigError(
                f"topology {scheme.name!r} evolves the mask and needs a DropSchedule, got schedule=None"
            )
        if not reset_moments and scheme.evolves and not storage.keeps_inactive_moments:
            raise ConfigError(
                f"{type(storage).__name__} keeps no optimiser moments for inactive weights, so "
                "grown weights cannot keep stale ones: use reset_moments=True"
            )
        super().__init__()
        self.storage = storage
        self.scheme = scheme
        self.schedule = schedule
        self.reset_moments = reset_moments
        self.generator = torch.Generator().manual_seed(seed)
        self.ever_active = [m.detach().cpu().clone() for m in storage.masks.masks]
        """Bool [out, in] per layer: positions active at any time so far (topology exploration)."""
        self._before_backward()

    @property
    def masks(self) -> Any:
        return self.storage.masks

    @property
    def needs_dense_grad(self) -> bool:
        return self.scheme.needs_dense_grad

    def is_topology_update(self, t: int) -> bool:
        """Whether this network's update number ``t`` (1-based) evolves the topology."""
        return self.scheme.evolves and self.schedule is not None and self.schedule.is_update(t)

    def next_step_is_topology_update(self) -> bool:
        return self.is_topology_update(self.updates + 1)

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Call right after ``loss.backward()`` of this network. True = topology was updated.

        On a topology update the optimiser step is skipped, as in the reference (spec §3).
        """
        self.updates += 1
        evolved = self.is_topology_update(self.updates)
        if evolved:
            self._evolve(optimizer, self.updates)
        else:
            self.storage.optimizer_step(optimizer)
        self._before_backward()
        return evolved

    def follow(self, target: nn.Module) -> None:
        """Keep ``target`` (the target network) on this network's masks from now on: every
        topology change applies to it at once (spec §2), so no later step sees it stale."""
        self.storage.follow(target)

    def _before_backward(self) -> None:
        if self.needs_dense_grad and self.next_step_is_topology_update():
            self.storage.request_dense_grad()

    @torch.no_grad()
    def _evolve(self, optimizer: torch.optim.Optimizer, t: int) -> None:
        assert self.schedule is not None
        drop_fraction = self.schedule.fraction(t)
        weights, grads = self.storage.dense_views(with_grads=self.needs_dense_grad)
        if self.needs_dense_grad and any(g is None for g in grads):
            raise RuntimeError(
                f"{self.scheme.name} grows by |dense gradient| but the network has none: "
                "call step() right after the backward of this network's loss"
            )
        new_masks = []
        for weight, grad, mask in zip(weights, grads, self.masks.masks, strict=True):
            num_active = int(mask.sum())
            k = math.floor(drop_fraction * num_active)
            # A dense layer could only regrow what it dropped: skipping it is the same result.
            if k == 0 or num_active == mask.numel():
                new_masks.append(mask)
                continue
            new_mask = self.scheme.update_mask(weight, grad, mask, k, self.generator)
            self.connections_changed += int((new_mask & ~mask).sum())
            new_masks.append(new_mask)
        self.storage.set_masks(new_masks, optimizer, reset_grown=self.reset_moments)
        for seen, mask in zip(self.ever_active, new_masks, strict=True):
            seen |= mask.detach().cpu()
        self.last_drop_fraction = drop_fraction
        self.topology_updates += 1

    def current_sparsity(self) -> float:
        return self.masks.sparsity()

    def ever_active_fractions(self) -> list[float]:
        """Per layer: the fraction of its positions that have been active at some time."""
        return [float(seen.float().mean()) for seen in self.ever_active]

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.counters_state(),
            "generator": self.generator.get_state(),
            "masks": {"masks": [m.detach().cpu().clone() for m in self.masks.masks]},
            "ever_active": [seen.clone() for seen in self.ever_active],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Counters, generator and masks (a compact storage checks that its network, loaded
        first, already has them)."""
        self.storage.load_masks(state["masks"]["masks"])
        self.load_counters(state)
        self.generator.set_state(state["generator"])
        # Checkpoints written before exploration was tracked: start it from the current masks.
        seen = state.get("ever_active") or state["masks"]["masks"]
        self.ever_active = [m.detach().cpu().bool().clone() for m in seen]
        self._before_backward()


class SparseUpdater(TopologyUpdater):
    """:class:`TopologyUpdater` over a :class:`MaskSet` (the masked backend)."""

    def __init__(
        self,
        masks: MaskSet,
        scheme: TopologyScheme,
        schedule: DropSchedule | None,
        reset_moments: bool = True,
        seed: int = 0,
    ):
        super().__init__(MaskedStorage(masks), scheme, schedule, reset_moments, seed)

    def after_target_update(self, target_weights: Sequence[Tensor]) -> None:
        """Mask other weights with the current masks. A followed target needs no call: Polyak
        averaging of two networks with the same zeros keeps them."""
        self.masks.apply_to(target_weights)


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

    def follow(self, target: nn.Module) -> None:
        return None

    def after_target_update(self, target_weights: Sequence[Tensor]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return self.counters_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_counters(state)
