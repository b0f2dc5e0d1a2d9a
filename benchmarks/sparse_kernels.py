"""Sparse execution (``rlx2.sparse.kernels.SparseMLP``) against dense torch, in one process.

Every comparison interleaves its contenders inside each repeat and reports medians over
repeats, with 1 torch thread, so a busy machine slows all of them alike: read the ratios.

(a) ``layer``: one 256x256 layer at 90/95/98 % sparsity, batch 256 and 1: forward (no grad)
    and forward+backward (input, weight and bias gradients) against ``nn.Linear`` and torch
    CSR (``to_sparse_csr`` + ``torch.sparse.mm``, forward only). The module takes and returns
    batch-major tensors, so a lone layer pays two 256-wide transposes; ``kernel_us`` is the
    kernel called directly minus the same call evaluating no row (the transposes alone): what
    the layer costs as a hidden layer inside a SparseMLP.
(b) ``td3_update``: one TD3 update (batch 256, hidden 256): target actor and twin target critic
    forwards, twin critic forward/backward and Adam step, and every 2nd update the actor
    through the frozen Q1 head, its Adam step and Polyak averaging (so the time is the mean
    of a critic-only and a critic+actor update). Dense and masked (dense + MaskSet, as rlx2
    runs today) ``nn.Linear`` networks against SparseMLP networks, each with torch's Adam
    (default = a per-tensor loop on the CPU, what rlx2 uses today; ``fused=True``) and with
    ``LeanAdam``. Hopper (obs 11, act 3; actor 98 %, critic 95 %) and HalfCheetah (obs 17,
    act 6; 90 % / 85 %) sparsities with ER allocation (``MaskSet.for_module``).
(c) ``actor_inference``: the TD3 actor (MLP, tanh, action scaling) at 95 %, batch 1 and 256.

    python benchmarks/sparse_kernels.py [--parts a,b,c] [--repeats 15] [--quick]

Prints one JSON object per measurement on stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rlx2.algos.common import frozen, polyak_update
from rlx2.nets import ActionScaling, DeterministicActor, TwinCritic
from rlx2.sparse.kernels import LeanAdam, SparseMLP, kernels
from rlx2.sparse.kernels.mlp import aligned_empty
from rlx2.sparse.masks import MaskSet, linear_weights

HIDDEN = 256
BATCH = 256
TASKS = {"Hopper": (11, 3, 0.98, 0.95), "HalfCheetah": (17, 6, 0.90, 0.85)}
ADAMS = ("torch", "torch-fused", "lean")


def interleaved_samples(
    fns: dict[str, Callable[[], object]], repeats: int, inner: int
) -> dict[str, list[float]]:
    """Mean seconds per call of each of ``repeats`` rounds; contenders alternate in each round."""
    for fn in fns.values():  # warm-up (numba compiles or loads its cache here)
        for _ in range(max(2, inner // 5)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    return samples


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, inner: int) -> dict[str, float]:
    """Median over repeats of the mean seconds per call (see :func:`interleaved_samples`)."""
    samples = interleaved_samples(fns, repeats, inner)
    return {name: statistics.median(s) for name, s in samples.items()}


def emit(record: dict) -> None:
    record = {**record, "threads": torch.get_num_threads(), "machine": platform.machine()}
    print(json.dumps(record), flush=True)


def micro(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v * 1e6, 2) for k, v in seconds.items()}


# ---------------------------------------------------------------- (a) one layer


def forward_of(module: nn.Module, x: Tensor) -> Callable[[], object]:
    return lambda: module(x)


def backward_of(module: nn.Module, x: Tensor, grad: Tensor) -> Callable[[], None]:
    def run() -> None:
        module(x).backward(grad)

    return run


def csr_forward_of(linear: nn.Linear, x: Tensor) -> Callable[[], Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        weight_csr = linear.weight.detach().to_sparse_csr()
    bias = linear.bias.detach()
    return lambda: torch.sparse.mm(weight_csr, x.T).T + bias


def kernel_call_of(sparse: SparseMLP, x: Tensor, rows: int) -> Callable[[], None]:
    """The forward kernel called directly (no module overhead) on rows [0, rows): with
    rows = 0 it runs the two boundary transposes alone."""
    ops, layout = kernels(), sparse.layout
    values, bias, scale, shift = sparse.numpy_parameters()
    x_np = x.numpy()
    empty = np.empty((x.shape[0], 0), dtype=np.float32)
    act = aligned_empty((layout.in_features + layout.num_rows, x.shape[0]), np.float32)
    out = np.empty((x.shape[0], layout.out_features), dtype=np.float32)
    index = (layout.row_ptr, layout.sources, values, bias, layout.activation)
    outputs = (layout.output_column, layout.output_rows, scale, shift)
    kernel = ops.forward_single if x.shape[0] == 1 else ops.forward
    return lambda: kernel(x_np, empty, *index, *outputs, rows, act, out)


def bench_layer(repeats: int, inner: int) -> None:
    for sparsity in (0.9, 0.95, 0.98):
        for batch in (BATCH, 1):
            torch.manual_seed(0)
            linear = nn.Linear(HIDDEN, HIDDEN)
            masks = MaskSet.for_module(nn.Sequential(linear), sparsity, "uniform")
            sparse = SparseMLP.from_dense(nn.Sequential(linear), masks.masks)
            x = torch.randn(batch, HIDDEN)
            x_req = x.clone().requires_grad_(True)
            grad = torch.randn(batch, HIDDEN)
            with torch.no_grad():
                fwd_samples = interleaved_samples(
                    {
                        "dense": forward_of(linear, x),
                        "csr": csr_forward_of(linear, x),
                        "sparse": forward_of(sparse, x),
                        "sparse_kernel_call": kernel_call_of(sparse, x, sparse.layout.num_rows),
                        "sparse_boundary": kernel_call_of(sparse, x, 0),
                    },
                    repeats,
                    inner,
                )
            fwd = {k: statistics.median(v) for k, v in fwd_samples.items()}
            # A difference of two timings: of the fastest rounds, the least disturbed ones.
            kernel = min(fwd_samples["sparse_kernel_call"]) - min(fwd_samples["sparse_boundary"])
            fb = interleaved(
                {
                    "dense": backward_of(linear, x_req, grad),
                    "sparse": backward_of(sparse, x_req, grad),
                },
                repeats,
                inner,
            )
            emit(
                {
                    "benchmark": "layer",
                    "shape": [HIDDEN, HIDDEN],
                    "sparsity": sparsity,
                    "nnz": sparse.layout.nnz,
                    "batch": batch,
                    "forward_us": micro(fwd),
                    "kernel_us": round(kernel * 1e6, 2) if kernel > 0 else None,
                    "forward_backward_us": micro(fb),
                    "forward_speedup_vs_dense": fwd["dense"] / fwd["sparse"],
                    "forward_speedup_vs_csr": fwd["csr"] / fwd["sparse"],
                    "csr_forward_speedup_vs_dense": fwd["dense"] / fwd["csr"],
                    "kernel_speedup_vs_dense": min(fwd_samples["dense"]) / kernel
                    if kernel > 0
                    else None,
                    "forward_backward_speedup_vs_dense": fb["dense"] / fb["sparse"],
                }
            )


# ---------------------------------------------------------------- (b) a TD3 update


class SparseActor(SparseMLP):
    """TD3 actor as one SparseMLP: tanh and the action scaling fused into the kernel; keeps
    ``scaling`` (for ``clip``) like ``DeterministicActor``."""

    def __init__(self, dense: DeterministicActor, masks: list[Tensor]):
        s = dense.scaling
        net = SparseMLP.from_dense(dense.net, masks, "tanh", s.scale, s.bias)
        super().__init__(net.layout, net.values, net.bias, net.output_scale, net.output_shift)
        self.scaling = copy.deepcopy(s)


class SparseTwinCritic(nn.Module):
    """Both Q heads in one SparseMLP; ``q1_value`` evaluates the first head only."""

    def __init__(self, dense: TwinCritic, masks: list[Tensor]):
        super().__init__()
        self.net = SparseMLP.from_dense([dense.q1, dense.q2], masks)

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        q = self.net(obs, action)  # [B, 2]
        return q[:, 0], q[:, 1]

    def q1_value(self, obs: Tensor, action: Tensor) -> Tensor:
        return self.net(obs, action, heads=1)[:, 0]


def make_adam(kind: str, params) -> torch.optim.Optimizer:
    """torch: ``torch.optim.Adam`` defaults (rlx2's TD3 today); torch-fused: ``fused=True``;
    lean: ``LeanAdam`` (the same arithmetic)."""
    if kind == "lean":
        return LeanAdam(params, lr=3e-4)
    return torch.optim.Adam(params, lr=3e-4, fused=True if kind == "torch-fused" else None)


class TD3Step:
    """One TD3 iteration (1-step target: the n-step window code does not depend on the backend)."""

    def __init__(
        self, actor: nn.Module, critic: nn.Module, scaling: ActionScaling, adam: str, masks=None
    ):
        self.actor, self.critic, self.scaling = actor, critic, scaling
        self.actor_target = copy.deepcopy(actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        self.actor_opt = make_adam(adam, actor.parameters())
        self.critic_opt = make_adam(adam, critic.parameters())
        self.masks = masks  # (actor MaskSet, critic MaskSet) for the masked backend
        self.updates = 0

    def __call__(self, obs, action, reward, next_obs, done) -> None:
        self.updates += 1
        with torch.no_grad():
            noise = (torch.randn_like(action) * 0.2).clamp(-0.5, 0.5)
            next_action = self.scaling.clip(self.actor_target(next_obs) + noise)
            q1_next, q2_next = self.critic_target(next_obs, next_action)
            target = reward + 0.99 * (1.0 - done) * torch.minimum(q1_next, q2_next)
        q1, q2 = self.critic(obs, action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self._step(self.critic_opt, 1)
        if self.updates % 2 == 0:
            with frozen(self.critic):
                actor_loss = -self.critic.q1_value(obs, self.actor(obs)).mean()
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
            self._step(self.actor_opt, 0)
            polyak_update(self.critic_target, self.critic, 0.005)
            polyak_update(self.actor_target, self.actor, 0.005)
            if self.masks is not None:
                self.masks[1].apply_to(linear_weights(self.critic_target))
                self.masks[0].apply_to(linear_weights(self.actor_target))

    def _step(self, optimizer: torch.optim.Optimizer, which: int) -> None:
        if self.masks is None:
            optimizer.step()
            return
        self.masks[which].mask_grads()
        optimizer.step()
        self.masks[which].apply()


def build_td3(obs_dim: int, act_dim: int, actor_sparsity: float, critic_sparsity: float):
    """The contenders of one task, all from the same initial networks and masks."""
    torch.manual_seed(0)
    low, high = -torch.ones(act_dim), torch.ones(act_dim)
    actor = DeterministicActor(obs_dim, act_dim, HIDDEN, low, high)
    critic = TwinCritic(obs_dim, act_dim, HIDDEN)
    masked_actor, masked_critic = copy.deepcopy(actor), copy.deepcopy(critic)
    actor_masks = MaskSet.for_module(masked_actor, actor_sparsity, "er")
    critic_masks = MaskSet.for_module(masked_critic, critic_sparsity, "er")
    steps = {}
    for adam in ADAMS:
        steps[f"dense[{adam}]"] = TD3Step(
            copy.deepcopy(actor), copy.deepcopy(critic), actor.scaling, adam
        )
        steps[f"sparse[{adam}]"] = TD3Step(
            SparseActor(masked_actor, actor_masks.masks),
            SparseTwinCritic(masked_critic, critic_masks.masks),
            actor.scaling,
            adam,
        )
    steps["masked[torch]"] = TD3Step(
        masked_actor, masked_critic, actor.scaling, "torch", (actor_masks, critic_masks)
    )
    nnz = {"actor": sum(actor_masks.num_active()), "critic": sum(critic_masks.num_active())}
    return steps, nnz


def two_updates(step: TD3Step, batch: tuple[Tensor, ...]) -> Callable[[], None]:
    def run() -> None:  # a critic-only update and a critic+actor update
        step(*batch)
        step(*batch)

    return run


def bench_td3(repeats: int, inner: int) -> None:
    for task, (obs_dim, act_dim, actor_sparsity, critic_sparsity) in TASKS.items():
        steps, nnz = build_td3(obs_dim, act_dim, actor_sparsity, critic_sparsity)
        gen = torch.Generator().manual_seed(1)
        batch = (
            torch.randn(BATCH, obs_dim, generator=gen),
            torch.rand(BATCH, act_dim, generator=gen) * 2 - 1,
            torch.randn(BATCH, generator=gen),
            torch.randn(BATCH, obs_dim, generator=gen),
            (torch.rand(BATCH, generator=gen) < 0.05).float(),
        )
        times = interleaved({k: two_updates(s, batch) for k, s in steps.items()}, repeats, inner)
        per_update = {k: v / 2 for k, v in times.items()}
        emit(
            {
                "benchmark": "td3_update",
                "task": task,
                "obs_dim": obs_dim,
                "act_dim": act_dim,
                "actor_sparsity": actor_sparsity,
                "critic_sparsity": critic_sparsity,
                "nnz": nnz,
                "batch": BATCH,
                "update_ms": {k: round(v * 1e3, 3) for k, v in per_update.items()},
                "speedup_same_adam": {
                    adam: per_update[f"dense[{adam}]"] / per_update[f"sparse[{adam}]"]
                    for adam in ADAMS
                },
                # What switching rlx2 today (dense nn.Linear, torch Adam) to the sparse stack buys.
                "speedup_vs_rlx2_today": per_update["dense[torch]"] / per_update["sparse[lean]"],
                "speedup_vs_masked_today": per_update["masked[torch]"] / per_update["sparse[lean]"],
            }
        )


# ---------------------------------------------------------------- (c) actor inference


def bench_inference(repeats: int, inner: int) -> None:
    torch.manual_seed(0)
    obs_dim, act_dim = 11, 3
    dense = DeterministicActor(obs_dim, act_dim, HIDDEN, -torch.ones(act_dim), torch.ones(act_dim))
    masked = copy.deepcopy(dense)
    masks = MaskSet.for_module(masked, 0.95, "er")
    sparse = SparseActor(masked, masks.masks)
    for batch in (1, BATCH):
        obs = torch.randn(batch, obs_dim)
        with torch.no_grad():
            times = interleaved(
                {"dense": forward_of(dense, obs), "sparse": forward_of(sparse, obs)},
                repeats,
                inner * (20 if batch == 1 else 1),
            )
        emit(
            {
                "benchmark": "actor_inference",
                "sparsity": 0.95,
                "nnz": sparse.layout.nnz,
                "obs_dim": obs_dim,
                "act_dim": act_dim,
                "batch": batch,
                "us": micro(times),
                "speedup_vs_dense": times["dense"] / times["sparse"],
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c", help="comma list of a, b, c")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats (medians)")
    parser.add_argument("--quick", action="store_true", help="3 short repeats (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats, inner = (3, 5) if args.quick else (args.repeats, 20)
    parts = set(args.parts.split(","))
    if "a" in parts:
        bench_layer(repeats, inner)
    if "b" in parts:
        bench_td3(repeats, inner)
    if "c" in parts:
        bench_inference(repeats, inner)


if __name__ == "__main__":
    main()
