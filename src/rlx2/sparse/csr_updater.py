"""The weight-update hook of a network in compact sparse form (``SparseMLP``, spec §2–§3).

:class:`CSRUpdater` has :class:`~rlx2.sparse.topology.SparseUpdater`'s interface (``step``,
``after_target_update``, the counters, ``stats``, ``state_dict``) for a network that stores
only its active weights (``rlx2.sparse.kernels``). The layout *is* the mask: inactive weights
do not exist, so there is no gradient to mask and no weight to re-mask after the optimiser
step. Topology updates use the same schemes and the same pure drop/grow functions as the
masked updater, on dense views built only on those steps: with the same weights, gradients
and generator state they pick the same connections.

What the compact layout changes (docs/sparse-execution.md, "The sparse backend"):

* Optimiser moments exist only for active weights, so a grown weight starts with zero
  moments: the corrected mode (``--reset-moments``) always. The reference's stale moments of
  regrown weights (spec §7.2) cannot be reproduced.
* RigL's dense gradient is computed by one backward only. After the step that precedes a
  topology update, the updater sets ``dense_grad_next_backward`` on its network, so the next
  backward of that network's loss also fills ``dense_grads``. The algorithm calls nothing more.
* Target networks on the same structure (:meth:`CSRUpdater.follow`) change with the online
  network at the topology update: kept weights keep their target value, dropped ones go,
  grown ones start at 0. Their slots then match the online ones, which Polyak averaging of
  ``values`` needs. The masked backend re-masks the target at the next Polyak update
  instead; the two agree whenever that update comes before the target is next used, which
  holds for SAC and for TD3 when ΔT is a multiple of the policy delay (the defaults).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rlx2.errors import ConfigError
from rlx2.sparse.kernels import SparseMLP, remap_slots
from rlx2.sparse.optim_state import MOMENT_KEYS
from rlx2.sparse.schedule import DropSchedule
from rlx2.sparse.topology import ScheduledTopology, TopologyScheme


class LayoutMasks:
    """Read-only view of a SparseMLP's masks with :class:`~rlx2.sparse.masks.MaskSet`'s
    counting methods (summaries and exports read ``updater.masks.masks``)."""

    def __init__(self, network: SparseMLP):
        self._network = network

    @property
    def masks(self) -> list[Tensor]:
        """Bool [out, in] per layer (fresh tensors: changing them changes nothing)."""
        return self._network.masks()

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return list(self._network.layout.shapes)

    def num_active(self) -> list[int]:
        return self._network.layout.layer_nnz()

    def num_weights(self) -> list[int]:
        return [out * inp for out, inp in self._network.layout.shapes]

    def sparsity(self) -> float:
        return 1.0 - sum(self.num_active()) / sum(self.num_weights())


class CSRUpdater(ScheduledTopology):
    """Weight-update hook for one SparseMLP network (its twin of the masked ``SparseUpdater``).

    :param network: the online network's SparseMLP (its layout holds the masks).
    :param scheme: topology scheme (``get_topology(name)``).
    :param schedule: when and how much to evolve; may be None only for a static scheme.
    :param seed: seed of the generator of random grow scores (the masked updater's seed gives
        the same SET choices).
    """

    reset_moments = True
    """Grown weights always start with zero optimiser moments (the layout keeps no others)."""

    def __init__(
        self,
        network: SparseMLP,
        scheme: TopologyScheme,
        schedule: DropSchedule | None,
        seed: int = 0,
    ):
        if not isinstance(network, SparseMLP):
            raise ConfigError(f"CSRUpdater needs a SparseMLP, got {type(network).__name__}")
        super().__init__(scheme, schedule, seed)
        self.network = network
        self.targets: list[SparseMLP] = []
        self._request_dense_grad()

    @property
    def masks(self) -> LayoutMasks:
        return LayoutMasks(self.network)

    def follow(self, target: SparseMLP) -> None:
        """Keep ``target`` (a copy of the network, e.g. its target network) on the same
        structure: every topology change is applied to it too."""
        if not isinstance(target, SparseMLP) or target.layout.shapes != self.network.layout.shapes:
            raise ConfigError("follow: the target must be a SparseMLP with the network's shapes")
        if not all(
            torch.equal(a, b) for a, b in zip(target.masks(), self.network.masks(), strict=True)
        ):
            raise ConfigError("follow: the target's masks differ from the network's")
        self.targets.append(target)

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Call right after ``loss.backward()`` of this network. True = topology was updated.

        On a topology update the optimiser step is skipped, as in the reference (spec §3).
        """
        self.updates += 1
        evolved = self.is_topology_update(self.updates)
        if evolved:
            self._evolve(optimizer, self.updates)
        else:
            optimizer.step()
        self._request_dense_grad()
        return evolved

    def after_target_update(self, target_weights: Sequence[Tensor]) -> None:
        """Nothing to re-mask: a following target has no inactive weights (see :meth:`follow`)."""
        return None

    def _request_dense_grad(self) -> None:
        # RigL reads the dense gradient of the backward that precedes its topology step.
        if self.needs_dense_grad and self.next_step_is_topology_update():
            self.network.dense_grad_next_backward = True

    @torch.no_grad()
    def _evolve(self, optimizer: torch.optim.Optimizer, t: int) -> None:
        assert self.schedule is not None
        network = self.network
        drop_fraction = self.schedule.fraction(t)
        grads: Sequence[Tensor | None]
        if self.needs_dense_grad:
            if network.dense_grads is None:
                raise RuntimeError(
                    f"{self.scheme.name} grows by |dense gradient| but the network has none: "
                    "call step() right after the backward of this network's loss"
                )
            grads = network.dense_grads
        else:
            grads = [None] * len(network.layout.shapes)
        weights = network.dense_weights()  # [out, in] per layer, 0 where inactive
        masks = network.masks()
        new_masks = []
        for weight, grad, mask in zip(weights, grads, masks, strict=True):
            num_active = int(mask.sum())
            k = math.floor(drop_fraction * num_active)
            # As SparseUpdater: a dense layer could only regrow what it dropped.
            if k == 0 or num_active == mask.numel():
                new_masks.append(mask)
                continue
            new_mask = self.scheme.update_mask(weight, grad, mask, k, self.generator)
            self.connections_changed += int((new_mask & ~mask).sum())
            new_masks.append(new_mask)
        # Kept weights carry their value and moments to their new slot; grown ones start at 0.
        src = network.set_masks(new_masks)
        state = optimizer.state.get(network.values)
        for key in MOMENT_KEYS if state else ():
            buf = state.get(key)
            if isinstance(buf, Tensor) and buf.shape == network.values.shape:
                buf.copy_(remap_slots(buf, src))
        for target in self.targets:
            target.set_masks(new_masks)
        network.dense_grads = None
        self.last_drop_fraction = drop_fraction
        self.topology_updates += 1

    def current_sparsity(self) -> float:
        return self.masks.sparsity()

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.counters_state(),
            "generator": self.generator.get_state(),
            "masks": {"masks": [m.clone() for m in self.network.masks()]},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Counters and generator; the masks live in the network's own state (loaded first),
        and must agree with the ones saved here."""
        saved = state["masks"]["masks"]
        current = self.network.masks()
        if len(saved) != len(current) or not all(
            torch.equal(a.bool(), b) for a, b in zip(saved, current, strict=True)
        ):
            raise ConfigError(
                "updater state: its masks differ from the network's; load the network first"
            )
        self.load_counters(state)
        self.generator.set_state(state["generator"])
        self._request_dense_grad()
