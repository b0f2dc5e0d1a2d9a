"""What TD3 and SAC share: the agent and weight-update protocols, Polyak averaging, acting helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from rlx2.errors import ConfigError


class WeightUpdater(Protocol):
    """The hook through which an algorithm changes one network's weights (spec §2–§3).

    ``step`` is called right after ``loss.backward()`` of that network: a dense updater just
    runs the optimiser; a sparse one keeps inactive weights at zero, and on topology-update
    steps evolves the masks instead. ``follow`` is called once with the network's target
    network, which then changes with every topology update (spec §2: targets share the
    online masks). Algorithms know nothing else about sparsity.
    """

    connections_changed: int
    """Connections grown by topology updates so far (0 for a dense network)."""

    def step(self, optimizer: torch.optim.Optimizer) -> bool: ...

    def follow(self, target: nn.Module) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Agent(Protocol):
    """What training, checkpoints, diagnostics and export use of an agent (TD3, SAC, and any
    algorithm registered in ``rlx2.algorithms``)."""

    actor: Any
    critic: Any
    critic_target: Any
    device: torch.device
    updates: int
    """Critic updates so far."""

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(behaviour action, policy action) for one observation."""
        ...

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray: ...

    def policy_actions(self, obs: Tensor) -> Tensor: ...

    def update(self, batch: Any) -> dict[str, Tensor]: ...

    def networks(self) -> dict[str, nn.Module]: ...

    def updaters(self) -> dict[str, WeightUpdater]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class TargetAverager:
    """Polyak averaging of one target network: target ← (1 − τ)·target + τ·online, for every
    parameter.

    The parameter lists are taken once. Parameters keep their identity for an algorithm's
    life, as its optimisers already require: topology updates, ``load_state_dict`` and
    checkpoints write in place (tests/test_backend.py checks it, every backend). Listing them on every call
    cost ~2 % of a sparse TD3 update. On CPU float parameters the average is a numba loop per
    parameter over NumPy views (kept while the storages stay put), as for ``LeanAdam``:
    ``torch._foreach_lerp_`` under ``no_grad`` took 2.4 % of a sparse TD3 update and 3.6 % of
    SAC's more (A/B); elsewhere it is that one foreach call.
    """

    def __init__(self, target: nn.Module, online: nn.Module):
        self.target: list[Tensor] = list(target.parameters())
        self.online: list[Tensor] = list(online.parameters())
        if [p.shape for p in self.target] != [p.shape for p in self.online]:
            raise ConfigError("TargetAverager: target and online networks differ in shape")
        self._views: tuple[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]] | None] | None
        self._views = None

    def __call__(self, tau: float) -> None:
        pairs = self._numpy_pairs()
        if pairs is None:
            with torch.no_grad():
                torch._foreach_lerp_(self.target, self.online, tau)
            return
        from rlx2.algos.fused_kernels import polyak_lerp  # numba, imported once used

        for target, online in pairs:
            polyak_lerp(target, online, tau)

    def _numpy_pairs(self) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Flat NumPy views of (target, online) per parameter if every one is a contiguous CPU
        float tensor of the same dtype as its partner, else None; rebuilt when a storage moves
        (``.to``, ``.double()`` replace a parameter's data)."""
        tensors = self.target + self.online
        pointers = tuple(t.data_ptr() for t in tensors)
        if self._views is not None and self._views[0] == pointers:
            return self._views[1]
        usable = all(
            t.device.type == "cpu" and t.is_contiguous() and t.dtype in _NUMPY_FLOATS
            for t in tensors
        ) and all(t.dtype == o.dtype for t, o in zip(self.target, self.online, strict=True))
        pairs = (
            [
                (t.detach().numpy().reshape(-1), o.detach().numpy().reshape(-1))
                for t, o in zip(self.target, self.online, strict=True)
            ]
            if usable
            else None
        )
        self._views = (pointers, pairs)  # None kept too: not re-checked every call (GPU)
        return pairs


_NUMPY_FLOATS = (torch.float32, torch.float64)


def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target ← (1 − τ)·target + τ·online once (the algorithms keep a :class:`TargetAverager`)."""
    TargetAverager(target, online)(tau)


class CompiledLosses:
    """An algorithm's pure loss methods, run eagerly or through ``torch.compile``.

    Only the losses are compiled (forward and, through AOTAutograd, backward): optimiser
    steps, mask updates and topology evolution stay eager, so sparsity needs nothing special.
    With ``mode="reduce-overhead"`` (the CUDA choice) the compiled graphs replay as CUDA
    graphs: a small-MLP update is bound by kernel launches, not FLOPs, on a GPU.

    :param owner: the algorithm; ``names`` its loss methods, exposed here under the same names.
    :param mode: None = eager; else a ``torch.compile`` mode ("default", "reduce-overhead").
    """

    def __init__(self, owner: object, names: Sequence[str], mode: str | None):
        self.mode = mode
        for name in names:
            method = getattr(owner, name)
            # dynamic=False: one specialised graph per window length n (1, then 3: spec §5).
            setattr(
                self,
                name,
                method if mode is None else torch.compile(method, mode=mode, dynamic=False),
            )

    def __getattr__(self, name: str) -> Any:
        # The loss methods are set per instance in __init__ (eager or compiled); this tells
        # the type checker so. Only reached for names __init__ did not set.
        raise AttributeError(f"{type(self).__name__} has no loss {name!r}")

    def begin_step(self) -> None:
        """Start an update: CUDA-graph outputs of the previous one may now be overwritten."""
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()


def frozen(module: nn.Module):
    """Context manager: no weight gradients for ``module`` (its input gradients still flow).

    The actor loss back-propagates through the critic only to reach the action; skipping the
    critic's weight gradients saves a third of that backward pass and keeps the critic's
    .grad free of actor-loss terms (spec §7.4 describes the reference's leak).
    """
    return _RequiresGradOff(module)


class _RequiresGradOff:
    def __init__(self, module: nn.Module):
        self.params = [p for p in module.parameters() if p.requires_grad]

    def __enter__(self) -> None:
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for p in self.params:
            p.requires_grad_(True)


def as_tensor(obs: np.ndarray, device: torch.device) -> Tensor:
    return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=device)
