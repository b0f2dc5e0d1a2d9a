"""Fused training steps of TD3 and SAC on the CPU: the sparse backend, and the dense one.

On the sparse backend a network pass costs what its active weights cost, so the torch code
around the passes (target computation, losses, the autograd engine: ~60 small ops per
update) became most of an update. Here each loss *and its gradient* is one short sequence of
kernels on NumPy buffers: the network passes (``SparseMLP.run_forward``/``run_backward``
over the compact storage; for dense networks ``fused_dense.DenseHeads``, BLAS over the
``nn.Linear`` weights) and the RL arithmetic between them (``fused_kernels``, numba), with
every buffer allocated once per batch shape.

The algorithms' torch methods (``TD3.critic_loss``, ``actor_loss``, ``SAC.td_target`` ...)
stay the definition: a fused method computes the same loss and leaves the same gradients in
``.grad`` as calling the reference loss and ``backward()``, draws the same random numbers
from torch's generator in the same order, and serves RigL's dense-gradient request the same
way. tests/test_fused.py checks losses, gradients at the active positions, parameters and
chosen connections against the reference paths over many updates, topology updates and
n-step windows included. The optimiser step, the topology update and Polyak averaging are
the algorithm's own calls, unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from rlx2.algos.fused_dense import DenseHeads
from rlx2.errors import ConfigError
from rlx2.nets import mlp_heads
from rlx2.sparse.kernels import SparseMLP
from rlx2.sparse.kernels.mlp import aligned_empty
from rlx2.value.replay import Batch

if TYPE_CHECKING:
    from rlx2.algos.sac import SAC
    from rlx2.algos.td3 import TD3


def _kernels():
    from rlx2.algos import fused_kernels

    return fused_kernels


def _network(module: torch.nn.Module) -> _Network | DenseHeads:
    """The fused passes of one of the agent's networks: its compact sparse form, or dense."""
    cores = [m for m in module.modules() if isinstance(m, SparseMLP)]
    if len(cores) > 1:
        raise ConfigError(f"{type(module).__name__} holds {len(cores)} SparseMLP modules")
    return _Network(cores[0]) if cores else DenseHeads(mlp_heads(module))


def _array(x: Tensor, dtype: np.dtype) -> np.ndarray:
    """A NumPy view of a CPU batch tensor (a copy only if dtype or layout differ)."""
    try:
        array = x.numpy()  # a replay batch: no grad, on the CPU (the checks below cost more)
    except (RuntimeError, TypeError):  # requires grad, or another device
        if x.device.type != "cpu":
            raise ConfigError("fused steps run on the CPU: sample batches on the CPU") from None
        array = x.detach().numpy()
    return (
        array
        if array.dtype == dtype and array.flags.c_contiguous
        else np.ascontiguousarray(array, dtype)
    )


def _scalar(x: float) -> Tensor:
    """A 0-d tensor of the default dtype, as ``torch.tensor(x)`` makes, in ~0.9 µs instead of
    ~2.3 (warm; several times that between the passes of an update, whose buffers evict the
    interpreter's data from the caches)."""
    return torch.scalar_tensor(x)


def _vector(t: Tensor, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy().reshape(-1), dtype=dtype)


class _Network:
    """One SparseMLP as the fused steps drive it (``DenseHeads`` is the dense counterpart)."""

    def __init__(self, core: SparseMLP):
        self.core = core
        self.in_features, self.out_features = core.in_features, core.out_features
        self.dtype = np.dtype(np.float32 if self.core.values.dtype == torch.float32 else np.float64)
        # Gradient storage reused by every step (nnz and rows never change): .grad tensors
        # are views of it, valid until this network's next fused backward.
        layout = self.core.layout
        self._grad_values = torch.from_numpy(np.empty(layout.nnz, dtype=self.dtype))
        self._grad_bias = torch.from_numpy(np.empty(layout.num_rows, dtype=self.dtype))

    @property
    def act_rows(self) -> int:
        """Rows of its activation buffer: the input, then every neuron."""
        return self.core.in_features + self.core.layout.num_rows

    def activation_buffer(self, batch: int) -> np.ndarray:
        return self.core.activation_buffer(batch)

    def forward(self, x1: np.ndarray, x2: np.ndarray, act: np.ndarray, out: np.ndarray, heads=None):
        core = self.core
        stop = core.layout.num_rows if heads is None else core.layout.head_row_stop(heads)
        core.run_forward(x1, x2, act, out, stop)

    def weight_gradients(self, grad_out: np.ndarray, act: np.ndarray, work: np.ndarray) -> None:
        """Backward of a full forward into fresh ``.grad`` tensors of values and bias."""
        core = self.core
        n1 = core.in_features  # no input gradient: the split of the input does not matter
        core.run_backward(
            grad_out, act, core.layout.num_rows, n1, self._grad_values.numpy(),
            self._grad_bias.numpy(), None, None, work,
        )  # fmt: skip
        core.values.grad = self._grad_values
        core.bias.grad = self._grad_bias

    def second_input_gradient(
        self, grad_out: np.ndarray, act: np.ndarray, n1: int, grad_x2: np.ndarray, work, heads=None
    ) -> None:
        """Gradient of the second input part only (a frozen critic: the action's gradient)."""
        core = self.core
        stop = core.layout.num_rows if heads is None else core.layout.head_row_stop(heads)
        core.run_backward(grad_out, act, stop, n1, None, None, None, grad_x2, work)


class _Buffers(dict):
    """Small arrays reused by every step of one (batch, window) shape, as attributes."""

    def __getattr__(self, name: str) -> np.ndarray:
        return self[name]


class _Workspace:
    """Row buffers for the steps, 64-byte aligned and allocated once per shape.

    ``activations(network, batch)`` are what a backward reads (one per network and batch
    size); ``scratch(rows, batch)`` is one block shared by everything that lives within a
    single kernel call (target networks' forwards, every backward's row gradients), so an
    update touches few distinct megabytes: the caches keep more of them.
    """

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self._flat = aligned_empty((0,), dtype)
        self._activations: dict[tuple[int, int], np.ndarray] = {}

    def scratch(self, rows: int, batch: int) -> np.ndarray:
        size = rows * batch
        if self._flat.shape[0] < size:
            self._flat = aligned_empty((size,), self.dtype)
        return self._flat[:size].reshape(rows, batch)

    def activations(self, network: _Network | DenseHeads, batch: int) -> np.ndarray:
        key = (id(network), batch)
        act = self._activations.get(key)
        if act is None:
            act = self._activations[key] = network.activation_buffer(batch)
        return act


class _SingleObservation:
    """A network's output for one observation (acting, evaluation): the batch-1 kernel on
    buffers kept between calls, without torch in between."""

    def __init__(self, network: _Network | DenseHeads):
        self.network = network
        dtype = network.dtype
        self.empty = np.empty((1, 0), dtype=dtype)
        self.act = network.activation_buffer(1)
        self.out = np.empty((1, network.out_features), dtype=dtype)

    def action(self, obs: np.ndarray) -> np.ndarray:
        """obs [O] -> a fresh [outputs] array."""
        x = np.asarray(obs, dtype=self.network.dtype).reshape(1, -1)
        self.network.forward(x, self.empty, self.act, self.out)
        return self.out[0].copy()


class FusedTD3:
    """``TD3.critic_loss`` + backward and ``TD3.actor_loss`` + backward, fused (see module)."""

    def __init__(self, agent: TD3):
        self.agent = agent
        self.actor = _network(agent.actor)
        self.actor_target = _network(agent.actor_target)
        self.critic = _network(agent.critic)
        self.critic_target = _network(agent.critic_target)
        self.dtype = self.critic.dtype
        scaling = agent.actor.scaling
        self.low, self.high = _vector(scaling.low, self.dtype), _vector(scaling.high, self.dtype)
        self.noise_std = _vector(agent.policy_noise_std, self.dtype)
        self.noise_clip = _vector(agent.noise_clip, self.dtype)
        self.exploration_std = _vector(agent.exploration_std, self.dtype)
        self.obs_dim = self.actor.in_features
        self.act_dim = self.actor.out_features
        self.policy = _SingleObservation(self.actor)
        self.work = _Workspace(self.dtype)
        self._buffers: dict[tuple[int, int], _Buffers] = {}
        self._k = _kernels()

    def _for(self, batch: int, n: int) -> _Buffers:
        """Small per-step arrays of one (batch, window) shape; n = 0: the actor step's."""
        buffers = self._buffers.get((batch, n))
        if buffers is None:
            f, a = self.dtype, self.act_dim
            buffers = _Buffers(
                empty=np.empty((batch, 0), dtype=f),
                ends=np.empty(batch, dtype=np.int64),
                states=np.empty((batch, self.obs_dim), dtype=f),
                actions=np.empty((batch, a), dtype=f),
                q=np.empty((batch, 2), dtype=f),
                q1=np.empty((batch, 1), dtype=f),
                q_target=np.empty((batch, 2), dtype=f),
                targets=np.empty(batch, dtype=f),
                grad_q=np.empty((batch, 2), dtype=f),
                grad_q1=np.full((batch, 1), -1.0 / batch, dtype=f),  # d(-mean q1)/d q1
                grad_actions=np.empty((batch, a), dtype=f),
            )
            self._buffers[(batch, n)] = buffers
        return buffers

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        """``TD3.act_deterministic``: pi(s) [A] for one observation."""
        return self.policy.action(obs)

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``TD3.act``: clip(pi(s) + N(0, exploration_std)) and pi(s), [A] each."""
        mean = self.policy.action(obs)
        noise = torch.randn(self.act_dim).numpy()  # TD3.act's randn_like(mean)
        noisy = np.minimum(mean + noise * self.exploration_std, self.high)
        return np.maximum(noisy, self.low), mean

    def critic_backward(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """``TD3.critic_loss(batch)`` with its gradients in the critic's ``.grad``."""
        k, f, work = self._k, self.dtype, self.work
        batch_size, n = batch.rewards.shape
        buf = self._for(batch_size, n)
        terminated, truncated = _array(batch.terminated, f), _array(batch.truncated, f)
        # TD3.bootstrap_value's draw: same shape, same generator, same place in the update.
        noise = torch.randn(batch_size, self.act_dim).numpy()
        k.window_ends(terminated, truncated, buf.ends)
        k.gather_windows(_array(batch.next_obs, f), buf.ends, buf.states)  # s_{t+m+1} [B, O]
        scratch = work.scratch(self.actor_target.act_rows, batch_size)
        self.actor_target.forward(buf.states, buf.empty, scratch, buf.actions)
        k.smooth_target_actions(
            buf.actions, noise, self.noise_std, self.noise_clip, self.low, self.high
        )
        scratch = work.scratch(self.critic_target.act_rows, batch_size)
        self.critic_target.forward(buf.states, buf.actions, scratch, buf.q_target)
        act = work.activations(self.critic, batch_size)
        self.critic.forward(_array(batch.obs, f), _array(batch.actions, f), act, buf.q)
        loss, q1_mean, target_mean = k.twin_td_loss(
            _array(batch.rewards, f), terminated, buf.ends, buf.q_target, self.agent.agent.gamma,
            buf.q, buf.targets, buf.grad_q,
        )  # fmt: skip
        self.critic.weight_gradients(
            buf.grad_q, act, work.scratch(self.critic.act_rows, batch_size)
        )
        return _scalar(loss), _scalar(q1_mean), _scalar(target_mean)

    def actor_backward(self, obs_t: Tensor) -> Tensor:
        """``TD3.actor_loss(obs)`` (critic frozen) with its gradients in the actor's ``.grad``."""
        work = self.work
        obs = _array(obs_t, self.dtype)
        batch_size = obs.shape[0]
        buf = self._for(batch_size, 0)
        act_actor = work.activations(self.actor, batch_size)
        act_critic = work.activations(self.critic, batch_size)
        self.actor.forward(obs, buf.empty, act_actor, buf.actions)
        self.critic.forward(obs, buf.actions, act_critic, buf.q1, heads=1)
        loss = -float(np.add.reduce(buf.q1.reshape(-1), dtype=np.float64)) / batch_size
        self.critic.second_input_gradient(
            buf.grad_q1, act_critic, self.obs_dim, buf.grad_actions,
            work.scratch(self.critic.act_rows, batch_size), heads=1,
        )  # fmt: skip
        self.actor.weight_gradients(
            buf.grad_actions, act_actor, work.scratch(self.actor.act_rows, batch_size)
        )
        return _scalar(loss)


class FusedSAC:
    """``SAC.critic_loss`` + backward and ``SAC.actor_loss`` + backward, fused (see module)."""

    def __init__(self, agent: SAC):
        self.agent = agent
        self.actor = _network(agent.actor)
        self.critic = _network(agent.critic)
        self.critic_target = _network(agent.critic_target)
        self.dtype = self.critic.dtype
        actor = agent.actor
        self.scale = _vector(actor.scaling.scale, self.dtype)
        self.bias = _vector(actor.scaling.bias, self.dtype)
        self.log_std_range = (float(actor.log_std_min), float(actor.log_std_max))
        self.obs_dim = self.actor.in_features
        self.act_dim = self.actor.out_features // 2
        self.policy = _SingleObservation(self.actor)
        self.work = _Workspace(self.dtype)
        self._buffers: dict[tuple[int, int], _Buffers] = {}
        self._k = _kernels()

    def _samples(self, rows: int) -> dict[str, np.ndarray]:
        """What :func:`squashed_gaussian_sample` writes for ``rows`` states."""
        f, a = self.dtype, self.act_dim
        return {
            "z": np.empty((rows, 2 * a), dtype=f),
            "actions": np.empty((rows, a), dtype=f),
            "log_prob": np.empty(rows, dtype=f),
            "pre_tanh": np.empty((rows, a), dtype=f),
            "log_std": np.empty((rows, a), dtype=f),
        }

    def _for(self, batch: int, n: int) -> _Buffers:
        """Small per-step arrays of one (batch, window) shape; n = 0: the actor step's."""
        buffers = self._buffers.get((batch, n))
        if buffers is None:
            f, a = self.dtype, self.act_dim
            buffers = _Buffers(
                empty=np.empty((batch * max(n, 1), 0), dtype=f),
                ends=np.empty(batch, dtype=np.int64),
                states=np.empty((batch, self.obs_dim), dtype=f),
                last_actions=np.empty((batch, a), dtype=f),
                q=np.empty((batch, 2), dtype=f),
                q_target=np.empty((batch, 2), dtype=f),
                targets=np.empty(batch, dtype=f),
                grad_q=np.empty((batch, 2), dtype=f),
                grad_actions=np.empty((batch, a), dtype=f),
                grad_z=np.empty((batch, 2 * a), dtype=f),
                **self._samples(batch * max(n, 1)),
            )
            self._buffers[(batch, n)] = buffers
        return buffers

    def _mean_action(self, z: np.ndarray) -> np.ndarray:
        """``GaussianActor.forward``: tanh(mean) scaled to the box, from z [2A]."""
        return np.tanh(z[: self.act_dim]) * self.scale + self.bias

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        """``SAC.act_deterministic``: the mean action [A] for one observation."""
        return self._mean_action(self.policy.action(obs))

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``SAC.act``: a sample of pi(.|s) (the mean in the reference's mode) and the mean."""
        z = self.policy.action(obs)
        mean = self._mean_action(z)
        if self.agent.config.collect_with_mean:
            return mean, mean.copy()
        eps = torch.randn(1, self.act_dim).numpy()  # GaussianActor.sample's randn_like(mean)
        buf = self._for(1, 1)
        low, high = self.log_std_range
        self._k.squashed_gaussian_sample(
            z.reshape(1, -1), eps, low, high, self.scale, self.bias, buf.actions, buf.log_prob,
            buf.pre_tanh, buf.log_std,
        )  # fmt: skip
        return buf.actions[0].copy(), mean

    def critic_backward(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """``SAC.critic_loss(batch)`` with its gradients in the critic's ``.grad``."""
        k, f, work = self._k, self.dtype, self.work
        batch_size, n = batch.rewards.shape
        buf = self._for(batch_size, n)
        low, high = self.log_std_range
        # SAC.td_target's draw: actor.sample of all B·n next states.
        eps = torch.randn(batch_size * n, self.act_dim).numpy()
        next_obs = _array(batch.next_obs, f)  # [B, n, O]
        scratch = work.scratch(self.actor.act_rows, batch_size * n)
        self.actor.forward(next_obs.reshape(batch_size * n, -1), buf.empty, scratch, buf.z)
        k.squashed_gaussian_sample(
            buf.z, eps, low, high, self.scale, self.bias, buf.actions, buf.log_prob,
            buf.pre_tanh, buf.log_std,
        )  # fmt: skip
        terminated = _array(batch.terminated, f)
        k.window_ends(terminated, _array(batch.truncated, f), buf.ends)
        k.gather_windows(next_obs, buf.ends, buf.states)
        k.gather_windows(buf.actions.reshape(batch_size, n, -1), buf.ends, buf.last_actions)
        scratch = work.scratch(self.critic_target.act_rows, batch_size)
        self.critic_target.forward(buf.states, buf.last_actions, scratch, buf.q_target)
        act = work.activations(self.critic, batch_size)
        self.critic.forward(_array(batch.obs, f), _array(batch.actions, f), act, buf.q)
        loss, q1_mean, target_mean = k.soft_twin_td_loss(
            _array(batch.rewards, f), terminated, buf.ends,
            buf.log_prob.reshape(batch_size, n), buf.q_target, float(self.agent.alpha),
            self.agent.agent.gamma, buf.q, buf.targets, buf.grad_q,
        )  # fmt: skip
        self.critic.weight_gradients(
            buf.grad_q, act, work.scratch(self.critic.act_rows, batch_size)
        )
        return _scalar(loss), _scalar(q1_mean), _scalar(target_mean)

    def actor_backward(self, obs_t: Tensor) -> tuple[Tensor, Tensor]:
        """``SAC.actor_loss(obs)`` (critic frozen) with its gradients in the actor's ``.grad``;
        returns the loss and log pi [B] (a fresh tensor)."""
        k, work = self._k, self.work
        obs = _array(obs_t, self.dtype)
        batch_size = obs.shape[0]
        buf = self._for(batch_size, 0)
        low, high = self.log_std_range
        eps = torch.randn(batch_size, self.act_dim).numpy()  # SAC.actor_loss's actor.sample
        act_actor = work.activations(self.actor, batch_size)
        act_critic = work.activations(self.critic, batch_size)
        self.actor.forward(obs, buf.empty, act_actor, buf.z)
        k.squashed_gaussian_sample(
            buf.z, eps, low, high, self.scale, self.bias, buf.actions, buf.log_prob,
            buf.pre_tanh, buf.log_std,
        )  # fmt: skip
        self.critic.forward(obs, buf.actions, act_critic, buf.q)
        alpha = float(self.agent.alpha)
        loss = k.sac_actor_loss(buf.q, buf.log_prob, alpha, buf.grad_q)
        self.critic.second_input_gradient(
            buf.grad_q, act_critic, self.obs_dim, buf.grad_actions,
            work.scratch(self.critic.act_rows, batch_size),
        )  # fmt: skip
        k.squashed_gaussian_backward(
            buf.grad_actions, alpha / batch_size, eps, buf.pre_tanh, buf.log_std, buf.z,
            low, high, self.scale, buf.grad_z,
        )  # fmt: skip
        self.actor.weight_gradients(
            buf.grad_z, act_actor, work.scratch(self.actor.act_rows, batch_size)
        )
        return _scalar(loss), torch.from_numpy(buf.log_prob.copy())

    def alpha_backward(self, log_prob: Tensor) -> tuple[Tensor, Tensor]:
        """``SAC.alpha_backward``: ``SAC.alpha_loss(log_prob)`` with its gradient in
        ``log_alpha.grad``, and −mean(log pi). The loss is log alpha times
        g = -mean(log pi + target entropy), so g is the gradient (autograd's graph for one
        scalar cost more than the rest of this step's Python)."""
        agent = self.agent
        values = log_prob.numpy()  # np.add.reduce is np.mean's sum without its ~3 µs of Python
        mean_log_prob = float(np.add.reduce(values, dtype=np.float64)) / values.size
        grad = -(mean_log_prob + agent.target_entropy)
        agent.log_alpha.grad = torch.scalar_tensor(grad, dtype=agent.log_alpha.dtype)
        return _scalar(agent.log_alpha.item() * grad), _scalar(-mean_log_prob)
