"""The compact sparse storage of a network (``SparseMLP``) for the topology updater (spec §2–§3).

:class:`CSRStorage` is the :class:`~rlx2.sparse.topology.WeightStorage` of a network that
stores only its active weights (``rlx2.sparse.kernels``): the layout *is* the mask, so there
is no gradient to mask and no weight to re-mask after the optimiser step. The topology update
itself is :class:`~rlx2.sparse.topology.TopologyUpdater`'s, the same code as for the masked
storage, on dense views built only on those steps: with the same weights, gradients and
generator state both pick the same connections.

What the compact layout changes (docs/sparse-execution.md, "The sparse backend"):

* Optimiser moments exist only for active weights, so a grown weight starts with zero
  moments: only the corrected mode (``reset_moments=True``) exists; asking for the
  reference's stale moments of regrown weights (spec §7.2) is a ConfigError.
* RigL's dense gradient is computed by one backward only: before the backward that precedes
  a topology update, the updater sets ``dense_grad_next_backward`` on the network, so that
  backward also fills ``dense_grads``. The algorithm calls nothing more.
* Target networks on the same structure (:meth:`CSRStorage.follow`) change with the online
  network at the topology update: kept weights keep their target value, dropped ones go,
  grown ones start at 0. Their slots then match the online ones, which Polyak averaging of
  ``values`` needs. The masked storage does the same to its followers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rlx2.errors import ConfigError
from rlx2.sparse.kernels import SparseMLP, remap_slots
from rlx2.sparse.optim_state import MOMENT_KEYS
from rlx2.sparse.schedule import DropSchedule
from rlx2.sparse.topology import TopologyScheme, TopologyUpdater


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


def _sparse_core(module: nn.Module) -> SparseMLP:
    cores = [m for m in module.modules() if isinstance(m, SparseMLP)]
    if len(cores) != 1:
        raise ConfigError(
            f"{type(module).__name__} holds {len(cores)} SparseMLP modules, expected one"
        )
    return cores[0]


class CSRStorage:
    """The active weights of one :class:`SparseMLP`, their optimiser state and its followers."""

    keeps_inactive_moments = False

    def __init__(self, network: SparseMLP):
        if not isinstance(network, SparseMLP):
            raise ConfigError(f"CSRStorage needs a SparseMLP, got {type(network).__name__}")
        self.network = network
        self.targets: list[SparseMLP] = []

    @property
    def masks(self) -> LayoutMasks:
        return LayoutMasks(self.network)

    def dense_views(self, with_grads: bool) -> tuple[list[Tensor], list[Tensor | None]]:
        grads: list[Tensor | None] = [None] * len(self.network.layout.shapes)
        if with_grads and self.network.dense_grads is not None:
            grads = list(self.network.dense_grads)
        return self.network.dense_weights(), grads

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()

    @torch.no_grad()
    def set_masks(
        self, masks: Sequence[Tensor], optimizer: torch.optim.Optimizer, reset_grown: bool
    ) -> None:
        if not reset_grown:
            raise ConfigError("CSRStorage keeps no moments for grown weights: reset_grown=True")
        network = self.network
        # Kept weights carry their value and moments to their new slot; grown ones start at 0.
        src = network.set_masks(masks)
        state = optimizer.state.get(network.values)
        for key in MOMENT_KEYS if state else ():
            buf = state.get(key)  # type: ignore[union-attr]
            if isinstance(buf, Tensor) and buf.shape == network.values.shape:
                buf.copy_(remap_slots(buf, src))
        for target in self.targets:
            target.set_masks(masks)
        network.dense_grads = None

    def follow(self, target: nn.Module) -> None:
        core = _sparse_core(target)
        if core.layout.shapes != self.network.layout.shapes:
            raise ConfigError("follow: the target must be a SparseMLP with the network's shapes")
        if not all(
            torch.equal(a, b) for a, b in zip(core.masks(), self.network.masks(), strict=True)
        ):
            raise ConfigError("follow: the target's masks differ from the network's")
        self.targets.append(core)

    def request_dense_grad(self) -> None:
        self.network.dense_grad_next_backward = True

    def load_masks(self, masks: Sequence[Tensor]) -> None:
        """The masks live in the network's own state (loaded first): check they agree."""
        current = self.network.masks()
        if len(masks) != len(current) or not all(
            torch.equal(a.bool(), b) for a, b in zip(masks, current, strict=True)
        ):
            raise ConfigError(
                "updater state: its masks differ from the network's; load the network first"
            )


class CSRUpdater(TopologyUpdater):
    """:class:`TopologyUpdater` over a :class:`CSRStorage` (the sparse backend).

    :param network: the online network's SparseMLP (its layout holds the masks).
    :param seed: seed of the generator of random grow scores (the masked updater's seed gives
        the same SET choices).
    """

    def __init__(
        self,
        network: SparseMLP,
        scheme: TopologyScheme,
        schedule: DropSchedule | None,
        seed: int = 0,
        reset_moments: bool = True,
    ):
        super().__init__(CSRStorage(network), scheme, schedule, reset_moments, seed)

    @property
    def network(self) -> SparseMLP:
        return self.storage.network  # type: ignore[attr-defined]
