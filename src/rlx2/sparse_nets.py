"""The networks of TD3 and SAC in compact sparse form (the sparse backend, CPU).

Each class is built from the dense network of ``rlx2.nets`` and its masks (after the masked
engine has allocated and applied them) and keeps that network's interface, so the algorithms
run unchanged. The MLP is one :class:`~rlx2.sparse.kernels.SparseMLP` (``.net``), which
stores and computes only the active weights (docs/sparse-execution.md).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import Tensor, nn

from rlx2.errors import ConfigError
from rlx2.nets import DeterministicActor, GaussianActor, TwinCritic, mlp_heads
from rlx2.sparse.kernels import SparseMLP


def _compact(dense: nn.Module, masks: Sequence[Tensor]) -> SparseMLP:
    spec = mlp_heads(dense)
    return SparseMLP.from_dense(
        list(spec.heads), masks, spec.output_activation, spec.output_scale, spec.output_shift
    )


class SparseDeterministicActor(nn.Module):
    """TD3 actor: ``net`` computes tanh and the action scaling in its output kernel;
    ``scaling`` stays for ``clip`` (as :class:`~rlx2.nets.DeterministicActor`)."""

    def __init__(self, dense: DeterministicActor, masks: Sequence[Tensor]):
        super().__init__()
        self.net = _compact(dense, masks)
        self.scaling = copy.deepcopy(dense.scaling)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs)  # [B, act] = tanh(MLP(obs)) * scale + bias


class SparseTwinCritic(nn.Module):
    """Both Q heads in one SparseMLP, which reads obs and action without concatenating them.

    ``q1_value`` evaluates the first head only (its rows are a prefix of the network).
    """

    def __init__(self, dense: TwinCritic, masks: Sequence[Tensor]):
        super().__init__()
        self.net = _compact(dense, masks)

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        q1, q2 = self.net(obs, action).unbind(dim=1)  # [B, 2] -> [B], [B]: one op, one backward
        return q1, q2

    def q1_value(self, obs: Tensor, action: Tensor) -> Tensor:
        return self.net(obs, action, heads=1)[:, 0]


class SparseGaussianActor(nn.Module):
    """SAC actor: the SparseMLP gives mean and raw log σ side by side ([B, 2·act]); the
    squashing, sampling and log-probability are :class:`~rlx2.nets.GaussianActor`'s own code."""

    def __init__(self, dense: GaussianActor, masks: Sequence[Tensor]):
        super().__init__()
        self.net = _compact(dense, masks)
        self.scaling = copy.deepcopy(dense.scaling)
        self.log_std_min = dense.log_std_min
        self.log_std_max = dense.log_std_max

    # The same maths as the dense actor: these read only net, scaling and the log σ range.
    distribution = GaussianActor.distribution
    forward = GaussianActor.forward
    sample = GaussianActor.sample


def sparse_network(network: nn.Module, masks: Sequence[Tensor]) -> nn.Module:
    """The compact sparse form of one of ``rlx2.nets``' networks with these masks.

    :param network: a DeterministicActor, GaussianActor or TwinCritic on the CPU.
    :param masks: bool [out, in] per ``nn.Linear`` of ``network`` (``MaskSet.masks``).
    """
    kinds: dict[type, type[nn.Module]] = {
        DeterministicActor: SparseDeterministicActor,
        GaussianActor: SparseGaussianActor,
        TwinCritic: SparseTwinCritic,
    }
    kind = kinds.get(type(network))
    if kind is None:
        raise ConfigError(
            f"the sparse backend has no compact form of {type(network).__name__}; "
            f"it converts {', '.join(k.__name__ for k in kinds)}"
        )
    return kind(network, masks)


def sparse_core(module: nn.Module) -> SparseMLP:
    """The one SparseMLP inside a sparse network (what its updater and targets work on)."""
    cores = [m for m in module.modules() if isinstance(m, SparseMLP)]
    if len(cores) != 1:
        raise ConfigError(
            f"{type(module).__name__} holds {len(cores)} SparseMLP modules, expected one"
        )
    return cores[0]
